//! The typed ways an operation ends short of success. The command layer maps each to
//! its exit code and `-o json` shows them with their structure; the messages are
//! worded for a person and say what to do next.

use std::fmt;

use serde::Serialize;

use crate::release::{Operation, Outcome, Record};
use crate::wait::WaitError;

/// The request cannot be carried out as given (already installed, an immutable field
/// changed without `--recreate`, no such revision, answered no); nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Preflight found problems; nothing was written.
#[derive(Debug, thiserror::Error)]
pub struct PreflightFailed {
    pub problems: Vec<String>,
    /// Objects an admin could create so that the user can go on (a component's
    /// RBAC), each introduced: printed after the problems, whose lines they would
    /// otherwise bury.
    pub for_admin: Vec<String>,
}

impl fmt::Display for PreflightFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "preflight failed; nothing was changed:\n{}",
            bullets(&self.problems)
        )?;
        for block in &self.for_admin {
            write!(f, "\n\n{}", block.trim_end())?;
        }
        Ok(())
    }
}

/// `--dry-run=server`: the API server refused objects; nothing was persisted.
#[derive(Debug, thiserror::Error)]
#[error("the API server rejected {} objects:\n{}", .errors.len(), bullets(.errors))]
pub struct ServerDryRunRejected {
    pub errors: Vec<String>,
}

/// Why a revision failed, with its structure kept for `-o json` and `status`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Failure {
    /// The API server refused objects of a phase.
    Rejected { phase: String, errors: Vec<String> },
    /// Objects of a phase did not become ready; each diagnosis names the object,
    /// the reason and a remedy.
    NotReady { phase: String, wait: WaitError },
    /// Every phase was ready but a connectivity probe failed (or could not run).
    Probes { report: String },
}

impl Failure {
    /// "phase data", "connectivity probes": where it stopped.
    pub fn stage(&self) -> String {
        match self {
            Failure::Rejected { phase, .. } | Failure::NotReady { phase, .. } => {
                format!("phase {phase}")
            }
            Failure::Probes { .. } => "connectivity probes".to_string(),
        }
    }

    pub fn is_probes(&self) -> bool {
        matches!(self, Failure::Probes { .. })
    }

    /// What went wrong, without the stage: the release record keeps this per phase.
    pub fn detail(&self) -> String {
        match self {
            Failure::Rejected { errors, .. } => bullets(errors),
            Failure::NotReady { wait, .. } => wait.to_string(),
            Failure::Probes { report } => report.clone(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed:\n{}", self.stage(), self.detail())
    }
}

/// The operation ran and failed; its revision is marked failed.
#[derive(Debug, thiserror::Error)]
pub struct Failed {
    pub operation: Operation,
    pub record: Record,
    pub failure: Failure,
    /// What `--atomic` did about it.
    pub rolled_back: Option<String>,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, ns) = (&self.record.release, &self.record.namespace);
        write!(
            f,
            "{} of {name} failed (revision {} marked failed)\n{}",
            self.operation.title(),
            self.record.revision,
            self.failure
        )?;
        // Only when it tells more than the failure: after failed probes every
        // component is ready.
        let outcomes = super::outcome::of_phases(&self.record.phases);
        if outcomes.iter().any(|o| o.outcome != Outcome::Ready) {
            write!(f, "\ncomponents:")?;
            for line in super::outcome::summary(&outcomes) {
                write!(f, "\n  {line}")?;
            }
        }
        match &self.rolled_back {
            Some(r) => write!(f, "\n{r}"),
            None => write!(
                f,
                "\nfix the cause, then re-run the same command (`stackctl {}` retries as a new revision), or `stackctl rollback` to go back; `stackctl status -n {ns} {name}` shows the current state",
                self.operation.as_str()
            ),
        }
    }
}

/// Ctrl-C or a lost lock stopped the operation; its revision is marked failed.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} of {} {why}: revision {} marked failed and the lock released; re-run the command to retry, or `stackctl rollback` to go back",
    .operation.title(), .record.release, .record.revision
)]
pub struct Interrupted {
    pub operation: Operation,
    pub record: Record,
    pub why: String,
}

/// Ctrl-C stopped a command that keeps no revision (a backup, a restore) after
/// it undid what it could; says what is left.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Stopped(pub String);

fn bullets(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("  - {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}
