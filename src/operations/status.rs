//! `status` and `history`: what a release's newest revision has on the cluster, as
//! one report, and the list of its revisions.

use anyhow::Result;
use futures::{StreamExt, stream};
use serde::Serialize;
use serde_json::Value;

use super::doctor::{self, Finding};
use super::failure::Refused;
use super::{stored_objects, target};
use crate::cluster::Session;
use crate::model::Manifest;
use crate::probe::ProbeReport;
use crate::release::{ComponentOutcome, Lock, PhaseStatus, Status, Store, Summary};
use crate::stacks::kit::read_secret_command;
use crate::wait::status::{State, compute};

/// The documented, stable shape of `status -o json|yaml`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub release: String,
    pub namespace: String,
    pub stack: String,
    pub profile: String,
    pub revision: u32,
    pub status: String,
    pub description: String,
    pub last_operation: String,
    pub updated: String,
    pub healthy: bool,
    pub locked_by: Option<String>,
    /// `lockedBy` ran on this machine and its process is gone: the next operation
    /// takes the lock over at once instead of waiting for it to expire.
    pub lock_holder_dead: bool,
    pub components: Vec<ObjectState>,
    pub endpoints: Vec<Endpoint>,
    pub credentials: Vec<Credential>,
    /// The last connectivity probe run recorded in this revision (`stackctl test`,
    /// or install/upgrade's last phase); `None` if none ran.
    pub probes: Option<ProbeReport>,
    /// The phase this revision failed in, with the diagnosis of each object that did
    /// not become ready; `None` unless the revision failed in a phase.
    pub failure: Option<PhaseFailure>,
    /// What is wrong now with the revision, its lock, pods and claims, as `doctor`
    /// reports it (`stackctl doctor` adds drift, network, nodes and events).
    pub problems: Vec<Finding>,
    /// Pods the revision's operation restarted (`--restart-failed`), each with its
    /// container's last state and log lines from before.
    pub restarted: Vec<crate::release::RestartedPod>,
    /// The schedule, the newest backup and its result; `None` when the release
    /// has no backup and no schedule (or they could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backups: Option<super::backup::Summary>,
}

