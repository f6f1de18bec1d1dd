//! Kafka (apache/kafka), the log buffer between Fluent Bit and ClickHouse.
//!
//! Two modes, chosen by `zookeeper.enabled`:
//! - KRaft (`false`): every broker is also a controller. The image's own start script
//!   (`/etc/kafka/docker/run`) turns `KAFKA_*` variables into `server.properties` and
//!   formats the storage with `CLUSTER_ID`.
//! - ZooKeeper (`true`, the chart's default): that start script refuses it — it always
//!   runs `kafka-storage format`, which fails with "Formatting is only supported for
//!   clusters in KRaft mode" — so the broker starts with `kafka-server-start.sh` on a
//!   `server.properties` from a ConfigMap, per-pod settings passed as `--override`.
//!
//! Brokers advertise their stable pod DNS names, which ClickHouse's Kafka engine and
//! Fluent Bit must reach.

use std::collections::BTreeMap;

use base64::Engine;
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EnvVar, PodSpec, Volume, VolumeMount,
};

use super::Ctx;
use super::common::{DATA_VOLUME, join, jvm_heap_mib};
use super::zookeeper;
use crate::model::{Phase, Release, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, ORDINAL_SH, Timing};

pub const COMPONENT: &str = "kafka";
pub(super) const PORT: i32 = 9092;
pub(super) const CONTROLLER_PORT: i32 = 9093;
/// `appuser` of the apache/kafka image.
const UID: i64 = 1000;
/// The claim is mounted one level up: Kafka treats every directory in a log dir as
/// a partition and refuses to start on a volume's `lost+found`.
const MOUNT: &str = "/var/lib/kafka";
const LOG_DIRS: &str = "/var/lib/kafka/data";
const CONFIG_DIR: &str = "/etc/kafka/stackctl";
const CONFIG_KEY: &str = "server.properties";
const LOG4J_KEY: &str = "log4j.properties";

/// The brokers' log4j (reload4j, log4j 1.x syntax at 3.9) configuration: the console
/// only, so `kubectl logs` has everything and the container writes no log files.
///
/// The image's own copy is no such thing: its Dockerfile copies the distribution's
/// `config/log4j.properties` to `/etc/kafka/docker/log4j.properties`
/// (apache/kafka 3.9.0-rc3, `docker/jvm/Dockerfile`), and that file adds
/// `DailyRollingFileAppender`s (`server.log`, `controller.log`, `state-change.log`, …
/// rolled hourly, never deleted) under `kafka.logs.dir`, `/opt/kafka/logs`
/// (`config/log4j.properties`, `bin/kafka-run-class.sh`). The levels are the
/// distribution's, except `kafka.controller`, which it sends at TRACE to its own file.
const LOG4J_PROPERTIES: &str = "\
# Rendered by stackctl: console only (the distribution's file appenders have no retention).
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
";

