//! What the user may do: permissions asked of the API server with
//! SelfSubjectAccessReviews, all at once, so preflight reports every denial together.

use anyhow::{Context, Result};
use futures::{StreamExt, stream};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};

/// One permission the operation needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    pub verb: &'static str,
    pub group: String,
    pub resource: String,
    /// None for cluster-scoped resources.
    pub namespace: Option<String>,
}

impl Permission {
    /// `secrets in namespace ns`, `clusterroles.rbac.authorization.k8s.io
    /// (cluster-wide)`: what the verb applies to.
    pub fn target(&self) -> String {
        let resource = if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        };
        match &self.namespace {
            Some(ns) => format!("{resource} in namespace {ns}"),
            None => format!("{resource} (cluster-wide)"),
        }
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.target())
    }
}

/// Asks the API server about every permission, concurrently; returns the denied ones.
pub async fn denied_permissions(client: &Client, wanted: &[Permission]) -> Result<Vec<Permission>> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let results: Vec<Result<(Permission, bool)>> = stream::iter(wanted.iter().cloned())
        .map(|p| {
            let api = api.clone();
            async move {
                let review = SelfSubjectAccessReview {
                    spec: SelfSubjectAccessReviewSpec {
                        resource_attributes: Some(ResourceAttributes {
                            verb: Some(p.verb.to_string()),
                            group: Some(p.group.clone()),
                            resource: Some(p.resource.clone()),
                            namespace: p.namespace.clone(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                let answer = api
                    .create(&PostParams::default(), &review)
                    .await
                    .with_context(|| format!("asking whether you may {p}"))?;
                let allowed = answer.status.is_some_and(|s| s.allowed);
                Ok((p, allowed))
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut denied = Vec::new();
    for r in results {
        let (p, allowed) = r?;
        if !allowed {
            denied.push(p);
        }
    }
    denied.sort();
    Ok(denied)
}
