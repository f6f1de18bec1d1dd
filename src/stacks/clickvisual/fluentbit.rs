//! Fluent Bit: a DaemonSet that tails every container log on every node, adds
//! Kubernetes metadata under ClickVisual's field names and produces to Kafka.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, HostPathVolumeSource, PodSpec, Toleration, Volume,
    VolumeMount,
};

use super::Ctx;
use super::kafka;
use crate::model::{Phase, Release, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "fluentbit";
pub(super) const HTTP_PORT: i32 = 2020;
const CONFIG_DIR: &str = "/fluent-bit/etc/conf";
/// Tail offsets survive pod restarts in a host directory of this release only, so
/// that two releases on one node never share a database.
const STATE_DIR: &str = "/var/fluent-bit/state";

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.fluentbit;
    let kafka = ctx.conn.kafka.as_ref()?;
    if !v.enabled {
        return None;
    }
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Apps, &v.image.tag);
    let name = w::workload_name(&b);
    let account = w::Account {
        // Unset on the ServiceAccount since the first release; the pods ask for
        // their token themselves.
        automount: None,
        ..w::Account::new(&b, &v.rbac, &v.service_account)
    };
    // Read access to pods and namespaces cluster-wide, for the kubernetes filter.
    w::push_cluster_rbac(
        &mut b,
        &account,
        vec![w::rule(
            &[""],
            &["namespaces", "pods"],
            &["get", "list", "watch"],
        )],
    );
    let files = BTreeMap::from([
        ("fluent-bit.conf".to_string(), fluent_bit_conf(ctx)),
        ("parsers.conf".to_string(), PARSERS_CONF.to_string()),
    ]);
    let checksum = w::checksum_annotation(&super::common::join(&files, "\n", |(k, v)| {
        format!("{k}\n{v}")
    }));
    let config_name = ctx.release.object_name("fluentbit-config");
    let cm = w::config_map(&b, config_name.clone(), files);
    b.push_in(Phase::Storage, cm);

    let pod = PodSpec {
        service_account_name: Some(account.name),
        // The kubernetes filter reads pod metadata from the API with this token.
        automount_service_account_token: Some(true),
        // Logs of every node, control plane included.
        tolerations: Some(vec![Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        }]),
        containers: vec![container(ctx, &kafka.brokers_csv())],
        volumes: Some(volumes(ctx.release, config_name)),
        ..w::pod_spec(&b, &ctx.pod_globals(), 1, w::pod_security(None, None))
    };
    b.push(DaemonSet {
        metadata: b.meta(name),
        spec: Some(DaemonSetSpec {
            selector: w::label_selector(&b.selector_labels()),
            template: w::pod_template(&b, checksum, pod),
            ..Default::default()
        }),
        ..Default::default()
    });

    let depends_on = if kafka.internal {
        vec![kafka::COMPONENT]
    } else {
        vec![]
    };
    Some(b.finish(depends_on))
}

fn host_path(name: &str, path: String, type_: &str) -> Volume {
    Volume {
        name: name.into(),
        host_path: Some(HostPathVolumeSource {
            path,
            type_: Some(type_.into()),
        }),
        ..Default::default()
    }
}

fn volumes(release: &Release, config_map: String) -> Vec<Volume> {
    vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map,
                ..Default::default()
            }),
            ..Default::default()
        },
        host_path("varlog", "/var/log".into(), "Directory"),
        // Docker's json-file logs, where /var/log/containers links point on Docker
        // nodes; absent (and unused) on containerd nodes.
        host_path(
            "dockercontainers",
            "/var/lib/docker/containers".into(),
            "DirectoryOrCreate",
        ),
        host_path(
            "state",
            format!("/var/lib/fluent-bit/{}-{}", release.namespace, release.name),
            "DirectoryOrCreate",
        ),
    ]
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(read_only),
        ..Default::default()
    }
}

