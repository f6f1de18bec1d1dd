//! Waiting until applied objects are really ready, and saying why when they are not.
//!
//! - `status`: kstatus-style readiness of one object from its JSON;
//! - `pods`: problems in a workload's pods and claims, and when each is final;
//! - `diagnose`: which object, which pod, why, the cluster's events, what to change;
//! - `tracker`: the pure state machine fed by watch events;
//! - this module: the watches themselves, and the public entry point [`wait_ready`].
//!
//! Waiting is watch-based: one watcher per (kind, namespace) selecting the release's
//! label, plus pods and claims of each namespace. Every event re-evaluates; the only
//! timer is the moment a seen problem crosses its threshold (and the deadline).

pub mod diagnose;
pub mod json;
pub mod pods;
pub mod status;
pub mod storage;
mod tracker;

#[cfg(test)]
mod fixtures;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{BoxStream, SelectAll};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, watcher};
use serde::Serialize;
use serde_json::Value;
use tokio::time::{Instant, sleep_until};

use crate::cluster::Resolver;
use crate::model::Manifest;

pub use diagnose::Diagnosis;
pub use pods::{Baseline, Problem, ProblemKind, Thresholds};
pub use status::{ObjectStatus, State, compute, compute_with};
pub use storage::StorageClasses;

use tracker::{Change, Selector, Source, Tracker, Verdict};

/// Most watch events arrive in bursts (a list, a rollout); evaluating once per burst
/// keeps progress output calm. This bounds how many are taken before evaluating.
const MAX_BATCH: usize = 256;

#[derive(Debug, Clone)]
pub struct WaitOptions {
    pub deadline: Instant,
    pub thresholds: Thresholds,
    /// Restart counts when the operation began: a crash loop from before counts only
    /// once it crashes again. Empty: every crash counts.
    pub baseline: Arc<Baseline>,
}

impl WaitOptions {
    pub fn new(deadline: Instant) -> Self {
        WaitOptions {
            deadline,
            thresholds: Thresholds::default(),
            baseline: Arc::default(),
        }
    }

    /// A deadline `timeout` from now.
    pub fn timeout(timeout: Duration) -> Self {
        Self::new(Instant::now() + timeout)
    }
}

/// One object's state changed. Sent once per object at the start, then on every
/// change of state, message, counts or watched problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// `Kind/name`.
    pub object: String,
    pub kind: String,
    pub name: String,
    pub component: String,
    pub state: State,
    pub message: String,
    /// `(ready, desired)` replicas, pods or completions, where the kind counts them.
    pub ready: Option<(u32, u32)>,
    /// A problem seen on its pods that is not (yet) final, e.g. a first crash.
    pub problem: Option<String>,
    /// Objects Current so far, of `total`, across everything being waited for.
    pub done: usize,
    pub total: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WaitFailure {
    /// Some object cannot become ready without a change.
    Failed,
    /// The deadline passed first.
    TimedOut,
    /// The API refused what waiting needs (resolving a kind, watching it).
    Api,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaitError {
    pub kind: WaitFailure,
    pub elapsed: Duration,
    pub diagnoses: Vec<Diagnosis>,
    /// Objects not yet ready that have no diagnosis of their own (on a fast failure).
    pub still_waiting: Vec<String>,
    /// For `Api` failures: what went wrong.
    pub message: Option<String>,
}

impl std::error::Error for WaitError {}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs();
        let n = self.diagnoses.len();
        let objects = if n == 1 { "object" } else { "objects" };
        match self.kind {
            WaitFailure::Failed => {
                writeln!(f, "{n} {objects} cannot become ready (after {secs}s):")?;
            }
            WaitFailure::TimedOut => {
                writeln!(f, "timed out after {secs}s; {n} {objects} not ready:")?;
            }
            WaitFailure::Api => writeln!(
                f,
                "cannot wait for readiness: {}",
                self.message.as_deref().unwrap_or("API error")
            )?,
        }
        for d in &self.diagnoses {
            write!(f, "\n{d}")?;
        }
        if !self.still_waiting.is_empty() {
            write!(f, "\nstill waiting for: {}", self.still_waiting.join(", "))?;
        }
        Ok(())
    }
}

