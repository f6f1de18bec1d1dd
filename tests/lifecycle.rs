//! install / upgrade / rollback / status / history / uninstall on the real control
//! plane, through the binary as users run it. Each test has its own namespace and
//! passes `-n` and a release name, so tests run in parallel without seeing each other.

mod common;

use common::cli::{Env, stderr};

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;

/// Names of the release's ClickVisual schema Jobs, and whether each succeeded.
async fn schema_jobs(env: &Env) -> Vec<(String, bool)> {
    let mut jobs: Vec<(String, bool)> = Api::<Job>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|j| {
            let name = j.metadata.name?;
            let done = j.status.and_then(|s| s.succeeded) == Some(1);
            name.contains("-clickvisual-schema-")
                .then_some((name, done))
        })
        .collect();
    jobs.sort();
    jobs
}

/// What these tests read back from the cluster beyond the shared helpers.
async fn image(env: &Env, deployment: &str) -> String {
    let d = Api::<Deployment>::namespaced(env.client.clone(), &env.ns)
        .get(deployment)
        .await
        .unwrap();
    d.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone()
        .unwrap()
}

#[tokio::test]
async fn install_upgrade_rollback_keep_secrets_and_restore_image() {
    let env = Env::new("life").await;
    env.ok(&["install", "cv", "--profile", "minimal"]).await;
    let root = env
        .secret_value("cv-mysql-credentials", "mysql-root-password")
        .await;
    let session = env
        .secret_value("cv-clickvisual-config", "default.toml")
        .await;
    assert_eq!(
        image(&env, "cv-clickvisual").await,
        "clickvisual/clickvisual:1.0.7"
    );
    // The schema is made once per revision, by a Job the app waited for.
    assert_eq!(
        schema_jobs(&env).await,
        [("cv-clickvisual-schema-1".to_string(), true)]
    );

    let up = env
        .ok(&["upgrade", "cv", "--set", "clickvisual.image.tag=v1.2.0"])
        .await;
    assert!(
        stderr(&up)
            .contains("warning: clickvisual.image.tag \"v1.2.0\" is not a ClickVisual version"),
        "{}",
        stderr(&up)
    );
    assert_eq!(
        image(&env, "cv-clickvisual").await,
        "clickvisual/clickvisual:v1.2.0"
    );
    // The new revision's Job ran; the last one's was pruned with its revision. The tag
    // is unknown, so it got the newest schema, additive statements only.
    assert_eq!(
        schema_jobs(&env).await,
        [("cv-clickvisual-schema-2".to_string(), true)]
    );
    let schema = Api::<ConfigMap>::namespaced(env.client.clone(), &env.ns)
        .get("cv-clickvisual-schema")
        .await
        .unwrap();
    let script = &schema.data.unwrap()["schema.sql"];
    assert!(
        script.starts_with(
            "-- ClickVisual 1.0.7 schema, applied by stackctl (additive statements only)."
        ),
        "{}",
        &script[..200]
    );
    assert_eq!(
        env.secret_value("cv-mysql-credentials", "mysql-root-password")
            .await,
        root,
        "upgrade regenerated a password"
    );
    assert_eq!(
        env.secret_value("cv-clickvisual-config", "default.toml")
            .await,
        session,
        "upgrade changed the app config"
    );

    let back = env.ok(&["rollback", "cv", "1"]).await;
    assert!(
        stderr(&back).contains("it does not roll back database schemas"),
        "{}",
        stderr(&back)
    );
    assert!(stderr(&back).contains("(Job cv-clickvisual-schema-1)"));
    assert_eq!(
        image(&env, "cv-clickvisual").await,
        "clickvisual/clickvisual:1.0.7"
    );
    assert_eq!(
        schema_jobs(&env).await,
        [("cv-clickvisual-schema-1".to_string(), true)]
    );
    assert_eq!(
        env.secret_value("cv-mysql-credentials", "mysql-root-password")
            .await,
        root
    );

    let statuses = env.revision_statuses("cv").await;
    assert_eq!(
        statuses,
        vec![
            (1, "superseded".into()),
            (2, "superseded".into()),
            (3, "deployed".into())
        ]
    );
    let status = env.ok(&["status", "cv", "-o", "json"]).await;
    let report: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(report["revision"], 3);
    assert_eq!(report["healthy"], true);
    assert_eq!(report["lastOperation"], "rollback");
    assert!(!env.lock_exists("cv").await, "lock left behind");
    env.done().await;
}

#[tokio::test]
async fn a_sub_path_without_an_image_built_for_it_is_refused_before_any_write() {
    let env = Env::new("subpath").await;
    let out = env
        .run(&[
            "install",
            "cv",
            "--profile",
            "minimal",
            "--set",
            "ingress.enabled=true,ingress.path=/cv",
        ])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("clickvisual.subPathBuild=true"),
        "{}",
        stderr(&out)
    );
    env.assert_nothing_written("cv").await;
    env.done().await;
}

#[tokio::test]
async fn schema_jobs_of_failed_retries_are_removed_once_one_succeeds() {
    let env = Env::new("schema").await;
    // Schema Jobs that do not finish in time: two failed installs in a row.
    env.faults(&[(
        "schema",
        "{pods: 'cv-clickvisual-schema-*', fault: slow, delaySeconds: 600}",
    )])
    .await;
    for _ in 0..2 {
        let out = env
            .run(&[
                "install",
                "cv",
                "--profile",
                "minimal",
                "--skip-tests",
                "--timeout",
                "10s",
            ])
            .await;
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains("cv-clickvisual-schema-"), "{err}");
    }
    // Each retry ran a Job of its own; the app never started without its schema.
    let jobs = schema_jobs(&env).await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert!(
        Api::<Deployment>::namespaced(env.client.clone(), &env.ns)
            .get_opt("cv-clickvisual")
            .await
            .unwrap()
            .is_none()
    );

    env.clear_faults().await;
    env.ok(&["install", "cv", "--profile", "minimal", "--skip-tests"])
        .await;
    assert_eq!(
        schema_jobs(&env).await,
        [("cv-clickvisual-schema-3".to_string(), true)]
    );
    env.done().await;
}

