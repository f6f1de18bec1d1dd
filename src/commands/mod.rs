//! One module per command; each turns parsed arguments into output and an exit status.

mod ask;
mod backup;
mod confirm;
mod diff;
mod doctor;
pub mod operate;
mod profiles;
mod show_values;
mod status;
mod template;
mod test;
mod uninstall;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Documented exit codes (README, "Exit codes").
pub mod exit {
    pub const OK: u8 = 0;
    /// An operation failed.
    pub const FAILED: u8 = 1;
    /// Bad command line or values; nothing was written to the cluster.
    pub const USAGE: u8 = 2;
    /// Preflight refused (cluster unreachable, permissions, storage); nothing written.
    pub const PREFLIGHT: u8 = 3;
    /// Another operation holds the release's lock.
    pub const LOCKED: u8 = 4;
    /// A connectivity probe failed (`test`; install/upgrade's last phase; preflight
    /// of external dependencies, where nothing else was written).
    pub const PROBES: u8 = 5;
    /// Interrupted by Ctrl-C (the revision is marked failed, the lock released;
    /// a backup or restore undoes what it can first).
    pub const INTERRUPTED: u8 = 130;
}

/// What a command itself concludes, as opposed to an error of the layers below;
/// [`report`] gives each its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Verdict {
    /// `status`: the release is not deployed and ready. With `-o json|yaml` the
    /// document already said so, and stderr stays quiet.
    #[error("release {release} is not healthy")]
    Unhealthy { release: String, silent: bool },
    /// `test`: a connectivity probe failed; the summary names how many.
    #[error("{0}")]
    ProbesFailed(String),
    /// The user answered no.
    #[error("aborted: nothing was changed")]
    Aborted,
}

pub async fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Command::Template(args) => template::run(&cli.global, args),
        Command::Lint(args) => template::lint(&cli.global, args),
        Command::Values(args) => show_values::run(&cli.global, args),
        Command::Profiles => profiles::run(&cli.global),
        Command::Install(args) => operate::install(&cli.global, args).await,
        Command::Upgrade(args) => operate::upgrade(&cli.global, args).await,
        Command::Rollback(args) => operate::rollback(&cli.global, args).await,
        Command::Status(args) => status::status(&cli.global, args).await,
        Command::History(args) => status::history(&cli.global, args).await,
        Command::Uninstall(args) => uninstall::uninstall(&cli.global, args).await,
        Command::Diff(args) => diff::run(&cli.global, args).await,
        Command::Unlock(args) => uninstall::unlock(&cli.global, args).await,
        Command::Test(args) => test::run(&cli.global, args).await,
        Command::Doctor(args) => doctor::run(&cli.global, args).await,
        Command::Backup(command) => backup::run(&cli.global, command).await,
        Command::Completion { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "stackctl",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            // Scripts asking for JSON get the failed operation's report on stdout too.
            if cli.global.output != crate::cli::OutputFormat::Text
                && let Some(r) = operate::OperationReport::of_error(&e)
            {
                let _ = crate::output::print_structured(cli.global.output, &r);
            }
            report(&e)
        }
    }
}

/// Prints a report that ends in a health verdict (`status`, `doctor`): as text
/// through `text`, or as the structured document asked for; unhealthy is exit 1,
/// without a stderr line when the document already said so.
fn print_health<T: serde::Serialize>(
    global: &crate::cli::GlobalArgs,
    report: &T,
    release: &str,
    healthy: bool,
    text: impl FnOnce(&T),
) -> anyhow::Result<()> {
    if global.output == crate::cli::OutputFormat::Text {
        text(report);
    } else {
        crate::output::print_structured(global.output, report)?;
    }
    if healthy {
        Ok(())
    } else {
        Err(Verdict::Unhealthy {
            release: release.to_string(),
            silent: global.output != crate::cli::OutputFormat::Text,
        }
        .into())
    }
}

/// Prints an error for a person: the message and its causes, no stack trace. The
/// one place where errors of the layers below become exit codes.
fn report(e: &anyhow::Error) -> ExitCode {
    use crate::operations::{
        Failed, Interrupted, PreflightFailed, Refused, ServerDryRunRejected, Stopped,
    };
    if let Some(verdict) = e.downcast_ref::<Verdict>() {
        let code = match verdict {
            Verdict::Unhealthy { silent, .. } => {
                if !silent {
                    eprintln!("{verdict}");
                }
                exit::FAILED
            }
            Verdict::ProbesFailed(_) => {
                eprintln!("error: {verdict}");
                exit::PROBES
            }
            Verdict::Aborted => {
                eprintln!("{verdict}");
                exit::USAGE
            }
        };
        return ExitCode::from(code);
    }
    // Already worded in full, "error: N problems in values" included.
    if let Some(problems) = e.downcast_ref::<crate::values::Problems>() {
        eprintln!("{problems}");
        return ExitCode::from(exit::USAGE);
    }
    if let Some(i) = e.downcast_ref::<Interrupted>() {
        eprintln!("{i}");
        return ExitCode::from(exit::INTERRUPTED);
    }
    if e.chain().any(<dyn std::error::Error>::is::<Stopped>) {
        eprintln!("error: {e:#}");
        return ExitCode::from(exit::INTERRUPTED);
    }
    let code = if e.is::<Refused>() || e.is::<crate::probe::FilterError>() {
        Some(exit::USAGE)
    } else if e.is::<crate::cluster::Unreachable>() || e.is::<PreflightFailed>() {
        Some(exit::PREFLIGHT)
    } else if matches!(
        e.downcast_ref::<crate::release::LockError>(),
        Some(crate::release::LockError::Held { .. })
    ) {
        Some(exit::LOCKED)
    } else if e.is::<crate::probe::ExternalsDoNotAnswer>() {
        Some(exit::PROBES)
    } else if let Some(f) = e.downcast_ref::<Failed>() {
        Some(if f.failure.is_probes() {
            exit::PROBES
        } else {
            exit::FAILED
        })
    } else if e.is::<ServerDryRunRejected>() || e.is::<crate::operations::RotationFailed>() {
        Some(exit::FAILED)
    } else {
        None
    };
    if let Some(code) = code {
        eprintln!("error: {e}");
        return ExitCode::from(code);
    }
    eprintln!("error: {}", crate::output::describe(e));
    ExitCode::from(exit::FAILED)
}

/// The values half of the command line as the operations take it.
fn values_input(
    global: &crate::cli::GlobalArgs,
    args: &crate::cli::ValuesArgs,
) -> crate::operations::Input {
    crate::operations::Input {
        release: args.release.clone(),
        namespace: global.namespace.clone(),
        profile: args.profile.clone(),
        files: args.values.clone(),
        sets: args.ordered_sets.clone(),
        answers: None,
    }
}

/// A session with the cluster `--kubeconfig` and `--context` name.
async fn connect(global: &crate::cli::GlobalArgs) -> anyhow::Result<crate::cluster::Session> {
    crate::cluster::Session::connect(global.kubeconfig.as_deref(), global.context.as_deref()).await
}

/// `warning: …` lines on stderr, unless `--quiet`.
fn print_warnings(global: &crate::cli::GlobalArgs, prepared: &crate::operations::Prepared) {
    if !global.quiet {
        for w in &prepared.warnings {
            eprintln!("warning: {w}");
        }
    }
}