fn container(ctx: &Ctx<'_>, brokers: &str) -> Container {
    let v = &ctx.values.fluentbit;
    let mut c = ctx.container(COMPONENT, &v.image, &v.resources);
    // Root (the image's user) reads the root-owned logs as their owner, so no
    // capability is needed; nothing but the state directory is written.
    if let Some(sc) = c.security_context.as_mut() {
        sc.read_only_root_filesystem = Some(true);
    }
    Container {
        command: Some(vec![
            "/fluent-bit/bin/fluent-bit".into(),
            "-c".into(),
            format!("{CONFIG_DIR}/fluent-bit.conf"),
        ]),
        env: Some(vec![
            w::env("CLUSTER_NAME", &v.cluster_name),
            w::env("KAFKA_BROKERS", brokers),
            w::env_field("NODE_IP", "status.hostIP"),
        ]),
        ports: Some(vec![w::container_port("http", HTTP_PORT)]),
        volume_mounts: Some(vec![
            mount("config", CONFIG_DIR, true),
            mount("varlog", "/var/log", true),
            mount("dockercontainers", "/var/lib/docker/containers", true),
            mount("state", STATE_DIR, false),
        ]),
        liveness_probe: Some(w::http_probe("/", "http", Timing::LIVENESS)),
        // Unhealthy once outputs keep failing (Health_Check On).
        readiness_probe: Some(w::http_probe("/api/v1/health", "http", Timing::READINESS)),
        ..c
    }
}

