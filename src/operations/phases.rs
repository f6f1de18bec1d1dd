//! Runs a plan: phase by phase; inside a phase each component is applied by
//! server-side apply as soon as its dependencies in the phase are ready
//! ([`schedule`]), and the phase is done when all are. The release record is
//! updated after every phase, so `status` and a post-mortem see how far it got, and
//! which components were ready, failed, not waited for or not started.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use tokio::time::Instant as TokioInstant;

use super::failure::Failure;
use super::outcome;
use super::prepull::{self, Prepull};
use super::progress::Reporter;
use super::schedule::{self, Run, Verdict};
use crate::apply::apply_all;
use crate::cluster::Resolver;
use crate::model::{Manifest, Phase};
use crate::plan::{PhasePlan, Plan, Wave};
use crate::release::record::now;
use crate::release::{
    ComponentOutcome, Outcome, PhaseResult, PhaseStatus, Record, RestartedPod, Store,
};
use crate::wait::{Baseline, WaitFailure};

/// How long the prepull waits for the first wave's pods to be on nodes.
const PLACED_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

pub struct Runner<'a> {
    pub resolver: &'a Resolver,
    pub reporter: &'a Reporter,
    pub store: &'a Store,
    /// The whole operation's deadline (`--timeout`).
    pub deadline: TokioInstant,
    /// Restart counts as the operation began (see `restart::baseline`).
    pub baseline: Arc<Baseline>,
    /// `--restart-failed`: after applying a wave, restart its stuck pods.
    pub restart_failed: bool,
    /// The release, whose pods `--restart-failed` lists.
    pub release: &'a str,
    /// `--prepull`: started once the first components of its phase are applied.
    pub prepull: Option<&'a Prepull>,
    /// Components of the prepull's phase applied so far.
    pub applied: Applied,
}

/// A count of applied components that a task can wait on.
#[derive(Debug, Default)]
pub struct Applied {
    count: std::sync::atomic::AtomicUsize,
    changed: tokio::sync::Notify,
}

impl Applied {
    fn add(&self) {
        self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    async fn reach(&self, n: usize) {
        loop {
            // Created before the check: `notify_waiters` wakes it even unpolled.
            let changed = self.changed.notified();
            if self.count.load(std::sync::atomic::Ordering::SeqCst) >= n {
                return;
            }
            changed.await;
        }
    }
}

impl Runner<'_> {
    /// Applies and waits for every phase; records each phase's result in `record`,
    /// with every component's own outcome (phases after a failure as skipped).
    pub async fn run(&self, plan: &Plan, record: &mut Record) -> Result<(), Failure> {
        for (index, phase) in plan.phases.iter().enumerate() {
            let started_at = now();
            let started = Instant::now();
            let name = phase.phase.to_string();
            let (outcome, components) = match self.prepull.filter(|p| p.phase == phase.phase) {
                Some(p) => self.run_phase_prepulling(phase, plan, record, p).await,
                None => self.run_phase(phase, &plan.dependencies, record).await,
            };
            let took = started.elapsed();
            record.phases.push(PhaseResult {
                name: name.clone(),
                status: if outcome.is_ok() {
                    PhaseStatus::Succeeded
                } else {
                    PhaseStatus::Failed
                },
                started_at,
                duration_ms: took.as_millis() as u64,
                message: outcome
                    .as_ref()
                    .err()
                    .map(Failure::detail)
                    .unwrap_or_default(),
                // Kept as data, so `status -o json` shows each object's reason and
                // remedy, not only the text.
                diagnoses: match &outcome {
                    Err(Failure::NotReady { wait, .. }) => wait
                        .diagnoses
                        .iter()
                        .filter_map(|d| serde_json::to_value(d).ok())
                        .collect(),
                    _ => Vec::new(),
                },
                components,
            });
            if outcome.is_err() {
                for later in &plan.phases[index + 1..] {
                    self.not_started(later.phase, &later.waves);
                    record.phases.push(PhaseResult {
                        name: later.phase.to_string(),
                        status: PhaseStatus::Skipped,
                        started_at: now(),
                        duration_ms: 0,
                        message: format!("not started: phase {name} failed"),
                        diagnoses: Vec::new(),
                        components: outcome::all(
                            &later.waves,
                            later.phase.as_str(),
                            Outcome::NotStarted,
                        ),
                    });
                }
            }
            // The record is best-effort here: losing a progress update must not turn a
            // good install into a failed one; the final status write is checked.
            if let Err(e) = self.store.update(record).await {
                self.reporter
                    .warn(format!("could not record phase {}: {e}", phase.phase));
            }
            outcome?;
            self.reporter.phase_done(phase.phase, took);
        }
        Ok(())
    }

