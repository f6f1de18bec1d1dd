//! `install`, `upgrade` and `rollback`: flags become options, the operation runs,
//! and the outcome is printed with next steps. Everything they do is in
//! [`crate::operations`]; what is here is what a person sees.

use anyhow::Result;

use super::confirm::{Stakes, confirm};
use crate::operations::changes::{change_summary, policies_turned_on, render_diff};
use serde::Serialize;

use crate::cli::{
    DryRun, GlobalArgs, InstallArgs, OperationArgs, OutputFormat, RollbackArgs, UpgradeArgs,
};
use crate::operations::failure::Failure;
use crate::operations::install::{InstallOptions, Installed};
use crate::operations::outcome;
use crate::operations::progress::Reporter;
use crate::operations::rollback::RollbackOptions;
use crate::operations::upgrade::UpgradeOptions;
use crate::operations::{
    Completed, Failed, Interrupted, Prepared, Refused, RunOptions, install, rollback,
    server_dry_run, upgrade,
};
use crate::output::print_structured;
use crate::plan::Plan;
use crate::probe::ProbeReport;
use crate::release::{ComponentOutcome, Record};

pub async fn install(global: &GlobalArgs, args: &InstallArgs) -> Result<()> {
    let mut opts = InstallOptions {
        input: super::values_input(global, &args.values),
        create_namespace: args.create_namespace,
        server_dry_run: args.op.dry_run == Some(DryRun::Server),
        allow_unsupported_kubernetes: args.allow_unsupported_kubernetes,
        run: run_options(&args.op),
    };
    // Values first: bad input fails before any contact with a cluster, and what
    // the profile requires is asked for, on a terminal, before it too.
    let prepared = super::ask::prepare_asking(&mut opts.input, args.op.yes)?;
    super::print_warnings(global, &prepared);
    if args.op.dry_run == Some(DryRun::Client) {
        return print_client_dry_run(&prepared, global);
    }
    let session = super::connect(global).await?;
    let reporter = Reporter::new(global.quiet, args.op.no_progress);
    match install::install(&session, &reporter, prepared, &opts).await? {
        Installed::DryRun { objects } => print_server_dry_run(objects),
        Installed::Done(done) => print_completed(global, &done)?,
    }
    Ok(())
}

pub async fn upgrade(global: &GlobalArgs, args: &UpgradeArgs) -> Result<()> {
    let opts = UpgradeOptions {
        input: super::values_input(global, &args.values),
        reset_values: args.reset_values,
        recreate: args.recreate,
        rotated: args.rotated.clone(),
        allow_unsupported_kubernetes: args.allow_unsupported_kubernetes,
        run: run_options(&args.op),
    };
    let session = super::connect(global).await?;
    let reporter = Reporter::new(global.quiet, args.op.no_progress);
    let planned = upgrade::plan(&session, &opts.input, opts.reset_values).await?;
    super::print_warnings(global, &planned.prepared);
    planned.ensure_allowed(opts.recreate, &opts.rotated)?;
    let changes = change_summary(&planned.previous, &planned.plan);
    if !global.quiet {
        eprintln!("{}", changes.text);
        if let Some(note) = policies_turned_on(&planned.previous, &planned.plan)? {
            // With --diff the policies are in the full diff below.
            let note = if args.diff {
                note.lines().next().unwrap_or_default().to_string()
            } else {
                note
            };
            eprintln!("{note}");
        }
        if args.diff {
            eprintln!(
                "{}",
                render_diff(
                    &session,
                    &planned.plan,
                    &planned.previous,
                    &planned.immutable,
                )
                .await?
            );
        }
    }
    if changes.changed == 0 && changes.added == 0 && changes.removed == 0 {
        reporter.info("no object changes; recording a new revision anyway");
    }
    match args.op.dry_run {
        Some(DryRun::Server) => {
            print_server_dry_run(server_dry_run(&session, &planned.plan).await?);
            return Ok(());
        }
        Some(DryRun::Client) => return print_client_dry_run(&planned.prepared, global),
        None => {}
    }
    let (name, ns) = (
        &planned.prepared.release.name,
        &planned.prepared.release.namespace,
    );
    confirm(
        &format!("Upgrade {name} in namespace {ns}?"),
        args.op.yes,
        Stakes::Change,
    )?;
    let done = upgrade::run(&session, &reporter, planned, &opts).await?;
    print_completed(global, &done)
}

pub async fn rollback(global: &GlobalArgs, args: &RollbackArgs) -> Result<()> {
    let (release, revision) = parse_rollback_args(&args.args)?;
    let opts = RollbackOptions {
        release,
        namespace: global.namespace.clone(),
        revision,
        rotated: args.rotated.clone(),
        run: run_options(&args.op),
    };
    let session = super::connect(global).await?;
    let reporter = Reporter::new(global.quiet, args.op.no_progress);
    let planned = rollback::plan(&session, &opts).await?;
    if !global.quiet {
        for w in &planned.warnings {
            eprintln!("warning: {w}");
        }
    }
    planned.ensure_allowed(&opts.rotated)?;
    if !planned.schemas.is_empty() && !global.quiet {
        let wanted = planned.target.revision;
        eprintln!(
            "note: rollback re-applies the objects of revision {wanted}; it does not roll back database schemas. \
             Tables and rows later revisions added stay; revision {wanted}'s schema Job is applied again, \
             and if it runs it only adds what is missing:\n  {}",
            planned.schemas.join("\n  ")
        );
    }
    match args.op.dry_run {
        Some(DryRun::Server) => {
            print_server_dry_run(server_dry_run(&session, planned.plan()).await?);
            return Ok(());
        }
        Some(DryRun::Client) => {
            print!("{}", planned.plan().to_yaml()?);
            return Ok(());
        }
        None => {}
    }
    let done = rollback::run(&session, &reporter, planned, &opts).await?;
    print_completed(global, &done)
}

