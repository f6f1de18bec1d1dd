//! Prometheus from the kit (`kit::prometheus`), off by default: scrapes
//! ClickVisual's governor, Fluent Bit and itself, discovering pods in the release
//! namespace only.

use super::{Ctx, app, fluentbit};
use crate::model::Rendered;
use crate::stacks::kit::prometheus::{self, PORT};

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    prometheus::render(
        ctx,
        &ctx.values.prometheus,
        &prometheus::Setup {
            files: vec![("prometheus.yml".to_string(), prometheus_yml(ctx))],
            route_prefix: String::new(),
            args: Vec::new(),
        },
    )
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
