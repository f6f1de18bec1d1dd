//! What kstatus cannot see: why a workload's pods do not become ready.
//!
//! A workload's own status only says "1/3 ready". The reason (a crash loop, an image
//! that does not exist, a pod no node can take, a claim no provisioner serves) is in
//! its pods and their claims. This module finds those problems in pod and claim JSON
//! and decides when a problem is final, so a wait can fail in seconds rather than at
//! its deadline. It is pure: time enters only as "how long has this been seen".

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::json::{self, array_at, int_at, str_at};
use super::storage::{self, BindingMode, SELECTED_NODE_ANNOTATION, StorageClasses};

/// Kinds of trouble, in the order a diagnosis prefers them when a pod has several:
/// the most specific cause first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemKind {
    /// `InvalidImageName`: the reference cannot even be parsed.
    InvalidImage,
    /// `CreateContainerConfigError`: a referenced Secret/ConfigMap (key) is missing.
    ContainerConfig,
    /// `ErrImagePull` / `ImagePullBackOff`.
    ImagePull,
    /// `CrashLoopBackOff`.
    CrashLoop,
    /// A Job's pod exited non-zero.
    JobPodFailed,
    /// `CreateContainerError` / `RunContainerError`.
    ContainerCreate,
    /// The pod's claim names a StorageClass that does not exist.
    MissingStorageClass,
    /// The claim's volume is gone.
    ClaimLost,
    /// `PodScheduled=False`, reason `Unschedulable`.
    Unschedulable,
    /// The claim waits for a volume that no provisioner delivers.
    ClaimPending,
    /// A non-Job pod failed (evicted, node lost); its controller replaces it.
    PodFailed,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::InvalidImage => "InvalidImageName",
            ProblemKind::ContainerConfig => "CreateContainerConfigError",
            ProblemKind::ImagePull => "ImagePullBackOff",
            ProblemKind::CrashLoop => "CrashLoopBackOff",
            ProblemKind::JobPodFailed => "JobPodFailed",
            ProblemKind::ContainerCreate => "CreateContainerError",
            ProblemKind::MissingStorageClass => "StorageClassNotFound",
            ProblemKind::ClaimLost => "ClaimLost",
            ProblemKind::Unschedulable => "Unschedulable",
            ProblemKind::ClaimPending => "ClaimPending",
            ProblemKind::PodFailed => "PodFailed",
        }
    }
}

/// One problem seen on a pod (or on a claim nobody's pod uses yet: then `pod` is
/// `None` and `claim` names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pod: Option<String>,
    pub container: Option<String>,
    /// The container is an init container.
    pub init: bool,
    pub kind: ProblemKind,
    /// The reason as Kubernetes reports it (`ErrImagePull`, `OOMKilled`…).
    pub reason: String,
    pub message: String,
    pub exit_code: Option<i32>,
    pub restarts: u32,
    pub image: Option<String>,
    pub claim: Option<String>,
    pub storage_class: Option<String>,
    /// The container's restart count when the operation began, for a pod that existed
    /// then; `None` for a pod this operation created (or when nobody took a baseline).
    pub restarts_before: Option<u32>,
    /// For a crash loop: the kubelet's back-off before the next start, and when the
    /// last run ended (the next start is at their sum).
    pub backoff: Option<Backoff>,
}

/// The kubelet's wait before restarting a crashed container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    pub delay: Duration,
    /// `lastState.terminated.finishedAt`.
    pub since: Option<Timestamp>,
}

impl Backoff {
    /// Time left until the next start, as of `now`.
    pub fn left(&self, now: Timestamp) -> Option<Duration> {
        let ends = self
            .since?
            .checked_add(SignedDuration::try_from(self.delay).ok()?)
            .ok()?;
        Duration::try_from(ends.duration_since(now)).ok()
    }
}

/// Identity of a problem across observations, so that its age survives the reason
/// flipping between `ErrImagePull` and `ImagePullBackOff`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProblemKey {
    pub subject: String,
    pub container: Option<String>,
    pub kind: ProblemKind,
}

