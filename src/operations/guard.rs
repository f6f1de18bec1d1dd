//! The one way an operation takes a release's lock.

use anyhow::Result;

use super::LOCK_TTL;
use super::progress::Reporter;
use crate::cluster::Session;
use crate::release::{Lock, LockGuard, Store};

/// Takes the release's lock for `operation` (a refusal is a typed
/// [`crate::release::LockError`] naming the holder). Holding it, any revision still
/// pending belongs to no live operation: it was interrupted (killed, crashed,
/// connection lost), whether or not its lock had to be taken over, so it is marked
/// failed here.
pub async fn acquire(
    session: &Session,
    store: &Store,
    reporter: &Reporter,
    name: &str,
    operation: &str,
) -> Result<LockGuard> {
    let guard = Lock::acquire(
        session.client.clone(),
        store.namespace(),
        name,
        operation,
        LOCK_TTL,
    )
    .await?;
    let why = match guard.took_over() {
        Some(previous) => format!(
            "its stackctl process ({}) stopped without finishing",
            previous.holder
        ),
        None => "its stackctl process stopped without finishing".to_string(),
    };
    if let Some(r) = store.fail_interrupted(name, &why).await? {
        reporter.warn(format!(
            "revision {} of {name} was left {} ({why}); marked failed, continuing",
            r.revision, r.operation
        ));
    }
    Ok(guard)
}
