//! core/v1 Events, recorded the way client-go's recorder does: a repeat of the same
//! event bumps `count` and `lastTimestamp` on the existing object instead of creating
//! another one, so a crash loop shows one BackOff event with a growing count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tracing::debug;

use crate::status_code;

#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub component: &'a str,
    pub host: Option<&'a str>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    uid: String,
    field_path: String,
    type_: &'static str,
    reason: String,
    message: String,
}

#[derive(Clone)]
pub struct Recorder {
    client: Client,
    seen: Arc<Mutex<HashMap<Key, (String, i32)>>>,
}

impl Recorder {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            seen: Arc::default(),
        }
    }

    /// Best effort: a failed event (say, in a namespace being deleted) is only logged.
    pub async fn record(
        &self,
        object: &ObjectReference,
        source: Source<'_>,
        warning: bool,
        reason: &str,
        message: &str,
    ) {
        let key = Key {
            uid: object.uid.clone().unwrap_or_default(),
            field_path: object.field_path.clone().unwrap_or_default(),
            type_: if warning { "Warning" } else { "Normal" },
            reason: reason.to_owned(),
            message: message.to_owned(),
        };
        let namespace = object.namespace.as_deref().unwrap_or("default");
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let now = Time(Timestamp::now());

        let previous = self
            .seen
            .lock()
            .expect("event cache poisoned")
            .get(&key)
            .cloned();
        if let Some((name, count)) = previous {
            let patch = json!({"count": count + 1, "lastTimestamp": now});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.seen
                        .lock()
                        .expect("event cache poisoned")
                        .insert(key, (name, count + 1));
                    return;
                }
                // Events expire after an hour; start a new one.
                Err(e) if status_code(&e) == Some(404) => {}
                Err(e) => {
                    debug!(reason, "cannot update event: {e}");
                    return;
                }
            }
        }

        let object_name = object.name.as_deref().unwrap_or("unknown");
        let nanos = Timestamp::now().as_nanosecond();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{object_name}.{nanos:x}")),
                namespace: Some(namespace.to_owned()),
                ..Default::default()
            },
            involved_object: object.clone(),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            source: Some(EventSource {
                component: Some(source.component.to_owned()),
                host: source.host.map(str::to_owned),
            }),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            type_: Some(key.type_.to_owned()),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(created) => {
                let name = created.metadata.name.unwrap_or_default();
                self.seen
                    .lock()
                    .expect("event cache poisoned")
                    .insert(key, (name, 1));
            }
            Err(e) => debug!(reason, namespace, "cannot record event: {e}"),
        }
    }

    /// Drops the aggregation state of a deleted object.
    pub fn forget(&self, uid: &str) {
        self.seen
            .lock()
            .expect("event cache poisoned")
            .retain(|k, _| k.uid != uid);
    }
}

pub fn pod_ref(pod: &Pod, field_path: Option<&str>) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_owned()),
        kind: Some("Pod".to_owned()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        field_path: field_path.filter(|p| !p.is_empty()).map(str::to_owned),
        ..Default::default()
    }
}

pub fn pvc_ref(pvc: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_owned()),
        kind: Some("PersistentVolumeClaim".to_owned()),
        namespace: pvc.metadata.namespace.clone(),
        name: pvc.metadata.name.clone(),
        uid: pvc.metadata.uid.clone(),
        resource_version: pvc.metadata.resource_version.clone(),
        ..Default::default()
    }
}
