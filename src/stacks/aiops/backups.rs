//! What the AIOps backups save by default: PostgreSQL (the platform's database),
//! dumped by its own image's `pg_dump` in the custom format; Redis, an RDB copy;
//! Grafana's SQLite database, copied with Grafana stopped. Opt-in: Prometheus'
//! TSDB, copied with Prometheus stopped; Elasticsearch, by its snapshot API
//! into a repository on a volume (`elasticsearch.snapshots`), copied.
//!
//! Grafana: "To ensure data integrity, shut down your Grafana service before
//! backing up the SQLite database", whose default place is `<data>/grafana.db`
//! (Grafana's "Back up Grafana", docs/sources/administration/back-up-grafana.md).
//! The image's data path is `/var/lib/grafana` (`GF_PATHS_DATA`, the image
//! contract) and its default variant is Alpine-based (Grafana's "Configure a
//! Grafana Docker image"), whose BusyBox has the `sh`, `tar`, `gzip`, `head` and
//! `sha256sum` the scripts use; the Ubuntu variant has them too. The image itself
//! could not be read at 12.0.2 here, so the backup is experimental.

use super::common::DATA_VOLUME;
use super::connections::keys;
use super::{Ctx, elasticsearch, grafana, postgresql};
use crate::model::{BackupSpec, CredentialFile, Step, VolumeCopy};
use crate::stacks::backup_scripts;
use crate::stacks::kit;

/// The backups of every internal data service the values use.
pub fn backups(ctx: &Ctx<'_>) -> Vec<BackupSpec> {
    let v = ctx.values;
    let mut out = Vec::new();
    if let Some(p) = ctx.conn.postgresql.as_ref().filter(|p| p.internal) {
        let common = vec![
            ("HOST".to_string(), p.host.clone()),
            ("PORT".to_string(), p.port.to_string()),
            ("DATABASE".to_string(), p.database.clone()),
        ];
        let mut dump_env = common.clone();
        dump_env.push(("PGUSER".into(), p.username.clone()));
        // The restore drops and makes the database again: the superuser's work.
        let mut restore_env = common;
        restore_env.push(("PGUSER".into(), "postgres".into()));
        restore_env.push(("OWNER".into(), p.username.clone()));
        let file = |key: &str| CredentialFile {
            env: "PASSWORD_FILE".into(),
            secret: p.password_ref.secret.clone(),
            key: key.into(),
        };
        out.push(BackupSpec {
            file: "postgresql.dump".into(),
            dump: Step {
                script: backup_scripts::postgres_dump(),
                env: dump_env,
                credentials: vec![file(keys::PASSWORD)],
            },
            restore: Some(Step {
                script: backup_scripts::postgres_restore(),
                env: restore_env,
                credentials: vec![file(keys::POSTGRES_PASSWORD)],
            }),
            default: true,
            ..ctx.backup_base(postgresql::COMPONENT, &v.postgresql.image)
        });
    }
    if let Some(r) = &ctx.conn.redis {
        out.extend(kit::redis::backup(ctx, &v.redis, r));
    }
    if v.grafana.enabled {
        out.push(grafana_backup(ctx));
    }
    out.extend(kit::prometheus::backup(ctx, &v.prometheus));
    out.extend(elasticsearch_backup(ctx));
    out
}

