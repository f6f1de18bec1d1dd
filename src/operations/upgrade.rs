//! Upgrade: a new revision from the release's current values with the user's changes
//! layered on top. Planned first ([`plan`]), so `diff` and the confirmation see exactly
//! what [`run`] will apply.

use anyhow::{Context, Result};

use super::credentials;
use super::executor::{Spec, run_locked};
use super::failure::Refused;
use super::immutable::{self, ImmutableChange};
use super::prepare::{Base, Input, Prepared, generated_layer, prepare_on};
use super::progress::Reporter;
use super::{Completed, RunOptions, preflight, stored_objects, target};
use crate::cluster::Session;
use crate::model::{InitOnlyChange, Manifest};
use crate::plan::Plan;
use crate::release::{Operation, Record, Store};
use crate::values::Layer;

pub struct UpgradeOptions {
    /// The release name in `input.release` (or the only release visible) and the
    /// user's `-f`/`--set` changes.
    pub input: Input,
    /// Start from the profile and the generated secrets only, not the current values.
    pub reset_values: bool,
    /// Delete and re-create objects whose immutable fields change (orphaning their
    /// pods and volumes).
    pub recreate: bool,
    /// Init-only credentials a person already changed in the service (`--rotated`):
    /// neither refused nor rotated by a Job.
    pub rotated: Vec<String>,
    /// `--allow-unsupported-kubernetes`: a cluster older than a component needs is
    /// warned about, not refused.
    pub allow_unsupported_kubernetes: bool,
    pub run: RunOptions,
}

/// An upgrade resolved and rendered, not yet applied.
pub struct UpgradePlan {
    pub prepared: Prepared,
    /// The revision the new values were layered over: the last deployed one.
    pub current: Record,
    pub plan: Plan,
    /// The objects of the current revision, which the new plan is compared with.
    pub previous: Vec<Manifest>,
    /// Changes Kubernetes refuses in place.
    pub immutable: Vec<ImmutableChange>,
    /// Credentials the services apply only at first start that the new values
    /// change (see `credentials`).
    pub init_only: Vec<InitOnlyChange>,
}

impl UpgradePlan {
    /// Immutable changes are refused unless `--recreate` asks to re-create them;
    /// init-only credentials that no Job can rotate unless `rotated` names them.
    pub fn ensure_allowed(&self, recreate: bool, rotated: &[String]) -> Result<(), Refused> {
        credentials::job_keys(&self.init_only, rotated, "upgrade")?;
        if self.immutable.is_empty() || recreate {
            return Ok(());
        }
        let list = self
            .immutable
            .iter()
            .map(|c| format!("  - {c}"))
            .collect::<Vec<_>>()
            .join("\n");
        Err(Refused(format!(
            "the upgrade changes fields Kubernetes does not allow to change in place:\n{list}\nre-run with --recreate to delete and re-create these objects (orphaning their pods and volumes, so data is kept), or revert those values"
        )))
    }
}

/// Resolves the upgrade's values over the release's current ones and plans it.
pub async fn plan(session: &Session, input: &Input, reset_values: bool) -> Result<UpgradePlan> {
    let t = target::find(
        &session.client,
        input.release.as_deref(),
        input.namespace.as_deref(),
    )
    .await?;
    let store = Store::new(session.client.clone(), &t.namespace);
    let current = match store.last_deployed(&t.name).await? {
        Some(r) => r,
        None => store
            .latest(&t.name)
            .await?
            .with_context(|| format!("release {} has no revisions", t.name))?,
    };
    let layer = if reset_values {
        generated_layer(&current)
    } else {
        Layer::tree(
            format!("values of revision {}", current.revision),
            current.values.clone(),
        )
    };
    let input = Input {
        release: Some(t.name.clone()),
        namespace: Some(t.namespace.clone()),
        ..input.clone()
    };
    let mut prepared = prepare_on(
        &input,
        Base {
            profile: Some(profile_of(&current)),
            layer: Some(layer),
            earlier_defaults: !reset_values,
        },
        &mut rand::rng(),
    )?;
    let latest = store.latest(&t.name).await?;
    prepared.release.revision = latest.map_or(current.revision, |r| r.revision) + 1;
    let mut plan = prepared.plan(session.caps)?;
    let previous = stored_objects(&current);
    plan.keep_completed_runs(&previous);
    let immutable = immutable::changes(&previous, &plan.manifests().cloned().collect::<Vec<_>>());
    let init_only = match prepared.stack.init_only_changes(
        &credentials::values_of(&current.values),
        &prepared.values,
        &prepared.release,
    ) {
        Ok(changes) => changes,
        // Values of another stackctl version this one cannot read as its own: the
        // upgrade still works (their layer was resolved above), unchecked.
        Err(e) => {
            prepared.warnings.push(format!(
                "credentials were not compared with revision {}: {e:#}",
                current.revision
            ));
            Vec::new()
        }
    };
    Ok(UpgradePlan {
        prepared,
        current,
        plan,
        previous,
        immutable,
        init_only,
    })
}

/// Applies a planned upgrade.
pub async fn run(
    session: &Session,
    reporter: &Reporter,
    planned: UpgradePlan,
    opts: &UpgradeOptions,
) -> Result<Completed> {
    planned.ensure_allowed(opts.recreate, &opts.rotated)?;
    let job_keys = credentials::job_keys(&planned.init_only, &opts.rotated, "upgrade")?;
    let UpgradePlan {
        prepared,
        current,
        plan,
        mut previous,
        immutable,
        init_only: _,
    } = planned;
    let (name, ns) = (&prepared.release.name, &prepared.release.namespace);
    let store = Store::new(session.client.clone(), ns);
    preflight::run_rendered(
        session,
        reporter,
        &prepared,
        &plan,
        false,
        opts.allow_unsupported_kubernetes,
    )
    .await?;
    if !opts.run.skip_tests {
        preflight::external(session, reporter, &prepared, &plan).await?;
    }
    let recreate: Vec<Manifest> = if opts.recreate {
        let ids: Vec<String> = immutable.iter().map(|c| c.object.clone()).collect();
        plan.manifests()
            .filter(|m| ids.contains(&m.id()))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    // A failed later revision may have created objects the current one lacks.
    if let Some(latest) = store
        .latest(name)
        .await?
        .filter(|l| l.revision != current.revision)
    {
        previous.extend(stored_objects(&latest));
    }
    let mut spec = Spec::rendered(Operation::Upgrade, &prepared, plan, opts.run.skip_tests)?;
    // Secrets generated for earlier revisions stay generated: `--reset-values` keeps them.
    let mut generated = current.generated.clone();
    for g in spec.generated.drain(..) {
        if !generated.contains(&g) {
            generated.push(g);
        }
    }
    spec.generated = generated;
    spec.previous = previous;
    spec.recreate = recreate;
    spec.rotation = credentials::plan_for(
        prepared.stack,
        &current.values,
        &prepared.values.tree,
        &prepared.release,
        &job_keys,
    )?;
    let notes = prepared.stack.notes(&prepared.values, &prepared.release);
    let record = run_locked(session, &store, reporter, spec, &opts.run).await?;
    Ok(Completed { record, notes })
}

/// The release's own profile, or `default` when this stackctl no longer has it.
fn profile_of(r: &Record) -> String {
    if crate::profiles::load(&r.profile).is_ok() {
        r.profile.clone()
    } else {
        "default".to_string()
    }
}
