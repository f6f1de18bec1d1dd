use super::*;
use crate::faults::parse_rule;
use serde_json::json;

const STEP: Duration = Duration::from_secs(1);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

// Built like a literal: the spec goes into the pod.
#[allow(clippy::needless_pass_by_value)]
fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "ns", "uid": "u-1"},
        "spec": spec,
    }))
    .unwrap()
}

fn app() -> serde_json::Value {
    json!({"name": "app", "image": "nginx:1.25"})
}

fn job_pod(restart_policy: &str) -> Pod {
    let mut p = pod(json!({"restartPolicy": restart_policy, "containers": [app()]}));
    p.metadata.owner_references = Some(vec![
        serde_json::from_value(json!({
            "apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "j-1"
        }))
        .unwrap(),
    ]);
    p
}

fn rule(yaml: &str) -> Rule {
    parse_rule("k", yaml).unwrap()
}

fn snapshot(pod: &Pod, rule: Option<&Rule>, at: Duration) -> Snapshot {
    let plan = Plan::new(pod, rule);
    let sim = Sim {
        pod,
        plan: &plan,
        start: Timestamp::from_second(1_700_000_000).unwrap(),
        step: STEP,
        host_ip: "10.0.0.10",
        pod_ip: "10.244.0.5",
        timing: None,
    };
    sim.at(at)
}

fn phase_of(s: &Snapshot) -> &str {
    s.status.phase.as_deref().unwrap()
}

fn condition<'a>(s: &'a Snapshot, type_: &str) -> &'a PodCondition {
    s.status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition"))
}

fn main_status(s: &Snapshot) -> &ContainerStatus {
    &s.status.container_statuses.as_ref().unwrap()[0]
}

fn init_status(s: &Snapshot) -> &ContainerStatus {
    &s.status.init_container_statuses.as_ref().unwrap()[0]
}

fn waiting_reason(c: &ContainerStatus) -> Option<&str> {
    c.state.as_ref()?.waiting.as_ref()?.reason.as_deref()
}

fn terminated(c: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    c.state.as_ref()?.terminated.as_ref()
}

fn last_terminated(c: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    c.last_state.as_ref()?.terminated.as_ref()
}

fn reasons(s: &Snapshot) -> Vec<&str> {
    s.events.iter().map(|e| e.reason).collect()
}

#[test]
fn normal_pod_starts_after_one_step() {
    let p = pod(json!({"containers": [app()]}));
    let s = snapshot(&p, None, Duration::ZERO);
    assert_eq!(phase_of(&s), "Pending");
    assert_eq!(waiting_reason(main_status(&s)), Some("ContainerCreating"));
    assert_eq!(condition(&s, "Initialized").status, "True");
    assert_eq!(condition(&s, "Ready").status, "False");
    assert_eq!(
        condition(&s, "Ready").reason.as_deref(),
        Some("ContainersNotReady")
    );
    assert_eq!(s.status.pod_ip.as_deref(), Some("10.244.0.5"));
    assert_eq!(s.status.host_ip.as_deref(), Some("10.0.0.10"));
    assert!(s.status.start_time.is_some());
    assert_eq!(s.next, Some(secs(0.5)), "the image pull finishes next");

    let s = snapshot(&p, None, STEP);
    assert_eq!(phase_of(&s), "Running");
    let c = main_status(&s);
    assert!(c.ready);
    assert_eq!(c.started, Some(true));
    assert_eq!(c.restart_count, 0);
    assert!(c.state.as_ref().unwrap().running.is_some());
    assert!(
        c.container_id
            .as_deref()
            .unwrap()
            .starts_with("containerd://")
    );
    assert!(c.image_id.starts_with("nginx@sha256:"), "{}", c.image_id);
    for t in ["Initialized", "ContainersReady", "Ready", "PodScheduled"] {
        assert_eq!(condition(&s, t).status, "True", "{t}");
    }
    assert_eq!(reasons(&s), ["Pulling", "Pulled", "Created", "Started"]);
    assert_eq!(s.events[2].field_path, "spec.containers{app}");
    assert_eq!(s.next, None, "nothing changes any more");
    assert!(!s.terminal);
}

