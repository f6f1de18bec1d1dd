//! `stackctl uninstall` and `stackctl unlock`.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use super::{Exit, exit};
use crate::cli::{GlobalArgs, UninstallArgs, UnlockArgs};
use crate::lifecycle::operation::remove_objects;
use crate::lifecycle::progress::Reporter;
use crate::lifecycle::target;
use crate::lifecycle::{LOCK_TTL, stored_objects};
use crate::model::{Manifest, RELEASE_LABEL};
use crate::release::{Lock, LockError, Status, Store};

pub async fn uninstall(global: &GlobalArgs, args: &UninstallArgs) -> Result<()> {
    let session = super::connect(global).await?;
    let reporter = Reporter::new(global.quiet, args.no_progress);
    let t = target::find(
        &session.client,
        args.release.release.as_deref(),
        global.namespace.as_deref(),
    )
    .await?;
    let store = Store::new(session.client.clone(), &t.namespace);
    let claims_api: Api<PersistentVolumeClaim> =
        Api::namespaced(session.client.clone(), &t.namespace);
    let selector = ListParams::default().labels(&format!("app.kubernetes.io/instance={}", t.name));
    let claims: Vec<String> = claims_api
        .list(&selector)
        .await
        .context("listing the release's PersistentVolumeClaims")?
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    if args.purge_volumes && !claims.is_empty() {
        let question = format!(
            "Delete {} PersistentVolumeClaims of {} ({})? Their data is lost for good.",
            claims.len(),
            t.name,
            claims.join(", ")
        );
        confirm_destructive(&question, args.yes)?;
    }

    let lock = Lock::acquire(
        session.client.clone(),
        &t.namespace,
        &t.name,
        "uninstall",
        LOCK_TTL,
    )
    .await
    .map_err(lock_error)?;
    let records = store.list(&t.name).await?;
    let latest = records.last().map(|r| r.revision);
    if let Some(rev) = latest {
        store
            .set_status(&t.name, rev, Status::Uninstalling, "Uninstall in progress")
            .await?;
    }
    // Every object any kept revision applied: a failed upgrade may have created
    // objects the last deployed revision lacks.
    let mut objects: Vec<Manifest> = Vec::new();
    for r in records.iter().rev() {
        for m in stored_objects(r) {
            if !objects
                .iter()
                .any(|o| crate::lifecycle::immutable::same_object(o, &m))
            {
                objects.push(m);
            }
        }
    }
    let removed = remove_objects(&session, &reporter, &objects, &t.name).await?;
    reporter.info(format!(
        "removed {removed} objects of {} (apps, then data, then storage)",
        t.name
    ));

    if args.purge_volumes {
        for c in &claims {
            claims_api
                .delete(c, &DeleteParams::default())
                .await
                .with_context(|| format!("deleting PersistentVolumeClaim {c}"))?;
        }
        reporter.info(format!("deleted {} PersistentVolumeClaims", claims.len()));
    }
    if args.keep_history {
        if let Some(rev) = latest {
            store
                .set_status(
                    &t.name,
                    rev,
                    Status::Uninstalling,
                    "Uninstalled (history kept)",
                )
                .await?;
        }
    } else {
        store.delete_all(&t.name).await?;
    }
    if let Err(e) = lock.release().await {
        reporter.warn(format!("could not release the lock: {e}"));
    }
    if !global.quiet {
        println!(
            "release {} uninstalled from namespace {}",
            t.name, t.namespace
        );
        if !args.purge_volumes && !claims.is_empty() {
            println!(
                "kept {} PersistentVolumeClaims (data is safe):",
                claims.len()
            );
            for c in &claims {
                println!("  {c}");
            }
            println!(
                "a new install of {} reuses them; delete them with `stackctl uninstall --purge-volumes` or `kubectl -n {} delete pvc -l {RELEASE_LABEL}={}`",
                t.name, t.namespace, t.name
            );
        }
    }
    Ok(())
}

pub async fn unlock(global: &GlobalArgs, args: &UnlockArgs) -> Result<()> {
    let session = super::connect(global).await?;
    let t = target::find(
        &session.client,
        args.release.release.as_deref(),
        global.namespace.as_deref(),
    )
    .await?;
    let Some(info) = Lock::inspect(session.client.clone(), &t.namespace, &t.name).await? else {
        println!("release {} is not locked", t.name);
        return Ok(());
    };
    confirm_destructive(
        &format!(
            "Remove the lock of {} held by {}? Only do this if that process is gone.",
            t.name, info.holder
        ),
        args.yes,
    )?;
    Lock::force_unlock(session.client.clone(), &t.namespace, &t.name).await?;
    let store = Store::new(session.client.clone(), &t.namespace);
    if let Some(r) = store
        .fail_interrupted(&t.name, "its lock was removed with `stackctl unlock`")
        .await?
    {
        println!(
            "revision {} was still {}; marked failed",
            r.revision, r.operation
        );
    }
    println!(
        "removed the lock of {} (was held by {})",
        t.name, info.holder
    );
    Ok(())
}

/// Destructive steps need a yes: asked on a terminal, `--yes` otherwise.
fn confirm_destructive(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Exit::usage(format!(
            "error: {question}\nnot a terminal, so not asking: re-run with --yes to confirm"
        ))
        .into());
    }
    let ok = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .context("reading the confirmation")?;
    if ok {
        Ok(())
    } else {
        Err(Exit::usage("aborted: nothing was changed").into())
    }
}

pub fn lock_error(e: LockError) -> anyhow::Error {
    match e {
        held @ LockError::Held { .. } => Exit {
            code: exit::LOCKED,
            message: format!("error: {held}"),
        }
        .into(),
        other => other.into(),
    }
}
