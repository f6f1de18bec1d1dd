//! Prometheus from the kit (`kit::prometheus`), served under its Ingress path: one
//! scrape job for every pod of the release that asks for it (`prometheus.io/*`
//! annotations), and the chart's alert rules with thresholds from values, sent to
//! Alertmanager.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::common::yaml;
use super::connections::PROMETHEUS_PORT;
use super::{Ctx, alertmanager, postgresql, routes};
use crate::model::Rendered;
use crate::stacks::kit::prometheus::{self, CONFIG_DIR};
use crate::stacks::workload as w;

pub use crate::stacks::kit::prometheus::COMPONENT;

/// Pod annotations asking the release's Prometheus to scrape `port` at `path`.
pub fn scrape_annotations(port: u16, path: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("prometheus.io/scrape".to_string(), "true".to_string()),
        ("prometheus.io/port".to_string(), port.to_string()),
        ("prometheus.io/path".to_string(), path.to_string()),
    ])
}

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let prefix = routes::prometheus_prefix(ctx.values);
    let route = if prefix.is_empty() { "/" } else { prefix };
    prometheus::render(
        ctx,
        &ctx.values.prometheus,
        &prometheus::Setup {
            files: vec![
                ("prometheus.yml".to_string(), yaml(&prometheus_yml(ctx))),
                ("alerts.yml".to_string(), yaml(&alert_rules(ctx))),
            ],
            route_prefix: prefix.to_string(),
            args: vec![
                format!("--web.external-url={}", external_url(ctx)),
                format!("--web.route-prefix={route}"),
                "--web.enable-lifecycle".into(),
                format!("--log.level={}", ctx.log_level().as_str()),
            ],
        },
    )
}

fn external_url(ctx: &Ctx<'_>) -> String {
    routes::external_url(ctx.values, routes::PROMETHEUS)
        .filter(|_| !routes::prometheus_prefix(ctx.values).is_empty())
        .unwrap_or_else(|| {
            format!(
                "http://{}:{PROMETHEUS_PORT}/",
                ctx.release.service_host(COMPONENT)
            )
        })
}

/// `prometheus.yml`: itself, every annotated pod of the release, Alertmanager.
fn prometheus_yml(ctx: &Ctx<'_>) -> Value {
    let v = ctx.values;
    let release = ctx.release;
    let prefix = routes::prometheus_prefix(v);
    let mut config = json!({
        "global": {
            "scrape_interval": v.prometheus.scrape_interval,
            "evaluation_interval": v.prometheus.scrape_interval,
            "external_labels": {"release": release.name, "namespace": release.namespace},
        },
        "rule_files": [format!("{CONFIG_DIR}/alerts.yml")],
        "scrape_configs": [
            {
                "job_name": "prometheus",
                "metrics_path": format!("{prefix}/metrics"),
                "static_configs": [{"targets": [format!("localhost:{PROMETHEUS_PORT}")]}],
            },
            {
                // Pods of this release that carry prometheus.io/scrape: "true".
                "job_name": "pods",
                "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [release.namespace]}}],
                "relabel_configs": [
                    {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_instance"], "regex": release.name, "action": "keep"},
                    {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], "regex": "true", "action": "keep"},
                    {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Pending|Succeeded|Failed", "action": "drop"},
                    {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"], "regex": "(.+)", "target_label": "__metrics_path__"},
                    {"source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"], "regex": "([^:]+)(?::\\d+)?;(\\d+)", "replacement": "$1:$2", "target_label": "__address__"},
                    // `job` names the component; the scraped pod and its node are
                    // `kubernetes_pod` and `kubernetes_node`. `pod`, `namespace` and
                    // `node` are left to the metrics: kube-state-metrics reports
                    // them for the pods it describes (kube_pod_info's `node`), and
                    // a target label of the same name would push its value aside
                    // to `exported_node` (honor_labels is false; prometheus v3.4.1,
                    // docs/configuration/configuration.md).
                    {"source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"], "target_label": "job"},
                    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "kubernetes_pod"},
                    {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "kubernetes_node"},
                ],
            },
        ],
    });
    if v.alertmanager.enabled {
        let targets: Vec<String> = (0..v.alertmanager.replicas)
            .map(|i| {
                format!(
                    "{}:{}",
                    w::pod_host(release, alertmanager::COMPONENT, i),
                    super::connections::ALERTMANAGER_PORT
                )
            })
            .collect();
        config["alerting"] = json!({"alertmanagers": [{"static_configs": [{"targets": targets}]}]});
    }
    config
}

fn rule(name: &str, expr: &str, for_: &str, severity: &str, summary: &str) -> Value {
    json!({
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "value": "{{ $value | printf \"%.2f\" }}",
        },
    })
}

