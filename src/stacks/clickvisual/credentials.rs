//! Which of the stack's credentials the images apply only at first start, checked
//! against each image's contract at the pinned tag (`defaults.yaml`):
//!
//! | values key | image | verdict | how a change reaches the service |
//! |---|---|---|---|
//! | `mysql.auth.rootPassword` | mysql:8.4 | init-only: `docker_setup_db` sets `root@localhost` and `root@'%'` (`MYSQL_ROOT_HOST`) only when `_main` finds no `$DATADIR/mysql` (`DATABASE_ALREADY_EXISTS`) — docker-library/mysql `8.4/docker-entrypoint.sh` | rotation Job |
//! | `mysql.auth.password` | mysql:8.4 | init-only: `CREATE USER '$MYSQL_USER'@'%'` in `docker_setup_db`, same guard | rotation Job |
//! | `mysql.auth.username`, `mysql.auth.database` | mysql:8.4 | init-only: created in `docker_setup_db`, same guard | by hand, then `--rotated` |
//! | `clickhouse.auth.password` | clickhouse-server:24.8 | every start: `users.d` reads `<password from_env="CLICKHOUSE_PASSWORD"/>` when the server loads its configuration (`clickhouse.rs`) | the normal apply |
//! | `redis.auth.password` | redis:7.4-alpine | every start: `requirepass` in the config file written at start (`kit::redis`) | the normal apply |
//!
//! External services (`mysql.enabled=false`) are the user's: their credentials
//! change wherever the user changed them, so nothing here applies.

use super::values::Values;
use super::{Ctx, mysql};
use crate::model::{InitOnlyChange, Release, Rotation, RotationJob};
use crate::stacks::kit::rotation;
use crate::stacks::rotation_scripts;
use crate::stacks::workload as w;

pub const ROOT_PASSWORD: &str = "mysql.auth.rootPassword";
pub const PASSWORD: &str = "mysql.auth.password";
pub const USERNAME: &str = "mysql.auth.username";
pub const DATABASE: &str = "mysql.auth.database";

/// The image's root accounts: `root@localhost` always, and `root@'%'`
/// (`MYSQL_ROOT_HOST`, which stackctl leaves at its default `%`).
const ROOT_HOSTS: &str = "localhost %";

/// The init-only credentials that differ between `old` (the release's current
/// values) and `new`.
pub fn init_only_changes(old: &Values, new: &Values) -> Vec<InitOnlyChange> {
    let (o, n) = (&old.mysql, &new.mysql);
    if !(o.enabled && n.enabled) {
        return Vec::new();
    }
    let manual = |what: &str, value: &str| {
        Rotation::Manual(format!(
            "the MySQL image creates {what} only when it initialises an empty data directory; create {value:?} in MySQL yourself (as root: CREATE USER / CREATE DATABASE and GRANT), then upgrade again adding --rotated {}",
            if what == "the database" {
                DATABASE
            } else {
                USERNAME
            }
        ))
    };
    let mut out = Vec::new();
    let mut push = |key, changed: bool, rotation| {
        if changed {
            out.push(InitOnlyChange {
                key,
                component: mysql::COMPONENT,
                rotation,
            });
        }
    };
    push(
        ROOT_PASSWORD,
        o.auth.root_password != n.auth.root_password,
        Rotation::Job,
    );
    push(PASSWORD, o.auth.password != n.auth.password, Rotation::Job);
    push(
        USERNAME,
        o.auth.username != n.auth.username,
        manual("the app's account", &n.auth.username),
    );
    push(
        DATABASE,
        o.auth.database != n.auth.database,
        manual("the database", &n.auth.database),
    );
    out
}

