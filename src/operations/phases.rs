//! Runs a plan: phase by phase, wave by wave; each wave is applied concurrently by
//! server-side apply and must be ready before the next starts. The release record is
//! updated after every phase, so `status` and a post-mortem see how far it got, and
//! which components were ready, failed, not waited for or not started.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use tokio::time::Instant as TokioInstant;

use super::failure::Failure;
use super::outcome::{self, StoppedWave};
use super::progress::Reporter;
use crate::apply::apply_all;
use crate::cluster::Resolver;
use crate::model::{Manifest, Phase};
use crate::plan::{Plan, Wave};
use crate::release::record::now;
use crate::release::{
    ComponentOutcome, Outcome, PhaseResult, PhaseStatus, Record, RestartedPod, Store,
};
use crate::wait::Baseline;

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
}

impl Runner<'_> {
    /// Applies and waits for every phase; records each phase's result in `record`,
    /// with every component's own outcome (phases after a failure as skipped).
    pub async fn run(&self, plan: &Plan, record: &mut Record) -> Result<(), Failure> {
        for (index, phase) in plan.phases.iter().enumerate() {
            let started_at = now();
            let started = Instant::now();
            let name = phase.phase.to_string();
            let mut outcome = Ok(());
            let mut components = Vec::new();
            for (w, wave) in phase.waves.iter().enumerate() {
                let (result, outcomes) = self
                    .run_wave(phase.phase, wave, &mut record.restarted)
                    .await;
                components.extend(outcomes);
                if let Err(failure) = result {
                    let rest = &phase.waves[w + 1..];
                    self.not_started(phase.phase, rest);
                    components.extend(outcome::all(rest, &name, Outcome::NotStarted));
                    outcome = Err(failure);
                    break;
                }
            }
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

    fn not_started(&self, phase: Phase, waves: &[Wave]) {
        for component in waves.iter().flat_map(|w| &w.components) {
            self.reporter.component_not_started(phase, component);
        }
    }

    /// Applies a wave and waits for it; each component's outcome either way.
    async fn run_wave(
        &self,
        phase: Phase,
        wave: &Wave,
        restarted: &mut Vec<RestartedPod>,
    ) -> (Result<(), Failure>, Vec<ComponentOutcome>) {
        let mut per_component: BTreeMap<&str, usize> = BTreeMap::new();
        for m in &wave.manifests {
            *per_component.entry(m.component.as_str()).or_default() += 1;
        }
        for (component, total) in &per_component {
            self.reporter.component_started(phase, component, *total);
        }
        let applied = apply_all(self.resolver, &wave.manifests, false).await;
        let (result, ready, failed) = if let Err(errors) = applied {
            let failed = errors
                .iter()
                .map(|(i, _)| wave.manifests[*i].component.clone())
                .collect();
            let failure = Failure::Rejected {
                phase: phase.to_string(),
                errors: errors
                    .iter()
                    .map(|(_, e)| crate::output::describe(e))
                    .collect(),
            };
            (Err(failure), BTreeSet::new(), failed)
        } else {
            if self.restart_failed {
                restarted.extend(
                    super::restart::restart_stuck(
                        self.resolver.client(),
                        self.reporter,
                        &wave.manifests,
                        self.release,
                    )
                    .await,
                );
            }
            let (mut result, ready) = wait_wave(self, phase, &wave.manifests).await;
            if let Err(wait) = &mut result {
                super::restart::recall(&mut wait.diagnoses, restarted);
            }
            let failed = result.as_ref().err().map_or_else(BTreeSet::new, |wait| {
                wait.diagnoses.iter().map(|d| d.component.clone()).collect()
            });
            let result = result.map_err(|wait| Failure::NotReady {
                phase: phase.to_string(),
                wait,
            });
            (result, ready, failed)
        };
        let outcomes: Vec<(String, Outcome)> = if result.is_ok() {
            wave.components
                .iter()
                .map(|c| (c.clone(), Outcome::Ready))
                .collect()
        } else {
            StoppedWave {
                wave,
                ready: &ready,
                failed: &failed,
            }
            .outcomes()
        };
        for (component, outcome) in &outcomes {
            self.reporter.component_done(phase, component, *outcome);
        }
        let outcomes = outcomes
            .into_iter()
            .map(|(component, outcome)| ComponentOutcome {
                component,
                phase: phase.to_string(),
                outcome,
            })
            .collect();
        (result, outcomes)
    }
}

/// Waits until every object of a wave is ready, feeding per-component counts of
/// ready objects and what each is waiting for to the reporter. Also returns the
/// objects ready when waiting ended: on a failure, they tell which components
/// were ready.
async fn wait_wave(
    runner: &Runner<'_>,
    phase: Phase,
    manifests: &[Manifest],
) -> (Result<(), crate::wait::WaitError>, BTreeSet<String>) {
    let mut ready: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut options = crate::wait::WaitOptions::new(runner.deadline);
    options.baseline = runner.baseline.clone();
    let result = crate::wait::wait_ready(
        runner.resolver,
        manifests,
        options,
        |p: &crate::wait::Progress| {
            let set = ready.entry(p.component.clone()).or_default();
            let detail = if p.state == crate::wait::State::Current {
                set.insert(p.object.clone());
                String::new()
            } else {
                set.remove(&p.object);
                match (p.ready, &p.problem) {
                    (_, Some(problem)) => format!("{}: {problem}", p.object),
                    (Some((r, d)), None) => format!("{} {r}/{d}", p.object),
                    (None, None) => format!("{}: {}", p.object, p.message),
                }
            };
            runner
                .reporter
                .component_progress(phase, &p.component, set.len(), &detail);
        },
    )
    .await;
    (result, ready.into_values().flatten().collect())
}
