//! Grafana: admin credentials in a Secret (the password generated when not given),
//! read from files of it (`GF_<SECTION>_<KEY>__FILE`), datasources for Prometheus,
//! Alertmanager and Elasticsearch provisioned from a ConfigMap that names the
//! Elasticsearch password only as `${ELASTICSEARCH_PASSWORD}` (Grafana expands
//! environment variables in provisioning files), served from `/grafana` behind the
//! Ingress.
//!
//! That password stays an env var: Grafana's `$__file{path}` in a provisioning file
//! would read the file, but the file's content then goes through the env expansion
//! too (`interpolateValue` in pkg/services/provisioning/values/values.go), so a
//! password holding `$` would be mangled; an env var's value is not expanded again.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use serde_json::json;

use super::Ctx;
use super::common::{DATA_VOLUME, yaml};
use super::connections::{credentials_secret, keys};
use super::prometheus::scrape_annotations;
use super::routes;
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "grafana";
/// Where the admin's credentials are mounted: files `user` and `password`.
const ADMIN_DIR: &str = "/credentials/admin";
pub const PORT: u16 = 3000;
/// The `grafana` user (and group) of the official image.
pub const UID: i64 = 472;
/// Its data: `grafana.db` (SQLite) and plugins.
pub const DATA_DIR: &str = "/var/lib/grafana";

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.grafana;
    if !v.enabled {
        return None;
    }
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Apps, &v.image.tag);
    ctx.push_credentials(
        &mut b,
        COMPONENT,
        BTreeMap::from([
            (keys::GRAFANA_ADMIN_USER.to_string(), v.admin_user.clone()),
            (
                keys::GRAFANA_ADMIN_PASSWORD.to_string(),
                v.admin_password.clone(),
            ),
        ]),
    );
    let datasources = datasources_yaml(ctx);
    let config_name = ctx.release.object_name("grafana-datasources");
    let mut annotations = w::checksum_annotation(&datasources);
    annotations.extend(scrape_annotations(
        PORT,
        &format!("{}/metrics", routes::grafana_prefix(ctx.values)),
    ));
    b.push_in(
        Phase::Storage,
        w::config_map(
            &b,
            config_name.clone(),
            BTreeMap::from([("datasources.yaml".to_string(), datasources)]),
        ),
    );

    let ports = vec![w::service_port("http", i32::from(PORT))];
    b.push(w::headless_service(&b, ports.clone()));
    b.push(w::client_service(&b, "ClusterIP", ports));
    let volumes = vec![
        w::config_map_volume("datasources", &config_name),
        w::secret_files_volume(
            "admin",
            &credentials_secret(ctx.release, COMPONENT),
            &[
                (keys::GRAFANA_ADMIN_PASSWORD, "password"),
                (keys::GRAFANA_ADMIN_USER, "user"),
            ],
        ),
    ];
    let pod = PodSpec {
        containers: vec![container(ctx)],
        // The files are mode 0440 with the pod's fsGroup: the `grafana` user reads
        // them.
        volumes: Some(volumes),
        ..ctx.pod_spec(&b, 1, w::pod_security(Some(UID), Some(UID)))
    };
    // One replica: its SQLite database lives on the volume.
    b.push(ctx.single_stateful_set(&b, annotations, pod, &v.persistence));
    Some(b.finish(vec![]))
}

fn root_url(ctx: &Ctx<'_>) -> String {
    let prefix = routes::grafana_prefix(ctx.values);
    match routes::external_url(ctx.values, routes::GRAFANA).filter(|_| !prefix.is_empty()) {
        Some(url) => format!("{url}/"),
        None => format!("http://{}:{PORT}/", ctx.release.service_host(COMPONENT)),
    }
}

fn container(ctx: &Ctx<'_>) -> Container {
    let v = &ctx.values.grafana;
    let prefix = routes::grafana_prefix(ctx.values);
    // The image's run.sh turns every `GF_<SECTION>_<KEY>__FILE` into the setting
    // from the file's content (see the image contract).
    let mut env = vec![
        w::env("GF_SECURITY_ADMIN_USER__FILE", format!("{ADMIN_DIR}/user")),
        w::env(
            "GF_SECURITY_ADMIN_PASSWORD__FILE",
            format!("{ADMIN_DIR}/password"),
        ),
        w::env("GF_SERVER_ROOT_URL", root_url(ctx)),
        w::env(
            "GF_SERVER_SERVE_FROM_SUB_PATH",
            (!prefix.is_empty()).to_string(),
        ),
        w::env("GF_LOG_LEVEL", ctx.log_level().as_str()),
        w::env("GF_LOG_MODE", "console"),
        w::env("GF_ANALYTICS_REPORTING_ENABLED", "false"),
        w::env("GF_ANALYTICS_CHECK_FOR_UPDATES", "false"),
    ];
    if let Some(es) = &ctx.conn.elasticsearch {
        // Expanded by Grafana in the provisioning file.
        env.push(es.password_ref.env("ELASTICSEARCH_PASSWORD"));
    }
    let mounts = vec![
        w::mount(DATA_VOLUME, DATA_DIR, false),
        w::mount("datasources", "/etc/grafana/provisioning/datasources", true),
        w::mount("admin", ADMIN_DIR, true),
    ];
    let health = format!("{prefix}/api/health");
    Container {
        env: Some(env),
        ports: Some(vec![w::container_port("http", i32::from(PORT))]),
        volume_mounts: Some(mounts),
        readiness_probe: Some(w::http_probe(&health, "http", Timing::READINESS)),
        liveness_probe: Some(w::http_probe(&health, "http", Timing::LIVENESS)),
        // Database migrations on first start or after an upgrade.
        startup_probe: Some(w::http_probe(&health, "http", Timing::STARTUP)),
        ..ctx.container(COMPONENT, &v.image, &v.resources)
    }
}

