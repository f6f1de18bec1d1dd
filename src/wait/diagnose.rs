//! Turning "not ready" into what an operator needs: which object, which pod, why, the
//! cluster's own words (Warning events), and what to change, in values keys where
//! the fix is a value.

use std::fmt;
use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, Client};
use serde::Serialize;
use serde_json::Value;

use super::json::{self, array_at, str_at};
use super::pods::{Problem, ProblemKind};
use super::status::{ObjectStatus, State};
use super::storage::StorageClasses;

/// At most this many event lines per diagnosis: the newest say the most.
pub const MAX_EVENTS: usize = 5;
/// Without any Warning, a few Normal events still show where things stand.
pub const MAX_NORMAL_EVENTS: usize = 3;
/// Event lookups happen while reporting a failure; a slow API must not hold that up.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// `Kind/name`, as kubectl prints it.
    pub object: String,
    pub component: String,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
    /// Short, machine-like: `CrashLoopBackOff`, `Unschedulable`, `NotReady`…
    pub reason: String,
    pub detail: String,
    /// Recent Warning events of the pod (or object), deduplicated, newest last.
    pub events: Vec<String>,
    pub remedy: String,
    /// What the component's pods said before `--restart-failed` replaced them: their
    /// logs went with them, and the new pods' trouble may be the same.
    #[serde(rename = "beforeRestart", skip_serializing_if = "Vec::is_empty")]
    pub before_restart: Vec<String>,
}

/// The object a diagnosis is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub component: String,
}

impl Target {
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }

    /// Prefix of the component's values keys (`clickhouse` → `clickhouse.resources…`).
    fn key(&self) -> &str {
        if self.component.is_empty() {
            "<component>"
        } else {
            &self.component
        }
    }

    fn diagnosis(
        &self,
        reason: impl Into<String>,
        detail: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Diagnosis {
        Diagnosis {
            object: self.id(),
            component: self.component.clone(),
            namespace: self.namespace.clone(),
            pod: None,
            container: None,
            reason: reason.into(),
            detail: detail.into(),
            events: Vec::new(),
            remedy: remedy.into(),
            before_restart: Vec::new(),
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.object)?;
        if !self.component.is_empty() {
            write!(f, " ({})", self.component)?;
        }
        writeln!(f, ": {}", self.reason)?;
        if let Some(pod) = &self.pod {
            match &self.container {
                Some(c) => writeln!(f, "  pod:    {pod} (container {c})")?,
                None => writeln!(f, "  pod:    {pod}")?,
            }
        }
        if !self.detail.is_empty() {
            writeln!(f, "  why:    {}", self.detail)?;
        }
        if !self.events.is_empty() {
            writeln!(f, "  events:")?;
            for e in &self.events {
                writeln!(f, "    - {e}")?;
            }
        }
        if !self.before_restart.is_empty() {
            writeln!(f, "  before the restart:")?;
            for line in &self.before_restart {
                writeln!(f, "    {line}")?;
            }
        }
        if !self.remedy.is_empty() {
            writeln!(f, "  fix:    {}", self.remedy)?;
        }
        Ok(())
    }
}

// ---- from a pod or claim problem -----------------------------------------------------