    /// [`Self::run_phase`], starting the prepull once the phase's first components
    /// are applied (or when the phase is ready, if it is ready first).
    async fn run_phase_prepulling(
        &self,
        phase: &PhasePlan,
        plan: &Plan,
        record: &mut Record,
        prepull: &Prepull,
    ) -> (Result<(), Failure>, Vec<ComponentOutcome>) {
        let run = self.run_phase(phase, &plan.dependencies, record);
        let launch = async {
            self.applied.reach(prepull.after).await;
            prepull::first_pods_placed(self.resolver.client(), prepull, PLACED_WITHIN).await;
            self.start_prepull(prepull).await;
        };
        tokio::pin!(run, launch);
        let mut launched = false;
        let out = loop {
            tokio::select! {
                out = &mut run => break out,
                () = &mut launch, if !launched => launched = true,
            }
        };
        if !launched && out.0.is_ok() {
            self.start_prepull(prepull).await;
        }
        out
    }

    /// A prepull that cannot start costs only its speed: the images are pulled as
    /// their pods start, as without it.
    async fn start_prepull(&self, prepull: &Prepull) {
        match prepull::start(self.resolver.client(), prepull).await {
            Ok(()) => self.reporter.info(format!(
                "prepull: pulling {} images of later phases on every node that may run them",
                prepull.images
            )),
            Err(e) => self.reporter.warn(format!(
                "prepull did not start ({e:#}); images are pulled as their pods start"
            )),
        }
    }

    fn not_started(&self, phase: Phase, waves: &[Wave]) {
        for component in waves.iter().flat_map(|w| &w.components) {
            self.reporter.component_not_started(phase, component);
        }
    }

    /// Runs a phase's components, each as soon as its dependencies in the phase are
    /// ready ([`schedule`]); the phase's failure, if any, and each component's outcome.
    async fn run_phase(
        &self,
        phase: &PhasePlan,
        dependencies: &BTreeMap<String, Vec<String>>,
        record: &mut Record,
    ) -> (Result<(), Failure>, Vec<ComponentOutcome>) {
        let order: Vec<String> = phase
            .waves
            .iter()
            .flat_map(|w| w.components.iter().cloned())
            .collect();
        let manifests = |component: &str| -> Vec<Manifest> {
            phase
                .waves
                .iter()
                .flat_map(|w| &w.manifests)
                .filter(|m| m.component == component)
                .cloned()
                .collect()
        };
        let runs = schedule::run(
            &order,
            dependencies,
            |component| {
                let manifests = manifests(component);
                async move {
                    let run = self.run_component(phase.phase, component, &manifests).await;
                    // Said as it happens, not when the phase ends.
                    let outcome = if run.result.is_ok() {
                        Outcome::Ready
                    } else {
                        Outcome::Failed
                    };
                    self.reporter
                        .component_done(phase.phase, component, outcome);
                    run
                }
            },
            |run: &ComponentRun| match &run.result {
                Ok(()) => Verdict::Ready,
                Err(Failure::NotReady { wait, .. }) => Verdict::Failed {
                    keep_waiting: wait.kind == WaitFailure::TimedOut,
                },
                Err(_) => Verdict::Failed {
                    keep_waiting: false,
                },
            },
        )
        .await;

        let mut failures = Vec::new();
        let mut outcomes = Vec::new();
        for (component, run) in runs {
            let outcome = match run {
                Run::Done(done) => {
                    record.restarted.extend(done.restarted);
                    match done.result {
                        Ok(()) => Outcome::Ready,
                        Err(failure) => {
                            failures.push(failure);
                            Outcome::Failed
                        }
                    }
                }
                Run::Dropped => Outcome::NotWaitedFor,
                Run::NotStarted => {
                    self.reporter.component_not_started(phase.phase, &component);
                    Outcome::NotStarted
                }
            };
            if outcome == Outcome::NotWaitedFor {
                self.reporter
                    .component_done(phase.phase, &component, outcome);
            }
            outcomes.push(ComponentOutcome {
                component,
                phase: phase.phase.to_string(),
                outcome,
            });
        }
        let mut result = merge(phase.phase, failures);
        if let Err(Failure::NotReady { wait, .. }) = &mut result {
            super::restart::recall(&mut wait.diagnoses, &record.restarted);
        }
        (result, outcomes)
    }

