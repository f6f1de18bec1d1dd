//! Connectivity probes: in-cluster Jobs that prove each service answers with the
//! credentials the apps use (`stackctl test`, the last install/upgrade phase, and —
//! for external dependencies — preflight).
//!
//! - [`ProbeSpec`]: what a stack asks to check (see `Stack::probes`); stack-neutral;
//! - [`scripts`]: the checks themselves, POSIX shell reading env only;
//! - [`job`]: a spec rendered as a Job `<release>-test-<component>` (pure);
//! - [`run`]: creating, watching, reading and deleting the Jobs;
//! - [`report`]: results, the table, and what the release record keeps.
//!
//! Fluent Bit, a DaemonSet, is probed per pod: a spec with [`FanOut`] becomes one Job
//! per matching pod (`<release>-test-fluentbit-<n>`), each aimed at that pod's IP,
//! which stackctl reads from the API itself. The alternative — one Job listing the
//! pods through the API — would need a ServiceAccount, a Role and JSON parsing in
//! shell, and would report one result for all nodes instead of one per node.

pub mod job;
pub mod report;
pub mod run;

pub use report::{Outcome, ProbeReport, ProbeResult};
pub use run::{
    ExternalsDoNotAnswer, PREFLIGHT_SECRET_SUFFIX, RunOptions, preflight_external,
    run_preflight_probes, run_probes, run_with_secret, save_to_record,
};

use crate::cluster::Permission;
use crate::model::ProbeSpec;

/// Label on the Jobs of one run, so that watching them ignores any other run's.
pub const RUN_LABEL: &str = "stackctl.dev/probe-run";
/// Name of the probe container in every probe pod.
pub const CONTAINER: &str = "probe";

/// What running probes needs beyond the plan's own objects, for preflight's access
/// review: the Jobs, their pods and logs, and the temporary preflight Secret.
pub fn permissions(namespace: &str) -> Vec<Permission> {
    let ns = Some(namespace.to_string());
    let p = |verb: &'static str, group: &str, resource: &str| Permission {
        verb,
        group: group.to_string(),
        resource: resource.to_string(),
        namespace: ns.clone(),
    };
    let mut out = Vec::new();
    for verb in ["create", "get", "list", "watch", "delete"] {
        out.push(p(verb, "batch", "jobs"));
        out.push(p(verb, "", "secrets"));
    }
    for verb in ["get", "list"] {
        out.push(p(verb, "", "pods"));
    }
    out.push(p("get", "", "pods/log"));
    out
}

/// A `--filter` that is no glob or matches no probe: the user's input, not a probe
/// failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(String);

/// The probes `filter` selects: a component name or a glob over component names
/// (`click*`), also matched against Job names (`cv-test-mysql`). `None` selects all.
pub fn select(
    probes: Vec<ProbeSpec>,
    filter: Option<&str>,
    release: &str,
) -> Result<Vec<ProbeSpec>, FilterError> {
    let Some(filter) = filter else {
        return Ok(probes);
    };
    let glob = globset::Glob::new(filter)
        .map_err(|e| FilterError(format!("--filter {filter:?} is not a valid glob: {e}")))?
        .compile_matcher();
    let all: Vec<String> = probes.iter().map(|p| p.component.clone()).collect();
    let selected: Vec<ProbeSpec> = probes
        .into_iter()
        .filter(|p| {
            glob.is_match(&p.component) || glob.is_match(job::job_name(release, &p.component))
        })
        .collect();
    if selected.is_empty() {
        return Err(FilterError(format!(
            "no probe matches --filter {filter:?}; this release has: {}",
            if all.is_empty() {
                "none".to_string()
            } else {
                all.join(", ")
            }
        )));
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(component: &str, external: bool) -> ProbeSpec {
        ProbeSpec {
            component: component.into(),
            external,
            ..Default::default()
        }
    }

    #[test]
    fn filter_by_name_glob_or_job_name() {
        let all = || {
            vec![
                spec("mysql", true),
                spec("clickhouse", false),
                spec("clickvisual", false),
            ]
        };
        let names = |v: Vec<ProbeSpec>| v.into_iter().map(|p| p.component).collect::<Vec<_>>();
        assert_eq!(
            names(select(all(), Some("mysql"), "cv").unwrap()),
            ["mysql"]
        );
        assert_eq!(
            names(select(all(), Some("click*"), "cv").unwrap()),
            ["clickhouse", "clickvisual"]
        );
        assert_eq!(
            names(select(all(), Some("cv-test-mysql"), "cv").unwrap()),
            ["mysql"]
        );
        assert_eq!(names(select(all(), None, "cv").unwrap()).len(), 3);
        let err = select(all(), Some("kafka"), "cv").unwrap_err().to_string();
        assert!(err.contains("mysql, clickhouse, clickvisual"), "{err}");
        assert!(select(all(), Some("[x"), "cv").is_err());
    }

    #[test]
    fn only_external_probes_run_in_preflight() {
        let ext = crate::model::external_probes(vec![spec("mysql", true), spec("kafka", false)]);
        assert_eq!(ext.len(), 1);
        assert_eq!(ext[0].component, "mysql");
    }
}