impl Problem {
    fn new(kind: ProblemKind, reason: &str, message: impl Into<String>) -> Self {
        Problem {
            pod: None,
            container: None,
            init: false,
            kind,
            reason: reason.to_string(),
            message: message.into(),
            exit_code: None,
            restarts: 0,
            image: None,
            claim: None,
            storage_class: None,
            restarts_before: None,
            backoff: None,
        }
    }

    /// A crash loop that has not crashed again since the operation began: the
    /// evidence is from before, and the fix being applied may have cured it.
    pub fn is_stale(&self) -> bool {
        self.kind == ProblemKind::CrashLoop
            && self
                .restarts_before
                .is_some_and(|before| self.restarts <= before)
    }

    pub fn key(&self) -> ProblemKey {
        ProblemKey {
            subject: match (&self.pod, &self.claim) {
                (Some(pod), _) => format!("pod/{pod}"),
                (None, Some(claim)) => format!("pvc/{claim}"),
                (None, None) => String::new(),
            },
            container: self.container.clone(),
            kind: self.kind,
        }
    }

    /// "container x of pod y" / "pod y" / "claim z".
    pub fn subject(&self) -> String {
        let kind = if self.init {
            "init container"
        } else {
            "container"
        };
        match (&self.pod, &self.container, &self.claim) {
            (Some(pod), Some(c), _) => format!("{kind} {c} of pod {pod}"),
            (Some(pod), None, Some(claim)) => format!("pod {pod} (claim {claim})"),
            (Some(pod), None, None) => format!("pod {pod}"),
            (None, _, Some(claim)) => format!("claim {claim}"),
            (None, _, None) => "unknown".to_string(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject(), self.reason)?;
        if let Some(code) = self.exit_code {
            write!(f, " (exit code {code})")?;
        }
        if self.restarts > 0 {
            write!(f, ", {} restarts", self.restarts)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if self.is_stale() {
            write!(
                f,
                "; it crashed before this operation began, waiting for its next start"
            )?;
            if let Some(b) = &self.backoff {
                write!(f, " (back-off {}s", b.delay.as_secs())?;
                match b.left(Timestamp::now()) {
                    Some(left) => write!(f, ", about {}s left)", left.as_secs())?,
                    None => write!(f, ")")?,
                }
            }
        }
        Ok(())
    }
}

/// Each container's restart count when an operation began, by pod uid: a crash loop
/// from before must crash again before an operation fails on it (the fix it applies
/// may have cured it; the pod still carries the old restarts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    restarts: BTreeMap<(String, String), u32>,
}

impl Baseline {
    /// From the pods as listed when the operation began.
    pub fn from_pods<'a>(pods: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut restarts = BTreeMap::new();
        for pod in pods {
            let Some(uid) = str_at(pod, "metadata.uid") else {
                continue;
            };
            for field in ["status.initContainerStatuses", "status.containerStatuses"] {
                for status in array_at(pod, field) {
                    if let Some(name) = str_at(status, "name") {
                        let n = json::count(int_at(status, "restartCount").unwrap_or(0));
                        restarts.insert((uid.to_string(), name.to_string()), n);
                    }
                }
            }
        }
        Baseline { restarts }
    }

    pub fn is_empty(&self) -> bool {
        self.restarts.is_empty()
    }

    /// Marks the crash loops of `pod` that predate the baseline.
    pub fn mark(&self, pod: &Value, problems: &mut [Problem]) {
        let Some(uid) = str_at(pod, "metadata.uid") else {
            return;
        };
        for p in problems.iter_mut() {
            if let Some(c) = &p.container {
                p.restarts_before = self.restarts.get(&(uid.to_string(), c.clone())).copied();
            }
        }
    }
}

/// `back-off 5m0s restarting failed container=…` → 300 s.
fn backoff_delay(message: &str) -> Option<Duration> {
    let token = message
        .split("back-off ")
        .nth(1)?
        .split_whitespace()
        .next()?;
    go_duration(token)
}

