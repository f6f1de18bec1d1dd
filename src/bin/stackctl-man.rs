//! Writes stackctl's manual pages: `stackctl.1` and one page per subcommand
//! (`stackctl-install.1`, ...), generated from the same `Cli` definition the binary
//! parses, into the directory given as the only argument. `install.sh` runs it.
//!
//! A separate binary rather than a `stackctl man` subcommand, so the shipped
//! `stackctl` carries no man-page code: `clap_mangen` is a dependency of the package
//! (Cargo has no per-binary dependencies) but only this file uses it, so it is never
//! linked into `stackctl`. Not `build.rs`, which would have to compile `src/cli.rs`
//! apart from the crate it imports from (`crate::values`).
//!
//!   stackctl-man DIR

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use stackctl::cli::Cli;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!(
            "usage: stackctl-man DIR   (writes stackctl.1 and stackctl-<command>.1 into DIR)"
        );
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    match write_pages(Cli::command(), &dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write manual pages to {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}

/// `clap_mangen::generate_to`, except that every page's footer names stackctl and its
/// version (the stock one names the subcommand: "install 0.1.0").
fn write_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<()> {
    fn write(cmd: clap::Command, source: &str, dir: &Path) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            write(sub.clone(), source, dir)?;
        }
        clap_mangen::Man::new(cmd).source(source).generate_to(dir)?;
        Ok(())
    }
    // `help` is a page of its own in clap's tree but says nothing a man page should.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let source = format!("stackctl {}", cmd.get_version().unwrap_or_default());
    write(cmd, &source, dir)
}
