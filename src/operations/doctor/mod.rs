//! `doctor`: one read of the cluster that does what the charts' troubleshooting
//! sections tell people to do by hand (`describe pod`, `logs --previous`, `get pvc`,
//! `get svc`/`ingress`, `top nodes`, events), for the release's objects only, and
//! reports every finding with its evidence, severity and remedy.
//!
//! Each area is a module with a pure `check` over what was read, so its rules are
//! unit-tested; this module reads the cluster once, concurrently, and turns every
//! read it is not allowed to make into a [`Skipped`] entry instead of an error: a
//! user who can only read the namespace gets the report that read allows.

pub mod backups;
mod capacity;
mod events;
pub mod finding;
mod network;
mod pods;
mod release;
mod volumes;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{
    Endpoints, Event, Namespace, Node, PersistentVolumeClaim, Pod, Secret,
};
use k8s_openapi::api::networking::v1::{IngressClass, NetworkPolicy};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, LogParams};
use kube::{Api, Client};
use serde::Serialize;
use serde_json::Value;

pub use finding::{Check, Finding, Severity, Skipped};

use super::failure::Refused;
use super::{recorded_stack, stored_objects, target};
use crate::cluster::Session;
use crate::model::{Manifest, RELEASE_LABEL};
use crate::probe::{Outcome as ProbeOutcome, RunOptions, run_probes};
use crate::release::{Lock, Store};
use crate::wait::StorageClasses;
use crate::wait::json;

/// Restarts and events older than this are history, not findings.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);
/// Log lines kept per crashed container.
const LOG_LINES: i64 = 10;

pub struct DoctorOptions {
    pub release: Option<String>,
    pub namespace: Option<String>,
    pub window: Duration,
    /// Also run the connectivity probes (creates Jobs: the one part that writes).
    pub probes: bool,
}

/// The documented, stable shape of `doctor -o json|yaml` (README, "Day two").
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DoctorReport {
    pub release: String,
    pub namespace: String,
    pub stack: String,
    pub revision: u32,
    pub status: String,
    pub checked_at: String,
    /// Restarts and events older than this many seconds were not counted.
    pub window_seconds: u64,
    /// No finding at warning level or above.
    pub healthy: bool,
    pub counts: Counts,
    /// Worst first, then by check.
    pub findings: Vec<Finding>,
    /// What could not be checked, and why.
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub error: usize,
    pub warning: usize,
    pub info: usize,
}

