//! Readiness of one object from its JSON alone: a port of kstatus's `Compute`
//! (`sigs.k8s.io/cli-utils/pkg/kstatus/status`), with the deviations an installer
//! needs, each marked where it is made:
//! - a Job is waited for until it completes, and a failed Job is Failed;
//! - a failed Pod is Failed;
//! - a StatefulSet with `OnDelete` still needs its replicas ready;
//! - a PVC of a `WaitForFirstConsumer` class that no pod uses yet is Current.
//!
//! Pod-level trouble kstatus cannot see (crash loops, image pulls, scheduling) lives in
//! `pods.rs`; this module only answers "is the object itself done?".

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::json::{self, condition, count, int_at, int_or, reason_message, str_at};
use super::storage::{self, BindingMode, SELECTED_NODE_ANNOTATION, StorageClasses};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "PascalCase")]
pub enum State {
    /// Reconciled and ready.
    Current,
    /// Still converging; waiting may help.
    InProgress,
    /// Will not become ready without a change.
    Failed,
    /// Being deleted.
    Terminating,
    /// Not on the server.
    NotFound,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Current => "Current",
            State::InProgress => "InProgress",
            State::Failed => "Failed",
            State::Terminating => "Terminating",
            State::NotFound => "NotFound",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectStatus {
    pub state: State,
    pub message: String,
    /// `(ready, desired)` for objects that count replicas, pods or completions.
    pub ready: Option<(u32, u32)>,
}

impl ObjectStatus {
    pub fn new(state: State, message: impl Into<String>) -> Self {
        ObjectStatus {
            state,
            message: message.into(),
            ready: None,
        }
    }

    pub fn current(message: impl Into<String>) -> Self {
        Self::new(State::Current, message)
    }

    pub fn in_progress(message: impl Into<String>) -> Self {
        Self::new(State::InProgress, message)
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(State::Failed, message)
    }

    pub fn not_found() -> Self {
        Self::new(State::NotFound, "not found on the server")
    }

    fn with_ready(mut self, ready: i64, desired: i64) -> Self {
        self.ready = Some((count(ready), count(desired)));
        self
    }

