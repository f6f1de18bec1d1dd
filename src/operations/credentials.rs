//! Credentials the images apply only at first start (`model::InitOnlyChange`):
//! an upgrade that changes one would change the Secret and the clients but not
//! the service, and the apps could no longer log in. So before anything is
//! written, each change is either rotated in the service by the stack's Job —
//! logging in with the current credential, which the release record holds — or
//! refused with the way to rotate it by hand. `--rotated KEY` says a person did
//! that already: the upgrade then only updates the Secret and the clients.
//!
//! The Jobs run under the release lock, before the new revision is recorded: one
//! that fails stops the upgrade with nothing else written ([`RotationFailed`]).
//!
//! A rollback moves credentials too: it replays a revision whose Secrets may hold
//! older ones than the services. So does `--atomic` after a rotation. Both go
//! through the same rules, from the credentials the services hold — those of the
//! newest revision recorded, since a revision is recorded only after its rotation
//! ran — to the replayed revision's.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Result;
use k8s_openapi::ByteString;
use serde_json::Value;

use super::failure::Refused;
use super::progress::Reporter;
use crate::cluster::Session;
use crate::model::{InitOnlyChange, ROTATION_SECRET_SUFFIX, Release, Rotation, RotationJob};
use crate::probe::{ProbeReport, RunOptions, job, run_with_secret};
use crate::release::Record;
use crate::stacks::{ResolvedValues, Stack};

