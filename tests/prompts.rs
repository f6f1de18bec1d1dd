//! `install` asks for what the profile requires when a person is at a terminal,
//! and refuses as before when nobody is (`--yes`, or no terminal). Driven in a
//! pseudo-terminal with `--dry-run`, so no cluster is needed: the prompts come
//! before any contact with one.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use rexpect::process::wait::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

const DOWN: &str = "\x1b[B";

fn stackctl_in_pty(dir: &Path, args: &[&str]) -> PtySession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stackctl"));
    cmd.args(args)
        .current_dir(dir)
        .env("TERM", "xterm")
        .env_remove("KUBECONFIG");
    spawn_command(cmd, Some(30_000)).expect("stackctl starts in a pseudo-terminal")
}

/// Keys without Enter, as a person presses them (a yes/no or a menu takes them at once).
fn press(p: &mut PtySession, keys: &str) {
    p.send(keys).unwrap();
    p.flush().unwrap();
}

fn exit_code(p: &mut PtySession) -> i32 {
    match p.process.wait().expect("stackctl ends") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("stackctl ended abnormally: {other:?}"),
    }
}

#[test]
fn a_missing_password_is_asked_for_hidden_and_kept_in_a_private_file() {
    let dir = tempfile::tempdir().unwrap();
    let password = "s3cret, with = signs";
    let mut p = stackctl_in_pty(
        dir.path(),
        &["install", "--profile", "external-services", "--dry-run"],
    );
    p.exp_string("mysql.external.password").unwrap();
    // What the value is, from the schema, and the profile's example.
    p.exp_string("Password of `username` on the external database.")
        .unwrap();
    p.exp_string("e.g. example").unwrap();
    // The external MySQL is already chosen: nothing to switch off, straight to input.
    p.exp_string("mysql.external.password:").unwrap();
    p.send_line(password).unwrap();
    p.exp_string("again").unwrap();
    p.send_line(password).unwrap();
    p.exp_string("Keep these answers in a values file").unwrap();
    press(&mut p, "y");
    p.exp_string("values file").unwrap();
    p.send_line("").unwrap();
    let rest = p.exp_string("next time:").unwrap();
    assert!(
        rest.contains("wrote clickvisual-values.yaml (mode 0600)"),
        "{rest}"
    );
    p.read_line().unwrap(); // the rest of the "next time:" line
    let command = p.read_line().unwrap();
    assert_eq!(
        command.trim(),
        "stackctl install --profile external-services --dry-run -f clickvisual-values.yaml"
    );
    let output = p.exp_eof().unwrap();
    assert_eq!(exit_code(&mut p), 0, "{output}");

    // The install went on with the answer (its Secret holds it) ...
    let encoded = base64::engine::general_purpose::STANDARD.encode(password);
    assert!(output.contains(&encoded), "the rendered Secret lacks it");
    // ... which was never echoed.
    assert!(!rest.contains(password) && !output.contains(password));

    let file = dir.path().join("clickvisual-values.yaml");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let kept: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(kept["mysql"]["external"]["password"], password);

    // The printed command works without a terminal: nothing is missing any more.
    let again = Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .args(["install", "--profile", "external-services", "--dry-run"])
        .args(["-f", "clickvisual-values.yaml"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn answers_are_checked_as_typed_and_an_in_house_service_can_be_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = stackctl_in_pty(dir.path(), &["install", "--profile", "aiops", "--dry-run"]);
    p.exp_string("aiEngine.image.repository").unwrap();
    p.exp_string("The AI engine, one of the in-house services.")
        .unwrap();
    p.exp_string("disable aiEngine (aiEngine.enabled=false)")
        .unwrap();
    press(&mut p, "\r");
    p.exp_string("aiEngine.image.repository:").unwrap();
    // The same check the operation runs rejects it before the next question.
    p.send_line("Not A Repo").unwrap();
    p.exp_string("is not a valid image repository").unwrap();
    p.send_line("registry.example.com/team/ai-engine").unwrap();
    for (key, component) in [
        ("apiGateway.image.repository", "apiGateway"),
        ("selfHealing.image.repository", "selfHealing"),
    ] {
        p.exp_string(key).unwrap();
        p.exp_string(&format!("disable {component}")).unwrap();
        press(&mut p, DOWN);
        press(&mut p, "\r");
    }
    p.exp_string("Keep these answers in a values file").unwrap();
    press(&mut p, "n");
    let output = p.exp_eof().unwrap();
    assert_eq!(exit_code(&mut p), 0, "{output}");
    assert!(output.contains("image: registry.example.com/team/ai-engine:latest"));
    assert!(output.contains("Deployment/aiops-ai-engine"));
    assert!(!output.contains("Deployment/aiops-api-gateway"));
    assert!(!output.contains("Deployment/aiops-self-healing"));
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no file unless asked for"
    );
}

#[test]
fn with_yes_or_without_a_terminal_nothing_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = stackctl_in_pty(
        dir.path(),
        &["install", "--profile", "aiops", "--dry-run", "--yes"],
    );
    let output = p.exp_eof().unwrap();
    assert_eq!(exit_code(&mut p), 2, "{output}");
    assert!(output.contains("aiEngine.image.repository: required by the profile"));
    assert!(!output.contains("answer below"), "{output}");

    let out = Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .args(["install", "--profile", "external-services", "--dry-run"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mysql.external.password: required by the profile"));
    assert!(!stderr.contains("answer below"), "{stderr}");
}