/// The chart's alert rules: node CPU, memory and disk (node-exporter), response time
/// and error rate at the edge (Traefik), PostgreSQL connections (postgres-exporter),
/// plus crash-looping and unready pods (kube-state-metrics), which feed self-healing.
pub fn alert_rules(ctx: &Ctx<'_>) -> Value {
    let v = ctx.values;
    let a = &v.prometheus.alert_rules;
    let mut groups = Vec::new();
    if !a.enabled {
        return json!({ "groups": groups });
    }
    let for_ = a.for_.as_str();
    if v.node_exporter.enabled {
        groups.push(json!({"name": "aiops-nodes", "rules": [
            rule("HighCpuUsage",
                &format!("100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{{mode=\"idle\"}}[5m]))) > {}", a.cpu_percent),
                for_, "warning",
                &format!("CPU usage above {}% on {{{{ $labels.instance }}}}", a.cpu_percent)),
            rule("HighMemoryUsage",
                &format!("100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) > {}", a.memory_percent),
                for_, "warning",
                &format!("memory usage above {}% on {{{{ $labels.instance }}}}", a.memory_percent)),
            rule("HighDiskUsage",
                &format!("100 * (1 - node_filesystem_avail_bytes{{fstype!~\"tmpfs|overlay|squashfs\"}} / node_filesystem_size_bytes{{fstype!~\"tmpfs|overlay|squashfs\"}}) > {}", a.disk_percent),
                for_, "critical",
                &format!("disk {{{{ $labels.mountpoint }}}} on {{{{ $labels.instance }}}} above {}% full", a.disk_percent)),
        ]}));
    }
    if v.traefik.enabled {
        // Traefik's latency buckets include the threshold and a bound above it
        // (`traefik::buckets`): `histogram_quantile` never exceeds the highest
        // finite bucket, so without them a threshold of 5 s could never be crossed.
        groups.push(json!({"name": "aiops-edge", "rules": [
            rule("HighResponseTime",
                &format!("histogram_quantile(0.95, sum by (le, service) (rate(traefik_service_request_duration_seconds_bucket[5m]))) > {}", a.response_time_seconds),
                for_, "warning",
                &format!("95th percentile response time of {{{{ $labels.service }}}} above {}s", a.response_time_seconds)),
            rule("HighErrorRate",
                &format!("100 * sum by (service) (rate(traefik_service_requests_total{{code=~\"5..\"}}[5m])) / sum by (service) (rate(traefik_service_requests_total[5m])) > {}", a.error_rate_percent),
                for_, "critical",
                &format!("more than {}% of requests to {{{{ $labels.service }}}} fail", a.error_rate_percent)),
        ]}));
    }
    if postgresql::scraped(v) {
        groups.push(json!({"name": "aiops-database", "rules": [
            rule("TooManyDatabaseConnections",
                &format!("sum by (instance) (pg_stat_database_numbackends) > {}", a.database_connections),
                for_, "warning",
                &format!("more than {} PostgreSQL connections on {{{{ $labels.instance }}}}", a.database_connections)),
        ]}));
    }
    if v.kube_state_metrics.enabled {
        groups.push(json!({"name": "aiops-pods", "rules": [
            rule("PodCrashLooping",
                "increase(kube_pod_container_status_restarts_total[15m]) > 3",
                "0m", "warning",
                "{{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) restarts repeatedly"),
            // Only pods that may still become ready: kube-state-metrics reports
            // Ready=false for finished pods too (Succeeded Job and probe pods, the
            // Failed tries a Job keeps), which would keep the alert firing forever.
            // Metric and label names: kubernetes/kube-state-metrics v2.15.0,
            // docs/metrics/workload/pod-metrics.md.
            rule("PodNotReady",
                "(sum by (namespace, pod) (kube_pod_status_ready{condition=\"false\"}) > 0) and on (namespace, pod) (sum by (namespace, pod) (kube_pod_status_phase{phase=~\"Pending|Running\"}) > 0)",
                "15m", "warning",
                "{{ $labels.namespace }}/{{ $labels.pod }} has not been ready for 15 minutes"),
        ]}));
    }
    json!({ "groups": groups })
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    fn config(v: &super::super::values::Values, key: &str) -> serde_json::Value {
        let all = render_all(v);
        let cm = find(
            component(&all, "prometheus"),
            "ConfigMap",
            "ops-prometheus-config",
        );
        serde_saphyr::from_str(&config_value(cm, key)).expect("valid YAML")
    }

    #[test]
    fn served_from_its_sub_path_with_retention_and_storage() {
        let mut v = values();
        v.prometheus.retention = "30d".into();
        v.prometheus.persistence.size = "50Gi".parse().unwrap();
        let all = render_all(&v);
        let sts = find(
            component(&all, "prometheus"),
            "StatefulSet",
            "ops-prometheus",
        );
        let c = container_of(sts, "prometheus");
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(args.contains(&"--storage.tsdb.retention.time=30d"));
        assert!(args.contains(&"--web.external-url=http://aiops.local/prometheus"));
        assert!(args.contains(&"--web.route-prefix=/prometheus"));
        assert_eq!(
            c["readinessProbe"]["httpGet"]["path"],
            "/prometheus/-/ready"
        );
        assert_eq!(
            sts.body["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
            "50Gi"
        );
        assert_eq!(
            sts.body["spec"]["template"]["spec"]["securityContext"]["fsGroup"],
            65534
        );

        v.ingress.enabled = false;
        let all = render_all(&v);
        let sts = find(
            component(&all, "prometheus"),
            "StatefulSet",
            "ops-prometheus",
        );
        let c = container_of(sts, "prometheus");
        assert!(
            c["args"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "--web.route-prefix=/")
        );
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/-/ready");
    }

    #[test]
    fn scrapes_annotated_pods_of_the_release_and_alerts_every_alertmanager() {
        let mut v = values();
        v.alertmanager.replicas = 2;
        let c = config(&v, "prometheus.yml");
        let jobs = c["scrape_configs"].as_array().unwrap();
        assert_eq!(jobs[0]["metrics_path"], "/prometheus/metrics");
        let pods = &jobs[1];
        assert_eq!(
            pods["kubernetes_sd_configs"][0]["namespaces"]["names"][0],
            "mon"
        );
        assert_eq!(pods["relabel_configs"][0]["regex"], "ops");
        let targets = &c["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"];
        assert_eq!(
            targets,
            &serde_json::json!([
                "ops-alertmanager-0.ops-alertmanager-headless.mon.svc:9093",
                "ops-alertmanager-1.ops-alertmanager-headless.mon.svc:9093"
            ])
        );
        assert_eq!(c["rule_files"][0], "/etc/prometheus/alerts.yml");
    }

    /// Labels the scrape attaches must not collide with those kube-state-metrics
    /// reports (kubernetes/kube-state-metrics v2.15.0,
    /// docs/metrics/workload/pod-metrics.md, docs/metrics/cluster/node-metrics.md):
    /// Prometheus would rename the reported one to `exported_<name>`, and
    /// kube_pod_info's `node` would name the node kube-state-metrics runs on.
    #[test]
    fn scrape_labels_leave_kube_state_metrics_labels_alone() {
        const REPORTED: [&str; 13] = [
            "namespace",
            "pod",
            "uid",
            "node",
            "container",
            "host_ip",
            "pod_ip",
            "created_by_kind",
            "created_by_name",
            "priority_class",
            "host_network",
            "phase",
            "condition",
        ];
        let c = config(&values(), "prometheus.yml");
        let pods = c["scrape_configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job_name"] == "pods")
            .expect("pods job");
        assert_ne!(pods["honor_labels"], true, "scraped pods could forge `job`");
        let targets: Vec<&str> = pods["relabel_configs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["target_label"].as_str())
            .filter(|l| !l.starts_with("__"))
            .collect();
        assert!(targets.contains(&"kubernetes_node"), "{targets:?}");
        for label in targets {
            assert!(
                !REPORTED.contains(&label),
                "target label `{label}` clobbers kube-state-metrics' own"
            );
        }
    }

    #[test]
    fn alert_rules_carry_the_thresholds() {
        let mut v = values();
        v.prometheus.alert_rules.cpu_percent = 75;
        v.prometheus.alert_rules.database_connections = 150;
        let rules = config(&v, "alerts.yml");
        let all: Vec<(String, String)> = rules["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap().clone())
            .map(|r| {
                (
                    r["alert"].as_str().unwrap().to_string(),
                    r["expr"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let expr = |name: &str| {
            all.iter()
                .find(|(n, _)| n == name)
                .map_or_else(|| panic!("{name}"), |(_, e)| e.clone())
        };
        assert!(
            expr("HighCpuUsage").ends_with("> 75"),
            "{}",
            expr("HighCpuUsage")
        );
        assert!(expr("HighCpuUsage").contains("node_cpu_seconds_total{mode=\"idle\"}"));
        assert!(expr("HighMemoryUsage").ends_with("> 85"));
        assert!(expr("HighDiskUsage").ends_with("> 90"));
        assert!(expr("HighResponseTime").ends_with("> 5"));
        assert!(expr("HighErrorRate").contains("code=~\"5..\""));
        assert!(expr("HighErrorRate").ends_with("> 5"));
        assert!(expr("TooManyDatabaseConnections").ends_with("> 150"));
        expr("PodCrashLooping");
        // Finished pods are never ready; they must not count as unready.
        assert!(
            expr("PodNotReady").contains("kube_pod_status_phase{phase=~\"Pending|Running\"}"),
            "{}",
            expr("PodNotReady")
        );
        let first = &rules["groups"][0]["rules"][0];
        assert_eq!(first["for"], "5m");
        assert_eq!(
            first["annotations"]["summary"],
            "CPU usage above 75% on {{ $labels.instance }}"
        );

        v.prometheus.alert_rules.enabled = false;
        assert_eq!(config(&v, "alerts.yml")["groups"], serde_json::json!([]));
    }
}
