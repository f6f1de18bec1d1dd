//! `stackctl backup` on the real control plane: the volume, the Job and its
//! credential wiring, the results read back from termination messages, the records,
//! listing and deleting, and what `uninstall` leaves. The simulated node runs no
//! container, so a `message` rule of its fault ConfigMap gives each dump container
//! the result line its script would print (the scripts run for real in
//! `tests/backup_scripts.rs`).

mod common;
mod local;

use common::cli::{Env, stderr};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::Value;
use stackctl::operations::backup::record::{Backup, BackupStatus};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn listed(env: &Env) -> Vec<Value> {
    let out = env.ok(&["backup", "list", "cv", "-o", "json"]).await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["backups"].as_array().unwrap().clone()
}

/// `uninstall --purge-backups`, which says it deleted `records` records and the
/// release's backup volume.
async fn purge(env: &Env, release: &str, records: usize) {
    let out = env
        .ok(&["uninstall", release, "--purge-backups", "--yes"])
        .await;
    let want = format!("deleted {records} backup records and the backup volume");
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
}

/// `uninstall cv --purge-backups` that fails saying `why`, and keeps the
/// release's `records` backup records.
async fn purge_fails(env: &Env, why: &str, records: usize) {
    let out = env
        .run(&["uninstall", "cv", "--purge-backups", "--yes"])
        .await;
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains(why), "{}", stderr(&out));
    let kept = Api::<Secret>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default().labels("stackctl.dev/backup-of=cv"))
        .await
        .unwrap();
    assert_eq!(kept.items.len(), records, "records kept");
}

/// A dump the simulated node can serve through exec (no newline, no quote: it
/// goes in a YAML rule), and its sha256.
fn served_dump() -> (String, String) {
    let dump = "INSERT INTO t VALUES (1);".repeat(4000);
    let digest = ring::digest::digest(&ring::digest::SHA256, dump.as_bytes());
    let sha = digest.as_ref().iter().fold(String::new(), |mut s, b| {
        use std::fmt::Write;
        let _ = write!(s, "{b:02x}");
        s
    });
    (dump, sha)
}

/// The fault rule by which `cat` of backup `name`'s MySQL dump in a download's
/// pod prints `content`.
fn serve(name: &str, content: &str) -> String {
    format!(
        "{{pods: 'cv-backup-download-*', fault: files, files: {{'/backups/{name}/mysql.sql.gz': '{content}'}}}}"
    )
}

/// A new backup whose MySQL dump the simulated node serves (`served_dump`): its
/// result line replaces `line` in the result `rule` for the backup, then a
/// `files` rule serves it. Returns its name, the dump and its sha256.
async fn served_backup(env: &Env, rule: &str, line: &str) -> (String, String, String) {
    let (dump, sha) = served_dump();
    let dump_line = format!(
        r#"{{"file":"mysql.sql.gz","bytes":{},"sha256":"{sha}"}}"#,
        dump.len()
    );
    env.clear_faults().await;
    env.faults(&[("result", rule.replace(line, &dump_line).as_str())])
        .await;
    // Backups are named by the second.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    env.ok(&["backup", "create", "cv"]).await;
    let name = listed(env).await.last().unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    env.clear_faults().await;
    env.faults(&[("files", serve(&name, &dump).as_str())]).await;
    (name, dump, sha)
}

/// A Secret's data for `backup.s3.existingSecret`.
const BOTH_KEYS: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "AKIA"),
    ("AWS_SECRET_ACCESS_KEY", "k"),
];

const SHA: &str = "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

