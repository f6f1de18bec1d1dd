//! Kibana, and the Job that sets the password of its `kibana_system` user first
//! (since 8.0 Kibana may not use `elastic`). The Job runs in the data phase after
//! Elasticsearch; Kibana, in the apps phase, depends on it.
//!
//! Credentials reach both from Secrets through env vars and never sit on a command
//! line: the Job writes a `.netrc` and the request body with the shell's `printf`
//! builtin; Kibana reads `${KIBANA_SYSTEM_PASSWORD}` in `kibana.yml` (not the
//! image's `ELASTICSEARCH_PASSWORD`, which its entrypoint turns into a flag).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use serde_json::json;

use super::Ctx;
use super::common::yaml;
use super::connections::{credentials_secret, keys};
use super::{elasticsearch, routes};
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "kibana";
pub const SETUP: &str = "kibana-setup";
pub const PORT: u16 = 5601;
/// Not the image's `kibana` (1000): a high uid in group 0, which the image is
/// built for ("relying on GID-0 to run Kibana, rather than UID-1000": every file
/// under /usr/share/kibana is owned by group 0 with the owner's rights,
/// elastic/dockerfiles `kibana/Dockerfile`). Kibana keeps no volume, so the uid can
/// change under an existing release.
const UID: i64 = 10001;
/// Group 0, whose rights on the image's files equal the owner's.
const GID: i64 = 0;
/// `nobody`, not the tools image's `curl_user` (a system uid Alpine picks): the Job
/// runs curl, which needs no file of the image's user, as the HTTP probes do
/// (`src/probe/job.rs`). Its only writes go to `/tmp`, an emptyDir under a read-only
/// root. The Job's name hashes its pod template, so a release upgraded to this runs
/// it once more, which sets the password the Secret already holds.
const TOOLS_UID: i64 = 65534;

/// Waits for Elasticsearch, then sets `kibana_system`'s password (idempotent).
/// Env: `ES_URL`, `ES_HOST` (of the URL, for the `.netrc`), `ES_USER`, and the
/// passwords as files: `ES_PASSWORD_FILE`, `KIBANA_PASSWORD_FILE` (the Job mounts
/// the Secrets' keys; `$(cat)` drops trailing newlines, which neither the `.netrc`
/// nor the JSON body could hold anyway).
pub const SET_PASSWORD: &str = r#"set -eu
umask 077
ES_PASSWORD=$(cat "$ES_PASSWORD_FILE")
KIBANA_PASSWORD=$(cat "$KIBANA_PASSWORD_FILE")
printf 'machine %s login %s password %s\n' "$ES_HOST" "$ES_USER" "$ES_PASSWORD" > /tmp/netrc
printf '{"password":"%s"}' "$KIBANA_PASSWORD" > /tmp/body.json
until curl -sS -f -o /dev/null --max-time 15 --netrc-file /tmp/netrc "$ES_URL/_cluster/health?wait_for_status=yellow&timeout=10s"; do
  echo "waiting for Elasticsearch at $ES_URL"; sleep 5
done
curl -sS --fail-with-body --max-time 30 --netrc-file /tmp/netrc -X POST -H 'Content-Type: application/json' --data-binary @/tmp/body.json "$ES_URL/_security/user/kibana_system/_password"
rm -f /tmp/netrc /tmp/body.json
echo
echo "the password of kibana_system is set"
"#;

