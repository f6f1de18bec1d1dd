//! The exporters the alert rules need: node-exporter (a DaemonSet reading the
//! host's /proc, /sys and root filesystem, optionally in the host network) and
//! kube-state-metrics (a Deployment reading workload state cluster-wide).

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, Toleration, VolumeMount};

use super::Ctx;
use super::prometheus::scrape_annotations;
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

pub const NODE_EXPORTER: &str = "node-exporter";
pub const KSM: &str = "kube-state-metrics";
pub const KSM_PORT: u16 = 8080;
const KSM_TELEMETRY_PORT: u16 = 8081;
const NOBODY: i64 = 65534;

/// What kube-state-metrics reports on: core workloads only, all served by
/// Kubernetes 1.20 (newer API versions of PDBs, CronJobs and HPAs are not), and no
/// Secrets or ConfigMaps.
const KSM_RESOURCES: [(&str, &str); 11] = [
    ("", "namespaces"),
    ("", "nodes"),
    ("", "persistentvolumeclaims"),
    ("", "persistentvolumes"),
    ("", "pods"),
    ("", "services"),
    ("apps", "daemonsets"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("batch", "jobs"),
];

pub fn render_node_exporter(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.node_exporter;
    if !(v.enabled && ctx.values.prometheus.enabled) {
        return None;
    }
    let mut b = Builder::new(ctx.release, NODE_EXPORTER, Phase::Apps, &v.image.tag);
    let host_mount = |name: &str, path: &str| VolumeMount {
        mount_propagation: Some("HostToContainer".into()),
        ..w::mount(name, path, true)
    };
    let container = Container {
        args: Some(vec![
            "--path.procfs=/host/proc".into(),
            "--path.sysfs=/host/sys".into(),
            "--path.rootfs=/host/root".into(),
            format!("--web.listen-address=:{}", v.port),
            "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|var/lib/docker/.+|var/lib/kubelet/.+)($|/)".into(),
        ]),
        ports: Some(vec![w::container_port("metrics", i32::from(v.port))]),
        volume_mounts: Some(vec![
            host_mount("proc", "/host/proc"),
            host_mount("sys", "/host/sys"),
            host_mount("root", "/host/root"),
        ]),
        readiness_probe: Some(w::http_probe("/", "metrics", Timing::READINESS)),
        liveness_probe: Some(w::http_probe("/", "metrics", Timing::LIVENESS)),
        // Reads the host's filesystems, writes nothing (its contract: no data
        // directory in the image).
        ..w::read_only_root(ctx.container(NODE_EXPORTER, &v.image, &v.resources))
    };
    let pod = PodSpec {
        host_network: v.host_network.then_some(true),
        host_pid: v.host_network.then_some(true),
        dns_policy: v.host_network.then(|| "ClusterFirstWithHostNet".into()),
        tolerations: Some(vec![Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        }]),
        containers: vec![container],
        volumes: Some(vec![
            w::host_path("proc", "/proc"),
            w::host_path("sys", "/sys"),
            w::host_path("root", "/"),
        ]),
        ..ctx.pod_spec(&b, 1, w::pod_security(Some(NOBODY), Some(NOBODY)))
    };
    b.push(DaemonSet {
        metadata: b.meta(w::workload_name(&b)),
        spec: Some(DaemonSetSpec {
            selector: w::label_selector(&b.selector_labels()),
            template: w::pod_template(&b, scrape_annotations(v.port, "/metrics"), pod),
            ..Default::default()
        }),
        ..Default::default()
    });
    Some(b.finish(vec![]))
}