    /// Applies one component's objects of a phase, restarts its stuck pods when
    /// asked, and waits until they are ready.
    async fn run_component(
        &self,
        phase: Phase,
        component: &str,
        manifests: &[Manifest],
    ) -> ComponentRun {
        self.reporter
            .component_started(phase, component, manifests.len());
        let applied = apply_all(self.resolver, manifests, false).await;
        if self.prepull.is_some_and(|p| p.phase == phase) {
            self.applied.add();
        }
        if let Err(errors) = applied {
            return ComponentRun {
                result: Err(Failure::Rejected {
                    phase: phase.to_string(),
                    errors: errors
                        .iter()
                        .map(|(_, e)| crate::output::describe(e))
                        .collect(),
                }),
                restarted: Vec::new(),
            };
        }
        let restarted = if self.restart_failed {
            super::restart::restart_stuck(
                self.resolver.client(),
                self.reporter,
                manifests,
                self.release,
            )
            .await
        } else {
            Vec::new()
        };
        let result = wait_component(self, phase, manifests)
            .await
            .map_err(|wait| Failure::NotReady {
                phase: phase.to_string(),
                wait,
            });
        ComponentRun { result, restarted }
    }
}

/// One component's run in a phase.
struct ComponentRun {
    result: Result<(), Failure>,
    /// Pods `--restart-failed` replaced.
    restarted: Vec<RestartedPod>,
}

/// The phase's failure from its components' failures (in the phase's order): the
/// objects the API server refused, if any did, else every object that did not
/// become ready, in one report.
fn merge(phase: Phase, failures: Vec<Failure>) -> Result<(), Failure> {
    let mut rejected = Vec::new();
    let mut waits = Vec::new();
    let mut other = None;
    for f in failures {
        match f {
            Failure::Rejected { errors, .. } => rejected.extend(errors),
            Failure::NotReady { wait, .. } => waits.push(wait),
            f @ Failure::Probes { .. } => other = other.or(Some(f)),
        }
    }
    if !rejected.is_empty() {
        return Err(Failure::Rejected {
            phase: phase.to_string(),
            errors: rejected,
        });
    }
    let mut waits = waits.into_iter();
    let Some(mut wait) = waits.next() else {
        return other.map_or(Ok(()), Err);
    };
    for w in waits {
        // A failure that needs a change outranks a timeout, which outranks the API.
        if w.kind == WaitFailure::Failed
            || (w.kind == WaitFailure::TimedOut && wait.kind == WaitFailure::Api)
        {
            wait.kind = w.kind;
        }
        wait.elapsed = wait.elapsed.max(w.elapsed);
        wait.diagnoses.extend(w.diagnoses);
        wait.still_waiting.extend(w.still_waiting);
        wait.message = wait.message.or(w.message);
    }
    Err(Failure::NotReady {
        phase: phase.to_string(),
        wait,
    })
}

/// Waits until every object of a component is ready, feeding the count of ready
/// objects and what it is waiting for to the reporter.
async fn wait_component(
    runner: &Runner<'_>,
    phase: Phase,
    manifests: &[Manifest],
) -> Result<(), crate::wait::WaitError> {
    // One component's objects: the set of those ready is its progress count.
    let mut ready: BTreeSet<String> = BTreeSet::new();
    let mut options = crate::wait::WaitOptions::new(runner.deadline);
    options.baseline = runner.baseline.clone();
    crate::wait::wait_ready(
        runner.resolver,
        manifests,
        options,
        |p: &crate::wait::Progress| {
            let detail = if p.state == crate::wait::State::Current {
                ready.insert(p.object.clone());
                String::new()
            } else {
                ready.remove(&p.object);
                match (p.ready, &p.problem) {
                    (_, Some(problem)) => format!("{}: {problem}", p.object),
                    (Some((r, d)), None) => format!("{} {r}/{d}", p.object),
                    (None, None) => format!("{}: {}", p.object, p.message),
                }
            };
            runner
                .reporter
                .component_progress(phase, &p.component, ready.len(), &detail);
        },
    )
    .await
}
