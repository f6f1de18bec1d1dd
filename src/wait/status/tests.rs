use serde_json::json;

use super::*;
use crate::wait::fixtures::{fixture, remove, set};
use crate::wait::storage::test_classes;

fn state(v: &Value) -> State {
    compute(v).state
}

fn assert_status(v: &Value, expected: State, message_part: &str) {
    let s = compute_with(v, &test_classes());
    assert_eq!(s.state, expected, "{s:?}");
    assert!(
        s.message.contains(message_part),
        "{:?} does not contain {message_part:?}",
        s.message
    );
}

// ---- generic steps ---------------------------------------------------------------

#[test]
fn deletion_wins_over_everything() {
    let v = set(
        fixture("deployment-available.json"),
        "/metadata/deletionTimestamp",
        json!("2026-01-01T10:00:00Z"),
    );
    assert_status(&v, State::Terminating, "deleted");
}

#[test]
fn unobserved_generation_is_in_progress() {
    let v = set(
        fixture("deployment-available.json"),
        "/metadata/generation",
        json!(3),
    );
    assert_status(&v, State::InProgress, "generation 3 (observed 2)");
    // No observedGeneration at all: the kind's rule decides (kstatus is lenient).
    let v = remove(
        fixture("deployment-available.json"),
        "/status/observedGeneration",
    );
    assert_eq!(state(&v), State::Current);
}

#[test]
fn reconciling_and_stalled_conditions() {
    let cr = |t: &str| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
               "status": {"conditions": [{"type": t, "status": "True", "reason": "Why", "message": "because"}]}})
    };
    assert_status(&cr("Reconciling"), State::InProgress, "Why: because");
    assert_status(&cr("Stalled"), State::Failed, "Why: because");
}

#[test]
fn generic_ready_condition_and_fallback() {
    let cr = |status: &str| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
               "status": {"conditions": [{"type": "Ready", "status": status, "message": "warming up"}]}})
    };
    assert_eq!(state(&cr("True")), State::Current);
    assert_status(&cr("False"), State::InProgress, "warming up");
    assert_eq!(state(&cr("Unknown")), State::InProgress);
    let bare = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}});
    assert_eq!(state(&bare), State::Current);
}

#[test]
fn odd_objects_never_panic() {
    for v in [
        json!(null),
        json!("string"),
        json!([]),
        json!({}),
        json!({"kind": "Deployment", "apiVersion": "apps/v1", "spec": "x", "status": 3}),
        json!({"kind": "Pod", "apiVersion": "v1", "status": {"conditions": "nope", "containerStatuses": {}}}),
        json!({"kind": "StatefulSet", "apiVersion": "apps/v1", "spec": {"replicas": "two"}}),
        json!({"kind": "PersistentVolumeClaim", "apiVersion": "v1", "metadata": {"annotations": 5}}),
    ] {
        let _ = compute_with(&v, &test_classes());
    }
}

