//! Kinds resolved to API resources through discovery, once per run.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::{ApiCapabilities, ApiResource, Scope, pinned_kind};
use kube::{Api, Client};
use tokio::sync::Mutex;

use crate::model::Manifest;

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
            // The kubeconfig's default namespace is never what a release meant.
            (Scope::Namespaced, None) => anyhow::bail!(
                "{} is namespaced but names no namespace (a rendering bug): not written to the kubeconfig's default namespace",
                m.id()
            ),
            (Scope::Cluster, _) => Api::all_with(self.client.clone(), &ar),
        })
    }
}