pub fn from_problem(target: &Target, p: &Problem, classes: &StorageClasses) -> Diagnosis {
    let ns = target.ns();
    let key = target.key();
    let pod = p.pod.as_deref().unwrap_or("<pod>");
    let container = p.container.as_deref().unwrap_or("<container>");
    let image = p.image.as_deref().unwrap_or("<image>");
    let logs = format!("kubectl logs -n {ns} {pod} -c {container}");
    let describe_pod = format!("kubectl describe pod -n {ns} {pod}");
    let (detail, remedy) = match p.kind {
        ProblemKind::CrashLoop => (
            format!(
                "{} keeps exiting{}; restarted {} times{}",
                p.subject(),
                exit_text(p.exit_code, &p.message),
                p.restarts,
                p.restarts_before
                    .map(|b| format!(
                        " ({} since this operation began)",
                        p.restarts.saturating_sub(b)
                    ))
                    .unwrap_or_default(),
            ),
            format!("see why it exits: {logs} --previous{}", exit_hint(p, key)),
        ),
        ProblemKind::ImagePull => (
            format!(
                "cannot pull image \"{image}\" for {}: {}",
                p.subject(),
                p.message
            ),
            format!(
                "check that image \"{image}\" exists: {key}.image.repository and {key}.image.tag \
                 (global.imageRegistry for a mirror); for a private registry set global.imagePullSecrets"
            ),
        ),
        ProblemKind::InvalidImage => (
            format!("image reference \"{image}\" is not valid: {}", p.message),
            format!("fix {key}.image.repository / {key}.image.tag (and global.imageRegistry)"),
        ),
        ProblemKind::ContainerConfig => config_error(p, ns),
        ProblemKind::ContainerCreate => (
            format!("{} cannot be created: {}", p.subject(), p.message),
            format!(
                "{describe_pod}; check the container's command, volume mounts and security context"
            ),
        ),
        ProblemKind::JobPodFailed => (
            format!(
                "{} failed{}",
                p.subject(),
                exit_text(p.exit_code, &p.reason)
            ) + &if p.message.is_empty() {
                String::new()
            } else {
                format!(": {}", p.message)
            },
            format!("see its output: {logs}"),
        ),
        ProblemKind::PodFailed => (
            format!(
                "{} failed: {}",
                p.subject(),
                json::reason_message(&p.reason, &p.message)
            ),
            describe_pod.clone(),
        ),
        ProblemKind::Unschedulable => (
            format!("pod {pod} cannot be scheduled: {}", p.message),
            unschedulable_remedy(&p.message, key, ns, pod),
        ),
        ProblemKind::MissingStorageClass => {
            let class = p.storage_class.as_deref().unwrap_or("<class>");
            (
                format!(
                    "{} asks for StorageClass '{class}', which does not exist",
                    p.subject()
                ),
                missing_class_remedy(class, classes, key),
            )
        }
        ProblemKind::ClaimPending => {
            let claim = p.claim.as_deref().unwrap_or("<claim>");
            let class_hint = match p.storage_class.as_deref() {
                Some(c) => format!(
                    "check that the provisioner of StorageClass '{c}' is running (kubectl describe pvc -n {ns} {claim}), \
                     or choose another class with {key}.persistence.storageClass / global.storageClass"
                ),
                None => format!(
                    "create a matching PersistentVolume, or set {key}.persistence.storageClass / global.storageClass \
                     to a class that provisions volumes (kubectl describe pvc -n {ns} {claim})"
                ),
            };
            (
                format!("{} is Pending: {}", p.subject(), p.message),
                class_hint,
            )
        }
        ProblemKind::ClaimLost => {
            let claim = p.claim.as_deref().unwrap_or("<claim>");
            (
                format!("claim {claim} lost its PersistentVolume"),
                format!(
                    "restore the PersistentVolume, or delete claim {claim} (its data is gone) so a new one is provisioned"
                ),
            )
        }
    };
    Diagnosis {
        pod: p.pod.clone(),
        container: p.container.clone(),
        ..target.diagnosis(problem_reason(p), detail, remedy)
    }
}

fn problem_reason(p: &Problem) -> String {
    match p.kind {
        // Kubernetes' own word is what people search for.
        ProblemKind::ImagePull
        | ProblemKind::CrashLoop
        | ProblemKind::ContainerConfig
        | ProblemKind::ContainerCreate
        | ProblemKind::InvalidImage => p.reason.clone(),
        ProblemKind::JobPodFailed => match p.exit_code {
            Some(code) => format!("JobPodFailed (exit code {code})"),
            None => "JobPodFailed".into(),
        },
        other => other.as_str().to_string(),
    }
}

fn exit_text(code: Option<i32>, reason: &str) -> String {
    match (code, reason.is_empty()) {
        (Some(c), false) => format!(" with exit code {c} ({reason})"),
        (Some(c), true) => format!(" with exit code {c}"),
        (None, _) => String::new(),
    }
}

