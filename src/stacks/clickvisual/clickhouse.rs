//! ClickHouse: the log store, fed by its Kafka engine tables (which ClickVisual
//! creates).
//!
//! One StatefulSet of `shards × replicas` pods. Pod `i` is replica `i % replicas` of
//! shard `i / replicas + 1`. With more than one pod:
//! - `remote_servers` defines cluster `clickvisual` listing every pod by DNS name;
//! - the first three pods (or the first one, below three pods) also run the embedded
//!   ClickHouse Keeper, and every pod uses them as its `zookeeper` — no separate
//!   Keeper or ZooKeeper workload, one image, one claim per pod;
//! - macros `{shard}`/`{replica}` and the Keeper `server_id` come from variables the
//!   start command derives from the pod ordinal, read by ClickHouse's `from_env`.
//!
//! The configuration files live in a ConfigMap and are copied into `config.d` and
//! `users.d` at start: the image keeps those directories writable for any uid, and the
//! entrypoint must still write its own `users.d/default-user.xml` next to ours.
//!
//! `ulimit -n` cannot be set from a pod spec; ClickHouse only warns when the
//! runtime's limit is below the 262144 it recommends.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMapVolumeSource, Container, PodSpec, Volume, VolumeMount};

use super::Ctx;
use super::common::{DATA_VOLUME, join};
use super::connections::{credentials_secret, keys};
use crate::model::{Phase, Release, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, ORDINAL_SH, Timing};

pub const COMPONENT: &str = "clickhouse";
/// Name of the cluster in `remote_servers`, for `ON CLUSTER` and ClickVisual's
/// instance settings.
pub const CLUSTER: &str = "clickvisual";
pub(super) const HTTP_PORT: i32 = 8123;
pub(super) const NATIVE_PORT: i32 = 9000;
pub(super) const INTERSERVER_PORT: i32 = 9009;
pub(super) const KEEPER_PORT: i32 = 9181;
pub(super) const RAFT_PORT: i32 = 9234;
/// The `clickhouse` user of the official image.
const UID: i64 = 101;
const CONFIG_DIR: &str = "/etc/stackctl/clickhouse";
/// Where the Secret's password is mounted (file `password`).
const PASSWORD_DIR: &str = "/credentials/clickhouse";

const PROFILE_KEY: &str = "profile.xml";
const LOGGING_KEY: &str = "logging.xml";
const CLUSTER_KEY: &str = "cluster.xml";
const KEEPER_KEY: &str = "keeper.xml";

/// Shape of the deployment, from `clickhouse.shards` and `clickhouse.replicas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Topology {
    shards: u32,
    replicas: u32,
}

impl Topology {
    fn pods(self) -> u32 {
        self.shards.max(1) * self.replicas.max(1)
    }

    fn clustered(self) -> bool {
        self.pods() > 1
    }

    /// Keeper members: three tolerate one failure; below three pods, one member —
    /// two would tolerate no more failures than one.
    fn keepers(self) -> u32 {
        if self.pods() >= 3 { 3 } else { 1 }
    }
}

/// Whether the release's ClickHouse runs more than one pod, which then talk to
/// each other (distributed queries, replication, Keeper).
pub(super) fn clustered(v: &super::values::ClickHouse) -> bool {
    Topology {
        shards: v.shards,
        replicas: v.replicas,
    }
    .clustered()
}

