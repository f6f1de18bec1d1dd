//! What a pod looks like at a given moment: a pure function of the pod, its fault plan
//! and the time elapsed since the simulated kubelet picked it up.
//!
//! Keeping this free of I/O means the whole timeline (init containers, start-up delay,
//! crash loops, image pull back-off, Job completion) is unit-testable, and that a
//! restarted simnode recomputes the same state from `status.startTime` instead of
//! needing any memory of its own.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod, PodCondition, PodIP, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

use crate::faults::{FaultKind, Rule};
use crate::timing::{self, Prep, Timeline, Wait};

/// The kubelet's back-off for restarting a crashed container and for retrying an image
/// pull: 10 s, doubling, at most 5 min (kubernetes v1.20.2, pkg/kubelet/kubelet.go:
/// `backOffPeriod = time.Second * 10`, `MaxContainerBackOff = 300 * time.Second`).
/// Not compressed: an installer re-run in the middle of a crash loop meets the real
/// back-off, and how it copes with that is what the tests are for.
const BACKOFF_BASE: Duration = Duration::from_secs(10);
const BACKOFF_CAP: Duration = Duration::from_mins(5);
/// How often a failing readiness probe is reported, like a 10s `periodSeconds`.
const PROBE_PERIOD: Duration = Duration::from_secs(10);
/// ErrImagePull stays visible at least this long before it turns into ImagePullBackOff.
const MIN_PULL_ERROR: Duration = Duration::from_secs(1);

/// How one container behaves, after applying the pod's fault rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Normal,
    /// Runs for one step, then exits with this code; restarted per `restartPolicy`.
    Exit(i32),
    NeverReady,
    ImagePull,
    /// Becomes ready this long after it started.
    Slow(Duration),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub init: Vec<Behavior>,
    pub main: Vec<Behavior>,
    /// Job pods run to completion; everything else is a long-running server.
    pub runs_to_completion: bool,
    /// Termination messages by container name (a `message` rule).
    pub messages: std::collections::BTreeMap<String, String>,
}

impl Plan {
    pub fn new(pod: &Pod, rule: Option<&Rule>) -> Self {
        let spec = pod.spec.as_ref();
        let behaviors = |cs: Option<&Vec<Container>>, init: bool| {
            cs.map(|cs| cs.iter().map(|c| behavior(rule, &c.name, init)).collect())
                .unwrap_or_default()
        };
        Self {
            init: behaviors(spec.and_then(|s| s.init_containers.as_ref()), true),
            main: behaviors(spec.map(|s| &s.containers), false),
            runs_to_completion: is_job_pod(pod),
            messages: rule
                .filter(|r| r.kind == FaultKind::Message)
                .map(|r| r.messages.clone())
                .unwrap_or_default(),
        }
    }
}

pub fn is_job_pod(pod: &Pod) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Job")
}

/// Readiness faults only make sense for app containers: init containers cannot have
/// readiness probes, so `never-ready` and `slow` leave them alone.
fn behavior(rule: Option<&Rule>, container: &str, init: bool) -> Behavior {
    let Some(rule) = rule.filter(|r| r.matches_container(container)) else {
        return Behavior::Normal;
    };
    match rule.kind {
        FaultKind::CrashLoop | FaultKind::ExitCode => Behavior::Exit(rule.exit_code),
        FaultKind::ImagePull => Behavior::ImagePull,
        FaultKind::NeverReady if !init => Behavior::NeverReady,
        FaultKind::Slow if !init => Behavior::Slow(rule.delay),
        _ => Behavior::Normal,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimEvent {
    /// Offset from the start of the simulation.
    pub at: Duration,
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
    pub field_path: String,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: PodStatus,
    /// Every event that has happened up to now, in order.
    pub events: Vec<SimEvent>,
    /// When the state next changes (or an event is due); `None` if never.
    pub next: Option<Duration>,
    pub terminal: bool,
    /// Realistic timings: the container (init or not, index) running until a Service
    /// it waits for has a ready endpoint, which only the caller can find out.
    pub blocked_on: Option<(bool, usize)>,
}

pub struct Sim<'a> {
    pub pod: &'a Pod,
    pub plan: &'a Plan,
    pub start: Timestamp,
    /// The kubelet's "work takes this long" unit: image pull + create, one init
    /// container run, one Job run.
    pub step: Duration,
    pub host_ip: &'a str,
    pub pod_ip: &'a str,
    /// Realistic timings for this pod (see `timing`); `None`: the uniform `step`.
    pub timing: Option<&'a Timeline>,
}

/// Records what has happened by `now` and the earliest moment after it that matters.
struct Clock {
    now: Duration,
    next: Option<Duration>,
    events: Vec<SimEvent>,
    blocked_on: Option<(bool, usize)>,
}

impl Clock {
    fn reached(&mut self, when: Duration) -> bool {
        if when <= self.now {
            return true;
        }
        self.next = Some(self.next.map_or(when, |n| n.min(when)));
        false
    }

    fn event(
        &mut self,
        when: Duration,
        warning: bool,
        reason: &'static str,
        message: impl FnOnce() -> String,
        field_path: &str,
    ) {
        if self.reached(when) {
            self.events.push(SimEvent {
                at: when,
                warning,
                reason,
                message: message(),
                field_path: field_path.to_owned(),
            });
        }
    }
}

struct Track<'c> {
    container: &'c Container,
    /// Position among the init or the app containers.
    index: usize,
    init: bool,
    behavior: Behavior,
    /// When the kubelet starts pulling/creating it.
    begin: Duration,
}

