//! `stackctl test [RELEASE]`: runs the release's connectivity probes against what is
//! deployed (the newest revision's values), prints a table and the failing probes'
//! logs, and records the results in that revision, where `status` shows them.

use anyhow::Result;

use super::Verdict;
use crate::cli::{GlobalArgs, OutputFormat, TestArgs};
use crate::operations::test::{self, Recorded, TestOptions};
use crate::output::print_structured;
use crate::probe::ProbeResult;

pub async fn run(global: &GlobalArgs, args: &TestArgs) -> Result<()> {
    let opts = TestOptions {
        release: args.release.release.clone(),
        namespace: global.namespace.clone(),
        filter: args.filter.clone(),
        timeout: args.timeout,
        logs: args.logs,
    };
    let session = super::connect(global).await?;
    let planned = test::plan(&session, &opts).await?;
    let quiet = global.quiet;
    if planned.probes.is_empty() {
        if !quiet {
            eprintln!("the {} stack defines no connectivity probes", planned.stack);
        }
        return Ok(());
    }
    if !quiet {
        let names: Vec<&str> = planned
            .probes
            .iter()
            .map(|p| p.component.as_str())
            .collect();
        let r = &planned.release;
        eprintln!(
            "probing {} (namespace {}, revision {}): {}; Jobs {}-test-<component>",
            r.name,
            r.namespace,
            planned.revision,
            names.join(", "),
            r.name
        );
    }
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
    let (report, recorded) = test::run(&session, planned, &opts, progress).await?;
    match recorded {
        Recorded::NotWhileLocked { holder } => {
            eprintln!("note: results not recorded: {holder} holds the release's lock");
        }
        Recorded::Revision(revision) if !quiet => {
            eprintln!("results recorded in revision {revision}");
        }
        Recorded::Revision(_) => {}
        Recorded::Failed(e) => crate::output::warn(format!("could not record the results: {e}")),
    }

    if global.output == OutputFormat::Text {
        println!("{}", report.fitted());
    } else {
        print_structured(global.output, &report)?;
    }
    if report.passed() {
        Ok(())
    } else {
        Err(Verdict::ProbesFailed(report.summary()).into())
    }
}