/// How the brokers coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    KRaft,
    ZooKeeper,
}

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.kafka;
    if !v.enabled {
        return None;
    }
    let mode = if zookeeper::used(ctx) {
        Mode::ZooKeeper
    } else {
        Mode::KRaft
    };
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Data, &v.image.tag);
    let globals = ctx.pod_globals();

    let mut headless_ports = vec![w::service_port("kafka", PORT)];
    if mode == Mode::KRaft {
        headless_ports.push(w::service_port("controller", CONTROLLER_PORT));
    }
    b.push(w::headless_service(&b, headless_ports));
    b.push(w::client_service(
        &b,
        "ClusterIP",
        vec![w::service_port("kafka", PORT)],
    ));

    // Both modes mount the ConfigMap: the log4j configuration always, the broker
    // settings in ZooKeeper mode (KRaft gets them as `KAFKA_*` variables).
    let mut config = BTreeMap::from([(LOG4J_KEY.to_string(), LOG4J_PROPERTIES.to_string())]);
    if mode == Mode::ZooKeeper {
        config.insert(CONFIG_KEY.into(), zookeeper_mode_properties(ctx));
    }
    let pod_annotations = w::checksum_annotation(&config.values().cloned().collect::<String>());
    let name = config_name(ctx.release);
    let pod = PodSpec {
        containers: vec![container(ctx, mode)],
        volumes: Some(vec![Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: name.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ..w::pod_spec(
            &b,
            &globals,
            v.replicas,
            w::pod_security(Some(UID), Some(UID)),
        )
    };
    b.push_in(Phase::Storage, w::config_map(&b, name, config));
    let sts = w::stateful_set(
        &b,
        w::StatefulSetParts {
            replicas: v.replicas,
            parallel: true,
            pod_annotations,
            pod,
            claims: vec![ctx.data_claim(&b, &v.persistence)],
        },
    );
    b.push(sts);
    w::push_pdb(&mut b, ctx.caps, &globals, v.replicas);

    let depends_on = match mode {
        Mode::ZooKeeper => vec![zookeeper::COMPONENT],
        Mode::KRaft => vec![],
    };
    Some(b.finish(depends_on))
}

fn config_name(release: &Release) -> String {
    release.object_name("kafka-config")
}

/// Internal topics are replicated to as many brokers as there are, up to three.
fn replication_factor(replicas: u32) -> u32 {
    replicas.clamp(1, 3)
}

/// Two in-sync replicas once there are three copies: one broker may be down.
fn min_isr(replicas: u32) -> u32 {
    if replication_factor(replicas) >= 3 {
        2
    } else {
        1
    }
}

/// Settings both modes share, as `server.properties` keys.
fn common_settings(replicas: u32) -> Vec<(&'static str, String)> {
    let rf = replication_factor(replicas).to_string();
    vec![
        ("log.dirs", LOG_DIRS.into()),
        ("offsets.topic.replication.factor", rf.clone()),
        ("transaction.state.log.replication.factor", rf.clone()),
        (
            "transaction.state.log.min.isr",
            min_isr(replicas).to_string(),
        ),
        ("default.replication.factor", rf),
        ("group.initial.rebalance.delay.ms", "0".into()),
        // Fluent Bit produces to a topic nobody created beforehand.
        ("auto.create.topics.enable", "true".into()),
    ]
}

/// `server.properties` → `KAFKA_*` as the image's start script maps them back.
fn env_name(property: &str) -> String {
    format!("KAFKA_{}", property.replace('.', "_").to_uppercase())
}

/// The listener each broker advertises: its own pod DNS name.
fn advertised_listener(ctx: &Ctx<'_>, pod_name_ref: &str) -> String {
    format!(
        "PLAINTEXT://{pod_name_ref}.{}.{}.svc:{PORT}",
        w::headless_name(ctx.release, COMPONENT),
        ctx.release.namespace
    )
}

fn kraft_env(ctx: &Ctx<'_>) -> Vec<EnvVar> {
    let replicas = ctx.values.kafka.replicas;
    let voters = join(0..replicas, ",", |i| {
        format!(
            "{i}@{}:{CONTROLLER_PORT}",
            w::pod_host(ctx.release, COMPONENT, i)
        )
    });
    let mut env = vec![
        w::env("CLUSTER_ID", cluster_id(ctx.release)),
        w::env("KAFKA_PROCESS_ROLES", "broker,controller"),
        w::env(
            "KAFKA_LISTENERS",
            format!("PLAINTEXT://:{PORT},CONTROLLER://:{CONTROLLER_PORT}"),
        ),
        // $(POD_NAME) is expanded by Kubernetes from the variable defined before it.
        w::env(
            "KAFKA_ADVERTISED_LISTENERS",
            advertised_listener(ctx, "$(POD_NAME)"),
        ),
        w::env(
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        ),
        w::env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER"),
        w::env("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT"),
        w::env("KAFKA_CONTROLLER_QUORUM_VOTERS", voters),
    ];
    env.extend(
        common_settings(replicas)
            .into_iter()
            .map(|(k, v)| w::env(&env_name(k), v)),
    );
    env
}

/// `server.properties` for ZooKeeper mode; `broker.id` and `advertised.listeners`
/// differ per pod and are passed on the command line.
fn zookeeper_mode_properties(ctx: &Ctx<'_>) -> String {
    let mut settings = vec![
        ("zookeeper.connect", zookeeper::connect_string(ctx)),
        ("zookeeper.connection.timeout.ms", "18000".into()),
        ("listeners", format!("PLAINTEXT://:{PORT}")),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT".into(),
        ),
        ("inter.broker.listener.name", "PLAINTEXT".into()),
    ];
    settings.extend(common_settings(ctx.values.kafka.replicas));
    let mut out =
        String::from("# Rendered by stackctl; per-broker settings are --override flags.\n");
    for (k, v) in settings {
        out.push_str(&format!("{k}={v}\n"));
    }
    out
}

