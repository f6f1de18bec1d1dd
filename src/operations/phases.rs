//! Runs a plan: phase by phase, wave by wave; each wave is applied concurrently by
//! server-side apply and must be ready before the next starts. The release record is
//! updated after every phase, so `status` and a post-mortem see how far it got.

use std::collections::BTreeMap;
use std::time::Instant;

use tokio::time::Instant as TokioInstant;

use super::failure::Failure;
use super::progress::Reporter;
use crate::apply::apply_all;
use crate::cluster::Resolver;
use crate::model::{Manifest, Phase};
use crate::plan::{Plan, Wave};
use crate::release::record::now;
use crate::release::{PhaseResult, PhaseStatus, Record, Store};

pub struct Runner<'a> {
    pub resolver: &'a Resolver,
    pub reporter: &'a Reporter,
    pub store: &'a Store,
    /// The whole operation's deadline (`--timeout`).
    pub deadline: TokioInstant,
}

impl Runner<'_> {
    /// Applies and waits for every phase; records each phase's result in `record`.
    pub async fn run(&self, plan: &Plan, record: &mut Record) -> Result<(), Failure> {
        for phase in &plan.phases {
            let started_at = now();
            let started = Instant::now();
            let mut outcome = Ok(());
            for wave in &phase.waves {
                outcome = self.run_wave(phase.phase, wave).await;
                if outcome.is_err() {
                    break;
                }
            }
            let took = started.elapsed();
            record.phases.push(PhaseResult {
                name: phase.phase.to_string(),
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
            });
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

    async fn run_wave(&self, phase: Phase, wave: &Wave) -> Result<(), Failure> {
        let mut per_component: BTreeMap<&str, usize> = BTreeMap::new();
        for m in &wave.manifests {
            *per_component.entry(m.component.as_str()).or_default() += 1;
        }
        for (component, total) in &per_component {
            self.reporter.component_started(phase, component, *total);
        }
        if let Err(errors) = apply_all(self.resolver, &wave.manifests, false).await {
            for component in per_component.keys() {
                self.reporter.component_done(phase, component, false);
            }
            return Err(Failure::Rejected {
                phase: phase.to_string(),
                errors: errors.iter().map(crate::output::describe).collect(),
            });
        }
        let result = wait_wave(self, phase, &wave.manifests).await;
        for component in per_component.keys() {
            self.reporter
                .component_done(phase, component, result.is_ok());
        }
        result.map_err(|wait| Failure::NotReady {
            phase: phase.to_string(),
            wait,
        })
    }
}

/// Waits until every object of a wave is ready, feeding per-component counts of
/// ready objects and what each is waiting for to the reporter.
async fn wait_wave(
    runner: &Runner<'_>,
    phase: Phase,
    manifests: &[Manifest],
) -> Result<(), crate::wait::WaitError> {
    use std::collections::{BTreeSet, HashMap};
    let mut ready: HashMap<String, BTreeSet<String>> = HashMap::new();
    let options = crate::wait::WaitOptions::new(runner.deadline);
    crate::wait::wait_ready(
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
    .await
}