/// The keys whose change a rotation Job carries out, once every change is known to
/// be either rotatable or rotated by hand (`rotated`, from `--rotated`). A change
/// only a person can make, and a `--rotated` key this upgrade does not change (a
/// typo would otherwise pass silently), are refused, every one at once.
/// `operation` names what changes them in the refusal: "upgrade", "rollback".
pub fn job_keys(
    changes: &[InitOnlyChange],
    rotated: &[String],
    operation: &str,
) -> Result<Vec<&'static str>, Refused> {
    let mut problems = Vec::new();
    for key in rotated {
        if !changes.iter().any(|c| c.key == key) {
            problems.push(format!(
                "--rotated {key}: this {operation} does not change a credential of that name that the service applies only at first start"
            ));
        }
    }
    let mut jobs = Vec::new();
    for c in changes {
        if rotated.iter().any(|k| k == c.key) {
            continue;
        }
        match &c.rotation {
            Rotation::Job => jobs.push(c.key),
            Rotation::Manual(how) => problems.push(format!("{} ({}): {how}", c.key, c.component)),
        }
    }
    if problems.is_empty() {
        return Ok(jobs);
    }
    Err(Refused(format!(
        "the {operation} changes credentials that the services apply only when they initialise their data: the Secrets would change, the services would not, and the apps could no longer log in; nothing was changed:\n{}",
        problems
            .iter()
            .map(|p| format!("  - {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    )))
}

/// Stored values as the stack reads them.
pub(super) fn values_of(tree: &Value) -> ResolvedValues {
    ResolvedValues {
        tree: tree.clone(),
        generated: Vec::new(),
    }
}

/// The init-only credentials that replaying stored values `to` changes in services
/// that hold `from`'s.
pub(super) fn changes_between(
    stack: &dyn Stack,
    from: &Value,
    to: &Value,
    release: &Release,
) -> Result<Vec<InitOnlyChange>> {
    stack.init_only_changes(&values_of(from), &values_of(to), release)
}

/// The Jobs that move the credentials `keys` in the services from `from`'s to
/// `to`'s; `None` when there is nothing to move.
pub(super) fn plan_for(
    stack: &dyn Stack,
    from: &Value,
    to: &Value,
    release: &Release,
    keys: &[&str],
) -> Result<Option<RotationPlan>> {
    if keys.is_empty() {
        return Ok(None);
    }
    Ok(Some(RotationPlan {
        release: release.clone(),
        jobs: stack.rotation_jobs(&values_of(from), &values_of(to), release, keys)?,
    }))
}

/// `--atomic` going back from a failed operation's values to `good`'s: the
/// services hold the failed revision's credentials (its rotation ran before it was
/// recorded). Returns the Jobs that move back what a Job can move, and what a
/// person changed by hand (`--rotated`), which only a person can change back.
pub(super) fn recovery(
    stack_name: &str,
    failed: &Value,
    good: &Record,
) -> Result<(Option<RotationPlan>, Vec<InitOnlyChange>)> {
    let stack = crate::stacks::find(stack_name)?;
    let release = replay_release(stack, good, good.revision);
    let good = &good.values;
    let changes = changes_between(stack, failed, good, &release)?;
    let (jobs, by_hand): (Vec<_>, Vec<_>) = changes
        .into_iter()
        .partition(|c| matches!(c.rotation, Rotation::Job));
    let keys: Vec<&str> = jobs.iter().map(|c| c.key).collect();
    Ok((plan_for(stack, failed, good, &release, &keys)?, by_hand))
}

/// The release as the rotation Jobs of replaying `target` see it.
pub(super) fn replay_release(stack: &dyn Stack, target: &Record, revision: u32) -> Release {
    Release {
        name: target.release.clone(),
        namespace: target.namespace.clone(),
        stack: stack.name(),
        revision,
    }
}

/// The rotation Jobs of one operation and the release they run in.
#[derive(Debug, Clone)]
pub struct RotationPlan {
    pub release: Release,
    pub jobs: Vec<RotationJob>,
}

/// A rotation Job failed or could not run; the credentials of the service are
/// unchanged (each Job changes all of its accounts at once or none), and nothing
/// of the upgrade was written.
#[derive(Debug)]
pub struct RotationFailed {
    pub keys: Vec<&'static str>,
    pub report: ProbeReport,
}

impl fmt::Display for RotationFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rotating {} in the running service failed; nothing of the operation was written and the Secrets still hold the current credentials\n{}\n\nthe Job logs in with the current credentials of the release record: if they were changed outside stackctl, change them back, or rotate by hand and upgrade again adding --rotated for each key",
            self.keys.join(", "),
            self.report
        )
    }
}

impl std::error::Error for RotationFailed {}

/// Runs the rotation Jobs with their temporary Secret, which is deleted afterwards;
/// every Job must pass.
pub async fn rotate(session: &Session, reporter: &Reporter, plan: &RotationPlan) -> Result<()> {
    if plan.jobs.is_empty() {
        return Ok(());
    }
    let keys: Vec<&'static str> = plan.jobs.iter().flat_map(|j| j.keys.clone()).collect();
    reporter.info(format!(
        "credentials: changing {} in the running services before their Secrets",
        keys.join(", ")
    ));
    let name = plan.release.object_name(ROTATION_SECRET_SUFFIX);
    let data: BTreeMap<String, ByteString> = plan
        .jobs
        .iter()
        .flat_map(|j| &j.secret)
        .map(|(k, v)| (k.clone(), ByteString(v.as_bytes().to_vec())))
        .collect();
    let secret = job::temporary_secret(&plan.release, &name, ROTATION_SECRET_SUFFIX, data);
    let probes = plan.jobs.iter().map(|j| j.probe.clone()).collect();
    let report = run_with_secret(
        session,
        &plan.release,
        &secret,
        probes,
        &RunOptions::default(),
        |r| reporter.info(format!("rotation {}: {}", r.job, r.result_text())),
    )
    .await?;
    if report.passed() {
        Ok(())
    } else {
        Err(RotationFailed { keys, report }.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &'static str, rotation: Rotation) -> InitOnlyChange {
        InitOnlyChange {
            key,
            component: "db",
            rotation,
        }
    }

    #[test]
    fn rotatable_changes_become_job_keys() {
        let changes = [change("db.password", Rotation::Job)];
        assert_eq!(job_keys(&changes, &[], "upgrade").unwrap(), ["db.password"]);
        assert!(job_keys(&[], &[], "upgrade").unwrap().is_empty());
    }

    #[test]
    fn manual_changes_are_refused_naming_the_key_and_the_way() {
        let changes = [
            change("db.password", Rotation::Job),
            change(
                "ui.adminPassword",
                Rotation::Manual("reset it with ui-cli".into()),
            ),
        ];
        let err = job_keys(&changes, &[], "upgrade").unwrap_err().to_string();
        assert!(err.contains("nothing was changed"), "{err}");
        assert!(
            err.contains("  - ui.adminPassword (db): reset it with ui-cli"),
            "{err}"
        );
        assert!(!err.contains("db.password"), "{err}");
    }

    #[test]
    fn rotated_by_hand_skips_refusal_and_job() {
        let changes = [
            change("db.password", Rotation::Job),
            change("ui.adminPassword", Rotation::Manual("by hand".into())),
        ];
        let rotated = ["ui.adminPassword".to_string(), "db.password".to_string()];
        assert!(job_keys(&changes, &rotated, "upgrade").unwrap().is_empty());
    }

    #[test]
    fn rotated_naming_an_unchanged_key_is_refused() {
        let err = job_keys(&[], &["grafana.adminPasword".to_string()], "rollback")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--rotated grafana.adminPasword: this rollback"),
            "{err}"
        );
    }
}
