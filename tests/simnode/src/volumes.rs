//! The external provisioner for our StorageClasses. We only create and delete PV
//! objects; binding PVC↔PV stays with the real PV controller in
//! kube-controller-manager, so binding behaves exactly as on a real cluster.

use std::collections::{BTreeMap, HashSet};
use std::pin::pin;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, LocalVolumeSource, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, ObjectReference, PersistentVolume, PersistentVolumeClaim,
    PersistentVolumeSpec, VolumeNodeAffinity,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client};
use tracing::{debug, info, warn};

use crate::events::{Recorder, Source, pvc_ref};
use crate::{MANAGER, faults, status_code};

pub const PROVISIONER: &str = "stackctl.dev/simnode";
pub const DEFAULT_CLASS: &str = "standard";
pub const IMMEDIATE_CLASS: &str = "standard-immediate";
const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
const BETA_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

pub fn storage_classes() -> Vec<StorageClass> {
    let class = |name: &str, mode: &str, default: bool| StorageClass {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            annotations: default.then(|| {
                BTreeMap::from([(
                    "storageclass.kubernetes.io/is-default-class".to_owned(),
                    "true".to_owned(),
                )])
            }),
            ..Default::default()
        },
        provisioner: PROVISIONER.to_owned(),
        reclaim_policy: Some("Delete".to_owned()),
        volume_binding_mode: Some(mode.to_owned()),
        allow_volume_expansion: Some(true),
        ..Default::default()
    };
    vec![
        class(DEFAULT_CLASS, "WaitForFirstConsumer", true),
        class(IMMEDIATE_CLASS, "Immediate", false),
    ]
}

pub async fn ensure_storage_classes(client: &Client) -> Result<()> {
    let api: Api<StorageClass> = Api::all(client.clone());
    for sc in storage_classes() {
        let name = sc.metadata.name.clone().unwrap_or_default();
        match api
            .patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&sc),
            )
            .await
        {
            Ok(_) => info!(storage_class = name, "storage class ready"),
            // Most StorageClass fields are immutable: someone made this class differently
            // on purpose, so keep theirs.
            Err(e) if status_code(&e) == Some(422) => {
                warn!(
                    storage_class = name,
                    "keeping the existing, different storage class: {e}"
                );
            }
            Err(e) => return Err(e).with_context(|| format!("applying storage class {name}")),
        }
    }
    Ok(())
}

fn class_name(pvc: &PersistentVolumeClaim) -> Option<String> {
    pvc.spec
        .as_ref()
        .and_then(|s| s.storage_class_name.clone())
        .or_else(|| {
            pvc.metadata
                .annotations
                .as_ref()?
                .get(BETA_CLASS_ANNOTATION)
                .cloned()
        })
        .filter(|c| !c.is_empty())
}

pub fn pv_name(pvc: &PersistentVolumeClaim) -> String {
    format!("pvc-{}", pvc.metadata.uid.as_deref().unwrap_or_default())
}

/// The PV a CSI-style provisioner would create for `pvc`: pinned to `node` when the
/// scheduler picked one (WaitForFirstConsumer), a plain hostPath otherwise.
pub fn volume_for(
    pvc: &PersistentVolumeClaim,
    class: &StorageClass,
    node: Option<&str>,
) -> Option<PersistentVolume> {
    let spec = pvc.spec.as_ref()?;
    let storage = spec
        .resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("storage")?
        .clone();
    let name = pv_name(pvc);
    let path = format!("/tmp/simnode/volumes/{name}");
    let (host_path, local, node_affinity) = match node {
        Some(node) => (
            None,
            Some(LocalVolumeSource {
                path,
                fs_type: None,
            }),
            Some(VolumeNodeAffinity {
                required: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: HOSTNAME_LABEL.to_owned(),
                            operator: "In".to_owned(),
                            values: Some(vec![node.to_owned()]),
                        }]),
                        ..Default::default()
                    }],
                }),
            }),
        ),
        None => (
            Some(HostPathVolumeSource {
                path,
                type_: Some("DirectoryOrCreate".to_owned()),
            }),
            None,
            None,
        ),
    };
    Some(PersistentVolume {
        metadata: ObjectMeta {
            name: Some(name),
            annotations: Some(BTreeMap::from([(
                PROVISIONED_BY.to_owned(),
                PROVISIONER.to_owned(),
            )])),
            ..Default::default()
        },
        spec: Some(PersistentVolumeSpec {
            capacity: Some(BTreeMap::from([("storage".to_owned(), storage)])),
            access_modes: spec.access_modes.clone(),
            claim_ref: Some(ObjectReference {
                api_version: Some("v1".to_owned()),
                kind: Some("PersistentVolumeClaim".to_owned()),
                namespace: pvc.metadata.namespace.clone(),
                name: pvc.metadata.name.clone(),
                uid: pvc.metadata.uid.clone(),
                ..Default::default()
            }),
            persistent_volume_reclaim_policy: Some(
                class
                    .reclaim_policy
                    .clone()
                    .unwrap_or_else(|| "Delete".to_owned()),
            ),
            storage_class_name: class.metadata.name.clone(),
            mount_options: class.mount_options.clone(),
            volume_mode: spec.volume_mode.clone(),
            host_path,
            local,
            node_affinity,
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// `nodes` are ours: a claim waiting for its first consumer is provisioned only by the
/// simnode that plays the node the scheduler picked, so two simnodes can share a cluster.
pub async fn run(client: Client, recorder: Recorder, nodes: HashSet<String>) {
    tokio::join!(
        watch_claims(client.clone(), recorder, &nodes),
        watch_volumes(client)
    );
}

async fn watch_claims(client: Client, recorder: Recorder, nodes: &HashSet<String>) {
    let api: Api<PersistentVolumeClaim> = Api::all(client.clone());
    let mut stream = pin!(watcher(api, watcher::Config::default()).default_backoff());
    // Remembers which held-back claims were already logged, to log each once.
    let mut held: HashSet<String> = HashSet::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Apply(pvc) | Event::InitApply(pvc)) => {
                if provision(&client, &recorder, &pvc, nodes, &mut held).await == Outcome::Retry {
                    tokio::spawn(retry(client.clone(), recorder.clone(), pvc, nodes.clone()));
                }
            }
            Ok(Event::Delete(pvc)) => {
                held.remove(pvc.metadata.uid.as_deref().unwrap_or_default());
            }
            Ok(_) => {}
            Err(e) => warn!("PVC watch: {e}"),
        }
    }
}

/// Whether a claim is dealt with (provisioned, or not ours to provision), or
/// must be tried again: the API server failed a call.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    Retry,
}

