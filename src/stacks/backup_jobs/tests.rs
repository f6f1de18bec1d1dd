use super::*;
use crate::model::{CredentialFile, RELEASE_LABEL, Step};

fn release() -> Release {
    Release {
        name: "cv".into(),
        namespace: "logs".into(),
        stack: "clickvisual",
        revision: 2,
    }
}

fn spec(component: &str, file: &str) -> BackupSpec {
    BackupSpec {
        component: component.into(),
        image: format!("{component}:1"),
        pull_policy: "IfNotPresent".into(),
        file: file.into(),
        dump: Step {
            script: "dump".into(),
            env: vec![("HOST".into(), format!("cv-{component}"))],
            credentials: vec![CredentialFile {
                env: "PASSWORD_FILE".into(),
                secret: format!("cv-{component}-credentials"),
                key: "password".into(),
            }],
        },
        default: true,
        version: "1".into(),
        image_pull_secrets: vec!["regcred".into()],
        ..BackupSpec::default()
    }
}

/// A container's env as name → value.
fn env_of(c: &Value) -> std::collections::BTreeMap<&str, &str> {
    c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect()
}

fn value(job: &Job) -> Value {
    serde_json::to_value(job).unwrap()
}

#[test]
fn one_pod_dumps_each_component_in_its_own_image_to_the_volume() {
    let (m, r) = (spec("mysql", "mysql.sql.gz"), spec("redis", "redis.rdb"));
    let job = value(
        &backup_job(
            &release(),
            "20261130-203000",
            &[&m, &r],
            Duration::from_secs(600),
        )
        .unwrap(),
    );
    assert_eq!(job["metadata"]["name"], "cv-backup-20261130-203000");
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 600);
    let pod = &job["spec"]["template"]["spec"];
    let init = pod["initContainers"].as_array().unwrap();
    assert_eq!(init.len(), 2);
    for (c, (name, file)) in init
        .iter()
        .zip([("mysql", "mysql.sql.gz"), ("redis", "redis.rdb")])
    {
        assert_eq!(c["name"], format!("backup-{name}"));
        assert_eq!(c["image"], format!("{name}:1"));
        assert_eq!(c["command"], json!(["sh", "-c", "dump"]));
        let env = env_of(c);
        assert_eq!(env["OUT"], format!("/backups/20261130-203000/{file}"));
        assert_eq!(env["RESULT_FILE"], "/dev/termination-log");
        assert_eq!(env["HOST"], format!("cv-{name}"));
        // The credential is a file of a mounted Secret key, never a value.
        let path = env["PASSWORD_FILE"];
        assert_eq!(path, format!("/credentials/{name}-0/password"));
        let mount = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| {
                path.starts_with(m["mountPath"].as_str().unwrap()) && m["mountPath"] != "/tmp"
            })
            .unwrap();
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        assert_eq!(
            volume["secret"]["secretName"],
            format!("cv-{name}-credentials")
        );
        assert_eq!(
            volume["secret"]["items"][0],
            json!({"key": "password", "path": "password"})
        );
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert!(
            c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["mountPath"] == "/backups")
        );
    }
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["fsGroup"], 999);
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "regcred"}]));
    let claim = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "backups")
        .unwrap();
    assert_eq!(claim["persistentVolumeClaim"]["claimName"], "cv-backups");
    // Admitted by the stacks' NetworkPolicies as a probe is.
    let labels = &pod
        .get("labels")
        .unwrap_or(&job["spec"]["template"]["metadata"]["labels"]);
    assert_eq!(
        labels["app.kubernetes.io/name"],
        crate::model::PROBE_APP_NAME
    );
    assert_eq!(labels[BACKUP_LABEL], "20261130-203000");
}

#[test]
fn the_volume_is_no_object_of_the_release() {
    let c = serde_json::to_value(claim(&release(), "5Gi", "").unwrap()).unwrap();
    assert_eq!(c["metadata"]["name"], "cv-backups");
    assert!(c["metadata"]["labels"][RELEASE_LABEL].is_null());
    assert!(c["metadata"]["labels"]["app.kubernetes.io/instance"].is_null());
    assert_eq!(c["metadata"]["labels"][BACKUP_OF_LABEL], "cv");
    assert!(
        c["spec"]["storageClassName"].is_null(),
        "the cluster's default"
    );
    let c = serde_json::to_value(claim(&release(), "5Gi", "fast").unwrap()).unwrap();
    assert_eq!(c["spec"]["storageClassName"], "fast");
    assert_eq!(c["spec"]["resources"]["requests"]["storage"], "5Gi");
}

#[test]
fn deleting_removes_only_the_backups_directory() {
    let m = spec("mysql", "mysql.sql.gz");
    let job =
        value(&delete_job(&release(), "20261130-203000", &m, Duration::from_secs(60)).unwrap());
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["env"][0],
        json!({"name": "DIR", "value": "/backups/20261130-203000"})
    );
    assert_eq!(c["command"][2], r#"rm -rf -- "$DIR""#);
}

#[test]
fn a_restore_checks_each_file_against_its_recorded_checksum() {
    let mut m = spec("mysql", "mysql.sql.gz");
    m.restore = Some(Step {
        script: "restore".into(),
        env: vec![("PGUSER".into(), "postgres".into())],
        credentials: vec![CredentialFile {
            env: "PASSWORD_FILE".into(),
            secret: "cv-mysql-credentials".into(),
            key: "root-password".into(),
        }],
    });
    let saved = SavedFile {
        file: "mysql.sql.gz".into(),
        sha256: "ab".repeat(32),
    };
    let job = value(
        &restore_job(
            &release(),
            ("cv", "20261130-203000"),
            &[(&m, &saved)],
            Duration::from_secs(60),
        )
        .unwrap(),
    );
    assert_eq!(job["metadata"]["name"], "cv-restore-20261130-203000");
    // Another release's backup: its volume.
    let other = value(
        &restore_job(
            &release(),
            ("old", "20261130-203000"),
            &[(&m, &saved)],
            Duration::from_secs(60),
        )
        .unwrap(),
    );
    let claim = |j: &Value| {
        j["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "backups")
            .unwrap()["persistentVolumeClaim"]["claimName"]
            .clone()
    };
    assert_eq!(claim(&job), "cv-backups");
    assert_eq!(claim(&other), "old-backups");
    let pod = &job["spec"]["template"]["spec"];
    let c = &pod["initContainers"][0];
    assert_eq!(c["command"][2], "restore");
    let env = env_of(c);
    assert_eq!(env["IN"], "/backups/20261130-203000/mysql.sql.gz");
    assert_eq!(env["EXPECTED_SHA256"], "ab".repeat(32));
    assert_eq!(env["PGUSER"], "postgres");
    // The restore's own credential (the superuser's), not the dump's.
    assert_eq!(env["PASSWORD_FILE"], "/credentials/mysql-1/password");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "mysql-1")
        .unwrap();
    assert_eq!(volume["secret"]["items"][0]["key"], "root-password");
    let names: Vec<&str> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"mysql-0"),
        "the dump's credential is not mounted: {names:?}"
    );

    // And a backup never mounts the restore's credential.
    let job = value(&backup_job(&release(), "b", &[&m], Duration::from_secs(60)).unwrap());
    let names: Vec<String> = job["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"mysql-0".to_string()) && !names.contains(&"mysql-1".to_string()),
        "{names:?}"
    );
}
