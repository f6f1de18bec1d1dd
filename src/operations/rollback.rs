//! Rollback: a new revision that replays a stored one's objects and values.

use anyhow::{Context, Result};

use super::executor::{Spec, run_locked};
use super::failure::Refused;
use super::progress::Reporter;
use super::{Completed, RunOptions, stored_objects, target};
use crate::cluster::Session;
use crate::model::SCHEMA_ANNOTATION;
use crate::plan::Plan;
use crate::release::{Record, Status, Store};

pub struct RollbackOptions {
    pub release: Option<String>,
    pub namespace: Option<String>,
    /// The revision to go back to; the newest deployed one before the current when
    /// `None`.
    pub revision: Option<u32>,
    pub run: RunOptions,
}

/// A rollback resolved, not yet applied.
pub struct RollbackPlan {
    pub target: Record,
    pub spec: Spec,
    /// Schema Jobs the target revision re-applies, for a note: a rollback does not undo
    /// a schema migration.
    pub schemas: Vec<String>,
}

impl RollbackPlan {
    pub fn plan(&self) -> &Plan {
        &self.spec.plan
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
    Ok(RollbackPlan {
        target,
        spec,
        schemas,
    })
}

/// Applies a planned rollback.
pub async fn run(
    session: &Session,
    reporter: &Reporter,
    planned: RollbackPlan,
    opts: &RollbackOptions,
) -> Result<Completed> {
    let RollbackPlan { mut spec, .. } = planned;
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
    spec.revision = Some(revisions.last().map_or(1, |r| r.revision + 1));
    let record = run_locked(session, &store, reporter, spec, &opts.run).await?;
    Ok(Completed {
        record,
        notes: Vec::new(),
    })
}
