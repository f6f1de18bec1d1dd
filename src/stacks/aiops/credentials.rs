//! Which of the stack's credentials the images apply only at first start, checked
//! against each image's contract at the pinned tag (`defaults.yaml`):
//!
//! | values key | image | verdict | how a change reaches the service |
//! |---|---|---|---|
//! | `postgresql.auth.postgresPassword` | postgres:17 | init-only: `docker_init_database_dir` passes `POSTGRES_PASSWORD` to `initdb --pwfile` only when `_main` finds no `$PGDATA/PG_VERSION` (`DATABASE_ALREADY_EXISTS`) — docker-library/postgres `17/bookworm/docker-entrypoint.sh` | rotation Job |
//! | `postgresql.auth.password` | postgres:17 | init-only: our `10-create-account.sh` (`postgresql.rs`) runs from `/docker-entrypoint-initdb.d`, which `docker_process_init_files` runs under the same guard | rotation Job |
//! | `postgresql.auth.username`, `postgresql.auth.database` | postgres:17 | init-only: created by the same init script | by hand, then `--rotated` |
//! | `elasticsearch.auth.password` | elasticsearch:8.19.2 | init-only in effect: the entrypoint adds `ELASTIC_PASSWORD` to the keystore as `bootstrap.password` (and only if the keystore lacks it) — elastic/elasticsearch `distribution/docker/src/docker/bin/docker-entrypoint.sh`; the bootstrap password stops counting once `elastic`'s password is stored in the `.security` index ("Built-in users", "The Elastic bootstrap password"), which lives on the data volume | by hand, then `--rotated` |
//! | `grafana.adminPassword` | grafana:12.0.2 | init-only: `[security] admin_password` is used to create the admin user on first start only (Grafana docs, "Configure Grafana", `admin_password`: "set once on first-run"); the user lives in `grafana.db` on the volume | by hand, then `--rotated` |
//! | `kibana.systemPassword` | curl (`global.toolsImage`) Job | applied by the `kibana-setup` Job through the Elasticsearch API; the Job's name hashes its pod template, which holds only a reference to the Secret's key (mounted as a file), so a new password does not run it again (`kibana.rs`) | by hand, then `--rotated` |
//! | `redis.auth.password` | redis:7.4-alpine | every start: `requirepass`/`masterauth` in the config file written at start (`kit::redis`) | the normal apply |
//!
//! External services (`<component>.enabled=false`) are the user's: nothing here
//! applies to them.

use super::values::Values;
use super::{Ctx, elasticsearch, grafana, kibana, postgresql};
use crate::model::{InitOnlyChange, Release, Rotation, RotationJob};
use crate::stacks::kit::rotation;
use crate::stacks::rotation_scripts;
use crate::stacks::workload as w;

pub const POSTGRES_PASSWORD: &str = "postgresql.auth.postgresPassword";
pub const PASSWORD: &str = "postgresql.auth.password";
pub const USERNAME: &str = "postgresql.auth.username";
pub const DATABASE: &str = "postgresql.auth.database";
pub const ELASTIC_PASSWORD: &str = "elasticsearch.auth.password";
pub const GRAFANA_ADMIN_PASSWORD: &str = "grafana.adminPassword";
pub const KIBANA_SYSTEM_PASSWORD: &str = "kibana.systemPassword";