#[tokio::test]
async fn backups_are_taken_listed_and_deleted_and_outlive_the_release() {
    let env = Env::new("backup").await;
    env.ok(&["install", "cv", "--profile", "minimal", "--skip-tests"])
        .await;
    let line = format!(r#"{{"file":"mysql.sql.gz","bytes":2048,"sha256":"{SHA}"}}"#);
    let rule = format!(
        "{{pods: 'cv-backup-*', fault: message, messages: {{backup-mysql: '{line}', backup-done: listed}}}}"
    );
    env.faults(&[("result", rule.as_str())]).await;

    let unknown = env
        .run(&["backup", "create", "cv", "--component", "kafka"])
        .await;
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("this release backs up mysql"),
        "{}",
        stderr(&unknown)
    );

    let out = env.ok(&["backup", "create", "cv"]).await;
    assert!(
        stderr(&out).contains("created the backup volume cv-backups"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("complete"), "{}", stdout(&out));
    assert!(stdout(&out).contains(SHA), "{}", stdout(&out));

    // The volume is no object of the release.
    let claim = Api::<PersistentVolumeClaim>::namespaced(env.client.clone(), &env.ns)
        .get("cv-backups")
        .await
        .unwrap();
    let labels = claim.metadata.labels.unwrap();
    assert!(!labels.contains_key("stackctl.dev/release"), "{labels:?}");
    assert_eq!(labels["stackctl.dev/backup-of"], "cv");

    let backups = listed(&env).await;
    assert_eq!(backups.len(), 1, "{backups:?}");
    let b = &backups[0];
    assert_eq!(b["status"], "complete");
    assert_eq!(b["revision"], 1);
    assert_eq!(b["components"][0]["component"], "mysql");
    assert_eq!(b["components"][0]["bytes"], 2048);
    assert_eq!(b["components"][0]["sha256"], SHA);
    assert_eq!(b["components"][0]["version"], "8.4");
    let first = b["name"].as_str().unwrap().to_string();
    // The Job that took it is cleaned up.
    let jobs = Api::<Job>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default().labels("stackctl.dev/backup"))
        .await
        .unwrap();
    assert!(
        jobs.items
            .iter()
            .all(|j| j.metadata.deletion_timestamp.is_some()),
        "backup Jobs left"
    );

    // Downloading: refused before any pod for what cannot be, and never over
    // the user's files.
    let local = tempfile::tempdir().unwrap();
    let dir = local.path().display().to_string();
    let unknown = env
        .run(&[
            "backup",
            "download",
            "19990101-000000",
            &dir,
            "--release",
            "cv",
        ])
        .await;
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(stderr(&unknown).contains("has no backup 19990101-000000"));
    std::fs::create_dir(local.path().join(&first)).unwrap();
    let there = env
        .run(&["backup", "download", &first, &dir, "--release", "cv"])
        .await;
    assert_eq!(there.status.code(), Some(2), "{}", stderr(&there));
    assert!(
        stderr(&there).contains("exists; nothing is overwritten"),
        "{}",
        stderr(&there)
    );
    assert!(
        local.path().join(&first).exists(),
        "the user's directory stays"
    );
    let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(env.client.clone(), &env.ns);
    assert!(
        pods.get_opt(&format!("cv-backup-download-{first}"))
            .await
            .unwrap()
            .is_none(),
        "no pod for a refused download"
    );
    // A backup whose dump the simulated node serves too: in the download's pod,
    // `cat` of its file prints these bytes (a `files` rule), which come back
    // through the API server's exec, as from a kubelet.
    let (served, dump, dump_sha) = served_backup(&env, &rule, &line).await;
    let got = env
        .ok(&["backup", "download", &served, &dir, "--release", "cv"])
        .await;
    let into = local.path().join(&served);
    assert_eq!(
        std::fs::read_to_string(into.join("mysql.sql.gz")).unwrap(),
        dump
    );
    assert_eq!(
        std::fs::read_to_string(into.join("SHA256SUMS")).unwrap(),
        format!("{dump_sha}  mysql.sql.gz\n")
    );
    assert!(
        stdout(&got).contains(&into.join("mysql.sql.gz").display().to_string()),
        "{}",
        stdout(&got)
    );
    let holder = format!("cv-backup-download-{served}");
    let gone = |p: Option<k8s_openapi::api::core::v1::Pod>| {
        p.is_none_or(|p| p.metadata.deletion_timestamp.is_some())
    };
    assert!(
        gone(pods.get_opt(&holder).await.unwrap()),
        "the pod is left"
    );
    // Bytes other than the recorded ones are not kept, nor is anything else of
    // that download; a file the pod lacks fails with what `cat` said.
    std::fs::remove_dir_all(&into).unwrap();
    for (content, said) in [
        (dump.replace('1', "2"), "the backup recorded"),
        (String::new(), "the backup recorded"),
    ] {
        env.clear_faults().await;
        env.faults(&[("files", serve(&served, &content).as_str())])
            .await;
        let bad = env
            .run(&["backup", "download", &served, &dir, "--release", "cv"])
            .await;
        assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
        assert!(stderr(&bad).contains(said), "{}", stderr(&bad));
        assert!(!into.exists(), "half a download left behind");
        assert!(
            gone(pods.get_opt(&holder).await.unwrap()),
            "the pod is left"
        );
    }
    env.clear_faults().await;
    env.faults(&[(
        "files",
        "{pods: 'cv-backup-download-*', fault: files, files: {'/elsewhere': 'x'}}",
    )])
    .await;
    let missing = env
        .run(&["backup", "download", &served, &dir, "--release", "cv"])
        .await;
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("No such file or directory"),
        "{}",
        stderr(&missing)
    );
    env.clear_faults().await;
    env.faults(&[("result", rule.as_str())]).await;
    env.ok(&["backup", "delete", &served, "--release", "cv"])
        .await;

    // Restoring replaces data: never without a yes.
    let unasked = env
        .run(&["backup", "restore", &first, "--release", "cv"])
        .await;
    assert_eq!(unasked.status.code(), Some(2), "{}", stderr(&unasked));
    assert!(stderr(&unasked).contains("--yes"), "{}", stderr(&unasked));
    let wrong = env
        .run(&[
            "backup",
            "restore",
            &first,
            "--release",
            "cv",
            "--component",
            "kafka",
            "--yes",
        ])
        .await;
    assert!(stderr(&wrong).contains("holds mysql"), "{}", stderr(&wrong));
    assert_eq!(
        listed(&env).await.len(),
        1,
        "a refused restore wrote nothing"
    );

    let out = env
        .ok(&["backup", "restore", &first, "--release", "cv", "--yes"])
        .await;
    let err = stderr(&out);
    assert!(err.contains("stopping the apps (clickvisual)"), "{err}");
    assert!(err.contains("the apps were stopped for"), "{err}");
    // The safety backup, taken first, is a backup like any other.
    let backups = listed(&env).await;
    assert_eq!(backups.len(), 2, "{backups:?}");
    assert_eq!(backups[1]["status"], "complete");
    assert!(
        err.contains(&format!(
            "safety backup {}",
            backups[1]["name"].as_str().unwrap()
        )),
        "{err}"
    );
    // The app was scaled to zero and back, and is ready.
    let app = Api::<Deployment>::namespaced(env.client.clone(), &env.ns)
        .get("cv-clickvisual")
        .await
        .unwrap();
    assert!(
        app.metadata
            .managed_fields
            .iter()
            .flatten()
            .any(|f| f.manager.as_deref() == Some("stackctl-restore")),
        "not scaled by the restore"
    );
    assert_eq!(app.spec.unwrap().replicas, Some(1));
    assert_eq!(app.status.unwrap().ready_replicas, Some(1));
    let safety = backups[1]["name"].as_str().unwrap().to_string();
    env.ok(&["backup", "delete", &safety, "--release", "cv"])
        .await;

    // A dump that says nothing is a failed backup, recorded as such.
    env.clear_faults().await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let failed = env.run(&["backup", "create", "cv"]).await;
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("without its result line"),
        "{}",
        stderr(&failed)
    );
    let backups = listed(&env).await;
    assert_eq!(backups.len(), 2, "{backups:?}");
    assert_eq!(backups[1]["status"], "failed");

    // Deleting removes the files by a Job, then the record.
    let second = backups[1]["name"].as_str().unwrap().to_string();
    env.ok(&["backup", "delete", &second, "--release", "cv"])
        .await;
    let names: Vec<String> = listed(&env)
        .await
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, std::slice::from_ref(&first));
    let missing = env
        .run(&["backup", "delete", "19990101-000000", "--release", "cv"])
        .await;
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));

    // ClickHouse only when asked: its own step (the result comes from the
    // container `backup-clickhouse` alone), said to be experimental; restored
    // with a safety backup of it alone.
    let ch_line = format!(r#"{{"file":"clickhouse.tar","bytes":4096,"sha256":"{SHA}"}}"#);
    let ch_rule = format!(
        "{{pods: 'cv-backup-*', fault: message, messages: {{backup-clickhouse: '{ch_line}', backup-done: listed}}}}"
    );
    env.faults(&[("result", ch_rule.as_str())]).await;
    let out = env
        .ok(&["backup", "create", "cv", "--component", "clickhouse"])
        .await;
    assert!(
        stderr(&out).contains("the backup of clickhouse is experimental"),
        "{}",
        stderr(&out)
    );
    let backups = listed(&env).await;
    let ch = backups.last().unwrap();
    assert_eq!(ch["components"].as_array().unwrap().len(), 1, "{ch}");
    assert_eq!(ch["components"][0]["component"], "clickhouse");
    assert_eq!(ch["components"][0]["file"], "clickhouse.tar");
    assert_eq!(ch["components"][0]["version"], "24.8");
    let ch_name = ch["name"].as_str().unwrap().to_string();
    let out = env
        .ok(&["backup", "restore", &ch_name, "--release", "cv", "--yes"])
        .await;
    assert!(
        stderr(&out).contains(&format!("restoring clickhouse from {ch_name}")),
        "{}",
        stderr(&out)
    );
    let backups = listed(&env).await;
    assert_eq!(backups.len(), 3, "{backups:?}");
    let safety = &backups[2];
    assert_eq!(safety["components"][0]["component"], "clickhouse");
    for b in &backups[1..] {
        env.ok(&[
            "backup",
            "delete",
            b["name"].as_str().unwrap(),
            "--release",
            "cv",
        ])
        .await;
    }
    env.clear_faults().await;

    // Uninstalling, volumes purged, leaves the backups: their volume and records.
    env.ok(&["uninstall", "cv", "--purge-volumes", "--yes"])
        .await;
    assert!(
        Api::<PersistentVolumeClaim>::namespaced(env.client.clone(), &env.ns)
            .get_opt("cv-backups")
            .await
            .unwrap()
            .is_some()
    );
    let record = Api::<Secret>::namespaced(env.client.clone(), &env.ns)
        .get_opt(&format!("cv-backup-{first}"))
        .await
        .unwrap();
    assert!(record.is_some(), "the backup record went with the release");

    // A new release of the same name finds them and restores from them: the
    // disaster recovery that needs no other cluster.
    env.ok(&["install", "cv", "--profile", "minimal", "--skip-tests"])
        .await;
    assert_eq!(listed(&env).await.len(), 1);
    env.faults(&[("result", rule.as_str())]).await;
    let out = env
        .ok(&["backup", "restore", &first, "--release", "cv", "--yes"])
        .await;
    assert!(
        stderr(&out).contains(&format!("restoring mysql from {first}")),
        "{}",
        stderr(&out)
    );

    // A new release of another name restores the old one's backup from its
    // volume; its safety backup goes to its own.
    env.ok(&["install", "cv2", "--profile", "minimal", "--skip-tests"])
        .await;
    let rule2 = rule.replace("cv-backup-*", "cv2-backup-*");
    env.clear_faults().await;
    env.faults(&[("result", rule.as_str()), ("result2", rule2.as_str())])
        .await;
    let unknown = env
        .run(&["backup", "restore", &first, "--release", "cv2", "--yes"])
        .await;
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains(&format!("release cv2 has no backup {first}")),
        "{}",
        stderr(&unknown)
    );
    let out = env
        .ok(&[
            "backup",
            "restore",
            &first,
            "--release",
            "cv2",
            "--from",
            "cv",
            "--yes",
        ])
        .await;
    let err = stderr(&out);
    assert!(
        err.contains("created the backup volume cv2-backups"),
        "{err}"
    );
    assert!(
        err.contains(&format!("restoring mysql from {first}")),
        "{err}"
    );
    // Each release's purge takes its own backups only.
    purge(&env, "cv2", 1).await;
    assert_eq!(listed(&env).await.len(), 2, "cv's backups stay");

    // Only their own flag deletes them.
    purge(&env, "cv", 2).await;
    let claim = Api::<PersistentVolumeClaim>::namespaced(env.client.clone(), &env.ns)
        .get_opt("cv-backups")
        .await
        .unwrap();
    assert!(claim.is_none_or(|c| c.metadata.deletion_timestamp.is_some()));
    let record = Api::<Secret>::namespaced(env.client.clone(), &env.ns)
        .get_opt(&format!("cv-backup-{first}"))
        .await
        .unwrap();
    assert!(record.is_none());
    env.done().await;
}