/// Reads the release and the cluster around it and reports what it finds.
pub async fn doctor(session: &Session, opts: &DoctorOptions) -> Result<DoctorReport> {
    let t = target::find(
        &session.client,
        opts.release.as_deref(),
        opts.namespace.as_deref(),
    )
    .await?;
    let ns = t.namespace.as_str();
    let store = Store::new(session.client.clone(), ns);
    let Some(record) = store.latest(&t.name).await? else {
        return Err(Refused(format!("release {} has no revisions", t.name)).into());
    };
    let now = Timestamp::now();
    let since = now - opts.window;
    let client = &session.client;

    let lock = Lock::inspect(client.clone(), ns, &t.name)
        .await
        .ok()
        .flatten();
    let (live, unreadable) = live_objects(session, stored_objects(&record)).await;
    let (pods, claims, endpoints, events, nodes, all_pods, ingress_classes, classes) = tokio::join!(
        list::<Pod>(Api::namespaced(client.clone(), ns)),
        list::<PersistentVolumeClaim>(Api::namespaced(client.clone(), ns)),
        list::<Endpoints>(Api::namespaced(client.clone(), ns)),
        events(client, ns),
        list::<Node>(Api::all(client.clone())),
        list::<Pod>(Api::all(client.clone())),
        list::<IngressClass>(Api::all(client.clone())),
        StorageClasses::list(client),
    );

    let mut outcome = release::state(&record, lock.as_ref());
    outcome.skipped.extend(unreadable);
    if record.status == crate::release::Status::Deployed {
        outcome.extend(release::drift(session, &live).await);
    } else {
        outcome.skip(Skipped::new(
            Check::Release,
            "drift",
            format!(
                "revision {} is {}: some of its objects were never applied, so there is no applied state to compare with",
                record.revision, record.status
            ),
        ));
    }

    let scope = Scope::new(
        &live,
        pods.as_deref().ok(),
        claims.as_deref().ok(),
        &classes,
    );
    match &pods {
        Ok(_) => {
            for pf in scope.pods(ns, now, opts.window) {
                let mut f = pf.finding;
                if let Some(req) = pf.log {
                    f.evidence.extend(logs(client, ns, &req).await);
                }
                outcome.add(f);
            }
        }
        Err(why) => outcome.skip(Skipped::new(Check::Pods, "pods", why.clone())),
    }
    match &claims {
        Ok(_) => {
            let usage = volume_usage(client, ns, &live).await;
            outcome.extend(scope.volumes(ns, &t.name, usage));
        }
        Err(why) => outcome.skip(Skipped::new(Check::Volumes, "claims", why.clone())),
    }
    let release_pods = scope.release_pods();

    // Network.
    let services = present(&live, &["Service"]);
    let ingresses = present(&live, &["Ingress"]);
    let endpoint_map = by_name(endpoints.as_deref().unwrap_or_default());
    let tls_secrets = tls_secrets(client, ns, &ingresses).await;
    if let Err(why) = &endpoints {
        outcome.skip(Skipped::new(
            Check::Network,
            "service endpoints",
            why.clone(),
        ));
    }
    outcome.extend(network::check(&network::Facts {
        namespace: ns,
        services: if endpoints.is_ok() {
            services
        } else {
            Vec::new()
        },
        ingresses,
        endpoints: &endpoint_map,
        ingress_classes: ingress_classes.as_deref().ok(),
        tls_secrets: &tls_secrets,
    }));

    outcome.extend(network_policies(session, &record, &release_pods).await);

    // Capacity.
    outcome.extend(capacity::check(&capacity::Facts {
        nodes: nodes.as_deref().ok(),
        all_pods: all_pods.as_deref().ok(),
        release_pods: release_pods.clone(),
    }));

    let summary = backups::read(client, &store, &record).await;
    for f in backups::check(summary.as_ref(), ns, &t.name) {
        outcome.add(f);
    }

    // Probes.
    if opts.probes {
        outcome.extend(probes(session, &record).await);
    }

    // Events last: they join the findings of the objects they are about.
    let mut findings = outcome.findings;
    match &events {
        Ok(list) => {
            let ours = owned_names(&live, &release_pods, &scope.claims, &t.name);
            events::attach(
                list,
                since,
                |o| ours.contains(o),
                |o| replica_set_owner(o, &live),
                &mut findings,
            );
        }
        Err(why) => outcome
            .skipped
            .push(Skipped::new(Check::Events, "events", why.clone())),
    }

    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.check.cmp(&b.check)));
    let mut counts = Counts::default();
    for f in &findings {
        match f.severity {
            Severity::Error => counts.error += 1,
            Severity::Warning => counts.warning += 1,
            Severity::Info => counts.info += 1,
        }
    }
    Ok(DoctorReport {
        release: record.release.clone(),
        namespace: record.namespace.clone(),
        stack: record.stack.clone(),
        revision: record.revision,
        status: record.status.to_string(),
        checked_at: now.to_string(),
        window_seconds: opts.window.as_secs(),
        healthy: counts.error == 0 && counts.warning == 0,
        counts,
        findings,
        skipped: outcome.skipped,
    })
}

/// The release's workloads, pods and claims as one read of the namespace found
/// them, for the pods and volumes checks (`doctor` and `status` alike).
struct Scope<'a> {
    workloads: Vec<(&'a Manifest, &'a Value)>,
    pods: &'a [Value],
    claims: BTreeMap<String, Value>,
    classes: &'a StorageClasses,
}

impl<'a> Scope<'a> {
    fn new(
        live: &'a [(Manifest, Option<Value>)],
        pods: Option<&'a [Value]>,
        claims: Option<&'a [Value]>,
        classes: &'a StorageClasses,
    ) -> Self {
        Scope {
            workloads: present(live, &pods::WORKLOADS),
            pods: pods.unwrap_or_default(),
            claims: by_name(claims.unwrap_or_default()),
            classes,
        }
    }

    fn pods(&self, namespace: &str, now: Timestamp, window: Duration) -> Vec<pods::PodFinding> {
        pods::check(&pods::Facts {
            namespace,
            workloads: self.workloads.clone(),
            pods: self.pods,
            claims: &self.claims,
            classes: self.classes,
            now,
            window,
        })
    }

