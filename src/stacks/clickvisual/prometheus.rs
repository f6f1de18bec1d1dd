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

/// Scrape jobs. ClickVisual and Fluent Bit are found as pods, by the release's
/// labels and the container port's name: one target per replica (per node for the
/// DaemonSet). ClickVisual's metrics are on its governor port, which no Service
/// publishes (see `app.rs`: pprof and `/env/info` without authentication), so
/// `role: endpoints` would find none; a metrics-only Service would publish the
/// governor again under a stable name.
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
      - role: pod
        namespaces:
          names: [{ns}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_instance, __meta_kubernetes_pod_label_app_kubernetes_io_component]
        regex: {clickvisual}
        action: keep
      - source_labels: [__meta_kubernetes_pod_container_port_name]
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
        clickvisual = q(&format!("{};{}", release.name, app::COMPONENT)),
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

    /// What Prometheus's pod discovery offers for each container port of `pod_spec`
    /// (`__meta_kubernetes_pod_*`, as documented for `role: pod`), run through a
    /// job's `keep` rules: the ports that become targets. The rules here compare
    /// whole strings; a regex with other characters fails the test.
    fn pod_targets(
        job: &serde_json::Value,
        pod_name: &str,
        template: &serde_json::Value,
    ) -> Vec<String> {
        let mut targets = Vec::new();
        for c in template["spec"]["containers"].as_array().unwrap() {
            for port in c["ports"].as_array().into_iter().flatten() {
                let mut meta = std::collections::BTreeMap::new();
                for (k, v) in template["metadata"]["labels"].as_object().unwrap() {
                    let name: String = k
                        .chars()
                        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
                        .collect();
                    meta.insert(
                        format!("__meta_kubernetes_pod_label_{name}"),
                        v.as_str().unwrap().to_string(),
                    );
                }
                meta.insert("__meta_kubernetes_pod_name".into(), pod_name.into());
                meta.insert(
                    "__meta_kubernetes_pod_container_port_name".into(),
                    port["name"].as_str().unwrap_or_default().into(),
                );
                let kept = job["relabel_configs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|rule| {
                        if rule["action"] != "keep" {
                            return true;
                        }
                        let regex = rule["regex"].as_str().unwrap();
                        assert!(
                            regex
                                .chars()
                                .all(|ch| ch.is_ascii_alphanumeric() || ";-_".contains(ch)),
                            "a literal regex expected: {regex}"
                        );
                        let value = rule["source_labels"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|l| meta.get(l.as_str().unwrap()).cloned().unwrap_or_default())
                            .collect::<Vec<_>>()
                            .join(";");
                        value == regex
                    });
                if kept {
                    targets.push(format!("{pod_name}:{}", port["containerPort"]));
                }
            }
        }
        targets
    }

    /// ClickVisual's Service no longer carries the governor port, where its metrics
    /// are (gotomicro/ego v1.2.2, `server/egovernor/component.go`: `/metrics`): the
    /// scrape job must still find every replica's governor, and nothing else.
    #[test]
    fn clickvisual_is_scraped_on_its_governor() {
        let mut v = values();
        v.prometheus.enabled = true;
        v.clickvisual.replicas = 2;
        let all = render_all(&v);
        let yml = find(
            component(&all, "prometheus"),
            "ConfigMap",
            "cv-prometheus-config",
        )
        .body["data"]["prometheus.yml"]
            .as_str()
            .unwrap()
            .to_string();
        let config: serde_json::Value = serde_saphyr::from_str(&yml).expect("valid YAML");
        let job = config["scrape_configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job_name"] == "clickvisual")
            .expect("a clickvisual job");
        assert_eq!(job["metrics_path"], "/metrics");
        let sd = &job["kubernetes_sd_configs"][0];
        assert_eq!(sd["role"], "pod");
        assert_eq!(sd["namespaces"]["names"], serde_json::json!(["logs"]));

        let app = find(
            component(&all, "clickvisual"),
            "Deployment",
            "cv-clickvisual",
        );
        let template = &app.body["spec"]["template"];
        assert_eq!(
            pod_targets(job, "cv-clickvisual-abc", template),
            ["cv-clickvisual-abc:19011"]
        );
        // No other component's pods, though they share the release label.
        for (name, kind, object) in [
            ("mysql", "StatefulSet", "cv-mysql"),
            ("fluentbit", "DaemonSet", "cv-fluentbit"),
        ] {
            let other = find(component(&all, name), kind, object);
            assert!(pod_targets(job, "x", &other.body["spec"]["template"]).is_empty());
        }
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
        assert!(yml.contains("regex: \"cv;clickvisual\""), "{yml}");
        assert!(yml.contains("regex: \"cv;fluentbit\""), "{yml}");
        assert!(yml.contains("names: [\"logs\"]"), "{yml}");
        // The YAML must parse.
        let parsed: serde_json::Value = serde_saphyr::from_str(&yml).expect("valid YAML");
        assert_eq!(parsed["scrape_configs"].as_array().unwrap().len(), 3);
    }
}