#[tokio::test]
async fn install_refuses_a_deployed_release_and_points_to_upgrade() {
    let env = Env::new("twice").await;
    env.ok(&["install", "cv", "--profile", "minimal"]).await;
    let out = env.run(&["install", "cv", "--profile", "minimal"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("stackctl upgrade cv"),
        "{}",
        stderr(&out)
    );
    env.done().await;
}

#[tokio::test]
async fn a_crashlooping_pod_is_diagnosed_and_the_release_marked_failed() {
    let env = Env::new("crash").await;
    env.faults(&[(
        "mysql",
        "{pods: 'cv-mysql-*', fault: crashloop, exitCode: 3}",
    )])
    .await;
    let out = env
        .run(&[
            "install",
            "cv",
            "--profile",
            "minimal",
            "--timeout",
            "3m",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("cv-mysql-0"), "pod not named: {err}");
    assert!(err.contains("CrashLoopBackOff"), "reason not named: {err}");
    // The failure reaches scripts typed: the phase, and per object its diagnosis.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "-o json printed no report ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(report["status"], "failed", "{report}");
    assert_eq!(report["failure"]["kind"], "notReady", "{report}");
    assert_eq!(report["failure"]["phase"], "data", "{report}");
    let diagnosis = &report["failure"]["wait"]["diagnoses"][0];
    assert_eq!(diagnosis["reason"], "CrashLoopBackOff", "{report}");
    assert_eq!(diagnosis["pod"], "cv-mysql-0", "{report}");
    assert!(!diagnosis["remedy"].as_str().unwrap_or_default().is_empty());
    // And `status` shows it from the record, long after the run.
    let status = env.run(&["status", "cv", "-o", "json"]).await;
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["failure"]["phase"], "data", "{status}");
    assert_eq!(
        status["failure"]["diagnoses"][0]["reason"], "CrashLoopBackOff",
        "{status}"
    );
    let history = env.history("cv").await;
    assert_eq!(history.last().unwrap()["status"], "failed");
    assert!(
        !env.lock_exists("cv").await,
        "lock not released after failure"
    );

    // A retry that does not restart the pod fails on it only once it crashed again
    // during the retry: the crashes from before may be what the retry fixes. (The
    // simulated pod keeps the fault it started with, so it does crash again.)
    let pods = Api::<Pod>::namespaced(env.client.clone(), &env.ns);
    let before = mysql_restarts(&pods).await;
    let out = env
        .run(&[
            "install",
            "cv",
            "--profile",
            "minimal",
            "--restart-failed=false",
            "--no-progress",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let diagnosis = &report["failure"]["wait"]["diagnoses"][0];
    assert_eq!(diagnosis["reason"], "CrashLoopBackOff", "{report}");
    let detail = diagnosis["detail"].as_str().unwrap_or_default();
    let restarts: u64 = detail
        .split("restarted ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no restart count in {detail:?}"));
    assert!(detail.contains("since this operation began"), "{detail}");
    assert!(
        restarts > u64::from(before),
        "failed on the crashes from before the retry ({before} restarts then, {restarts} at the failure): {report}"
    );
    assert!(
        stderr(&out).contains("crashed before this operation began"),
        "the wait did not say it is waiting out the back-off: {}",
        stderr(&out)
    );
    assert!(report["restarted"].is_null() || report["restarted"] == serde_json::json!([]));

    // Fixing the cause and re-running install retries as a new revision, restarting
    // the stuck pod first (the default for a retried install), its last words kept.
    env.clear_faults().await;
    let out = env.ok(&["install", "cv", "--profile", "minimal"]).await;
    assert!(
        stderr(&out).contains("restarted pod cv-mysql-0"),
        "{}",
        stderr(&out)
    );
    let history = env.history("cv").await;
    assert_eq!(history.len(), 3);
    assert_eq!(history[2]["status"], "deployed");
    let status = status_json(&env).await;
    let restarted = &status["restarted"][0];
    assert_eq!(restarted["pod"], "cv-mysql-0", "{status}");
    assert_eq!(restarted["component"], "mysql", "{status}");
    assert_eq!(restarted["reason"], "CrashLoopBackOff", "{status}");
    assert_eq!(
        restarted["lastState"]["terminated"]["exitCode"], 3,
        "{status}"
    );
    // The simulated node serves no logs: the API server's reason is kept instead.
    let log = restarted["log"][0].as_str().unwrap_or_default();
    assert!(log.starts_with("no log available"), "{status}");
    env.done().await;
}

async fn mysql_restarts(pods: &Api<Pod>) -> u32 {
    let pod = pods.get("cv-mysql-0").await.unwrap();
    pod.status
        .and_then(|s| s.container_statuses)
        .and_then(|c| c.into_iter().find(|c| c.name == "mysql"))
        .map_or(0, |c| u32::try_from(c.restart_count).unwrap_or(0))
}

#[tokio::test]
async fn image_pull_failures_name_the_image() {
    let env = Env::new("pull").await;
    env.faults(&[(
        "app",
        "{pods: 'cv-clickvisual-*', containers: clickvisual, fault: image-pull}",
    )])
    .await;
    let out = env
        .run(&["install", "cv", "--profile", "minimal", "--timeout", "3m"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("ImagePullBackOff") || err.contains("ErrImagePull"),
        "{err}"
    );
    assert!(
        err.contains("clickvisual/clickvisual:1.0.7"),
        "image not named: {err}"
    );
    assert!(err.contains("phase apps"), "{err}");
    env.done().await;
}

/// Components of one wave are reported each with its own outcome: Kafka failing to
/// pull its image must not paint MySQL and ClickHouse, ready next to it, failed.
#[tokio::test]
async fn a_failed_wave_reports_each_component_with_its_own_outcome() {
    let env = Env::new("honest").await;
    env.faults(&[("kafka", "{pods: 'cv-kafka-*', fault: image-pull}")])
        .await;
    let out = env
        .run(&[
            "install",
            "cv",
            "--profile",
            "minimal",
            "--timeout",
            "3m",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    // Kafka shares its data wave with MySQL and ClickHouse.
    let applying = |c: &str| format!("data: applying {c} (");
    let (mysql, kafka, clickhouse) = (
        err.find(&applying("mysql")),
        err.find(&applying("kafka")),
        err.find(&applying("clickhouse")),
    );
    assert!(
        mysql.is_some() && kafka.is_some() && clickhouse.is_some(),
        "{err}"
    );
    let kafka_failed = err
        .find("data: kafka FAILED")
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        mysql < Some(kafka_failed) && clickhouse < Some(kafka_failed),
        "not one wave: {err}"
    );
    for line in [
        "data: mysql ready",
        "data: clickhouse ready",
        "apps: clickvisual not started",
        "apps: fluentbit not started",
    ] {
        assert!(err.contains(line), "no {line:?}: {err}");
    }
    for wrong in ["data: mysql FAILED", "data: clickhouse FAILED"] {
        assert!(!err.contains(wrong), "{wrong:?}: {err}");
    }
    // The summary under the diagnosis says the same.
    assert!(
        err.contains("ImagePullBackOff") || err.contains("ErrImagePull"),
        "{err}"
    );
    let summary = err
        .lines()
        .find(|l| l.trim_start().starts_with("data: ready "))
        .unwrap_or_else(|| panic!("no summary line for phase data: {err}"));
    assert!(summary.contains("failed kafka"), "{summary}");
    let ready = summary
        .trim_start()
        .strip_prefix("data: ready ")
        .and_then(|s| s.split(';').next())
        .unwrap_or_default();
    assert!(
        ready.contains("mysql") && ready.contains("clickhouse") && !ready.contains("kafka"),
        "{summary}"
    );
    assert!(
        err.contains("  apps: not started clickvisual, fluentbit")
            || err.contains("  apps: not started fluentbit, clickvisual"),
        "{err}"
    );

    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "-o json printed no report ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let outcome = |component: &str, phase: &str| {
        report["components"]
            .as_array()
            .unwrap_or_else(|| panic!("no components: {report}"))
            .iter()
            .find(|c| c["component"] == component && c["phase"] == phase)
            .map_or_else(
                || panic!("no {component} in {phase}: {report}"),
                |c| c["outcome"].as_str().unwrap_or_default().to_string(),
            )
    };
    assert_eq!(outcome("mysql", "data"), "ready");
    assert_eq!(outcome("clickhouse", "data"), "ready");
    assert_eq!(outcome("kafka", "data"), "failed");
    assert_eq!(outcome("clickvisual", "apps"), "notStarted");
    assert_eq!(outcome("fluentbit", "apps"), "notStarted");
    assert_eq!(report["failure"]["phase"], "data", "{report}");
    let diagnosed: Vec<&str> = report["failure"]["wait"]["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["component"].as_str())
        .collect();
    assert_eq!(diagnosed, ["kafka"], "{report}");

    // The record keeps them, for `status`.
    let status = status_json(&env).await;
    let recorded: Vec<(String, String)> = status["failure"]["components"]
        .as_array()
        .unwrap_or_else(|| panic!("no components in status: {status}"))
        .iter()
        .map(|c| {
            (
                c["component"].as_str().unwrap().to_string(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        recorded.contains(&("mysql".into(), "ready".into()))
            && recorded.contains(&("kafka".into(), "failed".into()))
            && recorded.contains(&("clickvisual".into(), "notStarted".into())),
        "{status}"
    );
    env.done().await;
}

#[tokio::test]
async fn atomic_upgrade_restores_the_previous_revision() {
    let env = Env::new("atomic").await;
    env.ok(&["install", "cv", "--profile", "minimal"]).await;
    // No node has 64 CPUs: the new revision's pod stays Unschedulable, which only the
    // new revision has, so the rollback's pods are unaffected.
    let out = env
        .run(&[
            "upgrade", "cv", "--atomic", "--timeout", "3m",
            "--set", "clickvisual.image.tag=broken,clickvisual.resources.requests.cpu=64,clickvisual.resources.limits.cpu=64",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("Insufficient cpu"),
        "scheduler message missing: {err}"
    );
    assert!(err.contains("rolled back to revision 1"), "{err}");
    assert_eq!(
        image(&env, "cv-clickvisual").await,
        "clickvisual/clickvisual:1.0.7"
    );
    let statuses = env.statuses("cv").await;
    assert_eq!(statuses, ["superseded", "failed", "deployed"]);
    env.done().await;
}

#[tokio::test]
async fn concurrent_upgrades_exactly_one_proceeds() {
    let env = Env::new("race").await;
    env.ok(&["install", "cv", "--profile", "minimal"]).await;
    let a = env
        .command(&["upgrade", "cv", "--set", "clickvisual.image.tag=a"])
        .output();
    let b = env
        .command(&["upgrade", "cv", "--set", "clickvisual.image.tag=b"])
        .output();
    let (a, b) = tokio::join!(a, b);
    let codes = [a.unwrap().status.code(), b.unwrap().status.code()];
    assert!(codes.contains(&Some(0)), "{codes:?}");
    assert!(
        codes.contains(&Some(4)),
        "the loser must be refused as locked: {codes:?}"
    );
    env.done().await;
}

#[tokio::test]
async fn disabling_mysql_prunes_its_statefulset_and_keeps_its_volume() {
    let env = Env::new("prune").await;
    env.ok(&["install", "cv", "--profile", "minimal"]).await;
    let claims = Api::<PersistentVolumeClaim>::namespaced(env.client.clone(), &env.ns);
    assert!(claims.get_opt("data-cv-mysql-0").await.unwrap().is_some());
    env.ok(&[
        "upgrade",
        "cv",
        "--set",
        "mysql.enabled=false,mysql.external.host=db.example.com,mysql.external.password=pw",
    ])
    .await;
    let sts = Api::<StatefulSet>::namespaced(env.client.clone(), &env.ns);
    assert!(
        sts.get_opt("cv-mysql").await.unwrap().is_none(),
        "StatefulSet not pruned"
    );
    assert!(
        claims.get_opt("data-cv-mysql-0").await.unwrap().is_some(),
        "PVC was deleted"
    );
    let config = env
        .secret_value("cv-clickvisual-config", "default.toml")
        .await;
    assert!(config.contains("@tcp(db.example.com:3306)"), "{config}");
    env.done().await;
}

#[tokio::test]
async fn uninstall_keeps_volumes_and_removes_records() {
    let env = Env::new("uninst").await;
    env.ok(&["install", "cv", "--profile", "minimal"]).await;
    let out = env.ok(&["uninstall", "cv"]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("data-cv-mysql-0"),
        "kept PVCs not listed"
    );
    let claims = Api::<PersistentVolumeClaim>::namespaced(env.client.clone(), &env.ns);
    assert!(claims.get_opt("data-cv-mysql-0").await.unwrap().is_some());
    let sts = Api::<StatefulSet>::namespaced(env.client.clone(), &env.ns);
    assert!(
        sts.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let records = Api::<Secret>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default().labels("owner=stackctl"))
        .await
        .unwrap();
    assert!(records.items.is_empty(), "release records left");
    // Purging volumes is destructive: without a terminal it needs --yes.
    env.ok(&["install", "cv", "--profile", "minimal"]).await;
    let out = env.run(&["uninstall", "cv", "--purge-volumes"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--yes"));
    env.ok(&["uninstall", "cv", "--purge-volumes", "--yes"])
        .await;
    let left = claims.list(&ListParams::default()).await.unwrap().items;
    assert!(
        left.iter().all(|c| c.metadata.deletion_timestamp.is_some()),
        "PVCs not purged"
    );
    env.done().await;
}

#[tokio::test]
async fn history_is_trimmed_but_keeps_the_deployed_revision() {
    let env = Env::new("trim").await;
    env.ok(&["install", "cv", "--profile", "minimal"]).await;
    for tag in ["a", "b", "c"] {
        env.ok(&[
            "upgrade",
            "cv",
            "--history-max",
            "2",
            "--set",
            &format!("clickvisual.image.tag={tag}"),
        ])
        .await;
    }
    let revisions: Vec<u64> = env
        .history("cv")
        .await
        .iter()
        .map(|r| r["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(revisions, [3, 4]);
    env.done().await;
}

#[tokio::test]
async fn immutable_changes_are_refused_before_writing_or_recreated() {
    let env = Env::new("immut").await;
    env.ok(&["install", "cv", "--profile", "minimal"]).await;
    let out = env
        .run(&["upgrade", "cv", "--set", "mysql.persistence.size=4Gi"])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("StatefulSet/cv-mysql: spec.volumeClaimTemplates"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.history("cv").await.len(),
        1,
        "a refused upgrade must not record a revision"
    );
    // `diff` shows the same change, marked as needing re-creation in upgrade's words,
    // instead of failing on the API server's refusal.
    let diff = env
        .ok(&["diff", "cv", "--set", "mysql.persistence.size=4Gi"])
        .await;
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        text.contains("# StatefulSet/cv-mysql: spec.volumeClaimTemplates cannot change in place"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with('+') && l.contains("4Gi")),
        "{text}"
    );
    assert!(
        stderr(&diff).contains("re-run with --recreate"),
        "{}",
        stderr(&diff)
    );
    env.ok(&[
        "upgrade",
        "cv",
        "--set",
        "mysql.persistence.size=4Gi",
        "--recreate",
    ])
    .await;
    let sts = Api::<StatefulSet>::namespaced(env.client.clone(), &env.ns)
        .get("cv-mysql")
        .await
        .unwrap();
    let size = &sts.spec.unwrap().volume_claim_templates.unwrap()[0]
        .spec
        .clone()
        .unwrap()
        .resources
        .unwrap()
        .requests
        .unwrap()["storage"];
    assert_eq!(size.0, "4Gi");
    env.done().await;
}

#[tokio::test]
async fn restricted_user_gets_a_permission_report_before_any_write() {
    let client = common::cluster().await;
    let Some(restricted) = common::restricted_kubeconfig().await else {
        eprintln!("no restricted kubeconfig for this cluster; skipping");
        return;
    };
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .args([
            "install",
            "cv",
            "--profile",
            "minimal",
            "-n",
            "stackctl-restricted",
        ])
        .env("KUBECONFIG", &restricted)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("clusterroles.rbac.authorization.k8s.io (cluster-wide)"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    // Who needs them, and the ways out: an admin's RBAC, or no Fluent Bit.
    assert!(
        err.contains("component fluentbit needs the cluster-wide"),
        "{err}"
    );
    assert!(
        err.contains(
            "--set fluentbit.rbac.create=false --set fluentbit.serviceAccount.name=cv-fluentbit"
        ),
        "{err}"
    );
    assert!(err.contains("--set fluentbit.enabled=false"), "{err}");
    assert!(err.contains("\nkind: ClusterRole\n"), "{err}");
    assert!(err.contains("\nkind: ClusterRoleBinding\n"), "{err}");
    let written = Api::<Secret>::namespaced(client, "stackctl-restricted")
        .list(&ListParams::default().labels(
            // This release's only: another test installs its own in this namespace.
            "app.kubernetes.io/managed-by=stackctl,app.kubernetes.io/instance=cv",
        ))
        .await
        .unwrap();
    assert!(
        written.items.is_empty(),
        "objects were written despite the failed preflight"
    );
}

/// `stackctl install` as the restricted user, in the only namespace it may write.
async fn install_as_restricted(
    restricted: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .args([
            "install",
            "--profile",
            "minimal",
            "-n",
            "stackctl-restricted",
        ])
        .args(args)
        .env("KUBECONFIG", restricted)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn restricted_user_installs_with_the_rbac_an_admin_applied() {
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    use kube::api::{DeleteParams, PostParams};

    let admin = common::cluster().await;
    let Some(restricted) = common::restricted_kubeconfig().await else {
        eprintln!("no restricted kubeconfig for this cluster; skipping");
        return;
    };
    // Its own release and account names: other tests use this namespace too.
    let (release, account) = ("rbacadmin", "rbacadmin-logs");
    let name_flag = format!("fluentbit.serviceAccount.name={account}");
    let refused = install_as_restricted(&restricted, &[release, "--set", &name_flag]).await;
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(3), "{err}");
    let intro = "fluentbit's ServiceAccount, ClusterRole and ClusterRoleBinding, for an admin to apply (kubectl apply -f -):\n";
    let yaml = &err[err.find(intro).unwrap_or_else(|| panic!("{err}")) + intro.len()..];

    // The admin applies exactly what was printed.
    let docs: Vec<Value> = yaml
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 3, "{yaml}");
    let pp = PostParams::default();
    let mut role_name = String::new();
    for doc in docs {
        match doc["kind"].as_str().unwrap() {
            "ServiceAccount" => {
                let sa: ServiceAccount = serde_json::from_value(doc).unwrap();
                assert_eq!(sa.metadata.name.as_deref(), Some(account));
                Api::<ServiceAccount>::namespaced(admin.clone(), "stackctl-restricted")
                    .create(&pp, &sa)
                    .await
                    .unwrap();
            }
            "ClusterRole" => {
                let role: ClusterRole = serde_json::from_value(doc).unwrap();
                role_name = role.metadata.name.clone().unwrap();
                Api::<ClusterRole>::all(admin.clone())
                    .create(&pp, &role)
                    .await
                    .unwrap();
            }
            "ClusterRoleBinding" => {
                let binding: ClusterRoleBinding = serde_json::from_value(doc).unwrap();
                Api::<ClusterRoleBinding>::all(admin.clone())
                    .create(&pp, &binding)
                    .await
                    .unwrap();
            }
            other => panic!("unexpected {other} in {yaml}"),
        }
    }

    // With them, preflight passes, and the install completes: the API server
    // refuses pods whose ServiceAccount does not exist, so Fluent Bit's becoming
    // ready shows its pods run as the admin's account.
    let without_rbac = format!("fluentbit.rbac.create=false,{name_flag}");
    let out = install_as_restricted(
        &restricted,
        &[
            release,
            "--no-progress",
            "--skip-tests",
            "--set",
            &without_rbac,
        ],
    )
    .await;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    let ds = Api::<k8s_openapi::api::apps::v1::DaemonSet>::namespaced(
        admin.clone(),
        "stackctl-restricted",
    )
    .get_opt(&format!("{release}-fluentbit"))
    .await
    .unwrap();
    let uninstalled = tokio::process::Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .args(["uninstall", release, "-n", "stackctl-restricted"])
        .args(["--yes", "--purge-volumes", "--no-progress"])
        .env("KUBECONFIG", &restricted)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let dp = DeleteParams::default();
    let _ = Api::<ClusterRoleBinding>::all(admin.clone())
        .delete(&role_name, &dp)
        .await;
    let _ = Api::<ClusterRole>::all(admin.clone())
        .delete(&role_name, &dp)
        .await;
    let _ = Api::<ServiceAccount>::namespaced(admin.clone(), "stackctl-restricted")
        .delete(account, &dp)
        .await;
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("preflight passed"), "{text}");
    assert!(!text.contains("cluster-wide"), "{text}");
    let spec = ds.unwrap().spec.unwrap().template.spec.unwrap();
    assert_eq!(spec.service_account_name.as_deref(), Some(account));
    assert!(uninstalled.status.success(), "{}", stderr(&uninstalled));
}

const HOLDER_PROCESS: &str = "stackctl.io/holder-process";

/// Starts an install, SIGKILLs it mid-operation (no chance to clean up) and returns
/// once the process is gone and reaped, leaving its lock and a pending revision.
async fn kill_an_install(env: &Env) {
    // Keep the install busy in its data phase so the kill lands mid-operation.
    let mut child = env.install_holding_the_lock(60).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

/// `status -o json`, whatever its exit code (a pending release is unhealthy).
async fn status_json(env: &Env) -> Value {
    let out = env.run(&["status", "cv", "-o", "json"]).await;
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The killed install ran on this machine, in this PID namespace: its process is
/// visibly gone, so the retry takes the lock over at once instead of waiting for it
/// to expire.
#[tokio::test]
async fn a_killed_install_is_recovered_at_once_on_the_same_machine() {
    let env = Env::new("killed-here").await;
    kill_an_install(&env).await;
    let lease = env.lock_lease("cv").await;
    let process = &lease.metadata.annotations.unwrap()[HOLDER_PROCESS];
    assert!(process.starts_with("boot="), "{process}");

    let report = status_json(&env).await;
    assert!(
        report["lockedBy"].as_str().unwrap().ends_with("/install"),
        "{report}"
    );
    assert_eq!(report["lockHolderDead"], true, "{report}");
    let out = env.run(&["status", "cv"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/install (process gone"), "{text}");

    env.clear_faults().await;
    let out = env.ok(&["install", "cv", "--profile", "minimal"]).await;
    assert!(stderr(&out).contains("marked failed"), "{}", stderr(&out));
    assert_eq!(env.statuses("cv").await, ["failed", "deployed"]);
    env.done().await;
}

/// A holder this machine cannot see (a Lease of the previous stackctl, without the
/// annotation; a process of another boot or host) may be alive: its lock refuses
/// until it expires, and is then taken over.
#[tokio::test]
async fn a_killed_install_is_recovered_after_its_lock_expires() {
    let env = Env::new("killed").await;
    kill_an_install(&env).await;
    let lease = env.lock_lease("cv").await;
    let process = lease.metadata.annotations.unwrap()[HOLDER_PROCESS].clone();
    // Fresh renewals, as if the holder were still at work; a short lease keeps the
    // wait for expiry short.
    let renewed = |annotation: Value| {
        serde_json::json!({
            "metadata": {"annotations": {HOLDER_PROCESS: annotation}},
            "spec": {"renewTime": MicroTime(Timestamp::now()), "leaseDurationSeconds": 15}
        })
    };
    let refuses = async || {
        let refused = env.run(&["install", "cv", "--profile", "minimal"]).await;
        assert_eq!(refused.status.code(), Some(4), "a fresh lock must refuse");
        assert!(
            stderr(&refused).contains("/install since"),
            "{}",
            stderr(&refused)
        );
    };

    // Written by the previous stackctl: no annotation (a merge patch's null removes it).
    env.patch_lock("cv", &renewed(Value::Null)).await;
    refuses().await;
    assert_eq!(status_json(&env).await["lockHolderDead"], false);

    // Written on another machine: only the boot id differs from the dead process's.
    let foreign = process
        .split(',')
        .map(|f| {
            if f.starts_with("boot=") {
                "boot=00000000-0000-4000-8000-000000000000"
            } else {
                f
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    assert_ne!(foreign, process);
    env.patch_lock("cv", &renewed(Value::String(foreign))).await;
    let expires = tokio::time::Instant::now() + Duration::from_secs(16);
    refuses().await;
    let report = status_json(&env).await;
    assert!(report["lockedBy"].is_string(), "{report}");
    assert_eq!(report["lockHolderDead"], false, "{report}");

    env.clear_faults().await;
    tokio::time::sleep_until(expires).await;
    let out = env.ok(&["install", "cv", "--profile", "minimal"]).await;
    assert!(stderr(&out).contains("marked failed"), "{}", stderr(&out));
    assert_eq!(env.statuses("cv").await, ["failed", "deployed"]);
    env.done().await;
}

#[tokio::test]
async fn ctrl_c_marks_the_revision_failed_and_frees_the_lock() {
    let env = Env::new("sigint").await;
    let child = env.install_holding_the_lock(120).await;
    let pid = child.id().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = tokio::time::timeout(common::WAIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("marked failed") && err.contains("re-run"),
        "next step not printed: {err}"
    );
    assert!(!env.lock_exists("cv").await, "lock not released on Ctrl-C");
    assert_eq!(env.history("cv").await.last().unwrap()["status"], "failed");
    env.done().await;
}

#[tokio::test]
async fn external_services_deploy_only_the_apps_wired_to_them() {
    let env = Env::new("ext").await;
    env.ok(&[
        "install",
        "cv",
        "--profile",
        "external-services",
        "--set",
        "mysql.external.password=s3cret",
    ])
    .await;
    let sts = Api::<StatefulSet>::namespaced(env.client.clone(), &env.ns);
    assert!(
        sts.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "no data service may be deployed"
    );
    let config = env
        .secret_value("cv-clickvisual-config", "default.toml")
        .await;
    assert!(
        config.contains("clickvisual:s3cret@tcp(mysql.example.com:3306)/clickvisual"),
        "{config}"
    );
    assert_eq!(
        env.secret_value("cv-mysql-credentials", "mysql-password")
            .await,
        "s3cret"
    );
    let ds = Api::<k8s_openapi::api::apps::v1::DaemonSet>::namespaced(env.client.clone(), &env.ns)
        .get("cv-fluentbit")
        .await
        .unwrap();
    let env_vars =
        serde_json::to_string(&ds.spec.unwrap().template.spec.unwrap().containers[0].env).unwrap();
    assert!(env_vars.contains("kafka.example.com:9092"), "{env_vars}");
    env.done().await;
}

#[tokio::test]
async fn dry_runs_write_nothing() {
    let env = Env::new("dryrun").await;
    let out = env
        .ok(&["install", "cv", "--profile", "minimal", "--dry-run=server"])
        .await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("accepted all"),
        "{out:?}"
    );
    let out = env
        .ok(&["install", "cv", "--profile", "minimal", "--dry-run"])
        .await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("kind: StatefulSet"));
    env.assert_nothing_written("cv").await;
    env.done().await;
}

#[tokio::test]
async fn diff_shows_changes_with_secrets_redacted() {
    let env = Env::new("diff").await;
    env.ok(&["install", "cv", "--profile", "minimal"]).await;
    let out = env.ok(&["diff", "cv"]).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no changes");
    let root = env
        .secret_value("cv-mysql-credentials", "mysql-root-password")
        .await;
    let out = env
        .ok(&[
            "diff",
            "cv",
            "--set",
            "clickvisual.image.tag=v9,mysql.auth.rootPassword=n3wpassword",
        ])
        .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("+        image: clickvisual/clickvisual:v9"),
        "{text}"
    );
    assert!(
        text.contains("Secret/cv-mysql-credentials") && text.contains("<redacted"),
        "{text}"
    );
    assert!(
        !text.contains("n3wpassword") && !text.contains(&root),
        "a secret leaked into the diff"
    );
    assert_eq!(
        image(&env, "cv-clickvisual").await,
        "clickvisual/clickvisual:1.0.7",
        "diff changed the cluster"
    );
    env.done().await;
}

#[tokio::test]
async fn status_exits_non_zero_when_a_component_is_unhealthy() {
    let env = Env::new("unhealthy").await;
    env.ok(&["install", "cv", "--profile", "minimal"]).await;
    env.ok(&["status", "cv"]).await;
    env.faults(&[(
        "app",
        "{pods: 'cv-clickvisual-*', containers: clickvisual, fault: never-ready}",
    )])
    .await;
    kube::Api::<k8s_openapi::api::core::v1::Pod>::namespaced(env.client.clone(), &env.ns)
        .delete_collection(
            &kube::api::DeleteParams::default(),
            &ListParams::default().labels("app.kubernetes.io/component=clickvisual"),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + common::WAIT;
    let report = loop {
        let out = env.run(&["status", "cv", "-o", "json"]).await;
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        if report["healthy"] == false {
            assert_eq!(out.status.code(), Some(1));
            break report;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "status never saw the unready pod"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let app = report["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "Deployment")
        .unwrap();
    assert_ne!(app["state"], "Current", "{app}");
    env.done().await;
}

#[tokio::test]
async fn a_missing_storage_class_is_named_in_preflight() {
    let env = Env::new("noclass").await;
    let out = env
        .run(&[
            "install",
            "cv",
            "--profile",
            "minimal",
            "--set",
            "global.storageClass=fast-ssd",
        ])
        .await;
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("no StorageClass 'fast-ssd'"), "{err}");
    assert!(
        err.contains("available: standard, standard-immediate"),
        "{err}"
    );
    env.done().await;
}

#[tokio::test]
async fn install_ends_with_the_probe_table() {
    let env = Env::new("probed").await;
    let out = env.ok(&["install", "cv", "--profile", "minimal"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let table = stdout
        .split("Connectivity probes")
        .nth(1)
        .expect("no probe table at the end");
    for component in ["mysql", "clickhouse", "kafka", "clickvisual", "fluentbit"] {
        assert!(
            table.contains(component),
            "{component} missing from:\n{table}"
        );
    }
    assert!(!table.contains("failed"), "{table}");
    let status = env.ok(&["status", "cv", "-o", "json"]).await;
    let report: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        report["probes"]["results"]
            .as_array()
            .is_some_and(|r| r.len() >= 5),
        "{report}"
    );

    let skipped = env
        .ok(&[
            "upgrade",
            "cv",
            "--skip-tests",
            "--set",
            "clickvisual.image.tag=v2",
        ])
        .await;
    assert!(!String::from_utf8_lossy(&skipped.stdout).contains("Connectivity probes"));
    env.done().await;
}

#[tokio::test]
async fn a_failing_probe_fails_the_upgrade_with_exit_5_and_atomic_rolls_back() {
    let env = Env::new("probefail").await;
    env.ok(&["install", "cv", "--profile", "minimal"]).await;
    env.faults(&[(
        "probe",
        "{pods: 'cv-test-mysql-*', fault: exit-code, exitCode: 1}",
    )])
    .await;
    let out = env
        .run(&["upgrade", "cv", "--set", "clickvisual.image.tag=v2"])
        .await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("mysql"), "{}", stderr(&out));
    assert_eq!(env.history("cv").await.last().unwrap()["status"], "failed");

    let out = env
        .run(&[
            "upgrade",
            "cv",
            "--atomic",
            "--set",
            "clickvisual.image.tag=v3",
        ])
        .await;
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("rolled back to revision 1"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        image(&env, "cv-clickvisual").await,
        "clickvisual/clickvisual:1.0.7"
    );
    let statuses = env.statuses("cv").await;
    assert_eq!(statuses, ["superseded", "failed", "failed", "deployed"]);
    assert!(!env.lock_exists("cv").await);
    env.done().await;
}

/// A first install killed after taking its lock and before writing its record leaves
/// a lock and nothing else; `unlock` must still find the release by its lock.
#[tokio::test]
async fn unlock_finds_a_release_that_has_only_a_lock() {
    use k8s_openapi::api::coordination::v1::Lease;
    let env = Env::new("lockonly").await;
    let lease: Lease = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "stackctl-lock-cv", "labels": {"owner": "stackctl", "name": "cv"}},
        "spec": {"holderIdentity": "someone@gone/pid-1/install", "leaseDurationSeconds": 30}
    }))
    .unwrap();
    Api::<Lease>::namespaced(env.client.clone(), &env.ns)
        .create(&kube::api::PostParams::default(), &lease)
        .await
        .unwrap();

    let out = env.run(&["unlock", "cv"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("someone@gone"), "{}", stderr(&out));

    let out = env.ok(&["unlock", "cv", "--yes"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("removed the lock of cv"), "{text}");
    assert!(!text.contains("marked failed"), "{text}");
    assert!(!env.lock_exists("cv").await);
    // With neither a lock nor a record, the name is unknown again.
    let out = env.run(&["unlock", "cv"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no stackctl release"),
        "{}",
        stderr(&out)
    );
    env.done().await;
}

#[tokio::test]
async fn unlock_removes_a_dead_holders_lock_after_confirmation() {
    let env = Env::new("unlock").await;
    let mut child = env.install_holding_the_lock(120).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    // Destructive and not on a terminal: it must ask for --yes instead of waiting.
    let out = env.run(&["unlock", "cv"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert!(env.lock_exists("cv").await);

    let out = env.ok(&["unlock", "cv", "--yes"]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("marked failed"),
        "{out:?}"
    );
    assert!(!env.lock_exists("cv").await);
    assert_eq!(env.history("cv").await.last().unwrap()["status"], "failed");
    env.done().await;
}

/// The prepull DaemonSets of `release` in the test's namespace, with how many of
/// their pods are ready and how many are wanted.
async fn prepull_sets(env: &Env, release: &str) -> Vec<(String, i32, i32)> {
    use k8s_openapi::api::apps::v1::DaemonSet;
    Api::<DaemonSet>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default().labels(&format!("stackctl.dev/prepull={release}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|d| {
            let s = d.status.unwrap_or_default();
            (
                d.metadata.name.unwrap(),
                s.number_ready,
                s.desired_number_scheduled,
            )
        })
        .collect()
}

/// `--prepull` on the test bed: its DaemonSets are made while the data phase is still
/// starting (MySQL held back by a fault), the API server accepts their pods and the
/// node runs them to ready on every node, the apps phase still starts only after
/// the data phase, and nothing of it is left when the install ends. (The node pulls
/// nothing here: what it saves is measured by the benchmark, on realistic timings.)
#[tokio::test]
async fn prepull_runs_beside_the_data_phase_and_leaves_nothing() {
    let env = Env::new("prepull").await;
    env.faults(&[(
        "slow",
        "{pods: 'cv-mysql-*', fault: slow, delaySeconds: 10}",
    )])
    .await;
    let install = env.run(&[
        "install",
        "cv",
        "--profile",
        "minimal",
        "--prepull",
        "--no-progress",
    ]);
    let watch = async {
        let apps = Api::<Deployment>::namespaced(env.client.clone(), &env.ns);
        let mysql = Api::<StatefulSet>::namespaced(env.client.clone(), &env.ns);
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let sets = prepull_sets(&env, "cv").await;
                if sets.iter().map(|s| s.1).sum::<i32>() > 0 {
                    let mysql_ready = mysql
                        .get("cv-mysql")
                        .await
                        .ok()
                        .and_then(|s| s.status)
                        .and_then(|s| s.ready_replicas)
                        .unwrap_or(0);
                    let app_exists = apps.get_opt("cv-clickvisual").await.unwrap().is_some();
                    return (sets, mysql_ready, app_exists);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .expect("the prepull DaemonSets turned ready")
    };
    let (out, (sets, mysql_ready, app_exists)) = tokio::join!(install, watch);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("prepull: pulling"), "{err}");
    assert!(err.contains("prepull: done on"), "{err}");
    // Each component's mark is said when it is ready, not when its phase is: the
    // schema Job starts once MySQL is ready, so after MySQL's mark.
    let at = |line: &str| {
        err.find(line)
            .unwrap_or_else(|| panic!("no {line:?} in {err}"))
    };
    assert!(
        at("data: mysql ready") < at("data: applying clickvisual-schema"),
        "{err}"
    );
    // Two placements (Fluent Bit tolerates every taint, the rest none), one set
    // per architecture; the simulated nodes are amd64, so arm64 sets want no pod.
    let names: Vec<&str> = sets.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "cv-prepull-0-amd64",
            "cv-prepull-0-arm64",
            "cv-prepull-1-amd64",
            "cv-prepull-1-arm64"
        ],
        "{sets:?}"
    );
    for (name, _, wanted) in &sets {
        assert_eq!(*wanted > 0, name.ends_with("amd64"), "{sets:?}");
    }
    assert_eq!(
        mysql_ready, 0,
        "the images were pulled while MySQL was still starting"
    );
    assert!(!app_exists, "the apps phase waited for the data phase");

    assert!(prepull_sets(&env, "cv").await.is_empty());
    let config = Api::<ConfigMap>::namespaced(env.client.clone(), &env.ns)
        .get_opt("cv-prepull")
        .await
        .unwrap();
    assert!(
        config.is_none(),
        "the executables' ConfigMap is deleted too"
    );
    env.done().await;
}

/// A run killed while prepulling leaves its DaemonSets; `uninstall` removes them.
#[tokio::test]
async fn uninstall_removes_what_a_killed_prepull_left() {
    let env = Env::new("prepull-killed").await;
    env.faults(&[(
        "slow",
        "{pods: 'cv-mysql-*', fault: slow, delaySeconds: 60}",
    )])
    .await;
    let mut child = env
        .command(&["install", "cv", "--profile", "minimal", "--prepull"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), async {
        while prepull_sets(&env, "cv").await.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the prepull started");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let left = prepull_sets(&env, "cv").await.len();
    assert!(left > 0);

    let out = env.ok(&["uninstall", "cv"]).await;
    assert!(
        stderr(&out).contains(&format!("removed {left} prepull DaemonSets")),
        "{}",
        stderr(&out)
    );
    assert!(prepull_sets(&env, "cv").await.is_empty());
    env.done().await;
}