    fn volumes(
        &self,
        namespace: &str,
        release: &str,
        usage: Result<Option<volumes::Usage>, String>,
    ) -> finding::Outcome {
        volumes::check(&volumes::Facts {
            namespace,
            claims: self
                .claims
                .values()
                .filter(|c| json::label(c, RELEASE_LABEL) == Some(release))
                .collect(),
            pods: self.pods,
            classes: self.classes,
            usage,
        })
    }

    /// The pods the release's workloads own.
    fn release_pods(&self) -> Vec<&'a Value> {
        self.workloads
            .iter()
            .flat_map(|(_, w)| crate::wait::pods::owned_pods(w, self.pods))
            .collect()
    }
}

/// The recorded objects of these kinds that exist, with their live state.
fn present<'a>(
    live: &'a [(Manifest, Option<Value>)],
    kinds: &[&str],
) -> Vec<(&'a Manifest, &'a Value)> {
    live.iter()
        .filter(|(m, _)| kinds.contains(&m.kind.as_str()))
        .filter_map(|(m, o)| Some((m, o.as_ref()?)))
        .collect()
}

fn by_name(items: &[Value]) -> BTreeMap<String, Value> {
    items
        .iter()
        .map(|i| (json::name(i).to_string(), i.clone()))
        .collect()
}

/// The findings `status` shows: the revision and lock, the pods and claims of the
/// release, and its backups (`backups`, as `status` read them) — what explains
/// "not healthy" without the slower reads (drift, logs, nodes, events) of the full
/// report.
pub async fn problems(
    session: &Session,
    record: &crate::release::Record,
    lock: Option<&crate::release::LockInfo>,
    live: &[(Manifest, Option<Value>)],
    backups: Option<&crate::operations::backup::Summary>,
) -> Vec<Finding> {
    let client = &session.client;
    let ns = record.namespace.as_str();
    let (pods, claims, classes) = tokio::join!(
        list::<Pod>(Api::namespaced(client.clone(), ns)),
        list::<PersistentVolumeClaim>(Api::namespaced(client.clone(), ns)),
        StorageClasses::list(client),
    );
    let mut findings = release::state(record, lock).findings;
    let scope = Scope::new(live, pods.as_deref().ok(), claims.as_deref().ok(), &classes);
    findings.extend(
        scope
            .pods(ns, Timestamp::now(), DEFAULT_WINDOW)
            .into_iter()
            .map(|p| p.finding),
    );
    findings.extend(scope.volumes(ns, &record.release, Ok(None)).findings);
    findings.extend(backups::check(backups, ns, &record.release));
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.check.cmp(&b.check)));
    findings
}

/// The stack's declared flows against the namespace's NetworkPolicies (none: no
/// pod is isolated, nothing to evaluate).
async fn network_policies(
    session: &Session,
    record: &crate::release::Record,
    pods: &[&Value],
) -> finding::Outcome {
    let client = &session.client;
    let ns = record.namespace.as_str();
    let mut out = finding::Outcome::default();
    let policies = match list::<NetworkPolicy>(Api::namespaced(client.clone(), ns)).await {
        Ok(p) if p.is_empty() => return out,
        Ok(p) => p,
        Err(why) => {
            out.skip(Skipped::new(Check::Network, "network policies", why));
            return out;
        }
    };
    let flows =
        recorded_stack(record).and_then(|(stack, release, values)| stack.flows(&values, &release));
    let flows = match flows {
        Ok(f) => f,
        Err(e) => {
            out.skip(Skipped::new(
                Check::Network,
                "network policies",
                format!("the stack's flows could not be derived from the revision's values: {e:#}"),
            ));
            return out;
        }
    };
    // Without the namespace's labels (1.20 sets none by itself, and reading the
    // Namespace is cluster-scoped), selectors on them are judged against none.
    let labels = match Api::<Namespace>::all(client.clone()).get_metadata(ns).await {
        Ok(n) => serde_json::to_value(n.metadata.labels.unwrap_or_default()).unwrap_or_default(),
        Err(e) => {
            out.skip(Skipped::new(
                Check::Network,
                "namespace labels",
                format!(
                    "{}; namespaceSelectors were matched against no labels",
                    denied(&e, &format!("read namespace {ns}"))
                ),
            ));
            Value::Object(serde_json::Map::new())
        }
    };
    let pods: Vec<Value> = pods.iter().map(|p| (*p).clone()).collect();
    let eval = crate::netpol::blocked_flows(&policies, &pods, &labels, &flows);
    out.extend(network::policies(ns, &eval));
    out
}

