use std::time::Duration;

use serde_json::json;

use super::*;
use crate::model::Phase;
use crate::wait::fixtures::{fixture, remove, set};
use crate::wait::pods::ProblemKind;
use crate::wait::storage::test_classes;

fn manifest_of(obj: &Value, component: &str) -> Manifest {
    Manifest {
        api_version: json::str_at(obj, "apiVersion").unwrap().to_string(),
        kind: json::str_at(obj, "kind").unwrap().to_string(),
        name: json::name(obj).to_string(),
        namespace: json::namespace(obj).map(str::to_string),
        component: component.to_string(),
        phase: Phase::Data,
        body: obj.clone(),
    }
}

fn secret() -> Value {
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": "cv-mysql", "namespace": "demo", "labels": {"stackctl.dev/release": "cv"}}})
}

/// A tracker over the given objects with every stream listed (synced) and empty.
fn synced(manifests: &[Manifest]) -> Tracker {
    let mut t = Tracker::new(manifests, Thresholds::default());
    t.set_classes(test_classes());
    for i in 0..t.sources().len() {
        t.apply(i, Change::Init);
        t.apply(i, Change::InitDone);
    }
    t
}

fn source_of(t: &Tracker, f: impl Fn(&Source) -> bool) -> usize {
    t.sources().iter().position(f).expect("source")
}

fn objects_source(t: &Tracker, kind: &str) -> usize {
    source_of(
        t,
        |s| matches!(s, Source::Objects { kind: k, .. } if k == kind),
    )
}

fn pods_source(t: &Tracker) -> usize {
    source_of(t, |s| matches!(s, Source::Pods { .. }))
}

#[test]
fn sources_select_the_release_and_need_no_watch_for_secrets() {
    let sts = fixture("statefulset-ready.json");
    let t = Tracker::new(
        &[manifest_of(&sts, "mysql"), manifest_of(&secret(), "mysql")],
        Thresholds::default(),
    );
    assert_eq!(
        t.sources(),
        [
            Source::Objects {
                api_version: "apps/v1".into(),
                kind: "StatefulSet".into(),
                namespace: Some("demo".into()),
                selector: Selector::Label("stackctl.dev/release=cv".into()),
            },
            Source::Pods {
                namespace: "demo".into(),
                selector: Some("stackctl.dev/release=cv".into())
            },
            Source::Claims {
                namespace: "demo".into(),
                selector: Some("stackctl.dev/release=cv".into())
            },
        ]
    );
}

#[test]
fn unlabelled_manifests_are_watched_by_name() {
    let d = remove(fixture("deployment-available.json"), "/metadata/labels");
    let t = Tracker::new(&[manifest_of(&d, "web")], Thresholds::default());
    assert!(
        matches!(&t.sources()[0], Source::Objects { selector: Selector::Name(n), .. } if n == "cv-clickvisual")
    );
    assert!(matches!(
        &t.sources()[1],
        Source::Pods { selector: None, .. }
    ));
}

#[test]
fn only_secrets_are_done_at_once() {
    let mut t = Tracker::new(&[manifest_of(&secret(), "mysql")], Thresholds::default());
    let e = t.evaluate(Instant::now());
    assert!(matches!(e.verdict, Verdict::Done));
    assert_eq!(e.progress.len(), 1);
    assert_eq!((e.progress[0].done, e.progress[0].total), (1, 1));
    assert!(t.sources().is_empty());
}

#[test]
fn waits_until_listed_then_follows_events() {
    let sts = fixture("statefulset-ready.json");
    let mut t = Tracker::new(&[manifest_of(&sts, "mysql")], Thresholds::default());
    let now = Instant::now();
    let e = t.evaluate(now);
    assert!(matches!(e.verdict, Verdict::Waiting));
    assert_eq!(e.progress[0].message, "waiting for the first status");

    let s = objects_source(&t, "StatefulSet");
    t.apply(s, Change::Init);
    let fresh = remove(sts.clone(), "/status");
    t.apply(s, Change::InitApply(fresh));
    t.apply(s, Change::InitDone);
    let e = t.evaluate(now);
    assert!(matches!(e.verdict, Verdict::Waiting));
    assert_eq!(e.progress[0].message, "Replicas: 0/1");
    assert_eq!(e.progress[0].ready, Some((0, 1)));

    // Nothing changed: no progress repeated.
    assert!(t.evaluate(now).progress.is_empty());

    t.apply(s, Change::Apply(sts));
    let e = t.evaluate(now);
    assert!(matches!(e.verdict, Verdict::Done));
    assert_eq!(e.progress[0].state, State::Current);
    assert_eq!(e.progress[0].done, 1);
}