struct View {
    status: ContainerStatus,
    /// When and how it exited for good (no restart coming).
    finished: Option<(Duration, i32)>,
}

impl Sim<'_> {
    pub fn at(&self, now: Duration) -> Snapshot {
        let mut clock = Clock {
            now,
            next: None,
            events: Vec::new(),
            blocked_on: None,
        };
        let empty = PodSpec::default();
        let spec = self.pod.spec.as_ref().unwrap_or(&empty);
        let init_containers = spec.init_containers.as_deref().unwrap_or_default();
        let pending_reason = self.pending_reason();

        // Init containers run one after another; app containers begin once all succeed.
        let mut begin = Some(Duration::ZERO);
        let mut init_statuses = Vec::new();
        for (index, (c, b)) in init_containers.iter().zip(&self.plan.init).enumerate() {
            let status = match begin {
                Some(at) => {
                    let view = self.container(
                        &mut clock,
                        &Track {
                            container: c,
                            index,
                            init: true,
                            behavior: *b,
                            begin: at,
                        },
                    );
                    begin = match view.finished {
                        Some((done, 0)) => Some(done),
                        _ => None,
                    };
                    view.status
                }
                None => waiting_status(c, pending_reason, None),
            };
            init_statuses.push(status);
        }
        let statuses: Vec<ContainerStatus> = spec
            .containers
            .iter()
            .zip(&self.plan.main)
            .enumerate()
            .map(|(index, (c, b))| match begin {
                Some(at) => {
                    self.container(
                        &mut clock,
                        &Track {
                            container: c,
                            index,
                            init: false,
                            behavior: *b,
                            begin: at,
                        },
                    )
                    .status
                }
                None => waiting_status(c, pending_reason, None),
            })
            .collect();

        let phase = phase(spec, &init_statuses, &statuses);
        let now_time = time(self.start, now);
        let conditions = self.conditions(spec, &init_statuses, &statuses, phase, &now_time);
        let terminal = matches!(phase, "Succeeded" | "Failed");
        let existing = self.pod.status.as_ref();
        let status = PodStatus {
            phase: Some(phase.to_owned()),
            conditions: Some(conditions),
            host_ip: Some(self.host_ip.to_owned()),
            pod_ip: Some(self.pod_ip.to_owned()),
            pod_ips: Some(vec![PodIP {
                ip: self.pod_ip.to_owned(),
            }]),
            start_time: Some(time(self.start, Duration::ZERO)),
            init_container_statuses: (!init_containers.is_empty()).then_some(init_statuses),
            container_statuses: Some(statuses),
            qos_class: existing.and_then(|s| s.qos_class.clone()),
            ..PodStatus::default()
        };
        Snapshot {
            status,
            events: clock.events,
            next: if terminal { None } else { clock.next },
            terminal,
            blocked_on: clock.blocked_on,
        }
    }

    /// The realistic timings of this container, unless a fault rules it.
    fn prep(&self, track: &Track) -> Option<&Prep> {
        let t = self.timing?;
        let list = if track.init { &t.init } else { &t.main };
        list.get(track.index)
            .filter(|_| track.behavior == Behavior::Normal)
    }

    fn container(&self, clock: &mut Clock, track: &Track) -> View {
        let c = track.container;
        let image = c.image.clone().unwrap_or_default();
        let fp = field_path(track);
        if track.behavior == Behavior::ImagePull {
            return self.failing_pull(clock, track, &image, &fp);
        }

        // App containers pay one step for image pull and creation; init containers are
        // prepared while the previous one runs. Realistic timings: the image is there
        // when the node's pull lane brought it.
        let prep = self.prep(track);
        let create = match prep {
            Some(p) => p.image_at.saturating_sub(track.begin),
            None if track.init => Duration::ZERO,
            None => self.step,
        };
        let pull = if prep.is_some() { create } else { create / 2 };
        if prep.is_some() && pull.is_zero() {
            clock.event(
                track.begin,
                false,
                "Pulled",
                || format!("Container image {image:?} already present on machine"),
                &fp,
            );
        } else {
            clock.event(
                track.begin,
                false,
                "Pulling",
                || format!("Pulling image {image:?}"),
                &fp,
            );
            clock.event(
                track.begin + pull,
                false,
                "Pulled",
                || {
                    format!(
                        "Successfully pulled image {image:?} in {}",
                        go_duration(pull)
                    )
                },
                &fp,
            );
        }
        let mut started = track.begin + create;
        let pending_reason = self.pending_reason();
        if !clock.reached(started) {
            return View {
                status: waiting_status(c, pending_reason, None),
                finished: None,
            };
        }

        let runs_once = track.init || self.plan.runs_to_completion;
        let run = match prep {
            Some(p) if runs_once => match p.wait {
                // Still polling a Service with no ready endpoint: the caller finds out.
                Wait::Pending => {
                    clock.blocked_on = Some((track.init, track.index));
                    None
                }
                // A waiting init container does nothing else; a Job then does its work.
                Wait::Done(at) if track.init => Some(at.saturating_sub(started)),
                Wait::Done(at) => Some(at.saturating_sub(started) + p.startup),
                Wait::No => Some(p.startup),
            },
            Some(_) => None,
            None => self.run_time(track),
        };
        let mut restarts = 0;
        let mut last: Option<ContainerStateTerminated> = None;
        loop {
            let id = container_id(self.pod, &c.name, restarts);
            if restarts > 0 {
                clock.event(
                    started,
                    false,
                    "Pulled",
                    || format!("Container image {image:?} already present on machine"),
                    &fp,
                );
            }
            clock.event(
                started,
                false,
                "Created",
                || format!("Created container {}", c.name),
                &fp,
            );
            clock.event(
                started,
                false,
                "Started",
                || format!("Started container {}", c.name),
                &fp,
            );
            let mut status = ContainerStatus {
                name: c.name.clone(),
                image: image.clone(),
                image_id: image_id(&image),
                container_id: Some(id.clone()),
                restart_count: restarts,
                last_state: last.clone().map(|t| ContainerState {
                    terminated: Some(t),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let Some(run) = run else {
                status.state = Some(running_state(self.start, started));
                status.started = Some(true);
                status.ready = !track.init && self.ready(clock, track, started, &fp);
                return View {
                    status,
                    finished: None,
                };
            };
            let exited = started + run;
            if !clock.reached(exited) {
                status.state = Some(running_state(self.start, started));
                status.started = Some(true);
                status.ready = !track.init && track.behavior == Behavior::Normal;
                return View {
                    status,
                    finished: None,
                };
            }
            let code = match track.behavior {
                Behavior::Exit(code) => code,
                _ => 0,
            };
            let terminated = ContainerStateTerminated {
                exit_code: code,
                reason: Some(if code == 0 { "Completed" } else { "Error" }.to_owned()),
                started_at: Some(time(self.start, started)),
                finished_at: Some(time(self.start, exited)),
                container_id: Some(id),
                message: self.plan.messages.get(&c.name).cloned(),
                ..Default::default()
            };
            if !self.restarts(track.init, code) {
                // An init container that succeeded counts as ready.
                status.ready = track.init && code == 0;
                status.started = Some(false);
                status.state = Some(ContainerState {
                    terminated: Some(terminated),
                    ..Default::default()
                });
                return View {
                    status,
                    finished: Some((exited, code)),
                };
            }
            // Like kubelet, the first restart is immediate; back-off starts after that.
            let backoff = backoff(restarts);
            if !backoff.is_zero() {
                clock.event(
                    exited,
                    true,
                    "BackOff",
                    || "Back-off restarting failed container".to_owned(),
                    &fp,
                );
            }
            if !clock.reached(exited + backoff) {
                let message = format!(
                    "back-off {} restarting failed container={} pod={}",
                    go_duration(backoff),
                    c.name,
                    pod_ref(self.pod)
                );
                status.started = Some(false);
                status.state = Some(waiting("CrashLoopBackOff", Some(message)));
                status.last_state = Some(ContainerState {
                    terminated: Some(terminated),
                    ..Default::default()
                });
                return View {
                    status,
                    finished: None,
                };
            }
            started = exited + backoff;
            restarts += 1;
            last = Some(terminated);
        }
    }

    /// ErrImagePull, then ImagePullBackOff, retrying with growing back-off, forever.
    fn failing_pull(&self, clock: &mut Clock, track: &Track, image: &str, fp: &str) -> View {
        let c = track.container;
        let pending_reason = self.pending_reason();
        let rpc_error = format!(
            "rpc error: code = NotFound desc = failed to pull and unpack image {image:?}: \
             failed to resolve reference {image:?}: {image}: not found"
        );
        let backoff_message = format!("Back-off pulling image {image:?}");
        let mut attempt = 0;
        let mut pulling = track.begin;
        loop {
            clock.event(
                pulling,
                false,
                "Pulling",
                || format!("Pulling image {image:?}"),
                fp,
            );
            let failed = pulling + self.step / 2;
            if !clock.reached(failed) {
                // While a retry is in flight kubelet keeps showing the back-off.
                return View {
                    status: if attempt == 0 {
                        waiting_status(c, pending_reason, None)
                    } else {
                        waiting_status(c, "ImagePullBackOff", Some(backoff_message))
                    },
                    finished: None,
                };
            }
            clock.event(
                failed,
                true,
                "Failed",
                || format!("Failed to pull image {image:?}: {rpc_error}"),
                fp,
            );
            clock.event(
                failed,
                true,
                "Failed",
                || "Error: ErrImagePull".to_owned(),
                fp,
            );
            let backing_off = failed + self.step.max(MIN_PULL_ERROR);
            if !clock.reached(backing_off) {
                return View {
                    status: waiting_status(c, "ErrImagePull", Some(rpc_error)),
                    finished: None,
                };
            }
            clock.event(
                backing_off,
                false,
                "BackOff",
                || backoff_message.clone(),
                fp,
            );
            clock.event(
                backing_off,
                true,
                "Failed",
                || "Error: ImagePullBackOff".to_owned(),
                fp,
            );
            let retry = backing_off + backoff(attempt + 1);
            if !clock.reached(retry) {
                return View {
                    status: waiting_status(c, "ImagePullBackOff", Some(backoff_message)),
                    finished: None,
                };
            }
            pulling = retry;
            attempt += 1;
        }
    }

    /// Readiness of a container that runs forever, with the probe failures it reports.
    fn ready(&self, clock: &mut Clock, track: &Track, started: Duration, fp: &str) -> bool {
        let ready_at = match track.behavior {
            Behavior::NeverReady => None,
            Behavior::Slow(delay) => Some(started + delay),
            _ => {
                let Some(p) = self.prep(track) else {
                    return true;
                };
                // A program that waits for a Service by itself starts up once it answers.
                let waited = match p.wait {
                    Wait::Pending => {
                        clock.blocked_on = Some((false, track.index));
                        return false;
                    }
                    Wait::Done(at) => at.saturating_sub(started),
                    Wait::No => Duration::ZERO,
                };
                let c = track.container;
                return clock.reached(timing::ready_at(
                    started,
                    waited + p.startup,
                    c.readiness_probe.as_ref(),
                    c.startup_probe.as_ref(),
                ));
            }
        };
        let mut probe_at = started + self.step;
        while ready_at.is_none_or(|r| probe_at < r) && clock.reached(probe_at) {
            clock.event(
                probe_at,
                true,
                "Unhealthy",
                || probe_failure(track.container, self.pod_ip),
                fp,
            );
            probe_at += PROBE_PERIOD;
        }
        ready_at.is_some_and(|r| clock.reached(r))
    }

    fn run_time(&self, track: &Track) -> Option<Duration> {
        match track.behavior {
            Behavior::Exit(_) => Some(self.step),
            _ if track.init => Some(self.step),
            Behavior::Normal if self.plan.runs_to_completion => Some(self.step),
            Behavior::Slow(delay) if self.plan.runs_to_completion => Some(self.step.max(delay)),
            _ => None,
        }
    }

    fn restarts(&self, init: bool, code: i32) -> bool {
        match self.restart_policy() {
            "Never" => false,
            "OnFailure" => code != 0,
            // Init containers are never re-run once they succeed.
            _ => !init || code != 0,
        }
    }

    fn restart_policy(&self) -> &str {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.as_deref())
            .unwrap_or("Always")
    }

    /// kubelet shows every not-yet-created container with this reason.
    fn pending_reason(&self) -> &'static str {
        if self.plan.init.is_empty() {
            "ContainerCreating"
        } else {
            "PodInitializing"
        }
    }

    fn conditions(
        &self,
        spec: &PodSpec,
        init: &[ContainerStatus],
        main: &[ContainerStatus],
        phase: &str,
        now: &Time,
    ) -> Vec<PodCondition> {
        let completed = phase == "Succeeded";
        let condition =
            |type_: &str, ok: bool, reason: Option<&str>, message: Option<String>| PodCondition {
                type_: type_.to_owned(),
                status: if ok { "True" } else { "False" }.to_owned(),
                reason: reason.map(str::to_owned),
                message,
                last_transition_time: Some(now.clone()),
                ..Default::default()
            };

        // Mirrors kubelet's GeneratePodInitializedCondition / ContainersReady / Ready.
        let incomplete: Vec<&str> = spec
            .init_containers
            .iter()
            .flatten()
            .zip(init)
            .filter(|(_, s)| !s.ready)
            .map(|(c, _)| c.name.as_str())
            .collect();
        let initialized = if completed {
            condition("Initialized", true, Some("PodCompleted"), None)
        } else if incomplete.is_empty() {
            condition("Initialized", true, None, None)
        } else {
            let msg = format!(
                "containers with incomplete status: [{}]",
                incomplete.join(" ")
            );
            condition(
                "Initialized",
                false,
                Some("ContainersNotInitialized"),
                Some(msg),
            )
        };

        let unready: Vec<&str> = main
            .iter()
            .filter(|s| !s.ready)
            .map(|s| s.name.as_str())
            .collect();
        let (ready, reason, message) = if completed {
            (false, Some("PodCompleted"), None)
        } else if unready.is_empty() {
            (true, None, None)
        } else {
            let msg = format!("containers with unready status: [{}]", unready.join(" "));
            (false, Some("ContainersNotReady"), Some(msg))
        };

        let scheduled = self
            .pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
            .cloned()
            .unwrap_or_else(|| PodCondition {
                last_transition_time: Some(time(self.start, Duration::ZERO)),
                ..condition("PodScheduled", true, None, None)
            });

        vec![
            initialized,
            condition("Ready", ready, reason, message.clone()),
            condition("ContainersReady", ready, reason, message),
            scheduled,
        ]
    }
}

