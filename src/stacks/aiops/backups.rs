//! What the AIOps backups save by default: PostgreSQL (the platform's database),
//! dumped by its own image's `pg_dump` in the custom format; Redis, an RDB copy.
//! Not yet: Grafana's SQLite file (its docs ask for Grafana to be stopped while it
//! is copied: a restore-sequence step), and, opt-in, Elasticsearch and Prometheus.

use super::connections::keys;
use super::{Ctx, postgresql};
use crate::model::{BackupSpec, CredentialFile, Step};
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
    out
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
        assert!(b.is_empty(), "{b:?}");
    }

    #[test]
    fn a_schedule_backs_up_postgresql_and_redis_in_one_pod_each_in_its_image() {
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
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert_eq!(steps[0].0, "backup-name");
        assert_eq!(steps[1].0, "backup-postgresql");
        assert!(steps[1].1.starts_with("postgres:"), "{steps:?}");
        assert_eq!(steps[2].0, "backup-redis");
        assert!(steps[2].1.starts_with("redis:"), "{steps:?}");
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
