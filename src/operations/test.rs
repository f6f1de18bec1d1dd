//! `test`: the release's connectivity probes against what is deployed (the newest
//! revision's values), their results recorded in that revision, where `status`
//! shows them.

use std::time::Duration;

use anyhow::Result;

use super::failure::Refused;
use super::{recorded_stack, target};
use crate::cluster::Session;
use crate::model::{ProbeSpec, Release};
use crate::probe::{ProbeReport, ProbeResult, RunOptions, run_probes, save_to_record, select};
use crate::release::{Lock, Store};

pub struct TestOptions {
    pub release: Option<String>,
    pub namespace: Option<String>,
    /// A component name or glob (`--filter`).
    pub filter: Option<String>,
    /// Overrides each probe's own deadline.
    pub timeout: Option<Duration>,
    /// Print the logs of every probe, not only the failing ones.
    pub logs: bool,
}

/// The probes a test will run, before it runs them.
pub struct TestPlan {
    pub release: Release,
    /// The revision whose values the probes come from, and where results go.
    pub revision: u32,
    pub stack: &'static str,
    pub probes: Vec<ProbeSpec>,
}

/// Where the results went.
#[derive(Debug)]
pub enum Recorded {
    Revision(u32),
    /// Updating the record while an install or upgrade holds the lock would make
    /// that operation's own next write of the same record fail as a conflict.
    NotWhileLocked {
        holder: String,
    },
    Failed(String),
}

pub async fn plan(session: &Session, opts: &TestOptions) -> Result<TestPlan> {
    let t = target::find(
        &session.client,
        opts.release.as_deref(),
        opts.namespace.as_deref(),
    )
    .await?;
    let store = Store::new(session.client.clone(), &t.namespace);
    let Some(record) = store.latest(&t.name).await? else {
        return Err(Refused(format!("release {} has no revisions", t.name)).into());
    };
    let (stack, release, values) = recorded_stack(&record)?;
    let probes = select(
        stack.probes(&values, &release)?,
        opts.filter.as_deref(),
        &t.name,
    )?;
    Ok(TestPlan {
        release,
        revision: record.revision,
        stack: stack.name(),
        probes,
    })
}

/// Runs the planned probes (`progress` sees each result as it comes) and records
/// the report unless an operation holds the lock.
pub async fn run(
    session: &Session,
    planned: TestPlan,
    opts: &TestOptions,
    progress: impl Fn(&ProbeResult),
) -> Result<(ProbeReport, Recorded)> {
    let TestPlan {
        release, probes, ..
    } = planned;
    let run = RunOptions {
        filter: opts.filter.clone(),
        timeout: opts.timeout,
        logs: opts.logs,
    };
    let report = run_probes(session, &release, probes, &run, progress).await?;
    let lock = Lock::inspect(session.client.clone(), &release.namespace, &release.name)
        .await
        .ok()
        .flatten()
        .filter(|l| !l.is_expired());
    let store = Store::new(session.client.clone(), &release.namespace);
    let recorded = match lock {
        Some(l) => Recorded::NotWhileLocked { holder: l.holder },
        None => match save_to_record(&store, &release.name, &report).await {
            Ok(revision) => Recorded::Revision(revision),
            Err(e) => Recorded::Failed(format!("{e:#}")),
        },
    };
    Ok((report, recorded))
}