/// What an exit code usually means, where it means something specific.
fn exit_hint(p: &Problem, key: &str) -> String {
    if p.message.contains("OOMKilled") {
        return format!("; it ran out of memory: raise {key}.resources.limits.memory");
    }
    match p.exit_code {
        Some(0) => {
            "; it exits successfully, but a server must keep running: check its command".into()
        }
        Some(126 | 127) => {
            "; its command is missing or not executable in the image: check the image tag".into()
        }
        Some(137) => format!(
            "; it was killed (SIGKILL), often for memory: consider {key}.resources.limits.memory"
        ),
        _ => String::new(),
    }
}

/// kubelet's messages: `couldn't find key K in Secret NS/NAME`,
/// `secret "NAME" not found`, and the same for ConfigMaps.
fn config_error(p: &Problem, ns: &str) -> (String, String) {
    let m = p.message.as_str();
    let subject = p.subject();
    if let Some(rest) = m.strip_prefix("couldn't find key ") {
        let mut words = rest.split_whitespace();
        let (key, kind, obj) = (words.next(), words.nth(1), words.next());
        if let (Some(key), Some(kind), Some(obj)) = (key, kind, obj) {
            let name = obj.rsplit('/').next().unwrap_or(obj);
            let lower = kind.to_lowercase();
            return (
                format!("{subject} needs key '{key}' of {kind} '{name}', which has no such key"),
                format!(
                    "add key '{key}' to {kind} '{name}' (kubectl get {lower} -n {ns} {name} -o yaml), \
                     or fix the value that names it"
                ),
            );
        }
    }
    for (prefix, kind) in [("secret \"", "Secret"), ("configmap \"", "ConfigMap")] {
        if let Some(name) = m.strip_prefix(prefix).and_then(|r| r.split('"').next()) {
            return (
                format!("{subject} needs {kind} '{name}', which does not exist"),
                format!("create {kind} '{name}' in namespace {ns}, or fix the value that names it"),
            );
        }
    }
    (
        format!("{subject} cannot be configured: {m}"),
        format!(
            "kubectl describe pod -n {ns} {}",
            p.pod.as_deref().unwrap_or("<pod>")
        ),
    )
}

fn unschedulable_remedy(message: &str, key: &str, ns: &str, pod: &str) -> String {
    let mut fixes = Vec::new();
    let short: Vec<&str> = ["cpu", "memory", "ephemeral-storage"]
        .into_iter()
        .filter(|r| message.contains(&format!("Insufficient {r}")))
        .collect();
    for r in &short {
        fixes.push(format!("lower {key}.resources.requests.{r} or add nodes"));
    }
    let rules: [(&str, String); 7] = [
        ("didn't match node selector", "no node has the labels of global.nodeSelector: fix it or label nodes".into()),
        ("didn't match Pod's node affinity", "no node matches the pod's node affinity or global.nodeSelector".into()),
        ("anti-affinity", "more replicas than nodes with global.antiAffinity=hard: set global.antiAffinity=soft or add nodes".into()),
        ("taint", "nodes carry taints the pod does not tolerate: remove the taints or use other nodes".into()),
        ("unbound immediate PersistentVolumeClaims", format!("a claim of the pod is not bound: kubectl describe pvc -n {ns}")),
        ("Too many pods", "the nodes hold their maximum number of pods: add nodes".into()),
        ("volume node affinity conflict", "the pod's volumes are on nodes it cannot run on: check node labels and the StorageClass topology".into()),
    ];
    fixes.extend(
        rules
            .into_iter()
            .filter(|(needle, _)| message.contains(needle))
            .map(|(_, fix)| fix),
    );
    if fixes.is_empty() {
        fixes.push(format!("kubectl describe pod -n {ns} {pod}"));
    }
    fixes.join("; ")
}