impl WaitError {
    fn api(message: String, started: Instant) -> Self {
        WaitError {
            kind: WaitFailure::Api,
            elapsed: started.elapsed(),
            diagnoses: Vec::new(),
            still_waiting: Vec::new(),
            message: Some(message),
        }
    }
}

/// Waits until every object of `manifests` is Current; fails as soon as one cannot
/// become ready, or at `opts.deadline`, with a diagnosis per object. Objects that
/// need no waiting (Secrets, RBAC…) count as ready at once.
///
/// Cancellation-safe: it spawns nothing, so dropping the future closes the watches.
pub async fn wait_ready(
    resolver: &Resolver,
    manifests: &[Manifest],
    opts: WaitOptions,
    mut on_progress: impl FnMut(&Progress),
) -> Result<(), WaitError> {
    let started = Instant::now();
    let client = resolver.client().clone();
    let mut tracker = Tracker::new(manifests, opts.thresholds);
    tracker.set_baseline(opts.baseline.clone());
    let mut eval = tracker.evaluate(Instant::now());
    eval.progress.iter().for_each(&mut on_progress);
    if matches!(eval.verdict, Verdict::Done) {
        return Ok(());
    }
    tracker.set_classes(StorageClasses::list(&client).await);

    let mut streams = SelectAll::new();
    for (i, source) in tracker.sources().iter().enumerate() {
        let stream = open(resolver, source)
            .await
            .map_err(|e| WaitError::api(e, started))?;
        streams.push(stream.map(move |u| (i, u)).boxed());
    }

    loop {
        let wake = eval.next_check.unwrap_or(opts.deadline).min(opts.deadline);
        tokio::select! {
            // The deadline first: a stream that never rests must not starve it.
            biased;
            () = sleep_until(opts.deadline) => {
                return Err(report(&mut tracker, &client, None, WaitFailure::TimedOut, started).await);
            }
            Some((i, update)) = streams.next() => {
                if let Some(e) = handle(&mut tracker, i, update) {
                    return Err(WaitError::api(e, started));
                }
                for _ in 0..MAX_BATCH {
                    match streams.next().now_or_never() {
                        Some(Some((i, update))) => {
                            if let Some(e) = handle(&mut tracker, i, update) {
                                return Err(WaitError::api(e, started));
                            }
                        }
                        _ => break,
                    }
                }
            }
            () = sleep_until(wake) => {}
        }
        eval = tracker.evaluate(Instant::now());
        eval.progress.iter().for_each(&mut on_progress);
        match eval.verdict {
            Verdict::Done => return Ok(()),
            Verdict::Waiting => {}
            Verdict::Failed(failures) => {
                return Err(report(
                    &mut tracker,
                    &client,
                    Some(failures),
                    WaitFailure::Failed,
                    started,
                )
                .await);
            }
        }
    }
}

type Update = Result<Change, watcher::Error>;

/// Feeds one update to the tracker; returns a message when waiting cannot go on:
/// being forbidden to watch the objects themselves. (Pods and claims only refine
/// diagnoses; without them the kstatus rules still decide.)
fn handle(tracker: &mut Tracker, source: usize, update: Update) -> Option<String> {
    match update {
        Ok(change) => {
            tracker.apply(source, change);
            None
        }
        Err(e) => {
            let what = tracker.sources()[source].describe();
            tracing::debug!("watch of {what} failed (retrying): {e}");
            let forbidden = status_code(&e) == Some(403);
            tracker.watch_error(source, e.to_string());
            match tracker.sources()[source] {
                Source::Objects { .. } if forbidden => {
                    Some(format!("not allowed to watch {what}: {e}"))
                }
                _ => None,
            }
        }
    }
}

fn status_code(e: &watcher::Error) -> Option<u16> {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s))
        | watcher::Error::WatchError(s) => Some(s.code),
        _ => None,
    }
}

