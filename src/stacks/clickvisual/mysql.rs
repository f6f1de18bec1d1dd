//! MySQL: ClickVisual's metadata store. Internal: a one-pod StatefulSet; external:
//! only the credentials Secret, for the apps to read the password from.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, VolumeMount};

use super::Ctx;
use super::common::DATA_VOLUME;
use super::connections::{credentials_secret, keys};
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "mysql";
pub(super) const PORT: i32 = 3306;
/// The `mysql` user and group of the official image.
const UID: i64 = 999;
/// The claim is mounted one level up: a fresh ext4 volume holds `lost+found`, and
/// `mysqld --initialize` refuses a data directory that is not empty.
const MOUNT: &str = "/var/lib/mysql";
const DATADIR: &str = "/var/lib/mysql/data";
/// Where the Secret's keys are mounted, one directory each holding the file
/// `password` (the convention of the stacks' file-reading containers).
const ROOT_PASSWORD_DIR: &str = "/credentials/root";
const APP_PASSWORD_DIR: &str = "/credentials/app";

/// Readiness: proves the root credentials work over TCP. `mysqladmin ping` exits 0
/// even on "Access denied", and the entrypoint's first-run server listens on the
/// socket only, so this stays false until initialisation is done.
///
/// The password is read from the mounted file on every run, not from the env: the
/// image reads `MYSQL_ROOT_PASSWORD_FILE` only at first initialisation, while the
/// file follows the Secret, so after a rotation the probe logs in with the new
/// password without a restart. It reaches the client as an option file on a pipe,
/// as the image's own entrypoint does (`_mysql_passfile`), never as an argument. In
/// option files a backslash escapes and a `"` ends a quoted value, so both are
/// escaped.
pub const READINESS: &str = r#"pw=$(cat "$MYSQL_ROOT_PASSWORD_FILE") || exit 1
escaped=$(printf '%s' "$pw" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
printf '[client]\npassword="%s"\n' "$escaped" | mysql --defaults-extra-file=/dev/stdin -h 127.0.0.1 -u root -e 'SELECT 1' >/dev/null"#;

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.mysql;
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Data, &v.image.tag);

    let mut credentials = BTreeMap::from([(
        keys::MYSQL_PASSWORD.to_string(),
        ctx.conn.mysql.password.clone(),
    )]);
    if !v.enabled {
        ctx.push_credentials(&mut b, COMPONENT, credentials);
        return Some(b.finish(vec![]));
    }
    credentials.insert(
        keys::MYSQL_ROOT_PASSWORD.to_string(),
        v.auth.root_password.clone(),
    );
    ctx.push_credentials(&mut b, COMPONENT, credentials);

    let ports = vec![w::service_port("mysql", PORT)];
    b.push(w::headless_service(&b, ports.clone()));
    b.push(w::client_service(&b, "ClusterIP", ports));
    let globals = ctx.pod_globals();
    let secret = credentials_secret(ctx.release, COMPONENT);
    let pod = PodSpec {
        containers: vec![container(ctx)],
        // Mode 0440 and the pod's fsGroup: the `mysql` user reads them.
        volumes: Some(vec![
            w::secret_key_volume("root-password", &secret, keys::MYSQL_ROOT_PASSWORD),
            w::secret_key_volume("app-password", &secret, keys::MYSQL_PASSWORD),
        ]),
        ..w::pod_spec(&b, &globals, 1, w::pod_security(Some(UID), Some(UID)))
    };
    b.push(ctx.single_stateful_set(&b, BTreeMap::new(), pod, &v.persistence));
    Some(b.finish(vec![]))
}

