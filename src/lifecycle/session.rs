//! A connection to the target cluster with what every operation needs from it.

use anyhow::Result;
use kube::Client;

use crate::apply::Resolver;
use crate::cli::GlobalArgs;
use crate::cluster;
use crate::stacks::component::Capabilities;

/// The cluster could not be reached, or did not say its version.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct Unreachable(anyhow::Error);

pub struct Session {
    pub client: Client,
    pub resolver: Resolver,
    pub server_version: String,
    pub caps: Capabilities,
}

impl Session {
    /// Connects and asks the server for its version: the first preflight check. An
    /// unreachable cluster is [`Unreachable`] (nothing was written).
    pub async fn connect(global: &GlobalArgs) -> Result<Session> {
        let preflight = Unreachable;
        let client = cluster::connect(global.kubeconfig.as_deref(), global.context.as_deref())
            .await
            .map_err(preflight)?;
        let (server_version, caps) = cluster::capabilities(&client).await.map_err(preflight)?;
        Ok(Session {
            resolver: Resolver::new(client.clone()),
            client,
            server_version,
            caps,
        })
    }
}
