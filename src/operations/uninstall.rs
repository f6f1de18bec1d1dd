//! Uninstall: every object any kept revision applied, removed in reverse phase
//! order; PersistentVolumeClaims only when asked. And `unlock`, the way out when a
//! lock's holder is known to be gone.

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use super::executor::remove_objects;
use super::immutable::same_object;
use super::progress::Reporter;
use super::{guard, stored_objects, target};
use crate::cluster::Session;
use crate::model::Manifest;
use crate::release::{Lock, LockInfo, Record, Status, Store};

pub struct UninstallOptions {
    pub release: Option<String>,
    pub namespace: Option<String>,
    /// Delete the release's PersistentVolumeClaims too: their data is lost.
    pub purge_volumes: bool,
    /// Also the backups (`backup create`): their volume and records.
    pub purge_backups: bool,
    /// Keep the release records, marked uninstalled.
    pub keep_history: bool,
}

/// What an uninstall will touch, found before anything is deleted, so the command
/// can ask before a destructive step.
pub struct UninstallPlan {
    pub release: String,
    pub namespace: String,
    /// The release's PersistentVolumeClaims: kept unless `purge_volumes`.
    pub claims: Vec<String>,
}

/// What an uninstall did.
#[derive(Debug)]
pub struct Uninstalled {
    pub removed: usize,
    /// Claims deleted (`purge_volumes`) or kept.
    pub claims: Vec<String>,
    pub purged: bool,
}

pub async fn plan(session: &Session, opts: &UninstallOptions) -> Result<UninstallPlan> {
    let t = target::find(
        &session.client,
        opts.release.as_deref(),
        opts.namespace.as_deref(),
    )
    .await?;
    let claims_api: Api<PersistentVolumeClaim> =
        Api::namespaced(session.client.clone(), &t.namespace);
    let selector = ListParams::default().labels(&format!("app.kubernetes.io/instance={}", t.name));
    let claims = claims_api
        .list(&selector)
        .await
        .context("listing the release's PersistentVolumeClaims")?
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    if opts.purge_backups {
        // Before anything is deleted: backups in S3 that could not be.
        let store = Store::new(session.client.clone(), &t.namespace);
        let latest = store.list(&t.name).await?.pop();
        super::backup::check_purge(&session.client, latest.as_ref(), &t.namespace, &t.name).await?;
    }
    Ok(UninstallPlan {
        release: t.name,
        namespace: t.namespace,
        claims,
    })
}

pub async fn run(
    session: &Session,
    reporter: &Reporter,
    planned: UninstallPlan,
    opts: &UninstallOptions,
) -> Result<Uninstalled> {
    let UninstallPlan {
        release: name,
        namespace,
        claims,
    } = planned;
    let store = Store::new(session.client.clone(), &namespace);
    let lock = guard::acquire(session, &store, reporter, &name, "uninstall").await?;
    let records = store.list(&name).await?;
    let latest = records.last().map(|r| r.revision);
    if let Some(rev) = latest {
        store
            .set_status(&name, rev, Status::Uninstalling, "Uninstall in progress")
            .await?;
    }
    let removed = remove_objects(session, reporter, &all_objects(&records), &name).await?;
    reporter.info(format!(
        "removed {removed} objects of {name} (apps, then data, then storage)"
    ));
    // What a killed `--prepull` run left. Not the release's: a user who never used
    // it may lack the permission, which is no reason to fail an uninstall.
    match super::prepull::remove(&session.client, &namespace, &name).await {
        Ok(0) => {}
        Ok(n) => reporter.info(format!(
            "removed {n} prepull DaemonSets a stopped operation left"
        )),
        Err(e) => tracing::debug!("prepull objects not removed: {e:#}"),
    }
    if opts.purge_volumes {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(session.client.clone(), &namespace);
        for c in &claims {
            api.delete(c, &DeleteParams::default())
                .await
                .with_context(|| format!("deleting PersistentVolumeClaim {c}"))?;
        }
        reporter.info(format!("deleted {} PersistentVolumeClaims", claims.len()));
    }
    if opts.purge_backups {
        let purged = super::backup::purge(session, records.last(), &namespace, &name).await?;
        for place in &purged.in_s3 {
            reporter.info(format!("deleted the backups in {place}"));
        }
        reporter.info(format!(
            "deleted {} backup records{}",
            purged.records,
            if purged.volume {
                " and the backup volume"
            } else {
                ""
            }
        ));
    }
    match latest {
        Some(rev) if opts.keep_history => {
            store
                .set_status(
                    &name,
                    rev,
                    Status::Uninstalling,
                    "Uninstalled (history kept)",
                )
                .await?;
        }
        _ if opts.keep_history => {}
        _ => {
            store.delete_all(&name).await?;
        }
    }
    if let Err(e) = lock.release().await {
        reporter.warn(format!("could not release the lock: {e}"));
    }
    Ok(Uninstalled {
        removed,
        claims,
        purged: opts.purge_volumes,
    })
}

/// Every object any kept revision applied: a failed upgrade may have created
/// objects the last deployed revision lacks.
fn all_objects(records: &[Record]) -> Vec<Manifest> {
    let mut objects: Vec<Manifest> = Vec::new();
    for r in records.iter().rev() {
        for m in stored_objects(r) {
            if !objects.iter().any(|o| same_object(o, &m)) {
                objects.push(m);
            }
        }
    }
    objects
}

/// Who holds a release's lock, if anyone.
pub async fn lock_holder(
    session: &Session,
    release: &str,
    namespace: &str,
) -> Result<Option<LockInfo>> {
    Ok(Lock::inspect(session.client.clone(), namespace, release).await?)
}

/// Removes a release's lock and fails the revision its holder left pending; returns
/// that revision.
pub async fn unlock(session: &Session, release: &str, namespace: &str) -> Result<Option<Record>> {
    Lock::force_unlock(session.client.clone(), namespace, release).await?;
    let store = Store::new(session.client.clone(), namespace);
    Ok(store
        .fail_interrupted(release, "its lock was removed with `stackctl unlock`")
        .await?)
}