/// ClickHouse as shards of replicas: its backup Job reads every server (by its
/// pod's name, in the order of `remote_servers`), the record keeps how they
/// were laid out, and a restore into a release of one server is refused before
/// anything stops (each server's part must go back to its server).
#[tokio::test]
async fn clickhouse_shards_are_backed_up_as_laid_out_and_restored_only_so() {
    let env = Env::new("ch-shards").await;
    env.ok(&[
        "install",
        "cv",
        "--profile",
        "minimal",
        "--skip-tests",
        "--set",
        "clickhouse.shards=2",
        "--set",
        "clickhouse.replicas=2",
    ])
    .await;
    let ch_line = format!(r#"{{"file":"clickhouse.tar","bytes":4096,"sha256":"{SHA}"}}"#);
    let rule = format!(
        "{{pods: 'cv-backup-*', fault: message, messages: {{backup-clickhouse: '{ch_line}', backup-done: listed}}}}"
    );
    env.faults(&[("result", rule.as_str())]).await;
    let jobs = Api::<Job>::namespaced(env.client.clone(), &env.ns);
    let (_, (job, _)) = tokio::join!(
        env.ok(&["backup", "create", "cv", "--component", "clickhouse"]),
        first_named(&jobs, "cv-backup-", std::time::Duration::from_secs(120))
    );
    let job = serde_json::to_value(job).unwrap();
    let steps = job["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            job["spec"]["template"]["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten(),
        );
    let step = steps
        .into_iter()
        .find(|c| c["name"] == "backup-clickhouse")
        .expect("a step for ClickHouse");
    let var = |name: &str| {
        step["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let ns = &env.ns;
    assert_eq!(
        var("NODES"),
        (0..4)
            .map(|i| format!("cv-clickhouse-{i}.cv-clickhouse-headless.{ns}.svc:9000"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert_eq!(var("REPLICAS"), "2");
    let backups = listed(&env).await;
    let b = backups.last().unwrap();
    assert_eq!(
        b["components"][0]["layout"], "2 shards of 2 replicas",
        "{b}"
    );
    let name = b["name"].as_str().unwrap().to_string();

    env.ok(&["install", "cv2", "--profile", "minimal", "--skip-tests"])
        .await;
    let refused = env
        .run(&[
            "backup",
            "restore",
            &name,
            "--release",
            "cv2",
            "--from",
            "cv",
            "--yes",
        ])
        .await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let err = stderr(&refused);
    assert!(
        err.contains(&format!(
            "backup {name} of clickhouse was taken from 2 shards of 2 replicas, and the release runs one server"
        )),
        "{err}"
    );
    assert!(!err.contains("stopping"), "{err}");
    let app = Api::<Deployment>::namespaced(env.client.clone(), &env.ns)
        .get("cv2-clickvisual")
        .await
        .unwrap();
    assert_eq!(app.spec.unwrap().replicas, Some(1), "never scaled");
    let none = env.ok(&["backup", "list", "cv2", "-o", "json"]).await;
    let none: Value = serde_json::from_slice(&none.stdout).unwrap();
    assert_eq!(none["backups"], serde_json::json!([]), "no safety backup");
    env.done().await;
}

/// Jobs carrying a release's scheduled-backup label, not being deleted.
async fn scheduled_jobs(env: &Env) -> Vec<Job> {
    Api::<Job>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default().labels("stackctl.dev/backup-scheduled=cv"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|j| j.metadata.deletion_timestamp.is_none())
        .collect()
}

fn cronjobs(env: &Env) -> Api<kube::api::DynamicObject> {
    let gvk = kube::api::GroupVersionKind::gvk("batch", "v1beta1", "CronJob");
    Api::namespaced_with(
        env.client.clone(),
        &env.ns,
        &kube::api::ApiResource::from_gvk(&gvk),
    )
}

/// `backup.schedule` on the real control plane: the CronJob (`batch/v1beta1`,
/// chosen by discovery on 1.20), its Jobs started by the controller manager with
/// no stackctl around and read as backups by `list` and `status` until a command
/// that holds the lock records them; a schedule taken away orphans its Jobs, so
/// no backup is lost; a restore suspends the CronJob meanwhile. What the Jobs'
/// steps do is proven in `tests/backup_scripts.rs`; here the simulated node gives
/// each its termination message.
#[tokio::test]
async fn scheduled_backups_run_without_stackctl_and_are_recorded_later() {
    let env = Env::new("backup-schedule").await;
    let bad = env
        .run(&[
            "install",
            "cv",
            "--profile",
            "minimal",
            "--skip-tests",
            "--set",
            "backup.schedule=0 3 * * 7",
        ])
        .await;
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("backup.schedule") && stderr(&bad).contains("day of week 7"),
        "{}",
        stderr(&bad)
    );
    env.assert_nothing_written("cv").await;

    let name = "20261201-030000";
    let line = format!(r#"{{"file":"mysql.sql.gz","bytes":4096,"sha256":"{SHA}"}}"#);
    let rule = format!(
        "{{pods: 'cv-backup-*', fault: message, messages: {{backup-name: '{name}', backup-mysql: '{line}', backup-keep: kept}}}}"
    );
    env.faults(&[("result", rule.as_str())]).await;
    let out = env
        .ok(&[
            "install",
            "cv",
            "--profile",
            "minimal",
            "--skip-tests",
            "--set",
            "backup.schedule=* * * * *",
            "--set",
            "backup.keep=2",
        ])
        .await;
    assert!(
        stderr(&out).contains("created the backup volume cv-backups"),
        "{}",
        stderr(&out)
    );
    let cron = cronjobs(&env).get("cv-backup").await.unwrap();
    assert_eq!(cron.data["spec"]["schedule"], "* * * * *");
    assert_eq!(cron.data["spec"]["successfulJobsHistoryLimit"], 2);

    // The controller manager starts one within the minute; nothing records it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(150);
    let taken = loop {
        let found = listed(&env)
            .await
            .into_iter()
            .find(|b| b["scheduled"] == true);
        if let Some(b) = found {
            break b;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled backup ran"
        );
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    };
    assert_eq!(taken["name"], name);
    assert_eq!(taken["status"], "complete", "{taken}");
    assert_eq!(taken["revision"], 1);
    assert_eq!(taken["components"][0]["sha256"], SHA);
    assert_eq!(taken["components"][0]["version"], "8.4");
    let secrets = Api::<Secret>::namespaced(env.client.clone(), &env.ns);
    let record = format!("cv-backup-{name}");
    assert!(secrets.get_opt(&record).await.unwrap().is_none());
    let status: Value =
        serde_json::from_slice(&env.ok(&["status", "cv", "-o", "json"]).await.stdout).unwrap();
    assert_eq!(status["backups"]["schedule"], "* * * * *");
    assert_eq!(status["backups"]["last"]["name"], name);
    assert_eq!(status["backups"]["last"]["status"], "complete");

    // The schedule taken away: the CronJob goes, its Jobs (the backups) stay.
    env.ok(&["upgrade", "cv", "--skip-tests", "--set", "backup.schedule="])
        .await;
    let gone = cronjobs(&env).get_opt("cv-backup").await.unwrap();
    assert!(gone.is_none_or(|c| c.metadata.deletion_timestamp.is_some()));
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        !scheduled_jobs(&env).await.is_empty(),
        "orphaned, not deleted"
    );
    assert!(listed(&env).await.iter().any(|b| b["name"] == name));
    // One started just before may still be running.
    while scheduled_jobs(&env).await.iter().any(|j| {
        j.status
            .as_ref()
            .is_none_or(|s| s.succeeded.unwrap_or(0) + s.failed.unwrap_or(0) == 0)
    }) {
        assert!(std::time::Instant::now() < deadline + std::time::Duration::from_secs(60));
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }

    // Two older scheduled backups, recorded: with `backup.keep=2`, recording the
    // newest one lets the oldest go.
    for old in ["20261101-030000", "20261102-030000"] {
        let b = Backup {
            name: old.into(),
            release: "cv".into(),
            namespace: env.ns.clone(),
            stack: "clickvisual".into(),
            revision: 1,
            created: format!("{}-{}-{}T03:00:00Z", &old[..4], &old[4..6], &old[6..8]),
            status: BackupStatus::Complete,
            message: String::new(),
            components: Vec::new(),
            scheduled: true,
            s3: None,
        };
        secrets
            .create(
                &kube::api::PostParams::default(),
                &stackctl::operations::backup::record::to_secret(&b, &Value::Null).unwrap(),
            )
            .await
            .unwrap();
    }

    // A command that holds the lock records it and deletes its Job.
    let out = env.ok(&["backup", "create", "cv"]).await;
    // One Job, or two when the next minute came before the schedule went.
    let err = stderr(&out);
    assert!(
        err.contains("recorded 1 scheduled backup (from its Job)")
            || err.contains("recorded 2 scheduled backups (from their Jobs)"),
        "{err}"
    );
    let recorded = secrets.get(&record).await.unwrap();
    let data = &recorded.data.unwrap()["backup.json"].0;
    let b: Value = serde_json::from_slice(data).unwrap();
    assert_eq!(b["scheduled"], true);
    assert_eq!(b["components"][0]["sha256"], SHA);
    assert!(scheduled_jobs(&env).await.is_empty(), "Jobs left");
    let names: Vec<String> = listed(&env)
        .await
        .iter()
        .filter(|b| b["scheduled"] == true)
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["20261102-030000", name],
        "the newest 2 scheduled kept"
    );
    assert_eq!(listed(&env).await.len(), 3, "and the one on demand");

    // A restore suspends the schedule while it replaces the data, then resumes it.
    env.ok(&[
        "upgrade",
        "cv",
        "--skip-tests",
        "--set",
        "backup.schedule=@yearly",
    ])
    .await;
    env.ok(&["backup", "restore", name, "--release", "cv", "--yes"])
        .await;
    let cron = cronjobs(&env).get("cv-backup").await.unwrap();
    assert_eq!(cron.data["spec"]["suspend"], false);
    assert!(
        cron.metadata
            .managed_fields
            .iter()
            .flatten()
            .any(|f| f.manager.as_deref() == Some("stackctl-restore")),
        "not suspended by the restore"
    );

    // While a scheduled backup runs (here: one whose last step takes ten minutes)
    // nothing else takes the volume, and `status` says so.
    let slow = "{pods: 'cv-backup-*', containers: backup-keep, fault: slow, delaySeconds: 600}";
    env.clear_faults().await;
    env.faults(&[("slow", slow)]).await;
    env.ok(&[
        "upgrade",
        "cv",
        "--skip-tests",
        "--set",
        "backup.schedule=* * * * *",
    ])
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(150);
    let running = loop {
        let status: Value =
            serde_json::from_slice(&env.ok(&["status", "cv", "-o", "json"]).await.stdout).unwrap();
        if let Some(job) = status["backups"]["running"].as_str() {
            break job.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled backup started"
        );
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    };
    for args in [
        &["backup", "create", "cv"][..],
        &["backup", "restore", name, "--release", "cv", "--yes"][..],
    ] {
        let refused = env.run(args).await;
        assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
        assert!(
            stderr(&refused).contains(&format!("a scheduled backup is running (Job {running})")),
            "{}",
            stderr(&refused)
        );
    }
    env.done().await;
}

/// `backup.s3` on the real control plane: a missing Secret or key is refused
/// before anything is written, naming the key; no backup volume is made (not
/// even for the schedule, whose CronJob uploads and keeps on S3); a backup's
/// record says where it went, and a restore and a delete find it there. No S3
/// service is reachable from the simulated node, whose containers never run:
/// the S3 steps run for real against a signing S3 in `tests/backup_scripts.rs`.
#[tokio::test]
async fn backups_to_s3_need_their_keys_first_and_are_recorded_with_where_they_went() {
    let env = Env::new("backup-s3").await;
    let s3 = [
        "--set",
        "backup.s3.bucket=stack-backups",
        "--set",
        "backup.s3.endpoint=http://minio.storage:9000",
        "--set",
        "backup.s3.existingSecret=s3-keys",
        "--set",
        "backup.schedule=0 3 * * *",
    ];
    let install = |extra: &'static [&'static str]| {
        let mut a = vec!["install", "cv", "--profile", "minimal", "--skip-tests"];
        a.extend(s3);
        a.extend(extra);
        a
    };
    let refused = env.run(&install(&[])).await;
    assert_ne!(refused.status.code(), Some(0));
    assert!(
        stderr(&refused).contains("backup.s3.existingSecret: Secret")
            && stderr(&refused).contains("s3-keys does not exist"),
        "{}",
        stderr(&refused)
    );
    env.assert_nothing_written("cv").await;

    let secrets = Api::<Secret>::namespaced(env.client.clone(), &env.ns);
    let keys = |pairs: &[(&str, &str)]| -> Secret {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s3-keys"},
            "stringData": pairs.iter().copied().collect::<std::collections::BTreeMap<_, _>>(),
        }))
        .unwrap()
    };
    secrets
        .create(
            &PostParams::default(),
            &keys(&[("AWS_ACCESS_KEY_ID", "AKIA")]),
        )
        .await
        .unwrap();
    let half = env.run(&install(&[])).await;
    assert!(
        stderr(&half).contains("s3-keys has no key AWS_SECRET_ACCESS_KEY"),
        "{}",
        stderr(&half)
    );
    env.assert_nothing_written("cv").await;
    secrets
        .replace("s3-keys", &PostParams::default(), &keys(BOTH_KEYS))
        .await
        .unwrap();
    env.ok(&install(&[])).await;

    // The schedule uploads and keeps on S3; nothing needs the volume.
    let cron = cronjobs(&env).get("cv-backup").await.unwrap();
    let pod = &cron.data["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["name"], "backup-keep");
    assert!(
        pod["containers"][0]["image"]
            .as_str()
            .unwrap()
            .starts_with("curlimages/curl:"),
        "{pod}"
    );
    assert!(pod["volumes"][0]["emptyDir"].is_object(), "{pod}");
    let claims = Api::<PersistentVolumeClaim>::namespaced(env.client.clone(), &env.ns);
    assert!(claims.get_opt("cv-backups").await.unwrap().is_none());

    let line = format!(r#"{{"file":"mysql.sql.gz","bytes":2048,"sha256":"{SHA}"}}"#);
    let rule = format!(
        "{{pods: 'cv-backup-2*', fault: message, messages: {{backup-mysql: '{line}', backup-upload: uploaded}}}}"
    );
    env.faults(&[("result", rule.as_str())]).await;
    let out = env.ok(&["backup", "create", "cv"]).await;
    let name_line = stdout(&out);
    assert!(
        name_line.contains(&format!(
            "in http://minio.storage:9000/stack-backups/{}/cv/",
            env.ns
        )),
        "{name_line}"
    );
    assert!(claims.get_opt("cv-backups").await.unwrap().is_none());
    let backups = listed(&env).await;
    assert_eq!(backups.len(), 1, "{backups:?}");
    let b: Backup = serde_json::from_value(backups[0].clone()).unwrap();
    assert_eq!(b.status, BackupStatus::Complete, "{}", b.message);
    let target = b.s3.clone().expect("recorded as in S3");
    assert_eq!(target.url, "http://minio.storage:9000/stack-backups");
    assert_eq!(target.secret, "s3-keys");
    let list = env.ok(&["backup", "list", "cv"]).await;
    assert!(stdout(&list).contains(" s3 "), "{}", stdout(&list));

    // Downloaded: the pod fetches the files from S3 first (its keys mounted as
    // for every S3 step), then serves them through exec.
    let (served, dump, _) = served_backup(&env, &rule, &line).await;
    let local = tempfile::tempdir().unwrap();
    let got = env
        .ok(&[
            "backup",
            "download",
            &served,
            &local.path().display().to_string(),
            "--release",
            "cv",
        ])
        .await;
    assert!(
        stderr(&got).contains(&format!("pod cv-backup-download-{served} holds backup")),
        "{}",
        stderr(&got)
    );
    assert_eq!(
        std::fs::read_to_string(local.path().join(&served).join("mysql.sql.gz")).unwrap(),
        dump
    );
    env.clear_faults().await;
    env.faults(&[("result", rule.as_str())]).await;
    env.ok(&["backup", "delete", &served, "--release", "cv"])
        .await;

    // A restore reads it from S3 (its keys checked first), its safety backup
    // goes there too; a delete removes it.
    env.ok(&["backup", "restore", &b.name, "--release", "cv", "--yes"])
        .await;
    let after = listed(&env).await;
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after.iter().all(|b| b["s3"]["secret"] == "s3-keys"),
        "{after:?}"
    );
    env.ok(&["backup", "delete", &b.name, "--release", "cv"])
        .await;
    assert_eq!(listed(&env).await.len(), 1);

    let safety = after[1]["name"].as_str().unwrap();

    // Disaster recovery: a release in another namespace (or cluster) with the
    // same bucket restores a backup whose record it never had, from the
    // manifest uploaded with it, read by a Job of its own.
    let dr = Env::new("backup-s3-dr").await;
    Api::<Secret>::namespaced(dr.client.clone(), &dr.ns)
        .create(&PostParams::default(), &keys(BOTH_KEYS))
        .await
        .unwrap();
    dr.ok(&install(&[])).await;
    let manifest = format!(
        r#"{{"backup":{{"name":"{safety}","release":"cv","namespace":"{}","stack":"clickvisual","revision":1,"scheduled":false,"components":[{{"component":"mysql","file":"mysql.sql.gz","version":"8.4","restorable":true}}]}},"files":[{{"file":"mysql.sql.gz","bytes":2048,"sha256":"{SHA}"}}]}}"#,
        env.ns
    );
    let read = format!(
        "{{pods: 'cv-backup-read-2*', fault: message, messages: {{backup-manifest: '{manifest}'}}}}"
    );
    let missing = "{pods: 'cv-backup-read-1*', fault: exit-code, exitCode: 1}";
    dr.faults(&[
        ("result", rule.as_str()),
        ("read", read.as_str()),
        ("missing", missing),
    ])
    .await;
    let from = format!("{}/cv", env.ns);
    let out = dr
        .ok(&[
            "backup",
            "restore",
            safety,
            "--release",
            "cv",
            "--from",
            &from,
            "--yes",
        ])
        .await;
    assert!(
        stderr(&out).contains(&format!("restored mysql from {safety}")),
        "{}",
        stderr(&out)
    );
    // Its own safety backup is its only record; the manifest's Job is gone.
    let own = listed(&dr).await;
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(own[0]["namespace"], dr.ns.as_str());
    let reads = Api::<Job>::namespaced(dr.client.clone(), &dr.ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(
        reads.items.iter().all(|j| {
            !j.metadata
                .name
                .as_deref()
                .unwrap_or("")
                .starts_with("cv-backup-read-")
                || j.metadata.deletion_timestamp.is_some()
        }),
        "the manifest's Job is left"
    );
    let nothing = dr
        .run(&[
            "backup",
            "restore",
            "19990101-000000",
            "--release",
            "cv",
            "--from",
            &from,
            "--yes",
        ])
        .await;
    assert_eq!(nothing.status.code(), Some(2), "{}", stderr(&nothing));
    assert!(
        stderr(&nothing).contains(&format!(
            "no backup 19990101-000000 at http://minio.storage:9000/stack-backups/{}/cv/19990101-000000/",
            env.ns
        )),
        "{}",
        stderr(&nothing)
    );
    dr.ok(&["uninstall", "cv", "--purge-backups", "--yes"])
        .await;
    dr.done().await;

    // Keys gone: refused before the apps stop.
    secrets
        .delete("s3-keys", &DeleteParams::default())
        .await
        .unwrap();
    let no_keys = env
        .run(&["backup", "restore", safety, "--release", "cv", "--yes"])
        .await;
    assert!(
        stderr(&no_keys).contains("s3-keys does not exist"),
        "{}",
        stderr(&no_keys)
    );
    let apps = Api::<Deployment>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(
        apps.items
            .iter()
            .all(|d| d.spec.as_ref().and_then(|s| s.replicas) != Some(0)),
        "nothing was stopped"
    );
    // Purging empties the release's prefix in the bucket by a Job, which
    // needs the keys: without them nothing is deleted, the release included.
    purge_fails(&env, "s3-keys does not exist", 1).await;
    assert!(
        Api::<Deployment>::namespaced(env.client.clone(), &env.ns)
            .get_opt("cv-clickvisual")
            .await
            .unwrap()
            .is_some(),
        "the release was not touched"
    );
    secrets
        .create(&PostParams::default(), &keys(BOTH_KEYS))
        .await
        .unwrap();
    // A purge whose Job fails keeps every record, and its Job for the log; the
    // next one replaces that Job.
    env.clear_faults().await;
    env.faults(&[(
        "purge",
        "{pods: 'cv-backup-purge-*', fault: exit-code, exitCode: 1}",
    )])
    .await;
    purge_fails(&env, "the backup records are kept", 1).await;
    let jobs = Api::<Job>::namespaced(env.client.clone(), &env.ns);
    assert!(jobs.get_opt("cv-backup-purge").await.unwrap().is_some());
    env.clear_faults().await;
    let purged = env
        .ok(&["uninstall", "cv", "--purge-backups", "--yes"])
        .await;
    assert!(
        stderr(&purged).contains(&format!(
            "deleted the backups in http://minio.storage:9000/stack-backups/{}/cv/",
            env.ns
        )),
        "{}",
        stderr(&purged)
    );
    assert!(
        stderr(&purged).contains("deleted 1 backup records"),
        "{}",
        stderr(&purged)
    );
    env.done().await;
}

/// `aiops-minimal` as release `ops`, every pod of it on `simnode-1`.
async fn install_ops_on_node_1(env: &Env) {
    env.ok(&[
        "install",
        "ops",
        "--profile",
        "aiops-minimal",
        "--allow-unsupported-kubernetes",
        "--skip-tests",
        "--set",
        r"global.nodeSelector.kubernetes\.io/hostname=simnode-1",
        "--set",
        "elasticsearch.snapshots.enabled=true",
    ])
    .await;
}

/// A copy whose pod would mount two volumes no node holds together is refused
/// before the component is stopped, naming both and the way out. Made so: the
/// backup volume is first bound on `simnode-2` by a pod of the test's, the
/// release's volumes on `simnode-1`.
#[tokio::test]
async fn a_copy_no_node_can_mount_is_refused_before_anything_stops() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::Pod;
    let env = Env::new("grafana-apart").await;
    let claims = Api::<PersistentVolumeClaim>::namespaced(env.client.clone(), &env.ns);
    let claim: PersistentVolumeClaim = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "ops-backups", "labels": {"stackctl.dev/backup-of": "ops"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }))
    .unwrap();
    claims.create(&PostParams::default(), &claim).await.unwrap();
    let pods = Api::<Pod>::namespaced(env.client.clone(), &env.ns);
    let binder: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "bind-backups"},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": "simnode-2"},
            "containers": [{"name": "c", "image": "busybox:1.36"}],
            "volumes": [{"name": "b", "persistentVolumeClaim": {"claimName": "ops-backups"}}],
        },
    }))
    .unwrap();
    pods.create(&PostParams::default(), &binder).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while claims
        .get("ops-backups")
        .await
        .unwrap()
        .spec
        .and_then(|s| s.volume_name)
        .is_none()
    {
        assert!(tokio::time::Instant::now() < deadline, "never bound");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    pods.delete("bind-backups", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    install_ops_on_node_1(&env).await;
    let refused = env.run(&["backup", "create", "ops"]).await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let err = stderr(&refused);
    assert!(
        err.contains(
            "no node can mount both the backup volume ops-backups and the volume of grafana"
        ),
        "{err}"
    );
    assert!(err.contains("nothing was stopped"), "{err}");
    assert!(!err.contains("stopping grafana"), "{err}");
    let grafana = Api::<StatefulSet>::namespaced(env.client.clone(), &env.ns)
        .get("ops-grafana")
        .await
        .unwrap();
    assert_eq!(grafana.spec.unwrap().replicas, Some(1), "never scaled");
    common::drop_namespace(&env.client, &env.ns).await;
}

/// The first object named `prefix…` in `api`'s namespace, listed every 100 ms
/// for at most `within` (a failed test when none comes), with everything the
/// same list held: what else existed at that moment.
async fn first_named<K>(api: &Api<K>, prefix: &str, within: std::time::Duration) -> (K, Vec<K>)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let all = api.list(&ListParams::default()).await.unwrap().items;
        if let Some(found) = all.iter().find(|o| {
            o.meta()
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with(prefix))
        }) {
            return (found.clone(), all);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing named {prefix}… appeared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// What was there when the first pod named `prefix…` appeared, while `args` ran:
/// the command's output, that pod, and Grafana's StatefulSet's replicas and
/// whether its pod 0 existed then.
async fn observed_while(
    env: &Env,
    args: &[&str],
    prefix: &str,
) -> (
    std::process::Output,
    k8s_openapi::api::core::v1::Pod,
    Option<i32>,
    bool,
) {
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::core::v1::Pod;
    let pods = Api::<Pod>::namespaced(env.client.clone(), &env.ns);
    let sets = Api::<StatefulSet>::namespaced(env.client.clone(), &env.ns);
    let watch = async {
        let (pod, all) = first_named(&pods, prefix, std::time::Duration::from_secs(180)).await;
        let grafana = sets.get("ops-grafana").await.unwrap();
        let running = all
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some("ops-grafana-0"));
        (pod, grafana.spec.unwrap().replicas, running)
    };
    let (out, (pod, replicas, running)) = tokio::join!(env.run(args), watch);
    (out, pod, replicas, running)
}

