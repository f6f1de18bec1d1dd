//! Connectivity probes on the real control plane, through the binary: `stackctl test`
//! after an install, each probe made to fail by a simnode `exit-code` fault on its
//! Job's pods, `--filter`, re-runs, and preflight probes of an external dependency
//! stopping an install before it writes anything.
//!
//! The simulated node runs no containers: a probe pod "succeeds" unless a fault says
//! otherwise, so these tests prove the Jobs, their names, the watching, the reporting
//! and the cleanup — `tests/probe_commands.rs` proves the scripts themselves.

mod common;

use std::process::Output;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

struct Env {
    client: Client,
    ns: String,
    kubeconfig: std::path::PathBuf,
}

impl Env {
    async fn new(prefix: &str) -> Env {
        let client = common::cluster().await;
        let ns = common::namespace(&client, prefix).await;
        Env {
            client,
            ns,
            kubeconfig: common::kubeconfig().await,
        }
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_stackctl"));
        cmd.args(args)
            .args(["-n", &self.ns])
            .env("KUBECONFIG", &self.kubeconfig)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
            .await
            .expect("stackctl finished within 5 minutes")
            .expect("stackctl runs");
        eprintln!(
            "$ stackctl {} -n {}\n--- stdout\n{}--- stderr\n{}--- exit {:?}",
            args.join(" "),
            self.ns,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            out.status.code()
        );
        out
    }

    async fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args).await;
        assert!(out.status.success(), "stackctl {args:?} failed");
        out
    }

    /// Replaces the simnode fault rules of the namespace.
    async fn faults(&self, rules: &[(&str, String)]) {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.ns);
        let _ = api.delete("simnode-faults", &DeleteParams::default()).await;
        if rules.is_empty() {
            return;
        }
        let data: serde_json::Map<String, Value> = rules
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect();
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": "simnode-faults"}, "data": data}))
                .unwrap();
        api.create(&PostParams::default(), &cm).await.unwrap();
    }

    async fn count<K>(&self, selector: &str) -> usize
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.ns);
        api.list(&ListParams::default().labels(selector))
            .await
            .unwrap()
            .items
            .len()
    }

    async fn probe_jobs_left(&self) -> usize {
        self.count::<Job>("stackctl.dev/probe").await
    }

    async fn done(self) {
        common::drop_namespace(&self.client, &self.ns).await;
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `(component, result)` of each row of the probe table on stdout.
fn rows(out: &Output) -> Vec<(String, String)> {
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let header = lines
        .by_ref()
        .find(|l| l.starts_with("COMPONENT"))
        .unwrap_or_else(|| panic!("no table in:\n{stdout}"));
    let result_at = header.find("RESULT").unwrap();
    let duration_at = header.find("DURATION").unwrap();
    lines
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let component = l.split_whitespace().next().unwrap().to_string();
            let result = l
                .get(result_at..duration_at)
                .unwrap_or("")
                .trim()
                .to_string();
            (component, result)
        })
        .collect()
}

/// The minimal profile's probes on the 3-node test cluster: one Fluent Bit probe per node.
const MINIMAL: [&str; 7] = [
    "mysql",
    "clickhouse",
    "kafka",
    "clickvisual",
    "fluentbit",
    "fluentbit",
    "fluentbit",
];

#[tokio::test]
async fn every_probe_passes_on_a_healthy_install_and_runs_again() {
    let env = Env::new("probe-ok").await;
    env.ok(&["install", "cv", "--profile", "minimal"]).await;

    let out = env.ok(&["test", "cv"]).await;
    let got = rows(&out);
    let components: Vec<&str> = got.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(components, MINIMAL);
    assert!(got.iter().all(|(_, r)| r == "passed"), "{got:?}");
    assert_eq!(env.probe_jobs_left().await, 0, "probe Jobs left behind");

    // Recorded in the release, shown by status.
    let status = env.run(&["status", "cv", "-o", "json"]).await;
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["probes"]["passed"], true);
    assert_eq!(status["probes"]["results"].as_array().unwrap().len(), 7);
    assert!(status["probes"]["results"][0].get("log").is_none());
    let status = env.run(&["status", "cv"]).await;
    assert!(
        text(&status.stdout).contains("PROBES (last run"),
        "{}",
        text(&status.stdout)
    );

    // A Job a killed run left behind is replaced, not a conflict.
    let leftover: Job = serde_json::from_value(json!({
        "metadata": {"name": "cv-test-mysql", "labels": {
            "stackctl.dev/release": "cv", "stackctl.dev/probe": "mysql"}},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "probe", "image": "busybox", "command": ["false"]}]}}}
    }))
    .unwrap();
    Api::<Job>::namespaced(env.client.clone(), &env.ns)
        .create(&PostParams::default(), &leftover)
        .await
        .unwrap();
    let out = env
        .ok(&["test", "cv", "--filter", "mysql", "-o", "json"])
        .await;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{report}");
    assert_eq!(results[0]["component"], "mysql");
    assert_eq!(results[0]["job"], "cv-test-mysql");
    assert_eq!(report["filter"], "mysql");

    // Globs, and a filter matching nothing.
    let out = env.ok(&["test", "cv", "--filter", "click*"]).await;
    let components: Vec<String> = rows(&out).into_iter().map(|(c, _)| c).collect();
    assert_eq!(components, ["clickhouse", "clickvisual"]);
    let none = env.run(&["test", "cv", "--filter", "redis"]).await;
    assert_eq!(none.status.code(), Some(2));
    assert!(text(&none.stderr).contains("no probe matches"));

    // And the whole set once more.
    env.ok(&["test", "cv", "--timeout", "60s"]).await;
    assert_eq!(env.probe_jobs_left().await, 0);
    env.done().await;
}

