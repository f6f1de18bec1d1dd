//! Install: the first revision of a release, or a retry of a failed or interrupted
//! install as a new revision that keeps the secrets it generated.

use anyhow::Result;
use serde_json::Value;
use tokio::time::Instant;

use super::executor::{Options, Outcome, Spec, execute};
use super::failure::{Failed, Interrupted, Refused};
use super::prepare::{Base, Input, Prepared, prepare_on};
use super::progress::Reporter;
use super::{Completed, RunOptions, default_timeout, guard, preflight, server_dry_run};
use crate::cluster::Session;
use crate::release::{Operation, Record, Status, Store};
use crate::values::{Layer, Path};

pub struct InstallOptions {
    /// Where the values came from; a retry resolves them again over the failed
    /// revision's generated secrets.
    pub input: Input,
    pub create_namespace: bool,
    /// `--dry-run=server`: check everything, write nothing.
    pub server_dry_run: bool,
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
    let latest = if preflight::namespace_exists(&session.client, &ns).await? {
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
    preflight::run(session, reporter, &plan, &ns, opts.create_namespace).await?;
    if opts.server_dry_run {
        let objects = server_dry_run(session, &plan).await?;
        return Ok(Installed::DryRun { objects });
    }
    if opts.create_namespace && preflight::ensure_namespace(&session.client, &ns).await? {
        reporter.info(format!("created namespace {ns}"));
    }
    if !opts.run.skip_tests {
        external_preflight(session, reporter, &prepared, &plan).await?;
    }
    let mut spec = Spec::rendered(Operation::Install, &prepared, plan, opts.run.skip_tests)?;
    if let Some(r) = &latest {
        spec.previous = super::stored_objects(r);
    }
    let notes = prepared.stack.notes(&prepared.values, &prepared.release);
    let record = run_locked(session, &store, reporter, spec, &opts.run).await?;
    Ok(Installed::Done(Box::new(Completed { record, notes })))
}

/// Takes the lock, executes, releases the lock, and turns the outcome into a result:
/// the one path every writing operation ends in.
pub(super) async fn run_locked(
    session: &Session,
    store: &Store,
    reporter: &Reporter,
    spec: Spec,
    run: &RunOptions,
) -> Result<Record> {
    let operation = spec.operation;
    let lock = guard::acquire(session, store, reporter, &spec.release, operation.as_str()).await?;
    let options = Options {
        deadline: Instant::now() + run.timeout.unwrap_or_else(|| default_timeout(&spec.plan)),
        atomic: run.atomic,
        history_max: run.history_max,
    };
    let outcome = execute(session, store, reporter, &lock, spec, &options).await;
    if let Err(e) = lock.release().await {
        reporter.warn(format!("could not release the lock: {e}"));
    }
    match outcome? {
        Outcome::Deployed(record) => {
            reporter.info(format!(
                "{} of {} complete: revision {} deployed in {:.1}s",
                operation.title(),
                record.release,
                record.revision,
                reporter.elapsed().as_secs_f64()
            ));
            Ok(record)
        }
        Outcome::Failed {
            record,
            failure,
            rolled_back,
        } => Err(Failed {
            operation,
            record,
            failure,
            rolled_back,
        }
        .into()),
        Outcome::Interrupted { record, why } => Err(Interrupted {
            operation,
            record,
            why,
        }
        .into()),
    }
}

/// Probes of the external dependencies (`<dependency>.enabled=false`) before anything
/// of the release is written, so that a wrong host or password stops the operation
/// here. Their Jobs and a temporary credentials Secret are the only writes, and are
/// deleted again (see `probe::run_preflight_probes`).
pub(super) async fn external_preflight(
    session: &Session,
    reporter: &Reporter,
    prepared: &Prepared,
    plan: &crate::plan::Plan,
) -> Result<()> {
    let manifests: Vec<_> = plan.manifests().cloned().collect();
    let report = crate::probe::preflight_external(
        session,
        prepared.stack,
        &prepared.values,
        &prepared.release,
        &manifests,
        |r| reporter.info(format!("preflight probe {}: {}", r.job, r.result_text())),
    )
    .await?;
    if let Some(r) = report {
        reporter.info(format!(
            "preflight probes of external services: {}",
            r.summary()
        ));
    }
    Ok(())
}

/// The previous revision's generated secrets only, as a layer.
pub(super) fn generated_layer(r: &Record) -> Layer {
    let mut tree = Value::Object(serde_json::Map::new());
    for path in &r.generated {
        let p = Path::parse(path);
        if let Some(v) = p.get(&r.values) {
            set_path(&mut tree, path, v.clone());
        }
    }
    Layer::tree(
        format!("secrets generated for revision {}", r.revision),
        tree,
    )
}

fn set_path(tree: &mut Value, dotted: &str, value: Value) {
    let mut node = tree;
    let keys: Vec<&str> = dotted.split('.').collect();
    for (i, k) in keys.iter().enumerate() {
        if i + 1 == keys.len() {
            node[*k] = value;
            return;
        }
        if !node[*k].is_object() {
            node[*k] = Value::Object(serde_json::Map::new());
        }
        node = &mut node[*k];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_become_a_layer() {
        let mut tree = Value::Object(serde_json::Map::new());
        set_path(&mut tree, "mysql.auth.password", Value::String("p".into()));
        set_path(
            &mut tree,
            "mysql.auth.rootPassword",
            Value::String("r".into()),
        );
        assert_eq!(
            tree,
            serde_json::json!({"mysql": {"auth": {"password": "p", "rootPassword": "r"}}})
        );
    }
}
