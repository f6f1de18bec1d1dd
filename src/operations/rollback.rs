//! Rollback: a new revision that replays a stored one's objects and values.

use anyhow::{Context, Result};

use super::credentials;
use super::executor::{Spec, run_locked};
use super::failure::Refused;
use super::progress::Reporter;
use super::{Completed, RunOptions, stored_objects, target};
use crate::cluster::Session;
use crate::model::{InitOnlyChange, SCHEMA_ANNOTATION};
use crate::plan::Plan;
use crate::release::{Record, Status, Store};

pub struct RollbackOptions {
    pub release: Option<String>,
    pub namespace: Option<String>,
    /// The revision to go back to; the newest deployed one before the current when
    /// `None`.
    pub revision: Option<u32>,
    /// Init-only credentials a person already changed back in the service
    /// (`--rotated`): neither refused nor rotated by a Job.
    pub rotated: Vec<String>,
    pub run: RunOptions,
}

/// A rollback resolved, not yet applied.
pub struct RollbackPlan {
    pub target: Record,
    pub spec: Spec,
    /// Schema Jobs the target revision re-applies, for a note: a rollback does not undo
    /// a schema migration.
    pub schemas: Vec<String>,
    /// Values of the newest revision recorded: the credentials the services hold.
    pub newest: Option<Record>,
    /// Credentials the services apply only at first start that the target's values
    /// change back (see `credentials`).
    pub init_only: Vec<InitOnlyChange>,
    /// Things the user should know that do not stop the rollback.
    pub warnings: Vec<String>,
}

impl RollbackPlan {
    pub fn plan(&self) -> &Plan {
        &self.spec.plan
    }

    /// Init-only credentials that no Job can move back are refused unless
    /// `rotated` names them.
    pub fn ensure_allowed(&self, rotated: &[String]) -> Result<(), Refused> {
        credentials::job_keys(&self.init_only, rotated, "rollback").map(|_| ())
    }
}

/// Finds the revision to go back to and what replaying it applies.
pub async fn plan(session: &Session, opts: &RollbackOptions) -> Result<RollbackPlan> {
    let t = target::find(
        &session.client,
        opts.release.as_deref(),
        opts.namespace.as_deref(),
    )
    .await?;
    let store = Store::new(session.client.clone(), &t.namespace);
    let history = store.history(&t.name).await?;
    let current = history
        .iter()
        .rev()
        .find(|r| r.status == Status::Deployed)
        .map(|r| r.revision);
    let wanted = match opts.revision {
        Some(n) => n,
        None => history
            .iter()
            .rev()
            .find(|r| {
                Some(r.revision) != current
                    && matches!(r.status, Status::Superseded | Status::Deployed)
            })
            .map(|r| r.revision)
            .with_context(|| {
                format!(
                    "release {} has no earlier deployed revision to roll back to",
                    t.name
                )
            })?,
    };
    let target = store
        .get(&t.name, wanted)
        .await
        .map_err(|e| Refused(format!("{e}; see `stackctl history {}`", t.name)))?;
    if target.manifests.is_empty() {
        return Err(Refused(format!(
            "revision {wanted} of {} applied nothing; pick another (`stackctl history {}`)",
            t.name, t.name
        ))
        .into());
    }
    let spec = Spec::replay(&target)?;
    let schemas = spec
        .plan
        .manifests()
        .filter_map(|m| {
            let what = m.body["metadata"]["annotations"][SCHEMA_ANNOTATION].as_str()?;
            Some(format!("{what} (Job {})", m.name))
        })
        .collect();
    let stack = crate::stacks::find(&target.stack)?;
    let newest = store.latest(&t.name).await?;
    let mut warnings = Vec::new();
    let init_only = match &newest {
        Some(n) if n.revision != target.revision => {
            match credentials::changes_between(
                stack,
                &n.values,
                &target.values,
                &credentials::replay_release(stack, &target, n.revision + 1),
            ) {
                Ok(changes) => changes,
                // Values of another stackctl version this one cannot read: replayed
                // as they are, unchecked.
                Err(e) => {
                    warnings.push(format!(
                        "credentials were not compared with revision {}: {e:#}",
                        n.revision
                    ));
                    Vec::new()
                }
            }
        }
        _ => Vec::new(),
    };
    Ok(RollbackPlan {
        target,
        spec,
        schemas,
        newest,
        init_only,
        warnings,
    })
}

/// Applies a planned rollback.
pub async fn run(
    session: &Session,
    reporter: &Reporter,
    planned: RollbackPlan,
    opts: &RollbackOptions,
) -> Result<Completed> {
    let job_keys = credentials::job_keys(&planned.init_only, &opts.rotated, "rollback")?;
    let RollbackPlan {
        mut spec,
        target,
        newest,
        ..
    } = planned;
    let store = Store::new(session.client.clone(), &spec.namespace);
    // A rollback replays stored objects: no value can change, so no switch helps.
    // The revision's objects were installed before on this cluster (or written by
    // another stackctl version): they are replayed, not judged again.
    super::preflight::run(
        session,
        reporter,
        &spec.plan,
        &spec.namespace,
        false,
        &[],
        Vec::new(),
    )
    .await?;
    // Prune against the last two revisions: the current one, and a failed one after it.
    // Read before the lock, so the rollback is planned as the revision after them: if
    // another operation records one first, the executor stops before applying.
    let revisions = store.list(&spec.release).await?;
    for r in revisions.iter().rev().take(2) {
        spec.previous.extend(stored_objects(r));
    }
    let revision = revisions.last().map_or(1, |r| r.revision + 1);
    spec.revision = Some(revision);
    if let Some(newest) = &newest {
        let stack = crate::stacks::find(&target.stack)?;
        spec.rotation = credentials::plan_for(
            stack,
            &newest.values,
            &target.values,
            &credentials::replay_release(stack, &target, revision),
            &job_keys,
        )?;
    }
    let record = run_locked(session, &store, reporter, spec, &opts.run).await?;
    Ok(Completed {
        record,
        notes: Vec::new(),
    })
}