fn missing_class_remedy(class: &str, classes: &StorageClasses, key: &str) -> String {
    let settings = format!("set global.storageClass or {key}.persistence.storageClass");
    if !classes.is_known() {
        return format!(
            "no StorageClass '{class}' (kubectl get storageclass lists those that exist) — {settings}"
        );
    }
    let names = classes.names();
    if names.is_empty() {
        return format!(
            "no StorageClass '{class}' and the cluster has none — create one, then {settings}"
        );
    }
    format!(
        "no StorageClass '{class}'; available: {} — {settings}",
        names.join(", ")
    )
}

// ---- from an object's status when no problem explains it -------------------------------

/// Why an object is not Current when no pod problem says so: the first pod that is not
/// ready and what it waits for, else the object's own status.
pub fn from_status(target: &Target, status: &ObjectStatus, pods: &[&Value]) -> Diagnosis {
    let ns = target.ns();
    let kind_lower = target.kind.to_lowercase();
    let describe = format!("kubectl describe {kind_lower} -n {ns} {}", target.name);
    match status.state {
        State::NotFound => {
            return target.diagnosis(
                "NotFound",
                "the object is gone from the server since it was applied",
                "something deleted it (another tool, a controller, a TTL): run the command again",
            );
        }
        State::Terminating => {
            return target.diagnosis(
                "Terminating",
                "the object is being deleted (finalizers may be holding it)",
                format!("wait for the deletion to finish, or look at its finalizers: {describe}"),
            );
        }
        State::Failed => {
            return target.diagnosis("Failed", status.message.clone(), describe);
        }
        State::Current | State::InProgress => {}
    }
    let workload = matches!(
        target.kind.as_str(),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" | "Pod"
    );
    if !workload {
        return target.diagnosis(status.state.to_string(), status.message.clone(), describe);
    }
    if pods.is_empty() && target.kind != "Pod" {
        return target.diagnosis(
            "NoPods",
            format!("no pods were created ({})", status.message),
            format!(
                "the events above say why (quota, admission, missing ServiceAccount); {describe}"
            ),
        );
    }
    match pods.iter().find_map(|p| not_ready(p)) {
        Some(nr) => {
            let pod = nr.pod.clone();
            let container = nr.container.clone();
            let remedy = match (nr.reason, &container) {
                ("NotReady", Some(c)) => format!(
                    "check its readiness probe and what it logs: kubectl logs -n {ns} {pod} -c {c}"
                ),
                ("Initializing", Some(c)) => format!(
                    "init containers usually wait for a dependency; see what it waits for: kubectl logs -n {ns} {pod} -c {c}"
                ),
                _ => format!("kubectl describe pod -n {ns} {pod}"),
            };
            Diagnosis {
                pod: Some(pod),
                container,
                ..target.diagnosis(
                    nr.reason,
                    format!("{}; {}", nr.detail, status.message),
                    remedy,
                )
            }
        }
        None => target.diagnosis("InProgress", status.message.clone(), describe),
    }
}

struct NotReady {
    pod: String,
    container: Option<String>,
    reason: &'static str,
    detail: String,
}