/// `args` run with `rule` and a main step that lasts, interrupted by SIGINT
/// once the first pod named `prefix…` exists: the output, and that pod's name.
async fn interrupted(
    env: &Env,
    rule: &str,
    args: &[&str],
    prefix: &str,
) -> (std::process::Output, String) {
    use k8s_openapi::api::core::v1::Pod;
    env.clear_faults().await;
    let lasting =
        format!("{{pods: '{prefix}*', fault: slow, delaySeconds: 120, containers: '*-done'}}");
    env.faults(&[("result", rule), ("slow", lasting.as_str())])
        .await;
    // Backups are named by the second.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let child = env
        .command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pods = Api::<Pod>::namespaced(env.client.clone(), &env.ns);
    let (pod, _) = first_named(&pods, prefix, std::time::Duration::from_secs(120)).await;
    let pod = pod.metadata.name.unwrap_or_default();
    std::process::Command::new("kill")
        .args(["-INT", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    (child.wait_with_output().await.unwrap(), pod)
}

/// The claim a pod mounts as volume `name`: its name and whether read-only.
fn claim_of(pod: &k8s_openapi::api::core::v1::Pod, name: &str) -> (String, bool) {
    let volumes = pod
        .spec
        .as_ref()
        .unwrap()
        .volumes
        .clone()
        .unwrap_or_default();
    let v = volumes
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no volume {name}"));
    let claim = v.persistent_volume_claim.as_ref().unwrap();
    (claim.claim_name.clone(), claim.read_only == Some(true))
}

/// Grafana's SQLite database (and, on request, Prometheus' TSDB) is copied
/// from its own volume with Grafana stopped: the backup's pod mounts Grafana's claim read-only while its
/// StatefulSet is at zero, and Grafana is back and ready afterwards; a schedule
/// leaves it out (a CronJob cannot stop it) and says so; a restore writes into
/// the claim while the apps are stopped. What this cannot prove: that a real
/// node refuses a second attachment of a ReadWriteOnce volume (the simulated
/// node does not), which is why Grafana is stopped first.
#[tokio::test]
async fn grafana_is_stopped_for_the_copy_of_its_volume_and_restored_into_it() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    let env = Env::new("grafana-backup").await;
    let sets = Api::<StatefulSet>::namespaced(env.client.clone(), &env.ns);
    // One node for every pod: the volumes (local to a node on the simulated
    // one) and the backup volume all end there, as one zone would hold them.
    install_ops_on_node_1(&env).await;
    let line = |file: &str| format!(r#"{{"file":"{file}","bytes":2048,"sha256":"{SHA}"}}"#);
    let rule = format!(
        "{{pods: 'ops-backup-*', fault: message, messages: {{backup-postgresql: '{}', backup-redis: '{}', backup-grafana: '{}', backup-prometheus: '{}', backup-elasticsearch: '{}', backup-done: listed}}}}",
        line("postgresql.dump"),
        line("redis.rdb"),
        line("grafana.tar.gz"),
        line("prometheus.tar.gz"),
        line("elasticsearch.tar.gz"),
    );
    // Each copy's pod lives a few seconds: time to look at it.
    let slow = "{pods: 'ops-*', fault: slow, delaySeconds: 3, containers: '*-done'}";
    env.faults(&[("result", rule.as_str()), ("slow", slow)])
        .await;

    let (out, pod, replicas, running) =
        observed_while(&env, &["backup", "create", "ops"], "ops-backup-").await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(replicas, Some(0), "Grafana was scaled to zero first");
    assert!(!running, "Grafana's pod was gone before the copy started");
    assert_eq!(
        claim_of(&pod, "grafana-data"),
        ("data-ops-grafana-0".to_string(), true)
    );
    let err = stderr(&out);
    assert!(
        err.contains("stopping grafana for the copy of its volume"),
        "{err}"
    );
    assert!(err.contains("grafana was stopped for"), "{err}");
    assert!(
        err.contains("the backup of grafana is experimental"),
        "{err}"
    );
    let grafana = sets.get("ops-grafana").await.unwrap();
    assert_eq!(grafana.spec.unwrap().replicas, Some(1));
    assert_eq!(
        grafana.status.unwrap().ready_replicas,
        Some(1),
        "back, ready"
    );
    let out = env.ok(&["backup", "list", "ops", "-o", "json"]).await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = &v["backups"][0];
    assert_eq!(b["status"], "complete");
    let parts: Vec<&str> = b["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["component"].as_str().unwrap())
        .collect();
    assert!(parts.contains(&"grafana"), "{parts:?}");
    let name = b["name"].as_str().unwrap().to_string();

    // A schedule takes Grafana too, which its step stops itself.
    let out = env
        .ok(&[
            "upgrade",
            "ops",
            "--set",
            "backup.schedule=@daily",
            "--allow-unsupported-kubernetes",
            "--skip-tests",
        ])
        .await;
    assert!(
        stdout(&out)
            .contains("grafana stopped for the copy of its volume at each scheduled backup"),
        "{}",
        stdout(&out)
    );
    let cron = cronjobs(&env).get("ops-backup").await.unwrap();
    let steps: Vec<&str> =
        cron.data["spec"]["jobTemplate"]["spec"]["template"]["spec"]["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
    assert!(steps.contains(&"backup-postgresql"), "{steps:?}");
    assert_eq!(steps.last(), Some(&"backup-grafana"), "{steps:?}");
    scheduled_grafana_step_stops_it_through_the_api(&env).await;

    // The restore: a safety backup (Grafana stopped for it too), the apps
    // stopped, the claim written.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (out, pod, replicas, running) = observed_while(
        &env,
        &[
            "backup",
            "restore",
            &name,
            "--release",
            "ops",
            "--component",
            "grafana",
            "--yes",
        ],
        "ops-restore-",
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(replicas, Some(0));
    assert!(!running);
    assert_eq!(
        claim_of(&pod, "grafana-data"),
        ("data-ops-grafana-0".to_string(), false)
    );
    let err = stderr(&out);
    assert!(err.contains("safety backup"), "{err}");
    assert!(err.contains("stopping the apps"), "{err}");
    assert!(
        err.contains("Grafana's users and their passwords are those of the backup"),
        "{err}"
    );
    let grafana = sets.get("ops-grafana").await.unwrap();
    assert_eq!(grafana.status.unwrap().ready_replicas, Some(1));

    // Ctrl-C while the copy runs: the Job's pod killed, Grafana back, the
    // backup recorded as failed; exit 130.
    let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(env.client.clone(), &env.ns);
    let (out, copier) = interrupted(&env, &rule, &["backup", "create", "ops"], "ops-backup-").await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted by the user (Ctrl-C)"), "{err}");
    assert!(err.contains("grafana started again"), "{err}");
    assert!(
        pods.get_opt(&copier).await.unwrap().is_none(),
        "the copy's pod is gone"
    );
    let grafana = sets.get("ops-grafana").await.unwrap();
    assert_eq!(grafana.spec.unwrap().replicas, Some(1));
    assert_eq!(grafana.status.unwrap().ready_replicas, Some(1));
    let out = env.ok(&["backup", "list", "ops", "-o", "json"]).await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let last = v["backups"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["status"], "failed");
    assert!(
        last["message"].as_str().unwrap().contains("interrupted"),
        "{last}"
    );
    // Ctrl-C while a restore's Job runs: its pod killed, the apps back, 130.
    let restore = [
        "backup",
        "restore",
        &name,
        "--release",
        "ops",
        "--component",
        "grafana",
        "--yes",
    ];
    let (out, restorer) = interrupted(&env, &rule, &restore, "ops-restore-").await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("restore the safety backup"), "{err}");
    assert!(err.contains("was stopped"), "{err}");
    assert!(
        pods.get_opt(&restorer).await.unwrap().is_none(),
        "the restore's pod was killed before the apps came back"
    );
    let grafana = sets.get("ops-grafana").await.unwrap();
    assert_eq!(grafana.status.unwrap().ready_replicas, Some(1));
    env.clear_faults().await;
    env.faults(&[("result", rule.as_str()), ("slow", slow)])
        .await;

    // Prometheus, on request only, the same way; the schedule is suspended
    // meanwhile (a run would stop and start components itself), then resumed.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let watch = async {
        let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(env.client.clone(), &env.ns);
        first_named(&pods, "ops-backup-", std::time::Duration::from_secs(180)).await;
        let cron = cronjobs(&env).get("ops-backup").await.unwrap();
        cron.data["spec"]["suspend"].as_bool()
    };
    let (out, suspended) = tokio::join!(
        env.run(&["backup", "create", "ops", "--component", "prometheus"]),
        watch
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        suspended,
        Some(true),
        "suspended while Prometheus is copied"
    );
    let cron = cronjobs(&env).get("ops-backup").await.unwrap();
    assert_eq!(cron.data["spec"]["suspend"], false, "resumed");
    let err = stderr(&out);
    assert!(
        err.contains("stopping prometheus for the copy of its volume"),
        "{err}"
    );
    assert!(
        err.contains("the backup of prometheus is experimental"),
        "{err}"
    );
    assert!(stdout(&out).contains("complete"), "{}", stdout(&out));
    let prometheus = sets.get("ops-prometheus").await.unwrap();
    assert_eq!(prometheus.status.unwrap().ready_replicas, Some(1));

    // Elasticsearch, on request: snapshotted by the running cluster into the
    // repository volume its node mounts (`elasticsearch.snapshots`), which the
    // step's pod mounts read-only beside it; nothing is stopped.
    let es = sets.get("ops-elasticsearch").await.unwrap();
    let template = es.spec.unwrap().template.spec.unwrap();
    let repository = template
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find_map(|v| v.persistent_volume_claim.map(|c| c.claim_name));
    assert_eq!(repository.as_deref(), Some("ops-elasticsearch-snapshots"));
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (out, pod, _, _) = observed_while(
        &env,
        &["backup", "create", "ops", "--component", "elasticsearch"],
        "ops-backup-",
    )
    .await;
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("stopping"), "{err}");
    assert!(
        err.contains("the backup of elasticsearch is experimental"),
        "{err}"
    );
    assert_eq!(
        claim_of(&pod, "elasticsearch-data"),
        ("ops-elasticsearch-snapshots".to_string(), true)
    );
    let beside = pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .clone()
        })
        .unwrap_or_default();
    assert_eq!(beside.len(), 1, "{beside:?}");
    let labels = beside[0]
        .label_selector
        .as_ref()
        .and_then(|l| l.match_labels.clone())
        .unwrap_or_default();
    assert_eq!(labels["app.kubernetes.io/name"], "elasticsearch");
    assert_eq!(beside[0].topology_key, "kubernetes.io/hostname");
    let v: Value = serde_json::from_slice(
        &env.ok(&["backup", "list", "ops", "-o", "json"])
            .await
            .stdout,
    )
    .unwrap();
    let taken = v["backups"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(taken["status"], "complete", "{taken}");
    assert_eq!(taken["components"][0]["component"], "elasticsearch");
    assert_eq!(taken["components"][0]["version"], "8.19.2");
    let es_backup = taken["name"].as_str().unwrap().to_string();
    // Restored into the repository (writable then) with the apps stopped.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let (out, pod, _, _) = observed_while(
        &env,
        &[
            "backup",
            "restore",
            &es_backup,
            "--release",
            "ops",
            "--component",
            "elasticsearch",
            "--yes",
        ],
        "ops-restore-",
    )
    .await;
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("safety backup"), "{err}");
    assert!(err.contains("stopping the apps"), "{err}");
    assert_eq!(
        claim_of(&pod, "elasticsearch-data"),
        ("ops-elasticsearch-snapshots".to_string(), false)
    );
    let es = sets.get("ops-elasticsearch").await.unwrap();
    assert_eq!(es.status.unwrap().ready_replicas, Some(1));
    common::drop_namespace(&env.client, &env.ns).await;
}