/// The init-only credentials that differ between `old` (the release's current
/// values) and `new`.
pub fn init_only_changes(old: &Values, new: &Values, release: &Release) -> Vec<InitOnlyChange> {
    let mut out = Vec::new();
    let ns = &release.namespace;
    let mut push = |key, component, changed: bool, rotation| {
        if changed {
            out.push(InitOnlyChange {
                key,
                component,
                rotation,
            });
        }
    };
    let (o, n) = (&old.postgresql, &new.postgresql);
    if o.enabled && n.enabled {
        let (oa, na) = (&o.auth, &n.auth);
        push(
            POSTGRES_PASSWORD,
            postgresql::COMPONENT,
            oa.postgres_password != na.postgres_password,
            Rotation::Job,
        );
        push(
            PASSWORD,
            postgresql::COMPONENT,
            oa.password != na.password,
            Rotation::Job,
        );
        let manual = |what: &str, key: &str| {
            Rotation::Manual(format!(
                "the PostgreSQL image runs the init script that creates {what} only when it initialises an empty data directory; create it in PostgreSQL yourself (as postgres: CREATE ROLE … LOGIN / CREATE DATABASE … OWNER …), then upgrade again adding --rotated {key}"
            ))
        };
        push(
            USERNAME,
            postgresql::COMPONENT,
            oa.username != na.username,
            manual("the platform's role", USERNAME),
        );
        push(
            DATABASE,
            postgresql::COMPONENT,
            oa.database != na.database,
            manual("the platform's database", DATABASE),
        );
    }
    let es_pod = release.object_name("elasticsearch-0");
    if old.elasticsearch.enabled && new.elasticsearch.enabled {
        push(
            ELASTIC_PASSWORD,
            elasticsearch::COMPONENT,
            old.elasticsearch.auth.password != new.elasticsearch.auth.password,
            Rotation::Manual(format!(
                "Elasticsearch reads ELASTIC_PASSWORD only as its bootstrap password, which no longer counts once the elastic user's password is stored; set the new password in Elasticsearch first (`kubectl -n {ns} exec -it {es_pod} -- bin/elasticsearch-reset-password -u elastic -i`, or POST /_security/user/elastic/_password as elastic), then upgrade again adding --rotated {ELASTIC_PASSWORD}"
            )),
        );
    }
    if old.grafana.enabled && new.grafana.enabled {
        push(
            GRAFANA_ADMIN_PASSWORD,
            grafana::COMPONENT,
            old.grafana.admin_password != new.grafana.admin_password,
            Rotation::Manual(format!(
                "Grafana uses admin_password only when it creates the admin user at first start; set the new password in Grafana first (`kubectl -n {ns} exec -it {} -- grafana cli admin reset-admin-password`, or PUT /api/user/password as the admin), then upgrade again adding --rotated {GRAFANA_ADMIN_PASSWORD}",
                release.object_name("grafana-0")
            )),
        );
    }
    if old.kibana.enabled && new.kibana.enabled {
        push(
            KIBANA_SYSTEM_PASSWORD,
            kibana::COMPONENT,
            old.kibana.system_password != new.kibana.system_password,
            Rotation::Manual(format!(
                "the kibana-setup Job sets kibana_system's password once and does not run again for a new one; set it in Elasticsearch first (POST /_security/user/kibana_system/_password as elastic, e.g. from `kubectl -n {ns} exec -it {es_pod} -- curl -u elastic …`), then upgrade again adding --rotated {KIBANA_SYSTEM_PASSWORD}"
            )),
        );
    }
    out
}