#[test]
fn init_containers_run_first_and_in_order() {
    let p = pod(json!({
        "initContainers": [{"name": "init-a", "image": "busybox"}, {"name": "init-b", "image": "busybox"}],
        "containers": [app()],
    }));
    let s = snapshot(&p, None, secs(0.2));
    let inits = s.status.init_container_statuses.as_ref().unwrap();
    assert!(inits[0].state.as_ref().unwrap().running.is_some());
    assert_eq!(waiting_reason(&inits[1]), Some("PodInitializing"));
    assert_eq!(waiting_reason(main_status(&s)), Some("PodInitializing"));
    assert_eq!(phase_of(&s), "Pending");
    let init = condition(&s, "Initialized");
    assert_eq!(init.status, "False");
    assert_eq!(init.reason.as_deref(), Some("ContainersNotInitialized"));
    assert_eq!(
        init.message.as_deref(),
        Some("containers with incomplete status: [init-a init-b]")
    );

    let s = snapshot(&p, None, secs(2.2));
    let inits = s.status.init_container_statuses.as_ref().unwrap();
    for i in inits {
        let t = terminated(i).expect("init container finished");
        assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
        assert!(i.ready, "a completed init container reports ready");
    }
    assert_eq!(condition(&s, "Initialized").status, "True");
    assert_eq!(waiting_reason(main_status(&s)), Some("PodInitializing"));
    assert_eq!(phase_of(&s), "Pending");

    let s = snapshot(&p, None, secs(3.0));
    assert_eq!(phase_of(&s), "Running");
    assert_eq!(condition(&s, "Ready").status, "True");
    assert!(
        s.events
            .iter()
            .any(|e| e.field_path == "spec.initContainers{init-b}" && e.reason == "Started")
    );
}

#[test]
fn job_pods_succeed() {
    let p = job_pod("Never");
    let s = snapshot(&p, None, secs(1.5));
    assert_eq!(phase_of(&s), "Running");
    let s = snapshot(&p, None, secs(2.0));
    assert_eq!(phase_of(&s), "Succeeded");
    assert!(s.terminal);
    assert_eq!(s.next, None);
    let t = terminated(main_status(&s)).unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    assert!(t.started_at.is_some() && t.finished_at.is_some());
    assert!(!main_status(&s).ready);
    for t in ["Initialized", "Ready", "ContainersReady"] {
        assert_eq!(
            condition(&s, t).reason.as_deref(),
            Some("PodCompleted"),
            "{t}"
        );
    }
    assert_eq!(condition(&s, "Ready").status, "False");
    assert_eq!(condition(&s, "Initialized").status, "True");
}

/// A `message` rule stands in for what the container would write to its
/// termination log: the result line of a backup script, for one.
#[test]
fn finished_containers_carry_the_messages_a_rule_gives() {
    let mut p = job_pod("Never");
    p.spec.as_mut().unwrap().init_containers = Some(vec![
        serde_json::from_value(json!({"name": "mysql", "image": "mysql:8.4"})).unwrap(),
    ]);
    let r = rule("{pods: 'web-*', fault: message, messages: {mysql: '{\"bytes\":3}', app: done}}");
    let s = snapshot(&p, Some(&r), secs(10.0));
    assert_eq!(phase_of(&s), "Succeeded");
    let init = terminated(init_status(&s)).unwrap();
    assert_eq!(init.message.as_deref(), Some("{\"bytes\":3}"));
    assert_eq!(init.exit_code, 0);
    assert_eq!(
        terminated(main_status(&s)).unwrap().message.as_deref(),
        Some("done")
    );
    // Without the rule, no message.
    let s = snapshot(&p, None, secs(10.0));
    assert_eq!(terminated(init_status(&s)).unwrap().message, None);
}

