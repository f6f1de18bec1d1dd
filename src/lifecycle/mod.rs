//! Install, upgrade, rollback and uninstall: the operations that change a release,
//! built from preflight, the phase runner, prune, the release record and the lock.

pub mod engine;
pub mod immutable;
pub mod operation;
pub mod preflight;
pub mod progress;
pub mod prune;

pub mod target;

pub use operation::{Outcome, Spec, execute};

/// A record's stored objects as manifests (rollback replays them, prune and
/// uninstall remove them); objects without the phase annotation are skipped. Here
/// rather than on `Record`, so that `release` needs nothing of `stacks`.
pub fn stored_objects(record: &crate::release::Record) -> Vec<crate::model::Manifest> {
    record
        .manifests
        .iter()
        .cloned()
        .filter_map(crate::model::Manifest::from_value)
        .collect()
}

/// How long a holder's lock lives without renewal: a killed stackctl blocks the next
/// operation for at most this long.
pub const LOCK_TTL: std::time::Duration = std::time::Duration::from_secs(30);
