//! Which release a command means when the user did not say: with exactly one stackctl
//! release visible, that one; otherwise a clear error listing the candidates.

use anyhow::{Result, bail};
use kube::Client;

use crate::release::lock::Lock;
use crate::release::store::{ReleaseSummary, Store};

/// A release the command acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub namespace: String,
}

/// Finds an existing release from an optional name and namespace.
pub async fn find(client: &Client, name: Option<&str>, namespace: Option<&str>) -> Result<Target> {
    let visible = Store::releases(client.clone(), namespace).await?;
    choose(&visible, name, namespace)
}

/// Like [`find`], and also finds a named release that has only a lock: its first
/// install was killed after taking the lock and before writing a record. For
/// `unlock`, the one command that must reach such a release.
pub async fn find_locked(
    client: &Client,
    name: Option<&str>,
    namespace: Option<&str>,
) -> Result<Target> {
    let not_found = match find(client, name, namespace).await {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let Some(name) = name else {
        return Err(not_found);
    };
    let locked: Vec<Target> = Lock::locked(client.clone(), namespace)
        .await?
        .into_iter()
        .filter(|(_, release)| release == name)
        .map(|(namespace, name)| Target { name, namespace })
        .collect();
    match <[Target; 1]>::try_from(locked) {
        Ok([one]) => Ok(one),
        Err(_) => Err(not_found),
    }
}

/// The choice itself, separate from the listing so its rules are unit-tested.
pub fn choose(
    visible: &[ReleaseSummary],
    name: Option<&str>,
    namespace: Option<&str>,
) -> Result<Target> {
    let candidates: Vec<&ReleaseSummary> = visible
        .iter()
        .filter(|r| name.is_none_or(|n| r.name == n))
        .filter(|r| namespace.is_none_or(|ns| r.namespace == ns))
        .collect();
    match candidates.as_slice() {
        [one] => Ok(Target {
            name: one.name.clone(),
            namespace: one.namespace.clone(),
        }),
        [] => {
            let what = match (name, namespace) {
                (Some(n), Some(ns)) => format!("no stackctl release {n:?} in namespace {ns}"),
                (Some(n), None) => {
                    format!("no stackctl release {n:?} in any namespace you can read")
                }
                (None, Some(ns)) => format!("no stackctl release in namespace {ns}"),
                (None, None) => {
                    "no stackctl release found in any namespace you can read".to_string()
                }
            };
            let others = if visible.is_empty() {
                String::new()
            } else {
                format!("; visible: {}", list(&visible.iter().collect::<Vec<_>>()))
            };
            bail!("{what}{others} — install one with `stackctl install --profile <profile>`")
        }
        many => bail!(
            "{} stackctl releases match: {} — name one (`stackctl <command> RELEASE`) and/or pass -n NAMESPACE",
            many.len(),
            list(many)
        ),
    }
}

fn list(rs: &[&ReleaseSummary]) -> String {
    rs.iter()
        .map(|r| {
            format!(
                "{} (namespace {}, {} revision {}, {})",
                r.name, r.namespace, r.stack, r.revision, r.status
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