/// The pipeline. Container logs are read with both the Docker and the CRI
/// multiline parsers, whichever runtime the node has. The record's own `time` is
/// dropped: the parsers already made it the record timestamp, which the Kafka output
/// writes as `_time_` — renaming it too would emit `_time_` twice.
fn fluent_bit_conf(ctx: &Ctx<'_>) -> String {
    let release = ctx.release;
    format!(
        r"[SERVICE]
    Flush               1
    Log_Level           info
    Daemon              off
    Parsers_File        {CONFIG_DIR}/parsers.conf
    HTTP_Server         On
    HTTP_Listen         0.0.0.0
    HTTP_Port           {HTTP_PORT}
    Health_Check        On

[INPUT]
    Name                tail
    Tag                 kube.*
    Path                /var/log/containers/*.log
    Exclude_Path        /var/log/containers/{own_pods}-*_{namespace}_*.log
    multiline.parser    docker, cri
    DB                  {STATE_DIR}/tail-containers.db
    DB.locking          true
    Mem_Buf_Limit       15MB
    Buffer_Chunk_Size   1MB
    Buffer_Max_Size     5MB
    Skip_Long_Lines     On
    Refresh_Interval    10

[FILTER]
    Name                kubernetes
    Match               kube.*
    Kube_URL            https://kubernetes.default.svc:443
    Kube_CA_File        /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    Kube_Token_File     /var/run/secrets/kubernetes.io/serviceaccount/token
    Kube_Tag_Prefix     kube.var.log.containers.
    Merge_Log           Off
    Labels              Off
    Annotations         Off

[FILTER]
    Name                nest
    Match               kube.*
    Operation           lift
    Nested_under        kubernetes
    Add_prefix          kubernetes_

[FILTER]
    Name                modify
    Match               kube.*
    Rename              log _log_
    Rename              stream _source_
    Rename              kubernetes_host _node_name_
    Rename              kubernetes_namespace_name _namespace_
    Rename              kubernetes_container_name _container_name_
    Rename              kubernetes_pod_name _pod_name_
    Remove_wildcard     kubernetes_
    Remove              time
    Remove              _p
    Add                 _cluster_ ${{CLUSTER_NAME}}
    Add                 _log_agent_ ${{HOSTNAME}}
    Add                 _node_ip_ ${{NODE_IP}}

[OUTPUT]
    Name                kafka
    Match               kube.*
    Brokers             ${{KAFKA_BROKERS}}
    Topics              {topic}
    Format              json
    Timestamp_Key       _time_
    Timestamp_Format    iso8601
    Retry_Limit         false
    rdkafka.log.connection.close        false
    rdkafka.queue.buffering.max.kbytes  10240
    rdkafka.request.required.acks       1
",
        // Its own logs would otherwise loop back through Kafka.
        own_pods = release.object_name(COMPONENT),
        namespace = release.namespace,
        topic = ctx.values.fluentbit.topic,
    )
}

const PARSERS_CONF: &str = r"[PARSER]
    Name        docker
    Format      json
    Time_Key    time
    Time_Format %Y-%m-%dT%H:%M:%S.%L
    Time_Keep   Off

[PARSER]
    Name        cri
    Format      regex
    Regex       ^(?<time>[^ ]+) (?<stream>stdout|stderr) (?<logtag>[^ ]*) (?<log>.*)$
    Time_Key    time
    Time_Format %Y-%m-%dT%H:%M:%S.%L%z
    Time_Keep   Off

[PARSER]
    Name        json
    Format      json
";

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    #[test]
    fn daemonset_config_and_rbac() {
        let v = values();
        let all = render_all(&v);
        let r = component(&all, "fluentbit");
        assert_eq!(r.depends_on, vec!["kafka"]);
        let ds = find(r, "DaemonSet", "cv-fluentbit");
        assert_eq!(ds.phase.as_str(), "apps");
        let c = container_of(ds, "fluentbit");
        assert_eq!(
            env(c, "KAFKA_BROKERS"),
            Some("cv-kafka-0.cv-kafka-headless.logs.svc:9092")
        );
        assert_eq!(env(c, "CLUSTER_NAME"), Some("kubernetes"));
        let mounts = c["volumeMounts"].as_array().unwrap();
        let varlog = mounts.iter().find(|m| m["name"] == "varlog").unwrap();
        assert_eq!(varlog["readOnly"], true);
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/api/v1/health");

        let conf = find(r, "ConfigMap", "cv-fluentbit-config").body["data"]["fluent-bit.conf"]
            .as_str()
            .unwrap()
            .to_string();
        for needle in [
            "multiline.parser    docker, cri",
            "Health_Check        On",
            "Rename              log _log_",
            "Rename              kubernetes_pod_name _pod_name_",
            "Add                 _cluster_ ${CLUSTER_NAME}",
            "Topics              app-stdout-logs",
            "Timestamp_Key       _time_",
            "Exclude_Path        /var/log/containers/cv-fluentbit-*_logs_*.log",
        ] {
            assert!(conf.contains(needle), "missing {needle:?} in\n{conf}");
        }

        let role = find(r, "ClusterRole", "logs-cv-fluentbit");
        assert!(role.namespace.is_none());
        assert_eq!(role.phase.as_str(), "storage");
        let binding = find(r, "ClusterRoleBinding", "logs-cv-fluentbit");
        assert_eq!(binding.body["subjects"][0]["namespace"], "logs");
        assert_eq!(binding.body["subjects"][0]["name"], "cv-fluentbit");
        find(r, "ServiceAccount", "cv-fluentbit");
    }

    #[test]
    fn an_admins_account_replaces_the_rbac() {
        let mut v = values();
        v.fluentbit.service_account.name = "log-reader".into();
        let all = render_all(&v);
        let r = component(&all, "fluentbit");
        // A chosen name, RBAC still stackctl's: the account and binding carry it.
        find(r, "ServiceAccount", "log-reader");
        let binding = find(r, "ClusterRoleBinding", "logs-cv-fluentbit");
        assert_eq!(binding.body["subjects"][0]["name"], "log-reader");

        v.fluentbit.rbac.create = false;
        let all = render_all(&v);
        let r = component(&all, "fluentbit");
        let rbac: Vec<String> = r
            .manifests
            .iter()
            .filter(|m| crate::stacks::RBAC_KINDS.contains(&m.kind.as_str()))
            .map(crate::model::Manifest::id)
            .collect();
        assert!(rbac.is_empty(), "{rbac:?}");
        let ds = find(r, "DaemonSet", "cv-fluentbit");
        let spec = &ds.body["spec"]["template"]["spec"];
        assert_eq!(spec["serviceAccountName"], "log-reader");
        assert_eq!(spec["automountServiceAccountToken"], true);
    }

    #[test]
    fn external_kafka_no_dependency_and_absent_kafka_nothing() {
        let mut v = values();
        v.kafka.enabled = false;
        v.kafka.external.brokers = vec!["k1:9092".into(), "k2:9092".into()];
        let all = render_all(&v);
        let r = component(&all, "fluentbit");
        assert!(r.depends_on.is_empty());
        let c = container_of(find(r, "DaemonSet", "cv-fluentbit"), "fluentbit");
        assert_eq!(env(c, "KAFKA_BROKERS"), Some("k1:9092,k2:9092"));

        v.kafka.external.brokers.clear();
        assert!(render_all(&v).iter().all(|r| r.name != "fluentbit"));
    }
}
