//! Install: the first revision of a release, or a retry of a failed or interrupted
//! install as a new revision that keeps the secrets it generated.

use anyhow::Result;

use super::executor::{Spec, run_locked};
use super::failure::Refused;
use super::prepare::{Base, Input, Prepared, generated_layer, prepare_on};
use super::progress::Reporter;
use super::{Completed, RunOptions, preflight, server_dry_run};
use crate::cluster::Session;
use crate::release::{Operation, Status, Store};

pub struct InstallOptions {
    /// Where the values came from; a retry resolves them again over the failed
    /// revision's generated secrets.
    pub input: Input,
    pub create_namespace: bool,
    /// `--dry-run=server`: check everything, write nothing.
    pub server_dry_run: bool,
    /// `--allow-unsupported-kubernetes`: a cluster older than a component needs is
    /// warned about, not refused.
    pub allow_unsupported_kubernetes: bool,
    pub run: RunOptions,
}

/// What an install did.
#[derive(Debug)]
pub enum Installed {
    /// `--dry-run=server`: the API server accepted this many objects.
    DryRun {
        objects: usize,
    },
    Done(Box<Completed>),
}

pub async fn install(
    session: &Session,
    reporter: &Reporter,
    prepared: Prepared,
    opts: &InstallOptions,
) -> Result<Installed> {
    let mut prepared = prepared;
    let (name, ns) = (
        prepared.release.name.clone(),
        prepared.release.namespace.clone(),
    );
    let store = Store::new(session.client.clone(), &ns);
    // Read once: it decides whether there can be records, and whether to create it.
    let exists = preflight::namespace_exists(&session.client, &ns).await?;
    let latest = if exists {
        store.latest(&name).await?
    } else {
        None
    };
    if let Some(r) = &latest {
        if matches!(r.status, Status::Deployed | Status::Superseded) {
            return Err(Refused(format!(
                "release {name} is already installed in namespace {ns} (revision {}, {}); change it with `stackctl upgrade {name}`",
                r.revision, r.status
            ))
            .into());
        }
        // A failed or interrupted install is retried as a new revision; secrets it
        // generated may already be in use (a database initialised with them), so keep them.
        prepared = prepare_on(
            &opts.input,
            Base {
                profile: None,
                layer: Some(generated_layer(r)),
                earlier_defaults: false,
            },
            &mut rand::rng(),
        )?;
        reporter.info(format!(
            "revision {} of {name} is {}; retrying the install as a new revision",
            r.revision, r.status
        ));
    }

    prepared.release.revision = latest.as_ref().map_or(1, |r| r.revision + 1);
    reporter.info(format!("cluster {}", session.server_version));
    let plan = prepared.plan(session.caps)?;
    let create = opts.create_namespace && !exists;
    preflight::run_rendered(
        session,
        reporter,
        &prepared,
        &plan,
        create,
        opts.allow_unsupported_kubernetes,
    )
    .await?;
    if opts.server_dry_run {
        let objects = server_dry_run(session, &plan).await?;
        return Ok(Installed::DryRun { objects });
    }
    if create && preflight::create_namespace(&session.client, &ns).await? {
        reporter.info(format!("created namespace {ns}"));
    }
    if !opts.run.skip_tests {
        preflight::external(session, reporter, &prepared, &plan).await?;
    }
    let mut spec = Spec::rendered(Operation::Install, &prepared, plan, opts.run.skip_tests)?;
    if let Some(r) = &latest {
        spec.previous = super::stored_objects(r);
    }
    let notes = prepared.stack.notes(&prepared.values, &prepared.release);
    // Re-running a failed install is the moment its stuck pods must start afresh:
    // the fix is what this run applies.
    let mut run = opts.run.clone();
    run.restart_failed = Some(run.restart_failed.unwrap_or(latest.is_some()));
    let record = run_locked(session, &store, reporter, spec, &run).await?;
    Ok(Installed::Done(Box::new(Completed { record, notes })))
}
