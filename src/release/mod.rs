//! Release records and the operation lock.
//!
//! Every install, upgrade and rollback writes a revision ([`Record`]) into a Secret of
//! the release namespace ([`Store`]); `history`, `rollback` and `status` read them
//! back. Only one operation runs per release at a time ([`Lock`]): a Lease that its
//! holder renews and that expires if the holder dies, so a killed run never leaves a
//! release stuck "pending" the way Helm's status-based lock can.
//!
//! The order an operation follows:
//! 1. `Lock::acquire` (a refusal names the holder),
//! 2. `Store::fail_interrupted`: a pending newest revision belongs to a run that is gone,
//! 3. `Store::create` the pending revision, apply, `Store::update` it to its end state,
//!    `set_status(previous, Superseded)`, `Store::trim`,
//! 4. `LockGuard::release`, checking `LockGuard::lost` before each step that writes.

pub mod holder;
pub mod lock;
pub mod record;
pub mod store;
pub mod trim;

pub use lock::{Lock, LockError, LockGuard, LockInfo};
pub use record::{
    ComponentOutcome, ObjectRef, Operation, Outcome, PhaseResult, PhaseStatus, Record,
    RestartedPod, Status, Summary,
};
pub use store::{ReleaseSummary, Store, StoreError};
