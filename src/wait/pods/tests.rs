use serde_json::json;

use super::*;
use crate::wait::fixtures::{fixture, remove, set};
use crate::wait::storage::test_classes;

fn problems(pod: &Value) -> Vec<Problem> {
    pod_problems(pod, &BTreeMap::new(), &test_classes())
}

fn only(pod: &Value) -> Problem {
    let mut found = problems(pod);
    assert_eq!(found.len(), 1, "{found:#?}");
    found.remove(0)
}

const SEC: Duration = Duration::from_secs(1);

#[test]
fn crash_loop_with_exit_code_and_restarts() {
    let p = only(&fixture("pod-crashloop.json"));
    assert_eq!(p.kind, ProblemKind::CrashLoop);
    assert_eq!(p.reason, "CrashLoopBackOff");
    assert_eq!(p.pod.as_deref(), Some("cv-clickvisual-6d9f7c8b5d-x7k2p"));
    assert_eq!(p.container.as_deref(), Some("clickvisual"));
    assert_eq!(p.exit_code, Some(3));
    assert_eq!(p.restarts, 2);
    assert_eq!(p.message, "Error");
    assert!(!p.init);
    let t = Thresholds::default();
    assert!(t.is_terminal(&p, Duration::ZERO), "two restarts are enough");
    assert_eq!(
        p.to_string(),
        "container clickvisual of pod cv-clickvisual-6d9f7c8b5d-x7k2p: CrashLoopBackOff (exit code 3), 2 restarts: Error"
    );
}

#[test]
fn first_crash_is_not_final() {
    let pod = set(
        fixture("pod-crashloop.json"),
        "/status/containerStatuses/0/restartCount",
        json!(1),
    );
    let p = only(&pod);
    let t = Thresholds::default();
    assert!(
        !t.is_terminal(&p, Duration::from_secs(3600)),
        "only restarts count"
    );
    let strict = Thresholds {
        crash_loop_restarts: 1,
        ..t
    };
    assert!(strict.is_terminal(&p, Duration::ZERO));
}

#[test]
fn oom_killed_is_named() {
    let pod = set(
        fixture("pod-crashloop.json"),
        "/status/containerStatuses/0/lastState/terminated",
        json!({"exitCode": 137, "reason": "OOMKilled"}),
    );
    let p = only(&pod);
    assert_eq!((p.exit_code, p.message.as_str()), (Some(137), "OOMKilled"));
}