/// Every server by its pod's name, `host:port` of the native protocol, in the
/// order of `remote_servers`: what a backup reads each shard from.
pub(super) fn servers(ctx: &Ctx<'_>) -> Vec<String> {
    let v = &ctx.values.clickhouse;
    let topo = Topology {
        shards: v.shards,
        replicas: v.replicas,
    };
    (0..topo.pods())
        .map(|i| format!("{}:{NATIVE_PORT}", w::pod_host(ctx.release, COMPONENT, i)))
        .collect()
}

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.clickhouse;
    let conn = ctx.conn.clickhouse.as_ref()?;
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Data, &v.image.tag);
    let credentials =
        BTreeMap::from([(keys::CLICKHOUSE_PASSWORD.to_string(), conn.password.clone())]);
    ctx.push_credentials(&mut b, COMPONENT, credentials);
    if !v.enabled {
        return Some(b.finish(vec![]));
    }
    let topo = Topology {
        shards: v.shards,
        replicas: v.replicas,
    };
    let globals = ctx.pod_globals();

    let files = config_files(ctx, topo);
    let checksum_input = join(&files, "\n", |(k, v)| format!("{k}\n{v}"));
    let config_name = ctx.release.object_name("clickhouse-config");
    let cm = w::config_map(&b, config_name.clone(), files);
    b.push_in(Phase::Storage, cm);

    b.push(w::headless_service(
        &b,
        vec![
            w::service_port("http", HTTP_PORT),
            w::service_port("native", NATIVE_PORT),
            w::service_port("interserver", INTERSERVER_PORT),
            w::service_port("keeper", KEEPER_PORT),
            w::service_port("raft", RAFT_PORT),
        ],
    ));
    b.push(w::client_service(
        &b,
        "ClusterIP",
        vec![
            w::service_port("http", HTTP_PORT),
            w::service_port("native", NATIVE_PORT),
        ],
    ));

    let pod = PodSpec {
        containers: vec![container(ctx, topo)],
        volumes: Some(vec![
            Volume {
                name: "config".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: config_name,
                    ..Default::default()
                }),
                ..Default::default()
            },
            // Mode 0440 and the pod's fsGroup: the `clickhouse` user reads it.
            w::secret_key_volume(
                "password",
                &credentials_secret(ctx.release, COMPONENT),
                keys::CLICKHOUSE_PASSWORD,
            ),
        ]),
        ..w::pod_spec(
            &b,
            &globals,
            topo.pods(),
            w::pod_security(Some(UID), Some(UID)),
        )
    };
    let sts = w::stateful_set(
        &b,
        w::StatefulSetParts {
            replicas: topo.pods(),
            parallel: true,
            pod_annotations: w::checksum_annotation(&checksum_input),
            pod,
            claims: vec![ctx.data_claim(&b, &v.persistence)],
        },
    );
    b.push(sts);
    w::push_pdb(&mut b, ctx.caps, &globals, topo.pods());
    Some(b.finish(vec![]))
}

/// The ConfigMap's files: always the profile and logging settings, plus the cluster
/// and Keeper configuration when there is more than one pod.
fn config_files(ctx: &Ctx<'_>, topo: Topology) -> BTreeMap<String, String> {
    let mut files = BTreeMap::from([
        (PROFILE_KEY.to_string(), PROFILE_XML.to_string()),
        (LOGGING_KEY.to_string(), LOGGING_XML.to_string()),
    ]);
    if topo.clustered() {
        files.insert(CLUSTER_KEY.into(), cluster_xml(ctx, topo));
        files.insert(KEEPER_KEY.into(), keeper_xml(ctx.release, topo));
    }
    files
}

/// Settings ClickVisual relies on, for the `default` profile its user gets:
/// `SELECT` straight from Kafka engine tables (its table preview), and the old
/// `GraphiteMergeTree(...)` syntax of the alerting `metrics.samples` table.
const PROFILE_XML: &str = r"<clickhouse>
    <profiles>
        <default>
            <stream_like_engine_allow_direct_select>1</stream_like_engine_allow_direct_select>
            <allow_deprecated_syntax_for_merge_tree>1</allow_deprecated_syntax_for_merge_tree>
        </default>
    </profiles>
</clickhouse>
";

/// Log to the console only: the image's default rotating files (up to 10 GiB) would
/// fill the container's writable layer, and the console is what `kubectl logs` and
/// Fluent Bit read.
const LOGGING_XML: &str = r#"<clickhouse>
    <logger>
        <level>information</level>
        <console>1</console>
        <log remove="remove"/>
        <errorlog remove="remove"/>
    </logger>
</clickhouse>
"#;

