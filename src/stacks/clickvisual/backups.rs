//! What ClickVisual's backups save by default: MySQL, its metadata (users,
//! instances, alarms), dumped by its own image's `mysqldump`; Redis, an RDB copy.
//! ClickHouse, the logs, only when asked (`--component clickhouse`): bulk data a
//! log platform keeps for days, estimated and checked against the room there is
//! before it is written. Kafka is never in it: its topics are a buffer in flight.

use super::connections::keys;
use super::{Ctx, clickhouse, mysql};
use crate::model::{BackupSpec, CredentialFile, Step};
use crate::stacks::backup_scripts;
use crate::stacks::kit;

/// The backups of every internal data service the values use.
pub fn backups(ctx: &Ctx<'_>) -> Vec<BackupSpec> {
    let v = ctx.values;
    let mut out = Vec::new();
    let m = &ctx.conn.mysql;
    if m.internal {
        // The app user, whose grants (`ALL` on its database) are enough with
        // `--single-transaction --no-tablespaces`, and who exists also where the
        // root password was changed in the server by hand.
        let env = vec![
            ("HOST".to_string(), m.host.clone()),
            ("PORT".to_string(), m.port.to_string()),
            ("DATABASE".to_string(), m.database.clone()),
            ("MYSQL_USER".to_string(), m.username.clone()),
        ];
        let credentials = vec![CredentialFile {
            env: "MYSQL_PASSWORD_FILE".into(),
            secret: m.password_ref.secret.clone(),
            key: keys::MYSQL_PASSWORD.into(),
        }];
        out.push(BackupSpec {
            file: "mysql.sql.gz".into(),
            dump: Step {
                script: backup_scripts::mysql_dump(),
                env: env.clone(),
                credentials: credentials.clone(),
            },
            restore: Some(Step {
                script: backup_scripts::mysql_restore(),
                env,
                credentials,
            }),
            default: true,
            experimental: Some(
                "its dump and restore ran against MariaDB's mysqldump and mysql (Debian), not MySQL 8.4's",
            ),
            ..ctx.backup_base(mysql::COMPONENT, &v.mysql.image)
        });
    }
    if let Some(r) = &ctx.conn.redis {
        out.extend(kit::redis::backup(ctx, &v.redis, r));
    }
    if let Some(c) = ctx.conn.clickhouse.as_ref().filter(|c| c.internal) {
        // Every server: with shards each holds part of the rows, and each
        // holds its own tables' statements.
        let nodes = if clickhouse::clustered(&v.clickhouse) {
            clickhouse::servers(ctx)
        } else {
            vec![format!("{}:{}", c.host, c.port)]
        };
        let env = vec![
            ("NODES".to_string(), nodes.join(" ")),
            (
                "REPLICAS".to_string(),
                v.clickhouse.replicas.max(1).to_string(),
            ),
            ("CLICKHOUSE_USER".to_string(), c.username.clone()),
        ];
        let credentials = vec![CredentialFile {
            env: "CLICKHOUSE_PASSWORD_FILE".into(),
            secret: c.password_ref.secret.clone(),
            key: keys::CLICKHOUSE_PASSWORD.into(),
        }];
        out.push(BackupSpec {
            file: "clickhouse.tar".into(),
            dump: Step {
                script: backup_scripts::clickhouse_dump(),
                env: env.clone(),
                credentials: credentials.clone(),
            },
            restore: Some(Step {
                script: backup_scripts::clickhouse_restore(),
                env,
                credentials,
            }),
            default: false,
            experimental: Some(
                "its dump and restore ran against Debian's ClickHouse 18.16 (with Debian's ZooKeeper 3.8 for shards of replicas), not the image's 24.8 and its Keeper",
            ),
            layout: if clickhouse::clustered(&v.clickhouse) {
                let count = |n: u32, what: &str| {
                    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
                };
                format!(
                    "{} of {}",
                    count(v.clickhouse.shards.max(1), "shard"),
                    count(v.clickhouse.replicas.max(1), "replica")
                )
            } else {
                String::new()
            },
            ..ctx.backup_base(clickhouse::COMPONENT, &v.clickhouse.image)
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stacks::clickvisual::common::testing::{release, use_external_mysql, values};

    #[test]
    fn mysql_is_dumped_as_the_app_user_from_its_secret() {
        let release = release();
        let b = backups(&Ctx::for_jobs(&release, &values()));
        let m = b.iter().find(|b| b.component == "mysql").unwrap();
        assert!(m.default);
        assert!(m.image.starts_with("mysql:8.4"), "{}", m.image);
        assert_eq!(m.version, "8.4");
        let env: std::collections::BTreeMap<_, _> = m.dump.env.iter().cloned().collect();
        assert_eq!(env["MYSQL_USER"], "clickvisual");
        assert_eq!(env["DATABASE"], "clickvisual");
        assert_eq!(m.dump.credentials[0].secret, "cv-mysql-credentials");
        assert_eq!(m.dump.credentials[0].key, "mysql-password");
        assert!(m.restore.is_some());
    }

    #[test]
    fn clickhouse_is_backed_up_only_when_asked_from_every_server() {
        let release = release();
        let mut v = values();
        let b = backups(&Ctx::for_jobs(&release, &v));
        let c = b.iter().find(|b| b.component == "clickhouse").unwrap();
        assert!(!c.default, "bulk data: opt-in");
        assert!(c.experimental.is_some());
        assert_eq!(c.file, "clickhouse.tar");
        assert!(
            c.image.starts_with("clickhouse/clickhouse-server:24.8"),
            "{}",
            c.image
        );
        let env: std::collections::BTreeMap<_, _> = c.dump.env.iter().cloned().collect();
        assert_eq!(env["NODES"], "cv-clickhouse.logs.svc:9000", "its Service");
        assert_eq!(env["REPLICAS"], "1");
        assert_eq!(env["CLICKHOUSE_USER"], "clickvisual");
        assert_eq!(c.dump.credentials[0].secret, "cv-clickhouse-credentials");
        assert_eq!(c.dump.credentials[0].key, "clickhouse-password");
        assert!(c.restore.is_some());
        // Shards of replicas: each server by its own name, in the order of
        // `remote_servers` (pod `i` is replica `i % replicas` of shard
        // `i / replicas`), which the scripts read the shards from.
        v.clickhouse.shards = 2;
        v.clickhouse.replicas = 2;
        let b = backups(&Ctx::for_jobs(&release, &v));
        let c = b.iter().find(|b| b.component == "clickhouse").unwrap();
        let env: std::collections::BTreeMap<_, _> = c.dump.env.iter().cloned().collect();
        let nodes: Vec<&str> = env["NODES"].split(' ').collect();
        assert_eq!(nodes.len(), 4);
        assert_eq!(
            nodes[3],
            "cv-clickhouse-3.cv-clickhouse-headless.logs.svc:9000"
        );
        assert_eq!(env["REPLICAS"], "2");
        assert_eq!(c.restore.as_ref().unwrap().env, c.dump.env);
        assert_eq!(c.layout, "2 shards of 2 replicas");
        v.clickhouse.shards = 1;
        let b = backups(&Ctx::for_jobs(&release, &v));
        let c = b.iter().find(|b| b.component == "clickhouse").unwrap();
        assert_eq!(c.layout, "1 shard of 2 replicas");
        v.clickhouse.replicas = 1;
        let b = backups(&Ctx::for_jobs(&release, &v));
        let c = b.iter().find(|b| b.component == "clickhouse").unwrap();
        assert_eq!(c.layout, "", "one server");
    }

    #[test]
    fn external_services_are_not_backed_up() {
        let release = release();
        let mut v = values();
        use_external_mysql(&mut v, "app");
        let b = backups(&Ctx::for_jobs(&release, &v));
        assert!(b.iter().all(|b| b.component != "mysql"), "{b:?}");
    }

    #[test]
    fn a_schedule_is_a_cronjob_of_the_metadata_stores_in_the_servers_batch_version() {
        use crate::model::{Capabilities, Phase};
        use crate::stacks::kit::testing::{component, has, only};
        let release = release();
        let mut v = values();
        let none = crate::stacks::clickvisual::render(&v, &release, Capabilities::for_minor(20));
        assert!(!has(&none, "backup"), "no schedule, no CronJob");
        v.backup.schedule = "0 3 * * *".into();
        v.backup.keep = 4;
        v.backup.resources.limits.memory = "3Gi".parse().unwrap();
        for (minor, api) in [(20, "batch/v1beta1"), (21, "batch/v1")] {
            let all =
                crate::stacks::clickvisual::render(&v, &release, Capabilities::for_minor(minor));
            let cron = only(component(&all, "backup"), "CronJob");
            assert_eq!(cron.api_version, api);
            assert_eq!(cron.name, "cv-backup");
            assert_eq!(cron.phase, Phase::Apps);
            let spec = &cron.body["spec"];
            assert_eq!(spec["schedule"], "0 3 * * *");
            assert_eq!(spec["concurrencyPolicy"], "Forbid");
            // The Jobs the controller keeps are the backups the volume keeps.
            assert_eq!(spec["successfulJobsHistoryLimit"], 4);
            let template = &spec["jobTemplate"];
            let labels = &template["metadata"]["labels"];
            assert_eq!(labels["stackctl.dev/backup-scheduled"], "cv");
            assert!(
                labels.get("stackctl.dev/release").is_none(),
                "a backup is no object of the release: {labels}"
            );
            let pod = &template["spec"]["template"]["spec"];
            let steps: Vec<&str> = pod["initContainers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap())
                .collect();
            assert_eq!(steps, ["backup-name", "backup-mysql"]);
            let mysql = &pod["initContainers"][1];
            let script = mysql["command"][2].as_str().unwrap();
            assert!(
                script.starts_with("OUT=\"$ROOT/$(cat \"$NAME_FILE\")/$FILE\""),
                "{script}"
            );
            assert!(script.contains("mysqldump"), "{script}");
            let env = |c: &serde_json::Value, name: &str| {
                c["env"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["name"] == name)
                    .map(|e| e["value"].as_str().unwrap().to_string())
            };
            assert_eq!(env(mysql, "FILE").as_deref(), Some("mysql.sql.gz"));
            assert_eq!(mysql["resources"]["limits"]["memory"], "3Gi");
            assert_eq!(mysql["resources"]["requests"]["cpu"], "50m");
            assert_eq!(
                env(mysql, "OUT"),
                None,
                "the name is the clock's, at run time"
            );
            let keep = &pod["containers"][0];
            assert_eq!(keep["name"], "backup-keep");
            assert_eq!(env(keep, "KEEP").as_deref(), Some("4"));
        }
        // Nothing to back up (MySQL outside): no CronJob.
        use_external_mysql(&mut v, "app");
        let all = crate::stacks::clickvisual::render(&v, &release, Capabilities::for_minor(20));
        assert!(!has(&all, "backup"));
    }

    #[test]
    fn the_notes_say_how_backups_are_taken() {
        let release = release();
        let mut v = values();
        let text = |v: &crate::stacks::clickvisual::values::Values| {
            crate::stacks::clickvisual::notes(v, &release).join("\n")
        };
        let on_demand = text(&v);
        assert!(
            on_demand.contains("Backups of mysql: on demand (`stackctl backup create`"),
            "{on_demand}"
        );
        v.backup.schedule = "0 3 * * *".into();
        let scheduled = text(&v);
        assert!(
            scheduled.contains(
                "Backups of mysql: scheduled \"0 3 * * *\", the newest 7 kept, to the volume cv-backups"
            ),
            "{scheduled}"
        );
        use_external_mysql(&mut v, "app");
        assert!(!text(&v).contains("Backups"), "nothing to back up");
    }
}
