//! The waiting state machine, free of I/O: it is fed watch events and the current
//! time, and says what changed, whether the wait is over, and when time alone will
//! next change the answer (a problem crossing its threshold).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;
use tokio::time::Instant;

use super::Progress;
use super::diagnose::{self, Diagnosis, Target};
use super::json;
use super::pods::{self, Baseline, Problem, ProblemKey, Thresholds};
use super::status::{self, ObjectStatus, State};
use super::storage::StorageClasses;
use crate::model::{Manifest, RELEASE_LABEL};

/// A change from one watch stream, already decoded to JSON.
#[derive(Debug, Clone)]
pub enum Change {
    /// The stream (re)starts listing; `InitApply`s follow until `InitDone`.
    Init,
    InitApply(Value),
    InitDone,
    Apply(Value),
    Delete(Value),
}

/// What a watch stream covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// Objects of one kind in one namespace (or cluster-wide), by label or by name.
    Objects {
        api_version: String,
        kind: String,
        namespace: Option<String>,
        selector: Selector,
    },
    Pods {
        namespace: String,
        selector: Option<String>,
    },
    Claims {
        namespace: String,
        selector: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Selector {
    Label(String),
    /// For a manifest without the release label: watch it by name.
    Name(String),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Objects {
                kind, namespace, ..
            } => match namespace {
                Some(ns) => format!("{kind} in namespace {ns}"),
                None => kind.clone(),
            },
            Source::Pods { namespace, .. } => format!("Pods in namespace {namespace}"),
            Source::Claims { namespace, .. } => {
                format!("PersistentVolumeClaims in namespace {namespace}")
            }
        }
    }
}

/// Objects seen on one stream, with kube-runtime's re-list semantics: a re-list
/// replaces everything, so objects deleted while disconnected disappear.
#[derive(Debug, Default)]
struct Store {
    items: BTreeMap<String, Value>,
    buffer: Option<BTreeMap<String, Value>>,
    synced: bool,
    error: Option<String>,
}

impl Store {
    fn apply(&mut self, change: Change) {
        match change {
            Change::Init => self.buffer = Some(BTreeMap::new()),
            Change::InitApply(v) => {
                let buffer = self.buffer.get_or_insert_with(BTreeMap::new);
                buffer.insert(json::name(&v).to_string(), v);
            }
            Change::InitDone => {
                self.items = self.buffer.take().unwrap_or_default();
                self.synced = true;
                self.error = None;
            }
            Change::Apply(v) => {
                self.items.insert(json::name(&v).to_string(), v);
            }
            Change::Delete(v) => {
                self.items.remove(json::name(&v));
            }
        }
    }
}

struct Tracked {
    target: Target,
    /// Index into `sources`; `None` for kinds that need no waiting.
    source: Option<usize>,
    status: ObjectStatus,
    reported: Option<Progress>,
}

/// One object that cannot become ready, and the problem that says why, if any.
#[derive(Debug, Clone)]
pub struct Failure {
    pub object: usize,
    pub problem: Option<Problem>,
}

#[derive(Debug, Clone)]
pub enum Verdict {
    Done,
    Waiting,
    Failed(Vec<Failure>),
}

pub struct Evaluation {
    pub verdict: Verdict,
    pub progress: Vec<Progress>,
    /// When a problem seen now crosses its threshold, if nothing else changes.
    pub next_check: Option<Instant>,
}

pub struct Tracker {
    objects: Vec<Tracked>,
    sources: Vec<Source>,
    stores: Vec<Store>,
    classes: StorageClasses,
    thresholds: Thresholds,
    first_seen: HashMap<ProblemKey, Instant>,
    /// Restart counts when the operation began (see [`pods::Baseline`]).
    baseline: Arc<Baseline>,
    /// Each object's problems as of the last evaluation.
    problems: Vec<Vec<(Problem, bool)>>,
}

fn is_workload(kind: &str) -> bool {
    matches!(
        kind,
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" | "Pod"
    )
}

