//! The plan: rendered components ordered into phases, and inside a phase into waves
//! by dependency (ZooKeeper before Kafka). Objects of one wave are independent and can
//! be applied concurrently; a wave starts when the previous one is ready.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail};

use crate::model::{Manifest, Phase, Rendered, to_yaml};

#[derive(Debug, Clone)]
pub struct Plan {
    pub phases: Vec<PhasePlan>,
    /// Each component's dependencies, kept so a stored plan can be rebuilt exactly.
    pub dependencies: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct PhasePlan {
    pub phase: Phase,
    pub waves: Vec<Wave>,
}

/// Components whose objects can be applied together.
#[derive(Debug, Clone)]
pub struct Wave {
    pub components: Vec<String>,
    pub manifests: Vec<Manifest>,
}

/// A component as the planner sees it.
#[derive(Debug, Clone)]
pub struct Unit {
    pub name: String,
    pub depends_on: Vec<String>,
    pub manifests: Vec<Manifest>,
}

impl From<&Rendered> for Unit {
    fn from(r: &Rendered) -> Self {
        Unit {
            name: r.name.to_string(),
            depends_on: r
                .depends_on
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
            manifests: r.manifests.clone(),
        }
    }
}

impl Plan {
    /// Orders rendered components: by phase, then in waves so every component comes
    /// after the ones it depends on. A dependency on a later phase or a cycle is a bug
    /// in the stack definition, reported as an error.
    pub fn new(components: &[Rendered]) -> Result<Plan> {
        Self::from_units(&components.iter().map(Unit::from).collect::<Vec<_>>())
    }

    /// Rebuilds a plan from stored objects (in apply order) and dependencies, as a
    /// release record keeps them: rollback replays exactly what a revision applied.
    pub fn from_stored(
        manifests: Vec<Manifest>,
        dependencies: &BTreeMap<String, Vec<String>>,
    ) -> Result<Plan> {
        let mut units: Vec<Unit> = Vec::new();
        for m in manifests {
            match units.iter_mut().find(|u| u.name == m.component) {
                Some(u) => u.manifests.push(m),
                None => units.push(Unit {
                    name: m.component.clone(),
                    depends_on: dependencies.get(&m.component).cloned().unwrap_or_default(),
                    manifests: vec![m],
                }),
            }
        }
        Self::from_units(&units)
    }

    pub fn from_units(units: &[Unit]) -> Result<Plan> {
        let by_name: BTreeMap<&str, &Unit> = units.iter().map(|c| (c.name.as_str(), c)).collect();
        // A component's objects may span phases (its Secret in storage, its
        // StatefulSet in data); each object goes to its own phase, in the component's
        // dependency wave.
        let mut phases = Vec::new();
        for phase in Phase::ALL {
            let members: Vec<&Unit> = units
                .iter()
                .filter(|c| c.manifests.iter().any(|m| m.phase == phase))
                .collect();
            if members.is_empty() {
                continue;
            }
            let mut remaining: BTreeSet<&str> = members.iter().map(|c| c.name.as_str()).collect();
            let mut waves = Vec::new();
            while !remaining.is_empty() {
                let ready: Vec<&str> = remaining
                    .iter()
                    .copied()
                    .filter(|name| {
                        by_name[name]
                            .depends_on
                            .iter()
                            .all(|dep| !remaining.contains(dep.as_str()) || dep == name)
                    })
                    .collect();
                if ready.is_empty() {
                    bail!(
                        "dependency cycle among {} in phase {phase}",
                        remaining.iter().copied().collect::<Vec<_>>().join(", ")
                    );
                }
                // Keep declaration order inside a wave so output is stable and readable.
                let ordered: Vec<&Unit> = members
                    .iter()
                    .copied()
                    .filter(|c| ready.contains(&c.name.as_str()))
                    .collect();
                let manifests = ordered
                    .iter()
                    .flat_map(|c| c.manifests.iter().filter(|m| m.phase == phase))
                    .cloned()
                    .collect();
                for c in &ordered {
                    remaining.remove(c.name.as_str());
                }
                waves.push(Wave {
                    components: ordered.iter().map(|c| c.name.clone()).collect(),
                    manifests,
                });
            }
            phases.push(PhasePlan { phase, waves });
        }
        check_dependencies(units, &by_name)?;
        let dependencies = units
            .iter()
            .filter(|u| !u.depends_on.is_empty())
            .map(|u| (u.name.clone(), u.depends_on.clone()))
            .collect();
        Ok(Plan {
            phases,
            dependencies,
        })
    }

    /// Gives each object named for its revision (a Job that runs once per revision
    /// that changes it) the name it had in `previous`, the last deployed revision's
    /// objects, when nothing but the revision differs: that revision completed it,
    /// so re-applying it is a no-op instead of a new pod to wait for. Returns how
    /// many kept their names.
    pub fn keep_completed_runs(&mut self, previous: &[Manifest]) -> usize {
        let mut kept = 0;
        let manifests = self
            .phases
            .iter_mut()
            .flat_map(|p| p.waves.iter_mut())
            .flat_map(|w| w.manifests.iter_mut());
        for m in manifests {
            if let Some(p) = previous.iter().find(|p| {
                m.is_counterpart_of(p) && p.revision_neutral_body() == m.revision_neutral_body()
            }) {
                m.name.clone_from(&p.name);
                m.body["metadata"]["name"] = p.name.clone().into();
                kept += 1;
            }
        }
        kept
    }