/// kubelet's getPhase, applied to the statuses we computed.
fn phase(spec: &PodSpec, init: &[ContainerStatus], main: &[ContainerStatus]) -> &'static str {
    let exit_code = |s: &ContainerState| s.terminated.as_ref().map(|t| t.exit_code);
    let mut pending_init = 0;
    let mut failed_init = 0;
    for s in init {
        let state = s.state.clone().unwrap_or_default();
        let last = s.last_state.as_ref().and_then(exit_code);
        match (exit_code(&state), state.waiting.is_some(), last) {
            (Some(code), _, _) | (None, true, Some(code)) if code != 0 => failed_init += 1,
            (Some(_), _, _) | (None, true, Some(_)) => {}
            _ => pending_init += 1,
        }
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in main {
        let state = s.state.clone().unwrap_or_default();
        if state.running.is_some() {
            running += 1;
        } else if let Some(code) = exit_code(&state) {
            stopped += 1;
            if code == 0 {
                succeeded += 1;
            }
        } else if s
            .last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .is_some()
        {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    if pending_init > 0 || waiting > 0 {
        "Pending"
    } else if running > 0 {
        "Running"
    } else if stopped > 0 {
        match policy {
            "Always" => "Running",
            _ if stopped == succeeded => "Succeeded",
            "Never" => "Failed",
            _ => "Running",
        }
    } else {
        "Pending"
    }
}

/// Keeps `lastTransitionTime` of conditions whose status did not change, so a
/// condition's age means what it means on a real cluster.
pub fn carry_transitions(prev: Option<&PodStatus>, next: &mut PodStatus) {
    let Some(prev) = prev.and_then(|p| p.conditions.as_ref()) else {
        return;
    };
    for c in next.conditions.iter_mut().flatten() {
        if let Some(old) = prev
            .iter()
            .find(|o| o.type_ == c.type_ && o.status == c.status)
        {
            c.last_transition_time.clone_from(&old.last_transition_time);
        }
    }
}

fn field_path(track: &Track) -> String {
    let list = if track.init {
        "initContainers"
    } else {
        "containers"
    };
    format!("spec.{list}{{{}}}", track.container.name)
}

fn waiting(reason: &str, message: Option<String>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_owned()),
            message,
        }),
        ..Default::default()
    }
}

