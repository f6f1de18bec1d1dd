//! Prometheus (off by default): scrapes ClickVisual's governor, Fluent Bit and
//! itself, discovering pods in the release namespace only.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, PodSpec, ServiceAccount, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::common::DATA_VOLUME;
use super::{Ctx, app, fluentbit};
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "prometheus";
pub(super) const PORT: i32 = 9090;
/// `nobody`, the user of the prom/prometheus image.
const UID: i64 = 65534;
const CONFIG_DIR: &str = "/etc/prometheus";

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.prometheus;
    if !v.enabled {
        return None;
    }
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Apps, &v.image.tag);
    let name = w::workload_name(&b);
    push_rbac(&mut b, &name);

    let config = prometheus_yml(ctx);
    let checksum = w::checksum_annotation(&config);
    let config_name = ctx.release.object_name("prometheus-config");
    let cm = w::config_map(
        &b,
        config_name.clone(),
        BTreeMap::from([("prometheus.yml".to_string(), config)]),
    );
    b.push_in(Phase::Storage, cm);

    let ports = vec![w::service_port("http", PORT)];
    b.push(w::headless_service(&b, ports.clone()));
    b.push(w::client_service(&b, "ClusterIP", ports));
    let pod = PodSpec {
        service_account_name: Some(name),
        // Service discovery reads the API with this token.
        automount_service_account_token: Some(true),
        containers: vec![container(ctx)],
        volumes: Some(vec![Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_name,
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ..w::pod_spec(
            &b,
            &ctx.pod_globals(),
            1,
            w::pod_security(Some(UID), Some(UID)),
        )
    };
    let sts = w::stateful_set(
        &b,
        w::StatefulSetParts {
            replicas: 1,
            parallel: false,
            pod_annotations: checksum,
            pod,
            claims: vec![ctx.data_claim(&b, &v.persistence)],
        },
    );
    b.push(sts);
    Some(b.finish(vec![]))
}

/// ServiceAccount with read access to pods, endpoints and services of the release
/// namespace only.
fn push_rbac(b: &mut Builder<'_>, name: &str) {
    b.push_in(
        Phase::Storage,
        ServiceAccount {
            metadata: b.meta(name),
            ..Default::default()
        },
    );
    b.push_in(
        Phase::Storage,
        Role {
            metadata: b.meta(name),
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["endpoints".into(), "pods".into(), "services".into()]),
                verbs: vec!["get".into(), "list".into(), "watch".into()],
                ..Default::default()
            }]),
        },
    );
    b.push_in(
        Phase::Storage,
        RoleBinding {
            metadata: b.meta(name),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: name.to_string(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: name.to_string(),
                namespace: Some(b.release().namespace.clone()),
                ..Default::default()
            }]),
        },
    );
}

/// A YAML string scalar: JSON's quoting is valid YAML.
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Scrape jobs. ClickVisual is found through its Service's endpoints (one target per
/// replica, port `governor`); Fluent Bit pods directly, as a DaemonSet has no Service.
fn prometheus_yml(ctx: &Ctx<'_>) -> String {
    let release = ctx.release;
    let ns = q(&release.namespace);
    format!(
        r#"global:
  scrape_interval: 30s
  evaluation_interval: 30s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["localhost:{PORT}"]
  - job_name: clickvisual
    metrics_path: /metrics
    kubernetes_sd_configs:
      - role: endpoints
        namespaces:
          names: [{ns}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_service_name]
        regex: {clickvisual}
        action: keep
      - source_labels: [__meta_kubernetes_endpoint_port_name]
        regex: governor
        action: keep
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
  - job_name: fluentbit
    metrics_path: /api/v1/metrics/prometheus
    kubernetes_sd_configs:
      - role: pod
        namespaces:
          names: [{ns}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_instance, __meta_kubernetes_pod_label_app_kubernetes_io_component]
        regex: {fluentbit}
        action: keep
      - source_labels: [__meta_kubernetes_pod_container_port_name]
        regex: http
        action: keep
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_node_name]
        target_label: node
"#,
        clickvisual = q(&release.object_name(app::COMPONENT)),
        fluentbit = q(&format!("{};{}", release.name, fluentbit::COMPONENT)),
    )
}

fn container(ctx: &Ctx<'_>) -> Container {
    let v = &ctx.values.prometheus;
    Container {
        args: Some(vec![
            format!("--config.file={CONFIG_DIR}/prometheus.yml"),
            "--storage.tsdb.path=/prometheus".into(),
            format!("--storage.tsdb.retention.time={}", v.retention),
        ]),
        ports: Some(vec![w::container_port("http", PORT)]),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "config".into(),
                mount_path: CONFIG_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount {
                name: DATA_VOLUME.into(),
                mount_path: "/prometheus".into(),
                ..Default::default()
            },
        ]),
        readiness_probe: Some(w::http_probe("/-/ready", "http", Timing::READINESS)),
        liveness_probe: Some(w::http_probe("/-/healthy", "http", Timing::LIVENESS)),
        // Replaying the write-ahead log after a restart can take minutes.
        startup_probe: Some(w::http_probe("/-/ready", "http", Timing::STARTUP)),
        ..ctx.container(COMPONENT, &v.image, &v.resources)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    #[test]
    fn off_by_default() {
        assert!(render_all(&values()).iter().all(|r| r.name != "prometheus"));
    }

    #[test]
    fn namespaced_discovery_and_retention() {
        let mut v = values();
        v.prometheus.enabled = true;
        v.prometheus.retention = "7d".into();
        let all = render_all(&v);
        let r = component(&all, "prometheus");
        let sts = find(r, "StatefulSet", "cv-prometheus");
        assert_eq!(
            sts.body["spec"]["template"]["spec"]["securityContext"]["fsGroup"],
            65534
        );
        let c = container_of(sts, "prometheus");
        assert_eq!(c["args"][2], "--storage.tsdb.retention.time=7d");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/-/ready");
        let role = find(r, "Role", "cv-prometheus");
        assert_eq!(role.namespace.as_deref(), Some("logs"));
        find(r, "RoleBinding", "cv-prometheus");
        let yml = find(r, "ConfigMap", "cv-prometheus-config").body["data"]["prometheus.yml"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(yml.contains("regex: \"cv-clickvisual\""), "{yml}");
        assert!(yml.contains("regex: \"cv;fluentbit\""), "{yml}");
        assert!(yml.contains("names: [\"logs\"]"), "{yml}");
        // The YAML must parse.
        let parsed: serde_json::Value = serde_saphyr::from_str(&yml).expect("valid YAML");
        assert_eq!(parsed["scrape_configs"].as_array().unwrap().len(), 3);
    }
}