    /// Every object in apply order.
    pub fn manifests(&self) -> impl Iterator<Item = &Manifest> {
        self.phases
            .iter()
            .flat_map(|p| p.waves.iter())
            .flat_map(|w| w.manifests.iter())
    }

    /// The plan as multi-document YAML, each document headed by a comment naming its
    /// component and phase so a reader sees the order.
    pub fn to_yaml(&self) -> Result<String> {
        let mut out = String::new();
        for m in self.manifests() {
            out.push_str("---\n");
            out.push_str(&format!(
                "# Source: {} ({}, phase {})\n",
                m.component,
                m.id(),
                m.phase
            ));
            out.push_str(&to_yaml(&m.body).with_context(|| format!("serialising {}", m.id()))?);
        }
        Ok(out)
    }
}

/// A dependency must exist (when it is rendered at all) and may not live only in a
/// later phase than its dependant's main objects.
fn check_dependencies(components: &[Unit], by_name: &BTreeMap<&str, &Unit>) -> Result<()> {
    for c in components {
        for dep in &c.depends_on {
            let Some(d) = by_name.get(dep.as_str()) else {
                // Dependencies that are disabled or external render nothing.
                continue;
            };
            let earliest_dep = d.manifests.iter().map(|m| m.phase).min();
            let latest_own = c.manifests.iter().map(|m| m.phase).max();
            if let (Some(dp), Some(op)) = (earliest_dep, latest_own)
                && dp > op
            {
                bail!(
                    "component {} (phase {op}) depends on {} which starts in the later phase {dp}",
                    c.name,
                    d.name
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PHASE_ANNOTATION, Release};

    /// One ConfigMap `cm-<name>`, as a component would render it.
    fn component(
        release: &Release,
        name: &'static str,
        phase: Phase,
        deps: Vec<&'static str>,
    ) -> Rendered {
        let cm = format!("cm-{name}");
        let body = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": cm,
                "namespace": release.namespace,
                "labels": { "app.kubernetes.io/component": name },
                "annotations": { PHASE_ANNOTATION: phase.as_str() },
            },
        });
        Rendered {
            name,
            phase,
            depends_on: deps,
            manifests: vec![Manifest::from_value(body).unwrap()],
        }
    }

    fn release() -> Release {
        Release {
            name: "r".into(),
            namespace: "ns".into(),
            stack: "test",
            revision: 1,
        }
    }

    #[test]
    fn orders_by_phase_then_dependency() {
        let r = release();
        let plan = Plan::new(&[
            component(&r, "app", Phase::Apps, vec!["kafka"]),
            component(&r, "kafka", Phase::Data, vec!["zookeeper"]),
            component(&r, "zookeeper", Phase::Data, vec![]),
            component(&r, "redis", Phase::Data, vec![]),
        ])
        .unwrap();
        let waves: Vec<(Phase, Vec<String>)> = plan
            .phases
            .iter()
            .flat_map(|p| p.waves.iter().map(move |w| (p.phase, w.components.clone())))
            .collect();
        let waves: Vec<(Phase, Vec<&str>)> = waves
            .iter()
            .map(|(p, w)| (*p, w.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            waves,
            vec![
                (Phase::Data, vec!["zookeeper", "redis"]),
                (Phase::Data, vec!["kafka"]),
                (Phase::Apps, vec!["app"]),
            ]
        );
    }

    #[test]
    fn a_stored_plan_rebuilds_the_same_waves() {
        let r = release();
        let plan = Plan::new(&[
            component(&r, "kafka", Phase::Data, vec!["zookeeper"]),
            component(&r, "zookeeper", Phase::Data, vec![]),
        ])
        .unwrap();
        let stored: Vec<Manifest> = plan
            .manifests()
            .map(|m| Manifest::from_value(m.body.clone()).unwrap())
            .collect();
        let rebuilt = Plan::from_stored(stored, &plan.dependencies).unwrap();
        let names = |p: &Plan| -> Vec<Vec<String>> {
            p.phases
                .iter()
                .flat_map(|p| p.waves.iter().map(|w| w.components.clone()))
                .collect()
        };
        assert_eq!(names(&rebuilt), names(&plan));
        assert_eq!(
            names(&plan),
            vec![vec!["zookeeper".to_string()], vec!["kafka".to_string()]]
        );
    }

    #[test]
    fn cycles_are_reported() {
        let r = release();
        let err = Plan::new(&[
            component(&r, "a", Phase::Data, vec!["b"]),
            component(&r, "b", Phase::Data, vec!["a"]),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("dependency cycle among a, b"),
            "{err}"
        );
    }

    #[test]
    fn dependency_on_a_later_phase_is_rejected() {
        let r = release();
        let err = Plan::new(&[
            component(&r, "db", Phase::Data, vec!["app"]),
            component(&r, "app", Phase::Apps, vec![]),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("later phase apps"), "{err}");
    }

    #[test]
    fn yaml_documents_name_their_phase() {
        let r = release();
        let plan = Plan::new(&[component(&r, "z", Phase::Storage, vec![])]).unwrap();
        let y = plan.to_yaml().unwrap();
        assert!(
            y.starts_with("---\n# Source: z (ConfigMap/cm-z, phase storage)\n"),
            "{y}"
        );
        assert!(y.contains("stackctl.dev/phase: storage"), "{y}");
    }
}
