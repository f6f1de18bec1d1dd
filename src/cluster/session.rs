//! A connection to the target cluster with what every operation needs from it.

use std::path::Path;

use anyhow::Result;
use kube::Client;

use super::{Resolver, RetryBudget};
use crate::model::Capabilities;

/// The cluster could not be reached, or did not say its version.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct Unreachable(anyhow::Error);

pub struct Session {
    pub client: Client,
    pub resolver: Resolver,
    pub server_version: String,
    pub caps: Capabilities,
    /// How long requests retry transient errors; an operation extends it to its
    /// deadline.
    pub retry: RetryBudget,
}

impl Session {
    /// Connects and asks the server for its version: the first preflight check. An
    /// unreachable cluster is [`Unreachable`] (nothing was written).
    pub async fn connect(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<Session> {
        let preflight = Unreachable;
        let retry = RetryBudget::default();
        // A cluster that is not there at all should be said at once, not after the
        // retry budget: the first contact is not retried.
        retry.per_request(std::time::Duration::ZERO);
        let client = super::connect(kubeconfig, context, &retry)
            .await
            .map_err(preflight)?;
        let (server_version, caps) = super::capabilities(&client).await.map_err(preflight)?;
        retry.per_request(super::retry::DEFAULT_BUDGET);
        Ok(Session {
            retry,
            resolver: Resolver::new(client.clone()),
            client,
            server_version,
            caps,
        })
    }
}