/// A watch stream of one source, as JSON with `apiVersion`/`kind` filled in (list
/// items come without them, and the readiness rules dispatch on them).
async fn open(resolver: &Resolver, source: &Source) -> Result<BoxStream<'static, Update>, String> {
    let client = resolver.client().clone();
    let (api, config, api_version, kind) = match source {
        Source::Objects {
            api_version,
            kind,
            namespace,
            selector,
        } => {
            let (ar, caps) = resolver
                .resolve(api_version, kind)
                .await
                .map_err(|e| format!("{e:#}"))?;
            let api: Api<DynamicObject> = match (caps.scope, namespace) {
                (kube::discovery::Scope::Namespaced, Some(ns)) => {
                    Api::namespaced_with(client, ns, &ar)
                }
                (kube::discovery::Scope::Namespaced, None) => {
                    Api::default_namespaced_with(client, &ar)
                }
                (kube::discovery::Scope::Cluster, _) => Api::all_with(client, &ar),
            };
            let config = match selector {
                Selector::Label(l) => watcher::Config::default().labels(l),
                Selector::Name(n) => {
                    watcher::Config::default().fields(&format!("metadata.name={n}"))
                }
            };
            (api, config, api_version.clone(), kind.clone())
        }
        Source::Pods {
            namespace,
            selector,
        } => typed_source::<Pod>(client, namespace, selector.as_deref()),
        Source::Claims {
            namespace,
            selector,
        } => typed_source::<PersistentVolumeClaim>(client, namespace, selector.as_deref()),
    };
    let stream = watcher(api, config)
        .backoff(crate::cluster::retry::WatchBackoff::default())
        .map(move |event| {
            let decode = |o: DynamicObject| {
                let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
                if let Some(map) = v.as_object_mut() {
                    map.insert("apiVersion".into(), Value::String(api_version.clone()));
                    map.insert("kind".into(), Value::String(kind.clone()));
                }
                v
            };
            event.map(|e| match e {
                watcher::Event::Init => Change::Init,
                watcher::Event::InitApply(o) => Change::InitApply(decode(o)),
                watcher::Event::InitDone => Change::InitDone,
                watcher::Event::Apply(o) => Change::Apply(decode(o)),
                watcher::Event::Delete(o) => Change::Delete(decode(o)),
            })
        })
        .boxed();
    Ok(stream)
}

/// Pods and claims are read as JSON too, so the same lenient rules apply to them as
/// to everything else (and a newer field the typed structs reject cannot break us).
fn typed_source<K>(
    client: kube::Client,
    namespace: &str,
    selector: Option<&str>,
) -> (Api<DynamicObject>, watcher::Config, String, String)
where
    K: kube::Resource<DynamicType = ()>,
{
    let ar = ApiResource::erase::<K>(&());
    let api = Api::namespaced_with(client, namespace, &ar);
    let config = match selector {
        Some(l) => watcher::Config::default().labels(l),
        None => watcher::Config::default(),
    };
    (api, config, ar.api_version, ar.kind)
}

/// Builds the error: a diagnosis per failed object (or, on timeout, per object not
/// yet ready), with events looked up now.
async fn report(
    tracker: &mut Tracker,
    client: &kube::Client,
    failures: Option<Vec<tracker::Failure>>,
    kind: WaitFailure,
    started: Instant,
) -> WaitError {
    // A fresh list for remedies ("available: …"), in case classes changed meanwhile.
    let classes = StorageClasses::list(client).await;
    if classes.is_known() {
        tracker.set_classes(classes);
    }
    let targets: Vec<(usize, Option<Problem>)> = match failures {
        Some(f) => f.into_iter().map(|f| (f.object, f.problem)).collect(),
        None => tracker
            .not_current()
            .into_iter()
            .map(|i| (i, None))
            .collect(),
    };
    let mut diagnoses = Vec::new();
    for (i, problem) in &targets {
        let mut d = tracker.diagnose(*i, problem.as_ref());
        if let Some(ns) = tracker.namespace_of(*i) {
            // The pod's and claim's events, and the object's own (FailedCreate, a Job's
            // BackoffLimitExceeded): warnings from any of them beat a pod's Normal noise.
            let subjects = tracker.event_subjects(*i, &d);
            let mut events = Vec::new();
            for (name, uid) in &subjects {
                events.extend(diagnose::fetch_events(client, ns, name, uid.as_deref()).await);
            }
            d.events = diagnose::summarize_events(&events);
        }
        diagnoses.push(d);
    }
    let diagnosed: Vec<&str> = diagnoses.iter().map(|d| d.object.as_str()).collect();
    let still_waiting = tracker
        .waiting()
        .into_iter()
        .filter(|o| !diagnosed.contains(&o.as_str()))
        .collect();
    WaitError {
        kind,
        elapsed: started.elapsed(),
        diagnoses,
        still_waiting,
        message: None,
    }
}