/// Each recorded object as the cluster has it now (`None`: not found), and the
/// objects that could not be read (with why): never taken for deleted.
async fn live_objects(
    session: &Session,
    manifests: Vec<Manifest>,
) -> (Vec<(Manifest, Option<Value>)>, Vec<Skipped>) {
    let read: Vec<(Manifest, Result<Option<Value>, String>)> = stream::iter(manifests)
        .map(|m| async move {
            let obj = match session.resolver.api_for(&m).await {
                Ok(api) => api
                    .get_opt(&m.name)
                    .await
                    .map(|o| o.and_then(|o| serde_json::to_value(o).ok()))
                    .map_err(|e| denied(&e, &format!("read {}", m.id()))),
                Err(e) => Err(format!("{e:#}")),
            };
            (m, obj)
        })
        .buffered(crate::apply::CONCURRENCY)
        .collect()
        .await;
    let mut live = Vec::new();
    let mut unreadable = Vec::new();
    for (m, obj) in read {
        match obj {
            Ok(o) => live.push((m, o)),
            Err(why) => unreadable.push(Skipped::new(Check::Release, m.id(), why)),
        }
    }
    (live, unreadable)
}

/// A list as JSON, or why it could not be read.
async fn list<K>(api: Api<K>) -> Result<Vec<Value>, String>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    match api.list(&ListParams::default()).await {
        Ok(l) => Ok(l
            .items
            .iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .collect()),
        Err(e) => Err(denied(&e, &format!("list {}", K::plural(&())))),
    }
}

/// Why a read failed, in the API server's own words.
fn denied(e: &kube::Error, what: &str) -> String {
    match e {
        kube::Error::Api(s) if s.is_forbidden() => format!("not allowed to {what} ({})", s.message),
        kube::Error::Api(s) => format!("could not {what}: {}", s.message),
        other => format!("could not {what}: {other}"),
    }
}

async fn events(client: &Client, ns: &str) -> Result<Vec<Event>, String> {
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|e| denied(&e, "list events"))
}

/// The last lines of a container's log, or why there are none.
async fn logs(client: &Client, ns: &str, req: &pods::LogRequest) -> Vec<String> {
    let params = LogParams {
        container: Some(req.container.clone()),
        previous: req.previous,
        tail_lines: Some(LOG_LINES),
        limit_bytes: Some(16 * 1024),
        ..LogParams::default()
    };
    let which = if req.previous { "previous " } else { "" };
    match Api::<Pod>::namespaced(client.clone(), ns)
        .logs(&req.pod, &params)
        .await
    {
        Ok(text) if text.trim().is_empty() => {
            vec![format!("{which}log of {}: empty", req.container)]
        }
        Ok(text) => text
            .lines()
            .map(|l| format!("{which}log of {}: {l}", req.container))
            .collect(),
        Err(e) => vec![format!(
            "no log available: {}",
            denied(
                &e,
                &format!("read the {which}log of {}/{}", req.pod, req.container)
            )
        )],
    }
}

/// Whether each TLS Secret the Ingresses name exists (`None`: not allowed to tell).
async fn tls_secrets(
    client: &Client,
    ns: &str,
    ingresses: &[(&Manifest, &Value)],
) -> BTreeMap<String, Option<bool>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut out = BTreeMap::new();
    for (_, ing) in ingresses {
        for tls in json::array_at(ing, "spec.tls") {
            if let Some(name) = json::str_at(tls, "secretName") {
                let exists = match api.get_metadata_opt(name).await {
                    Ok(found) => Some(found.is_some()),
                    Err(_) => None,
                };
                out.insert(name.to_string(), exists);
            }
        }
    }
    out
}

