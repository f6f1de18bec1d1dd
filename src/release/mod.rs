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

pub mod lock;
pub mod record;
pub mod store;
pub mod trim;

pub use lock::{Lock, LockError, LockGuard, LockInfo};
pub use record::{ObjectRef, Operation, PhaseResult, PhaseStatus, Record, Status, Summary};
pub use store::{ReleaseSummary, Store, StoreError};

/// Longest release name: Helm's limit, which leaves room in the 63 characters of a
/// label value or DNS label for the `-<component>` suffix of object names.
pub const MAX_NAME_LEN: usize = 53;

/// A release name must be usable as the prefix of every object name and in labels:
/// a DNS-1035 label (lowercase letters, digits, '-', starting with a letter).
pub fn validate_name(name: &str) -> Result<(), String> {
    let problem = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("it is longer than 53 characters")
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some("it must start with a lowercase letter")
    } else if name.ends_with('-') {
        Some("it must not end with '-'")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Some("only lowercase letters, digits and '-' are allowed")
    } else {
        None
    };
    match problem {
        Some(p) => Err(format!(
            "invalid release name {name:?}: {p}; use something like \"cv\" or \"logs-prod\""
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::validate_name;

    #[test]
    fn release_names() {
        for ok in ["cv", "logs-prod", "a1", &"a".repeat(53)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1cv", "Cv", "cv-", "c.v", "c_v", &"a".repeat(54)] {
            let err = validate_name(bad).unwrap_err();
            assert!(err.contains("invalid release name"), "{err}");
        }
    }
}