#[test]
fn crash_looping_init_container() {
    let pod = set(
        fixture("pod-crashloop.json"),
        "/status/initContainerStatuses/0",
        json!({"name": "wait-for-mysql", "ready": false, "restartCount": 4, "image": "busybox:1.36",
               "state": {"waiting": {"reason": "CrashLoopBackOff"}},
               "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}),
    );
    let found = problems(&pod);
    assert_eq!(found.len(), 2);
    let init = found.iter().find(|p| p.init).unwrap();
    assert_eq!(init.container.as_deref(), Some("wait-for-mysql"));
    assert_eq!(init.image.as_deref(), Some("busybox:1.36"));
    assert!(init.subject().starts_with("init container wait-for-mysql"));
}

#[test]
fn image_pull_needs_to_persist() {
    let p = only(&fixture("pod-imagepull.json"));
    assert_eq!(p.kind, ProblemKind::ImagePull);
    assert_eq!(p.reason, "ImagePullBackOff");
    assert_eq!(p.image.as_deref(), Some("redis:7.4-alpine-typo"));
    let t = Thresholds::default();
    assert!(!t.is_terminal(&p, 29 * SEC));
    assert!(t.is_terminal(&p, 30 * SEC));

    // ErrImagePull is the same problem (same key), so its age carries over.
    let err = set(
        fixture("pod-imagepull.json"),
        "/status/containerStatuses/0/state/waiting",
        json!({"reason": "ErrImagePull", "message": "rpc error: code = NotFound desc = not found"}),
    );
    let e = only(&err);
    assert_eq!(e.reason, "ErrImagePull");
    assert_eq!(e.key(), p.key());
}

#[test]
fn invalid_image_name_is_final_at_once() {
    let pod = set(
        fixture("pod-imagepull.json"),
        "/status/containerStatuses/0/state/waiting",
        json!({"reason": "InvalidImageName", "message": "Failed to apply default image tag \"Redis::\""}),
    );
    let p = only(&pod);
    assert_eq!(p.kind, ProblemKind::InvalidImage);
    assert!(Thresholds::default().is_terminal(&p, Duration::ZERO));
}

#[test]
fn container_config_error() {
    let p = only(&fixture("pod-config-error.json"));
    assert_eq!(p.kind, ProblemKind::ContainerConfig);
    assert!(
        p.message
            .contains("couldn't find key root-password in Secret demo/cv-mysql")
    );
    let t = Thresholds::default();
    assert!(!t.is_terminal(&p, 19 * SEC));
    assert!(t.is_terminal(&p, 20 * SEC));
    let create = set(
        fixture("pod-config-error.json"),
        "/status/containerStatuses/0/state/waiting/reason",
        json!("CreateContainerError"),
    );
    assert_eq!(only(&create).kind, ProblemKind::ContainerCreate);
}

#[test]
fn harmless_waiting_reasons_are_not_problems() {
    for reason in ["ContainerCreating", "PodInitializing", "Something New"] {
        let pod = set(
            fixture("pod-config-error.json"),
            "/status/containerStatuses/0/state/waiting",
            json!({"reason": reason}),
        );
        assert!(problems(&pod).is_empty(), "{reason}");
    }
    assert!(problems(&fixture("pod-ready.json")).is_empty());
    assert!(problems(&json!({})).is_empty());
    assert!(problems(&json!({"status": {"containerStatuses": "x"}})).is_empty());
}

#[test]
fn unschedulable_after_fifteen_seconds() {
    let p = only(&fixture("pod-unschedulable.json"));
    assert_eq!(p.kind, ProblemKind::Unschedulable);
    assert_eq!(p.message, "0/3 nodes are available: 3 Insufficient cpu.");
    assert!(p.container.is_none());
    let t = Thresholds::default();
    assert!(!t.is_terminal(&p, 14 * SEC));
    assert!(t.is_terminal(&p, 15 * SEC));
}

#[test]
fn unschedulable_for_unbound_claims_waits_like_a_claim() {
    let pod = set(
        fixture("pod-unschedulable.json"),
        "/status/conditions/0/message",
        json!("0/3 nodes are available: 3 pod has unbound immediate PersistentVolumeClaims."),
    );
    let p = only(&pod);
    let t = Thresholds::default();
    assert!(!t.is_terminal(&p, 30 * SEC));
    assert!(t.is_terminal(&p, 60 * SEC));
}

#[test]
fn a_claim_the_statefulset_controller_has_yet_to_create_waits_like_a_claim() {
    // Seen after an API server restart: the pod was created, its claim only when the
    // controller synced again, 60 s later.
    let pod = set(
        fixture("pod-unschedulable.json"),
        "/status/conditions/0/message",
        json!("0/3 nodes are available: 3 persistentvolumeclaim \"data-cv-mysql-0\" not found."),
    );
    let p = only(&pod);
    let t = Thresholds::default();
    assert!(!t.is_terminal(&p, 30 * SEC));
    assert!(t.is_terminal(&p, 60 * SEC));
}

#[test]
fn job_pod_failure_carries_the_exit_code_but_the_job_decides() {
    let p = only(&fixture("pod-job-failed.json"));
    assert_eq!(p.kind, ProblemKind::JobPodFailed);
    assert_eq!(p.exit_code, Some(42));
    assert_eq!(p.container.as_deref(), Some("init"));
    assert_eq!(p.reason, "Error");
    assert!(!Thresholds::default().is_terminal(&p, Duration::from_secs(3600)));
}

#[test]
fn evicted_pod_is_replaced_not_fatal() {
    let pod = set(
        set(
            set(fixture("pod-ready.json"), "/status/phase", json!("Failed")),
            "/status/reason",
            json!("Evicted"),
        ),
        "/status/message",
        json!("The node was low on resource: memory."),
    );
    let pod = set(
        pod,
        "/status/containerStatuses/0/state",
        json!({"terminated": {"exitCode": 0}}),
    );
    let p = only(&pod);
    assert_eq!(
        (p.kind, p.reason.as_str()),
        (ProblemKind::PodFailed, "Evicted")
    );
    assert!(p.message.contains("low on resource"));
    assert!(!Thresholds::default().is_terminal(&p, Duration::from_secs(3600)));
}

#[test]
fn terminating_and_succeeded_pods_have_no_problems() {
    let dying = set(
        fixture("pod-crashloop.json"),
        "/metadata/deletionTimestamp",
        json!("2026-01-01T10:00:00Z"),
    );
    assert!(problems(&dying).is_empty());
    let done = set(
        fixture("pod-job-failed.json"),
        "/status/phase",
        json!("Succeeded"),
    );
    assert!(problems(&done).is_empty());
}

// ---- claims ------------------------------------------------------------------------

fn pending_pod_with_claim() -> Value {
    let pod = set(
        fixture("pod-ready.json"),
        "/status",
        json!({"phase": "Pending"}),
    );
    remove(pod, "/spec/nodeName")
}

fn claims_with(pvc: Value) -> BTreeMap<String, Value> {
    BTreeMap::from([(json::name(&pvc).to_string(), pvc)])
}

#[test]
fn claim_of_missing_class() {
    let pvc = set(
        fixture("pvc-pending.json"),
        "/spec/storageClassName",
        json!("fast-ssd"),
    );
    let p = claim_problem(&pvc, &test_classes()).unwrap();
    assert_eq!(p.kind, ProblemKind::MissingStorageClass);
    assert_eq!(p.storage_class.as_deref(), Some("fast-ssd"));
    assert_eq!(p.claim.as_deref(), Some("data-cv-mysql-0"));
    assert!(p.pod.is_none());
    assert_eq!(p.subject(), "claim data-cv-mysql-0");
    let t = Thresholds::default();
    assert!(!t.is_terminal(&p, 9 * SEC));
    assert!(t.is_terminal(&p, 10 * SEC));
    // Unknown classes (no RBAC to list them): not called missing.
    assert!(claim_problem(&pvc, &StorageClasses::unknown()).is_none());

    let on_pod = pod_problems(
        &pending_pod_with_claim(),
        &claims_with(pvc),
        &test_classes(),
    );
    assert_eq!(on_pod.len(), 1);
    assert_eq!(on_pod[0].pod.as_deref(), Some("cv-mysql-0"));
    assert_eq!(
        on_pod[0].subject(),
        "pod cv-mysql-0 (claim data-cv-mysql-0)"
    );
}

#[test]
fn claim_waiting_for_first_consumer_is_fine() {
    let pvc = fixture("pvc-pending.json");
    assert!(claim_problem(&pvc, &test_classes()).is_none());
    assert!(claim_problem(&pvc, &StorageClasses::unknown()).is_none());
    let selected = set(
        pvc,
        "/metadata/annotations",
        json!({"volume.kubernetes.io/selected-node": "simnode-1"}),
    );
    let p = claim_problem(&selected, &test_classes()).unwrap();
    assert_eq!(p.kind, ProblemKind::ClaimPending);
    assert!(
        p.message.contains("provisioner stackctl.dev/simnode"),
        "{}",
        p.message
    );
}

#[test]
fn claim_on_immediate_class_pending() {
    let pvc = set(
        fixture("pvc-pending.json"),
        "/spec/storageClassName",
        json!("standard-immediate"),
    );
    let p = claim_problem(&pvc, &test_classes()).unwrap();
    assert_eq!(p.kind, ProblemKind::ClaimPending);
    let t = Thresholds::default();
    assert!(!t.is_terminal(&p, 59 * SEC));
    assert!(t.is_terminal(&p, 60 * SEC));
    // A running pod's claims are bound by definition; only pending pods are checked.
    let running = pod_problems(
        &fixture("pod-ready.json"),
        &claims_with(pvc.clone()),
        &test_classes(),
    );
    assert!(running.is_empty());
    let pending = pod_problems(
        &pending_pod_with_claim(),
        &claims_with(pvc),
        &test_classes(),
    );
    assert_eq!(pending[0].kind, ProblemKind::ClaimPending);
}

#[test]
fn claim_bound_lost_and_static() {
    let pvc = fixture("pvc-pending.json");
    assert!(
        claim_problem(
            &set(pvc.clone(), "/status/phase", json!("Bound")),
            &test_classes()
        )
        .is_none()
    );
    let lost = claim_problem(
        &set(pvc.clone(), "/status/phase", json!("Lost")),
        &test_classes(),
    )
    .unwrap();
    assert_eq!(lost.kind, ProblemKind::ClaimLost);
    assert!(Thresholds::default().is_terminal(&lost, Duration::ZERO));
    let manual = claim_problem(
        &set(pvc.clone(), "/spec/storageClassName", json!("")),
        &test_classes(),
    )
    .unwrap();
    assert!(manual.message.contains("created by hand"));
    let no_default = claim_problem(
        &remove(pvc, "/spec/storageClassName"),
        &StorageClasses::from_classes(vec![]),
    )
    .unwrap();
    assert!(no_default.message.contains("no default StorageClass"));
}

// ---- ownership ---------------------------------------------------------------------

#[test]
fn selectors() {
    let labels = json!({"app": "web", "tier": "front", "env": "prod"});
    let yes = [
        json!({"matchLabels": {"app": "web"}}),
        json!({"app": "web"}),
        json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]}),
        json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}),
        json!({"matchExpressions": [{"key": "gone", "operator": "NotIn", "values": ["x"]}]}),
        json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}),
        json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}),
    ];
    for s in &yes {
        assert!(selector_matches(s, &labels), "{s}");
    }
    let no = [
        json!({"matchLabels": {"app": "db"}}),
        json!({}),
        json!(null),
        json!({"matchLabels": {}}),
        json!({"matchLabels": {"app": 3}}),
        json!({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}),
        json!({"matchExpressions": [{"key": "app", "operator": "Bogus"}]}),
    ];
    for s in &no {
        assert!(!selector_matches(s, &labels), "{s}");
    }
}