/// What a pod that is not Ready is waiting for.
fn not_ready(pod: &Value) -> Option<NotReady> {
    let name = json::name(pod).to_string();
    let phase = str_at(pod, "status.phase").unwrap_or_default();
    if phase == "Succeeded" || json::condition(pod, "Ready").is_some_and(|c| c.is_true()) {
        return None;
    }
    let scheduled = json::condition(pod, "PodScheduled");
    if json::at(pod, "spec.nodeName").is_none() && !scheduled.is_some_and(|c| c.is_true()) {
        let why = scheduled.map(|c| c.message).filter(|m| !m.is_empty());
        return Some(NotReady {
            pod: name.clone(),
            container: None,
            reason: "Pending",
            detail: match why {
                Some(m) => format!("pod {name} is not scheduled yet: {m}"),
                None => format!("pod {name} is waiting to be scheduled"),
            },
        });
    }
    for s in array_at(pod, "status.initContainerStatuses") {
        if json::bool_at(s, "ready") != Some(true) {
            let c = str_at(s, "name").unwrap_or_default().to_string();
            let state = container_state(s);
            return Some(NotReady {
                detail: format!("init container {c} of pod {name} has not finished ({state})"),
                pod: name,
                container: Some(c),
                reason: "Initializing",
            });
        }
    }
    for s in array_at(pod, "status.containerStatuses") {
        if json::bool_at(s, "ready") != Some(true) {
            let c = str_at(s, "name").unwrap_or_default().to_string();
            let running = json::at(s, "state.running").is_some();
            let (reason, detail) = if running {
                (
                    "NotReady",
                    format!(
                        "container {c} of pod {name} is running but not ready (readiness probe failing)"
                    ),
                )
            } else {
                (
                    "ContainerNotRunning",
                    format!(
                        "container {c} of pod {name} is not running ({})",
                        container_state(s)
                    ),
                )
            };
            return Some(NotReady {
                pod: name,
                container: Some(c),
                reason,
                detail,
            });
        }
    }
    Some(NotReady {
        detail: format!(
            "pod {name} is {}",
            if phase.is_empty() { "starting" } else { phase }
        ),
        pod: name,
        container: None,
        reason: "NotReady",
    })
}

fn container_state(s: &Value) -> String {
    if let Some(w) = json::at(s, "state.waiting") {
        return json::reason_message(
            str_at(w, "reason").unwrap_or("waiting"),
            str_at(w, "message").unwrap_or_default(),
        );
    }
    if json::at(s, "state.running").is_some() {
        return "running".into();
    }
    if let Some(code) = json::int_at(s, "state.terminated.exitCode") {
        return format!("exited with code {code}");
    }
    "state unknown".into()
}

// ---- events --------------------------------------------------------------------------

/// Recent events, as lines: `Reason: message (×n)`. Warnings only, unless there are
/// none, then the newest few of any type (a Pending claim's `ExternalProvisioning` is
/// Normal but says what it waits for).
pub fn summarize_events(events: &[Event]) -> Vec<String> {
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by_key(|e| event_time(e));
    let warnings: Vec<&Event> = sorted
        .iter()
        .copied()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .collect();
    let (chosen, limit) = if warnings.is_empty() {
        (sorted, MAX_NORMAL_EVENTS)
    } else {
        (warnings, MAX_EVENTS)
    };
    // Deduplicate by (reason, message), keeping the latest position, adding counts.
    let mut lines: Vec<(String, String, i64)> = Vec::new();
    for e in chosen {
        let reason = e.reason.clone().unwrap_or_default();
        let message = e.message.clone().unwrap_or_default().trim().to_string();
        let n = i64::from(e.count.unwrap_or(1).max(1));
        let total = match lines
            .iter()
            .position(|(r, m, _)| *r == reason && *m == message)
        {
            Some(i) => lines.remove(i).2 + n,
            None => n,
        };
        lines.push((reason, message, total));
    }
    let skip = lines.len().saturating_sub(limit);
    lines
        .into_iter()
        .skip(skip)
        .map(|(r, m, n)| {
            let line = json::reason_message(&r, &m);
            if n > 1 {
                format!("{line} (×{n})")
            } else {
                line
            }
        })
        .collect()
}

pub fn event_time(e: &Event) -> Timestamp {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Events whose involved object is `name` (and `uid`, when known, so a previous
/// object of the same name does not speak for this one). Best effort: an error or
/// a slow server gives no events rather than no diagnosis.
pub async fn fetch_events(
    client: &Client,
    namespace: &str,
    name: &str,
    uid: Option<&str>,
) -> Vec<Event> {
    let mut fields = format!("involvedObject.name={name}");
    if let Some(uid) = uid.filter(|u| !u.is_empty()) {
        fields.push_str(&format!(",involvedObject.uid={uid}"));
    }
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().fields(&fields);
    match tokio::time::timeout(EVENT_TIMEOUT, api.list(&params)).await {
        Ok(Ok(list)) => list.items,
        Ok(Err(e)) => {
            tracing::debug!("cannot list events of {name}: {e}");
            Vec::new()
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
