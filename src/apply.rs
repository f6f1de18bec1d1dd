//! Server-side apply of planned objects (field manager `stackctl`), concurrently and
//! bounded, resolving each kind once through discovery.

use anyhow::{Context, Result};
use futures::{StreamExt, stream};
use kube::api::{Patch, PatchParams};
use kube::core::DynamicObject;

use crate::cluster::Resolver;
use crate::model::Manifest;

pub const FIELD_MANAGER: &str = "stackctl";
/// Enough to overlap round trips without flooding a small API server.
pub const CONCURRENCY: usize = 8;

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
/// first, so one run shows everything the server rejected. Each error comes with the
/// index of its object, so a caller can tell whose object was refused.
pub async fn apply_all(
    resolver: &Resolver,
    manifests: &[Manifest],
    dry_run: bool,
) -> Result<Vec<DynamicObject>, Vec<(usize, anyhow::Error)>> {
    let results: Vec<Result<DynamicObject>> = stream::iter(manifests)
        .map(|m| apply_one(resolver, m, dry_run))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut applied = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(o) => applied.push(o),
            Err(e) => errors.push((i, e)),
        }
    }
    if errors.is_empty() {
        Ok(applied)
    } else {
        Err(errors)
    }
}