#[test]
fn deleted_object_is_not_found() {
    let sts = fixture("statefulset-ready.json");
    let mut t = synced(&[manifest_of(&sts, "mysql")]);
    let s = objects_source(&t, "StatefulSet");
    t.apply(s, Change::Apply(sts.clone()));
    assert!(matches!(t.evaluate(Instant::now()).verdict, Verdict::Done));
    t.apply(s, Change::Delete(sts));
    t.evaluate(Instant::now());
    assert_eq!(t.status_of(0).state, State::NotFound);
    // A re-list that no longer has it says the same.
    t.apply(s, Change::Init);
    t.apply(s, Change::InitDone);
    t.evaluate(Instant::now());
    assert_eq!(t.status_of(0).state, State::NotFound);
}

fn not_ready_deployment() -> Value {
    set(
        fixture("deployment-available.json"),
        "/status/readyReplicas",
        json!(1),
    )
}

#[test]
fn crash_loop_fails_fast_once_restarts_reach_the_threshold() {
    let d = not_ready_deployment();
    let mut t = synced(&[manifest_of(&d, "clickvisual")]);
    t.apply(objects_source(&t, "Deployment"), Change::Apply(d));
    let pods = pods_source(&t);
    let once = set(
        fixture("pod-crashloop.json"),
        "/status/containerStatuses/0/restartCount",
        json!(1),
    );
    t.apply(pods, Change::Apply(once));
    let now = Instant::now();
    let e = t.evaluate(now);
    assert!(matches!(e.verdict, Verdict::Waiting));
    let problem = e.progress[0].problem.as_deref().unwrap();
    assert!(problem.contains("CrashLoopBackOff"), "{problem}");
    assert!(
        e.next_check.is_none(),
        "crash loops are judged by restarts, not time"
    );

    t.apply(pods, Change::Apply(fixture("pod-crashloop.json")));
    let Verdict::Failed(f) = t.evaluate(now).verdict else {
        panic!("expected failure")
    };
    let p = f[0].problem.as_ref().unwrap();
    assert_eq!((p.kind, p.exit_code), (ProblemKind::CrashLoop, Some(3)));
    let d = t.diagnose(f[0].object, Some(p));
    assert_eq!(d.pod.as_deref(), Some("cv-clickvisual-6d9f7c8b5d-x7k2p"));
}

#[test]
fn image_pull_becomes_final_after_its_grace_and_ages_survive_reason_flips() {
    let d = not_ready_deployment();
    let mut t = synced(&[manifest_of(&d, "clickvisual")]);
    t.apply(objects_source(&t, "Deployment"), Change::Apply(d));
    let pods = pods_source(&t);
    let pod = |reason: &str| {
        set(
            fixture("pod-crashloop.json"),
            "/status/containerStatuses/0/state",
            json!({"waiting": {"reason": reason, "message": "not found"}}),
        )
    };
    let start = Instant::now();
    t.apply(pods, Change::Apply(pod("ErrImagePull")));
    let e = t.evaluate(start);
    assert!(matches!(e.verdict, Verdict::Waiting));
    assert_eq!(e.next_check, Some(start + pods::IMAGE_PULL_GRACE));

    t.apply(pods, Change::Apply(pod("ImagePullBackOff")));
    let e = t.evaluate(start + Duration::from_secs(20));
    assert!(matches!(e.verdict, Verdict::Waiting));
    assert_eq!(
        e.next_check,
        Some(start + pods::IMAGE_PULL_GRACE),
        "age kept across reasons"
    );
    assert!(matches!(
        t.evaluate(start + Duration::from_secs(30)).verdict,
        Verdict::Failed(_)
    ));
}

#[test]
fn a_recovered_problem_starts_afresh() {
    let d = not_ready_deployment();
    let mut t = synced(&[manifest_of(&d, "clickvisual")]);
    t.apply(objects_source(&t, "Deployment"), Change::Apply(d));
    let pods = pods_source(&t);
    let start = Instant::now();
    let pulling = set(
        fixture("pod-crashloop.json"),
        "/status/containerStatuses/0/state",
        json!({"waiting": {"reason": "ErrImagePull"}}),
    );
    t.apply(pods, Change::Apply(pulling.clone()));
    t.evaluate(start);
    t.apply(pods, Change::Apply(fixture("pod-ready.json")));
    t.apply(pods, Change::Delete(pulling.clone()));
    t.evaluate(start + Duration::from_secs(25));
    t.apply(pods, Change::Apply(pulling));
    let e = t.evaluate(start + Duration::from_secs(35));
    assert!(
        matches!(e.verdict, Verdict::Waiting),
        "the clock restarted at 35s"
    );
}