    pub fn is_current(&self) -> bool {
        self.state == State::Current
    }
}

/// Kinds that are done as soon as the server has accepted them: they have no status
/// to converge (or, for Ingress, one we deliberately do not wait for, since many
/// controllers never fill `status.loadBalancer`).
pub fn needs_no_wait(api_version: &str, kind: &str) -> bool {
    let group = json::group_of(api_version);
    matches!(
        (group, kind),
        (
            "",
            "ConfigMap"
                | "Secret"
                | "ServiceAccount"
                | "Endpoints"
                | "LimitRange"
                | "ResourceQuota"
                | "Namespace"
        ) | (
            "rbac.authorization.k8s.io",
            "Role" | "RoleBinding" | "ClusterRole" | "ClusterRoleBinding"
        ) | ("policy", "PodDisruptionBudget" | "PodSecurityPolicy")
            | (
                "networking.k8s.io",
                "NetworkPolicy" | "Ingress" | "IngressClass"
            )
            | ("extensions", "Ingress" | "NetworkPolicy")
            | ("batch", "CronJob")
            | ("storage.k8s.io", "StorageClass")
            | ("scheduling.k8s.io", "PriorityClass")
            | (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration"
            )
    )
}

/// Status with nothing known about the cluster (StorageClasses unknown).
pub fn compute(obj: &Value) -> ObjectStatus {
    compute_with(obj, &StorageClasses::unknown())
}

/// kstatus's order: deletion, generation, generic conditions, the kind's rule, a
/// `Ready` condition, else Current.
pub fn compute_with(obj: &Value, classes: &StorageClasses) -> ObjectStatus {
    if json::at(obj, "metadata.deletionTimestamp").is_some() {
        return ObjectStatus::new(State::Terminating, "being deleted");
    }
    if let (Some(generation), Some(observed)) = (
        int_at(obj, "metadata.generation"),
        int_at(obj, "status.observedGeneration"),
    ) && generation != observed
    {
        return ObjectStatus::in_progress(format!(
            "the controller has not yet seen generation {generation} (observed {observed})"
        ));
    }
    if let Some(c) = condition(obj, "Reconciling").filter(super::json::Condition::is_true) {
        return ObjectStatus::in_progress(non_empty(
            reason_message(c.reason, c.message),
            "reconciling",
        ));
    }
    if let Some(c) = condition(obj, "Stalled").filter(super::json::Condition::is_true) {
        return ObjectStatus::failed(non_empty(reason_message(c.reason, c.message), "stalled"));
    }

    let api_version = str_at(obj, "apiVersion").unwrap_or_default();
    let kind = str_at(obj, "kind").unwrap_or_default();
    if needs_no_wait(api_version, kind) {
        return ObjectStatus::current("");
    }
    let rule = match (json::group_of(api_version), kind) {
        ("apps" | "extensions", "Deployment") => Some(deployment(obj)),
        ("apps", "StatefulSet") => Some(stateful_set(obj)),
        ("apps" | "extensions", "DaemonSet") => Some(daemon_set(obj)),
        ("apps" | "extensions", "ReplicaSet") => Some(replica_set(obj)),
        ("batch", "Job") => Some(job(obj)),
        ("", "Pod") => Some(pod(obj)),
        ("", "PersistentVolumeClaim") => Some(claim(obj, classes)),
        ("", "Service") => Some(service(obj)),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Some(crd(obj)),
        _ => None,
    };
    if let Some(status) = rule {
        return status;
    }
    match condition(obj, "Ready") {
        Some(c) if c.is_true() => ObjectStatus::current("Ready"),
        Some(c) => {
            ObjectStatus::in_progress(non_empty(reason_message(c.reason, c.message), "not Ready"))
        }
        None => ObjectStatus::current(""),
    }
}

fn non_empty(s: String, fallback: &str) -> String {
    if s.is_empty() {
        fallback.to_string()
    } else {
        s
    }
}

fn deployment(obj: &Value) -> ObjectStatus {
    // Without a progress deadline the controller never sets Progressing, so kstatus
    // treats the rollout as progressing; i32::MAX is the controller's "no deadline".
    let deadline = int_at(obj, "spec.progressDeadlineSeconds");
    let mut progressing = deadline.is_none_or(|d| d == i64::from(i32::MAX));
    if let Some(c) = condition(obj, "Progressing") {
        if c.reason == "ProgressDeadlineExceeded" {
            return ObjectStatus::failed(non_empty(
                c.message.to_string(),
                "progress deadline exceeded",
            ));
        }
        progressing |= c.is_true() && c.reason == "NewReplicaSetAvailable";
    }
    let available = condition(obj, "Available").is_some_and(|c| c.is_true());

    let spec = int_or(obj, "spec.replicas", 1);
    let replicas = int_or(obj, "status.replicas", 0);
    let updated = int_or(obj, "status.updatedReplicas", 0);
    let ready = int_or(obj, "status.readyReplicas", 0);
    let avail = int_or(obj, "status.availableReplicas", 0);

    // Pod creation refused (quota, admission, missing ServiceAccount) shows only here.
    let failure = condition(obj, "ReplicaFailure")
        .filter(super::json::Condition::is_true)
        .map(|c| format!("; {}", reason_message(c.reason, c.message)))
        .unwrap_or_default();
    let waiting = |m: String| ObjectStatus::in_progress(m + &failure).with_ready(ready, spec);

    if spec > replicas {
        return waiting(format!("Replicas: {replicas}/{spec}"));
    }
    if spec > updated {
        return waiting(format!("Updated: {updated}/{spec}"));
    }
    if replicas > spec {
        return waiting(format!("Pending termination: {}", replicas - spec));
    }
    if updated > avail {
        return waiting(format!("Available: {avail}/{updated}"));
    }
    if spec > ready {
        return waiting(format!("Ready: {ready}/{spec}"));
    }
    if !progressing {
        return waiting("ReplicaSet not Available".into());
    }
    if !available {
        return waiting("Deployment not Available".into());
    }
    ObjectStatus::current(format!("Deployment is available. Replicas: {replicas}"))
        .with_ready(ready, spec)
}

fn stateful_set(obj: &Value) -> ObjectStatus {
    let spec = int_or(obj, "spec.replicas", 1);
    let ready = int_or(obj, "status.readyReplicas", 0);
    let current = int_or(obj, "status.currentReplicas", 0);
    let updated = int_or(obj, "status.updatedReplicas", 0);
    let replicas = int_or(obj, "status.replicas", 0);
    let waiting = |m: String| ObjectStatus::in_progress(m).with_ready(ready, spec);

    if spec > replicas {
        return waiting(format!("Replicas: {replicas}/{spec}"));
    }
    if spec > ready {
        return waiting(format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return waiting(format!("Pending termination: {}", replicas - spec));
    }
    // Deviation: kstatus calls OnDelete Current outright, which would not wait for
    // the pods of a fresh install (Helm #7424). The counts above still apply; only
    // the revision roll, which waits for someone to delete pods, is skipped.
    if str_at(obj, "spec.updateStrategy.type") == Some("OnDelete") {
        return ObjectStatus::current(format!(
            "Ready: {ready}/{spec} (OnDelete: pods update only when deleted)"
        ))
        .with_ready(ready, spec);
    }
    if let Some(partition) = int_at(obj, "spec.updateStrategy.rollingUpdate.partition") {
        let target = (spec - partition).max(0);
        if updated < target {
            return waiting(format!(
                "Updated: {updated}/{target} (partition {partition})"
            ));
        }
        return ObjectStatus::current(format!("Partition rollout complete. Updated: {updated}"))
            .with_ready(ready, spec);
    }
    if spec > current {
        return waiting(format!("Current: {current}/{spec}"));
    }
    if str_at(obj, "status.currentRevision") != str_at(obj, "status.updateRevision") {
        return waiting("Waiting for the updated revision to roll out".into());
    }
    ObjectStatus::current(format!("All replicas ready. Replicas: {replicas}"))
        .with_ready(ready, spec)
}

fn daemon_set(obj: &Value) -> ObjectStatus {
    // The controller always writes these once it has acted, so their absence means it
    // has not yet (kstatus's checkGenerationSet).
    if int_at(obj, "metadata.generation").is_none()
        || int_at(obj, "status.observedGeneration").is_none()
    {
        return ObjectStatus::in_progress("waiting for the DaemonSet controller");
    }
    let Some(desired) = int_at(obj, "status.desiredNumberScheduled") else {
        return ObjectStatus::in_progress("missing status.desiredNumberScheduled");
    };
    let scheduled = int_or(obj, "status.currentNumberScheduled", 0);
    let updated = int_or(obj, "status.updatedNumberScheduled", 0);
    let available = int_or(obj, "status.numberAvailable", 0);
    let ready = int_or(obj, "status.numberReady", 0);
    let waiting = |m: String| ObjectStatus::in_progress(m).with_ready(ready, desired);

    if desired > scheduled {
        return waiting(format!("Scheduled: {scheduled}/{desired}"));
    }
    // With OnDelete, old pods stay until deleted by hand: not something to wait for.
    if str_at(obj, "spec.updateStrategy.type") != Some("OnDelete") && desired > updated {
        return waiting(format!("Updated: {updated}/{desired}"));
    }
    if desired > available {
        return waiting(format!("Available: {available}/{desired}"));
    }
    if desired > ready {
        return waiting(format!("Ready: {ready}/{desired}"));
    }
    let note = if desired == 0 {
        " (no node matches its node selector)"
    } else {
        ""
    };
    ObjectStatus::current(format!("All pods ready. Pods: {desired}{note}"))
        .with_ready(ready, desired)
}

fn replica_set(obj: &Value) -> ObjectStatus {
    let spec = int_or(obj, "spec.replicas", 1);
    let replicas = int_or(obj, "status.replicas", 0);
    let ready = int_or(obj, "status.readyReplicas", 0);
    let available = int_or(obj, "status.availableReplicas", 0);
    let labelled = int_or(obj, "status.fullyLabeledReplicas", 0);
    let waiting = |m: String| ObjectStatus::in_progress(m).with_ready(ready, spec);

    if let Some(c) = condition(obj, "ReplicaFailure").filter(super::json::Condition::is_true) {
        return waiting(format!(
            "ReplicaFailure: {}",
            non_empty(c.message.to_string(), "check the pods")
        ));
    }
    if spec > labelled {
        return waiting(format!("Labelled: {labelled}/{spec}"));
    }
    if spec > available {
        return waiting(format!("Available: {available}/{spec}"));
    }
    if spec > ready {
        return waiting(format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return waiting(format!("Pending termination: {}", replicas - spec));
    }
    ObjectStatus::current(format!("ReplicaSet is available. Replicas: {replicas}"))
        .with_ready(ready, spec)
}

/// Deviation: kstatus calls a started Job Current; an installer waits for it to
/// finish (Helm's `--wait-for-jobs`), and a failed Job fails the wait at once.
fn job(obj: &Value) -> ObjectStatus {
    let completions = int_or(obj, "spec.completions", 1);
    let succeeded = int_or(obj, "status.succeeded", 0);
    if let Some(c) = condition(obj, "Failed").filter(super::json::Condition::is_true) {
        return ObjectStatus::failed(non_empty(reason_message(c.reason, c.message), "Job failed"))
            .with_ready(succeeded, completions);
    }
    if condition(obj, "Complete").is_some_and(|c| c.is_true()) {
        return ObjectStatus::current(format!("Job completed: {succeeded}/{completions}"))
            .with_ready(succeeded, completions);
    }
    if condition(obj, "Suspended").is_some_and(|c| c.is_true())
        && json::bool_at(obj, "spec.suspend") == Some(true)
    {
        return ObjectStatus::current("Job is suspended").with_ready(succeeded, completions);
    }
    if json::at(obj, "status.startTime").is_none() {
        return ObjectStatus::in_progress("Job not started").with_ready(succeeded, completions);
    }
    let active = int_or(obj, "status.active", 0);
    let failed = int_or(obj, "status.failed", 0);
    let mut message = format!("Job running: succeeded {succeeded}/{completions}, active {active}");
    if failed > 0 {
        message += &format!(", failed {failed}");
    }
    ObjectStatus::in_progress(message).with_ready(succeeded, completions)
}

fn pod(obj: &Value) -> ObjectStatus {
    let containers = json::array_at(obj, "spec.containers").len() as i64;
    let ready = json::array_at(obj, "status.containerStatuses")
        .iter()
        .filter(|s| json::bool_at(s, "ready") == Some(true))
        .count() as i64;
    let phase = str_at(obj, "status.phase").unwrap_or_default();
    let status = match phase {
        "Succeeded" => ObjectStatus::current("Pod has completed successfully"),
        // Deviation: kstatus keeps a failed Pod Current; for a pod we were asked to
        // wait for, that is a failure.
        "Failed" => ObjectStatus::failed(non_empty(
            reason_message(
                str_at(obj, "status.reason").unwrap_or_default(),
                str_at(obj, "status.message").unwrap_or_default(),
            ),
            "Pod failed",
        )),
        "Running" if condition(obj, "Ready").is_some_and(|c| c.is_true()) => {
            ObjectStatus::current("Pod is Ready")
        }
        "Running" => ObjectStatus::in_progress("Pod is running but not Ready"),
        "Pending" => match condition(obj, "PodScheduled") {
            Some(c) if c.is_false() && c.reason == "Unschedulable" => ObjectStatus::in_progress(
                non_empty(format!("Unschedulable: {}", c.message), "Unschedulable"),
            ),
            _ => ObjectStatus::in_progress("Pod is pending"),
        },
        "" => ObjectStatus::in_progress("Pod phase not yet reported"),
        other => ObjectStatus::in_progress(format!("Pod phase {other}")),
    };
    status.with_ready(ready, containers)
}

/// kstatus waits for Bound, which deadlocks a storage phase whose claims use a
/// `WaitForFirstConsumer` class: no pod uses them yet. Such a claim is Current until
/// the scheduler picks a node for it; from then on the provisioner must act.
fn claim(obj: &Value, classes: &StorageClasses) -> ObjectStatus {
    match str_at(obj, "status.phase").unwrap_or_default() {
        "Bound" => return ObjectStatus::current("Bound"),
        "Lost" => return ObjectStatus::failed("Lost: the bound PersistentVolume no longer exists"),
        _ => {}
    }
    let selected = json::annotation(obj, SELECTED_NODE_ANNOTATION).is_some();
    match storage::claim_class(obj) {
        Some("") => ObjectStatus::in_progress(
            "Pending: no StorageClass (storageClassName \"\"); waiting for a matching PersistentVolume",
        ),
        Some(name) if classes.is_missing(name) => {
            ObjectStatus::in_progress(format!("Pending: StorageClass \"{name}\" not found"))
        }
        Some(name) => match classes.get(name).map(|c| c.binding) {
            Some(BindingMode::WaitForFirstConsumer) if !selected => {
                ObjectStatus::current("Pending: waiting for first consumer")
            }
            Some(_) => ObjectStatus::in_progress(format!(
                "Pending: waiting for StorageClass \"{name}\" to provision a volume"
            )),
            // Classes unknown (RBAC): assume WaitForFirstConsumer until a node is
            // selected. Wrongly assuming Immediate would hang until the deadline; wrongly
            // assuming WFFC only moves the wait to the pod, whose problems we detect.
            None if !selected => ObjectStatus::current(
                "Pending: waiting for first consumer (StorageClass binding mode unknown)",
            ),
            None => ObjectStatus::in_progress("Pending: waiting for a volume to be provisioned"),
        },
        None if classes.is_known() && classes.default_class().is_none() => {
            ObjectStatus::in_progress(
                "Pending: no storageClassName and the cluster has no default StorageClass",
            )
        }
        None if selected => {
            ObjectStatus::in_progress("Pending: waiting for a volume to be provisioned")
        }
        None => ObjectStatus::in_progress("Pending"),
    }
}

fn service(obj: &Value) -> ObjectStatus {
    // Like kstatus, and unlike Helm's legacy wait, LoadBalancer ingress is not awaited:
    // clusters without a load-balancer controller would never finish.
    if str_at(obj, "spec.type") == Some("LoadBalancer")
        && str_at(obj, "spec.clusterIP").unwrap_or_default().is_empty()
    {
        return ObjectStatus::in_progress("ClusterIP not yet allocated");
    }
    ObjectStatus::current("Service is ready")
}

fn crd(obj: &Value) -> ObjectStatus {
    if let Some(c) = condition(obj, "NamesAccepted").filter(super::json::Condition::is_false) {
        return ObjectStatus::failed(non_empty(c.message.to_string(), "names not accepted"));
    }
    match condition(obj, "Established") {
        Some(c) if c.is_true() => ObjectStatus::current("CRD is established"),
        Some(c) if c.is_false() && c.reason != "Installing" => ObjectStatus::failed(non_empty(
            reason_message(c.reason, c.message),
            "not established",
        )),
        _ => ObjectStatus::in_progress("Install in progress"),
    }
}

#[cfg(test)]
mod tests;
