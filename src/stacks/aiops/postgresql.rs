//! PostgreSQL (postgres:17): a one-pod StatefulSet with its data in a subdirectory
//! of the volume (a fresh volume holds `lost+found`), the `postgres` superuser's
//! password and the platform's account from files of a Secret, created at first
//! start by an init script that hands the password to psql through its env (a
//! here-document on psql's stdin, never an argument), and a postgres-exporter
//! sidecar for the connections alert. External: only the credentials Secret.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::Ctx;
use super::common::DATA_VOLUME;
use super::connections::{POSTGRES_PORT, credentials_secret, keys};
use super::prometheus::scrape_annotations;
use super::values::{LogLevel, Values};
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "postgresql";
pub const METRICS_PORT: u16 = 9187;
/// The `postgres` user of the official image.
const UID: i64 = 999;
const MOUNT: &str = "/var/lib/postgresql/data";
const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
/// Where the Secret's keys are mounted, one directory each holding the file
/// `password`: the superuser's and the platform account's.
const POSTGRES_PASSWORD_DIR: &str = "/credentials/postgres";
const APP_PASSWORD_DIR: &str = "/credentials/app";

/// Whether Prometheus scrapes the exporter sidecar.
pub fn scraped(v: &Values) -> bool {
    v.postgresql.enabled && v.postgresql.metrics.enabled && v.prometheus.enabled
}

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.postgresql;
    let conn = ctx.conn.postgresql.as_ref()?;
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Data, &v.image.tag);
    let mut credentials = BTreeMap::from([(keys::PASSWORD.to_string(), conn.password.clone())]);
    if !v.enabled {
        ctx.push_credentials(&mut b, COMPONENT, credentials);
        return Some(b.finish(vec![]));
    }
    credentials.insert(
        keys::POSTGRES_PASSWORD.to_string(),
        v.auth.postgres_password.clone(),
    );
    ctx.push_credentials(&mut b, COMPONENT, credentials);

    let init = init_script(&v.auth.username, &v.auth.database);
    let init_name = ctx.release.object_name("postgresql-init");
    b.push_in(
        Phase::Storage,
        w::config_map(
            &b,
            init_name.clone(),
            BTreeMap::from([("10-create-account.sh".to_string(), init)]),
        ),
    );
    let ports = vec![w::service_port("postgresql", i32::from(POSTGRES_PORT))];
    b.push(w::headless_service(&b, ports.clone()));
    b.push(w::client_service(&b, "ClusterIP", ports));
    let mut containers = vec![container(ctx)];
    let mut annotations = BTreeMap::new();
    if v.metrics.enabled {
        containers.push(exporter(ctx));
        if scraped(ctx.values) {
            annotations = scrape_annotations(METRICS_PORT, "/metrics");
        }
    }
    let secret = credentials_secret(ctx.release, COMPONENT);
    let pod = PodSpec {
        containers,
        // The password files are mode 0440 with the pod's fsGroup: the `postgres`
        // user reads them, in both containers.
        volumes: Some(vec![
            w::config_map_volume("init", &init_name),
            w::empty_dir("run"),
            w::empty_dir("tmp"),
            w::secret_key_volume("postgres-password", &secret, keys::POSTGRES_PASSWORD),
            w::secret_key_volume("app-password", &secret, keys::PASSWORD),
        ]),
        ..ctx.pod_spec(&b, 1, w::pod_security(Some(UID), Some(UID)))
    };
    b.push(ctx.single_stateful_set(&b, annotations, pod, &v.persistence));
    Some(b.finish(vec![]))
}