#[tokio::test]
async fn each_failing_probe_is_named_and_fails_with_exit_code_5() {
    let env = Env::new("probe-fail").await;
    env.ok(&["install", "cv", "--profile", "minimal"]).await;

    for component in ["mysql", "clickhouse", "kafka", "clickvisual", "fluentbit"] {
        env.faults(&[(
            "probe",
            format!("{{pods: 'cv-test-{component}-*', fault: exit-code, exitCode: 3}}"),
        )])
        .await;
        let out = env.run(&["test", "cv"]).await;
        assert_eq!(out.status.code(), Some(5), "{component}");
        for (c, result) in rows(&out) {
            if c == component {
                assert_eq!(result, "failed: exit code 3", "{component}");
            } else {
                assert_eq!(result, "passed", "{c} while failing {component}");
            }
        }
        let stdout = text(&out.stdout);
        // The simulated node serves no logs; that is said, not hidden.
        assert!(
            stdout.contains(&format!("--- cv-test-{component}"))
                && stdout.contains("no log available: "),
            "{stdout}"
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("failed: {component} (")),
            "{stderr}"
        );
        assert_eq!(env.probe_jobs_left().await, 0);
    }

    // One node's Fluent Bit failing is that node's row only.
    env.faults(&[(
        "probe",
        "{pods: 'cv-test-fluentbit-1-*', fault: exit-code, exitCode: 7}".into(),
    )])
    .await;
    let out = env.run(&["test", "cv", "--filter", "fluentbit"]).await;
    assert_eq!(out.status.code(), Some(5));
    let results: Vec<String> = rows(&out).into_iter().map(|(_, r)| r).collect();
    assert_eq!(results, ["passed", "failed: exit code 7", "passed"]);

    // The failure is what status shows until the next run.
    let status = env.run(&["status", "cv", "-o", "json"]).await;
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["probes"]["passed"], false);
    assert_eq!(status["probes"]["filter"], "fluentbit");
    env.faults(&[]).await;
    env.ok(&["test", "cv"]).await;
    env.done().await;
}

#[tokio::test]
async fn a_failing_external_preflight_probe_stops_the_install_before_any_write() {
    let env = Env::new("probe-pre").await;
    env.faults(&[(
        "probe",
        "{pods: 'cv-test-mysql-*', fault: exit-code, exitCode: 1}".into(),
    )])
    .await;
    let out = env
        .run(&[
            "install",
            "cv",
            "--profile",
            "minimal",
            "--set",
            "mysql.enabled=false,mysql.external.host=db.example.com,mysql.external.password=Wrong1",
        ])
        .await;
    assert_eq!(out.status.code(), Some(5));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("nothing was deployed"), "{stderr}");
    assert!(stderr.contains("db.example.com:3306"), "{stderr}");
    assert!(stderr.contains("mysql.external.*"), "{stderr}");
    assert!(!stderr.contains("Wrong1"), "the password was printed");

    assert_eq!(env.count::<StatefulSet>("").await, 0);
    assert_eq!(env.count::<Deployment>("").await, 0);
    assert_eq!(env.count::<DaemonSet>("").await, 0);
    assert_eq!(
        env.count::<Secret>("owner=stackctl").await,
        0,
        "a release record"
    );
    assert_eq!(
        env.count::<Secret>("stackctl.dev/release=cv").await,
        0,
        "the temporary preflight Secret or a credentials Secret"
    );
    assert_eq!(env.probe_jobs_left().await, 0);

    // The same install with the service answering goes through.
    env.faults(&[]).await;
    env.ok(&[
        "install",
        "cv",
        "--profile",
        "minimal",
        "--set",
        "mysql.enabled=false,mysql.external.host=db.example.com,mysql.external.password=Right1",
    ])
    .await;
    assert_eq!(env.count::<StatefulSet>("").await, 2);
    assert_eq!(env.probe_jobs_left().await, 0);
    env.done().await;
}