#[test]
fn deployment_pods_of_the_newest_template_only() {
    let d = fixture("deployment-available.json");
    let pod = |name: &str, hash: &str, created: &str| {
        let p = set(fixture("pod-crashloop.json"), "/metadata/name", json!(name));
        let p = set(p, "/metadata/labels/pod-template-hash", json!(hash));
        set(p, "/metadata/creationTimestamp", json!(created))
    };
    let pods = [
        pod("old-1", "aaa", "2026-01-01T09:00:00Z"),
        pod("new-1", "bbb", "2026-01-01T10:00:00Z"),
        pod("new-2", "bbb", "2026-01-01T10:00:01Z"),
        set(
            pod("other-ns", "bbb", "2026-01-01T10:00:02Z"),
            "/metadata/namespace",
            json!("elsewhere"),
        ),
        set(
            pod("other-app", "ccc", "2026-01-01T10:00:03Z"),
            "/metadata/labels/app.kubernetes.io~1name",
            json!("mysql"),
        ),
        set(
            pod("dying", "bbb", "2026-01-01T10:00:04Z"),
            "/metadata/deletionTimestamp",
            json!("2026-01-01T10:00:05Z"),
        ),
    ];
    let owned: Vec<&str> = owned_pods(&d, &pods).into_iter().map(json::name).collect();
    assert_eq!(owned, ["new-1", "new-2"]);
}

#[test]
fn job_and_statefulset_pods() {
    let job = fixture("job-failed.json");
    let job_pod = fixture("pod-job-failed.json");
    let by_uid = remove(job_pod.clone(), "/metadata/labels/job-name");
    let stranger = set(
        job_pod.clone(),
        "/metadata/labels",
        json!({"job-name": "other"}),
    );
    let pods = [job_pod, by_uid, stranger];
    assert_eq!(owned_pods(&job, &pods).len(), 2);

    let sts = fixture("statefulset-ready.json");
    let pods = [fixture("pod-ready.json"), fixture("pod-imagepull.json")];
    let owned = owned_pods(&sts, &pods);
    assert_eq!(owned.len(), 1);
    assert_eq!(json::name(owned[0]), "cv-mysql-0");

    let bare = fixture("pod-ready.json");
    assert_eq!(owned_pods(&bare, &pods).len(), 1);
}