fn cluster_xml(ctx: &Ctx<'_>, topo: Topology) -> String {
    let user = xml_escape(&ctx.values.clickhouse.auth.username);
    let host = |i: u32| w::pod_host(ctx.release, COMPONENT, i);
    let shards = join(0..topo.shards.max(1), "\n", |s| {
        let replicas = join(0..topo.replicas.max(1), "\n", |r| {
            let ordinal = s * topo.replicas.max(1) + r;
            format!(
                "                <replica>\n\
                 \x20                   <host>{}</host>\n\
                 \x20                   <port>{NATIVE_PORT}</port>\n\
                 \x20                   <user>{user}</user>\n\
                 \x20                   <password from_env=\"CLICKHOUSE_PASSWORD\"/>\n\
                 \x20               </replica>",
                host(ordinal)
            )
        });
        format!(
            "            <shard>\n\
             \x20               <internal_replication>true</internal_replication>\n\
             {replicas}\n\
             \x20           </shard>"
        )
    });
    let keepers = join(0..topo.keepers(), "\n", |i| {
        format!(
            "        <node>\n\
             \x20           <host>{}</host>\n\
             \x20           <port>{KEEPER_PORT}</port>\n\
             \x20       </node>",
            host(i)
        )
    });
    format!(
        r#"<clickhouse>
    <remote_servers>
        <{CLUSTER}>
{shards}
        </{CLUSTER}>
    </remote_servers>
    <zookeeper>
{keepers}
    </zookeeper>
    <macros>
        <cluster>{CLUSTER}</cluster>
        <shard from_env="CH_SHARD"/>
        <replica from_env="CH_REPLICA"/>
    </macros>
    <interserver_http_host from_env="CH_INTERSERVER_HOST"/>
</clickhouse>
"#
    )
}

fn keeper_xml(release: &Release, topo: Topology) -> String {
    let servers = join(0..topo.keepers(), "\n", |i| {
        format!(
            "            <server>\n\
             \x20               <id>{}</id>\n\
             \x20               <hostname>{}</hostname>\n\
             \x20               <port>{RAFT_PORT}</port>\n\
             \x20           </server>",
            i + 1,
            w::pod_host(release, COMPONENT, i)
        )
    });
    format!(
        r#"<clickhouse>
    <keeper_server>
        <tcp_port>{KEEPER_PORT}</tcp_port>
        <server_id from_env="KEEPER_SERVER_ID"/>
        <log_storage_path>/var/lib/clickhouse/coordination/log</log_storage_path>
        <snapshot_storage_path>/var/lib/clickhouse/coordination/snapshots</snapshot_storage_path>
        <coordination_settings>
            <operation_timeout_ms>10000</operation_timeout_ms>
            <session_timeout_ms>30000</session_timeout_ms>
            <raft_logs_level>warning</raft_logs_level>
        </coordination_settings>
        <raft_configuration>
{servers}
        </raft_configuration>
    </keeper_server>
</clickhouse>
"#
    )
}

/// The start command: per-pod variables from the ordinal, our files into place, then
/// the image's entrypoint.
///
/// The entrypoint reads `CLICKHOUSE_PASSWORD_FILE` only if the file exists, and
/// otherwise gives the user an empty password: a missing file stops the start here.
/// With a cluster, `remote_servers` reads the password by `from_env`, which only
/// the server's own environment answers, so the password is exported for it there.
fn start_script(ctx: &Ctx<'_>, topo: Topology) -> String {
    let mut lines = vec![
        "set -e".to_string(),
        r#"[ -r "$CLICKHOUSE_PASSWORD_FILE" ] || { echo "cannot read the password file $CLICKHOUSE_PASSWORD_FILE" >&2; exit 1; }"#.to_string(),
        format!(
            "cp {CONFIG_DIR}/{PROFILE_KEY} /etc/clickhouse-server/users.d/stackctl-profile.xml"
        ),
        format!(
            "cp {CONFIG_DIR}/{LOGGING_KEY} /etc/clickhouse-server/config.d/stackctl-logging.xml"
        ),
    ];
    if topo.clustered() {
        lines.extend([
            format!("ordinal={ORDINAL_SH}"),
            format!(
                "export CH_SHARD=$((ordinal / {} + 1))",
                topo.replicas.max(1)
            ),
            "export CH_REPLICA=\"$HOSTNAME\"".into(),
            r#"export CLICKHOUSE_PASSWORD="$(cat "$CLICKHOUSE_PASSWORD_FILE")""#.into(),
            format!(
                "export CH_INTERSERVER_HOST=\"$HOSTNAME.{}.{}.svc\"",
                w::headless_name(ctx.release, COMPONENT),
                ctx.release.namespace
            ),
            format!("cp {CONFIG_DIR}/{CLUSTER_KEY} /etc/clickhouse-server/config.d/stackctl-cluster.xml"),
            format!(
                "if [ \"$ordinal\" -lt {} ]; then export KEEPER_SERVER_ID=$((ordinal + 1)); \
                 cp {CONFIG_DIR}/{KEEPER_KEY} /etc/clickhouse-server/config.d/stackctl-keeper.xml; fi",
                topo.keepers()
            ),
        ]);
    }
    lines.push("exec /entrypoint.sh".into());
    lines.join("\n")
}