impl Tracker {
    pub fn new(manifests: &[Manifest], thresholds: Thresholds) -> Self {
        let mut sources: Vec<Source> = Vec::new();
        let mut index = |s: Source| {
            if let Some(i) = sources.iter().position(|x| *x == s) {
                i
            } else {
                sources.push(s);
                sources.len() - 1
            }
        };
        let mut releases: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut unlabelled: BTreeSet<String> = BTreeSet::new();
        let mut objects = Vec::new();
        for m in manifests {
            let release = json::label(&m.body, RELEASE_LABEL).map(str::to_string);
            let needs_wait = !status::needs_no_wait(&m.api_version, &m.kind);
            let source = needs_wait.then(|| {
                index(Source::Objects {
                    api_version: m.api_version.clone(),
                    kind: m.kind.clone(),
                    namespace: m.namespace.clone(),
                    selector: match &release {
                        Some(r) => Selector::Label(format!("{RELEASE_LABEL}={r}")),
                        None => Selector::Name(m.name.clone()),
                    },
                })
            });
            if let (true, Some(ns)) = (is_workload(&m.kind), &m.namespace) {
                match &release {
                    Some(r) => {
                        releases.entry(ns.clone()).or_default().insert(r.clone());
                    }
                    None => {
                        unlabelled.insert(ns.clone());
                    }
                }
            }
            objects.push(Tracked {
                target: Target {
                    kind: m.kind.clone(),
                    name: m.name.clone(),
                    namespace: m.namespace.clone(),
                    component: m.component.clone(),
                },
                source,
                status: if needs_wait {
                    ObjectStatus::in_progress("waiting for the first status")
                } else {
                    ObjectStatus::current("")
                },
                reported: None,
            });
        }
        // Pods inherit the release label from their templates; a workload without it
        // means we watch every pod of its namespace.
        let namespaces: BTreeSet<&String> = releases.keys().chain(unlabelled.iter()).collect();
        for ns in namespaces {
            let selector = match (releases.get(ns), unlabelled.contains(ns)) {
                (Some(rs), false) if rs.len() == 1 => Some(format!(
                    "{RELEASE_LABEL}={}",
                    rs.iter().next().unwrap_or(&String::new())
                )),
                (Some(rs), false) => Some(format!(
                    "{RELEASE_LABEL} in ({})",
                    rs.iter().cloned().collect::<Vec<_>>().join(",")
                )),
                _ => None,
            };
            index(Source::Pods {
                namespace: ns.clone(),
                selector: selector.clone(),
            });
            index(Source::Claims {
                namespace: ns.clone(),
                selector,
            });
        }
        let stores = sources.iter().map(|_| Store::default()).collect();
        let problems = objects.iter().map(|_| Vec::new()).collect();
        Tracker {
            objects,
            sources,
            stores,
            classes: StorageClasses::unknown(),
            thresholds,
            first_seen: HashMap::new(),
            baseline: Arc::default(),
            problems,
        }
    }

    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    pub fn set_baseline(&mut self, baseline: Arc<Baseline>) {
        self.baseline = baseline;
    }

    pub fn set_classes(&mut self, classes: StorageClasses) {
        self.classes = classes;
    }

    pub fn apply(&mut self, source: usize, change: Change) {
        if let Some(store) = self.stores.get_mut(source) {
            store.apply(change);
        }
    }

    /// A watch error; kept for the timeout report (the watcher retries by itself).
    pub fn watch_error(&mut self, source: usize, error: String) {
        if let Some(store) = self.stores.get_mut(source) {
            store.error = Some(error);
        }
    }

    /// The first synced store of the given kind for a namespace.
    fn namespace_store(&self, namespace: &str, pods: bool) -> Option<&BTreeMap<String, Value>> {
        self.sources
            .iter()
            .position(|s| match s {
                Source::Pods { namespace: ns, .. } => pods && ns == namespace,
                Source::Claims { namespace: ns, .. } => !pods && ns == namespace,
                Source::Objects { .. } => false,
            })
            .map(|i| &self.stores[i].items)
    }

