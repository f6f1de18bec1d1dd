//! `stackctl diff`: what an upgrade would change, computed by the API server itself
//! (server-side apply with dryRun=All) against the live objects, secrets redacted.
//! Changes the server refuses in place are shown as rendered and marked, with what
//! `upgrade` would say about them.

use anyhow::Result;

use crate::cli::{DiffArgs, GlobalArgs};
use crate::operations::changes::render_diff;
use crate::operations::upgrade;

pub async fn run(global: &GlobalArgs, args: &DiffArgs) -> Result<()> {
    let session = super::connect(global).await?;
    let input = super::values_input(global, &args.upgrade.values);
    let planned = upgrade::plan(&session, &input, args.upgrade.reset_values).await?;
    super::print_warnings(global, &planned.prepared);
    let text = render_diff(
        &session,
        &planned.plan,
        &planned.previous,
        &planned.immutable,
    )
    .await?;
    if text.is_empty() {
        println!("no changes");
    } else {
        print!("{text}");
    }
    // What `upgrade` would refuse, in its words: the diff is still the whole change.
    if let Err(refusal) = planned.ensure_allowed(false, &args.upgrade.rotated)
        && !global.quiet
    {
        eprintln!("note: {refusal}");
    }
    Ok(())
}