#[test]
fn problems_of_other_workloads_pods_do_not_count() {
    let d = not_ready_deployment();
    let mut t = synced(&[manifest_of(&d, "clickvisual")]);
    t.apply(objects_source(&t, "Deployment"), Change::Apply(d));
    let stranger = set(
        fixture("pod-crashloop.json"),
        "/metadata/labels/app.kubernetes.io~1name",
        json!("redis"),
    );
    t.apply(pods_source(&t), Change::Apply(stranger));
    assert!(matches!(
        t.evaluate(Instant::now()).verdict,
        Verdict::Waiting
    ));
}

#[test]
fn failed_job_uses_its_pods_exit_code() {
    let job = fixture("job-failed.json");
    let mut t = synced(&[manifest_of(&job, "mysql")]);
    t.apply(objects_source(&t, "Job"), Change::Apply(job));
    t.apply(
        pods_source(&t),
        Change::Apply(fixture("pod-job-failed.json")),
    );
    let Verdict::Failed(f) = t.evaluate(Instant::now()).verdict else {
        panic!("expected failure")
    };
    let d = t.diagnose(f[0].object, f[0].problem.as_ref());
    assert_eq!(d.object, "Job/cv-mysql-init");
    assert_eq!(d.reason, "JobPodFailed (exit code 42)");
    assert!(d.detail.starts_with("BackoffLimitExceeded"), "{}", d.detail);
    let subjects = t.event_subjects(f[0].object, &d);
    assert_eq!(subjects.len(), 2);
    assert_eq!(subjects[0].0, "cv-mysql-init-8xq2z");
    assert_eq!(
        subjects[0].1.as_deref(),
        Some("55555555-2222-4333-8444-555555555555")
    );
    assert_eq!(subjects[1].0, "cv-mysql-init");
}

#[test]
fn claim_with_missing_class_fails_after_its_grace() {
    let pvc = set(
        fixture("pvc-pending.json"),
        "/spec/storageClassName",
        json!("fast-ssd"),
    );
    let mut t = synced(&[manifest_of(&pvc, "mysql")]);
    t.apply(
        objects_source(&t, "PersistentVolumeClaim"),
        Change::Apply(pvc),
    );
    let start = Instant::now();
    let e = t.evaluate(start);
    assert!(matches!(e.verdict, Verdict::Waiting));
    assert_eq!(e.next_check, Some(start + pods::MISSING_CLASS_GRACE));
    let Verdict::Failed(f) = t.evaluate(start + pods::MISSING_CLASS_GRACE).verdict else {
        panic!("expected failure")
    };
    let d = t.diagnose(f[0].object, f[0].problem.as_ref());
    assert!(
        d.remedy.contains("available: standard, standard-immediate"),
        "{}",
        d.remedy
    );
}

#[test]
fn claim_of_wait_for_first_consumer_class_is_done() {
    let pvc = fixture("pvc-pending.json");
    let mut t = synced(&[manifest_of(&pvc, "mysql")]);
    t.apply(
        objects_source(&t, "PersistentVolumeClaim"),
        Change::Apply(pvc),
    );
    assert!(matches!(t.evaluate(Instant::now()).verdict, Verdict::Done));
}

#[test]
fn timeout_diagnosis_for_a_pod_that_never_gets_ready() {
    let sts = set(
        fixture("statefulset-ready.json"),
        "/status/readyReplicas",
        json!(0),
    );
    let mut t = synced(&[manifest_of(&sts, "mysql"), manifest_of(&secret(), "mysql")]);
    t.apply(objects_source(&t, "StatefulSet"), Change::Apply(sts));
    let pod = set(
        set(
            fixture("pod-ready.json"),
            "/status/conditions/1/status",
            json!("False"),
        ),
        "/status/containerStatuses/0/ready",
        json!(false),
    );
    t.apply(pods_source(&t), Change::Apply(pod));
    assert!(matches!(
        t.evaluate(Instant::now()).verdict,
        Verdict::Waiting
    ));
    assert_eq!(t.not_current(), [0]);
    assert_eq!(t.waiting(), ["StatefulSet/cv-mysql"]);
    let d = t.diagnose(0, None);
    assert_eq!(d.reason, "NotReady");
    assert_eq!(d.pod.as_deref(), Some("cv-mysql-0"));
}

#[test]
fn unsynced_source_diagnosis_reports_the_watch_error() {
    let sts = fixture("statefulset-ready.json");
    let mut t = Tracker::new(&[manifest_of(&sts, "mysql")], Thresholds::default());
    t.watch_error(0, "connection refused".into());
    let e = t.evaluate(Instant::now());
    assert_eq!(
        e.progress[0].message,
        "cannot watch yet: connection refused"
    );
    let d = t.diagnose(0, None);
    assert_eq!(d.reason, "WatchFailed");
    assert!(
        d.detail
            .contains("StatefulSet in namespace demo: connection refused")
    );
}
