//! What ClickVisual's backups save by default: MySQL, its metadata (users,
//! instances, alarms), dumped by its own image's `mysqldump`; Redis, an RDB copy.
//! ClickHouse (the logs) and Kafka are not in it: bulk data a log platform keeps
//! for days, and Kafka's topics are a buffer in flight.

use super::connections::keys;
use super::{Ctx, mysql};
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
    fn external_services_are_not_backed_up() {
        let release = release();
        let mut v = values();
        use_external_mysql(&mut v, "app");
        let b = backups(&Ctx::for_jobs(&release, &v));
        assert!(b.iter().all(|b| b.component != "mysql"), "{b:?}");
    }
}