fn container(ctx: &Ctx<'_>, mode: Mode) -> Container {
    let v = &ctx.values.kafka;
    // First, so that later variables can refer to it as $(POD_NAME).
    let mut env = vec![w::env_field("POD_NAME", "metadata.name")];
    if let Some(heap) = jvm_heap_mib(&v.resources) {
        // kafka-server-start.sh defaults to 1 GiB whatever the container's limit is.
        env.push(w::env(
            "KAFKA_HEAP_OPTS",
            format!("-Xmx{heap}m -Xms{heap}m"),
        ));
    }
    // Read by `kafka-server-start.sh`, which falls back to the distribution's
    // `config/log4j.properties` only when it is unset, and by `kafka-run-class.sh`
    // (apache/kafka 3.9.0-rc3, `bin/`); in KRaft mode the image's `run` ends in that
    // same `kafka-server-start.sh` (`docker/jvm/launch`), and its KafkaDockerWrapper
    // does not turn this variable into a broker setting (`ExcludeServerPropsEnv`).
    env.push(w::env(
        "KAFKA_LOG4J_OPTS",
        format!("-Dlog4j.configuration=file:{CONFIG_DIR}/{LOG4J_KEY}"),
    ));
    let mounts = vec![
        VolumeMount {
            name: DATA_VOLUME.into(),
            mount_path: MOUNT.into(),
            ..Default::default()
        },
        VolumeMount {
            name: "config".into(),
            mount_path: CONFIG_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        },
    ];
    let mut ports = vec![w::container_port("kafka", PORT)];
    let start = match mode {
        Mode::KRaft => {
            env.extend(kraft_env(ctx));
            ports.push(w::container_port("controller", CONTROLLER_PORT));
            // The node id is the pod ordinal, matching the quorum voters list.
            format!("export KAFKA_NODE_ID={ORDINAL_SH} && exec /etc/kafka/docker/run")
        }
        Mode::ZooKeeper => format!(
            "exec /opt/kafka/bin/kafka-server-start.sh {CONFIG_DIR}/{CONFIG_KEY} \
                 --override broker.id={ORDINAL_SH} \
                 --override advertised.listeners={}",
            advertised_listener(ctx, "${POD_NAME}")
        ),
    };
    Container {
        command: Some(w::shell(start)),
        env: Some(env),
        ports: Some(ports),
        volume_mounts: Some(mounts),
        // A broker-api-versions exec would start a JVM every period; the listener
        // accepting connections is what clients need.
        readiness_probe: Some(w::tcp_probe("kafka", Timing::READINESS)),
        liveness_probe: Some(w::tcp_probe("kafka", Timing::LIVENESS)),
        // Log recovery after an unclean stop can take minutes.
        startup_probe: Some(w::tcp_probe("kafka", Timing::STARTUP)),
        ..ctx.container(COMPONENT, &v.image, &v.resources)
    }
}