/// Elasticsearch's indices and feature states, snapshotted by the running
/// cluster into its shared-filesystem repository and copied from there; only
/// when the release has that repository (`elasticsearch.snapshots`). Opt-in:
/// a bulk store.
fn elasticsearch_backup(ctx: &Ctx<'_>) -> Option<BackupSpec> {
    let v = &ctx.values.elasticsearch;
    let es = ctx.conn.elasticsearch.as_ref().filter(|e| e.internal)?;
    if !(v.enabled && v.snapshots.enabled) {
        return None;
    }
    let env = vec![
        ("URL".to_string(), es.url.clone()),
        ("WHAT".to_string(), elasticsearch::COMPONENT.to_string()),
        ("REPOSITORY".to_string(), "stackctl".to_string()),
        ("SNAPSHOT".to_string(), "stackctl-backup".to_string()),
    ];
    let step = |script: String| Step {
        script,
        env: env.clone(),
        credentials: vec![CredentialFile {
            env: "PASSWORD_FILE".into(),
            secret: es.password_ref.secret.clone(),
            key: es.password_ref.key.into(),
        }],
    };
    // A single node's RWO volume is attached where that node runs.
    let beside = if v.snapshots.access_mode == "ReadWriteOnce" {
        crate::stacks::component::selector_labels(ctx.release, elasticsearch::COMPONENT)
    } else {
        std::collections::BTreeMap::new()
    };
    Some(BackupSpec {
        file: "elasticsearch.tar.gz".into(),
        dump: step(backup_scripts::elasticsearch_dump()),
        restore: Some(step(backup_scripts::elasticsearch_restore())),
        default: false,
        experimental: Some(
            "Elasticsearch is not packaged by Debian: its scripts never ran against Elasticsearch, only against a stand-in of its snapshot API",
        ),
        own_volume: Some(VolumeCopy {
            claim: elasticsearch::snapshots_claim(ctx.release),
            stopped: None,
            mount: elasticsearch::SNAPSHOTS_DIR.into(),
            gid: elasticsearch::GID,
            beside,
            on_schedule: None,
        }),
        ..ctx.backup_base(elasticsearch::COMPONENT, &v.image)
    })
}