#[test]
fn crashloop_restarts_with_growing_count() {
    let p = pod(json!({"containers": [app()]}));
    let r = rule("{pods: 'web-*', fault: crashloop, exitCode: 3}");
    // Runs 1..2s, restarts at once, runs 2..3s, then backs off 10s, 20s, 40s...
    let s = snapshot(&p, Some(&r), secs(2.5));
    assert_eq!(main_status(&s).restart_count, 1);
    assert!(main_status(&s).state.as_ref().unwrap().running.is_some());

    let s = snapshot(&p, Some(&r), secs(4.0));
    let c = main_status(&s);
    assert_eq!(phase_of(&s), "Running");
    assert_eq!(waiting_reason(c), Some("CrashLoopBackOff"));
    let msg = c
        .state
        .as_ref()
        .unwrap()
        .waiting
        .as_ref()
        .unwrap()
        .message
        .as_deref()
        .unwrap();
    assert_eq!(
        msg,
        "back-off 10s restarting failed container=app pod=web-0_ns(u-1)"
    );
    assert_eq!(c.restart_count, 1);
    assert!(!c.ready);
    let last = last_terminated(c).unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (3, Some("Error")));
    assert_eq!(condition(&s, "Ready").status, "False");
    assert_eq!(
        condition(&s, "Ready").reason.as_deref(),
        Some("ContainersNotReady")
    );
    assert_eq!(
        condition(&s, "ContainersReady").message.as_deref(),
        Some("containers with unready status: [app]")
    );
    let backoff = s.events.iter().find(|e| e.reason == "BackOff").unwrap();
    assert!(backoff.warning);
    assert_eq!(backoff.message, "Back-off restarting failed container");
    assert_eq!(s.next, Some(secs(13.0)));

    // Restart 2 at 13s, then 34s, 75s, 156s, 317s, 618s (7, the first after a capped
    // 300s back-off), 919s (8).
    let s = snapshot(&p, Some(&r), secs(20.0));
    assert_eq!(main_status(&s).restart_count, 2);
    assert_eq!(waiting_reason(main_status(&s)), Some("CrashLoopBackOff"));
    let s = snapshot(&p, Some(&r), secs(40.0));
    assert_eq!(main_status(&s).restart_count, 3);
    let s = snapshot(&p, Some(&r), secs(900.0));
    assert_eq!(main_status(&s).restart_count, 7);
    let s = snapshot(&p, Some(&r), secs(930.0));
    assert_eq!(main_status(&s).restart_count, 8);
    assert_eq!(phase_of(&s), "Running");
    assert!(!s.terminal);
}

#[test]
fn crashloop_without_exit_code_uses_one() {
    let p = pod(json!({"containers": [app()]}));
    let r = rule("{pods: 'web-0', fault: crashloop}");
    let s = snapshot(&p, Some(&r), secs(5.0));
    assert_eq!(last_terminated(main_status(&s)).unwrap().exit_code, 1);
}

#[test]
fn exit_code_fails_never_pods() {
    let p = job_pod("Never");
    let r = rule("{pods: 'web-*', fault: exit-code, exitCode: 42}");
    let s = snapshot(&p, Some(&r), secs(1.5));
    assert_eq!(phase_of(&s), "Running");
    let s = snapshot(&p, Some(&r), secs(2.0));
    assert_eq!(phase_of(&s), "Failed");
    assert!(s.terminal);
    let t = terminated(main_status(&s)).unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (42, Some("Error")));
    assert_eq!(
        condition(&s, "Ready").reason.as_deref(),
        Some("ContainersNotReady")
    );
}

#[test]
fn exit_code_crashloops_restartable_pods() {
    for p in [job_pod("OnFailure"), pod(json!({"containers": [app()]}))] {
        let r = rule("{pods: 'web-*', fault: exit-code, exitCode: 7}");
        let s = snapshot(&p, Some(&r), secs(4.0));
        assert_eq!(phase_of(&s), "Running");
        assert_eq!(waiting_reason(main_status(&s)), Some("CrashLoopBackOff"));
        assert_eq!(last_terminated(main_status(&s)).unwrap().exit_code, 7);
    }
}

#[test]
fn image_pull_backs_off() {
    let p = pod(json!({"containers": [app()]}));
    let r = rule("{pods: 'web-0', fault: image-pull}");
    let s = snapshot(&p, Some(&r), secs(0.2));
    assert_eq!(waiting_reason(main_status(&s)), Some("ContainerCreating"));

    let s = snapshot(&p, Some(&r), secs(0.6));
    assert_eq!(phase_of(&s), "Pending");
    let c = main_status(&s);
    assert_eq!(waiting_reason(c), Some("ErrImagePull"));
    assert!(
        c.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .message
            .as_deref()
            .unwrap()
            .starts_with("rpc error:")
    );
    assert_eq!(c.image_id, "");
    assert!(c.container_id.is_none());
    let failed: Vec<&str> = s
        .events
        .iter()
        .filter(|e| e.reason == "Failed")
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(
        failed[0].starts_with("Failed to pull image \"nginx:1.25\": rpc error:"),
        "{}",
        failed[0]
    );
    assert_eq!(failed[1], "Error: ErrImagePull");

    let s = snapshot(&p, Some(&r), secs(2.0));
    let w = main_status(&s)
        .state
        .as_ref()
        .unwrap()
        .waiting
        .clone()
        .unwrap();
    assert_eq!(w.reason.as_deref(), Some("ImagePullBackOff"));
    assert_eq!(
        w.message.as_deref(),
        Some("Back-off pulling image \"nginx:1.25\"")
    );
    assert!(reasons(&s).contains(&"BackOff"));
    assert_eq!(phase_of(&s), "Pending");
    assert_eq!(condition(&s, "Ready").status, "False");

    // It keeps retrying: ErrImagePull again after the back-off, then back off longer.
    let s = snapshot(&p, Some(&r), secs(12.2));
    assert_eq!(waiting_reason(main_status(&s)), Some("ErrImagePull"));
    assert_eq!(reasons(&s).iter().filter(|r| **r == "Pulling").count(), 2);
    let s = snapshot(&p, Some(&r), secs(3600.0));
    assert_eq!(phase_of(&s), "Pending");
    assert!(s.next.is_some());
}