fn container(ctx: &Ctx<'_>, topo: Topology) -> Container {
    let v = &ctx.values.clickhouse;
    let mut ports = vec![
        w::container_port("http", HTTP_PORT),
        w::container_port("native", NATIVE_PORT),
    ];
    if topo.clustered() {
        ports.extend([
            w::container_port("interserver", INTERSERVER_PORT),
            w::container_port("keeper", KEEPER_PORT),
            w::container_port("raft", RAFT_PORT),
        ]);
    }
    Container {
        command: Some(w::shell(start_script(ctx, topo))),
        env: Some(vec![
            w::env("CLICKHOUSE_USER", &v.auth.username),
            // The entrypoint writes users.d/default-user.xml from it at every start
            // (see the image contract).
            w::env(
                "CLICKHOUSE_PASSWORD_FILE",
                format!("{PASSWORD_DIR}/password"),
            ),
            w::env("CLICKHOUSE_DB", &v.database),
            // The user may create users and grants: ClickVisual manages its own.
            w::env("CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT", "1"),
        ]),
        ports: Some(ports),
        volume_mounts: Some(vec![
            VolumeMount {
                name: DATA_VOLUME.into(),
                mount_path: "/var/lib/clickhouse".into(),
                ..Default::default()
            },
            VolumeMount {
                name: "config".into(),
                mount_path: CONFIG_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            },
            w::mount("password", PASSWORD_DIR, true),
        ]),
        // `/ping` answers "Ok." without credentials; while the entrypoint creates the
        // database its temporary server listens on localhost only, so the pod is not
        // ready before that is done.
        readiness_probe: Some(w::http_probe("/ping", "http", Timing::READINESS)),
        liveness_probe: Some(w::http_probe("/ping", "http", Timing::LIVENESS)),
        // Loading many parts after a restart can take minutes.
        startup_probe: Some(w::http_probe("/ping", "http", Timing::STARTUP)),
        ..ctx.container(COMPONENT, &v.image, &v.resources)
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;
    use super::*;

    /// The DSN ClickVisual's instance settings take (`clickhouse://…`, opened as
    /// given: clickvisual/clickvisual v1.0.7 `api/internal/pkg/utils/clickhouse.go`)
    /// is in the notes, with the account and database the release made, and never
    /// the password, which the notes say how to read.
    #[test]
    fn notes_give_the_dsn_without_the_password() {
        let mut v = values();
        let notes = super::super::notes(&v, &release()).join("\n");
        assert!(
            notes.contains(
                "  DSN:    clickhouse://clickvisual:<password>@cv-clickhouse.logs.svc:9000/logger?dial_timeout=2s&max_execution_time=60\n"
            ),
            "{notes}"
        );
        assert!(!notes.contains(CH_PW), "{notes}");
        assert!(notes.contains("cv-clickhouse-credentials"), "{notes}");

        v.clickhouse.enabled = false;
        v.clickhouse.external.host = "ch.example.com".into();
        v.clickhouse.external.password = "ExtChPw".into();
        let notes = super::super::notes(&v, &release()).join("\n");
        assert!(
            notes.contains("clickhouse://default:<password>@ch.example.com:9000/logger?"),
            "{notes}"
        );
        assert!(!notes.contains("ExtChPw"), "{notes}");
    }

    #[test]
    fn single_node_has_profile_but_no_cluster() {
        let v = values();
        let all = render_all(&v);
        let r = component(&all, "clickhouse");
        let cm = find(r, "ConfigMap", "cv-clickhouse-config");
        let data = cm.body["data"].as_object().unwrap();
        assert!(
            data[PROFILE_KEY]
                .as_str()
                .unwrap()
                .contains("<stream_like_engine_allow_direct_select>1<")
        );
        assert!(!data.contains_key(CLUSTER_KEY));
        let sts = find(r, "StatefulSet", "cv-clickhouse");
        assert_eq!(sts.body["spec"]["replicas"], 1);
        let c = container_of(sts, "clickhouse");
        assert_eq!(env(c, "CLICKHOUSE_DB"), Some("logger"));
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ping");
        // The password as a file of the Secret, which the entrypoint reads; alone,
        // no env var holds it.
        assert_password_file(
            &sts.body["spec"]["template"]["spec"],
            c,
            "CLICKHOUSE_PASSWORD_FILE",
            "/credentials/clickhouse",
            "cv-clickhouse-credentials",
            "clickhouse-password",
        );
        assert_no_secret_env(c);
        let script = c["command"][2].as_str().unwrap();
        assert!(!script.contains("KEEPER_SERVER_ID"), "{script}");
        assert!(
            script.contains(r#"[ -r "$CLICKHOUSE_PASSWORD_FILE" ] || {"#),
            "{script}"
        );
        assert!(!script.contains("export CLICKHOUSE_PASSWORD="), "{script}");
    }

    #[test]
    fn shards_times_replicas_pods_with_keeper_on_three() {
        let mut v = values();
        v.clickhouse.shards = 3;
        v.clickhouse.replicas = 2;
        let all = render_all(&v);
        let r = component(&all, "clickhouse");
        let sts = find(r, "StatefulSet", "cv-clickhouse");
        assert_eq!(sts.body["spec"]["replicas"], 6);
        assert_eq!(sts.body["spec"]["podManagementPolicy"], "Parallel");
        let data = &find(r, "ConfigMap", "cv-clickhouse-config").body["data"];
        let cluster = data[CLUSTER_KEY].as_str().unwrap();
        assert_eq!(cluster.matches("<shard>").count(), 3);
        assert_eq!(cluster.matches("<replica>").count(), 6);
        assert_eq!(cluster.matches("<node>").count(), 3);
        assert!(cluster.contains("<host>cv-clickhouse-5.cv-clickhouse-headless.logs.svc</host>"));
        assert!(!cluster.contains(CH_PW));
        let keeper = data[KEEPER_KEY].as_str().unwrap();
        assert_eq!(keeper.matches("<server>").count(), 3);
        let script = container_of(sts, "clickhouse")["command"][2]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            script.contains("export CH_SHARD=$((ordinal / 2 + 1))"),
            "{script}"
        );
        assert!(script.contains("-lt 3 ]"), "{script}");
        // remote_servers' `from_env` reads the password from the server's env.
        assert!(cluster.contains(r#"<password from_env="CLICKHOUSE_PASSWORD"/>"#));
        assert!(
            script.contains(r#"export CLICKHOUSE_PASSWORD="$(cat "$CLICKHOUSE_PASSWORD_FILE")""#),
            "{script}"
        );
    }

    #[test]
    fn two_pods_share_one_keeper() {
        let topo = Topology {
            shards: 1,
            replicas: 2,
        };
        assert!(topo.clustered());
        assert_eq!(topo.keepers(), 1);
    }

    #[test]
    fn external_clickhouse_renders_only_its_secret() {
        let mut v = values();
        v.clickhouse.enabled = false;
        v.clickhouse.external.host = "ch.example.com".into();
        v.clickhouse.external.password = "ExtChPw".into();
        let all = render_all(&v);
        let r = component(&all, "clickhouse");
        assert_eq!(r.manifests.len(), 1);
        let s = find(r, "Secret", "cv-clickhouse-credentials");
        assert_eq!(secret_value(s, "clickhouse-password"), "ExtChPw");
    }
}
