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
