use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::wait::fixtures::{fixture, set};
use crate::wait::pods::{claim_problem, pod_problems};
use crate::wait::status::compute;
use crate::wait::storage::test_classes;

fn target(kind: &str, name: &str, component: &str) -> Target {
    Target {
        kind: kind.into(),
        name: name.into(),
        namespace: Some("demo".into()),
        component: component.into(),
    }
}

fn problem_of(pod: &Value) -> Problem {
    pod_problems(pod, &BTreeMap::new(), &test_classes())
        .into_iter()
        .next()
        .expect("a problem")
}

#[test]
fn crash_loop_diagnosis() {
    let p = problem_of(&fixture("pod-crashloop.json"));
    let d = from_problem(
        &target("Deployment", "cv-clickvisual", "clickvisual"),
        &p,
        &test_classes(),
    );
    assert_eq!(d.object, "Deployment/cv-clickvisual");
    assert_eq!(d.reason, "CrashLoopBackOff");
    assert_eq!(d.pod.as_deref(), Some("cv-clickvisual-6d9f7c8b5d-x7k2p"));
    assert_eq!(d.container.as_deref(), Some("clickvisual"));
    assert!(d.detail.contains("exit code 3"), "{}", d.detail);
    assert!(d.detail.contains("restarted 2 times"), "{}", d.detail);
    assert_eq!(
        d.remedy,
        "see why it exits: kubectl logs -n demo cv-clickvisual-6d9f7c8b5d-x7k2p -c clickvisual --previous"
    );
}

#[test]
fn exit_code_hints() {
    let base = fixture("pod-crashloop.json");
    let with = |term: Value| {
        let pod = set(
            base.clone(),
            "/status/containerStatuses/0/lastState/terminated",
            term,
        );
        from_problem(
            &target("Deployment", "d", "clickhouse"),
            &problem_of(&pod),
            &test_classes(),
        )
        .remedy
    };
    assert!(
        with(json!({"exitCode": 137, "reason": "OOMKilled"}))
            .contains("clickhouse.resources.limits.memory")
    );
    assert!(with(json!({"exitCode": 127, "reason": "Error"})).contains("command is missing"));
    assert!(with(json!({"exitCode": 0, "reason": "Completed"})).contains("must keep running"));
}

#[test]
fn image_pull_diagnosis_names_the_image_and_values() {
    let p = problem_of(&fixture("pod-imagepull.json"));
    let d = from_problem(
        &target("StatefulSet", "cv-redis", "redis"),
        &p,
        &test_classes(),
    );
    assert_eq!(d.reason, "ImagePullBackOff");
    assert!(
        d.detail.contains("\"redis:7.4-alpine-typo\""),
        "{}",
        d.detail
    );
    assert!(
        d.remedy
            .contains("redis.image.repository and redis.image.tag"),
        "{}",
        d.remedy
    );
    assert!(d.remedy.contains("global.imagePullSecrets"), "{}", d.remedy);
}

#[test]
fn unschedulable_cpu_names_the_request() {
    let p = problem_of(&fixture("pod-unschedulable.json"));
    let d = from_problem(
        &target("StatefulSet", "cv-clickhouse", "clickhouse"),
        &p,
        &test_classes(),
    );
    assert_eq!(d.reason, "Unschedulable");
    assert!(
        d.detail
            .contains("0/3 nodes are available: 3 Insufficient cpu.")
    );
    assert_eq!(
        d.remedy,
        "lower clickhouse.resources.requests.cpu or add nodes"
    );
}

#[test]
fn unschedulable_other_reasons() {
    let remedy = |message: &str| unschedulable_remedy(message, "kafka", "demo", "cv-kafka-0");
    let both = remedy("0/3 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.");
    assert!(
        both.contains("kafka.resources.requests.cpu")
            && both.contains("kafka.resources.requests.memory")
    );
    assert!(
        remedy("0/3 nodes are available: 3 node(s) didn't match node selector.")
            .contains("global.nodeSelector")
    );
    assert!(
        remedy("0/3 nodes are available: 3 node(s) didn't match pod affinity/anti-affinity, 3 node(s) didn't match pod anti-affinity rules.")
            .contains("global.antiAffinity=soft")
    );
    assert!(remedy("0/3 nodes are available: 3 node(s) had taint {dedicated: gpu}, that the pod didn't tolerate.").contains("taints"));
    assert!(
        remedy("0/3 nodes are available: 3 pod has unbound immediate PersistentVolumeClaims.")
            .contains("describe pvc")
    );
    assert_eq!(
        remedy("something new"),
        "kubectl describe pod -n demo cv-kafka-0"
    );
}

