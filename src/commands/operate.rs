//! `install`, `upgrade` and `rollback`: resolve what to apply, check it, lock the
//! release, run it, and tell the user how it went and what to do next.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use tokio::time::Instant;

use super::changes::{change_summary, render_diff};
use super::{Base, Exit, Prepared, exit, prepare, prepare_on};
use crate::apply::apply_all;
use crate::cli::{DryRun, GlobalArgs, InstallArgs, OperationArgs, RollbackArgs, UpgradeArgs};
use crate::cluster::Session;
use crate::lifecycle::operation::{Options, ProbePlan};
use crate::lifecycle::progress::Reporter;
use crate::lifecycle::{
    LOCK_TTL, Outcome, Spec, execute, immutable, preflight, stored_objects, target,
};
use crate::model::{Manifest, SCHEMA_ANNOTATION};
use crate::plan::Plan;
use crate::probe::ProbeReport;
use crate::release::{Lock, LockError, LockGuard, Operation, Record, Status, Store};
use crate::values::{Layer, Path};

pub async fn install(global: &GlobalArgs, args: &InstallArgs) -> Result<()> {
    // Values first: bad input fails before any contact with a cluster.
    let mut prepared = prepare(global, &args.values)?;
    prepared.print_warnings(global);
    if args.op.dry_run == Some(DryRun::Client) {
        return print_client_dry_run(&prepared, global);
    }
    let session = super::connect(global).await?;
    let reporter = Reporter::new(global.quiet, args.op.no_progress);
    let (name, ns) = (
        prepared.release.name.clone(),
        prepared.release.namespace.clone(),
    );
    let store = Store::new(session.client.clone(), &ns);

    let latest = if namespace_exists(&session, &ns).await? {
        store.latest(&name).await?
    } else {
        None
    };
    if let Some(r) = &latest {
        if matches!(r.status, Status::Deployed | Status::Superseded) {
            return Err(Exit::usage(format!(
                "error: release {name} is already installed in namespace {ns} (revision {}, {}); change it with `stackctl upgrade {name}`",
                r.revision, r.status
            ))
            .into());
        }
        // A failed or interrupted install is retried as a new revision; secrets it
        // generated may already be in use (a database initialised with them), so keep them.
        prepared = prepare_on(
            global,
            &args.values,
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
    run_preflight(&session, &reporter, &plan, &ns, args.create_namespace).await?;
    if args.op.dry_run == Some(DryRun::Server) {
        return server_dry_run(&session, &plan).await;
    }
    if args.create_namespace && preflight::ensure_namespace(&session.client, &ns).await? {
        reporter.info(format!("created namespace {ns}"));
    }
    if !args.op.skip_tests {
        external_preflight(&session, &reporter, &prepared, &plan).await?;
    }
    let lock = acquire(&session, &store, &ns, &name, Operation::Install).await?;
    let previous = match &latest {
        Some(r) => stored_objects(r),
        None => Vec::new(),
    };
    let spec = Spec {
        operation: Operation::Install,
        revision: Some(prepared.release.revision),
        release: name.clone(),
        namespace: ns.clone(),
        stack: prepared.stack.name().to_string(),
        profile: prepared.profile.name.clone(),
        values: prepared.values.tree.clone(),
        generated: prepared.values.generated.clone(),
        plan,
        previous,
        recreate: Vec::new(),
        description: String::new(),
        probes: probe_plan(&prepared, &args.op)?,
    };
    finish(
        Running {
            session: &session,
            store: &store,
            reporter: &reporter,
        },
        lock,
        spec,
        &args.op,
        Some(&prepared),
        global.quiet,
    )
    .await
}

pub async fn upgrade(global: &GlobalArgs, args: &UpgradeArgs) -> Result<()> {
    let session = super::connect(global).await?;
    let reporter = Reporter::new(global.quiet, args.op.no_progress);
    let (prepared, current, plan) = plan_upgrade(global, args, &session).await?;
    let (name, ns) = (
        prepared.release.name.clone(),
        prepared.release.namespace.clone(),
    );
    let store = Store::new(session.client.clone(), &ns);

    let previous = stored_objects(&current);
    let changes = change_summary(&previous, &plan);
    let immutable = immutable::changes(&previous, &plan.manifests().cloned().collect::<Vec<_>>());
    if !immutable.is_empty() && !args.recreate {
        let list = immutable
            .iter()
            .map(|c| format!("  - {c}"))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(Exit::usage(format!(
            "error: the upgrade changes fields Kubernetes does not allow to change in place:\n{list}\nre-run with --recreate to delete and re-create these objects (orphaning their pods and volumes, so data is kept), or revert those values"
        ))
        .into());
    }
    if !global.quiet {
        eprintln!("{}", changes.text);
        if args.diff {
            eprintln!("{}", render_diff(&session, &plan, &previous).await?);
        }
    }
    if changes.changed == 0 && changes.added == 0 && changes.removed == 0 {
        reporter.info("no object changes; recording a new revision anyway");
    }
    if args.op.dry_run.is_some() {
        return match args.op.dry_run {
            Some(DryRun::Server) => server_dry_run(&session, &plan).await,
            _ => print_client_dry_run(&prepared, global),
        };
    }
    if !confirm(&format!("Upgrade {name} in namespace {ns}?"), args.op.yes)? {
        return Err(Exit::usage("aborted: nothing was changed").into());
    }
    run_preflight(&session, &reporter, &plan, &ns, false).await?;
    if !args.op.skip_tests {
        external_preflight(&session, &reporter, &prepared, &plan).await?;
    }
    let lock = acquire(&session, &store, &ns, &name, Operation::Upgrade).await?;
    let recreate = if args.recreate {
        let ids: Vec<String> = immutable.iter().map(|c| c.object.clone()).collect();
        plan.manifests()
            .filter(|m| ids.contains(&m.id()))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let mut previous = previous;
    if let Some(latest) = store
        .latest(&name)
        .await?
        .filter(|l| l.revision != current.revision)
    {
        previous.extend(stored_objects(&latest));
    }
    let mut generated = current.generated.clone();
    for g in &prepared.values.generated {
        if !generated.contains(g) {
            generated.push(g.clone());
        }
    }
    let spec = Spec {
        operation: Operation::Upgrade,
        revision: Some(prepared.release.revision),
        release: name,
        namespace: ns,
        stack: prepared.stack.name().to_string(),
        profile: prepared.profile.name.clone(),
        values: prepared.values.tree.clone(),
        generated,
        plan,
        previous,
        recreate,
        description: String::new(),
        probes: probe_plan(&prepared, &args.op)?,
    };
    finish(
        Running {
            session: &session,
            store: &store,
            reporter: &reporter,
        },
        lock,
        spec,
        &args.op,
        Some(&prepared),
        global.quiet,
    )
    .await
}

/// Resolves an upgrade's values over the release's current ones and plans it; shared
/// with `diff`.
pub async fn plan_upgrade(
    global: &GlobalArgs,
    args: &UpgradeArgs,
    session: &Session,
) -> Result<(Prepared, Record, Plan)> {
    let t = target::find(
        &session.client,
        args.values.release.as_deref(),
        global.namespace.as_deref(),
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
    let layer = if args.reset_values {
        generated_layer(&current)
    } else {
        Layer::tree(
            format!("values of revision {}", current.revision),
            current.values.clone(),
        )
    };
    let mut values_args = args.values.clone();
    values_args.release = Some(t.name.clone());
    let mut g = global.clone();
    g.namespace = Some(t.namespace.clone());
    let profile = profile_of(&current);
    let mut prepared = prepare_on(
        &g,
        &values_args,
        Base {
            profile: Some(profile),
            layer: Some(layer),
        },
        &mut rand::rng(),
    )?;
    let latest = store.latest(&t.name).await?;
    prepared.release.revision = latest.map_or(current.revision, |r| r.revision) + 1;
    prepared.print_warnings(global);
    let plan = prepared.plan(session.caps)?;
    Ok((prepared, current, plan))
}

pub async fn rollback(global: &GlobalArgs, args: &RollbackArgs) -> Result<()> {
    let (release, revision) = parse_rollback_args(&args.args)?;
    let session = super::connect(global).await?;
    let reporter = Reporter::new(global.quiet, args.op.no_progress);
    let t = target::find(
        &session.client,
        release.as_deref(),
        global.namespace.as_deref(),
    )
    .await?;
    let store = Store::new(session.client.clone(), &t.namespace);
    let history = store.history(&t.name).await?;
    let current = history
        .iter()
        .rev()
        .find(|r| r.status == Status::Deployed)
        .map(|r| r.revision);
    let wanted = match revision {
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
    let target_record = store
        .get(&t.name, wanted)
        .await
        .map_err(|e| Exit::usage(format!("error: {e}; see `stackctl history {}`", t.name)))?;
    if target_record.manifests.is_empty() {
        return Err(Exit::usage(format!(
            "error: revision {wanted} of {} applied nothing; pick another (`stackctl history {}`)",
            t.name, t.name
        ))
        .into());
    }
    let manifests = stored_objects(&target_record);
    let schemas: Vec<String> = manifests
        .iter()
        .filter_map(|m| {
            let what = m.body["metadata"]["annotations"][SCHEMA_ANNOTATION].as_str()?;
            Some(format!("{what} (Job {})", m.name))
        })
        .collect();
    if !schemas.is_empty() && !global.quiet {
        eprintln!(
            "note: rollback re-applies the objects of revision {wanted}; it does not roll back database schemas. \
             Tables and rows later revisions added stay; revision {wanted}'s schema Job is applied again, \
             and if it runs it only adds what is missing:\n  {}",
            schemas.join("\n  ")
        );
    }
    let plan = Plan::from_stored(manifests, &target_record.dependencies)?;
    if args.op.dry_run.is_some() {
        return match args.op.dry_run {
            Some(DryRun::Server) => server_dry_run(&session, &plan).await,
            _ => {
                print!("{}", plan.to_yaml()?);
                Ok(())
            }
        };
    }
    run_preflight(&session, &reporter, &plan, &t.namespace, false).await?;
    let lock = acquire(&session, &store, &t.namespace, &t.name, Operation::Rollback).await?;
    let mut previous = Vec::new();
    for r in store.list(&t.name).await?.iter().rev().take(2) {
        previous.extend(stored_objects(r));
    }
    let spec = Spec {
        operation: Operation::Rollback,
        revision: None,
        release: t.name.clone(),
        namespace: t.namespace.clone(),
        stack: target_record.stack.clone(),
        profile: target_record.profile.clone(),
        values: target_record.values.clone(),
        generated: target_record.generated.clone(),
        plan,
        previous,
        recreate: Vec::new(),
        description: format!("Rollback to {wanted}"),
        probes: None,
    };
    finish(
        Running {
            session: &session,
            store: &store,
            reporter: &reporter,
        },
        lock,
        spec,
        &args.op,
        None,
        global.quiet,
    )
    .await
}

/// `rollback 1`, `rollback cv`, `rollback cv 1`: release names start with a letter, so
/// a number is always a revision.
fn parse_rollback_args(args: &[String]) -> Result<(Option<String>, Option<u32>)> {
    let revision = |s: &str| -> Result<u32> {
        s.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
            Exit::usage(format!(
                "error: {s:?} is not a revision number (see `stackctl history`)"
            ))
            .into()
        })
    };
    match args {
        [] => Ok((None, None)),
        [one] if one.chars().all(|c| c.is_ascii_digit()) => Ok((None, Some(revision(one)?))),
        [one] => Ok((Some(one.clone()), None)),
        [name, rev] => Ok((Some(name.clone()), Some(revision(rev)?))),
        _ => Err(Exit::usage("error: rollback takes [RELEASE] [REVISION]").into()),
    }
}

/// What a running operation talks to.
struct Running<'a> {
    session: &'a Session,
    store: &'a Store,
    reporter: &'a Reporter,
}

/// Runs the operation, releases the lock, and reports the outcome with next steps.
async fn finish(
    Running {
        session,
        store,
        reporter,
    }: Running<'_>,
    lock: LockGuard,
    spec: Spec,
    op: &OperationArgs,
    prepared: Option<&Prepared>,
    quiet: bool,
) -> Result<()> {
    let timeout = op.timeout.unwrap_or_else(|| default_timeout(&spec.plan));
    let options = Options {
        deadline: Instant::now() + timeout,
        atomic: op.atomic,
        history_max: op.history_max,
    };
    let (name, ns, operation) = (spec.release.clone(), spec.namespace.clone(), spec.operation);
    let outcome = execute(session, store, reporter, &lock, spec, &options).await;
    if let Err(e) = lock.release().await {
        reporter.warn(format!("could not release the lock: {e}"));
    }
    match outcome? {
        Outcome::Deployed(record) => {
            reporter.info(format!(
                "{} of {name} complete: revision {} deployed in {:.1}s",
                operation.title(),
                record.revision,
                reporter.elapsed().as_secs_f64()
            ));
            if let Some(p) = prepared.filter(|_| !quiet) {
                print_notes(p);
            }
            if let Some(report) = ProbeReport::from_record(record.probes.as_ref()).filter(|_| !quiet) {
                println!("\nConnectivity probes ({})\n{}", report.summary(), report.table());
            }
            Ok(())
        }
        Outcome::Failed {
            record,
            failure,
            rolled_back,
            probes,
        } => {
            let mut msg = format!("error: {} of {name} failed (revision {} marked failed)\n{failure}", operation.title(), record.revision);
            if let Some(r) = rolled_back {
                msg.push_str(&format!("\n{r}"));
            } else {
                msg.push_str(&format!(
                    "\nfix the cause, then re-run the same command (`stackctl {}` retries as a new revision), or `stackctl rollback` to go back; `stackctl status -n {ns} {name}` shows the current state",
                    operation.as_str()
                ));
            }
            let code = if probes { exit::PROBES } else { exit::FAILED };
            Err(Exit { code, message: msg }.into())
        }
        Outcome::Interrupted { record, why } => Err(Exit {
            code: exit::INTERRUPTED,
            message: format!(
                "{} of {name} {why}: revision {} marked failed and the lock released; re-run the command to retry, or `stackctl rollback` to go back",
                operation.title(),
                record.revision
            ),
        }
        .into()),
    }
}

/// The probes to run as the last phase, unless `--skip-tests`.
fn probe_plan(prepared: &Prepared, op: &OperationArgs) -> Result<Option<ProbePlan>> {
    if op.skip_tests {
        return Ok(None);
    }
    Ok(Some(ProbePlan {
        release: prepared.release.clone(),
        specs: prepared.stack.probes(&prepared.values, &prepared.release)?,
    }))
}

fn print_notes(p: &Prepared) {
    let notes = p.stack.notes(&p.values, &p.release);
    if !notes.is_empty() {
        println!("{}", notes.join("\n"));
    }
}

async fn acquire(
    session: &Session,
    store: &Store,
    ns: &str,
    name: &str,
    op: Operation,
) -> Result<LockGuard> {
    let guard = Lock::acquire(session.client.clone(), ns, name, op.as_str(), LOCK_TTL)
        .await
        .map_err(|e| match e {
            held @ LockError::Held { .. } => anyhow::Error::new(Exit {
                code: exit::LOCKED,
                message: format!("error: {held}"),
            }),
            other => anyhow::Error::new(other),
        })?;
    // Holding the lock, any revision still pending belongs to no live operation: it
    // was interrupted (killed, crashed, connection lost), whether or not its lock had
    // to be taken over.
    let why = match guard.took_over() {
        Some(previous) => format!(
            "its stackctl process ({}) stopped without finishing",
            previous.holder
        ),
        None => "its stackctl process stopped without finishing".to_string(),
    };
    if let Some(r) = store.fail_interrupted(name, &why).await? {
        eprintln!(
            "note: revision {} of {name} was left {} ({why}); marked failed, continuing",
            r.revision, r.operation
        );
    }
    Ok(guard)
}

async fn run_preflight(
    session: &Session,
    reporter: &Reporter,
    plan: &Plan,
    ns: &str,
    create_namespace: bool,
) -> Result<()> {
    let manifests: Vec<Manifest> = plan.manifests().cloned().collect();
    let mut wanted = preflight::required_permissions(&session.resolver, &manifests, ns)
        .await
        .map_err(|e| Exit {
            code: exit::PREFLIGHT,
            message: format!("error: preflight: {e:#}"),
        })?;
    if create_namespace && !namespace_exists(session, ns).await? {
        wanted.push(crate::cluster::Permission {
            verb: "create",
            group: String::new(),
            resource: "namespaces".into(),
            namespace: None,
        });
    }
    let denied = crate::cluster::denied_permissions(&session.client, &wanted).await?;
    let mut problems: Vec<String> = Vec::new();
    if !denied.is_empty() {
        let list = denied
            .iter()
            .map(|p| format!("    {p}"))
            .collect::<Vec<_>>()
            .join("\n");
        problems.push(format!(
            "you lack {} permissions the release needs:\n{list}",
            denied.len()
        ));
    }
    problems.extend(preflight::storage_problems(&session.client, &manifests).await?);
    if !problems.is_empty() {
        let list = problems
            .iter()
            .map(|p| format!("  - {p}"))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(Exit {
            code: exit::PREFLIGHT,
            message: format!("error: preflight failed; nothing was changed:\n{list}"),
        }
        .into());
    }
    if let Some(w) = preflight::capacity_warning(&session.client, &manifests).await? {
        reporter.warn(w);
    }
    reporter.info(format!(
        "preflight passed ({} permissions checked)",
        wanted.len()
    ));
    Ok(())
}

/// Probes of the external dependencies (`<dependency>.enabled=false`) before anything
/// of the release is written, so that a wrong host or password stops the operation
/// here (exit code 5). Their Jobs and a temporary credentials Secret are the only
/// writes, and are deleted again (see `probe::run_preflight_probes`).
async fn external_preflight(
    session: &Session,
    reporter: &Reporter,
    prepared: &Prepared,
    plan: &Plan,
) -> Result<()> {
    let manifests: Vec<Manifest> = plan.manifests().cloned().collect();
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

async fn namespace_exists(session: &Session, ns: &str) -> Result<bool> {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(session.client.clone());
    match api.get_opt(ns).await {
        Ok(found) => Ok(found.is_some()),
        // Without the right to read namespaces, assume it exists; later calls will tell.
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(true),
        Err(e) => Err(e).with_context(|| format!("reading namespace {ns}")),
    }
}

/// Generous enough for image pulls and database start-up, scaled by what must start.
pub fn default_timeout(plan: &Plan) -> Duration {
    let workloads = plan
        .manifests()
        .filter(|m| {
            matches!(
                m.kind.as_str(),
                "Deployment" | "StatefulSet" | "DaemonSet" | "Job"
            )
        })
        .count() as u64;
    Duration::from_secs((300 + 60 * workloads).min(1200))
}

/// The previous revision's generated secrets only, as a layer.
fn generated_layer(r: &Record) -> Layer {
    let mut tree = Value::Object(Default::default());
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
            node[*k] = Value::Object(Default::default());
        }
        node = &mut node[*k];
    }
}

fn profile_of(r: &Record) -> String {
    if crate::profiles::load(&r.profile).is_ok() {
        r.profile.clone()
    } else {
        "default".to_string()
    }
}

fn confirm(prompt: &str, yes: bool) -> Result<bool> {
    // Never wait for input without a terminal: automation gets the default (yes) for
    // upgrades, which the user asked for by running the command.
    if yes || !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Ok(true);
    }
    dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(true)
        .interact()
        .context("reading the confirmation")
}