/// A claim whose provisioning failed on an API error, tried again with backoff
/// for about a minute, as an external provisioner's rate-limited work queue
/// requeues it: a failure during an API server restart brings no new watch
/// event (the claim did not change), so without this the claim would stay
/// Pending for good.
async fn retry(
    client: Client,
    recorder: Recorder,
    pvc: PersistentVolumeClaim,
    nodes: HashSet<String>,
) {
    let (Some(namespace), Some(name)) = (pvc.metadata.namespace, pvc.metadata.name) else {
        return;
    };
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &namespace);
    let mut held = HashSet::new();
    let mut delay = Duration::from_millis(500);
    for _ in 0..16 {
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
        let current = match claims.get_opt(&name).await {
            Ok(Some(current)) => current,
            Ok(None) => return,
            Err(_) => continue,
        };
        if provision(&client, &recorder, &current, &nodes, &mut held).await == Outcome::Done {
            return;
        }
    }
    warn!(namespace, name, "gave up provisioning after API errors");
}

async fn provision(
    client: &Client,
    recorder: &Recorder,
    pvc: &PersistentVolumeClaim,
    nodes: &HashSet<String>,
    held: &mut HashSet<String>,
) -> Outcome {
    let bound = pvc
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .is_some_and(|v| !v.is_empty());
    if bound || pvc.metadata.deletion_timestamp.is_some() {
        return Outcome::Done;
    }
    let (Some(namespace), Some(name)) = (
        pvc.metadata.namespace.as_deref(),
        pvc.metadata.name.as_deref(),
    ) else {
        return Outcome::Done;
    };
    // Without a class (and no default class) a PVC stays Pending, as on a real cluster.
    let Some(class_name) = class_name(pvc) else {
        return Outcome::Done;
    };
    let classes: Api<StorageClass> = Api::all(client.clone());
    let class = match classes.get_opt(&class_name).await {
        Ok(Some(class)) if class.provisioner == PROVISIONER => class,
        Ok(_) => {
            debug!(
                namespace,
                name, class_name, "not our storage class (or missing); leaving the claim alone"
            );
            return Outcome::Done;
        }
        Err(e) => {
            warn!(
                namespace,
                name, "cannot read storage class {class_name}: {e}"
            );
            return Outcome::Retry;
        }
    };
    let annotations = pvc.metadata.annotations.clone().unwrap_or_default();
    let node = annotations.get(SELECTED_NODE).map(String::as_str);
    let wait_for_consumer = class.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer");
    if wait_for_consumer && !node.is_some_and(|n| nodes.contains(n)) {
        return Outcome::Done; // the scheduler annotates the claim once a consuming pod is placed
    }
    let uid = pvc.metadata.uid.clone().unwrap_or_default();
    if let Some(rule) = faults::load(client, namespace).await.for_pvc(name) {
        if held.insert(uid) {
            info!(
                namespace,
                name,
                rule = rule.key,
                "fault pvc-never-bound: not provisioning"
            );
        }
        return Outcome::Done;
    }
    let Some(pv) = volume_for(pvc, &class, node.filter(|_| wait_for_consumer)) else {
        warn!(
            namespace,
            name, "claim requests no storage; cannot provision"
        );
        return Outcome::Done;
    };
    let pv_name = pv_name(pvc);
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    match volumes.create(&PostParams::default(), &pv).await {
        Ok(_) => {
            info!(namespace, name, pv = pv_name, node, "provisioned volume");
            let source = Source {
                component: PROVISIONER,
                host: None,
            };
            let message = format!("Successfully provisioned volume {pv_name}");
            recorder
                .record(
                    &pvc_ref(pvc),
                    source,
                    false,
                    "ProvisioningSucceeded",
                    &message,
                )
                .await;
        }
        Err(e) if status_code(&e) == Some(409) => {} // provisioned on an earlier event
        Err(e) => {
            warn!(namespace, name, "cannot create volume {pv_name}: {e}");
            return Outcome::Retry;
        }
    }
    Outcome::Done
}