/// The Job setting `kibana_system`'s password through the Elasticsearch API.
pub fn render_setup(ctx: &Ctx<'_>) -> Option<Rendered> {
    if !ctx.values.kibana.enabled {
        return None;
    }
    let es = ctx.conn.elasticsearch.as_ref()?;
    let tools = &ctx.values.global.tools_image;
    let mut b = Builder::new(ctx.release, SETUP, Phase::Data, &tools.tag);
    let kibana_secret = credentials_secret(ctx.release, COMPONENT);
    let container = Container {
        command: Some(w::shell(SET_PASSWORD)),
        env: Some(vec![
            w::env("ES_URL", &es.url),
            w::env("ES_HOST", &es.host),
            w::env("ES_USER", &es.username),
            w::env("ES_PASSWORD_FILE", "/credentials/elasticsearch/password"),
            w::env("KIBANA_PASSWORD_FILE", "/credentials/kibana/password"),
        ]),
        volume_mounts: Some(vec![
            w::mount("tmp", "/tmp", false),
            w::mount("elasticsearch-password", "/credentials/elasticsearch", true),
            w::mount("kibana-password", "/credentials/kibana", true),
        ]),
        ..w::read_only_root(ctx.tools_container("set-password"))
    };
    let pod = PodSpec {
        containers: vec![container],
        volumes: Some(vec![
            w::empty_dir("tmp"),
            w::secret_key_volume(
                "elasticsearch-password",
                &es.password_ref.secret,
                es.password_ref.key,
            ),
            w::secret_key_volume(
                "kibana-password",
                &kibana_secret,
                keys::KIBANA_SYSTEM_PASSWORD,
            ),
        ]),
        ..ctx.pod_spec(&b, 1, w::pod_security(Some(TOOLS_UID), Some(TOOLS_UID)))
    };
    b.push(w::job(&b, 6, 900, pod));
    let deps = if es.internal {
        vec![elasticsearch::COMPONENT]
    } else {
        vec![]
    };
    Some(b.finish(deps))
}

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.kibana;
    if !v.enabled {
        return None;
    }
    let es = ctx.conn.elasticsearch.as_ref()?;
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Apps, &v.image.tag);
    ctx.push_credentials(
        &mut b,
        COMPONENT,
        BTreeMap::from([
            (
                keys::KIBANA_SYSTEM_PASSWORD.to_string(),
                v.system_password.clone(),
            ),
            (
                keys::KIBANA_ENCRYPTION_KEY.to_string(),
                v.encryption_key.clone(),
            ),
        ]),
    );
    let config = kibana_yml(ctx, &es.url);
    let config_name = ctx.release.object_name("kibana-config");
    let checksum = w::checksum_annotation(&config);
    b.push_in(
        Phase::Storage,
        w::config_map(
            &b,
            config_name.clone(),
            BTreeMap::from([("kibana.yml".to_string(), config)]),
        ),
    );
    let secret = credentials_secret(ctx.release, COMPONENT);
    let status = format!("{}/api/status", routes::kibana_prefix(ctx.values));
    let container = Container {
        env: Some(vec![
            w::env("ELASTICSEARCH_USERNAME", "kibana_system"),
            w::env_secret(
                "KIBANA_SYSTEM_PASSWORD",
                &secret,
                keys::KIBANA_SYSTEM_PASSWORD,
            ),
            w::env_secret(
                "KIBANA_ENCRYPTION_KEY",
                &secret,
                keys::KIBANA_ENCRYPTION_KEY,
            ),
        ]),
        ports: Some(vec![w::container_port("http", i32::from(PORT))]),
        volume_mounts: Some(vec![w::mount_file(
            "config",
            "/usr/share/kibana/config/kibana.yml",
            "kibana.yml",
        )]),
        // Anonymous status (status.allowAnonymous) answers 503 until Kibana is
        // available; liveness only asks that it listens, so an Elasticsearch outage
        // does not restart it.
        readiness_probe: Some(w::http_probe(&status, "http", Timing::READINESS)),
        liveness_probe: Some(w::tcp_probe("http", Timing::LIVENESS)),
        startup_probe: Some(w::tcp_probe("http", Timing::STARTUP)),
        ..ctx.container(COMPONENT, &v.image, &v.resources)
    };
    let pod = PodSpec {
        containers: vec![container],
        volumes: Some(vec![w::config_map_volume("config", &config_name)]),
        ..ctx.pod_spec(&b, v.replicas, w::pod_security(Some(UID), Some(GID)))
    };
    b.push(w::deployment(&b, v.replicas, checksum, pod));
    b.push(w::client_service(
        &b,
        "ClusterIP",
        vec![w::service_port("http", i32::from(PORT))],
    ));
    w::push_pdb(&mut b, ctx.caps, &ctx.pod_globals(), v.replicas);
    let mut deps = vec![SETUP];
    if es.internal {
        deps.push(elasticsearch::COMPONENT);
    }
    Some(b.finish(deps))
}