/// Creates the platform's account and database at first initialisation (the image
/// runs `/docker-entrypoint-initdb.d` only on an empty data directory).
///
/// The entrypoint sources a `*.sh` file that is not executable (a ConfigMap file is
/// mode 0644) into its own bash, with the container's env (docker-library/postgres,
/// `17/bookworm/docker-entrypoint.sh`, `docker_process_init_files`). The password
/// is read from the file `APP_PASSWORD_FILE` names, put in psql's env only
/// (`APP_PASSWORD`, a prefix assignment) and read by psql itself (`\getenv`, psql 15
/// and later),
/// and into the SQL as a psql variable quoted as a literal (`:'name'`), so any
/// password works, quotes, backslashes and `$` included; the here-document's
/// delimiter is quoted, so the shell expands nothing in it. The password is on no
/// command line. The names are checked identifiers (see `validate`).
fn init_script(username: &str, database: &str) -> String {
    format!(
        r#"#!/bin/sh
set -e
app_password=$(cat "$APP_PASSWORD_FILE")
APP_PASSWORD=$app_password psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<'EOSQL'
\getenv app_password APP_PASSWORD
CREATE ROLE "{username}" LOGIN PASSWORD :'app_password';
CREATE DATABASE "{database}" OWNER "{username}";
EOSQL
unset app_password
"#
    )
}

fn log_min_messages(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Debug => "debug1",
        LogLevel::Info => "info",
        LogLevel::Warn => "warning",
        LogLevel::Error => "error",
    }
}

fn container(ctx: &Ctx<'_>) -> Container {
    let v = &ctx.values.postgresql;
    // Readiness proves the superuser's password works over TCP; the entrypoint's
    // first-run server listens on the socket only, so it stays false until
    // initialisation is done. The password is read from the mounted file on every
    // run (the image reads POSTGRES_PASSWORD_FILE at first initialisation only; the
    // file follows the Secret, rotations included) and reaches psql through its env.
    let ready = format!(
        r#"PGPASSWORD=$(cat "$POSTGRES_PASSWORD_FILE") psql -w -h 127.0.0.1 -p {POSTGRES_PORT} -U postgres -d postgres -tAc 'SELECT 1' | grep -q 1"#
    );
    let alive = format!("pg_isready -h 127.0.0.1 -p {POSTGRES_PORT} -U postgres");
    Container {
        args: Some(vec![
            "postgres".into(),
            "-c".into(),
            format!("log_min_messages={}", log_min_messages(ctx.log_level())),
        ]),
        // The entrypoint's `file_env` reads POSTGRES_PASSWORD_FILE (see the image
        // contract), and only when it initialises an empty PGDATA: a release
        // installed with the env var keeps its passwords when it moves to files.
        // APP_PASSWORD_FILE is the init script's.
        env: Some(vec![
            w::env("POSTGRES_USER", "postgres"),
            w::env(
                "POSTGRES_PASSWORD_FILE",
                format!("{POSTGRES_PASSWORD_DIR}/password"),
            ),
            w::env("APP_PASSWORD_FILE", format!("{APP_PASSWORD_DIR}/password")),
            w::env("PGDATA", PGDATA),
        ]),
        ports: Some(vec![w::container_port(
            "postgresql",
            i32::from(POSTGRES_PORT),
        )]),
        // Read-only root: the server writes PGDATA (the volume) and its socket and
        // lock in /var/run/postgresql; the entrypoint may mktemp in /tmp. Both are
        // emptyDirs (see the image contract).
        volume_mounts: Some(vec![
            w::mount(DATA_VOLUME, MOUNT, false),
            w::mount("init", "/docker-entrypoint-initdb.d", true),
            w::mount("run", "/var/run/postgresql", false),
            w::mount("tmp", "/tmp", false),
            w::mount("postgres-password", POSTGRES_PASSWORD_DIR, true),
            w::mount("app-password", APP_PASSWORD_DIR, true),
        ]),
        readiness_probe: Some(w::exec_probe(&ready, Timing::READINESS)),
        liveness_probe: Some(w::exec_probe(&alive, Timing::LIVENESS)),
        startup_probe: Some(w::exec_probe(&alive, Timing::STARTUP)),
        ..w::read_only_root(ctx.container(COMPONENT, &v.image, &v.resources))
    }
}