fn run_options(op: &OperationArgs) -> RunOptions {
    RunOptions {
        timeout: op.timeout,
        atomic: op.atomic,
        history_max: op.history_max,
        skip_tests: op.skip_tests,
        restart_failed: op.restart_failed,
        prepull: op.prepull,
    }
}

/// `rollback 1`, `rollback cv`, `rollback cv 1`: release names start with a letter, so
/// a number is always a revision.
fn parse_rollback_args(args: &[String]) -> Result<(Option<String>, Option<u32>), Refused> {
    let revision = |s: &str| -> Result<u32, Refused> {
        s.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
            Refused(format!(
                "{s:?} is not a revision number (see `stackctl history`)"
            ))
        })
    };
    match args {
        [] => Ok((None, None)),
        [one] if one.chars().all(|c| c.is_ascii_digit()) => Ok((None, Some(revision(one)?))),
        [one] => Ok((Some(one.clone()), None)),
        [name, rev] => Ok((Some(name.clone()), Some(revision(rev)?))),
        _ => Err(Refused("rollback takes [RELEASE] [REVISION]".into())),
    }
}

/// The documented shape of `install|upgrade|rollback -o json|yaml`: how the
/// operation ended, on stdout, also when it failed (then with `failure`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationReport {
    pub release: String,
    pub namespace: String,
    pub operation: String,
    pub revision: u32,
    pub status: String,
    pub description: String,
    pub probes: Option<ProbeReport>,
    /// Where and why it failed; for objects that did not become ready, one diagnosis
    /// each (object, reason, detail, events, remedy).
    pub failure: Option<Failure>,
    /// What `--atomic` did after the failure.
    pub rolled_back: Option<String>,
    /// Why it stopped before the end (Ctrl-C, a lost lock).
    pub interrupted: Option<String>,
    /// Each component's outcome per phase, in apply order: `ready`, `failed`,
    /// `notWaitedFor` (still progressing when another component of its wave
    /// failed), `notStarted` (a later wave or phase).
    pub components: Vec<ComponentOutcome>,
}

impl OperationReport {
    fn new(record: &Record) -> Self {
        OperationReport {
            release: record.release.clone(),
            namespace: record.namespace.clone(),
            operation: record.operation.to_string(),
            revision: record.revision,
            status: record.status.to_string(),
            description: record.description.clone(),
            probes: ProbeReport::from_record(record.probes.as_ref()),
            failure: None,
            rolled_back: None,
            interrupted: None,
            components: outcome::of_phases(&record.phases),
        }
    }

    /// The report of an operation that failed or was interrupted, for `-o json|yaml`;
    /// `None` for errors before a revision was recorded.
    pub fn of_error(e: &anyhow::Error) -> Option<Self> {
        if let Some(f) = e.downcast_ref::<Failed>() {
            return Some(OperationReport {
                failure: Some(f.failure.clone()),
                rolled_back: f.rolled_back.clone(),
                ..OperationReport::new(&f.record)
            });
        }
        let i = e.downcast_ref::<Interrupted>()?;
        Some(OperationReport {
            interrupted: Some(i.why.clone()),
            ..OperationReport::new(&i.record)
        })
    }
}

/// What the stack wants known (unless `--quiet`), then the probe table; with
/// `-o json|yaml` the [`OperationReport`] instead.
fn print_completed(global: &GlobalArgs, done: &Completed) -> Result<()> {
    if global.output != OutputFormat::Text {
        return print_structured(global.output, &OperationReport::new(&done.record));
    }
    if global.quiet {
        return Ok(());
    }
    if !done.notes.is_empty() {
        println!("{}", done.notes.join("\n"));
    }
    if let Some(report) = ProbeReport::from_record(done.record.probes.as_ref()) {
        println!(
            "\nConnectivity probes ({})\n{}",
            report.summary(),
            report.table()
        );
    }
    Ok(())
}

fn print_client_dry_run(prepared: &Prepared, global: &GlobalArgs) -> Result<()> {
    let plan: Plan = prepared.plan(crate::model::Capabilities::latest())?;
    if !global.quiet {
        eprintln!(
            "dry run (client): {} objects would be applied; nothing was sent to a cluster",
            plan.manifests().count()
        );
    }
    print!("{}", plan.to_yaml()?);
    Ok(())
}

fn print_server_dry_run(objects: usize) {
    println!(
        "dry run (server): the API server accepted all {objects} objects; nothing was changed"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_arguments() {
        let s = |v: &[&str]| {
            v.iter()
                .map(std::string::ToString::to_string)
                .collect::<Vec<_>>()
        };
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
}