/// A Go duration as the kubelet prints it: `10s`, `1m20s`, `5m0s`, `1h0m0s`.
fn go_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                0.001
            }
            ('h', _) => 3600.0,
            ('m', _) => 60.0,
            ('s', _) => 1.0,
            _ => return None,
        };
        total += number.parse::<f64>().ok()? * unit;
        number.clear();
    }
    (number.is_empty() && total > 0.0).then(|| Duration::from_secs_f64(total))
}

// ---- thresholds ----------------------------------------------------------------------

/// Restarts after which a crash loop is final. The first crash can be a dependency
/// still starting; by the third run (kubelet backs off 10 s, then 20 s) it is the
/// container itself.
pub const CRASH_LOOP_RESTARTS: u32 = 2;
/// kubelet retries a pull after 10 s, then 20 s: 30 s covers at least two more pulls,
/// past a registry hiccup or a rate limit, yet keeps a typo'd tag a half-minute error.
pub const IMAGE_PULL_GRACE: Duration = Duration::from_secs(30);
/// A missing Secret or key rarely appears by itself, but an operator creating it
/// alongside gets a moment (kubelet retries every sync, ~10 s).
pub const CONTAINER_CONFIG_GRACE: Duration = Duration::from_secs(20);
/// kstatus's figure: the scheduler retries, and a transient shortage (a pod being
/// deleted) clears within seconds.
pub const UNSCHEDULABLE_GRACE: Duration = Duration::from_secs(15);
/// Cloud provisioners take 10-30 s to create a disk; a minute of Pending means none is
/// coming.
pub const CLAIM_PENDING_GRACE: Duration = Duration::from_secs(60);
/// Classes are created by administrators, not on the fly; the grace only absorbs our
/// own list being a little stale.
pub const MISSING_CLASS_GRACE: Duration = Duration::from_secs(10);

/// When a problem stops being worth waiting for. Defaults are the constants above;
/// tests and impatient callers can change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub crash_loop_restarts: u32,
    pub image_pull: Duration,
    pub container_config: Duration,
    pub unschedulable: Duration,
    pub claim_pending: Duration,
    pub missing_storage_class: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            crash_loop_restarts: CRASH_LOOP_RESTARTS,
            image_pull: IMAGE_PULL_GRACE,
            container_config: CONTAINER_CONFIG_GRACE,
            unschedulable: UNSCHEDULABLE_GRACE,
            claim_pending: CLAIM_PENDING_GRACE,
            missing_storage_class: MISSING_CLASS_GRACE,
        }
    }
}

impl Thresholds {
    /// How long the problem must persist before it is final; `None` if it never is
    /// by time alone (it may still become final as its restarts grow).
    pub fn grace(&self, p: &Problem) -> Option<Duration> {
        match p.kind {
            ProblemKind::InvalidImage | ProblemKind::ClaimLost => Some(Duration::ZERO),
            // A crash loop from before the operation is final once it crashed again;
            // a new one after the usual restarts.
            ProblemKind::CrashLoop => match p.restarts_before {
                Some(before) => (p.restarts > before).then_some(Duration::ZERO),
                None => (p.restarts >= self.crash_loop_restarts).then_some(Duration::ZERO),
            },
            ProblemKind::ImagePull => Some(self.image_pull),
            ProblemKind::ContainerConfig | ProblemKind::ContainerCreate => {
                Some(self.container_config)
            }
            // Waiting for an Immediate claim is a storage problem, not a capacity one:
            // give it the claim's grace.
            ProblemKind::Unschedulable if waits_for_claims(&p.message) => Some(self.claim_pending),
            ProblemKind::Unschedulable => Some(self.unschedulable),
            ProblemKind::ClaimPending => Some(self.claim_pending),
            ProblemKind::MissingStorageClass => Some(self.missing_storage_class),
            // The Job's own status decides (backoffLimit); other pods get replaced.
            ProblemKind::JobPodFailed | ProblemKind::PodFailed => None,
        }
    }

    pub fn is_terminal(&self, p: &Problem, persisted: Duration) -> bool {
        self.grace(p).is_some_and(|g| persisted >= g)
    }
}