#[test]
fn never_ready_runs_but_is_never_ready() {
    let mut p = pod(json!({"containers": [{
        "name": "app", "image": "nginx",
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}
    }]}));
    p.metadata.name = Some("api-1".into());
    let r = rule("{pods: 'api-*', fault: never-ready}");
    for t in [2.0, 30.0, 3600.0] {
        let s = snapshot(&p, Some(&r), secs(t));
        assert_eq!(phase_of(&s), "Running");
        let c = main_status(&s);
        assert!(!c.ready);
        assert_eq!(c.started, Some(true));
        assert!(c.state.as_ref().unwrap().running.is_some());
        assert_eq!(condition(&s, "Ready").status, "False");
        let unhealthy = s.events.iter().find(|e| e.reason == "Unhealthy").unwrap();
        assert!(unhealthy.warning);
        assert_eq!(
            unhealthy.message,
            "Readiness probe failed: Get \"http://10.244.0.5:8080/healthz\": dial tcp 10.244.0.5:8080: connect: connection refused"
        );
        assert!(s.next.is_some(), "the probe keeps failing");
    }
}

#[test]
fn slow_becomes_ready_after_delay() {
    let p = pod(json!({"containers": [app()]}));
    let r = rule("{pods: 'web-0', fault: slow, delaySeconds: 12}");
    let s = snapshot(&p, Some(&r), secs(12.9));
    assert_eq!(phase_of(&s), "Running");
    assert!(!main_status(&s).ready);
    assert_eq!(condition(&s, "Ready").status, "False");
    assert_eq!(s.next, Some(secs(13.0)));
    let s = snapshot(&p, Some(&r), secs(13.0));
    assert!(main_status(&s).ready);
    assert_eq!(condition(&s, "Ready").status, "True");
    assert_eq!(s.next, None);
}

#[test]
fn init_container_crashloop_keeps_pod_pending() {
    let p = pod(json!({
        "initContainers": [{"name": "wait", "image": "busybox"}],
        "containers": [app()],
    }));
    let r = rule("{pods: 'web-0', fault: crashloop}");
    let s = snapshot(&p, Some(&r), secs(30.0));
    assert_eq!(phase_of(&s), "Pending");
    let i = init_status(&s);
    assert_eq!(waiting_reason(i), Some("CrashLoopBackOff"));
    assert!(i.restart_count >= 2);
    assert_eq!(last_terminated(i).unwrap().exit_code, 1);
    assert_eq!(waiting_reason(main_status(&s)), Some("PodInitializing"));
    assert_eq!(condition(&s, "Initialized").status, "False");
    assert!(
        s.events
            .iter()
            .any(|e| e.reason == "BackOff" && e.field_path == "spec.initContainers{wait}")
    );
}

#[test]
fn init_container_failure_fails_never_pods() {
    let p = pod(json!({
        "restartPolicy": "Never",
        "initContainers": [{"name": "wait", "image": "busybox"}],
        "containers": [app()],
    }));
    let r = rule("{pods: 'web-0', fault: exit-code, exitCode: 2}");
    let s = snapshot(&p, Some(&r), secs(1.0));
    assert_eq!(phase_of(&s), "Failed");
    assert_eq!(terminated(init_status(&s)).unwrap().exit_code, 2);
}

#[test]
fn readiness_faults_spare_init_containers() {
    let p = pod(json!({
        "initContainers": [{"name": "wait", "image": "busybox"}],
        "containers": [app()],
    }));
    let r = rule("{pods: 'web-0', fault: never-ready}");
    let s = snapshot(&p, Some(&r), secs(5.0));
    assert_eq!(condition(&s, "Initialized").status, "True");
    assert_eq!(phase_of(&s), "Running");
    assert!(!main_status(&s).ready);
}

