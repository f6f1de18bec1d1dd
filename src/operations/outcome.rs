//! Each component's own outcome when an operation stops: a wave stops at its first
//! failure, and the components that were ready, or merely still progressing, must not
//! be reported with the one that failed. Pure: it decides from what the wait layer
//! knew when it stopped, so the rules are tested without a cluster.

use std::collections::BTreeSet;

use crate::plan::Wave;
use crate::release::{ComponentOutcome, Outcome, PhaseResult};

/// One wave that stopped: what its objects were and what was known about them.
pub struct StoppedWave<'a> {
    pub wave: &'a Wave,
    /// Objects (`Kind/name`) seen ready when waiting stopped.
    pub ready: &'a BTreeSet<String>,
    /// Components with an object that cannot become ready (diagnosed, or refused
    /// by the API server).
    pub failed: &'a BTreeSet<String>,
}

impl StoppedWave<'_> {
    /// Each component of the wave, in the wave's order, with its outcome.
    ///
    /// Failed: one of its objects is named in the failure. Ready: all its objects
    /// were ready. Otherwise it was still progressing and nothing is known against
    /// it, so "not waited for" — unless the failure names no component at all (the
    /// API refused the watch itself): then every component not ready is the failure,
    /// since no other is left to carry it.
    pub fn outcomes(&self) -> Vec<(String, Outcome)> {
        self.wave
            .components
            .iter()
            .map(|component| {
                let outcome = if self.failed.contains(component) {
                    Outcome::Failed
                } else if self
                    .wave
                    .manifests
                    .iter()
                    .filter(|m| &m.component == component)
                    .all(|m| self.ready.contains(&m.id()))
                {
                    Outcome::Ready
                } else if self.failed.is_empty() {
                    Outcome::Failed
                } else {
                    Outcome::NotWaitedFor
                };
                (component.clone(), outcome)
            })
            .collect()
    }
}

/// Every component of the waves, with one outcome.
pub fn all(waves: &[Wave], phase: &str, outcome: Outcome) -> Vec<ComponentOutcome> {
    waves
        .iter()
        .flat_map(|w| &w.components)
        .map(|component| ComponentOutcome {
            component: component.clone(),
            phase: phase.to_string(),
            outcome,
        })
        .collect()
}

/// The outcomes the record holds, in apply order (the probes phase has none).
pub fn of_phases(phases: &[PhaseResult]) -> Vec<ComponentOutcome> {
    phases.iter().flat_map(|p| p.components.clone()).collect()
}

/// For a person: one line per phase, components grouped by outcome, e.g.
/// `data: ready mysql, clickhouse; failed kafka`.
pub fn summary(outcomes: &[ComponentOutcome]) -> Vec<String> {
    let mut phases: Vec<&str> = Vec::new();
    for o in outcomes {
        if !phases.contains(&o.phase.as_str()) {
            phases.push(&o.phase);
        }
    }
    phases
        .into_iter()
        .map(|phase| {
            let groups: Vec<String> = [
                Outcome::Ready,
                Outcome::Failed,
                Outcome::NotWaitedFor,
                Outcome::NotStarted,
            ]
            .into_iter()
            .filter_map(|outcome| {
                let names: Vec<&str> = outcomes
                    .iter()
                    .filter(|o| o.phase == phase && o.outcome == outcome)
                    .map(|o| o.component.as_str())
                    .collect();
                (!names.is_empty()).then(|| format!("{outcome} {}", names.join(", ")))
            })
            .collect();
            format!("{phase}: {}", groups.join("; "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Manifest, Phase};

    fn manifest(component: &str, kind: &str, name: &str) -> Manifest {
        Manifest {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            name: name.into(),
            namespace: Some("ns".into()),
            component: component.into(),
            phase: Phase::Data,
            body: serde_json::Value::Null,
        }
    }

    /// The data wave of ClickVisual's minimal profile.
    fn data_wave() -> Wave {
        Wave {
            components: vec!["mysql".into(), "kafka".into(), "clickhouse".into()],
            manifests: vec![
                manifest("mysql", "StatefulSet", "cv-mysql"),
                manifest("mysql", "Service", "cv-mysql"),
                manifest("kafka", "StatefulSet", "cv-kafka"),
                manifest("kafka", "Service", "cv-kafka"),
                manifest("clickhouse", "StatefulSet", "cv-clickhouse"),
                manifest("clickhouse", "Service", "cv-clickhouse"),
            ],
        }
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(ToString::to_string).collect()
    }

    fn outcomes(ready: &[&str], failed: &[&str]) -> Vec<(String, Outcome)> {
        StoppedWave {
            wave: &data_wave(),
            ready: &set(ready),
            failed: &set(failed),
        }
        .outcomes()
    }

    fn pairs(expected: &[(&str, Outcome)]) -> Vec<(String, Outcome)> {
        expected
            .iter()
            .map(|(c, o)| ((*c).to_string(), *o))
            .collect()
    }

    #[test]
    fn ready_components_stay_ready_next_to_the_one_that_failed() {
        let ready = [
            "StatefulSet/cv-mysql",
            "Service/cv-mysql",
            "Service/cv-kafka",
            "StatefulSet/cv-clickhouse",
            "Service/cv-clickhouse",
        ];
        assert_eq!(
            outcomes(&ready, &["kafka"]),
            pairs(&[
                ("mysql", Outcome::Ready),
                ("kafka", Outcome::Failed),
                ("clickhouse", Outcome::Ready),
            ])
        );
    }

    #[test]
    fn a_component_still_progressing_was_not_waited_for() {
        let ready = [
            "StatefulSet/cv-mysql",
            "Service/cv-mysql",
            "Service/cv-clickhouse",
        ];
        assert_eq!(
            outcomes(&ready, &["kafka"]),
            pairs(&[
                ("mysql", Outcome::Ready),
                ("kafka", Outcome::Failed),
                ("clickhouse", Outcome::NotWaitedFor),
            ])
        );
    }

    #[test]
    fn a_failed_component_is_failed_even_with_objects_ready() {
        let ready = ["Service/cv-kafka", "Service/cv-mysql"];
        assert_eq!(
            outcomes(&ready, &["kafka", "mysql"]),
            pairs(&[
                ("mysql", Outcome::Failed),
                ("kafka", Outcome::Failed),
                ("clickhouse", Outcome::NotWaitedFor),
            ])
        );
    }

    #[test]
    fn without_a_component_to_blame_every_one_not_ready_failed() {
        let ready = ["StatefulSet/cv-mysql", "Service/cv-mysql"];
        assert_eq!(
            outcomes(&ready, &[]),
            pairs(&[
                ("mysql", Outcome::Ready),
                ("kafka", Outcome::Failed),
                ("clickhouse", Outcome::Failed),
            ])
        );
    }

    #[test]
    fn summary_groups_by_phase_then_outcome() {
        let o = |component: &str, phase: &str, outcome| ComponentOutcome {
            component: component.into(),
            phase: phase.into(),
            outcome,
        };
        let lines = summary(&[
            o("mysql", "storage", Outcome::Ready),
            o("kafka", "storage", Outcome::Ready),
            o("mysql", "data", Outcome::Ready),
            o("kafka", "data", Outcome::Failed),
            o("clickhouse", "data", Outcome::NotWaitedFor),
            o("clickvisual", "apps", Outcome::NotStarted),
            o("fluentbit", "apps", Outcome::NotStarted),
        ]);
        assert_eq!(
            lines,
            [
                "storage: ready mysql, kafka",
                "data: ready mysql; failed kafka; not waited for clickhouse",
                "apps: not started clickvisual, fluentbit",
            ]
        );
    }
}
