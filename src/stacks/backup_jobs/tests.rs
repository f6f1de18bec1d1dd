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

fn on_volume(release: &str) -> Place {
    Place::Volume {
        release: release.into(),
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
            ("20261130-203000", &on_volume("cv")),
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
    let job = value(
        &delete_job(
            &release(),
            ("20261130-203000", &on_volume("cv")),
            &m,
            Duration::from_secs(60),
        )
        .unwrap(),
    );
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
            ("20261130-203000", &on_volume("cv")),
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
            ("20261130-203000", &on_volume("old")),
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
    let job = value(
        &backup_job(
            &release(),
            ("b", &on_volume("cv")),
            &[&m],
            Duration::from_secs(60),
        )
        .unwrap(),
    );
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

fn on_s3() -> Place {
    Place::S3(S3Place {
        target: S3Target {
            url: "https://s3.example.com/backups".into(),
            region: "eu-west-1".into(),
            prefix: "team/".into(),
            secret: "s3-keys".into(),
            encryption: "AES256".into(),
        },
        prefix: "team/logs/cv/".into(),
        image: ("curlimages/curl:8.14.1".into(), "IfNotPresent".into()),
        scratch: "5Gi".into(),
    })
}

fn volume_named<'a>(job: &'a Value, name: &str) -> &'a Value {
    job["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

/// To S3, the dumps write to a scratch directory of the volume's size, and a
/// last step in the S3 client's image uploads it under the release's prefix,
/// with the keys from the user's Secret as files, never in the env.
#[test]
fn a_backup_to_s3_dumps_to_scratch_and_uploads_under_the_releases_prefix() {
    let m = spec("mysql", "mysql.sql.gz");
    let job = value(
        &backup_job(
            &release(),
            ("20261201-010000", &on_s3()),
            &[&m],
            Duration::from_secs(60),
        )
        .unwrap(),
    );
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(
        volume_named(&job, "backups"),
        &json!({"name": "backups", "emptyDir": {"sizeLimit": "5Gi"}}),
        "no claim: nothing of the volume is needed"
    );
    assert_eq!(
        volume_named(&job, "s3-credentials")["secret"],
        json!({
            "secretName": "s3-keys",
            "items": [
                {"key": "AWS_ACCESS_KEY_ID", "path": "AWS_ACCESS_KEY_ID"},
                {"key": "AWS_SECRET_ACCESS_KEY", "path": "AWS_SECRET_ACCESS_KEY"},
            ],
            "defaultMode": 0o440,
        })
    );
    // The dumps learn the scratch directory's limit, which `df` does not show.
    let dump = env_of(&pod["initContainers"][0]);
    assert_eq!(dump["ROOM"], (5u64 << 30).to_string());
    assert_eq!(dump["SCRATCH"], MOUNT);
    let upload = &pod["containers"][0];
    assert_eq!(upload["name"], "backup-upload");
    assert_eq!(upload["image"], "curlimages/curl:8.14.1");
    let env = env_of(upload);
    assert_eq!(env["KEY"], "team/logs/cv/20261201-010000/");
    assert_eq!(env["DIR"], "/backups/20261201-010000");
    assert_eq!(env["S3_URL"], "https://s3.example.com/backups");
    assert_eq!(env["S3_REGION"], "eu-west-1");
    assert_eq!(env["S3_SSE"], "AES256");
    assert_eq!(env["S3_CREDENTIALS"], "/credentials/s3");
    assert!(
        !serde_json::to_string(pod).unwrap().contains("secretKeyRef"),
        "the keys are files only"
    );
    // The dump itself is unchanged: into the backup's directory.
    assert_eq!(
        env_of(&pod["initContainers"][0])["OUT"],
        "/backups/20261201-010000/mysql.sql.gz"
    );
    // Only the upload step mounts the keys.
    assert!(
        !serde_json::to_string(&pod["initContainers"])
            .unwrap()
            .contains("s3-credentials")
    );
}

/// A restore from S3 downloads the backup's files first, into the directory
/// the restore steps read (and check) them from; a delete removes its prefix;
/// a scheduled run uploads and keeps the newest on S3.
#[test]
fn restore_delete_and_schedule_on_s3_reach_the_backups_prefix() {
    let mut m = spec("mysql", "mysql.sql.gz");
    m.restore = Some(Step {
        script: "restore".into(),
        ..Step::default()
    });
    let saved = SavedFile {
        file: "mysql.sql.gz".into(),
        sha256: "ab".repeat(32),
    };
    let restore = value(
        &restore_job(
            &release(),
            ("20261201-010000", &on_s3()),
            &[(&m, &saved)],
            Duration::from_secs(60),
        )
        .unwrap(),
    );
    let init = restore["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = init.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["restore-download", "restore-mysql"]);
    let env = env_of(&init[0]);
    assert_eq!(env["FILES"], "mysql.sql.gz");
    assert_eq!(env["KEY"], "team/logs/cv/20261201-010000/");
    assert_eq!(
        env_of(&init[1])["IN"],
        format!("{}/mysql.sql.gz", env["DIR"])
    );

    let delete = value(
        &delete_job(
            &release(),
            ("20261201-010000", &on_s3()),
            &m,
            Duration::from_secs(60),
        )
        .unwrap(),
    );
    let rm = &delete["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(rm["image"], "curlimages/curl:8.14.1");
    assert_eq!(env_of(rm)["KEY"], "team/logs/cv/20261201-010000/");

    // A purge empties the release's whole prefix, never more.
    let Place::S3(s3) = on_s3() else {
        unreachable!()
    };
    let purge = value(&purge_job(&release(), &s3, &m, Duration::from_secs(60)).unwrap());
    assert_eq!(purge["metadata"]["name"], "cv-backup-purge");
    let rm = &purge["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(env_of(rm)["KEY"], "team/logs/cv/");

    let template = scheduled_job_template(&release(), &[&m], 7, &on_s3());
    let keep = &template["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(keep["name"], "backup-keep");
    assert_eq!(keep["image"], "curlimages/curl:8.14.1");
    let env = env_of(keep);
    assert_eq!((env["KEY"], env["KEEP"]), ("team/logs/cv/", "7"));
    assert_eq!(
        template["spec"]["template"]["spec"]["volumes"][0]["emptyDir"]["sizeLimit"],
        "5Gi"
    );
}

/// `backup download` reads from a pod of a known name that holds the files and
/// nothing else: the volume read-only, no database credentials, a bounded life;
/// from S3, the files fetched first into its scratch directory.
#[test]
fn a_download_pod_holds_the_backup_read_only_and_ends_by_itself() {
    let m = spec("mysql", "mysql.sql.gz");
    let deadline = Duration::from_secs(600);
    let pod = download_pod(
        &release(),
        ("20261201-030000", &on_volume("cv")),
        &m,
        &["mysql.sql.gz"],
        deadline,
    )
    .unwrap();
    let v = serde_json::to_value(&pod).unwrap();
    assert_eq!(v["kind"], "Pod");
    assert_eq!(v["metadata"]["name"], "cv-backup-download-20261201-030000");
    assert_eq!(v["metadata"]["labels"][BACKUP_LABEL], "20261201-030000");
    let spec = &v["spec"];
    assert_eq!(spec["activeDeadlineSeconds"], 600);
    assert_eq!(spec["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert_eq!(spec["restartPolicy"], "Never");
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert!(spec.get("initContainers").is_none_or(|i| i == &json!([])));
    let serve = &spec["containers"][0];
    assert_eq!(serve["name"], DOWNLOAD_STEP);
    assert_eq!(serve["command"][2], "exec sleep 600");
    assert_eq!(serve["volumeMounts"][0]["mountPath"], MOUNT);
    assert_eq!(serve["volumeMounts"][0]["readOnly"], true);
    let volumes: Vec<&str> = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(volumes, ["backups", "tmp"], "no credentials");
    assert_eq!(
        spec["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "cv-backups"
    );

    let pod = download_pod(
        &release(),
        ("20261201-030000", &on_s3()),
        &m,
        &["mysql.sql.gz", "redis.rdb"],
        deadline,
    )
    .unwrap();
    let v = serde_json::to_value(&pod).unwrap();
    let fetch = &v["spec"]["initContainers"][0];
    assert_eq!(fetch["image"], "curlimages/curl:8.14.1");
    let env = env_of(fetch);
    assert_eq!(env["KEY"], "team/logs/cv/20261201-030000/");
    assert_eq!(env["FILES"], "mysql.sql.gz redis.rdb");
    assert_eq!(env["DIR"], "/backups/20261201-030000");
    assert_eq!(
        v["spec"]["containers"][0]["volumeMounts"][0]["readOnly"],
        false
    );
    assert_eq!(v["spec"]["volumes"][0]["emptyDir"]["sizeLimit"], "5Gi");
}

/// A component copied from its own volume, as Grafana is.
fn offline(component: &str) -> BackupSpec {
    let mut s = spec(component, &format!("{component}.tar.gz"));
    s.dump.credentials.clear();
    s.restore = Some(Step {
        script: "restore".into(),
        ..Step::default()
    });
    s.own_volume = Some(crate::model::VolumeCopy {
        stopped: Some(format!("cv-{component}")),
        claim: format!("data-cv-{component}-0"),
        mount: "/var/lib/x".into(),
        gid: 472,
        beside: std::collections::BTreeMap::new(),
        on_schedule: None,
    });
    s
}

fn mount_named<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no mount {name}"))
}

fn volume_names(job: &Value) -> Vec<&str> {
    job["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect()
}

#[test]
fn an_offline_copy_mounts_the_components_volume_read_only_to_back_up_and_writable_to_restore() {
    let (g, m) = (offline("grafana"), spec("mysql", "mysql.sql.gz"));
    let deadline = Duration::from_secs(60);
    let backup = value(
        &backup_job(
            &release(),
            ("20261201-120000", &on_volume("cv")),
            &[&m, &g],
            deadline,
        )
        .unwrap(),
    );
    let pod = &backup["spec"]["template"]["spec"];
    let data = volume_named(&backup, "grafana-data");
    assert_eq!(
        data["persistentVolumeClaim"]["claimName"],
        "data-cv-grafana-0"
    );
    assert_eq!(data["persistentVolumeClaim"]["readOnly"], true);
    // The pod joins Grafana's group to read its files; it still runs as the
    // backup user, so the backup volume's files stay that user's.
    assert_eq!(pod["securityContext"]["supplementalGroups"], json!([472]));
    assert_eq!(pod["securityContext"]["runAsUser"], 999);
    let step = &pod["initContainers"][1];
    assert_eq!(step["name"], "backup-grafana");
    assert!(step["securityContext"].get("runAsUser").is_none());
    let env = env_of(step);
    assert_eq!(env["DATA"], "/var/lib/x");
    assert_eq!(env["DATA_GROUP"], "472");
    let mount = mount_named(step, "grafana-data");
    assert_eq!(mount["mountPath"], "/var/lib/x");
    assert_eq!(mount["readOnly"], true);
    // MySQL's step does not see it.
    let mysql = &pod["initContainers"][0];
    assert!(!env_of(mysql).contains_key("DATA"));

    let saved = SavedFile {
        file: "grafana.tar.gz".into(),
        sha256: "ab".repeat(32),
    };
    let restore = value(
        &restore_job(
            &release(),
            ("20261201-120000", &on_volume("cv")),
            &[(&g, &saved)],
            deadline,
        )
        .unwrap(),
    );
    let data = volume_named(&restore, "grafana-data");
    assert_eq!(data["persistentVolumeClaim"]["readOnly"], false);
    let step = &restore["spec"]["template"]["spec"]["initContainers"][0];
    assert_eq!(step["name"], "restore-grafana");
    assert_eq!(mount_named(step, "grafana-data")["readOnly"], false);

    // A pod that only reads the backup never holds the component's volume.
    let pod = download_pod(
        &release(),
        ("20261201-120000", &on_volume("cv")),
        &g,
        &["grafana.tar.gz"],
        deadline,
    )
    .unwrap();
    // As a Job's template, to read it as the Jobs are.
    let v = json!({"spec": {"template": serde_json::to_value(&pod).unwrap()}});
    assert_eq!(volume_names(&v), ["backups", "tmp"]);
    let security = &v["spec"]["template"]["spec"]["securityContext"];
    assert!(security.get("supplementalGroups").is_none());
    // Nor does a Job of a backup without one.
    let plain = value(
        &backup_job(
            &release(),
            ("20261201-120000", &on_volume("cv")),
            &[&m],
            deadline,
        )
        .unwrap(),
    );
    assert!(!volume_names(&plain).contains(&"grafana-data"));
    assert!(
        plain["spec"]["template"]["spec"]["securityContext"]
            .get("supplementalGroups")
            .is_none()
    );
}

#[test]
fn a_volume_a_running_pod_holds_puts_the_step_on_that_pods_node() {
    let mut es = offline("elasticsearch");
    let o = es.own_volume.as_mut().unwrap();
    o.stopped = None;
    o.beside = std::collections::BTreeMap::from([(
        "app.kubernetes.io/name".into(),
        "elasticsearch".into(),
    )]);
    let deadline = Duration::from_secs(60);
    let job = value(
        &backup_job(
            &release(),
            ("20261201-120000", &on_volume("cv")),
            &[&es],
            deadline,
        )
        .unwrap(),
    );
    let terms = &job["spec"]["template"]["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    assert_eq!(
        terms,
        &json!([{
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "elasticsearch"}},
            "topologyKey": "kubernetes.io/hostname",
        }])
    );
    // Restored into while it runs: the pod's fsGroup is the component's, which
    // the kubelet gives the mounted volume (999 would lock the component out).
    let saved = SavedFile {
        file: "elasticsearch.tar.gz".into(),
        sha256: "ab".repeat(32),
    };
    let restore = value(
        &restore_job(
            &release(),
            ("20261201-120000", &on_volume("cv")),
            &[(&es, &saved)],
            deadline,
        )
        .unwrap(),
    );
    let security = &restore["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(security["fsGroup"], 472);
    assert_eq!(security["runAsUser"], 999);
    // A component stopped for it keeps the backup user's group.
    let stopped = offline("grafana");
    let restore = value(
        &restore_job(
            &release(),
            ("20261201-120000", &on_volume("cv")),
            &[(&stopped, &saved)],
            deadline,
        )
        .unwrap(),
    );
    assert_eq!(
        restore["spec"]["template"]["spec"]["securityContext"]["fsGroup"],
        999
    );
    // A component stopped before the pod is made holds nothing: no affinity
    // (its pods' labels are for a schedule, which stops it once there).
    let mut g = offline("grafana");
    g.own_volume.as_mut().unwrap().beside =
        std::collections::BTreeMap::from([("app.kubernetes.io/name".into(), "grafana".into())]);
    let job = value(
        &backup_job(
            &release(),
            ("20261201-120000", &on_volume("cv")),
            &[&g],
            deadline,
        )
        .unwrap(),
    );
    assert!(job["spec"]["template"]["spec"].get("affinity").is_none());
}