/// The Job changing the passwords of `keys` (of [`init_only_changes`] with
/// [`Rotation::Job`]) in the running PostgreSQL, logged in as `postgres` with
/// `old`'s password. The role is `old`'s: a changed role name is refused, not
/// rotated.
pub fn rotation_jobs(
    old: &Values,
    new: &Values,
    release: &Release,
    keys: &[&str],
) -> Vec<RotationJob> {
    if !(old.postgresql.enabled && new.postgresql.enabled) {
        return Vec::new();
    }
    let ctx = Ctx::for_jobs(release, old);
    let Some(pg) = ctx.conn.postgresql.as_ref() else {
        return Vec::new();
    };
    let (o, n) = (&old.postgresql.auth, &new.postgresql.auth);
    let accounts = rotation::Accounts {
        component: postgresql::COMPONENT,
        admin_key: POSTGRES_PASSWORD,
        app_key: PASSWORD,
        host: &pg.host,
        port: pg.port,
        admin_password: &o.postgres_password,
        new_admin_password: &n.postgres_password,
        new_app_password: &n.password,
        script: rotation_scripts::POSTGRESQL,
        settings: vec![
            // The image's superuser: `POSTGRES_USER` as `postgresql.rs` sets it.
            w::env("ADMIN_USER", "postgres"),
            w::env("APP_USER", &o.username),
            w::env("APP_DATABASE", &o.database),
        ],
        image: ctx.own_image(&old.postgresql.image),
    };
    rotation::job(&ctx, keys, accounts)
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;
    use super::*;

    fn release() -> Release {
        Release {
            name: "ops".into(),
            namespace: "aiops".into(),
            stack: "aiops",
            revision: 2,
        }
    }

    fn keys(c: &[InitOnlyChange]) -> Vec<&'static str> {
        c.iter().map(|c| c.key).collect()
    }

    #[test]
    fn unchanged_values_change_nothing() {
        assert!(init_only_changes(&values(), &values(), &release()).is_empty());
    }

    #[test]
    fn each_init_only_credential_is_detected_with_its_way() {
        let old = values();
        let mut new = values();
        new.postgresql.auth.postgres_password = "NewSuper".into();
        new.postgresql.auth.password = "NewApp".into();
        new.elasticsearch.auth.password = "NewElastic".into();
        new.grafana.admin_password = "NewGrafana".into();
        new.kibana.system_password = "NewKibana".into();
        let changes = init_only_changes(&old, &new, &release());
        assert_eq!(
            keys(&changes),
            [
                POSTGRES_PASSWORD,
                PASSWORD,
                ELASTIC_PASSWORD,
                GRAFANA_ADMIN_PASSWORD,
                KIBANA_SYSTEM_PASSWORD
            ]
        );
        assert_eq!(changes[0].rotation, Rotation::Job);
        assert_eq!(changes[1].rotation, Rotation::Job);
        for c in &changes[2..] {
            let Rotation::Manual(how) = &c.rotation else {
                panic!("{c:?}")
            };
            assert!(how.contains(&format!("--rotated {}", c.key)), "{how}");
        }
        let Rotation::Manual(grafana) = &changes[3].rotation else {
            unreachable!()
        };
        assert!(
            grafana.contains("grafana cli admin reset-admin-password"),
            "{grafana}"
        );
        let Rotation::Manual(es) = &changes[2].rotation else {
            unreachable!()
        };
        assert!(
            es.contains("elasticsearch-reset-password -u elastic"),
            "{es}"
        );
    }

    #[test]
    fn components_switched_off_or_external_are_left_alone() {
        let mut old = values();
        old.grafana.enabled = false;
        old.postgresql.enabled = false;
        let mut new = old.clone();
        new.grafana.admin_password = "NewGrafana".into();
        new.postgresql.auth.password = "NewApp".into();
        assert!(init_only_changes(&old, &new, &release()).is_empty());
        assert!(rotation_jobs(&old, &new, &release(), &[PASSWORD]).is_empty());
    }

    #[test]
    fn the_job_logs_in_as_postgres_with_the_old_password() {
        let old = values();
        let mut new = values();
        new.postgresql.auth.password = "NewApp".into();
        let jobs = rotation_jobs(&old, &new, &release(), &[PASSWORD]);
        assert_eq!(jobs.len(), 1);
        let job = &jobs[0];
        assert_eq!(job.keys, [PASSWORD]);
        assert_eq!(job.secret["postgresql-admin-password"], PG_SUPER_PW);
        assert_eq!(job.secret["postgresql-new-admin-password"], "");
        assert_eq!(job.secret["postgresql-new-app-password"], "NewApp");
        assert_eq!(job.probe.script, rotation_scripts::POSTGRESQL);
        assert_eq!(job.probe.image, "postgres:17");
        for e in &job.probe.env {
            if e.name.contains("PASSWORD") {
                let r = e
                    .value_from
                    .as_ref()
                    .unwrap()
                    .secret_key_ref
                    .as_ref()
                    .unwrap();
                assert_eq!(r.name, "ops-credential-rotation");
            }
        }
    }
}
