//! Each component's own outcome, for the record and for people: the ones that were
//! ready, or merely still progressing, when a phase stopped are not reported with
//! the one that failed (`schedule` decides which is which).

use crate::plan::Wave;
use crate::release::{ComponentOutcome, Outcome, PhaseResult};

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