fn waiting_status(c: &Container, reason: &str, message: Option<String>) -> ContainerStatus {
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_id: String::new(),
        state: Some(waiting(reason, message)),
        started: Some(false),
        ..Default::default()
    }
}

fn running_state(start: Timestamp, at: Duration) -> ContainerState {
    ContainerState {
        running: Some(ContainerStateRunning {
            started_at: Some(time(start, at)),
        }),
        ..Default::default()
    }
}

fn backoff(restarts: i32) -> Duration {
    if restarts <= 0 {
        return Duration::ZERO;
    }
    let doublings = (restarts - 1).min(8) as u32;
    (BACKOFF_BASE * 2u32.pow(doublings)).min(BACKOFF_CAP)
}

fn probe_failure(c: &Container, pod_ip: &str) -> String {
    let probe = c.readiness_probe.as_ref();
    let port = |p: &IntOrString| match p {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    };
    if let Some(http) = probe.and_then(|p| p.http_get.as_ref()) {
        let scheme = http.scheme.as_deref().unwrap_or("HTTP").to_lowercase();
        let path = http.path.as_deref().unwrap_or("/");
        let port = port(&http.port);
        return format!(
            "Readiness probe failed: Get \"{scheme}://{pod_ip}:{port}{path}\": dial tcp {pod_ip}:{port}: connect: connection refused"
        );
    }
    if let Some(tcp) = probe.and_then(|p| p.tcp_socket.as_ref()) {
        let port = port(&tcp.port);
        return format!(
            "Readiness probe failed: dial tcp {pod_ip}:{port}: connect: connection refused"
        );
    }
    if probe.and_then(|p| p.exec.as_ref()).is_some() {
        return "Readiness probe failed: command exited with non-zero status 1".to_owned();
    }
    "Readiness probe failed: HTTP probe failed with statuscode: 503".to_owned()
}

