//! Deleting an object and waiting until it is really gone: a Job run again under the
//! same name (a failed plan Job, an earlier probe) must not meet its predecessor.

use std::fmt::Debug;
use std::time::Duration;

use kube::api::DeleteParams;
use kube::runtime::{conditions, wait::await_condition};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

/// Deletes `name` (the object with `uid`) with foreground propagation, so its pods go
/// first, and waits at most `within` until it is gone. `Ok(true)`: gone (or already
/// gone); `Ok(false)`: still there after `within`; `Err`: the delete was refused.
pub async fn delete_and_wait<K>(
    api: &Api<K>,
    name: &str,
    uid: &str,
    within: Duration,
) -> Result<bool, kube::Error>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + 'static,
{
    let foreground = DeleteParams::foreground();
    match api.delete(name, &foreground).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(true),
        Err(e) => return Err(e),
    }
    let gone = await_condition(api.clone(), name, conditions::is_deleted(uid));
    match tokio::time::timeout(within, gone).await {
        Ok(Ok(_)) => Ok(true),
        // The watch broke: the object may be gone or not; the caller's next write
        // says which.
        Ok(Err(e)) => {
            tracing::debug!("waiting for {name} to go: {e}");
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}
