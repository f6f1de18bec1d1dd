//! `stackctl status` and `stackctl history`.

use anyhow::Result;
use futures::{StreamExt, stream};
use serde::Serialize;
use serde_json::Value;

use super::Verdict;
use crate::cli::{GlobalArgs, OutputFormat, ReleaseArg};
use crate::model::Manifest;
use crate::operations::Refused;
use crate::operations::{stored_objects, target};
use crate::output::{print_structured, table};
use crate::probe::ProbeReport;
use crate::release::{Lock, PhaseStatus, Status, Store};
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
    pub components: Vec<ObjectState>,
    pub endpoints: Vec<Endpoint>,
    pub credentials: Vec<Credential>,
    /// The last connectivity probe run recorded in this revision (`stackctl test`,
    /// or install/upgrade's last phase); `None` if none ran.
    pub probes: Option<ProbeReport>,
    /// The phase this revision failed in, with the diagnosis of each object that did
    /// not become ready; `None` unless the revision failed in a phase.
    pub failure: Option<PhaseFailure>,
}

/// A failed phase of the revision, as its record keeps it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseFailure {
    pub phase: String,
    pub message: String,
    /// One per object: object, component, reason, detail, events, remedy.
    pub diagnoses: Vec<Value>,
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

pub async fn status(global: &GlobalArgs, args: &ReleaseArg) -> Result<()> {
    let session = super::connect(global).await?;
    let t = target::find(
        &session.client,
        args.release.as_deref(),
        global.namespace.as_deref(),
    )
    .await?;
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
            }),
    };
    if global.output == OutputFormat::Text {
        print_status(&report);
    } else {
        print_structured(global.output, &report)?;
    }
    if healthy {
        Ok(())
    } else {
        Err(Verdict::Unhealthy {
            release: report.release,
            silent: global.output != OutputFormat::Text,
        }
        .into())
    }
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

fn print_status(r: &StatusReport) {
    println!(
        "RELEASE: {}   NAMESPACE: {}   STACK: {}   PROFILE: {}",
        r.release, r.namespace, r.stack, r.profile
    );
    println!(
        "REVISION: {}   STATUS: {}   UPDATED: {}",
        r.revision, r.status, r.updated
    );
    println!("LAST OPERATION: {} — {}", r.last_operation, r.description);
    if let Some(h) = &r.locked_by {
        println!("LOCKED BY: {h}");
    }
    println!("HEALTHY: {}\n", if r.healthy { "yes" } else { "no" });
    let rows = r
        .components
        .iter()
        .filter(|c| {
            !matches!(
                c.kind.as_str(),
                "ConfigMap"
                    | "Secret"
                    | "ServiceAccount"
                    | "Role"
                    | "RoleBinding"
                    | "ClusterRole"
                    | "ClusterRoleBinding"
            ) || c.state != State::Current
        })
        .map(|c| {
            let ready = match (c.ready, c.desired) {
                (Some(a), Some(b)) => format!("{a}/{b}"),
                _ => "-".into(),
            };
            vec![
                c.component.clone(),
                c.phase.clone(),
                c.kind.clone(),
                c.name.clone(),
                ready,
                c.state.to_string(),
                c.reason.clone(),
            ]
        });
    println!(
        "{}",
        table(
            &[
                "COMPONENT",
                "PHASE",
                "KIND",
                "NAME",
                "READY",
                "STATE",
                "REASON"
            ],
            rows
        )
    );
    if !r.endpoints.is_empty() {
        println!("\nENDPOINTS");
        println!(
            "{}",
            table(
                &["COMPONENT", "KIND", "NAME", "ADDRESS"],
                r.endpoints.iter().map(|e| vec![
                    e.component.clone(),
                    e.kind.clone(),
                    e.name.clone(),
                    e.address.clone()
                ])
            )
        );
    }
    if let Some(p) = &r.probes {
        let filter = p
            .filter
            .as_deref()
            .map(|f| format!(", --filter {f}"))
            .unwrap_or_default();
        println!(
            "\nPROBES (last run {}{filter}): {}",
            p.ran_at
                .round(k8s_openapi::jiff::Unit::Second)
                .unwrap_or(p.ran_at),
            p.summary()
        );
        if !p.results.is_empty() {
            println!("{}", p.table());
        }
    }
    if !r.credentials.is_empty() {
        println!("\nCREDENTIALS (values never printed; read them with the command shown)");
        for c in &r.credentials {
            println!("  {} [{}]\n    {}", c.secret, c.keys.join(", "), c.read);
        }
    }
}

pub async fn history(global: &GlobalArgs, args: &ReleaseArg) -> Result<()> {
    let session = super::connect(global).await?;
    let t = target::find(
        &session.client,
        args.release.as_deref(),
        global.namespace.as_deref(),
    )
    .await?;
    let store = Store::new(session.client.clone(), &t.namespace);
    let revisions = store.history(&t.name).await?;
    if global.output != OutputFormat::Text {
        let rows: Vec<Value> = revisions
            .iter()
            .map(|r| {
                serde_json::json!({
                    "revision": r.revision,
                    "status": r.status.to_string(),
                    "operation": r.operation.to_string(),
                    "profile": r.profile,
                    "started": r.started_at.to_string(),
                    "finished": r.finished_at.map(|t| t.to_string()),
                    "description": r.description,
                })
            })
            .collect();
        return print_structured(global.output, &rows);
    }
    let rows = revisions.iter().map(|r| {
        vec![
            r.revision.to_string(),
            r.finished_at.unwrap_or(r.started_at).to_string(),
            r.status.to_string(),
            r.operation.to_string(),
            r.profile.clone(),
            r.description.clone(),
        ]
    });
    println!(
        "{}",
        table(
            &[
                "REVISION",
                "UPDATED",
                "STATUS",
                "OPERATION",
                "PROFILE",
                "DESCRIPTION"
            ],
            rows
        )
    );
    Ok(())
}