fn container(ctx: &Ctx<'_>) -> Container {
    let v = &ctx.values.mysql;
    // Liveness only asks whether mysqld answers at all, credentials aside, so that a
    // password problem is reported by readiness rather than by a restart loop.
    let alive = "mysqladmin ping --silent";
    Container {
        args: Some(vec![
            "mysqld".into(),
            "--character-set-server=utf8mb4".into(),
            "--collation-server=utf8mb4_general_ci".into(),
            format!("--datadir={DATADIR}"),
        ]),
        // Passwords as files: the entrypoint's `file_env` reads `<VAR>_FILE`
        // (see the image contract). It does so only when it initialises an empty
        // data directory, so a release installed with the env vars keeps its
        // passwords when it moves to the files.
        env: Some(vec![
            w::env(
                "MYSQL_ROOT_PASSWORD_FILE",
                format!("{ROOT_PASSWORD_DIR}/password"),
            ),
            w::env("MYSQL_DATABASE", &v.auth.database),
            w::env("MYSQL_USER", &v.auth.username),
            w::env(
                "MYSQL_PASSWORD_FILE",
                format!("{APP_PASSWORD_DIR}/password"),
            ),
        ]),
        ports: Some(vec![w::container_port("mysql", PORT)]),
        volume_mounts: Some(vec![
            VolumeMount {
                name: DATA_VOLUME.into(),
                mount_path: MOUNT.into(),
                ..Default::default()
            },
            w::mount("root-password", ROOT_PASSWORD_DIR, true),
            w::mount("app-password", APP_PASSWORD_DIR, true),
        ]),
        readiness_probe: Some(w::exec_probe(READINESS, Timing::READINESS)),
        liveness_probe: Some(w::exec_probe(alive, Timing::LIVENESS)),
        startup_probe: Some(w::exec_probe(alive, Timing::STARTUP)),
        ..ctx.container(COMPONENT, &v.image, &v.resources)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    #[test]
    fn internal_mysql_reads_passwords_from_its_secret() {
        let v = values();
        let all = render_all(&v);
        let r = component(&all, "mysql");
        let secret = find(r, "Secret", "cv-mysql-credentials");
        assert_eq!(secret.phase.as_str(), "storage");
        assert_eq!(secret_value(secret, "mysql-root-password"), MYSQL_ROOT);
        assert_eq!(secret_value(secret, "mysql-password"), MYSQL_PW);

        let sts = find(r, "StatefulSet", "cv-mysql");
        assert_eq!(sts.phase.as_str(), "data");
        assert_eq!(sts.body["spec"]["serviceName"], "cv-mysql-headless");
        let c = container_of(sts, "mysql");
        assert_eq!(env(c, "MYSQL_DATABASE"), Some("clickvisual"));
        // Passwords as files of the Secret, no env var holds one.
        let pod = &sts.body["spec"]["template"]["spec"];
        for (var, dir, key) in [
            (
                "MYSQL_ROOT_PASSWORD_FILE",
                "/credentials/root",
                "mysql-root-password",
            ),
            ("MYSQL_PASSWORD_FILE", "/credentials/app", "mysql-password"),
        ] {
            assert_password_file(pod, c, var, dir, "cv-mysql-credentials", key);
        }
        assert_no_secret_env(c);
        // The probe reads the root password from the file, which follows the Secret.
        let ready = c["readinessProbe"]["exec"]["command"][2].as_str().unwrap();
        assert!(ready.contains("SELECT 1"), "{ready}");
        assert!(
            ready.contains(r#"cat "$MYSQL_ROOT_PASSWORD_FILE""#),
            "{ready}"
        );
        assert!(!ready.contains(" -p"), "no password argument: {ready}");
        let headless = find(r, "Service", "cv-mysql-headless");
        assert_eq!(headless.body["spec"]["publishNotReadyAddresses"], true);
    }

    #[test]
    fn external_mysql_renders_only_its_secret() {
        let mut v = values();
        v.mysql.enabled = false;
        v.mysql.external.host = "db.example.com".into();
        v.mysql.external.password = "ExternalPw".into();
        let all = render_all(&v);
        let r = component(&all, "mysql");
        assert_eq!(r.manifests.len(), 1);
        let secret = find(r, "Secret", "cv-mysql-credentials");
        assert_eq!(secret_value(secret, "mysql-password"), "ExternalPw");
        assert!(secret.body["data"].get("mysql-root-password").is_none());
    }

    #[test]
    fn storage_class_precedence_reaches_the_claim() {
        let mut v = values();
        let class = |v: &super::super::values::Values| {
            let all = render_all(v);
            let sts = find(component(&all, "mysql"), "StatefulSet", "cv-mysql");
            sts.body["spec"]["volumeClaimTemplates"][0]["spec"]
                .get("storageClassName")
                .and_then(|c| c.as_str())
                .map(str::to_string)
        };
        assert_eq!(class(&v), None);
        v.global.storage_class = "standard".into();
        assert_eq!(class(&v).as_deref(), Some("standard"));
        v.mysql.persistence.storage_class = "fast".into();
        assert_eq!(class(&v).as_deref(), Some("fast"));
    }
}