/// `name_namespace(uid)`, the way kubelet names a pod in its messages.
fn pod_ref(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!(
        "{}_{}({})",
        m.name.as_deref().unwrap_or_default(),
        m.namespace.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default()
    )
}

/// Go's time.Duration formatting for the values we produce.
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let frac = if d.subsec_millis() == 0 {
        String::new()
    } else {
        format!(".{:03}", d.subsec_millis())
            .trim_end_matches('0')
            .to_owned()
    };
    match secs {
        0..60 => format!("{secs}{frac}s"),
        _ => format!("{}m{}{frac}s", secs / 60, secs % 60),
    }
}

/// A whole-second timestamp: the API serializes `Time` at second precision, and
/// comparing against what we read back must not see phantom changes.
pub fn time(start: Timestamp, offset: Duration) -> Time {
    let at = start + offset;
    Time(Timestamp::from_second(at.as_second()).unwrap_or(at))
}

fn hex_digest(parts: &[&str]) -> String {
    let mut out = String::new();
    for round in 0u8..4 {
        let mut h = DefaultHasher::new();
        round.hash(&mut h);
        parts.hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

fn container_id(pod: &Pod, container: &str, restarts: i32) -> String {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    format!(
        "containerd://{}",
        hex_digest(&[uid, container, &restarts.to_string()])
    )
}

/// `repo@sha256:…`, the form containerd reports; the digest only depends on the image.
fn image_id(image: &str) -> String {
    let repo = match image.split_once('@') {
        Some((repo, _)) => repo,
        None => match image.rfind(':') {
            Some(i) if !image[i..].contains('/') => &image[..i],
            _ => image,
        },
    };
    format!("{repo}@sha256:{}", hex_digest(&[image]))
}

#[cfg(test)]
mod tests;
