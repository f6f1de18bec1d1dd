//! The operations that change a release — install, upgrade, rollback, uninstall —
//! each an options struct and a run, as Helm's `pkg/action` has them. The command
//! layer turns flags into options, calls one, prints what it returns and maps its
//! typed errors to exit codes; nothing here prints a result or knows an exit code
//! (progress lines go through [`progress::Reporter`], which the command creates).
//!
//! - [`prepare`]: profile, values files and `--set` flags resolved into valid values;
//! - [`preflight`]: what can be known before the first write, as a [`preflight::Report`];
//!   [`delegation`]: for cluster-wide permissions it finds denied, the components
//!   that need them and the RBAC an admin could create for them instead;
//! - [`guard`]: the one lock acquisition, which also fails revisions left pending;
//! - [`executor`]: one executor for every operation that records a revision
//!   (lock → pending record → [`phases`] → probes → prune → finish → `--atomic`
//!   recovery), and the ordered removal uninstall and prune share;
//! - [`install`], [`upgrade`], [`rollback`]: what differs between them, chiefly which
//!   objects and values the new revision gets; [`uninstall`], which records none;
//! - [`status`] and [`test`]: reading a release and probing it, for the commands
//!   that only look; [`doctor`]: everything around a release that can go wrong on
//!   day two, as findings; [`changes`]: what an upgrade would change (summary and diff);
//! - [`credentials`]: credentials the services apply only at first start, rotated
//!   by a Job before an upgrade writes anything, or the upgrade refused;
//! - [`failure`]: the typed ways an operation ends short of success.

pub mod backup;
pub mod changes;
pub mod credentials;
pub mod delegation;
pub mod doctor;
pub mod executor;
pub mod failure;
pub mod guard;
pub mod immutable;
pub mod install;
pub mod outcome;
pub mod phases;
pub mod preflight;
pub mod prepare;
pub mod prepull;
pub mod progress;
pub mod prune;
pub mod restart;
pub mod rollback;
pub mod schedule;
pub mod status;
pub mod target;
pub mod test;
pub mod uninstall;
pub mod upgrade;

pub use credentials::RotationFailed;
pub use executor::{Outcome, Spec, execute};
pub use failure::{Failed, Interrupted, PreflightFailed, Refused, ServerDryRunRejected, Stopped};
pub use prepare::{Base, Input, Prepared, prepare, prepare_on, prepare_with_rng};

use std::time::Duration;

use anyhow::Result;

use crate::apply::apply_all;
use crate::cluster::Session;
use crate::model::Manifest;
use crate::plan::Plan;
use crate::release::Record;

/// A record's stored objects as manifests (rollback replays them, prune and
/// uninstall remove them); objects without the phase annotation are skipped. Here
/// rather than on `Record`, so that `release` needs nothing of the model's parsing.
pub fn stored_objects(record: &Record) -> Vec<Manifest> {
    record
        .manifests
        .iter()
        .cloned()
        .filter_map(Manifest::from_value)
        .collect()
}

/// A recorded revision as its stack reads it again (probes, flows): the stack, the
/// release and the values, generated secrets included.
pub fn recorded_stack(
    record: &Record,
) -> Result<(
    &'static dyn crate::stacks::Stack,
    crate::model::Release,
    crate::stacks::ResolvedValues,
)> {
    let stack = crate::stacks::find(&record.stack)?;
    let release = crate::model::Release {
        name: record.release.clone(),
        namespace: record.namespace.clone(),
        stack: stack.name(),
        revision: record.revision,
    };
    let values = crate::stacks::ResolvedValues {
        tree: record.values.clone(),
        generated: record.generated.clone(),
    };
    Ok((stack, release, values))
}

/// How long a holder's lock lives without renewal: a killed stackctl blocks the next
/// operation for at most this long.
pub const LOCK_TTL: Duration = Duration::from_secs(30);

/// What every operation that writes shares: how long it may take, whether a failure
/// goes back to the last good revision, how many revisions to keep, and whether the
/// connectivity probes run as the last phase.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `--timeout`; `None` for [`default_timeout`] of the plan.
    pub timeout: Option<Duration>,
    pub atomic: bool,
    pub history_max: usize,
    pub skip_tests: bool,
    /// `--restart-failed`; `None`: the operation's default (on only when `install`
    /// retries a failed or interrupted revision).
    pub restart_failed: Option<bool>,
    /// `--prepull`: pull the images of later phases while earlier phases start.
    pub prepull: bool,
}

/// An operation that ran to the end.
#[derive(Debug)]
pub struct Completed {
    pub record: Record,
    /// What the stack wants a person to know (how to reach the apps, credentials);
    /// empty for a rollback, whose values may be of another stackctl version.
    pub notes: Vec<String>,
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

/// `--dry-run=server`: the API server validates and admits every object (dryRun=All)
/// and nothing is persisted. Returns how many objects were accepted.
pub async fn server_dry_run(session: &Session, plan: &Plan) -> Result<usize> {
    let manifests: Vec<Manifest> = plan.manifests().cloned().collect();
    match apply_all(&session.resolver, &manifests, true).await {
        Ok(objects) => Ok(objects.len()),
        Err(errors) => Err(ServerDryRunRejected {
            errors: errors.iter().map(|(_, e)| format!("{e:#}")).collect(),
        }
        .into()),
    }
}
