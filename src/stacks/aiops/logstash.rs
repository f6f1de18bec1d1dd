//! Logstash: a pipeline from Beats (5044) and HTTP (8080) inputs to Elasticsearch,
//! credentials from the env (`${ES_PASSWORD}` in the pipeline, filled from a
//! Secret), the monitoring API on 9600 bound to all addresses for the probes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use serde_json::json;

use super::Ctx;
use super::common::{jvm_heap_mib, yaml};
use super::elasticsearch;
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "logstash";
pub const BEATS_PORT: u16 = 5044;
pub const HTTP_INPUT_PORT: u16 = 8080;
pub const API_PORT: u16 = 9600;
/// Not the image's `logstash` (1000): a high uid in group 0. The image gives group
/// 0 the owner's rights on /usr/share/logstash (`chown -R logstash:root`, `chmod
/// -R g=u`, elastic/dockerfiles `logstash/Dockerfile`), so its settings and data
/// directories stay writable; Logstash keeps no volume, so the uid can change under
/// an existing release.
const UID: i64 = 10001;
/// Group 0, whose rights on the image's files equal the owner's.
const GID: i64 = 0;

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.logstash;
    if !v.enabled {
        return None;
    }
    let es = ctx.conn.elasticsearch.as_ref()?;
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Apps, &v.image.tag);
    let pipeline = pipeline_conf(&v.index_prefix);
    let settings = yaml(&json!({
        "api.http.host": "0.0.0.0",
        "api.http.port": API_PORT,
        "path.config": "/usr/share/logstash/pipeline",
        "xpack.monitoring.enabled": false,
        "log.level": ctx.log_level().as_str(),
    }));
    let checksum = w::checksum_annotation(&format!("{pipeline}\n{settings}"));
    let pipeline_name = ctx.release.object_name("logstash-pipeline");
    let settings_name = ctx.release.object_name("logstash-config");
    b.push_in(
        Phase::Storage,
        w::config_map(
            &b,
            pipeline_name.clone(),
            BTreeMap::from([("logstash.conf".to_string(), pipeline)]),
        ),
    );
    b.push_in(
        Phase::Storage,
        w::config_map(
            &b,
            settings_name.clone(),
            BTreeMap::from([("logstash.yml".to_string(), settings)]),
        ),
    );

    let heap = jvm_heap_mib(&v.resources);
    let container = Container {
        env: Some(vec![
            w::env("ES_HOSTS", &es.url),
            w::env("ES_USER", &es.username),
            es.password_ref.env("ES_PASSWORD"),
            w::env("LS_JAVA_OPTS", format!("-Xms{heap}m -Xmx{heap}m")),
        ]),
        ports: Some(vec![
            w::container_port("beats", i32::from(BEATS_PORT)),
            w::container_port("http-input", i32::from(HTTP_INPUT_PORT)),
            w::container_port("api", i32::from(API_PORT)),
        ]),
        volume_mounts: Some(vec![
            // The whole directory: the image's default logstash.conf must not run.
            w::mount("pipeline", "/usr/share/logstash/pipeline", true),
            w::mount_file(
                "config",
                "/usr/share/logstash/config/logstash.yml",
                "logstash.yml",
            ),
        ]),
        readiness_probe: Some(w::http_probe("/", "api", Timing::READINESS)),
        liveness_probe: Some(w::http_probe("/", "api", Timing::LIVENESS)),
        startup_probe: Some(w::http_probe("/", "api", Timing::STARTUP)),
        ..ctx.container(COMPONENT, &v.image, &v.resources)
    };
    let pod = PodSpec {
        containers: vec![container],
        volumes: Some(vec![
            w::config_map_volume("pipeline", &pipeline_name),
            w::config_map_volume("config", &settings_name),
        ]),
        ..ctx.pod_spec(&b, v.replicas, w::pod_security(Some(UID), Some(GID)))
    };
    b.push(w::deployment(&b, v.replicas, checksum, pod));
    b.push(w::client_service(
        &b,
        "ClusterIP",
        vec![
            w::service_port("beats", i32::from(BEATS_PORT)),
            w::service_port("http-input", i32::from(HTTP_INPUT_PORT)),
            w::service_port("api", i32::from(API_PORT)),
        ],
    ));
    w::push_pdb(&mut b, ctx.caps, &ctx.pod_globals(), v.replicas);
    let deps = if es.internal {
        vec![elasticsearch::COMPONENT]
    } else {
        vec![]
    };
    Some(b.finish(deps))
}

fn pipeline_conf(index_prefix: &str) -> String {
    format!(
        r#"input {{
  beats {{
    port => {BEATS_PORT}
  }}
  http {{
    port => {HTTP_INPUT_PORT}
  }}
}}

output {{
  elasticsearch {{
    hosts => ["${{ES_HOSTS}}"]
    user => "${{ES_USER}}"
    password => "${{ES_PASSWORD}}"
    index => "{index_prefix}-%{{+YYYY.MM.dd}}"
    data_stream => "false"
  }}
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    #[test]
    fn pipeline_from_beats_and_http_to_elasticsearch() {
        let all = render_all(&values());
        let r = component(&all, "logstash");
        assert_eq!(r.depends_on, vec!["elasticsearch"]);
        let pipeline = config_value(
            find(r, "ConfigMap", "ops-logstash-pipeline"),
            "logstash.conf",
        );
        assert!(pipeline.contains("beats {\n    port => 5044"), "{pipeline}");
        assert!(pipeline.contains("http {\n    port => 8080"), "{pipeline}");
        assert!(
            pipeline.contains("password => \"${ES_PASSWORD}\""),
            "{pipeline}"
        );
        assert!(
            pipeline.contains("index => \"aiops-logs-%{+YYYY.MM.dd}\""),
            "{pipeline}"
        );
        let settings = config_value(find(r, "ConfigMap", "ops-logstash-config"), "logstash.yml");
        let s: serde_json::Value = serde_saphyr::from_str(&settings).unwrap();
        assert_eq!(s["api.http.host"], "0.0.0.0");
        assert_eq!(s["api.http.port"], 9600);
        let d = find(r, "Deployment", "ops-logstash");
        let c = container_of(d, "logstash");
        assert_eq!(
            env_ref(c, "ES_PASSWORD"),
            Some((
                "ops-elasticsearch-credentials".into(),
                "elastic-password".into()
            ))
        );
        assert_eq!(c["readinessProbe"]["httpGet"]["port"], "api");
        assert_eq!(env(c, "LS_JAVA_OPTS"), Some("-Xms1024m -Xmx1024m"));
    }
}
