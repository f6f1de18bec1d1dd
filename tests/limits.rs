//! Bounded inputs, through the binary: files, devices and pipes given as values are
//! refused at once, naming the input and the limit. No cluster needed.
//!
//! Every command runs under a deadline: a regression that hangs on a pipe or reads
//! a device forever fails here instead of stalling the suite.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

const DEADLINE: Duration = Duration::from_secs(30);
const KIB: usize = 1024;

fn stackctl() -> Command {
    let mut cmd = Command::cargo_bin("stackctl").unwrap();
    cmd.env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .env_remove("COLUMNS")
        .timeout(DEADLINE);
    cmd
}

/// Runs `args` (a `template` or `lint`), expecting exit 2; returns stderr.
fn refused(args: &[&str]) -> String {
    let out = stackctl().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stackctl {args:?}:\n{err}");
    err
}

fn fifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
    path
}

/// Valid values padded with a comment to exactly `len` bytes.
fn values_file(dir: &Path, name: &str, len: usize) -> PathBuf {
    let head = "clickvisual:\n  replicas: 1\n# ";
    let mut text = String::from(head);
    text.push_str(&"x".repeat(len - head.len() - 1));
    text.push('\n');
    assert_eq!(text.len(), len);
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_device_as_values_file_is_refused_at_once() {
    let err = refused(&["template", "--profile", "minimal", "-f", "/dev/zero"]);
    assert!(
        err.contains("values file /dev/zero (-f) is a character device, not a file"),
        "{err}"
    );
}

#[test]
fn a_named_pipe_nobody_writes_to_is_refused_not_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let pipe = fifo(dir.path(), "values.yaml");
    let pipe = pipe.to_str().unwrap();

    let err = refused(&["template", "--profile", "minimal", "-f", pipe]);
    assert!(
        err.contains(&format!(
            "values file {pipe} (-f) is a named pipe, not a file"
        )),
        "{err}"
    );

    let flag = format!("clickvisual.schema.sql={pipe}");
    let err = refused(&["lint", "--profile", "minimal", "--set-file", &flag]);
    assert!(
        err.contains(&format!("file \"{pipe}\" is a named pipe, not a file"))
            && err.contains(&format!("(from --set-file {flag})")),
        "{err}"
    );

    let err = refused(&["lint", "--profile", pipe]);
    assert!(
        err.contains(&format!("profile file {pipe} is a named pipe, not a file")),
        "{err}"
    );
}

#[test]
fn a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let err = refused(&["lint", "--profile", "minimal", "-f", d]);
    assert!(
        err.contains(&format!("values file {d} (-f) is a directory, not a file")),
        "{err}"
    );
}

#[test]
fn a_values_file_up_to_the_limit_is_read_and_one_byte_more_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let fits = values_file(dir.path(), "fits.yaml", 512 * KIB);
    stackctl()
        .args(["lint", "--profile", "minimal", "-f"])
        .arg(&fits)
        .assert()
        .success();

    let big = values_file(dir.path(), "big.yaml", 512 * KIB + 1);
    let big = big.to_str().unwrap();
    let err = refused(&["lint", "--profile", "minimal", "-f", big]);
    assert!(
        err.contains(&format!("values file {big} (-f) is larger than 512 KiB")),
        "{err}"
    );
    assert!(err.contains("1 MiB"), "the reason is missing: {err}");
}

#[test]
fn the_total_of_everything_given_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let a = values_file(dir.path(), "a.yaml", 400 * KIB);
    let b = values_file(dir.path(), "b.yaml", 400 * KIB);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let err = refused(&["lint", "--profile", "minimal", "-f", a, "-f", b]);
    assert!(
        err.contains(&format!("values file {b} (-f) brings what was given"))
            && err.contains("more than 768 KiB in all"),
        "{err}"
    );

    // Through --set-file too, which the values engine reads: 400 + 200 + 200 KiB.
    let c = dir.path().join("c.sql");
    std::fs::write(&c, "x".repeat(200 * KIB)).unwrap();
    let first = format!("clickvisual.schema.sql={}", c.display());
    let second = format!("clickvisual.config.secretKey={}", c.display());
    let err = refused(&[
        "lint",
        "--profile",
        "minimal",
        "-f",
        a,
        "--set-file",
        &first,
        "--set-file",
        &second,
    ]);
    assert!(
        err.contains(&format!("file \"{}\" brings what was given", c.display()))
            && err.contains("more than 768 KiB in all")
            && err.contains(&format!("(from --set-file {second})")),
        "{err}"
    );
}

#[test]
fn a_large_set_file_is_refused_naming_the_flag_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("schema.sql");
    std::fs::write(&big, "x".repeat(256 * KIB + 1)).unwrap();
    let flag = format!("clickvisual.schema.sql={}", big.display());
    let err = refused(&["lint", "--profile", "minimal", "--set-file", &flag]);
    assert!(
        err.contains(&format!(
            "file \"{}\" is larger than 256 KiB, the most stackctl reads from one --set-file",
            big.display()
        )) && err.contains(&format!("(from --set-file {flag})")),
        "{err}"
    );
}

#[test]
fn a_long_set_value_is_refused_without_echoing_it() {
    let secret = "s".repeat(64 * KIB);
    let flag = format!("clickvisual.config.secretKey={secret}");
    let err = refused(&["lint", "--profile", "minimal", "--set", &flag]);
    assert!(
        err.contains("--set clickvisual.config.secretKey=… is larger than 64 KiB"),
        "{err}"
    );
    assert!(!err.contains("ssss"), "the value was echoed: {err}");
}