/// Volume usage from the release's own Prometheus, through the service proxy.
async fn volume_usage(
    client: &Client,
    ns: &str,
    live: &[(Manifest, Option<Value>)],
) -> Result<Option<volumes::Usage>, String> {
    let Some((svc, port)) = live.iter().find_map(|(m, o)| {
        let o = o.as_ref()?;
        (m.kind == "Service"
            && m.component == "prometheus"
            && json::str_at(o, "spec.clusterIP") != Some("None"))
        .then(|| {
            let port = json::array_at(o, "spec.ports").first()?;
            Some((m.name.clone(), json::int_at(port, "port")?))
        })
        .flatten()
    }) else {
        return Ok(None);
    };
    let svc = svc.as_str();
    let query = |metric: &str| {
        let q = format!("{metric}{{namespace=\"{ns}\"}}");
        let url = format!(
            "/api/v1/namespaces/{ns}/services/{svc}:{port}/proxy/api/v1/query?query={}",
            encode(&q)
        );
        async move {
            let req = http::Request::get(url)
                .body(Vec::new())
                .map_err(|e| e.to_string())?;
            let text = client
                .request_text(req)
                .await
                .map_err(|e| denied(&e, &format!("query Prometheus through Service {svc}")))?;
            serde_json::from_str::<Value>(&text)
                .map_err(|e| format!("Prometheus answered something else than JSON: {e}"))
        }
    };
    let used = query("kubelet_volume_stats_used_bytes").await?;
    let capacity = query("kubelet_volume_stats_capacity_bytes").await?;
    let usage = volumes::usage_from(&used, &capacity);
    if usage.is_empty() {
        return Err(format!(
            "the release's Prometheus ({svc}) has no kubelet_volume_stats_* series for namespace {ns}: it does not scrape the kubelets"
        ));
    }
    Ok(Some(usage))
}

/// Percent-encoding of a query parameter (only what PromQL selectors contain).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Objects whose events belong to the release: its recorded objects, its pods and
/// claims, and its Deployments' ReplicaSets.
fn owned_names(
    live: &[(Manifest, Option<Value>)],
    pods: &[&Value],
    claims: &BTreeMap<String, Value>,
    release: &str,
) -> std::collections::BTreeSet<String> {
    let mut out: std::collections::BTreeSet<String> = live.iter().map(|(m, _)| m.id()).collect();
    out.extend(pods.iter().map(|p| format!("Pod/{}", json::name(p))));
    out.extend(
        claims
            .values()
            .filter(|c| json::label(c, RELEASE_LABEL) == Some(release))
            .map(|c| format!("PersistentVolumeClaim/{}", json::name(c))),
    );
    out.extend(pods.iter().flat_map(|p| {
        json::array_at(p, "metadata.ownerReferences")
            .iter()
            .filter_map(|o| {
                Some(format!(
                    "{}/{}",
                    json::str_at(o, "kind")?,
                    json::str_at(o, "name")?
                ))
            })
            .collect::<Vec<_>>()
    }));
    out
}

/// `ReplicaSet/<deployment>-<hash>` → `Deployment/<deployment>` of the release.
fn replica_set_owner(object: &str, live: &[(Manifest, Option<Value>)]) -> Option<String> {
    let rs = object.strip_prefix("ReplicaSet/")?;
    live.iter()
        .filter(|(m, _)| m.kind == "Deployment")
        .find(|(m, _)| rs.strip_prefix(&m.name).is_some_and(|h| h.starts_with('-')))
        .map(|(m, _)| m.id())
}

/// The connectivity probes of the newest revision's values, not recorded: doctor
/// only looks.
async fn probes(session: &Session, record: &crate::release::Record) -> finding::Outcome {
    let mut out = finding::Outcome::default();
    let run = async {
        let (stack, release, values) = recorded_stack(record)?;
        let specs = stack.probes(&values, &release)?;
        let opts = RunOptions {
            filter: None,
            timeout: None,
            logs: false,
        };
        run_probes(session, &release, specs, &opts, |_| {}).await
    };
    match run.await {
        Ok(report) => {
            for r in report
                .results
                .iter()
                .filter(|r| r.result != ProbeOutcome::Passed)
            {
                out.add(
                    Finding::new(
                        Check::Probes,
                        Severity::Error,
                        if r.job.is_empty() {
                            format!("Probe/{}", r.component)
                        } else {
                            format!("Job/{}", r.job)
                        },
                        "ProbeFailed",
                        format!(
                            "{} → {}: {} did not pass: {}",
                            r.component, r.target, r.check, r.message
                        ),
                        format!(
                            "`stackctl test {} -n {} --filter {} --logs` shows the probe's output",
                            record.release, record.namespace, r.component
                        ),
                    )
                    .component(&r.component)
                    .evidence(
                        r.log
                            .iter()
                            .flat_map(|l| l.lines().take(5).map(str::to_string)),
                    ),
                );
            }
        }
        Err(e) => out.skip(Skipped::new(
            Check::Probes,
            "connectivity probes",
            format!("{e:#}"),
        )),
    }
    out
}
