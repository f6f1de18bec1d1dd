//! Finding and talking to the target cluster: kubeconfig, context, in-cluster config,
//! and what the API server serves.

use std::path::Path;

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::model::Capabilities;

mod access;
mod resolver;
mod session;

pub use access::{Permission, denied_permissions};
pub use resolver::Resolver;
pub use session::{Session, Unreachable};

/// A client from `--kubeconfig` (or `$KUBECONFIG`), `--context`, else the default
/// kubeconfig, else the in-cluster service account.
pub async fn connect(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<Client> {
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .with_context(|| format!("loading kubeconfig {}", path.display()))?
        }
        None if context.is_some() => Config::from_kubeconfig(&options)
            .await
            .context("loading the default kubeconfig (~/.kube/config)")?,
        None => Config::infer().await.context(
            "no kubeconfig found: set KUBECONFIG or --kubeconfig, or run inside a cluster",
        )?,
    };
    Client::try_from(config).context("creating the Kubernetes client")
}

/// The server's minor version and the API versions that follow from it.
pub async fn capabilities(client: &Client) -> Result<(String, Capabilities)> {
    let info = client
        .apiserver_version()
        .await
        .context("asking the API server for its version (is the cluster reachable?)")?;
    let minor = parse_minor(&info.minor).unwrap_or(u32::MAX);
    Ok((info.git_version, Capabilities::for_minor(minor)))
}

/// `"20"`, `"20+"` (managed clusters add a plus) → 20.
pub fn parse_minor(s: &str) -> Option<u32> {
    s.trim_end_matches('+').parse().ok()
}

/// `--kube-version` for offline rendering: `latest`, `1.20`, `v1.20.2`.
pub fn capabilities_for_version(v: &str) -> Result<Capabilities> {
    if v == "latest" {
        return Ok(Capabilities::latest());
    }
    let trimmed = v.trim_start_matches('v');
    let mut parts = trimmed.split('.');
    let (major, minor) = (parts.next(), parts.next());
    match (major, minor.and_then(parse_minor)) {
        (Some("1"), Some(minor)) => Ok(Capabilities::for_minor(minor)),
        _ => anyhow::bail!(
            "--kube-version {v:?} is not a Kubernetes version; use e.g. 1.20 or v1.29.3 or latest"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_minor("20+"), Some(20));
        assert!(!capabilities_for_version("1.20").unwrap().pdb_v1);
        assert!(capabilities_for_version("v1.29.3").unwrap().pdb_v1);
        assert!(capabilities_for_version("latest").unwrap().pdb_v1);
        let err = capabilities_for_version("banana").unwrap_err().to_string();
        assert!(err.contains("--kube-version \"banana\""), "{err}");
    }
}
