//! Server-side apply of planned objects (field manager `stackctl`), concurrently and
//! bounded, resolving each kind once through discovery.

use anyhow::{Context, Result};
use futures::{StreamExt, stream};
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::core::DynamicObject;

use crate::cluster::{Resolver, delete_and_wait};
use crate::model::Manifest;

pub const FIELD_MANAGER: &str = "stackctl";
/// Enough to overlap round trips without flooding a small API server.
pub const CONCURRENCY: usize = 8;

/// How long a failed Job of the plan may take to go (with its pods) before it is
/// created again.
const FAILED_JOB_GONE: Duration = Duration::from_secs(60);

/// Server-side applies one object; returns the object as the server has it.
///
/// A Job is named for what it runs (`stacks::workload::job`): the same Job again
/// is a no-op, which is what an unchanged upgrade wants of a Job that completed.
/// One that failed is deleted and created anew instead, so that retrying the
/// operation runs it again (Helm's `before-hook-creation` does the same for hooks).
pub async fn apply_one(resolver: &Resolver, m: &Manifest, dry_run: bool) -> Result<DynamicObject> {
    let api = resolver.api_for(m).await?;
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.dry_run = dry_run;
    let context = || match &m.namespace {
        Some(ns) => format!("applying {} in namespace {ns}", m.id()),
        None => format!("applying {}", m.id()),
    };
    let applied = api
        .patch(&m.name, &params, &Patch::Apply(&m.body))
        .await
        .with_context(context)?;
    if dry_run || m.kind != "Job" || !job_failed(&applied) {
        return Ok(applied);
    }
    tracing::info!("{} failed before: deleting it to run it again", m.id());
    let uid = applied.metadata.uid.clone().unwrap_or_default();
    let gone = delete_and_wait(&api, &m.name, &uid, FAILED_JOB_GONE)
        .await
        .with_context(|| format!("deleting the failed {}", m.id()))?;
    if !gone {
        anyhow::bail!(
            "the failed {} and its pods are still being deleted after {}s; retry once it is gone",
            m.id(),
            FAILED_JOB_GONE.as_secs()
        );
    }
    api.patch(&m.name, &params, &Patch::Apply(&m.body))
        .await
        .with_context(context)
}

/// A Job whose `Failed` condition is true: it will never run again by itself.
fn job_failed(job: &DynamicObject) -> bool {
    job.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Failed" && c["status"] == "True")
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

#[cfg(test)]
mod tests {
    use super::*;

    // Built like a literal: the conditions go into the object.
    #[allow(clippy::needless_pass_by_value)]
    fn job(conditions: serde_json::Value) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "status": {"conditions": conditions},
        }))
        .unwrap()
    }

    #[test]
    fn only_a_failed_job_is_run_again() {
        assert!(job_failed(&job(serde_json::json!([
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
        ]))));
        assert!(!job_failed(&job(serde_json::json!([
            {"type": "Complete", "status": "True"}
        ]))));
        assert!(!job_failed(&job(serde_json::json!([
            {"type": "Failed", "status": "False"}
        ]))));
        assert!(!job_failed(&job(serde_json::Value::Null)));
    }
}