#[test]
fn missing_storage_class_lists_available_ones() {
    let pvc = set(
        fixture("pvc-pending.json"),
        "/spec/storageClassName",
        json!("fast-ssd"),
    );
    let p = claim_problem(&pvc, &test_classes()).unwrap();
    let d = from_problem(
        &target("PersistentVolumeClaim", "data-cv-mysql-0", "mysql"),
        &p,
        &test_classes(),
    );
    assert_eq!(d.reason, "StorageClassNotFound");
    assert_eq!(
        d.remedy,
        "no StorageClass 'fast-ssd'; available: standard, standard-immediate — \
         set global.storageClass or mysql.persistence.storageClass"
    );
    let none = from_problem(
        &target("PersistentVolumeClaim", "x", "mysql"),
        &p,
        &StorageClasses::from_classes(vec![]),
    );
    assert!(none.remedy.contains("the cluster has none"));
    let unknown = from_problem(
        &target("PersistentVolumeClaim", "x", "mysql"),
        &p,
        &StorageClasses::unknown(),
    );
    assert!(unknown.remedy.contains("kubectl get storageclass"));
}

#[test]
fn claim_pending_hint_names_class_and_provisioner() {
    let pvc = set(
        fixture("pvc-pending.json"),
        "/spec/storageClassName",
        json!("standard-immediate"),
    );
    let p = claim_problem(&pvc, &test_classes()).unwrap();
    let d = from_problem(
        &target("StatefulSet", "cv-mysql", "mysql"),
        &p,
        &test_classes(),
    );
    assert_eq!(d.reason, "ClaimPending");
    assert!(
        d.detail.contains("provisioner stackctl.dev/simnode"),
        "{}",
        d.detail
    );
    assert!(
        d.remedy
            .contains("provisioner of StorageClass 'standard-immediate'")
    );
    assert!(d.remedy.contains("mysql.persistence.storageClass"));
}

#[test]
fn config_errors_name_the_missing_key_or_object() {
    let p = problem_of(&fixture("pod-config-error.json"));
    let d = from_problem(
        &target("StatefulSet", "cv-mysql", "mysql"),
        &p,
        &test_classes(),
    );
    assert_eq!(d.reason, "CreateContainerConfigError");
    assert!(
        d.detail
            .contains("key 'root-password' of Secret 'cv-mysql'"),
        "{}",
        d.detail
    );
    assert!(
        d.remedy
            .starts_with("add key 'root-password' to Secret 'cv-mysql'"),
        "{}",
        d.remedy
    );

    for (message, expected) in [
        (
            "secret \"cv-tls\" not found",
            "Secret 'cv-tls', which does not exist",
        ),
        (
            "configmap \"cv-conf\" not found",
            "ConfigMap 'cv-conf', which does not exist",
        ),
        (
            "couldn't find key app.toml in ConfigMap demo/cv-conf",
            "key 'app.toml' of ConfigMap 'cv-conf'",
        ),
        ("something else", "cannot be configured: something else"),
    ] {
        let pod = set(
            fixture("pod-config-error.json"),
            "/status/containerStatuses/0/state/waiting/message",
            json!(message),
        );
        let d = from_problem(
            &target("StatefulSet", "cv-mysql", "mysql"),
            &problem_of(&pod),
            &test_classes(),
        );
        assert!(d.detail.contains(expected), "{message}: {}", d.detail);
    }
}

#[test]
fn job_failure_gives_exit_code_and_logs() {
    let p = problem_of(&fixture("pod-job-failed.json"));
    let d = from_problem(
        &target("Job", "cv-mysql-init", "mysql"),
        &p,
        &test_classes(),
    );
    assert_eq!(d.reason, "JobPodFailed (exit code 42)");
    assert!(d.detail.contains("exit code 42 (Error)"), "{}", d.detail);
    assert_eq!(
        d.remedy,
        "see its output: kubectl logs -n demo cv-mysql-init-8xq2z -c init"
    );
}

#[test]
fn not_ready_pod_on_timeout() {
    let sts = set(
        fixture("statefulset-ready.json"),
        "/status/readyReplicas",
        json!(0),
    );
    let pod = set(
        set(
            fixture("pod-ready.json"),
            "/status/conditions/1/status",
            json!("False"),
        ),
        "/status/containerStatuses/0/ready",
        json!(false),
    );
    let d = from_status(
        &target("StatefulSet", "cv-mysql", "mysql"),
        &compute(&sts),
        &[&pod],
    );
    assert_eq!(d.reason, "NotReady");
    assert_eq!(d.pod.as_deref(), Some("cv-mysql-0"));
    assert!(d.detail.contains("running but not ready"), "{}", d.detail);
    assert!(d.detail.contains("Ready: 0/1"), "{}", d.detail);
    assert!(
        d.remedy
            .contains("kubectl logs -n demo cv-mysql-0 -c mysql")
    );
}

#[test]
fn init_container_still_running_on_timeout() {
    let pod = json!({
        "metadata": {"name": "cv-clickvisual-x"},
        "spec": {"nodeName": "n1"},
        "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "initContainerStatuses": [{"name": "wait-for-mysql", "ready": false, "state": {"running": {}}}],
            "containerStatuses": [{"name": "app", "ready": false, "state": {"waiting": {"reason": "PodInitializing"}}}]}
    });
    let d = from_status(
        &target("Deployment", "cv-clickvisual", "clickvisual"),
        &ObjectStatus::in_progress("Ready: 0/1"),
        &[&pod],
    );
    assert_eq!(d.reason, "Initializing");
    assert!(d.detail.contains("init container wait-for-mysql"));
    assert!(d.remedy.contains("-c wait-for-mysql"));
}

