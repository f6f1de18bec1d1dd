//! `stackctl uninstall` and `stackctl unlock`.

use anyhow::Result;

use super::confirm::{Stakes, confirm};
use crate::cli::{GlobalArgs, UninstallArgs, UnlockArgs};
use crate::model::RELEASE_LABEL;
use crate::operations::backup::record::BACKUP_OF_LABEL;
use crate::operations::progress::Reporter;
use crate::operations::target;
use crate::operations::uninstall::{self, UninstallOptions};

pub async fn uninstall(global: &GlobalArgs, args: &UninstallArgs) -> Result<()> {
    let opts = UninstallOptions {
        release: args.release.release.clone(),
        namespace: global.namespace.clone(),
        purge_volumes: args.purge_volumes,
        purge_backups: args.purge_backups,
        keep_history: args.keep_history,
    };
    let session = super::connect(global).await?;
    let reporter = Reporter::new(global.quiet, args.no_progress);
    let planned = uninstall::plan(&session, &opts).await?;
    let (name, ns) = (planned.release.clone(), planned.namespace.clone());
    if opts.purge_volumes && !planned.claims.is_empty() {
        let question = format!(
            "Delete {} PersistentVolumeClaims of {name} ({})? Their data is lost for good.",
            planned.claims.len(),
            planned.claims.join(", ")
        );
        confirm(&question, args.yes, Stakes::Destructive)?;
    }
    if opts.purge_backups {
        let question = format!(
            "Delete every backup of {name} (their records, the volume {name}-backups, and their objects in S3 if any went there)? They are lost for good."
        );
        confirm(&question, args.yes, Stakes::Destructive)?;
    }
    let done = uninstall::run(&session, &reporter, planned, &opts).await?;
    if !global.quiet {
        println!("release {name} uninstalled from namespace {ns}");
        if !done.purged && !done.claims.is_empty() {
            println!(
                "kept {} PersistentVolumeClaims (data is safe):",
                done.claims.len()
            );
            for c in &done.claims {
                println!("  {c}");
            }
            println!(
                "a new install of {name} reuses them; delete them with `stackctl uninstall --purge-volumes` or `kubectl -n {ns} delete pvc -l {RELEASE_LABEL}={name}`"
            );
        }
        if !opts.purge_backups {
            println!(
                "backups, if any, are kept: `kubectl -n {ns} delete pvc,secret,job -l {BACKUP_OF_LABEL}={name}` deletes them"
            );
        }
    }
    Ok(())
}

pub async fn unlock(global: &GlobalArgs, args: &UnlockArgs) -> Result<()> {
    let session = super::connect(global).await?;
    let t = target::find_locked(
        &session.client,
        args.release.release.as_deref(),
        global.namespace.as_deref(),
    )
    .await?;
    let Some(info) = uninstall::lock_holder(&session, &t.name, &t.namespace).await? else {
        println!("release {} is not locked", t.name);
        return Ok(());
    };
    confirm(
        &format!(
            "Remove the lock of {} held by {}? Only do this if that process is gone.",
            t.name, info.holder
        ),
        args.yes,
        Stakes::Destructive,
    )?;
    if let Some(r) = uninstall::unlock(&session, &t.name, &t.namespace).await? {
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