/// The Job changing the passwords of `keys` (of [`init_only_changes`] with
/// [`Rotation::Job`]) in the running MySQL, logged in as root with `old`'s password.
/// The accounts are `old`'s: a changed user name is refused, not rotated.
pub fn rotation_jobs(
    old: &Values,
    new: &Values,
    release: &Release,
    keys: &[&str],
) -> Vec<RotationJob> {
    if !(old.mysql.enabled && new.mysql.enabled) {
        return Vec::new();
    }
    let ctx = Ctx::for_jobs(release, old);
    let (o, n) = (&old.mysql.auth, &new.mysql.auth);
    let db = &ctx.conn.mysql;
    let accounts = rotation::Accounts {
        component: mysql::COMPONENT,
        admin_key: ROOT_PASSWORD,
        app_key: PASSWORD,
        host: &db.host,
        port: db.port,
        admin_password: &o.root_password,
        new_admin_password: &n.root_password,
        new_app_password: &n.password,
        script: rotation_scripts::MYSQL,
        settings: vec![
            w::env("ADMIN_USER", "root"),
            w::env("ADMIN_HOSTS", ROOT_HOSTS),
            w::env("APP_USER", &o.username),
            w::env("APP_HOST", "%"),
        ],
        image: ctx.own_image(&old.mysql.image),
    };
    rotation::job(&ctx, keys, accounts)
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;
    use super::*;

    fn release() -> Release {
        Release {
            name: "cv".into(),
            namespace: "logs".into(),
            stack: "clickvisual",
            revision: 2,
        }
    }

    #[test]
    fn unchanged_values_change_nothing() {
        assert!(init_only_changes(&values(), &values()).is_empty());
    }

    #[test]
    fn password_changes_rotate_and_account_changes_are_manual() {
        let old = values();
        let mut new = values();
        new.mysql.auth.password = "NewApp".into();
        new.mysql.auth.username = "someone".into();
        let changes = init_only_changes(&old, &new);
        let keys: Vec<&str> = changes.iter().map(|c| c.key).collect();
        assert_eq!(keys, [PASSWORD, USERNAME]);
        assert_eq!(changes[0].rotation, Rotation::Job);
        assert!(
            matches!(&changes[1].rotation, Rotation::Manual(m) if m.contains("--rotated mysql.auth.username")),
            "{:?}",
            changes[1]
        );
        assert!(changes.iter().all(|c| c.component == "mysql"));
    }

    #[test]
    fn external_or_newly_internal_mysql_has_nothing_to_rotate() {
        let mut old = values();
        old.mysql.enabled = false;
        let mut new = values();
        new.mysql.auth.root_password = "NewRoot".into();
        assert!(init_only_changes(&old, &new).is_empty());
        assert!(init_only_changes(&new, &old).is_empty());
    }

    #[test]
    fn the_job_logs_in_with_the_old_root_password_from_the_temporary_secret() {
        let old = values();
        let mut new = values();
        new.mysql.auth.root_password = "NewRoot".into();
        new.mysql.auth.password = "NewApp".into();
        let jobs = rotation_jobs(&old, &new, &release(), &[ROOT_PASSWORD]);
        assert_eq!(jobs.len(), 1);
        let job = &jobs[0];
        assert_eq!(job.keys, [ROOT_PASSWORD]);
        assert_eq!(job.secret["mysql-admin-password"], MYSQL_ROOT);
        assert_eq!(job.secret["mysql-new-admin-password"], "NewRoot");
        // Not asked for: left unchanged (empty).
        assert_eq!(job.secret["mysql-new-app-password"], "");
        assert_eq!(job.probe.script, rotation_scripts::MYSQL);
        assert_eq!(job.probe.component, "rotate-mysql");
        for e in &job.probe.env {
            if e.name.contains("PASSWORD") {
                let r = e
                    .value_from
                    .as_ref()
                    .unwrap()
                    .secret_key_ref
                    .as_ref()
                    .unwrap();
                assert_eq!(r.name, "cv-credential-rotation");
                assert!(e.value.is_none());
            } else {
                let v = e.value.as_deref().unwrap_or_default();
                assert!(!v.contains("NewRoot") && !v.contains(MYSQL_ROOT), "{e:?}");
            }
        }
        assert!(rotation_jobs(&old, &new, &release(), &[USERNAME]).is_empty());
    }
}