fn print_client_dry_run(prepared: &Prepared, global: &GlobalArgs) -> Result<()> {
    let plan = prepared.plan(crate::model::Capabilities::latest())?;
    if !global.quiet {
        eprintln!(
            "dry run (client): {} objects would be applied; nothing was sent to a cluster",
            plan.manifests().count()
        );
    }
    print!("{}", plan.to_yaml()?);
    Ok(())
}

async fn server_dry_run(session: &Session, plan: &Plan) -> Result<()> {
    let manifests: Vec<Manifest> = plan.manifests().cloned().collect();
    match apply_all(&session.resolver, &manifests, true).await {
        Ok(objects) => {
            println!(
                "dry run (server): the API server accepted all {} objects; nothing was changed",
                objects.len()
            );
            Ok(())
        }
        Err(errors) => {
            let list = errors
                .iter()
                .map(|e| format!("  - {e:#}"))
                .collect::<Vec<_>>()
                .join("\n");
            Err(Exit {
                code: exit::FAILED,
                message: format!(
                    "error: the API server rejected {} objects:\n{list}",
                    errors.len()
                ),
            }
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_arguments() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_rollback_args(&s(&["1"])).unwrap(), (None, Some(1)));
        assert_eq!(
            parse_rollback_args(&s(&["cv"])).unwrap(),
            (Some("cv".into()), None)
        );
        assert_eq!(
            parse_rollback_args(&s(&["cv", "3"])).unwrap(),
            (Some("cv".into()), Some(3))
        );
        assert!(parse_rollback_args(&s(&["cv", "x"])).is_err());
        assert!(parse_rollback_args(&s(&["0"])).is_err());
    }

    #[test]
    fn generated_secrets_become_a_layer() {
        let mut tree = Value::Object(Default::default());
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
