//! Server-side apply of planned objects (field manager `stackctl`), concurrently and
//! bounded, resolving each kind once through discovery.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use futures::{StreamExt, stream};
use kube::api::{Patch, PatchParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::{ApiCapabilities, ApiResource, Scope, pinned_kind};
use kube::{Api, Client};
use tokio::sync::Mutex;

use crate::stacks::component::Manifest;

pub const FIELD_MANAGER: &str = "stackctl";
/// Enough to overlap round trips without flooding a small API server.
pub const CONCURRENCY: usize = 8;

/// Resolves kinds to API resources once per run; a `Kind` missing on the server is an
/// error naming it.
#[derive(Clone)]
pub struct Resolver {
    client: Client,
    cache: Arc<Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>>,
}

impl Resolver {
    pub fn new(client: Client) -> Self {
        Resolver {
            client,
            cache: Arc::default(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, ApiCapabilities)> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        if let Some(hit) = self.cache.lock().await.get(&gvk) {
            return Ok(hit.clone());
        }
        let found = pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| anyhow!("the cluster does not serve {kind} in {api_version}: {e}"))?;
        self.cache.lock().await.insert(gvk, found.clone());
        Ok(found)
    }

    /// A dynamic API handle for the manifest's kind and namespace.
    pub async fn api_for(&self, m: &Manifest) -> Result<Api<DynamicObject>> {
        let (ar, caps) = self.resolve(&m.api_version, &m.kind).await?;
        Ok(match (caps.scope, &m.namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &ar),
            (Scope::Namespaced, None) => Api::default_namespaced_with(self.client.clone(), &ar),
            (Scope::Cluster, _) => Api::all_with(self.client.clone(), &ar),
        })
    }
}

/// Server-side applies one object; returns the object as the server has it.
pub async fn apply_one(resolver: &Resolver, m: &Manifest, dry_run: bool) -> Result<DynamicObject> {
    let api = resolver.api_for(m).await?;
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.dry_run = dry_run;
    api.patch(&m.name, &params, &Patch::Apply(&m.body))
        .await
        .with_context(|| match &m.namespace {
            Some(ns) => format!("applying {} in namespace {ns}", m.id()),
            None => format!("applying {}", m.id()),
        })
}

/// Applies objects concurrently (bounded); all errors are collected, not just the
/// first, so one run shows everything the server rejected.
pub async fn apply_all(
    resolver: &Resolver,
    manifests: &[Manifest],
    dry_run: bool,
) -> Result<Vec<DynamicObject>, Vec<anyhow::Error>> {
    let results: Vec<Result<DynamicObject>> = stream::iter(manifests)
        .map(|m| apply_one(resolver, m, dry_run))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let (ok, errors): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    if errors.is_empty() {
        Ok(ok.into_iter().map(Result::unwrap).collect())
    } else {
        Err(errors.into_iter().map(|e| e.unwrap_err()).collect())
    }
}
