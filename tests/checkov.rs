//! What a common static checker for Kubernetes manifests makes of every built-in
//! profile: checkov (its PyPI package, the version `.ci/run` pins), Kubernetes
//! framework, every check it has (no `--skip-check`; stackctl writes no skip
//! annotations), on the objects `stackctl template` prints. The figure is failed
//! checks ÷ workload objects per profile. The goal is at most [`GOAL`] in every
//! profile, and every profile meets it (README "Security" lists each finding that
//! remains and why); each is held to its figure today ([`BOUNDS`]), which may only
//! go down: lower a bound when a change lowers the figure.
//!
//! Needs `checkov`: `STACKCTL_CHECKOV` names the program (`.ci/run` sets it to the
//! one it installs), else the one on the PATH. Without it, the test fails under CI
//! (`CI=true`) and is skipped with a printed reason elsewhere.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// Failed checks per workload object the project aims for in every profile.
const GOAL: f64 = 4.0;

/// Each profile's figure as measured with checkov 3.3.30: a ratchet below the goal.
const BOUNDS: [(&str, f64); 7] = [
    ("minimal", 3.5),
    ("default", 3.43),
    ("production", 3.38),
    ("external-services", 3.0),
    ("aiops-minimal", 3.5),
    ("aiops", 3.67),
    ("aiops-production", 3.5),
];

/// Kinds that run pods: what the figure divides by.
const WORKLOAD_KINDS: [&str; 6] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Pod",
];

fn checkov() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("STACKCTL_CHECKOV") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("checkov"))
        .find(|p| p.is_file())
        .or_else(|| {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            let msg = "missing checkov: run .ci/run, or `pip install checkov` (the version .ci/run pins) and put it on the PATH or in STACKCTL_CHECKOV";
            assert!(!ci, "{msg}");
            eprintln!("skipped: {msg}");
            None
        })
}

/// The profile's objects, as `stackctl template` prints them, one file per object.
fn write_profile(profile: &str, dir: &std::path::Path) -> usize {
    let manifests = common::render(profile, "checkov", &[]);
    let mut workloads = 0;
    for (i, m) in manifests.iter().enumerate() {
        if WORKLOAD_KINDS.contains(&m.kind.as_str()) {
            workloads += 1;
        }
        // YAML as `template` prints it: checkov's Kubernetes runner skips a
        // `.yaml` file that holds JSON, and would then find nothing to fail.
        let text = stackctl::model::to_yaml(&m.body).unwrap();
        std::fs::write(dir.join(format!("{i:03}-{}.yaml", m.kind)), text).unwrap();
    }
    workloads
}

/// Failed checks per object (`Kind.namespace.name`), from checkov's JSON report.
fn failed_checks(report: &Value) -> BTreeMap<String, Vec<String>> {
    // One framework: an object; several: a list of them.
    let reports: Vec<&Value> = match report {
        Value::Array(list) => list.iter().collect(),
        other => vec![other],
    };
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in reports {
        for f in r["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            out.entry(f["resource"].as_str().unwrap_or("?").to_string())
                .or_default()
                .push(format!(
                    "{} {}",
                    f["check_id"].as_str().unwrap_or("?"),
                    f["check_name"].as_str().unwrap_or("?")
                ));
        }
    }
    out
}

#[test]
fn every_profile_stays_within_the_checkers_bound() {
    // The ratchet never climbs back above the goal every profile has reached.
    for (profile, bound) in BOUNDS {
        assert!(
            bound <= GOAL,
            "{profile}: bound {bound} above the goal {GOAL}"
        );
    }
    let Some(checkov) = checkov() else { return };
    let mut summary = Vec::new();
    let mut over = Vec::new();
    for profile in common::PROFILES {
        // Not tempdir()'s `.tmp…`: checkov skips directories whose name starts with a dot.
        let dir = tempfile::Builder::new()
            .prefix(&format!("checkov-{profile}-"))
            .tempdir()
            .unwrap();
        let workloads = write_profile(profile, dir.path());
        assert!(workloads > 0, "{profile}: no workloads");
        let out = Command::new(&checkov)
            .args(["--framework", "kubernetes", "-o", "json", "--quiet", "-d"])
            .arg(dir.path())
            // No update checks or telemetry calls out of a test run.
            .env("BC_SKIP_MAPPING", "TRUE")
            .env("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false")
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", checkov.display()));
        // checkov exits 1 when a check fails; anything else is its own failure.
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{profile}: checkov {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{profile}: checkov's report is no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        let failed = failed_checks(&report);
        let total: usize = failed.values().map(Vec::len).sum();
        // Every profile's objects were read: checkov passed some checks on them.
        let passed = |r: &Value| r["summary"]["passed"].as_u64().unwrap_or(0);
        let read: u64 = match &report {
            Value::Array(list) => list.iter().map(passed).sum(),
            other => passed(other),
        };
        assert!(read > 0, "{profile}: checkov checked nothing: {report}");
        #[allow(clippy::cast_precision_loss)] // a few hundred at most
        let ratio = total as f64 / workloads as f64;
        summary.push(format!(
            "{profile}: {total} failed checks / {workloads} workloads = {ratio:.2}"
        ));
        let bound = BOUNDS
            .iter()
            .find(|(p, _)| *p == profile)
            .map_or(GOAL, |(_, b)| *b);
        if ratio > bound {
            over.push(format!("{profile} ({ratio:.2} > {bound}): {failed:#?}"));
        }
    }
    eprintln!("{}", summary.join("\n"));
    assert!(
        over.is_empty(),
        "more failed checks per workload than the bound (goal: {GOAL}):\n{}\n{}",
        summary.join("\n"),
        over.join("\n")
    );
}