    fn live(&self, i: usize) -> Option<&Value> {
        let o = &self.objects[i];
        self.stores[o.source?].items.get(&o.target.name)
    }

    /// The pods that explain object `i`.
    fn pods_of(&self, i: usize) -> Vec<&Value> {
        let o = &self.objects[i];
        let (Some(live), Some(ns)) = (self.live(i), o.target.namespace.as_deref()) else {
            return Vec::new();
        };
        if !is_workload(&o.target.kind) {
            return Vec::new();
        }
        if o.target.kind == "Pod" {
            return vec![live];
        }
        self.namespace_store(ns, true)
            .map(|pods| pods::owned_pods(live, pods.values()))
            .unwrap_or_default()
    }

    fn compute_problems(&self, i: usize) -> Vec<Problem> {
        let o = &self.objects[i];
        let Some(live) = self.live(i) else {
            return Vec::new();
        };
        if o.target.kind == "PersistentVolumeClaim" {
            return pods::claim_problem(live, &self.classes)
                .into_iter()
                .collect();
        }
        let empty = BTreeMap::new();
        let claims = o
            .target
            .namespace
            .as_deref()
            .and_then(|ns| self.namespace_store(ns, false))
            .unwrap_or(&empty);
        self.pods_of(i)
            .into_iter()
            .flat_map(|p| {
                let mut found = pods::pod_problems(p, claims, &self.classes);
                self.baseline.mark(p, &mut found);
                found
            })
            .collect()
    }

    pub fn evaluate(&mut self, now: Instant) -> Evaluation {
        let mut seen: HashMap<ProblemKey, Instant> = HashMap::new();
        let mut next_check: Option<Instant> = None;
        let mut failures = Vec::new();
        for i in 0..self.objects.len() {
            let status = match self.objects[i].source {
                None => ObjectStatus::current(""),
                Some(s) if !self.stores[s].synced => {
                    let mut st = ObjectStatus::in_progress("waiting for the first status");
                    if let Some(e) = &self.stores[s].error {
                        st.message = format!("cannot watch yet: {e}");
                    }
                    st
                }
                Some(_) => match self.live(i) {
                    Some(v) => status::compute_with(v, &self.classes),
                    None => ObjectStatus::not_found(),
                },
            };
            let problems = if status.is_current() {
                Vec::new()
            } else {
                self.compute_problems(i)
            };
            let mut judged = Vec::new();
            for p in problems {
                let key = p.key();
                let since = *seen
                    .entry(key.clone())
                    .or_insert_with(|| self.first_seen.get(&key).copied().unwrap_or(now));
                let terminal = self
                    .thresholds
                    .is_terminal(&p, now.saturating_duration_since(since));
                if !terminal && let Some(grace) = self.thresholds.grace(&p) {
                    let at = since + grace;
                    next_check = Some(next_check.map_or(at, |n| n.min(at)));
                }
                judged.push((p, terminal));
            }
            // Final problems first, then the most specific kind.
            judged.sort_by_key(|(p, terminal)| (!terminal, p.kind));
            if status.state == State::Failed || judged.first().is_some_and(|(_, t)| *t) {
                failures.push(Failure {
                    object: i,
                    problem: judged.first().map(|(p, _)| p.clone()),
                });
            }
            self.objects[i].status = status;
            self.problems[i] = judged;
        }
        // Problems that went away lose their age: a recovered pod starts afresh.
        self.first_seen = seen;

        let total = self.objects.len();
        let done = self
            .objects
            .iter()
            .filter(|o| o.status.is_current())
            .count();
        let mut progress = Vec::new();
        for i in 0..total {
            let o = &self.objects[i];
            let p = Progress {
                object: o.target.id(),
                kind: o.target.kind.clone(),
                name: o.target.name.clone(),
                component: o.target.component.clone(),
                state: o.status.state,
                message: o.status.message.clone(),
                ready: o.status.ready,
                problem: self.problems[i].first().map(|(p, _)| p.to_string()),
                done,
                total,
            };
            let changed = o.reported.as_ref().is_none_or(|r| !r.same_object_state(&p));
            if changed {
                self.objects[i].reported = Some(p.clone());
                progress.push(p);
            }
        }
        let verdict = if !failures.is_empty() {
            Verdict::Failed(failures)
        } else if done == total {
            Verdict::Done
        } else {
            Verdict::Waiting
        };
        Evaluation {
            verdict,
            progress,
            next_check,
        }
    }

