//! Finding and talking to the target cluster: kubeconfig, context, in-cluster config,
//! and what the API server serves.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::model::Capabilities;

mod access;
mod delete;
pub mod placement;
mod resolver;
pub mod retry;
mod session;

pub use access::{Permission, denied_permissions};
pub use delete::delete_and_wait;
pub use resolver::Resolver;
pub use retry::RetryBudget;
pub use session::{Session, Unreachable};

/// A client from `--kubeconfig` (or `$KUBECONFIG`), `--context`, else the default
/// kubeconfig, else the in-cluster service account. A failure says its cause once
/// (kube's errors nest the same cause several times) and what to do. Its requests
/// retry transient errors for as long as `budget` says (see [`retry`]).
pub async fn connect(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    budget: &RetryBudget,
) -> Result<Client> {
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| {
                anyhow!(
                    "cannot read kubeconfig {}: {}",
                    path.display(),
                    root_cause(&e)
                )
            })?;
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| anyhow!("kubeconfig {}: {}", path.display(), root_cause(&e)))?
        }
        None if context.is_some() => Config::from_kubeconfig(&options).await.map_err(|e| {
            anyhow!(
                "the default kubeconfig (~/.kube/config): {}",
                root_cause(&e)
            )
        })?,
        None => Config::infer()
            .await
            .map_err(|e| match default_kubeconfig() {
                Some(path) if path.exists() => {
                    anyhow!("kubeconfig {}: {}", path.display(), root_cause(&e))
                }
                _ => anyhow!(NO_CLUSTER),
            })?,
    };
    client_with_retry(config, budget)
}

/// kube's client stack with our retry policy in place of its own (see [`retry`]).
/// The buffer makes the boxed stack cloneable, which a retry needs to send twice.
pub fn client_with_retry(mut config: Config, budget: &RetryBudget) -> Result<Client> {
    config.default_retry = false;
    let builder =
        kube::client::ClientBuilder::try_from(config).context("creating the Kubernetes client")?;
    Ok(builder
        .with_layer(&tower::buffer::BufferLayer::new(1024))
        .with_layer(&tower::retry::RetryLayer::new(retry::Transient::new(
            budget.clone(),
        )))
        .build())
}

/// What to say when there is no cluster to talk to at all.
const NO_CLUSTER: &str = "no cluster configured: no $KUBECONFIG, no ~/.kube/config, and not \
running inside a cluster. Point stackctl at one with --kubeconfig FILE (or KUBECONFIG=FILE); \
without a cluster, `tests/cluster/up` in the source tree starts a local one (see the README, \
\"Test cluster\"), or try `stackctl template` and `stackctl lint`, which need none";

/// `~/.kube/config`, where kubectl and kube-rs look when `$KUBECONFIG` is unset.
fn default_kubeconfig() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".kube").join("config"))
}

/// The innermost error of a chain: kube's outer errors repeat it with more words.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
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