pub fn render_kube_state_metrics(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.kube_state_metrics;
    if !(v.enabled && ctx.values.prometheus.enabled) {
        return None;
    }
    let mut b = Builder::new(ctx.release, KSM, Phase::Apps, &v.image.tag);
    let account = w::Account::new(&b, &v.rbac, &v.service_account);
    let mut rules = Vec::new();
    for group in ["", "apps", "batch"] {
        let resources: Vec<&str> = KSM_RESOURCES
            .iter()
            .filter(|(g, _)| *g == group)
            .map(|(_, r)| *r)
            .collect();
        rules.push(w::rule(&[group], &resources, &["list", "watch"]));
    }
    w::push_cluster_rbac(&mut b, &account, rules);
    let resources: Vec<&str> = KSM_RESOURCES.iter().map(|(_, r)| *r).collect();
    let container = Container {
        args: Some(vec![
            format!("--port={KSM_PORT}"),
            format!("--telemetry-port={KSM_TELEMETRY_PORT}"),
            format!("--resources={}", resources.join(",")),
        ]),
        ports: Some(vec![
            w::container_port("http", i32::from(KSM_PORT)),
            w::container_port("telemetry", i32::from(KSM_TELEMETRY_PORT)),
        ]),
        readiness_probe: Some(w::http_probe("/readyz", "telemetry", Timing::READINESS)),
        liveness_probe: Some(w::http_probe("/livez", "http", Timing::LIVENESS)),
        // Serves what it reads from the API from memory, writes nothing (its
        // contract: no data directory in the distroless image).
        ..w::read_only_root(ctx.container(KSM, &v.image, &v.resources))
    };
    let pod = PodSpec {
        service_account_name: Some(account.name),
        automount_service_account_token: Some(true),
        containers: vec![container],
        ..ctx.pod_spec(&b, 1, w::pod_security(Some(NOBODY), Some(NOBODY)))
    };
    b.push(w::deployment(
        &b,
        1,
        scrape_annotations(KSM_PORT, "/metrics"),
        pod,
    ));
    b.push(w::client_service(
        &b,
        "ClusterIP",
        vec![w::service_port("http", i32::from(KSM_PORT))],
    ));
    Some(b.finish(vec![]))
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    #[test]
    fn node_exporter_reads_the_host() {
        let mut v = values();
        let all = render_all(&v);
        let ds = find(
            component(&all, "node-exporter"),
            "DaemonSet",
            "ops-node-exporter",
        );
        let spec = &ds.body["spec"]["template"]["spec"];
        // By default in the node's namespaces: network metrics are the node's.
        assert_eq!(spec["hostNetwork"], true);
        assert_eq!(spec["hostPID"], true);
        assert_eq!(spec["volumes"][0]["hostPath"]["path"], "/proc");
        v.node_exporter.host_network = false;
        let pod_network = render_all(&v);
        let pod_spec = &find(
            component(&pod_network, "node-exporter"),
            "DaemonSet",
            "ops-node-exporter",
        )
        .body["spec"]["template"]["spec"];
        assert!(pod_spec.get("hostNetwork").is_none());
        assert!(pod_spec.get("hostPID").is_none());
        v.node_exporter.host_network = true;
        let all = render_all(&v);
        let ds = find(
            component(&all, "node-exporter"),
            "DaemonSet",
            "ops-node-exporter",
        );
        let spec = &ds.body["spec"]["template"]["spec"];
        assert_eq!(spec["hostNetwork"], true);
        assert_eq!(spec["hostPID"], true);
        assert_eq!(spec["dnsPolicy"], "ClusterFirstWithHostNet");
        assert_eq!(spec["tolerations"][0]["operator"], "Exists");
        let annotations = &ds.body["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(annotations["prometheus.io/port"], "9100");
        let c = container_of(ds, "node-exporter");
        assert_eq!(c["args"][0], "--path.procfs=/host/proc");
    }

    #[test]
    fn kube_state_metrics_lists_only_what_it_reports() {
        let all = render_all(&values());
        let r = component(&all, "kube-state-metrics");
        let role = find(r, "ClusterRole", "mon-ops-kube-state-metrics");
        let text = role.body["rules"].to_string();
        assert!(!text.contains("secrets"), "{text}");
        assert!(!text.contains("\"get\""), "{text}");
        assert!(text.contains("deployments"), "{text}");
        let d = find(r, "Deployment", "ops-kube-state-metrics");
        let c = container_of(d, "kube-state-metrics");
        assert!(
            c["args"][2]
                .as_str()
                .unwrap()
                .starts_with("--resources=namespaces,nodes,")
        );
    }

    #[test]
    fn kube_state_metrics_can_run_as_an_admins_account() {
        let mut v = values();
        v.kube_state_metrics.rbac.create = false;
        v.kube_state_metrics.service_account.name = "ksm".into();
        let all = render_all(&v);
        let r = component(&all, "kube-state-metrics");
        for kind in ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"] {
            assert!(r.manifests.iter().all(|m| m.kind != kind), "{kind}");
        }
        let d = find(r, "Deployment", "ops-kube-state-metrics");
        assert_eq!(
            d.body["spec"]["template"]["spec"]["serviceAccountName"],
            "ksm"
        );
    }

    #[test]
    fn exporters_follow_prometheus() {
        let mut v = values();
        v.prometheus.enabled = false;
        let all = render_all(&v);
        assert!(!has(&all, "node-exporter") && !has(&all, "kube-state-metrics"));
    }
}
