//! Stopping workloads while their data is replaced or copied: scaled to zero
//! through the API (so nothing writes), then back to what they ran, waited for
//! by the engine's readiness rules. `backup restore` stops the apps; a backup of
//! a component copied from its volume ([`crate::model::VolumeCopy`]) stops
//! that component.

use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::await_condition;
use serde_json::json;

use crate::cluster::Session;
use crate::model::Manifest;

/// The replicas `apps` run (their manifests' own), to bring them back to.
pub fn replicas(apps: &[Manifest]) -> Vec<i32> {
    apps.iter()
        .map(|m| {
            m.body["spec"]["replicas"]
                .as_i64()
                .map_or(1, |n| i32::try_from(n).unwrap_or(1))
        })
        .collect()
}

/// Scales `apps` to zero and waits until their pods are gone.
pub async fn stop(session: &Session, apps: &[Manifest], timeout: Duration) -> Result<()> {
    for m in apps {
        scale(session, m, 0).await?;
    }
    for m in apps {
        let ns = m.namespace.clone().unwrap_or_default();
        let gone = if m.kind == "Deployment" {
            let api: Api<Deployment> = Api::namespaced(session.client.clone(), &ns);
            let no_pods = |d: Option<&Deployment>| {
                d.is_none_or(|d| {
                    d.status
                        .as_ref()
                        .is_none_or(|s| s.replicas.unwrap_or(0) == 0)
                })
            };
            tokio::time::timeout(timeout, await_condition(api, &m.name, no_pods))
                .await
                .map(|r| r.map(drop))
        } else {
            let api: Api<StatefulSet> = Api::namespaced(session.client.clone(), &ns);
            let no_pods = |s: Option<&StatefulSet>| {
                s.is_none_or(|s| s.status.as_ref().is_none_or(|s| s.replicas == 0))
            };
            tokio::time::timeout(timeout, await_condition(api, &m.name, no_pods))
                .await
                .map(|r| r.map(drop))
        };
        gone.map_err(|_| {
            anyhow::anyhow!("{} still has pods after {}s", m.id(), timeout.as_secs())
        })??;
    }
    Ok(())
}

/// Scales `apps` back to `replicas` and waits until they are ready. One that
/// cannot be scaled does not keep the others down.
pub async fn start(
    session: &Session,
    apps: &[Manifest],
    replicas: &[i32],
    timeout: Duration,
) -> Result<()> {
    let mut failed = Vec::new();
    for (m, n) in apps.iter().zip(replicas) {
        if let Err(e) = scale(session, m, *n).await {
            failed.push(format!("{e:#}"));
        }
    }
    if !failed.is_empty() {
        anyhow::bail!("{}", failed.join("; "));
    }
    crate::wait::wait_ready(
        &session.resolver,
        apps,
        crate::wait::WaitOptions::new(tokio::time::Instant::now() + timeout),
        |_| {},
    )
    .await
    .map_err(|e| {
        let names: Vec<&str> = apps.iter().map(|m| m.component.as_str()).collect();
        anyhow::anyhow!("{} did not come back: {e}", names.join(", "))
    })
}

/// `replicas` by a merge patch of its own field manager: the next upgrade's apply
/// (forced, as stackctl applies) takes the field back. The manager's name stays
/// `stackctl-restore`, which releases of earlier versions may hold.
async fn scale(session: &Session, m: &Manifest, replicas: i32) -> Result<()> {
    let ns = m.namespace.clone().unwrap_or_default();
    let patch = Patch::Merge(json!({"spec": {"replicas": replicas}}));
    let params = PatchParams {
        field_manager: Some("stackctl-restore".into()),
        ..PatchParams::default()
    };
    let done = match m.kind.as_str() {
        "Deployment" => Api::<Deployment>::namespaced(session.client.clone(), &ns)
            .patch(&m.name, &params, &patch)
            .await
            .map(drop),
        _ => Api::<StatefulSet>::namespaced(session.client.clone(), &ns)
            .patch(&m.name, &params, &patch)
            .await
            .map(drop),
    };
    done.with_context(|| format!("scaling {} to {replicas}", m.id()))
}