fn datasources_yaml(ctx: &Ctx<'_>) -> String {
    let mut sources = Vec::new();
    if let Some(url) = &ctx.conn.prometheus_url {
        sources.push(json!({
            "name": "Prometheus",
            "uid": "prometheus",
            "type": "prometheus",
            "access": "proxy",
            "url": url,
            "isDefault": true,
            "editable": false,
        }));
    }
    if let Some(url) = &ctx.conn.alertmanager_url {
        sources.push(json!({
            "name": "Alertmanager",
            "uid": "alertmanager",
            "type": "alertmanager",
            "access": "proxy",
            "url": url,
            "editable": false,
            "jsonData": {"implementation": "prometheus"},
        }));
    }
    if let Some(es) = &ctx.conn.elasticsearch {
        sources.push(json!({
            "name": "Elasticsearch",
            "uid": "elasticsearch",
            "type": "elasticsearch",
            "access": "proxy",
            "url": es.url,
            "basicAuth": true,
            "basicAuthUser": es.username,
            "editable": false,
            "jsonData": {
                "index": format!("{}-*", ctx.values.logstash.index_prefix),
                "timeField": "@timestamp",
            },
            "secureJsonData": {"basicAuthPassword": "${ELASTICSEARCH_PASSWORD}"},
        }));
    }
    yaml(&json!({"apiVersion": 1, "datasources": sources}))
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    #[test]
    fn admin_password_in_a_secret_and_sub_path() {
        let all = render_all(&values());
        let r = component(&all, "grafana");
        let s = find(r, "Secret", "ops-grafana-credentials");
        assert_eq!(secret_value(s, "admin-password"), GRAFANA_PW);
        assert_eq!(secret_value(s, "admin-user"), "admin");
        let sts = find(r, "StatefulSet", "ops-grafana");
        let c = container_of(sts, "grafana");
        // Credentials as files of the Secret, no env var holds one.
        let pod = &sts.body["spec"]["template"]["spec"];
        assert_password_file(
            pod,
            c,
            "GF_SECURITY_ADMIN_PASSWORD__FILE",
            "/credentials/admin",
            "ops-grafana-credentials",
            "admin-password",
        );
        assert_eq!(
            env(c, "GF_SECURITY_ADMIN_USER__FILE"),
            Some("/credentials/admin/user")
        );
        let admin = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "admin")
            .unwrap();
        assert_eq!(
            admin["secret"]["items"][1],
            serde_json::json!({"key": "admin-user", "path": "user", "mode": 0o440})
        );
        // Only the Elasticsearch password stays an env var (see the module doc).
        for e in c["env"].as_array().unwrap() {
            assert!(
                e.get("valueFrom").is_none() || e["name"] == "ELASTICSEARCH_PASSWORD",
                "{e}"
            );
        }
        assert_eq!(
            env(c, "GF_SERVER_ROOT_URL"),
            Some("http://aiops.local/grafana/")
        );
        assert_eq!(env(c, "GF_SERVER_SERVE_FROM_SUB_PATH"), Some("true"));
        assert_eq!(
            c["readinessProbe"]["httpGet"]["path"],
            "/grafana/api/health"
        );
        assert_eq!(
            sts.body["spec"]["template"]["spec"]["securityContext"]["fsGroup"],
            472
        );

        let mut v = values();
        v.ingress.enabled = false;
        let all = render_all(&v);
        let sts = find(component(&all, "grafana"), "StatefulSet", "ops-grafana");
        let c = container_of(sts, "grafana");
        assert_eq!(env(c, "GF_SERVER_SERVE_FROM_SUB_PATH"), Some("false"));
        assert_eq!(
            env(c, "GF_SERVER_ROOT_URL"),
            Some("http://ops-grafana.mon.svc:3000/")
        );
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/api/health");
    }

    #[test]
    fn datasources_reference_the_password_by_variable() {
        let all = render_all(&values());
        let r = component(&all, "grafana");
        let cm = find(r, "ConfigMap", "ops-grafana-datasources");
        let ds: serde_json::Value =
            serde_saphyr::from_str(&config_value(cm, "datasources.yaml")).unwrap();
        let ds = ds["datasources"].as_array().unwrap();
        assert_eq!(
            ds[0]["url"],
            "http://ops-prometheus.mon.svc:9090/prometheus"
        );
        assert_eq!(ds[0]["isDefault"], true);
        let es = ds.iter().find(|d| d["type"] == "elasticsearch").unwrap();
        assert_eq!(es["url"], "http://ops-elasticsearch.mon.svc:9200");
        assert_eq!(es["basicAuthUser"], "elastic");
        assert_eq!(
            es["secureJsonData"]["basicAuthPassword"],
            "${ELASTICSEARCH_PASSWORD}"
        );
        assert_eq!(es["jsonData"]["index"], "aiops-logs-*");
        let sts = find(r, "StatefulSet", "ops-grafana");
        let c = container_of(sts, "grafana");
        assert_eq!(
            env_ref(c, "ELASTICSEARCH_PASSWORD"),
            Some((
                "ops-elasticsearch-credentials".into(),
                "elastic-password".into()
            ))
        );
    }
}