fn exporter(ctx: &Ctx<'_>) -> Container {
    let m = &ctx.values.postgresql.metrics;
    Container {
        // DATA_SOURCE_PASS_FILE: read once at start (see the image contract).
        env: Some(vec![
            w::env(
                "DATA_SOURCE_URI",
                format!("127.0.0.1:{POSTGRES_PORT}/postgres?sslmode=disable"),
            ),
            w::env("DATA_SOURCE_USER", "postgres"),
            w::env(
                "DATA_SOURCE_PASS_FILE",
                format!("{POSTGRES_PASSWORD_DIR}/password"),
            ),
        ]),
        volume_mounts: Some(vec![w::mount(
            "postgres-password",
            POSTGRES_PASSWORD_DIR,
            true,
        )]),
        ports: Some(vec![w::container_port("metrics", i32::from(METRICS_PORT))]),
        readiness_probe: Some(w::tcp_probe("metrics", Timing::READINESS)),
        liveness_probe: Some(w::tcp_probe("metrics", Timing::LIVENESS)),
        // The exporter writes nothing (its contract lists no writable path).
        ..w::read_only_root(w::container(
            "metrics",
            ctx.image(&m.image),
            m.image.pull_policy.as_str(),
            w::resources(("25m", "32Mi"), ("200m", "128Mi")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    #[test]
    fn pgdata_in_a_subdirectory_and_passwords_from_the_secret() {
        let all = render_all(&values());
        let r = component(&all, "postgresql");
        let s = find(r, "Secret", "ops-postgresql-credentials");
        assert_eq!(secret_value(s, "postgres-password"), PG_SUPER_PW);
        assert_eq!(secret_value(s, "password"), PG_PW);
        let sts = find(r, "StatefulSet", "ops-postgresql");
        assert_eq!(
            sts.body["spec"]["template"]["spec"]["containers"][0]["image"],
            "postgres:17"
        );
        let c = container_of(sts, "postgresql");
        assert_eq!(env(c, "PGDATA"), Some("/var/lib/postgresql/data/pgdata"));
        assert_eq!(
            c["volumeMounts"][0]["mountPath"],
            "/var/lib/postgresql/data"
        );
        // Read-only roots; the socket directory and /tmp on emptyDirs.
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        let pod = &sts.body["spec"]["template"]["spec"];
        for (name, path) in [("run", "/var/run/postgresql"), ("tmp", "/tmp")] {
            let mounts = c["volumeMounts"].as_array().unwrap();
            assert!(
                mounts
                    .iter()
                    .any(|m| m["name"] == name && m["mountPath"] == path),
                "{c}"
            );
            let volumes = pod["volumes"].as_array().unwrap();
            assert!(
                volumes
                    .iter()
                    .any(|v| v["name"] == name && v["emptyDir"].is_object()),
                "{pod}"
            );
        }
        assert_eq!(
            container_of(sts, "metrics")["securityContext"]["readOnlyRootFilesystem"],
            true
        );
        // Passwords as files of the Secret, no env var holds one.
        let secret = "ops-postgresql-credentials";
        assert_password_file(
            pod,
            c,
            "POSTGRES_PASSWORD_FILE",
            "/credentials/postgres",
            secret,
            "postgres-password",
        );
        assert_password_file(
            pod,
            c,
            "APP_PASSWORD_FILE",
            "/credentials/app",
            secret,
            "password",
        );
        let ready = c["readinessProbe"]["exec"]["command"][2].as_str().unwrap();
        assert!(ready.contains("SELECT 1"), "{ready}");
        assert!(
            ready.starts_with(r#"PGPASSWORD=$(cat "$POSTGRES_PASSWORD_FILE") psql "#),
            "{ready}"
        );
        let init = config_value(
            find(r, "ConfigMap", "ops-postgresql-init"),
            "10-create-account.sh",
        );
        // The password reaches SQL as a psql variable, never through the shell.
        assert!(
            init.contains("app_password=$(cat \"$APP_PASSWORD_FILE\")\n"),
            "{init}"
        );
        assert!(
            init.contains("<<'EOSQL'\n\\getenv app_password APP_PASSWORD\n"),
            "{init}"
        );
        assert!(
            init.contains("CREATE ROLE \"aiops\" LOGIN PASSWORD :'app_password';"),
            "{init}"
        );
        assert!(
            init.contains("CREATE DATABASE \"aiops\" OWNER \"aiops\""),
            "{init}"
        );
        let exporter = container_of(sts, "metrics");
        assert_password_file(
            pod,
            exporter,
            "DATA_SOURCE_PASS_FILE",
            "/credentials/postgres",
            secret,
            "postgres-password",
        );
        for container in [c, exporter] {
            assert_no_secret_env(container);
        }
    }
}