#[test]
fn container_glob_limits_the_fault() {
    let p = pod(json!({"containers": [app(), {"name": "sidecar", "image": "envoy"}]}));
    let r = rule("{pods: 'web-0', fault: image-pull, containers: side*}");
    let s = snapshot(&p, Some(&r), secs(5.0));
    let cs = s.status.container_statuses.as_ref().unwrap();
    assert!(cs[0].ready);
    assert_eq!(waiting_reason(&cs[1]), Some("ImagePullBackOff"));
    // kubelet: any container still waiting to start keeps the pod Pending.
    assert_eq!(phase_of(&s), "Pending");
    assert_eq!(
        condition(&s, "Ready").message.as_deref(),
        Some("containers with unready status: [sidecar]")
    );
}

#[test]
fn next_is_always_in_the_future() {
    let rules = [
        None,
        Some(rule("{pods: '*', fault: crashloop}")),
        Some(rule("{pods: '*', fault: image-pull}")),
        Some(rule("{pods: '*', fault: never-ready}")),
        Some(rule("{pods: '*', fault: slow, delaySeconds: 3}")),
    ];
    let pods = [
        pod(json!({"initContainers": [{"name": "i", "image": "b"}], "containers": [app()]})),
        job_pod("OnFailure"),
        job_pod("Never"),
    ];
    for p in &pods {
        for r in &rules {
            let mut t = Duration::ZERO;
            while t < secs(120.0) {
                let s = snapshot(p, r.as_ref(), t);
                if let Some(n) = s.next {
                    assert!(n > t, "next {n:?} not after {t:?} ({r:?})");
                }
                t += secs(0.25);
            }
        }
    }
}

#[test]
fn zero_step_does_not_spin() {
    let p = job_pod("Never");
    let plan = Plan::new(&p, None);
    let sim = Sim {
        pod: &p,
        plan: &plan,
        start: Timestamp::now(),
        step: Duration::ZERO,
        host_ip: "h",
        pod_ip: "p",
        timing: None,
    };
    assert_eq!(
        sim.at(Duration::ZERO).status.phase.as_deref(),
        Some("Succeeded")
    );
}

#[test]
fn transitions_keep_their_time_when_status_is_unchanged() {
    let p = pod(json!({"containers": [app()]}));
    let first = snapshot(&p, None, secs(1.0)).status;
    let mut later = snapshot(&p, None, secs(100.0)).status;
    assert_ne!(first, later);
    carry_transitions(Some(&first), &mut later);
    assert_eq!(first, later);

    let pending = snapshot(&p, None, Duration::ZERO).status;
    let mut running = snapshot(&p, None, secs(5.0)).status;
    carry_transitions(Some(&pending), &mut running);
    let ready = |s: &PodStatus| {
        s.conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap()
            .last_transition_time
            .clone()
    };
    assert_ne!(
        ready(&pending),
        ready(&running),
        "Ready flipped, so its time moves"
    );
}

#[test]
fn scheduler_condition_is_kept() {
    let mut p = pod(json!({"containers": [app()]}));
    p.status = Some(serde_json::from_value(json!({
        "phase": "Pending",
        "qosClass": "BestEffort",
        "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}]
    }))
    .unwrap());
    let s = snapshot(&p, None, secs(2.0));
    let sched = condition(&s, "PodScheduled");
    assert_eq!(
        sched.last_transition_time.as_ref().unwrap().0.as_second(),
        1_577_836_800
    );
    assert_eq!(s.status.qos_class.as_deref(), Some("BestEffort"));
}

#[test]
fn helpers() {
    assert_eq!(backoff(0), Duration::ZERO);
    assert_eq!(backoff(1), secs(10.0));
    assert_eq!(backoff(2), secs(20.0));
    assert_eq!(backoff(3), secs(40.0));
    assert_eq!(backoff(6), secs(300.0));
    assert_eq!(backoff(100), secs(300.0));
    assert_eq!(go_duration(secs(0.5)), "500ms");
    assert_eq!(go_duration(secs(10.0)), "10s");
    assert_eq!(go_duration(secs(1.25)), "1.25s");
    assert_eq!(go_duration(secs(90.0)), "1m30s");
    assert!(image_id("registry:5000/team/app:v1").starts_with("registry:5000/team/app@sha256:"));
    assert!(image_id("redis@sha256:abc").starts_with("redis@sha256:"));
    assert_eq!(image_id("redis").len(), "redis@sha256:".len() + 64);
}
