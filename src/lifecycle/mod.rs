//! Install, upgrade, rollback and uninstall: the operations that change a release,
//! built from preflight, the phase runner, prune, the release record and the lock.

pub mod engine;
pub mod immutable;
pub mod operation;
pub mod preflight;
pub mod progress;
pub mod prune;
pub mod session;
pub mod target;

pub use operation::{Outcome, Spec, execute};
pub use session::Session;