fn kibana_yml(ctx: &Ctx<'_>, es_url: &str) -> String {
    let prefix = routes::kibana_prefix(ctx.values);
    let mut c = json!({
        "server.name": ctx.release.object_name(COMPONENT),
        "server.host": "0.0.0.0",
        "server.port": PORT,
        "elasticsearch.hosts": [es_url],
        "elasticsearch.username": "kibana_system",
        "elasticsearch.password": "${KIBANA_SYSTEM_PASSWORD}",
        "xpack.encryptedSavedObjects.encryptionKey": "${KIBANA_ENCRYPTION_KEY}",
        "xpack.security.encryptionKey": "${KIBANA_ENCRYPTION_KEY}",
        "xpack.reporting.encryptionKey": "${KIBANA_ENCRYPTION_KEY}",
        "status.allowAnonymous": true,
        "telemetry.optIn": false,
        "logging.root.level": ctx.log_level().as_str(),
    });
    if !prefix.is_empty() {
        c["server.basePath"] = json!(prefix);
        c["server.rewriteBasePath"] = json!(true);
        if let Some(url) = routes::external_url(ctx.values, prefix) {
            c["server.publicBaseUrl"] = json!(url);
        }
    }
    yaml(&c)
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    #[test]
    fn setup_job_runs_after_elasticsearch_and_before_kibana() {
        let all = render_all(&values());
        let setup = component(&all, "kibana-setup");
        assert_eq!(setup.phase.as_str(), "data");
        assert_eq!(setup.depends_on, vec!["elasticsearch"]);
        let kibana = component(&all, "kibana");
        assert_eq!(kibana.phase.as_str(), "apps");
        assert_eq!(kibana.depends_on, vec!["kibana-setup", "elasticsearch"]);

        let job = only(setup, "Job");
        assert!(job.name.starts_with("ops-kibana-setup-"), "{}", job.name);
        let c = container_of(job, "set-password");
        let script = c["command"][2].as_str().unwrap();
        assert!(
            script.contains("/_security/user/kibana_system/_password"),
            "{script}"
        );
        assert!(script.contains("--netrc-file /tmp/netrc"), "{script}");
        assert!(script.contains("--data-binary @/tmp/body.json"), "{script}");
        assert!(!script.contains(" -u "), "{script}");
        assert!(!script.contains(" -d "), "{script}");
        // Passwords as files of the Secrets, no env var holds one.
        assert_no_secret_env(c);
        let pod = &job.body["spec"]["template"]["spec"];
        for (var, dir, secret, key) in [
            (
                "ES_PASSWORD_FILE",
                "/credentials/elasticsearch",
                "ops-elasticsearch-credentials",
                "elastic-password",
            ),
            (
                "KIBANA_PASSWORD_FILE",
                "/credentials/kibana",
                "ops-kibana-credentials",
                "kibana-system-password",
            ),
        ] {
            assert_password_file(pod, c, var, dir, secret, key);
        }
        assert_eq!(
            env(c, "ES_URL"),
            Some("http://ops-elasticsearch.mon.svc:9200")
        );
        let pod = &job.body["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "OnFailure");
        // curl as nobody under a read-only root; the script's files go to /tmp.
        assert_eq!(pod["securityContext"]["runAsUser"], 65534);
        assert_eq!(pod["securityContext"]["runAsGroup"], 65534);
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/tmp");
        assert_eq!(c["volumeMounts"][0]["name"], "tmp");
        assert!(pod["volumes"][0]["emptyDir"].is_object(), "{pod}");
    }

    #[test]
    fn a_changed_job_gets_a_new_name() {
        let mut v = values();
        let name = |v: &super::super::values::Values| {
            only(component(&render_all(v), "kibana-setup"), "Job")
                .name
                .clone()
        };
        let before = name(&v);
        assert_eq!(before, name(&v));
        v.global.tools_image.tag = "8.15.0".into();
        assert_ne!(before, name(&v));
    }

    #[test]
    fn kibana_uses_kibana_system_and_its_sub_path() {
        let all = render_all(&values());
        let r = component(&all, "kibana");
        let cm = find(r, "ConfigMap", "ops-kibana-config");
        let c: serde_json::Value = serde_saphyr::from_str(&config_value(cm, "kibana.yml")).unwrap();
        assert_eq!(c["server.basePath"], "/kibana");
        assert_eq!(c["server.rewriteBasePath"], true);
        assert_eq!(c["server.publicBaseUrl"], "http://aiops.local/kibana");
        assert_eq!(c["elasticsearch.username"], "kibana_system");
        assert_eq!(c["elasticsearch.password"], "${KIBANA_SYSTEM_PASSWORD}");
        assert_eq!(
            c["elasticsearch.hosts"][0],
            "http://ops-elasticsearch.mon.svc:9200"
        );
        let d = find(r, "Deployment", "ops-kibana");
        let k = container_of(d, "kibana");
        assert_eq!(env(k, "ELASTICSEARCH_USERNAME"), Some("kibana_system"));
        assert!(env_ref(k, "ELASTICSEARCH_PASSWORD").is_none());
        assert_eq!(
            env_ref(k, "KIBANA_SYSTEM_PASSWORD"),
            Some((
                "ops-kibana-credentials".into(),
                "kibana-system-password".into()
            ))
        );
        assert_eq!(k["readinessProbe"]["httpGet"]["path"], "/kibana/api/status");
        let s = find(r, "Secret", "ops-kibana-credentials");
        assert_eq!(secret_value(s, "kibana-system-password"), KIBANA_PW);
    }
}