/// Grafana's `grafana.db`, copied from its volume while its StatefulSet is scaled
/// to zero (one replica: the volume is that of pod 0).
fn grafana_backup(ctx: &Ctx<'_>) -> BackupSpec {
    let v = ctx.values;
    let stateful_set = ctx.release.object_name(grafana::COMPONENT);
    let env = vec![("DB".to_string(), "grafana.db".to_string())];
    BackupSpec {
        file: "grafana.tar.gz".into(),
        dump: Step {
            script: backup_scripts::sqlite_dump(),
            env: env.clone(),
            credentials: Vec::new(),
        },
        restore: Some(Step {
            script: backup_scripts::sqlite_restore(),
            env,
            credentials: Vec::new(),
        }),
        default: true,
        experimental: Some(
            "its scripts ran against Debian's SQLite 3 on a database file, not Grafana's image, whose contents could not be read at 12.0.2",
        ),
        // `[security] admin_password` creates the admin on first start only
        // (the credentials contract): the database keeps the password it had.
        restore_note: Some(
            "Grafana's users and their passwords are those of the backup: if the admin password changed since, log in with the one it had then (the credentials Secret holds the newer one)",
        ),
        own_volume: Some(VolumeCopy {
            claim: format!("{DATA_VOLUME}-{stateful_set}-0"),
            stopped: Some(stateful_set),
            mount: grafana::DATA_DIR.into(),
            gid: grafana::UID,
            beside: crate::stacks::component::selector_labels(ctx.release, grafana::COMPONENT),
            on_schedule: v.grafana.scheduled_backup.then_some(1),
        }),
        ..ctx.backup_base(grafana::COMPONENT, &v.grafana.image)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::common::testing::*;
    use super::*;

    #[test]
    fn postgresql_is_dumped_by_its_owner_and_restored_by_the_superuser() {
        let release = release();
        let b = backups(&Ctx::for_jobs(&release, &values()));
        let p = b.iter().find(|b| b.component == "postgresql").unwrap();
        assert!(p.default);
        assert_eq!(p.file, "postgresql.dump");
        let dump: BTreeMap<_, _> = p.dump.env.iter().cloned().collect();
        assert_eq!(dump["PGUSER"], "aiops");
        assert_eq!(p.dump.credentials[0].key, "password");
        let restore = p.restore.as_ref().unwrap();
        let env: BTreeMap<_, _> = restore.env.iter().cloned().collect();
        assert_eq!(env["PGUSER"], "postgres");
        assert_eq!(env["OWNER"], "aiops");
        assert_eq!(restore.credentials[0].key, "postgres-password");
        assert_eq!(restore.credentials[0].secret, p.dump.credentials[0].secret);
    }

    #[test]
    fn an_external_database_and_a_redis_cluster_are_not_backed_up() {
        let release = release();
        let mut v = values();
        v.redis.enabled = true;
        let standalone = backups(&Ctx::for_jobs(&release, &v));
        let redis = standalone.iter().find(|b| b.component == "redis").unwrap();
        // Restored online, logging in as the dump does.
        let restore = redis.restore.as_ref().unwrap();
        assert!(restore.script.contains("MIGRATE"));
        assert_eq!(restore.credentials, redis.dump.credentials);
        assert_eq!(restore.env, redis.dump.env);
        v.postgresql.enabled = false;
        v.postgresql.external.host = "pg.example.com".into();
        v.redis.stack.cluster.enabled = true;
        let b = backups(&Ctx::for_jobs(&release, &v));
        let names: Vec<&str> = b.iter().map(|b| b.component.as_str()).collect();
        assert_eq!(names, ["grafana", "prometheus"], "{b:?}");
    }

    #[test]
    fn prometheus_is_an_opt_in_copy_of_its_volume_with_prometheus_stopped() {
        let release = release();
        let v = values();
        let b = backups(&Ctx::for_jobs(&release, &v));
        let p = b.iter().find(|b| b.component == "prometheus").unwrap();
        assert!(!p.default, "a bulk store: only with --component");
        assert!(!p.schedulable());
        assert!(p.experimental.is_some());
        let o = p.own_volume.as_ref().unwrap();
        assert_eq!(o.stopped.as_deref(), Some("ops-prometheus"));
        assert_eq!(o.claim, "data-ops-prometheus-0");
        let all = render_all(&v);
        let sts = find(
            component(&all, "prometheus"),
            "StatefulSet",
            o.stopped.as_deref().unwrap(),
        );
        let pod = &sts.body["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["fsGroup"], o.gid);
        let args = pod["containers"][0]["args"].as_array().unwrap();
        assert!(
            args.iter()
                .any(|a| a == format!("--storage.tsdb.path={}", o.mount).as_str()),
            "{args:?}"
        );
        assert!(p.dump.script.contains("not enough space"));
        assert!(p.restore.is_some());
    }

    #[test]
    fn grafanas_database_is_copied_from_its_volume_with_grafana_stopped() {
        let release = release();
        let mut v = values();
        v.grafana.scheduled_backup = false;
        let b = backups(&Ctx::for_jobs(&release, &v));
        let g = b.iter().find(|b| b.component == "grafana").unwrap();
        assert!(!g.schedulable(), "grafana.scheduledBackup=false");
        v.grafana.scheduled_backup = true;
        let b = backups(&Ctx::for_jobs(&release, &v));
        let g = b.iter().find(|b| b.component == "grafana").unwrap();
        assert!(g.default, "a metadata store: in every backup by default");
        assert!(g.schedulable(), "a schedule stops it itself");
        assert!(g.experimental.is_some());
        let o = g.own_volume.as_ref().unwrap();
        // The objects Grafana's render makes: its StatefulSet and pod 0's claim.
        let all = render_all(&v);
        let name = o.stopped.as_deref().unwrap();
        let sts = find(component(&all, "grafana"), "StatefulSet", name);
        assert_eq!(
            sts.body["spec"]["volumeClaimTemplates"][0]["metadata"]["name"],
            o.claim.strip_suffix(&format!("-{name}-0")).unwrap()
        );
        let pod = &sts.body["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["fsGroup"], o.gid);
        let mounts = pod["containers"][0]["volumeMounts"].as_array().unwrap();
        assert!(
            mounts.iter().any(|m| m["mountPath"] == o.mount.as_str()),
            "{mounts:?}"
        );
        let env: BTreeMap<_, _> = g.dump.env.iter().cloned().collect();
        assert_eq!(env["DB"], "grafana.db");
        assert!(g.restore.is_some());
        v.grafana.enabled = false;
        let b = backups(&Ctx::for_jobs(&release, &v));
        assert!(b.iter().all(|b| b.component != "grafana"));
    }

    #[test]
    fn elasticsearch_is_snapshotted_into_the_repository_its_nodes_mount() {
        let release = release();
        let mut v = values();
        let none = backups(&Ctx::for_jobs(&release, &v));
        assert!(
            none.iter().all(|b| b.component != "elasticsearch"),
            "no repository, no backup"
        );
        v.elasticsearch.snapshots.enabled = true;
        let b = backups(&Ctx::for_jobs(&release, &v));
        let es = b.iter().find(|b| b.component == "elasticsearch").unwrap();
        assert!(!es.default, "a bulk store: only with --component");
        assert!(es.experimental.is_some());
        let o = es.own_volume.as_ref().unwrap();
        assert_eq!(o.stopped, None, "snapshotted by the running cluster");
        // The objects Elasticsearch's render makes: the claim, in the storage
        // phase, mounted by the node at the path the repository names.
        let all = render_all(&v);
        let es_objects = component(&all, "elasticsearch");
        let pvc = find(es_objects, "PersistentVolumeClaim", &o.claim);
        assert_eq!(pvc.phase, crate::model::Phase::Storage);
        assert_eq!(
            pvc.body["spec"]["accessModes"],
            serde_json::json!(["ReadWriteOnce"])
        );
        assert_eq!(pvc.body["spec"]["resources"]["requests"]["storage"], "30Gi");
        let sts = find(es_objects, "StatefulSet", "ops-elasticsearch");
        let pod = &sts.body["spec"]["template"]["spec"];
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["persistentVolumeClaim"]["claimName"] == o.claim.as_str())
            .expect("the pod mounts the repository's claim");
        let mount = pod["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == volume["name"])
            .unwrap();
        assert_eq!(mount["mountPath"], o.mount.as_str());
        assert_eq!(pod["securityContext"]["fsGroup"], o.gid);
        let config = find(es_objects, "ConfigMap", "ops-elasticsearch-config");
        let yml: serde_json::Value =
            serde_saphyr::from_str(config.body["data"]["elasticsearch.yml"].as_str().unwrap())
                .unwrap();
        assert_eq!(yml["path.repo"], serde_json::json!([o.mount]));
        // The step's pod goes beside the node holding the RWO volume.
        assert_eq!(
            o.beside,
            sts.body["spec"]["selector"]["matchLabels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect::<BTreeMap<_, _>>()
        );
        let env: BTreeMap<_, _> = es.dump.env.iter().cloned().collect();
        assert_eq!(env["URL"], "http://ops-elasticsearch.mon.svc:9200");
        assert_eq!(es.dump.credentials[0].key, "elastic-password");
        assert!(es.restore.is_some());
        // A cluster's repository is RWX: no node to be beside.
        v.elasticsearch.replicas = 3;
        v.elasticsearch.snapshots.access_mode = "ReadWriteMany".into();
        let b = backups(&Ctx::for_jobs(&release, &v));
        let es = b.iter().find(|b| b.component == "elasticsearch").unwrap();
        assert!(es.own_volume.as_ref().unwrap().beside.is_empty());
        // Without it, the node has no repository.
        v.elasticsearch.snapshots.enabled = false;
        let all = render_all(&v);
        let es_objects = component(&all, "elasticsearch");
        assert!(
            es_objects
                .manifests
                .iter()
                .all(|m| m.kind != "PersistentVolumeClaim")
        );
    }

    #[test]
    fn the_notes_say_grafana_is_backed_up_on_request_only_when_a_schedule_is_set() {
        let release = release();
        let mut v = values();
        let text = |v: &crate::stacks::aiops::values::Values| {
            crate::stacks::aiops::notes(v, &release).join("\n")
        };
        let on_demand = text(&v);
        assert!(
            on_demand.contains("Backups of postgresql, redis, grafana: on demand"),
            "{on_demand}"
        );
        assert!(!on_demand.contains("only on request"), "{on_demand}");
        assert!(
            on_demand.contains("bulk stores, on request with `stackctl backup create --component NAME`: prometheus\n"),
            "{on_demand}"
        );
        v.elasticsearch.snapshots.enabled = true;
        assert!(
            text(&v).contains("--component NAME`: prometheus, elasticsearch\n"),
            "{}",
            text(&v)
        );
        v.elasticsearch.snapshots.enabled = false;
        v.backup.schedule = "@daily".into();
        let scheduled = text(&v);
        assert!(
            scheduled.contains("Backups of postgresql, redis, grafana: scheduled \"@daily\""),
            "{scheduled}"
        );
        assert!(
            scheduled
                .contains("grafana stopped for the copy of its volume at each scheduled backup"),
            "{scheduled}"
        );
        v.grafana.scheduled_backup = false;
        let scheduled = text(&v);
        assert!(
            scheduled.contains("Backups of postgresql, redis: scheduled \"@daily\""),
            "{scheduled}"
        );
        assert!(
            scheduled.contains("grafana only on request (`stackctl backup create`)"),
            "{scheduled}"
        );
    }

    #[test]
    fn a_schedule_backs_up_postgresql_redis_and_grafana_in_one_pod_each_in_its_image() {
        use crate::model::Capabilities;
        use crate::stacks::kit::testing::{component, only};
        let release = release();
        let mut v = values();
        v.redis.enabled = true;
        v.redis.stack.cluster.enabled = false;
        v.backup.schedule = "@daily".into();
        let all = crate::stacks::aiops::render(&v, &release, Capabilities::for_minor(20));
        let cron = only(component(&all, "backup"), "CronJob");
        assert_eq!(cron.api_version, "batch/v1beta1");
        let pod = &cron.body["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        let steps: Vec<(&str, &str)> = pod["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap(), c["image"].as_str().unwrap()))
            .collect();
        assert_eq!(steps.len(), 4, "{steps:?}");
        assert_eq!(steps[0].0, "backup-name");
        assert_eq!(steps[1].0, "backup-postgresql");
        assert!(steps[1].1.starts_with("postgres:"), "{steps:?}");
        assert_eq!(steps[2].0, "backup-redis");
        assert!(steps[2].1.starts_with("redis:"), "{steps:?}");
        // Grafana last (down for its own copy only), in its image (curl).
        assert_eq!(steps[3].0, "backup-grafana");
        assert!(steps[3].1.starts_with("grafana/grafana:"), "{steps:?}");
        let grafana = &pod["initContainers"][3];
        let env: BTreeMap<&str, &str> = grafana["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?)))
            .collect();
        assert_eq!(env["STATEFULSET"], "ops-grafana");
        assert_eq!(env["POD"], "ops-grafana-0");
        assert_eq!(env["REPLICAS"], "1");
        assert!(env["COPY"].contains("SQLite format 3"), "the copy it runs");
        // The API token in Grafana's step alone, of the backup ServiceAccount.
        assert_eq!(pod["serviceAccountName"], "ops-backup");
        assert_eq!(pod["automountServiceAccountToken"], false);
        let with_token: Vec<&str> = pod["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(pod["containers"].as_array().unwrap())
            .filter(|c| {
                c["volumeMounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["name"] == "api-token")
            })
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(with_token, ["backup-grafana"]);
        // Beside Grafana's pod, whose volume it mounts before stopping it.
        let term = &pod["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            [0]["podAffinityTerm"];
        assert_eq!(
            term["labelSelector"]["matchLabels"]["app.kubernetes.io/name"],
            "grafana"
        );
        // The ServiceAccount may scale Grafana and read its pod, by name, no more.
        let role = find(component(&all, "backup"), "Role", "ops-backup");
        assert_eq!(role.phase, crate::model::Phase::Storage);
        assert_eq!(
            role.body["rules"],
            serde_json::json!([
                {"apiGroups": ["apps"], "resources": ["statefulsets/scale"], "resourceNames": ["ops-grafana"], "verbs": ["get", "patch"]},
                {"apiGroups": [""], "resources": ["pods"], "resourceNames": ["ops-grafana-0"], "verbs": ["get"]},
            ])
        );
        find(component(&all, "backup"), "RoleBinding", "ops-backup");
        // Without Grafana in the schedule: no token, no account, no affinity.
        v.grafana.scheduled_backup = false;
        let all = crate::stacks::aiops::render(&v, &release, Capabilities::for_minor(20));
        let cron = only(component(&all, "backup"), "CronJob");
        let pod = &cron.body["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["initContainers"].as_array().unwrap().len(), 3);
        assert!(pod.get("serviceAccountName").is_none());
        assert!(pod.get("affinity").is_none());
        assert!(
            component(&all, "backup")
                .manifests
                .iter()
                .all(|m| m.kind != "Role")
        );
        // Each step mounts only its own dump credential, never the superuser's.
        let secrets: Vec<&str> = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["secret"]["items"][0]["key"].as_str())
            .collect();
        assert!(!secrets.contains(&"postgres-password"), "{secrets:?}");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    }
}