fn waits_for_claims(scheduler_message: &str) -> bool {
    scheduler_message.contains("unbound immediate PersistentVolumeClaims")
        // A StatefulSet's pod whose claim is not there yet: the controller creates a
        // missing claim on its next sync. Seen after an API server restart, where the
        // pod got created and its claim did not until the controller came back.
        || (scheduler_message.contains("persistentvolumeclaim \"")
            && scheduler_message.contains("not found"))
}

// ---- detection -----------------------------------------------------------------------

/// Problems of one pod. `claims` are the namespace's PVCs by name (those we know of).
pub fn pod_problems(
    pod: &Value,
    claims: &BTreeMap<String, Value>,
    classes: &StorageClasses,
) -> Vec<Problem> {
    // A pod on its way out is no longer the controller's answer.
    if json::at(pod, "metadata.deletionTimestamp").is_some() {
        return Vec::new();
    }
    let name = json::name(pod).to_string();
    let phase = str_at(pod, "status.phase").unwrap_or_default();
    let mut found = match phase {
        "Succeeded" => return Vec::new(),
        "Failed" => vec![failed_pod(pod)],
        _ => container_problems(pod),
    };
    if phase == "Pending" {
        if let Some(c) = json::condition(pod, "PodScheduled")
            .filter(|c| c.is_false() && c.reason == "Unschedulable")
        {
            found.push(Problem::new(
                ProblemKind::Unschedulable,
                "Unschedulable",
                c.message,
            ));
        }
        for claim in claim_names(pod) {
            // A claim of a WaitForFirstConsumer class yields nothing until the scheduler
            // has picked a node; until then the pod's scheduling condition speaks.
            if let Some(p) = claims.get(claim).and_then(|c| claim_problem(c, classes)) {
                found.push(p);
            }
        }
    }
    for p in &mut found {
        p.pod = Some(name.clone());
    }
    found.sort_by_key(|p| p.kind);
    found
}

fn container_problems(pod: &Value) -> Vec<Problem> {
    let specs = |field: &str| -> BTreeMap<&str, &str> {
        array_at(pod, field)
            .iter()
            .filter_map(|c| Some((str_at(c, "name")?, str_at(c, "image").unwrap_or_default())))
            .collect()
    };
    let (init_images, images) = (specs("spec.initContainers"), specs("spec.containers"));
    let statuses = array_at(pod, "status.initContainerStatuses")
        .iter()
        .map(|s| (s, true))
        .chain(
            array_at(pod, "status.containerStatuses")
                .iter()
                .map(|s| (s, false)),
        );
    let mut found = Vec::new();
    for (status, init) in statuses {
        let Some(reason) = str_at(status, "state.waiting.reason") else {
            continue;
        };
        let kind = match reason {
            "CrashLoopBackOff" => ProblemKind::CrashLoop,
            "ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull" | "RegistryUnavailable" => {
                ProblemKind::ImagePull
            }
            "InvalidImageName" => ProblemKind::InvalidImage,
            "CreateContainerConfigError" => ProblemKind::ContainerConfig,
            "CreateContainerError" | "RunContainerError" => ProblemKind::ContainerCreate,
            _ => continue,
        };
        let container = str_at(status, "name").unwrap_or_default();
        let image = if init { &init_images } else { &images }
            .get(container)
            .copied()
            .or_else(|| str_at(status, "image"))
            .filter(|i| !i.is_empty());
        let mut p = Problem::new(
            kind,
            reason,
            str_at(status, "state.waiting.message").unwrap_or_default(),
        );
        p.container = Some(container.to_string());
        p.init = init;
        p.restarts = json::count(int_at(status, "restartCount").unwrap_or(0));
        p.image = image.map(str::to_string);
        if kind == ProblemKind::CrashLoop {
            // The waiting message is only "back-off 20s restarting…"; how it died is
            // in the last termination.
            if let Some(code) = int_at(status, "lastState.terminated.exitCode") {
                p.exit_code = i32::try_from(code).ok();
            }
            p.backoff = backoff_delay(&p.message).map(|delay| Backoff {
                delay,
                since: str_at(status, "lastState.terminated.finishedAt")
                    .and_then(|t| t.parse().ok()),
            });
            let last = str_at(status, "lastState.terminated.reason").unwrap_or_default();
            let detail = str_at(status, "lastState.terminated.message").unwrap_or_default();
            if !last.is_empty() || !detail.is_empty() {
                p.message = json::reason_message(last, detail);
            }
        }
        found.push(p);
    }
    found
}