/// Reclaim: a Released volume of ours with policy Delete goes away, like a CSI
/// driver deleting the disk.
async fn watch_volumes(client: Client) {
    let api: Api<PersistentVolume> = Api::all(client.clone());
    let mut stream = pin!(watcher(api.clone(), watcher::Config::default()).default_backoff());
    while let Some(event) = stream.next().await {
        let pv = match event {
            Ok(Event::Apply(pv) | Event::InitApply(pv)) => pv,
            Ok(_) => continue,
            Err(e) => {
                warn!("PV watch: {e}");
                continue;
            }
        };
        let ours = pv
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(PROVISIONED_BY))
            .is_some_and(|p| p == PROVISIONER);
        let released = pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Released");
        let delete = pv
            .spec
            .as_ref()
            .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
            == Some("Delete");
        if !(ours && released && delete) || pv.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pv.metadata.name.clone().unwrap_or_default();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => info!(pv = name, "deleted released volume"),
            Err(e) if status_code(&e) == Some(404) => {}
            Err(e) => warn!(pv = name, "cannot delete released volume: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pvc() -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "data-db-0", "namespace": "ns", "uid": "abc"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "5Gi"}},
                "storageClassName": "standard"
            }
        }))
        .unwrap()
    }

    #[test]
    fn classes() {
        let scs = storage_classes();
        assert_eq!(scs[0].metadata.name.as_deref(), Some("standard"));
        assert_eq!(
            scs[0].volume_binding_mode.as_deref(),
            Some("WaitForFirstConsumer")
        );
        assert_eq!(
            scs[0].metadata.annotations.as_ref().unwrap()["storageclass.kubernetes.io/is-default-class"],
            "true"
        );
        assert_eq!(scs[1].volume_binding_mode.as_deref(), Some("Immediate"));
        assert!(scs[1].metadata.annotations.is_none());
        assert!(
            scs.iter()
                .all(|s| s.allow_volume_expansion == Some(true) && s.provisioner == PROVISIONER)
        );
    }

    #[test]
    fn local_volume_pinned_to_selected_node() {
        let class = &storage_classes()[0];
        let pv = volume_for(&pvc(), class, Some("simnode-2")).unwrap();
        assert_eq!(pv.metadata.name.as_deref(), Some("pvc-abc"));
        assert_eq!(
            pv.metadata.annotations.as_ref().unwrap()[PROVISIONED_BY],
            PROVISIONER
        );
        let spec = pv.spec.unwrap();
        assert_eq!(spec.capacity.unwrap()["storage"].0, "5Gi");
        assert_eq!(spec.access_modes.unwrap(), ["ReadWriteOnce"]);
        assert_eq!(spec.storage_class_name.as_deref(), Some("standard"));
        assert_eq!(
            spec.persistent_volume_reclaim_policy.as_deref(),
            Some("Delete")
        );
        let claim = spec.claim_ref.unwrap();
        assert_eq!(
            (
                claim.namespace.as_deref(),
                claim.name.as_deref(),
                claim.uid.as_deref()
            ),
            (Some("ns"), Some("data-db-0"), Some("abc"))
        );
        assert!(spec.local.unwrap().path.starts_with("/tmp/"));
        let term = &spec
            .node_affinity
            .unwrap()
            .required
            .unwrap()
            .node_selector_terms[0];
        assert_eq!(
            term.match_expressions.as_ref().unwrap()[0]
                .values
                .as_ref()
                .unwrap(),
            &["simnode-2"]
        );
    }

    #[test]
    fn host_path_volume_without_node() {
        let pv = volume_for(&pvc(), &storage_classes()[1], None).unwrap();
        let spec = pv.spec.unwrap();
        assert!(spec.host_path.is_some() && spec.local.is_none() && spec.node_affinity.is_none());
        assert_eq!(
            spec.storage_class_name.as_deref(),
            Some("standard-immediate")
        );
    }

    #[test]
    fn claim_without_request_is_not_provisioned() {
        let mut claim = pvc();
        claim.spec.as_mut().unwrap().resources = None;
        assert!(volume_for(&claim, &storage_classes()[0], None).is_none());
    }

    #[test]
    fn class_from_beta_annotation() {
        let mut claim = pvc();
        claim.spec.as_mut().unwrap().storage_class_name = None;
        assert_eq!(class_name(&claim), None);
        claim.metadata.annotations = Some(BTreeMap::from([(
            BETA_CLASS_ANNOTATION.to_owned(),
            "standard".to_owned(),
        )]));
        assert_eq!(class_name(&claim).as_deref(), Some("standard"));
    }
}
