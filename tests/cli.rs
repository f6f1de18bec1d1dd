//! The command line as a user meets it: exit codes, error messages, output shapes.
//! No cluster needed: these commands never contact one.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

mod common;

fn stackctl() -> Command {
    let mut cmd = Command::cargo_bin("stackctl").unwrap();
    // Nothing here may depend on the developer's kubeconfig, colours or terminal width.
    cmd.env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .env_remove("COLUMNS");
    cmd
}

fn yaml_docs(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .map(|d| d.trim_start_matches("---\n"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap())
        .collect()
}

#[test]
fn profiles_lists_every_builtin_profile_with_its_stack() {
    let out = stackctl()
        .args(["profiles", "-o", "json"])
        .assert()
        .success();
    let list: Vec<Value> = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let names: Vec<&str> = list.iter().map(|p| p["name"].as_str().unwrap()).collect();
    for want in common::PROFILES {
        assert!(names.contains(&want), "{names:?}");
    }
    assert!(list.iter().all(|p| {
        let stack = p["stack"].as_str().unwrap();
        let name = p["name"].as_str().unwrap();
        let expected = if name.starts_with("aiops") {
            "aiops"
        } else {
            "clickvisual"
        };
        stack == expected && p["description"].as_str().unwrap().len() > 10
    }));
    stackctl().arg("profiles").assert().success().stdout(
        predicate::str::contains("NAME").and(predicate::str::contains("external-services")),
    );
}

#[test]
fn tables_fit_columns_and_are_never_wrapped_without_it() {
    let lines = |out: &assert_cmd::assert::Assert| -> Vec<String> {
        String::from_utf8(out.get_output().stdout.clone())
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    };
    let descriptions: Vec<String> = stackctl::profiles::builtin()
        .into_iter()
        .map(|p| p.description)
        .collect();
    let longest_description = descriptions
        .iter()
        .map(|d| d.chars().count())
        .max()
        .unwrap();
    assert!(longest_description > 80, "nothing here would need wrapping");

    // stdout is a pipe here; COLUMNS set is still honoured.
    let out = stackctl()
        .arg("profiles")
        .env("COLUMNS", "80")
        .assert()
        .success();
    let narrow = lines(&out);
    assert!(
        narrow.iter().all(|l| l.chars().count() <= 80),
        "{}",
        narrow.join("\n")
    );
    assert!(
        narrow.len() > descriptions.len() + 1,
        "{}",
        narrow.join("\n")
    );
    assert!(narrow[0].starts_with("NAME "), "{}", narrow[0]);

    // A pipe without COLUMNS: one line a profile, each description whole.
    let out = stackctl().arg("profiles").assert().success();
    let wide = lines(&out);
    assert_eq!(wide.len(), descriptions.len() + 1, "{}", wide.join("\n"));
    assert!(
        wide.iter().map(|l| l.chars().count()).max().unwrap() > longest_description,
        "{}",
        wide.join("\n")
    );
    for d in &descriptions {
        assert!(wide.iter().any(|l| l.ends_with(d.as_str())), "{d}");
    }

    // JSON is data, never fitted.
    let out = stackctl()
        .args(["profiles", "-o", "json"])
        .env("COLUMNS", "80")
        .assert()
        .success();
    let list: Vec<Value> = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let json: Vec<&str> = list
        .iter()
        .map(|p| p["description"].as_str().unwrap())
        .collect();
    assert_eq!(json, descriptions);
}

#[test]
fn lint_accepts_every_builtin_profile_given_what_it_requires() {
    use stackctl::values::SetKind;
    for profile in stackctl::profiles::builtin() {
        let bare = stackctl()
            .args(["lint", "--profile", &profile.name])
            .output()
            .unwrap();
        if profile.requires.is_empty() {
            assert!(bare.status.success(), "{}", profile.name);
            continue;
        }
        // Without its inputs, the profile names each one; with them, it is valid.
        assert_eq!(bare.status.code(), Some(2), "{}", profile.name);
        let err = String::from_utf8_lossy(&bare.stderr);
        for r in &profile.requires {
            assert!(err.contains(&r.key), "{}: {err}", profile.name);
        }
        let mut cmd = stackctl();
        cmd.args(["lint", "--profile", &profile.name]);
        for set in common::required_sets(&profile.name) {
            let flag = match set.kind {
                SetKind::Json => "--set-json",
                _ => "--set",
            };
            cmd.args([flag, &set.raw]);
        }
        cmd.assert()
            .success()
            .stdout(predicate::str::contains("values valid"));
    }
}

#[test]
fn lint_reports_every_problem_at_once_with_origins() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("my.yaml");
    std::fs::write(&file, "mysql:\n  auth:\n    rootPasword: secret\nclickhouse:\n  resources:\n    limits:\n      memory: 8GB\n").unwrap();
    let out = stackctl()
        .args(["lint", "--profile", "minimal", "-f"])
        .arg(&file)
        .args([
            "--set",
            "clickvisual.replicas=abc",
            "--set",
            "kafka.replicas=0",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("mysql.auth.rootPasword"), "{err}");
    assert!(
        err.contains("mysql.auth.rootPassword"),
        "suggestion missing: {err}"
    );
    assert!(err.contains("my.yaml:3"), "file and line missing: {err}");
    assert!(err.contains("clickvisual.replicas"), "{err}");
    assert!(
        err.contains("--set clickvisual.replicas=abc"),
        "flag origin missing: {err}"
    );
    assert!(err.contains("clickhouse.resources.limits.memory"), "{err}");
    assert!(err.contains("my.yaml:7"), "{err}");
    // Semantic checks only run once types are right; kafka.replicas=0 is well typed.
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn semantic_problems_name_the_key_and_the_cause() {
    let out = stackctl()
        .args(["lint", "--profile", "minimal"])
        .args([
            "--set",
            "kafka.replicas=0",
            "--set",
            "clickvisual.replicas=3",
        ])
        .args([
            "--set",
            "mysql.enabled=false",
            "--set",
            "ingress.enabled=true,ingress.host=Not_A_Host",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    for want in [
        "kafka.replicas",
        "mysql.external.host",
        "redis",
        "ingress.host",
        "--set mysql.enabled=false",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

#[test]
fn external_services_profile_requires_passwords_and_says_which() {
    // The profile ships placeholder hosts; a user who only sets the MySQL password
    // gets a valid configuration.
    stackctl()
        .args([
            "lint",
            "--profile",
            "external-services",
            "--set",
            "mysql.external.password=pw",
        ])
        .assert()
        .success();
}

#[test]
fn unknown_profile_is_a_usage_error_listing_the_builtin_ones() {
    stackctl()
        .args(["template", "--profile", "minimla"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("no profile named \"minimla\"")
                .and(predicate::str::contains("minimal")),
        );
}

#[test]
fn template_prints_objects_in_phase_order_with_labels() {
    let out = stackctl()
        .args(["template", "--profile", "default", "-n", "logs", "cv"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let docs = yaml_docs(&text);
    assert!(docs.len() > 20, "only {} objects", docs.len());
    let phases: Vec<&str> = docs
        .iter()
        .map(|d| {
            d["metadata"]["annotations"]["stackctl.dev/phase"]
                .as_str()
                .unwrap()
        })
        .collect();
    let rank = |p: &str| {
        ["storage", "data", "apps"]
            .iter()
            .position(|x| *x == p)
            .unwrap()
    };
    assert!(
        phases.windows(2).all(|w| rank(w[0]) <= rank(w[1])),
        "phases out of order: {phases:?}"
    );
    let kinds_names: Vec<(String, String)> = docs
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let pos = |kind: &str, name: &str| kinds_names.iter().position(|(k, n)| k == kind && n == name);
    let (zk, kafka) = (
        pos("StatefulSet", "cv-zookeeper"),
        pos("StatefulSet", "cv-kafka"),
    );
    assert!(
        zk.is_some() && kafka.is_some() && zk < kafka,
        "zookeeper must come before kafka"
    );
    for d in &docs {
        let labels = &d["metadata"]["labels"];
        assert_eq!(
            labels["app.kubernetes.io/managed-by"], "stackctl",
            "{}",
            d["metadata"]["name"]
        );
        assert_eq!(labels["app.kubernetes.io/instance"], "cv");
        assert_eq!(labels["stackctl.dev/release"], "cv");
        assert!(labels["app.kubernetes.io/component"].is_string());
        if d["kind"] != "ClusterRole" && d["kind"] != "ClusterRoleBinding" {
            assert_eq!(
                d["metadata"]["namespace"], "logs",
                "{}",
                d["metadata"]["name"]
            );
        }
    }
}

#[test]
fn template_json_is_a_list_and_kube_version_picks_api_versions() {
    let pdb_version = |kube: &str| -> String {
        let out = stackctl()
            .args([
                "template",
                "--profile",
                "production",
                "-o",
                "json",
                "--kube-version",
                kube,
            ])
            .assert()
            .success();
        let list: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(list["kind"], "List");
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == "PodDisruptionBudget")
            .expect("production has PodDisruptionBudgets")["apiVersion"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(pdb_version("1.20"), "policy/v1beta1");
    assert_eq!(pdb_version("1.29"), "policy/v1");
    stackctl()
        .args(["template", "--kube-version", "banana"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--kube-version"));
}

#[test]
fn values_redacts_secrets_unless_asked() {
    let out = stackctl()
        .args(["values", "--profile", "minimal", "-o", "json"])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["mysql"]["auth"]["rootPassword"], "<redacted>");
    assert_eq!(v["clickvisual"]["config"]["secretKey"], "<redacted>");
    assert_eq!(v["mysql"]["auth"]["database"], "clickvisual");

    let out = stackctl()
        .args([
            "values",
            "--profile",
            "minimal",
            "-o",
            "json",
            "--show-secrets",
        ])
        .args(["--set", "mysql.auth.password=0123"])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let generated = v["mysql"]["auth"]["rootPassword"].as_str().unwrap();
    assert!(
        generated.len() >= 24 && generated.chars().all(|c| c.is_ascii_alphanumeric()),
        "{generated}"
    );
    // A string field keeps what the user typed: Helm would have made this the number 123.
    assert_eq!(v["mysql"]["auth"]["password"], "0123");
    assert_eq!(
        v["clickvisual"]["config"]["encryptionKey"]
            .as_str()
            .unwrap()
            .len(),
        32
    );
}

#[test]
fn set_flags_apply_in_the_order_typed() {
    let out = stackctl()
        .args(["values", "--profile", "minimal", "-o", "json"])
        .args([
            "--set-string",
            "clickvisual.image.tag=first",
            "--set",
            "clickvisual.image.tag=second",
        ])
        .args(["--set-json", "global.nodeSelector={\"disk\":\"ssd\"}"])
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["clickvisual"]["image"]["tag"], "second");
    assert_eq!(v["global"]["nodeSelector"]["disk"], "ssd");
}

#[test]
fn set_file_reads_the_file_and_names_it_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.txt");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef").unwrap();
    let out = stackctl()
        .args(["values", "--show-secrets", "-o", "json", "--set-file"])
        .arg(format!(
            "clickvisual.config.encryptionKey={}",
            key.display()
        ))
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        v["clickvisual"]["config"]["encryptionKey"],
        "0123456789abcdef0123456789abcdef"
    );

    stackctl()
        .args([
            "values",
            "--set-file",
            "clickvisual.config.secretKey=/nonexistent/k",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent/k"));
}

#[test]
fn completion_scripts_are_generated() {
    stackctl()
        .args(["completion", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("stackctl"));
}

#[test]
fn a_sub_path_needs_an_image_built_for_it_and_then_probes_follow_it() {
    let out = stackctl()
        .args(["lint", "--profile", "minimal"])
        .args(["--set", "ingress.enabled=true,ingress.path=/cv"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("ingress.path"), "{err}");
    assert!(err.contains("serves its UI from / only"), "{err}");
    assert!(err.contains("clickvisual.subPathBuild=true"), "{err}");

    // A rootURL whose path is not the Ingress path would route nothing.
    let out = stackctl()
        .args(["lint", "--profile", "minimal"])
        .args(["--set", "ingress.enabled=true,ingress.path=/cv/"])
        .args(["--set", "clickvisual.subPathBuild=true"])
        .args([
            "--set",
            "clickvisual.config.rootURL=https://logs.example.com/other",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("clickvisual.config.rootURL"), "{err}");
    assert!(!err.contains("serves its UI from / only"), "{err}");
    stackctl()
        .args(["lint", "--profile", "minimal"])
        .args(["--set", "ingress.enabled=true,ingress.path=/cv/"])
        .args(["--set", "clickvisual.subPathBuild=true"])
        .args([
            "--set",
            "clickvisual.config.rootURL=https://logs.example.com/cv/?from=mail",
        ])
        .assert()
        .success();

    let out = stackctl()
        .args(["template", "--profile", "minimal"])
        .args(["--set", "ingress.enabled=true,ingress.path=/cv/"])
        .args(["--set", "clickvisual.subPathBuild=true"])
        .assert()
        .success();
    let docs = yaml_docs(&String::from_utf8_lossy(&out.get_output().stdout));
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "clickvisual-clickvisual")
        .unwrap();
    let c = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/cv/api/v1/install");
}

#[test]
fn schema_warnings_and_a_custom_schema_file() {
    // The mission's tag: valid, with a warning naming it.
    let out = stackctl()
        .args(["lint", "--profile", "minimal"])
        .args(["--set", "clickvisual.image.tag=v1.2.0"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("warning: clickvisual.image.tag \"v1.2.0\" is not a ClickVisual version"),
        "{err}"
    );
    // A known tag, with or without `v`: no warning.
    for tag in ["1.0.6", "v1.0.7"] {
        stackctl()
            .args(["lint", "--profile", "minimal"])
            .args(["--set", &format!("clickvisual.image.tag={tag}")])
            .assert()
            .success()
            .stderr(predicate::str::contains("warning").not());
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schema.sql");
    std::fs::write(&file, "CREATE TABLE IF NOT EXISTS `mine` (`id` int);\n").unwrap();
    let set_file = format!("clickvisual.schema.sql={}", file.display());
    let out = stackctl()
        .args(["template", "--profile", "minimal", "--set-file", &set_file])
        .args(["--set", "clickvisual.image.tag=v9.9.9"])
        .assert()
        .success()
        .stderr(predicate::str::contains("warning").not());
    let docs = yaml_docs(&String::from_utf8_lossy(&out.get_output().stdout));
    let cm = docs
        .iter()
        .find(|d| {
            d["kind"] == "ConfigMap" && d["metadata"]["name"] == "clickvisual-clickvisual-schema"
        })
        .unwrap();
    assert_eq!(
        cm["data"]["schema.sql"],
        "CREATE TABLE IF NOT EXISTS `mine` (`id` int);\n"
    );

    // A script with nothing to run, or one nothing would run, is refused.
    std::fs::write(&file, "-- nothing here\n").unwrap();
    stackctl()
        .args(["lint", "--profile", "minimal", "--set-file", &set_file])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "clickvisual.schema.sql: holds no SQL statement",
        ));
    std::fs::write(&file, "SELECT 1;\n").unwrap();
    stackctl()
        .args(["lint", "--profile", "minimal", "--set-file", &set_file])
        .args(["--set", "clickvisual.schema.enabled=false"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "clickvisual.schema.enabled is false",
        ));

    // Off: no schema objects at all.
    let out = stackctl()
        .args(["template", "--profile", "minimal"])
        .args(["--set", "clickvisual.schema.enabled=false"])
        .assert()
        .success();
    let docs = yaml_docs(&String::from_utf8_lossy(&out.get_output().stdout));
    assert!(
        docs.iter()
            .all(|d| !d["metadata"]["name"].as_str().unwrap().contains("schema"))
    );
}

#[test]
fn an_unreachable_cluster_is_a_preflight_failure() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    // A server nothing listens on.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
         contexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n\
         users:\n- name: u\n  user: {token: t}\n",
    )
    .unwrap();
    for args in [&["status"][..], &["install", "--profile", "minimal"]] {
        let out = stackctl()
            .args(args)
            .args(["--kubeconfig", kubeconfig.to_str().unwrap()])
            .assert()
            .code(3);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.starts_with("error: "), "{err}");
    }
    // A kubeconfig that is not there: the cause once, not a nested chain of it.
    let out = stackctl()
        .args(["status", "--kubeconfig", "/nonexistent/kubeconfig"])
        .assert()
        .code(3);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(
        err.trim(),
        "error: cannot read kubeconfig /nonexistent/kubeconfig: No such file or directory (os error 2)"
    );
    // No cluster configured at all: said once, with what to do instead.
    let home = tempfile::tempdir().unwrap();
    let out = stackctl()
        .args(["status"])
        .env("HOME", home.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .assert()
        .code(3);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: no cluster configured"), "{err}");
    assert!(
        err.contains("--kubeconfig") && err.contains("stackctl template"),
        "{err}"
    );
}

/// `stackctl template | head` ends as any Unix filter does when its reader goes away:
/// by SIGPIPE, quietly, not with a panic and a backtrace.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("stackctl"))
        .args(["template", "--profile", "production"])
        .env_remove("KUBECONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the output (far over a pipe's buffer) is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.signal(), Some(13), "{:?} {err}", out.status);
}

#[test]
fn lint_checks_the_backup_schedule_as_the_api_server_would() {
    let out = stackctl()
        .args(["lint", "--profile", "minimal"])
        .args([
            "--set",
            "backup.schedule=61 * * * *",
            "--set",
            "backup.storage.size=5GB",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("backup.schedule"), "{err}");
    assert!(err.contains("minute 61 is outside 0-59"), "{err}");
    // `storage` is `persistence` by its other name, checked as a quantity.
    assert!(err.contains("backup.persistence.size"), "{err}");
    let out = stackctl()
        .args(["lint", "--profile", "minimal", "--set", "backup.keep=0"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("backup.keep: must be from 1 to 1000, got 0"),
        "{err}"
    );
    stackctl()
        .args([
            "lint",
            "--profile",
            "minimal",
            "--set",
            "backup.schedule=@daily",
        ])
        .assert()
        .success();
}