/// A failed phase of the revision, as its record keeps it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseFailure {
    pub phase: String,
    pub message: String,
    /// One per object: object, component, reason, detail, events, remedy.
    pub diagnoses: Vec<Value>,
    /// How each component ended, per phase (`ready`, `failed`, `notWaitedFor`,
    /// `notStarted`); empty for revisions recorded before stackctl kept this.
    pub components: Vec<ComponentOutcome>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectState {
    pub component: String,
    pub phase: String,
    pub kind: String,
    pub name: String,
    pub ready: Option<u32>,
    pub desired: Option<u32>,
    /// Current, InProgress, Failed, Terminating or NotFound.
    pub state: State,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Endpoint {
    pub component: String,
    pub kind: String,
    pub name: String,
    pub address: String,
}

#[derive(Debug, Serialize)]
pub struct Credential {
    pub secret: String,
    pub keys: Vec<String>,
    pub read: String,
}

/// The release's newest revision against what is on the cluster: every object's
/// state, the endpoints, where credentials are, the last probes and any failure.
/// Read-only; a release is healthy when deployed and every object is current.
pub async fn status(
    session: &Session,
    release: Option<&str>,
    namespace: Option<&str>,
) -> Result<StatusReport> {
    let t = target::find(&session.client, release, namespace).await?;
    let store = Store::new(session.client.clone(), &t.namespace);
    let Some(record) = store.latest(&t.name).await? else {
        return Err(Refused(format!("release {} has no revisions", t.name)).into());
    };
    let lock = Lock::inspect(session.client.clone(), &t.namespace, &t.name)
        .await
        .ok()
        .flatten();
    let manifests = stored_objects(&record);
    let live: Vec<(Manifest, Option<Value>)> = stream::iter(manifests)
        .map(|m| {
            let resolver = session.resolver.clone();
            async move {
                let obj = match resolver.api_for(&m).await {
                    Ok(api) => api
                        .get_opt(&m.name)
                        .await
                        .ok()
                        .flatten()
                        .and_then(|o| serde_json::to_value(o).ok()),
                    Err(_) => None,
                };
                (m, obj)
            }
        })
        .buffered(8)
        .collect()
        .await;

    let mut components = Vec::new();
    let mut endpoints = Vec::new();
    let mut credentials = Vec::new();
    for (m, obj) in &live {
        let (state, reason, ready) = match obj {
            None => (
                State::NotFound,
                "missing from the cluster".to_string(),
                None,
            ),
            Some(o) => {
                let s = compute(o);
                (s.state, s.message.clone(), s.ready)
            }
        };
        components.push(ObjectState {
            component: m.component.clone(),
            phase: m.phase.to_string(),
            kind: m.kind.clone(),
            name: m.name.clone(),
            ready: ready.map(|r| r.0),
            desired: ready.map(|r| r.1),
            state,
            reason,
        });
        if let Some(o) = obj {
            endpoints.extend(endpoint(m, o));
        }
        if m.kind == "Secret" && m.name.ends_with("-credentials") {
            let keys: Vec<String> = m.body["stringData"]
                .as_object()
                .or(m.body["data"].as_object())
                .map(|d| d.keys().cloned().collect())
                .unwrap_or_default();
            let first = keys.first().cloned().unwrap_or_default();
            credentials.push(Credential {
                read: read_secret_command(&t.namespace, &m.name, &first),
                secret: m.name.clone(),
                keys,
            });
        }
    }
    let healthy =
        record.status == Status::Deployed && components.iter().all(|c| c.state == State::Current);
    let backups = doctor::backups::read(&session.client, &store, &record).await;
    let problems = doctor::problems(session, &record, lock.as_ref(), &live, backups.as_ref()).await;
    let report = StatusReport {
        release: record.release.clone(),
        namespace: record.namespace.clone(),
        stack: record.stack.clone(),
        profile: record.profile.clone(),
        revision: record.revision,
        status: record.status.to_string(),
        description: record.description.clone(),
        last_operation: record.operation.to_string(),
        updated: record.finished_at.unwrap_or(record.started_at).to_string(),
        healthy,
        lock_holder_dead: lock
            .as_ref()
            .is_some_and(|l| !l.is_expired() && l.holder_dead),
        locked_by: lock.filter(|l| !l.is_expired()).map(|l| l.holder),
        components,
        endpoints,
        credentials,
        probes: ProbeReport::from_record(record.probes.as_ref()),
        failure: record
            .phases
            .iter()
            .find(|p| p.status == PhaseStatus::Failed)
            .map(|p| PhaseFailure {
                phase: p.name.clone(),
                message: p.message.clone(),
                diagnoses: p.diagnoses.clone(),
                components: super::outcome::of_phases(&record.phases),
            }),
        problems,
        restarted: record.restarted.clone(),
        backups,
    };
    Ok(report)
}

fn endpoint(m: &Manifest, o: &Value) -> Vec<Endpoint> {
    let mut out = Vec::new();
    match m.kind.as_str() {
        "Service" => {
            let spec = &o["spec"];
            let ip = spec["clusterIP"].as_str().unwrap_or_default();
            if ip == "None" {
                return out;
            }
            let ns = m.namespace.clone().unwrap_or_default();
            let ports: Vec<String> = spec["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| format!("{}/{}", p["port"], p["name"].as_str().unwrap_or("tcp")))
                .collect();
            out.push(Endpoint {
                component: m.component.clone(),
                kind: "Service".into(),
                name: m.name.clone(),
                address: format!("{}.{ns}.svc ({ip}) {}", m.name, ports.join(", ")),
            });
        }
        "Ingress" => {
            let tls = o["spec"]["tls"].as_array().is_some_and(|t| !t.is_empty());
            for rule in o["spec"]["rules"].as_array().into_iter().flatten() {
                let host = rule["host"].as_str().unwrap_or("*");
                for path in rule["http"]["paths"].as_array().into_iter().flatten() {
                    out.push(Endpoint {
                        component: m.component.clone(),
                        kind: "Ingress".into(),
                        name: m.name.clone(),
                        address: format!(
                            "{}://{host}{}",
                            if tls { "https" } else { "http" },
                            path["path"].as_str().unwrap_or("/")
                        ),
                    });
                }
            }
        }
        _ => {}
    }
    out
}

/// Every kept revision of a release, oldest first.
pub async fn history(
    session: &Session,
    release: Option<&str>,
    namespace: Option<&str>,
) -> Result<Vec<Summary>> {
    let t = target::find(&session.client, release, namespace).await?;
    Ok(Store::new(session.client.clone(), &t.namespace)
        .history(&t.name)
        .await?)
}