/// The scheduled Grafana step's script (`stopped_through_api`), run here
/// against the test cluster's API server with a token of the release's backup
/// ServiceAccount: the real RBAC and the real StatefulSet controller. It scales
/// Grafana to zero, copies once the pod is gone (the copy itself asks the API),
/// and scales it back, also when the copy fails; the account may scale nothing
/// else. What this cannot prove: the kubelet's `KUBERNETES_SERVICE_*` variables
/// and curl in Grafana's image (set here by hand, and Debian's curl).
async fn scheduled_grafana_step_stops_it_through_the_api(env: &Env) {
    use base64::Engine as _;
    use k8s_openapi::api::apps::v1::StatefulSet;
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    let accounts = Api::<ServiceAccount>::namespaced(env.client.clone(), &env.ns);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: Vec::new(),
            expiration_seconds: Some(600),
            ..Default::default()
        },
        ..Default::default()
    };
    let token: TokenRequest = accounts
        .create_subresource("token", "ops-backup", &PostParams::default(), &request)
        .await
        .expect("the backup ServiceAccount exists once a schedule stops Grafana");
    let dir = tempfile::tempdir().unwrap();
    let api = dir.path().join("api");
    std::fs::create_dir(&api).unwrap();
    std::fs::write(api.join("token"), token.status.unwrap().token).unwrap();
    let config = kube::config::Kubeconfig::read_from(&env.kubeconfig).unwrap();
    let cluster = config.clusters[0].cluster.clone().unwrap();
    let ca = cluster.certificate_authority_data.unwrap();
    let ca = base64::engine::general_purpose::STANDARD
        .decode(ca)
        .unwrap();
    std::fs::write(api.join("ca.crt"), ca).unwrap();
    let server = cluster.server.unwrap();
    let (host, port) = server
        .trim_start_matches("https://")
        .rsplit_once(':')
        .unwrap();
    let data = dir.path().join("grafana");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(
        data.join("grafana.db"),
        b"SQLite format 3\0rest of the file",
    )
    .unwrap();
    let out = dir.path().join("backups/grafana.tar.gz");
    let api_dir = api.display().to_string();
    // The copy checks that Grafana's pod is gone when it runs.
    let gone = format!(
        "code=$(curl -sS -o /dev/null -w '%{{http_code}}' -H \"Authorization: Bearer $(cat {api_dir}/token)\" --cacert {api_dir}/ca.crt \"https://{host}:{port}/api/v1/namespaces/{}/pods/ops-grafana-0\"); [ \"$code\" = 404 ] || {{ echo \"pod ops-grafana-0: $code\" >&2; exit 1; }}\n",
        env.ns
    );
    let copy = format!("{gone}{}", stackctl::stacks::backup_scripts::sqlite_dump());
    let (data_dir, out_file) = (data.display().to_string(), out.display().to_string());
    let run = |statefulset: &str, copy: &str| {
        local::run(
            &stackctl::stacks::backup_scripts::stopped_through_api(),
            &[
                ("KUBERNETES_SERVICE_HOST", host),
                ("KUBERNETES_SERVICE_PORT", port),
                ("API_DIR", &api_dir),
                ("NAMESPACE", &env.ns),
                ("STATEFULSET", statefulset),
                ("POD", &format!("{statefulset}-0")),
                ("REPLICAS", "1"),
                ("WAIT_SECONDS", "60"),
                ("WHAT", "grafana"),
                ("COPY", copy),
                ("DATA", &data_dir),
                ("DB", "grafana.db"),
                ("OUT", &out_file),
            ],
        )
    };
    let sets = Api::<StatefulSet>::namespaced(env.client.clone(), &env.ns);
    let ready = || async {
        for _ in 0..120 {
            let g = sets.get("ops-grafana").await.unwrap();
            if g.status.and_then(|s| s.ready_replicas) == Some(1) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        false
    };
    let copied = run("ops-grafana", &copy);
    let said = local::stdout(&copied);
    assert!(copied.status.success(), "{said}{}", local::stderr(&copied));
    assert!(said.contains("stopping grafana"), "{said}");
    assert!(said.contains("\"file\":\"grafana.tar.gz\""), "{said}");
    assert!(said.contains("grafana started again (1)"), "{said}");
    assert!(out.exists());
    assert!(ready().await, "Grafana is back and ready");
    // A copy that fails: Grafana back all the same, the step failed.
    let failed = run("ops-grafana", "echo copy broke >&2; exit 3");
    assert_eq!(failed.status.code(), Some(3));
    assert!(local::stdout(&failed).contains("grafana started again"));
    assert!(ready().await, "Grafana is back after a failed copy");
    // Grafana cannot be brought back (here: a replica count the server
    // refuses): the step fails, saying so, after a few tries.
    let stuck = local::run(
        &stackctl::stacks::backup_scripts::stopped_through_api(),
        &[
            ("KUBERNETES_SERVICE_HOST", host),
            ("KUBERNETES_SERVICE_PORT", port),
            ("API_DIR", &api_dir),
            ("NAMESPACE", &env.ns),
            ("STATEFULSET", "ops-grafana"),
            ("POD", "ops-grafana-0"),
            ("REPLICAS", "one"),
            ("WAIT_SECONDS", "60"),
            ("WHAT", "grafana"),
            ("COPY", "true"),
        ],
    );
    assert_eq!(stuck.status.code(), Some(1));
    assert!(
        local::stderr(&stuck).contains("grafana is left stopped"),
        "{}",
        local::stderr(&stuck)
    );
    sets.patch(
        "ops-grafana",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    assert!(ready().await);
    // The account scales Grafana alone.
    let refused = run("ops-prometheus", &copy);
    assert!(!refused.status.success());
    assert!(
        local::stderr(&refused).contains("HTTP 403"),
        "{}",
        local::stderr(&refused)
    );
    let prometheus = sets.get("ops-prometheus").await.unwrap();
    assert_eq!(prometheus.spec.unwrap().replicas, Some(1), "untouched");
}

/// `backup upload`: a backup downloaded from a release (its files and
/// `stackctl.json`) goes into a release of another namespace through the API
/// server's exec (stdin), checked there, and is recorded: listed, downloadable
/// from that release's volume byte for byte (the simulated node keeps what an
/// upload writes as the files of the claim mounted there), and restorable. A
/// changed file is refused before anything is written; a name the release has
/// already is refused. What this cannot prove: a real kubelet's `head` and
/// `sha256sum` (the simulated node answers those commands by their shape).
#[tokio::test]
async fn a_downloaded_backup_uploads_into_another_namespace_and_restores_there() {
    let from = Env::new("upload-from").await;
    let to = Env::new("upload-to").await;
    let install = ["install", "cv", "--profile", "minimal", "--skip-tests"];
    tokio::join!(from.ok(&install), to.ok(&install));
    let line = format!(r#"{{"file":"mysql.sql.gz","bytes":2048,"sha256":"{SHA}"}}"#);
    let rule = format!(
        "{{pods: 'cv-backup-*', fault: message, messages: {{backup-mysql: '{line}', backup-done: listed}}}}"
    );
    from.faults(&[("result", rule.as_str())]).await;
    let (name, dump, sha) = served_backup(&from, &rule, &line).await;
    let local = tempfile::tempdir().unwrap();
    let root = local.path().display().to_string();
    from.ok(&["backup", "download", &name, &root, "--release", "cv"])
        .await;
    let dir = local.path().join(&name);
    assert!(
        dir.join("stackctl.json").is_file(),
        "the manifest comes along"
    );
    let dir_arg = dir.display().to_string();

    // A file that is not the one backed up: refused, nothing written.
    let tampered_root = tempfile::tempdir().unwrap();
    let tampered = tampered_root.path().join(&name);
    std::fs::create_dir(&tampered).unwrap();
    for f in ["mysql.sql.gz", "stackctl.json"] {
        std::fs::copy(dir.join(f), tampered.join(f)).unwrap();
    }
    std::fs::write(tampered.join("mysql.sql.gz"), dump.replace('1', "2")).unwrap();
    let refused = to
        .run(&[
            "backup",
            "upload",
            &tampered.display().to_string(),
            "--release",
            "cv",
        ])
        .await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("is not the file that was backed up"),
        "{}",
        stderr(&refused)
    );
    let claims = Api::<PersistentVolumeClaim>::namespaced(to.client.clone(), &to.ns);
    assert!(
        claims.get_opt("cv-backups").await.unwrap().is_none(),
        "nothing written"
    );

    let out = to
        .ok(&["backup", "upload", &dir_arg, "--release", "cv"])
        .await;
    assert!(stdout(&out).contains(&name), "{}", stdout(&out));
    let backups = listed(&to).await;
    assert_eq!(backups.len(), 1, "{backups:?}");
    let b = &backups[0];
    assert_eq!(b["name"], name.as_str());
    assert_eq!(b["status"], "complete");
    assert_eq!(b["release"], "cv");
    assert_eq!(b["namespace"], to.ns.as_str());
    assert_eq!(b["components"][0]["sha256"], sha.as_str());
    assert!(
        b["message"].as_str().unwrap().contains("uploaded from"),
        "{b}"
    );
    let again = to
        .run(&["backup", "upload", &dir_arg, "--release", "cv"])
        .await;
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("has a backup"),
        "{}",
        stderr(&again)
    );

    // The bytes are on this release's volume: downloaded back, as sent.
    let back = tempfile::tempdir().unwrap();
    to.ok(&[
        "backup",
        "download",
        &name,
        &back.path().display().to_string(),
        "--release",
        "cv",
    ])
    .await;
    assert_eq!(
        std::fs::read_to_string(back.path().join(&name).join("mysql.sql.gz")).unwrap(),
        dump
    );

    // And restored like any backup of this release.
    to.faults(&[("result", rule.as_str())]).await;
    let restored = to
        .ok(&["backup", "restore", &name, "--release", "cv", "--yes"])
        .await;
    assert!(
        stderr(&restored).contains(&format!("restoring mysql from {name}")),
        "{}",
        stderr(&restored)
    );
    common::drop_namespace(&from.client, &from.ns).await;
    common::drop_namespace(&to.client, &to.ns).await;
}
