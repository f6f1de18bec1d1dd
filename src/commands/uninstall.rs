//! `stackctl uninstall` and `stackctl unlock`.

use std::io::IsTerminal;

use anyhow::{Context, Result};

use crate::cli::{GlobalArgs, UninstallArgs, UnlockArgs};
use crate::model::RELEASE_LABEL;
use crate::operations::progress::Reporter;
use crate::operations::uninstall::{self, UninstallOptions};
use crate::operations::{Refused, target};

pub async fn uninstall(global: &GlobalArgs, args: &UninstallArgs) -> Result<()> {
    let opts = UninstallOptions {
        release: args.release.release.clone(),
        namespace: global.namespace.clone(),
        purge_volumes: args.purge_volumes,
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
        confirm_destructive(&question, args.yes)?;
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
    let Some(info) = uninstall::lock_holder(&session, &t.name, &t.namespace).await? else {
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

/// Destructive steps need a yes: asked on a terminal, `--yes` otherwise.
fn confirm_destructive(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Refused(format!(
            "{question}\nnot a terminal, so not asking: re-run with --yes to confirm"
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
        Err(Refused("aborted: nothing was changed".into()).into())
    }
}
