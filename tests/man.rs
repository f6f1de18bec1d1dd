//! The manual pages `install.sh` installs: `stackctl-man` writes one per command of
//! `Cli`, each names its command and documents its flags, and each renders.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use clap::CommandFactory;
use stackctl::cli::Cli;

mod local;

/// Every page the command tree calls for (`stackctl`, `stackctl-install`, ...) with
/// the long flags its command takes, hidden ones left out.
fn expected_pages() -> Vec<(String, Vec<String>)> {
    fn walk(cmd: &clap::Command, name: &str, out: &mut Vec<(String, Vec<String>)>) {
        let flags = cmd
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect();
        out.push((name.to_string(), flags));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, &format!("{name}-{}", sub.get_name()), out);
        }
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, "stackctl", &mut out);
    out
}

fn generate(dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_stackctl-man"))
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Roff's escape of a long flag as the page spells it: `--set-file` → `\-\-set\-file`.
fn roff_flag(long: &str) -> String {
    format!("--{long}").replace('-', "\\-")
}

#[test]
fn a_page_per_command_naming_it_and_its_flags() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let expected = expected_pages();
    assert!(expected.len() > 10, "{expected:?}");
    let want: BTreeSet<String> = expected.iter().map(|(n, _)| format!("{n}.1")).collect();
    let have: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(have, want);
    for (name, flags) in &expected {
        let page = std::fs::read_to_string(dir.path().join(format!("{name}.1"))).unwrap();
        let th = page.lines().find(|l| l.starts_with(".TH ")).unwrap_or("");
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            th.starts_with(&format!(".TH {name} 1 "))
                && th.contains(&format!("stackctl {version}")),
            "{name}: {th}"
        );
        assert!(page.contains("\n.SH NAME\n"), "{name}");
        for flag in flags {
            assert!(page.contains(&roff_flag(flag)), "{name} lacks --{flag}");
        }
    }
    let install = &expected
        .iter()
        .find(|(n, _)| n == "stackctl-install")
        .unwrap()
        .1;
    assert!(install.iter().any(|f| f == "profile"), "{install:?}");
    assert!(
        std::fs::read_to_string(dir.path().join("stackctl.1"))
            .unwrap()
            .contains("stackctl\\-install(1)"),
        "the top page lists the commands' pages"
    );
}

/// Rendered text without the terminal's bold and underline (overstrikes `N\bN`,
/// SGR sequences), and with ASCII hyphens where a groff may print `\-` as a minus.
fn plain(rendered: &str) -> String {
    let mut out = String::new();
    let mut chars = rendered.chars();
    while let Some(c) = chars.next() {
        match c {
            '\u{8}' => {
                out.pop();
            }
            '\u{1b}' => {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            '\u{2010}' | '\u{2212}' => out.push('-'),
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn every_page_renders() {
    let groff = local::which("groff").is_some();
    if !groff && local::which("man").is_none() {
        let msg =
            "neither groff nor man found: install the Debian package groff-base (see .ci/run)";
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(!ci, "{msg}");
        eprintln!("skipped rendering: {msg}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    for (name, _) in expected_pages() {
        let file = dir.path().join(format!("{name}.1"));
        // groff directly where it is (every warning on); else as a reader would.
        let out = if groff {
            Command::new("groff")
                .args(["-man", "-Tutf8", "-ww"])
                .arg(&file)
                .output()
        } else {
            Command::new("man")
                .arg("-l")
                .arg(&file)
                .env("MANWIDTH", "80")
                .env("MANPAGER", "cat")
                .output()
        }
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(!stderr.contains("warning"), "{name}: {stderr}");
        let text = plain(&String::from_utf8_lossy(&out.stdout));
        assert!(text.contains("\nNAME\n"), "{name}:\n{text}");
        // Justified lines: words apart by any number of spaces.
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            words.contains(&format!("NAME {name} - ")),
            "{name}:\n{text}"
        );
        if name == "stackctl-install" {
            assert!(words.contains("--profile"), "{text}");
        }
    }
}