    /// Objects not yet Current, as `Kind/name`.
    pub fn waiting(&self) -> Vec<String> {
        self.objects
            .iter()
            .filter(|o| !o.status.is_current())
            .map(|o| o.target.id())
            .collect()
    }

    /// Indices of objects not yet Current.
    pub fn not_current(&self) -> Vec<usize> {
        (0..self.objects.len())
            .filter(|&i| !self.objects[i].status.is_current())
            .collect()
    }

    /// A diagnosis without events: from the problem if there is one, else from the
    /// object's status and pods.
    pub fn diagnose(&self, i: usize, problem: Option<&Problem>) -> Diagnosis {
        let o = &self.objects[i];
        let problem = problem.or_else(|| self.problems[i].first().map(|(p, _)| p));
        if let Some(s) = o.source.map(|s| &self.stores[s]).filter(|s| !s.synced) {
            let mut d = diagnose::from_status(&o.target, &o.status, &[]);
            d.reason = "WatchFailed".into();
            d.detail = format!(
                "could not watch {}: {}",
                self.sources[o.source.unwrap_or_default()].describe(),
                s.error
                    .as_deref()
                    .unwrap_or("no answer from the API server")
            );
            d.remedy =
                "check connectivity to the API server and that you may list and watch this kind"
                    .into();
            return d;
        }
        match problem {
            Some(p) => {
                let mut d = diagnose::from_problem(&o.target, p, &self.classes);
                if o.status.state == State::Failed && !o.status.message.is_empty() {
                    d.detail = format!("{}; {}", o.status.message, d.detail);
                }
                d
            }
            None => diagnose::from_status(&o.target, &o.status, &self.pods_of(i)),
        }
    }

    /// Whose events explain the diagnosis, as `(name, uid)`: the pod and claim it
    /// names, then the object itself.
    pub fn event_subjects(&self, i: usize, d: &Diagnosis) -> Vec<(String, Option<String>)> {
        let o = &self.objects[i];
        let ns = o.target.namespace.as_deref().unwrap_or_default();
        let uid_of = |v: Option<&Value>| {
            v.and_then(|v| json::str_at(v, "metadata.uid"))
                .map(str::to_string)
        };
        let mut subjects = Vec::new();
        if let Some(pod) = d.pod.as_ref().filter(|p| **p != o.target.name) {
            let live = self.namespace_store(ns, true).and_then(|s| s.get(pod));
            subjects.push((pod.clone(), uid_of(live)));
        }
        let claim = self.problems[i]
            .iter()
            .find_map(|(p, _)| p.claim.clone().filter(|_| d.pod == p.pod));
        if let Some(claim) = claim.filter(|c| *c != o.target.name) {
            let live = self.namespace_store(ns, false).and_then(|s| s.get(&claim));
            subjects.push((claim, uid_of(live)));
        }
        subjects.push((o.target.name.clone(), uid_of(self.live(i))));
        subjects
    }

    pub fn namespace_of(&self, i: usize) -> Option<&str> {
        self.objects[i].target.namespace.as_deref()
    }

    #[cfg(test)]
    pub fn status_of(&self, i: usize) -> &ObjectStatus {
        &self.objects[i].status
    }
}

impl Progress {
    /// Equal but for the overall counters, which change whenever anything does.
    fn same_object_state(&self, other: &Progress) -> bool {
        self.state == other.state
            && self.message == other.message
            && self.ready == other.ready
            && self.problem == other.problem
    }
}

#[cfg(test)]
mod tests;
