//! Asking before acting. An upgrade the user typed proceeds without a terminal (that
//! is automation, which asked for it); a step that destroys data never does.

use std::io::IsTerminal;

use anyhow::{Context, Result};

use super::Verdict;
use crate::operations::Refused;

/// How much is at stake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stakes {
    /// Undone by a rollback (an upgrade): yes by default, and yes without a terminal.
    Change,
    /// Data is lost for good, or a lock broken: no by default, and without a terminal
    /// only with `--yes`.
    Destructive,
}

/// `Ok` to go on; [`Verdict::Aborted`], or [`Refused`] without a terminal, otherwise
/// (nothing was changed either way).
pub fn confirm(question: &str, yes: bool, stakes: Stakes) -> Result<()> {
    if yes {
        return Ok(());
    }
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !terminal {
        return match stakes {
            Stakes::Change => Ok(()),
            Stakes::Destructive => Err(Refused(format!(
                "{question}\nnot a terminal, so not asking: re-run with --yes to confirm"
            ))
            .into()),
        };
    }
    let ok = dialoguer::Confirm::new()
        .with_prompt(question)
        .default(stakes == Stakes::Change)
        .interact()
        .context("reading the confirmation")?;
    if ok {
        Ok(())
    } else {
        Err(Verdict::Aborted.into())
    }
}
