//! Removing what a revision no longer has. Never PersistentVolumeClaims, never an
//! object without this release's label: data and other people's objects are safe.

use anyhow::{Context, Result};
use kube::api::DeleteParams;

use super::immutable::same_object;
use crate::cluster::Resolver;
use crate::model::{Manifest, RELEASE_LABEL};

/// Kinds stackctl never deletes, whatever revision or uninstall asks: volume claims
/// hold data, and a Namespace a stack renders (for its labels) holds the release
/// itself, its records and everyone else's objects in it.
pub fn never_deleted(m: &Manifest) -> bool {
    m.kind == "PersistentVolumeClaim" || (m.kind == "Namespace" && m.api_version == "v1")
}

/// Objects of `previous` that `next` lacks, in reverse apply order (apps first), minus
/// anything that must survive.
pub fn to_prune(previous: &[Manifest], next: &[Manifest]) -> Vec<Manifest> {
    let mut out: Vec<Manifest> = previous
        .iter()
        .filter(|old| !next.iter().any(|new| same_object(old, new)))
        .filter(|old| !never_deleted(old))
        .cloned()
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.phase));
    out
}

/// Deletes one object if it still carries our release label; returns whether it did.
/// Workloads are deleted in the background: their pods go, their PVCs stay (a
/// StatefulSet's volume claims are never deleted with it). A CronJob's Jobs are
/// orphaned: they are scheduled backups, whose results live in them until a
/// stackctl command records them (`operations::backup::scheduled`).
pub async fn delete_owned(resolver: &Resolver, m: &Manifest, release: &str) -> Result<bool> {
    let api = resolver.api_for(m).await?;
    let Some(live) = api
        .get_opt(&m.name)
        .await
        .with_context(|| format!("reading {}", m.id()))?
    else {
        return Ok(false);
    };
    let ours = live
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(RELEASE_LABEL))
        .map(String::as_str)
        == Some(release);
    if !ours {
        crate::output::warn(format!(
            "not deleting {}: it lacks the label {RELEASE_LABEL}={release}, so another owner may have it",
            m.id()
        ));
        return Ok(false);
    }
    let params = if m.kind == "CronJob" {
        DeleteParams::orphan()
    } else {
        DeleteParams::background()
    };
    api.delete(&m.name, &params)
        .await
        .with_context(|| format!("deleting {}", m.id()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Phase;
    use serde_json::json;

    fn m(kind: &str, name: &str, phase: Phase) -> Manifest {
        Manifest {
            api_version: "v1".into(),
            kind: kind.into(),
            name: name.into(),
            namespace: Some("ns".into()),
            component: "c".into(),
            phase,
            body: json!({}),
        }
    }

    #[test]
    fn prunes_what_is_gone_but_never_claims() {
        let previous = vec![
            m("Secret", "s", Phase::Storage),
            m("PersistentVolumeClaim", "data", Phase::Storage),
            m("StatefulSet", "db", Phase::Data),
            m("Deployment", "app", Phase::Apps),
        ];
        let next = vec![m("Deployment", "app", Phase::Apps)];
        let names: Vec<String> = to_prune(&previous, &next)
            .iter()
            .map(Manifest::id)
            .collect();
        assert_eq!(names, ["StatefulSet/db", "Secret/s"]);
    }

    #[test]
    fn namespaces_and_claims_are_never_deleted() {
        let ns = Manifest {
            namespace: None,
            ..m("Namespace", "ns", Phase::Storage)
        };
        assert!(never_deleted(&ns));
        assert!(never_deleted(&m(
            "PersistentVolumeClaim",
            "data",
            Phase::Data
        )));
        assert!(!never_deleted(&m("Secret", "s", Phase::Storage)));
        assert!(to_prune(&[ns], &[]).is_empty());
    }
}
