//! `stackctl test [RELEASE]`: runs the release's connectivity probes against what is
//! deployed (the newest revision's values), prints a table and the failing probes'
//! logs, and records the results in that revision, where `status` shows them.

use anyhow::Result;

use super::Verdict;
use crate::cli::{GlobalArgs, OutputFormat, TestArgs};
use crate::model::Release;
use crate::operations::Refused;
use crate::operations::target;
use crate::output::print_structured;
use crate::probe::{ProbeResult, RunOptions, run_probes, save_to_record, select};
use crate::release::{Lock, Store};
use crate::stacks::{self, ResolvedValues};

pub async fn run(global: &GlobalArgs, args: &TestArgs) -> Result<()> {
    let session = super::connect(global).await?;
    let t = target::find(
        &session.client,
        args.release.release.as_deref(),
        global.namespace.as_deref(),
    )
    .await?;
    let store = Store::new(session.client.clone(), &t.namespace);
    let Some(record) = store.latest(&t.name).await? else {
        return Err(Refused(format!("release {} has no revisions", t.name)).into());
    };
    let stack = stacks::find(&record.stack)?;
    let release = Release {
        name: t.name.clone(),
        namespace: t.namespace.clone(),
        stack: stack.name(),
        revision: 1,
    };
    let values = ResolvedValues {
        tree: record.values.clone(),
        generated: record.generated.clone(),
    };
    let probes = select(
        stack.probes(&values, &release)?,
        args.filter.as_deref(),
        &t.name,
    )?;
    let quiet = global.quiet;
    if probes.is_empty() {
        if !quiet {
            eprintln!("the {} stack defines no connectivity probes", stack.name());
        }
        return Ok(());
    }
    if !quiet {
        let names: Vec<&str> = probes.iter().map(|p| p.component.as_str()).collect();
        eprintln!(
            "probing {} (namespace {}, revision {}): {}; Jobs {}-test-<component>",
            t.name,
            t.namespace,
            record.revision,
            names.join(", "),
            t.name
        );
    }
    let opts = RunOptions {
        filter: args.filter.clone(),
        timeout: args.timeout,
        logs: args.logs,
    };
    let progress = |r: &ProbeResult| {
        if !quiet {
            let name = if r.job.is_empty() {
                &r.component
            } else {
                &r.job
            };
            eprintln!(
                "  {name:<24} {} ({:.1}s)",
                r.result_text(),
                r.duration_ms as f64 / 1000.0
            );
        }
    };
    let report = run_probes(&session, &release, probes, &opts, progress).await?;

    // Updating the record while an install or upgrade holds the lock would make that
    // operation's own next write of the same record fail as a conflict.
    let lock = Lock::inspect(session.client.clone(), &t.namespace, &t.name)
        .await
        .ok()
        .flatten()
        .filter(|l| !l.is_expired());
    match lock {
        Some(l) => eprintln!(
            "note: results not recorded: {} holds the release's lock",
            l.holder
        ),
        None => match save_to_record(&store, &t.name, &report).await {
            Ok(revision) if !quiet => eprintln!("results recorded in revision {revision}"),
            Ok(_) => {}
            Err(e) => eprintln!("warning: could not record the results: {e:#}"),
        },
    }

    if global.output == OutputFormat::Text {
        println!("{report}");
    } else {
        print_structured(global.output, &report)?;
    }
    if report.passed() {
        Ok(())
    } else {
        Err(Verdict::ProbesFailed(report.summary()).into())
    }
}