fn failed_pod(pod: &Value) -> Problem {
    let is_job = is_job_pod(pod);
    let kind = if is_job {
        ProblemKind::JobPodFailed
    } else {
        ProblemKind::PodFailed
    };
    // The container that failed: the first terminated with a non-zero code.
    let terminated = array_at(pod, "status.initContainerStatuses")
        .iter()
        .map(|s| (s, true))
        .chain(
            array_at(pod, "status.containerStatuses")
                .iter()
                .map(|s| (s, false)),
        )
        .find(|(s, _)| int_at(s, "state.terminated.exitCode").is_some_and(|c| c != 0));
    let pod_reason = str_at(pod, "status.reason").unwrap_or_default();
    let pod_message = str_at(pod, "status.message").unwrap_or_default();
    match terminated {
        Some((s, init)) => {
            let reason = str_at(s, "state.terminated.reason").unwrap_or("Error");
            let mut p = Problem::new(
                kind,
                reason,
                str_at(s, "state.terminated.message").unwrap_or(pod_message),
            );
            p.container = str_at(s, "name").map(str::to_string);
            p.init = init;
            p.exit_code =
                int_at(s, "state.terminated.exitCode").and_then(|c| i32::try_from(c).ok());
            p.restarts = json::count(int_at(s, "restartCount").unwrap_or(0));
            p.image = str_at(s, "image").map(str::to_string);
            p
        }
        None => Problem::new(
            kind,
            if pod_reason.is_empty() {
                "Failed"
            } else {
                pod_reason
            },
            pod_message,
        ),
    }
}

/// A claim that will not bind by itself, judged from the claim and the classes.
/// A claim of a `WaitForFirstConsumer` class that no pod has been placed with yet is
/// not a problem: it is what that binding mode means.
pub fn claim_problem(pvc: &Value, classes: &StorageClasses) -> Option<Problem> {
    let claim = json::name(pvc).to_string();
    let mut p = match str_at(pvc, "status.phase").unwrap_or("Pending") {
        "Bound" => return None,
        "Lost" => Problem::new(
            ProblemKind::ClaimLost,
            "ClaimLost",
            "the bound PersistentVolume no longer exists",
        ),
        _ => {
            let selected = json::annotation(pvc, SELECTED_NODE_ANNOTATION).is_some();
            match storage::claim_class(pvc) {
                Some("") => Problem::new(
                    ProblemKind::ClaimPending,
                    "ClaimPending",
                    "storageClassName is \"\": waiting for a PersistentVolume created by hand",
                ),
                Some(name) if classes.is_missing(name) => {
                    let mut p = Problem::new(
                        ProblemKind::MissingStorageClass,
                        "StorageClassNotFound",
                        format!("storageclass.storage.k8s.io \"{name}\" not found"),
                    );
                    p.storage_class = Some(name.to_string());
                    p
                }
                Some(name) => {
                    let class = classes.get(name);
                    if !selected
                        && class.is_none_or(|c| c.binding == BindingMode::WaitForFirstConsumer)
                    {
                        return None;
                    }
                    let provisioner = class
                        .map(|c| format!(" (provisioner {})", c.provisioner))
                        .unwrap_or_default();
                    let mut p = Problem::new(
                        ProblemKind::ClaimPending,
                        "ClaimPending",
                        format!(
                            "waiting for StorageClass \"{name}\"{provisioner} to provision a volume"
                        ),
                    );
                    p.storage_class = Some(name.to_string());
                    p
                }
                None if classes.is_known() && classes.default_class().is_none() => Problem::new(
                    ProblemKind::ClaimPending,
                    "ClaimPending",
                    "no storageClassName and the cluster has no default StorageClass",
                ),
                None if !selected => return None,
                None => Problem::new(
                    ProblemKind::ClaimPending,
                    "ClaimPending",
                    "waiting for a volume to be provisioned",
                ),
            }
        }
    };
    p.claim = Some(claim);
    Some(p)
}