/// KRaft cluster id: 16 bytes derived from the release's namespace and name, as
/// unpadded URL-safe base64 (22 characters). Stable for the life of the release —
/// formatted storage is bound to it — and different between releases.
pub fn cluster_id(release: &Release) -> String {
    let seed = format!("{}/{}", release.namespace, release.name);
    let hi = w::stable_hash(seed.as_bytes(), 0x6b61_666b_612d_6869);
    let lo = w::stable_hash(seed.as_bytes(), 0x6b61_666b_612d_6c6f);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_be_bytes());
    bytes[8..].copy_from_slice(&lo.to_be_bytes());
    // Kafka's tools misread an id starting with '-' as an option; a clear top bit
    // makes the first character a letter.
    bytes[0] &= 0x7f;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;
    use super::*;

    fn kafka_container(v: &super::super::values::Values) -> (serde_json::Value, Vec<&'static str>) {
        let all = render_all(v);
        let r = component(&all, "kafka");
        let sts = find(r, "StatefulSet", "cv-kafka");
        (container_of(sts, "kafka").clone(), r.depends_on.clone())
    }

    #[test]
    fn kraft_mode_env() {
        let mut v = values();
        v.zookeeper.enabled = false;
        v.kafka.replicas = 3;
        let (c, depends_on) = kafka_container(&v);
        assert!(depends_on.is_empty());
        assert_eq!(env(&c, "KAFKA_PROCESS_ROLES"), Some("broker,controller"));
        assert_eq!(env(&c, "CLUSTER_ID").unwrap().len(), 22);
        assert_eq!(
            env(&c, "KAFKA_CONTROLLER_QUORUM_VOTERS"),
            Some(
                "0@cv-kafka-0.cv-kafka-headless.logs.svc:9093,\
                 1@cv-kafka-1.cv-kafka-headless.logs.svc:9093,\
                 2@cv-kafka-2.cv-kafka-headless.logs.svc:9093"
            )
        );
        assert_eq!(
            env(&c, "KAFKA_ADVERTISED_LISTENERS"),
            Some("PLAINTEXT://$(POD_NAME).cv-kafka-headless.logs.svc:9092")
        );
        assert_eq!(env(&c, "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"), Some("3"));
        assert_eq!(env(&c, "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"), Some("2"));
        assert_eq!(env(&c, "KAFKA_LOG_DIRS"), Some("/var/lib/kafka/data"));
        assert!(
            c["command"][2]
                .as_str()
                .unwrap()
                .contains("/etc/kafka/docker/run")
        );
        // POD_NAME must precede the variables that expand it.
        assert_eq!(c["env"][0]["name"], "POD_NAME");
    }

    #[test]
    fn zookeeper_mode_uses_properties_and_overrides() {
        let v = values();
        let all = render_all(&v);
        let r = component(&all, "kafka");
        assert_eq!(r.depends_on, vec!["zookeeper"]);
        let c = container_of(find(r, "StatefulSet", "cv-kafka"), "kafka");
        assert_eq!(env(c, "KAFKA_PROCESS_ROLES"), None);
        assert_eq!(env(c, "CLUSTER_ID"), None);
        let start = c["command"][2].as_str().unwrap();
        assert!(start.contains("kafka-server-start.sh"), "{start}");
        assert!(
            start.contains("--override broker.id=${HOSTNAME##*-}"),
            "{start}"
        );
        let cm = find(r, "ConfigMap", "cv-kafka-config");
        assert_eq!(cm.phase.as_str(), "storage");
        let props = cm.body["data"]["server.properties"].as_str().unwrap();
        assert!(props.contains("zookeeper.connect=cv-zookeeper.logs.svc:2181\n"));
        assert!(props.contains("offsets.topic.replication.factor=1\n"));
        // Every KAFKA_* variable becomes a broker setting; no Service may add any.
        let sts = find(r, "StatefulSet", "cv-kafka");
        assert_eq!(
            sts.body["spec"]["template"]["spec"]["enableServiceLinks"],
            false
        );
    }

    /// The image's log4j configuration is the distribution's (apache/kafka 3.9.0-rc3,
    /// `docker/jvm/Dockerfile` copies `config/log4j.properties`), whose
    /// `DailyRollingFileAppender`s fill `/opt/kafka/logs` without retention. In both
    /// modes the broker must start with a console-only file of ours.
    #[test]
    fn brokers_log_to_the_console_only() {
        for zookeeper in [true, false] {
            let mut v = values();
            v.zookeeper.enabled = zookeeper;
            let all = render_all(&v);
            let r = component(&all, "kafka");
            let sts = find(r, "StatefulSet", "cv-kafka");
            let c = container_of(sts, "kafka");
            assert_eq!(
                env(c, "KAFKA_LOG4J_OPTS"),
                Some("-Dlog4j.configuration=file:/etc/kafka/stackctl/log4j.properties"),
                "zookeeper mode: {zookeeper}"
            );
            let mount = c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["mountPath"] == "/etc/kafka/stackctl")
                .expect("the config mount");
            let volume = sts.body["spec"]["template"]["spec"]["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|vol| vol["name"] == mount["name"])
                .expect("the config volume");
            assert_eq!(volume["configMap"]["name"], "cv-kafka-config");
            let cm = find(r, "ConfigMap", "cv-kafka-config");
            let log4j = cm.body["data"]["log4j.properties"].as_str().unwrap();
            assert!(log4j.contains("log4j.rootLogger=INFO, stdout\n"), "{log4j}");
            assert!(
                log4j.contains("log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"),
                "{log4j}"
            );
            // One appender, the console: no file, no other appender a logger could use.
            let appenders: Vec<_> = log4j
                .lines()
                .filter_map(|l| l.strip_prefix("log4j.appender."))
                .filter_map(|l| l.split_once('='))
                .filter(|(k, _)| !k.contains('.'))
                .collect();
            assert_eq!(appenders, [("stdout", "org.apache.log4j.ConsoleAppender")]);
            assert!(!log4j.contains("kafka.logs.dir"), "{log4j}");
            assert_eq!(
                cm.body["data"].get("server.properties").is_some(),
                zookeeper,
                "server.properties only in ZooKeeper mode"
            );
        }
    }

    #[test]
    fn cluster_id_is_stable_and_per_release() {
        let a = cluster_id(&release());
        assert_eq!(a, cluster_id(&release()));
        assert_eq!(a.len(), 22);
        assert!(a.chars().next().unwrap().is_ascii_alphabetic());
        let other = Release {
            namespace: "other".into(),
            ..release()
        };
        assert_ne!(a, cluster_id(&other));
    }

    #[test]
    fn nothing_for_external_kafka() {
        let mut v = values();
        v.kafka.enabled = false;
        v.kafka.external.brokers = vec!["broker.example.com:9092".into()];
        assert!(render_all(&v).iter().all(|r| r.name != "kafka"));
    }
}