#[test]
fn kinds_without_status_are_current() {
    for (api, kind) in [
        ("v1", "Secret"),
        ("v1", "ConfigMap"),
        ("v1", "ServiceAccount"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("policy/v1beta1", "PodDisruptionBudget"),
        ("policy/v1", "PodDisruptionBudget"),
        ("networking.k8s.io/v1", "Ingress"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("batch/v1beta1", "CronJob"),
    ] {
        assert!(needs_no_wait(api, kind), "{kind}");
        // A PDB's status (disruptionsAllowed 0, observedGeneration) must not matter.
        let v = json!({"apiVersion": api, "kind": kind, "metadata": {"name": "x"},
                       "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert_eq!(state(&v), State::Current, "{kind}");
    }
    assert!(!needs_no_wait("apps/v1", "Deployment"));
    assert!(
        !needs_no_wait("example.com/v1", "Secret"),
        "CRD kinds share names"
    );
}

// ---- Deployment --------------------------------------------------------------------

#[test]
fn deployment_available() {
    let s = compute(&fixture("deployment-available.json"));
    assert_eq!(s.state, State::Current);
    assert_eq!(s.ready, Some((2, 2)));
}

#[test]
fn deployment_each_count_can_hold_it_back() {
    let d = fixture("deployment-available.json");
    for (pointer, value, expected) in [
        ("/status/replicas", 1, "Replicas: 1/2"),
        ("/status/updatedReplicas", 1, "Updated: 1/2"),
        ("/status/replicas", 3, "Pending termination: 1"),
        ("/status/availableReplicas", 1, "Available: 1/2"),
        ("/status/readyReplicas", 1, "Ready: 1/2"),
    ] {
        let v = set(d.clone(), pointer, json!(value));
        assert_status(&v, State::InProgress, expected);
    }
    let s = compute(&set(d, "/status/readyReplicas", json!(1)));
    assert_eq!(s.ready, Some((1, 2)));
}

#[test]
fn deployment_fresh_without_status() {
    let v = remove(fixture("deployment-available.json"), "/status");
    assert_status(&v, State::InProgress, "Replicas: 0/2");
    let v = remove(v, "/spec/replicas");
    assert_status(&v, State::InProgress, "Replicas: 0/1");
}

#[test]
fn deployment_conditions() {
    let d = fixture("deployment-available.json");
    let v = set(
        d.clone(),
        "/status/conditions/1",
        json!({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
               "message": "ReplicaSet \"x\" has timed out progressing."}),
    );
    assert_status(&v, State::Failed, "timed out progressing");

    let v = set(
        d.clone(),
        "/status/conditions/1/reason",
        json!("ReplicaSetUpdated"),
    );
    assert_status(&v, State::InProgress, "ReplicaSet not Available");
    // Without a progress deadline, Progressing is never set and not required.
    let v = remove(v, "/spec/progressDeadlineSeconds");
    assert_eq!(state(&v), State::Current);

    let v = set(d.clone(), "/status/conditions/0/status", json!("False"));
    assert_status(&v, State::InProgress, "Deployment not Available");

    let v = set(
        set(d, "/status/replicas", json!(0)),
        "/status/conditions/2",
        json!({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
               "message": "pods \"x\" is forbidden: exceeded quota: q"}),
    );
    assert_status(
        &v,
        State::InProgress,
        "FailedCreate: pods \"x\" is forbidden",
    );
}

#[test]
fn deployment_scaled_to_zero() {
    let v = set(
        fixture("deployment-available.json"),
        "/spec/replicas",
        json!(0),
    );
    let v = set(v, "/status/replicas", json!(0));
    let v = set(v, "/status/updatedReplicas", json!(0));
    let v = set(v, "/status/readyReplicas", json!(0));
    let v = set(v, "/status/availableReplicas", json!(0));
    assert_eq!(state(&v), State::Current);
}

// ---- StatefulSet -------------------------------------------------------------------

#[test]
fn statefulset_ready() {
    let s = compute(&fixture("statefulset-ready.json"));
    assert_eq!(s.state, State::Current, "{s:?}");
    assert_eq!(s.ready, Some((1, 1)));
}

#[test]
fn statefulset_each_check() {
    // No partition: the revision path (an apps/v1 server defaults partition to 0,
    // which takes the partition path instead).
    let sts = set(
        fixture("statefulset-ready.json"),
        "/spec/updateStrategy",
        json!({"type": "RollingUpdate"}),
    );
    let sts = set(sts, "/spec/replicas", json!(3));
    let all = |v: Value, n: i64| {
        [
            "replicas",
            "readyReplicas",
            "currentReplicas",
            "updatedReplicas",
        ]
        .iter()
        .fold(v, |v, f| set(v, &format!("/status/{f}"), json!(n)))
    };
    let ok = all(sts.clone(), 3);
    assert_eq!(state(&ok), State::Current);
    assert_status(
        &set(ok.clone(), "/status/replicas", json!(2)),
        State::InProgress,
        "Replicas: 2/3",
    );
    assert_status(
        &set(ok.clone(), "/status/readyReplicas", json!(2)),
        State::InProgress,
        "Ready: 2/3",
    );
    assert_status(
        &set(ok.clone(), "/status/replicas", json!(4)),
        State::InProgress,
        "Pending termination: 1",
    );
    assert_status(
        &set(ok.clone(), "/status/currentReplicas", json!(1)),
        State::InProgress,
        "Current: 1/3",
    );
    assert_status(
        &set(ok.clone(), "/status/updateRevision", json!("cv-mysql-new")),
        State::InProgress,
        "revision",
    );
    // Fresh: no status at all.
    assert_status(&remove(sts, "/status"), State::InProgress, "Replicas: 0/3");
}

#[test]
fn statefulset_default_partition_zero_needs_all_updated() {
    // What a 1.20 server returns: partition defaulted to 0.
    let sts = fixture("statefulset-ready.json");
    assert_eq!(state(&sts), State::Current);
    let rolling = set(sts, "/status/updatedReplicas", json!(0));
    let rolling = set(rolling, "/status/updateRevision", json!("rev-2"));
    assert_status(&rolling, State::InProgress, "Updated: 0/1 (partition 0)");
}

#[test]
fn statefulset_partition() {
    let v = set(
        fixture("statefulset-ready.json"),
        "/spec/replicas",
        json!(3),
    );
    let v = set(v, "/spec/updateStrategy/rollingUpdate/partition", json!(2));
    let v = ["replicas", "readyReplicas", "currentReplicas"]
        .iter()
        .fold(v, |v, f| set(v, &format!("/status/{f}"), json!(3)));
    let v = set(v, "/status/updateRevision", json!("rev-2"));
    assert_status(
        &set(v.clone(), "/status/updatedReplicas", json!(0)),
        State::InProgress,
        "Updated: 0/1 (partition 2)",
    );
    // The partitioned pods keep the old revision; that is the point of a partition.
    assert_status(
        &set(v, "/status/updatedReplicas", json!(1)),
        State::Current,
        "Partition rollout complete",
    );
}

#[test]
fn statefulset_on_delete_still_waits_for_pods() {
    let v = set(
        fixture("statefulset-ready.json"),
        "/spec/updateStrategy",
        json!({"type": "OnDelete"}),
    );
    let fresh = set(
        remove(v.clone(), "/status/readyReplicas"),
        "/status/currentReplicas",
        json!(0),
    );
    assert_status(&fresh, State::InProgress, "Ready: 0/1");
    // Revisions differ but OnDelete only rolls when pods are deleted: done.
    let rolled = set(v, "/status/updateRevision", json!("rev-2"));
    assert_status(&rolled, State::Current, "OnDelete");
}

// ---- DaemonSet ---------------------------------------------------------------------

#[test]
fn daemonset_checks() {
    let ds = fixture("daemonset-ready.json");
    assert_eq!(compute(&ds).ready, Some((3, 3)));
    assert_eq!(state(&ds), State::Current);
    for (field, expected) in [
        ("currentNumberScheduled", "Scheduled: 2/3"),
        ("updatedNumberScheduled", "Updated: 2/3"),
        ("numberAvailable", "Available: 2/3"),
        ("numberReady", "Ready: 2/3"),
    ] {
        let v = set(ds.clone(), &format!("/status/{field}"), json!(2));
        assert_status(&v, State::InProgress, expected);
    }
    assert_status(
        &remove(ds.clone(), "/status/desiredNumberScheduled"),
        State::InProgress,
        "desiredNumberScheduled",
    );
    assert_status(
        &remove(ds.clone(), "/status/observedGeneration"),
        State::InProgress,
        "controller",
    );
    let on_delete = set(
        ds.clone(),
        "/spec/updateStrategy",
        json!({"type": "OnDelete"}),
    );
    assert_eq!(
        state(&set(on_delete, "/status/updatedNumberScheduled", json!(0))),
        State::Current
    );
    let none = [
        "desiredNumberScheduled",
        "currentNumberScheduled",
        "updatedNumberScheduled",
        "numberAvailable",
        "numberReady",
    ]
    .iter()
    .fold(ds, |v, f| set(v, &format!("/status/{f}"), json!(0)));
    assert_status(&none, State::Current, "no node matches");
}

// ---- ReplicaSet --------------------------------------------------------------------

#[test]
fn replicaset_checks() {
    let rs = fixture("replicaset-ready.json");
    assert_eq!(state(&rs), State::Current);
    for (field, value, expected) in [
        ("fullyLabeledReplicas", 1, "Labelled: 1/2"),
        ("availableReplicas", 1, "Available: 1/2"),
        ("readyReplicas", 1, "Ready: 1/2"),
        ("replicas", 3, "Pending termination: 1"),
    ] {
        let v = set(rs.clone(), &format!("/status/{field}"), json!(value));
        assert_status(&v, State::InProgress, expected);
    }
    let v = set(
        rs,
        "/status/conditions",
        json!([{"type": "ReplicaFailure", "status": "True", "message": "exceeded quota"}]),
    );
    assert_status(&v, State::InProgress, "ReplicaFailure: exceeded quota");
}

// ---- Job ---------------------------------------------------------------------------

#[test]
fn job_lifecycle() {
    let running = fixture("job-running.json");
    assert_status(
        &remove(running.clone(), "/status/startTime"),
        State::InProgress,
        "not started",
    );
    // Deviation from kstatus: a started Job is still in progress.
    assert_status(&running, State::InProgress, "succeeded 0/1, active 1");
    assert_status(
        &set(running.clone(), "/status/failed", json!(2)),
        State::InProgress,
        "failed 2",
    );
    let done = set(
        set(running.clone(), "/status/succeeded", json!(1)),
        "/status/conditions",
        json!([{"type": "Complete", "status": "True"}]),
    );
    let s = compute(&done);
    assert_eq!(s.state, State::Current);
    assert_eq!(s.ready, Some((1, 1)));
    let suspended = set(
        set(running, "/spec/suspend", json!(true)),
        "/status/conditions",
        json!([{"type": "Suspended", "status": "True"}]),
    );
    assert_status(&suspended, State::Current, "suspended");
}

#[test]
fn failed_job_is_failed() {
    assert_status(
        &fixture("job-failed.json"),
        State::Failed,
        "BackoffLimitExceeded: Job has reached the specified backoff limit",
    );
}

// ---- Pod ---------------------------------------------------------------------------

#[test]
fn pod_phases() {
    let ready = fixture("pod-ready.json");
    let s = compute(&ready);
    assert_eq!((s.state, s.ready), (State::Current, Some((1, 1))));
    assert_status(
        &set(ready.clone(), "/status/conditions/1/status", json!("False")),
        State::InProgress,
        "not Ready",
    );
    assert_status(
        &set(ready.clone(), "/status/phase", json!("Succeeded")),
        State::Current,
        "completed",
    );
    assert_status(&fixture("pod-job-failed.json"), State::Failed, "Pod failed");
    let evicted = set(
        set(ready.clone(), "/status/phase", json!("Failed")),
        "/status/reason",
        json!("Evicted"),
    );
    assert_status(&evicted, State::Failed, "Evicted");
    assert_status(
        &fixture("pod-unschedulable.json"),
        State::InProgress,
        "Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.",
    );
    assert_status(
        &remove(ready, "/status"),
        State::InProgress,
        "not yet reported",
    );
    // Crash loops are judged in pods.rs (with thresholds), not here.
    assert_eq!(state(&fixture("pod-crashloop.json")), State::InProgress);
}

// ---- PersistentVolumeClaim ---------------------------------------------------------

#[test]
fn claim_bound_and_lost() {
    let pvc = fixture("pvc-pending.json");
    assert_status(
        &set(pvc.clone(), "/status/phase", json!("Bound")),
        State::Current,
        "Bound",
    );
    assert_status(
        &set(pvc, "/status/phase", json!("Lost")),
        State::Failed,
        "Lost",
    );
}

#[test]
fn claim_on_wait_for_first_consumer_class() {
    let pvc = fixture("pvc-pending.json");
    assert_status(&pvc, State::Current, "waiting for first consumer");
    let selected = set(
        pvc,
        "/metadata/annotations",
        json!({"volume.kubernetes.io/selected-node": "simnode-1"}),
    );
    assert_status(&selected, State::InProgress, "to provision a volume");
}

#[test]
fn claim_on_immediate_or_missing_class() {
    let pvc = fixture("pvc-pending.json");
    let immediate = set(
        pvc.clone(),
        "/spec/storageClassName",
        json!("standard-immediate"),
    );
    assert_status(&immediate, State::InProgress, "standard-immediate");
    let missing = set(pvc.clone(), "/spec/storageClassName", json!("fast-ssd"));
    assert_status(
        &missing,
        State::InProgress,
        "StorageClass \"fast-ssd\" not found",
    );
    let static_only = set(pvc.clone(), "/spec/storageClassName", json!(""));
    assert_status(&static_only, State::InProgress, "matching PersistentVolume");
    let no_class = remove(pvc, "/spec/storageClassName");
    assert_status(&no_class, State::InProgress, "Pending");
    let no_default = StorageClasses::from_classes(vec![]);
    assert!(
        compute_with(&no_class, &no_default)
            .message
            .contains("no default StorageClass")
    );
}

#[test]
fn claim_with_unknown_classes_assumes_wait_for_first_consumer() {
    let missing = set(
        fixture("pvc-pending.json"),
        "/spec/storageClassName",
        json!("fast-ssd"),
    );
    // We could not list classes, so we cannot call it missing.
    assert_eq!(state(&missing), State::Current);
    let selected = set(
        missing,
        "/metadata/annotations",
        json!({"volume.kubernetes.io/selected-node": "n"}),
    );
    assert_eq!(state(&selected), State::InProgress);
}

// ---- Service, CRD ------------------------------------------------------------------

#[test]
fn services() {
    let svc = |t: &str, ip: Value| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"type": t, "clusterIP": ip}, "status": {"loadBalancer": {}}})
    };
    assert_eq!(
        state(&svc("ClusterIP", json!("10.96.0.10"))),
        State::Current
    );
    assert_eq!(state(&svc("ClusterIP", json!("None"))), State::Current);
    assert_eq!(
        state(&svc("LoadBalancer", json!("10.96.0.11"))),
        State::Current,
        "no LB ingress wait"
    );
    assert_status(
        &svc("LoadBalancer", json!("")),
        State::InProgress,
        "ClusterIP",
    );
    assert_eq!(state(&svc("LoadBalancer", Value::Null)), State::InProgress);
}

#[test]
fn crds() {
    let crd = fixture("crd-established.json");
    assert_eq!(state(&crd), State::Current);
    let installing = set(
        crd.clone(),
        "/status/conditions/1",
        json!({"type": "Established", "status": "False", "reason": "Installing"}),
    );
    assert_status(&installing, State::InProgress, "Install in progress");
    let broken = set(
        crd.clone(),
        "/status/conditions/1",
        json!({"type": "Established", "status": "False", "reason": "Broken", "message": "nope"}),
    );
    assert_status(&broken, State::Failed, "Broken: nope");
    let conflict = set(
        crd.clone(),
        "/status/conditions/0",
        json!({"type": "NamesAccepted", "status": "False", "reason": "PluralConflict",
               "message": "\"ingressroutes\" is already in use"}),
    );
    assert_status(&conflict, State::Failed, "already in use");
    assert_status(
        &remove(crd, "/status"),
        State::InProgress,
        "Install in progress",
    );
}
