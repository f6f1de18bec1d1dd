//! `stackctl diff`: what an upgrade would change, computed by the API server itself
//! (server-side apply with dryRun=All) against the live objects, secrets redacted.

use anyhow::Result;

use super::changes::render_diff;
use super::operate::plan_upgrade;
use crate::cli::{DiffArgs, GlobalArgs};
use crate::lifecycle::stored_objects;

pub async fn run(global: &GlobalArgs, args: &DiffArgs) -> Result<()> {
    let session = super::connect(global).await?;
    let (_, current, plan) = plan_upgrade(global, &args.upgrade, &session).await?;
    let text = render_diff(&session, &plan, &stored_objects(&current)).await?;
    if text.is_empty() {
        println!("no changes");
    } else {
        print!("{text}");
    }
    Ok(())
}
