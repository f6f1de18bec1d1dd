//! `stackctl backup` on the real control plane: the volume, the Job and its
//! credential wiring, the results read back from termination messages, the records,
//! listing and deleting, and what `uninstall` leaves. The simulated node runs no
//! container, so a `message` rule of its fault ConfigMap gives each dump container
//! the result line its script would print (the scripts run for real in
//! `tests/backup_scripts.rs`).

mod common;

use common::cli::{Env, stderr};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn listed(env: &Env) -> Vec<Value> {
    let out = env.ok(&["backup", "list", "cv", "-o", "json"]).await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["backups"].as_array().unwrap().clone()
}

const SHA: &str = "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

#[tokio::test]
async fn backups_are_taken_listed_and_deleted_and_outlive_the_release() {
    let env = Env::new("backup").await;
    env.ok(&["install", "cv", "--profile", "minimal", "--skip-tests"])
        .await;
    let line = format!(r#"{{"file":"mysql.sql.gz","bytes":2048,"sha256":"{SHA}"}}"#);
    let rule = format!(
        "{{pods: 'cv-backup-*', fault: message, messages: {{mysql: '{line}', done: listed}}}}"
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

    // Only their own flag deletes them.
    env.ok(&["install", "cv", "--profile", "minimal", "--skip-tests"])
        .await;
    let out = env
        .ok(&["uninstall", "cv", "--purge-backups", "--yes"])
        .await;
    assert!(
        stderr(&out).contains("deleted 1 backup records and the backup volume"),
        "{}",
        stderr(&out)
    );
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