#[test]
fn other_status_diagnoses() {
    let t = target("Deployment", "cv-web", "web");
    let d = from_status(
        &t,
        &ObjectStatus::in_progress("Replicas: 0/1; FailedCreate: quota"),
        &[],
    );
    assert_eq!(d.reason, "NoPods");
    assert!(d.detail.contains("quota"));
    assert_eq!(
        from_status(&t, &ObjectStatus::not_found(), &[]).reason,
        "NotFound"
    );
    let failed = from_status(&t, &ObjectStatus::failed("progress deadline exceeded"), &[]);
    assert_eq!(
        (failed.reason.as_str(), failed.detail.as_str()),
        ("Failed", "progress deadline exceeded")
    );
    let pvc = from_status(
        &target("PersistentVolumeClaim", "data", "mysql"),
        &ObjectStatus::in_progress("Pending"),
        &[],
    );
    assert_eq!(pvc.reason, "InProgress");
    assert!(
        pvc.remedy
            .contains("kubectl describe persistentvolumeclaim -n demo data")
    );
}

#[test]
fn display_is_a_readable_block() {
    let p = problem_of(&fixture("pod-crashloop.json"));
    let mut d = from_problem(
        &target("Deployment", "cv-clickvisual", "clickvisual"),
        &p,
        &test_classes(),
    );
    d.events = vec!["BackOff: Back-off restarting failed container (×4)".into()];
    let text = d.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Deployment/cv-clickvisual (clickvisual): CrashLoopBackOff"
    );
    assert_eq!(
        lines[1],
        "  pod:    cv-clickvisual-6d9f7c8b5d-x7k2p (container clickvisual)"
    );
    assert!(lines[2].starts_with("  why:    container clickvisual of pod"));
    assert_eq!(lines[3], "  events:");
    assert_eq!(
        lines[4],
        "    - BackOff: Back-off restarting failed container (×4)"
    );
    assert!(lines[5].starts_with("  fix:    see why it exits: kubectl logs"));
}

fn event(type_: &str, reason: &str, message: &str, at: &str, count: i32) -> Event {
    serde_json::from_value(json!({
        "metadata": {"name": format!("e-{reason}-{at}"), "namespace": "demo"},
        "involvedObject": {"kind": "Pod", "name": "p"},
        "type": type_, "reason": reason, "message": message,
        "lastTimestamp": at, "count": count
    }))
    .unwrap()
}

#[test]
fn events_are_warnings_deduplicated_newest_last() {
    let events = [
        event(
            "Normal",
            "Pulling",
            "Pulling image \"x\"",
            "2026-01-01T10:00:01Z",
            3,
        ),
        event(
            "Warning",
            "Failed",
            "Error: ErrImagePull",
            "2026-01-01T10:00:02Z",
            1,
        ),
        event(
            "Warning",
            "Failed",
            "Error: ImagePullBackOff",
            "2026-01-01T10:00:05Z",
            2,
        ),
        event(
            "Warning",
            "Failed",
            "Error: ErrImagePull",
            "2026-01-01T10:00:09Z",
            1,
        ),
        event("Warning", "A", "1", "2026-01-01T09:00:01Z", 1),
        event("Warning", "B", "2", "2026-01-01T09:00:02Z", 1),
        event("Warning", "C", "3", "2026-01-01T09:00:03Z", 1),
    ];
    let lines = summarize_events(&events);
    assert_eq!(
        lines,
        [
            "A: 1",
            "B: 2",
            "C: 3",
            "Failed: Error: ImagePullBackOff (×2)",
            "Failed: Error: ErrImagePull (×2)",
        ]
    );
    // More than MAX_EVENTS distinct: the oldest go.
    let mut more = events.to_vec();
    more.push(event("Warning", "D", "4", "2026-01-01T11:00:00Z", 1));
    let lines = summarize_events(&more);
    assert_eq!(lines.len(), MAX_EVENTS);
    assert_eq!(lines[0], "B: 2");
    assert_eq!(lines[4], "D: 4");
}

#[test]
fn normal_events_when_there_are_no_warnings() {
    let events = [event(
        "Normal",
        "ExternalProvisioning",
        "waiting for a volume to be created, either by external provisioner \"x\"",
        "2026-01-01T10:00:01Z",
        5,
    )];
    assert_eq!(
        summarize_events(&events),
        [
            "ExternalProvisioning: waiting for a volume to be created, either by external provisioner \"x\" (×5)"
        ]
    );
    assert!(summarize_events(&[]).is_empty());
    let normal: Vec<Event> = (1..=4)
        .map(|i| {
            event(
                "Normal",
                "Step",
                &i.to_string(),
                &format!("2026-01-01T10:00:0{i}Z"),
                1,
            )
        })
        .collect();
    assert_eq!(summarize_events(&normal), ["Step: 2", "Step: 3", "Step: 4"]);
}