fn claim_names(pod: &Value) -> impl Iterator<Item = &str> {
    array_at(pod, "spec.volumes")
        .iter()
        .filter_map(|v| str_at(v, "persistentVolumeClaim.claimName"))
}

pub fn is_job_pod(pod: &Value) -> bool {
    json::label(pod, "job-name").is_some()
        || array_at(pod, "metadata.ownerReferences")
            .iter()
            .any(|o| str_at(o, "kind") == Some("Job"))
}

// ---- which pods belong to a workload -------------------------------------------------

/// Whether a label selector (`matchLabels` + `matchExpressions`, or a bare map as in
/// ReplicationControllers) selects these labels. An empty or missing selector selects
/// nothing: we would rather miss a pod than blame one that is not ours.
pub fn selector_matches(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let (match_labels, expressions) = match (
        selector.get("matchLabels"),
        selector.get("matchExpressions"),
    ) {
        (None, None) => (selector.as_object(), &[][..]),
        (ml, me) => (
            ml.and_then(Value::as_object),
            me.and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default(),
        ),
    };
    let empty = match_labels.is_none_or(serde_json::Map::is_empty) && expressions.is_empty();
    if empty {
        return false;
    }
    let labels_ok = match_labels
        .into_iter()
        .flatten()
        .all(|(k, v)| v.as_str().is_some() && label(k) == v.as_str());
    let expressions_ok = expressions.iter().all(|e| {
        let key = str_at(e, "key").unwrap_or_default();
        let values: Vec<&str> = array_at(e, "values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        match str_at(e, "operator").unwrap_or_default() {
            "In" => label(key).is_some_and(|v| values.contains(&v)),
            "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
            "Exists" => label(key).is_some(),
            "DoesNotExist" => label(key).is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

/// The pods that tell why `workload` is not ready: those it selects, in its
/// namespace, not being deleted. For a Deployment mid-rollout, only the newest
/// ReplicaSet's pods: an old pod's trouble is what the rollout replaces.
pub fn owned_pods<'a>(
    workload: &Value,
    pods: impl IntoIterator<Item = &'a Value>,
) -> Vec<&'a Value> {
    let kind = str_at(workload, "kind").unwrap_or_default();
    let name = json::name(workload);
    let namespace = json::namespace(workload);
    let uid = str_at(workload, "metadata.uid");
    let selector = json::at(workload, "spec.selector").unwrap_or(&Value::Null);
    let no_labels = Value::Null;
    let mut owned: Vec<&Value> = pods
        .into_iter()
        .filter(|p| json::namespace(p) == namespace)
        .filter(|p| json::at(p, "metadata.deletionTimestamp").is_none())
        .filter(|p| {
            let labels = json::at(p, "metadata.labels").unwrap_or(&no_labels);
            match kind {
                "Pod" => json::name(p) == name,
                "Job" => {
                    json::label(p, "job-name") == Some(name)
                        || (uid.is_some() && json::label(p, "controller-uid") == uid)
                }
                _ => selector_matches(selector, labels),
            }
        })
        .collect();
    if kind == "Deployment" {
        let newest = owned
            .iter()
            .max_by_key(|p| str_at(p, "metadata.creationTimestamp").unwrap_or_default())
            .and_then(|p| json::label(p, "pod-template-hash"));
        if let Some(hash) = newest {
            owned.retain(|p| json::label(p, "pod-template-hash") == Some(hash));
        }
    }
    owned.sort_by_key(|p| json::name(p).to_string());
    owned
}

#[cfg(test)]
mod tests;
