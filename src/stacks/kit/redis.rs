//! Redis, as every stack runs it: a standalone server, or — where the stack offers
//! `redis.cluster` — a Redis Cluster of `redis.cluster.nodes` pods
//! (`--cluster-enabled yes`) formed once by a Job running
//! `redis-cli --cluster create … --cluster-replicas 1`, which does nothing when the
//! cluster already exists. External: only the credentials Secret.
//!
//! The password reaches redis-server through a config file written at start by the
//! shell's `printf` builtin, and redis-cli through `REDISCLI_AUTH`: it is on no
//! command line, so not in `/proc/<pid>/cmdline` either.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::connections::{SecretKey, Side, credentials_secret, side};
use super::ctx::{Ctx, DATA_VOLUME, StackValues};
use super::values::{ExternalRedis, NoExtras, Persistence};
use crate::model::{Phase, ProbeSpec, Release, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::types::{Image, LogLevel, Resources};
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "redis";
pub const CLUSTER_INIT: &str = "redis-cluster-init";
pub const PORT: u16 = 6379;
/// Cluster bus: the client port + 10000.
pub const BUS_PORT: u16 = 16379;
/// Key of the password in `<release>-redis-credentials`.
pub const PASSWORD_KEY: &str = "redis-password";
/// The `redis` user of the official image, in both variants.
const UID: i64 = 999;

/// The `redis` group of the official image: 1000 in the Alpine variant, where
/// gid 999 was taken (`addgroup -S -g 1000 redis; adduser -S -G redis -u 999
/// redis`), 999 in the Debian one (`groupadd -r -g 999 redis`): docker-library/redis
/// `7.4-rc/alpine/Dockerfile` and `7.4-rc/debian/Dockerfile` (the newest 7.4
/// directories in the stored snapshot, generated from `Dockerfile.template`).
/// Running as 999:999 on Alpine put the server in another group than the image's
/// files and the volume's `fsGroup`.
fn gid(image: &Image) -> i64 {
    if image.tag.contains("alpine") {
        1000
    } else {
        999
    }
}

/// The probe: AUTH (when a password is set) and PING, which must answer `PONG`
/// (see `probe_scripts` for the rules every probe script follows).
///
/// Env: `HOST`, `PORT`, `REDISCLI_AUTH` (read by `redis-cli` itself).
///
/// `redis-cli` exits 0 when AUTH fails and prints the error reply to PING, so only
/// the output decides. stderr is folded in: a rejected AUTH ("AUTH failed: …") then
/// spoils the exact `PONG` even where the server would answer PING without it —
/// the app would fail on that AUTH. An empty password means "no AUTH" (an empty
/// `REDISCLI_AUTH` would send `AUTH ""`).
pub const PROBE_SCRIPT: &str = r#"set -u
if [ -z "${REDISCLI_AUTH:-}" ]; then unset REDISCLI_AUTH; fi
command -v redis-cli >/dev/null || { echo "no redis-cli in this image" >&2; exit 2; }
out=$(redis-cli -h "$HOST" -p "$PORT" ping 2>&1)
rc=$?
if [ "$out" = PONG ]; then
  echo "PING on $HOST:$PORT: PONG"
  exit 0
fi
printf '%s\n' "$out" >&2
echo "PING on $HOST:$PORT did not answer PONG (redis-cli exit status $rc)" >&2
exit 1
"#;

// ---------------------------------------------------------------------------------
// Values

/// `redis.*`. A stack adds keys of its own (AIOps: `cluster`) through `X`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Redis<X = NoExtras> {
    pub enabled: bool,
    pub image: Image,
    pub auth: RedisAuth,
    #[serde(flatten)]
    pub stack: X,
    pub persistence: Persistence,
    pub resources: Resources,
    pub external: ExternalRedis,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedisAuth {
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub password: String,
}

/// `redis.cluster`, for stacks that offer cluster mode.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Clustering {
    pub cluster: RedisCluster,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedisCluster {
    /// Redis Cluster (`--cluster-enabled yes`) of `nodes` pods, one replica per master.
    pub enabled: bool,
    /// At least 6: three masters, each with one replica.
    pub nodes: u32,
}

/// What the component needs of a stack's own `redis` keys.
pub trait RedisExtras {
    /// `redis.cluster`, where the stack offers it.
    fn cluster(&self) -> Option<&RedisCluster> {
        None
    }
}

impl RedisExtras for NoExtras {}

impl RedisExtras for Clustering {
    fn cluster(&self) -> Option<&RedisCluster> {
        Some(&self.cluster)
    }
}

impl<X> std::ops::Deref for Redis<X> {
    type Target = X;
    fn deref(&self) -> &X {
        &self.stack
    }
}

impl<X> std::ops::DerefMut for Redis<X> {
    fn deref_mut(&mut self) -> &mut X {
        &mut self.stack
    }
}

impl<X: RedisExtras> Redis<X> {
    /// Cluster mode is on.
    pub fn clustered(&self) -> bool {
        self.stack.cluster().is_some_and(|c| c.enabled)
    }
}

// ---------------------------------------------------------------------------------
// Connection

/// Where the apps find Redis, from whichever side is in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub host: String,
    pub port: u16,
    pub password: String,
    pub password_ref: SecretKey,
    /// `host:port` of every cluster node; empty for a standalone server.
    pub cluster_nodes: Vec<String>,
    pub internal: bool,
}

impl Connection {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The Redis in use: internal when enabled, else external when `external.host` is
/// set, else none.
pub fn connection<X: RedisExtras>(release: &Release, v: &Redis<X>) -> Option<Connection> {
    let password_ref = SecretKey {
        secret: credentials_secret(release, COMPONENT),
        key: PASSWORD_KEY,
    };
    side(v.enabled, !v.external.host.is_empty()).map(|s| match s {
        Side::Internal => Connection {
            host: release.service_host(COMPONENT),
            port: PORT,
            password: v.auth.password.clone(),
            password_ref,
            cluster_nodes: match v.stack.cluster() {
                Some(c) if c.enabled => (0..c.nodes)
                    .map(|i| format!("{}:{PORT}", w::pod_host(release, COMPONENT, i)))
                    .collect(),
                _ => Vec::new(),
            },
            internal: true,
        },
        Side::External => Connection {
            host: v.external.host.clone(),
            port: v.external.port,
            password: v.external.password.clone(),
            password_ref,
            cluster_nodes: Vec::new(),
            internal: false,
        },
    })
}

// ---------------------------------------------------------------------------------
// Objects

/// The credentials Secret whenever Redis is used; the server when it is internal.
pub fn render<V: StackValues, C, X: RedisExtras>(
    ctx: &Ctx<'_, V, C>,
    v: &Redis<X>,
    conn: Option<&Connection>,
    level: LogLevel,
) -> Option<Rendered> {
    let conn = conn?;
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Data, &v.image.tag);
    ctx.push_credentials(
        &mut b,
        COMPONENT,
        BTreeMap::from([(PASSWORD_KEY.to_string(), conn.password.clone())]),
    );
    if !v.enabled {
        return Some(b.finish(vec![]));
    }
    let cluster = v.stack.cluster().filter(|c| c.enabled);
    let replicas = cluster.map_or(1, |c| c.nodes);
    let client = w::service_port("redis", i32::from(PORT));
    let mut headless = vec![client.clone()];
    if cluster.is_some() {
        headless.push(w::service_port("bus", i32::from(BUS_PORT)));
    }
    b.push(w::headless_service(&b, headless));
    b.push(w::client_service(&b, "ClusterIP", vec![client]));
    let pod = PodSpec {
        containers: vec![container(ctx, v, level)],
        ..ctx.pod_spec(
            &b,
            replicas,
            w::pod_security(Some(UID), Some(gid(&v.image))),
        )
    };
    let sts = w::stateful_set(
        &b,
        w::StatefulSetParts {
            replicas,
            // Cluster nodes start together; the Job joins them afterwards. The policy
            // cannot change on an existing StatefulSet, so it follows whether the
            // stack offers cluster mode, not whether it is on.
            parallel: v.stack.cluster().is_some(),
            pod_annotations: BTreeMap::new(),
            pod,
            claims: vec![ctx.data_claim(&b, &v.persistence)],
        },
    );
    b.push(sts);
    w::push_pdb(&mut b, ctx.caps, &ctx.pod_globals(), replicas);
    Some(b.finish(vec![]))
}

fn redis_log_level(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Debug => "verbose",
        LogLevel::Info => "notice",
        LogLevel::Warn | LogLevel::Error => "warning",
    }
}

/// The server's start script: auth settings into a file, then exec redis-server.
/// The password stays off the command line (argv is readable through `/proc`). In
/// the file it is a double-quoted string, backslashes and quotes escaped, which
/// redis.conf reads back verbatim (`sdssplitargs` in upstream's `src/sds.c`): any
/// password a user sets works, spaces and quotes included.
pub fn start_script(cluster: bool, level: LogLevel) -> String {
    let mut script = String::from(
        "set -e\n\
         quoted=$(printf '%s' \"$REDIS_PASSWORD\" | sed 's/[\\\\\"]/\\\\&/g')\n\
         printf 'requirepass \"%s\"\\nmasterauth \"%s\"\\n' \"$quoted\" \"$quoted\" > /tmp/auth.conf\n",
    );
    let mut server = format!(
        "exec redis-server /tmp/auth.conf --port {PORT} --dir /data --appendonly yes --loglevel {}",
        redis_log_level(level)
    );
    if cluster {
        // A restarted pod has a new address: correct its own line of nodes.conf so
        // that it rejoins under the same node ID (peers learn the new address from it).
        script.push_str(
            "if [ -f /data/nodes.conf ]; then\n  \
             sed -i -e \"/myself/ s/[0-9]\\{1,3\\}\\.[0-9]\\{1,3\\}\\.[0-9]\\{1,3\\}\\.[0-9]\\{1,3\\}/${POD_IP}/\" /data/nodes.conf\n\
             fi\n",
        );
        server.push_str(
            " --cluster-enabled yes --cluster-config-file /data/nodes.conf --cluster-node-timeout 5000",
        );
    }
    script.push_str(&server);
    script
}

fn container<V: StackValues, C, X: RedisExtras>(
    ctx: &Ctx<'_, V, C>,
    v: &Redis<X>,
    level: LogLevel,
) -> Container {
    let secret = credentials_secret(ctx.release, COMPONENT);
    // `ping` answers NOAUTH (exit status 0) to a wrong password, hence the PONG check.
    let ping = "redis-cli -h 127.0.0.1 ping | grep -q PONG";
    let mut env = vec![
        w::env_secret("REDIS_PASSWORD", &secret, PASSWORD_KEY),
        w::env_secret("REDISCLI_AUTH", &secret, PASSWORD_KEY),
    ];
    let mut ports = vec![w::container_port("redis", i32::from(PORT))];
    if v.clustered() {
        env.push(w::env_field("POD_IP", "status.podIP"));
        ports.push(w::container_port("bus", i32::from(BUS_PORT)));
    }
    Container {
        command: Some(w::shell(start_script(v.clustered(), level))),
        env: Some(env),
        ports: Some(ports),
        volume_mounts: Some(vec![w::mount(DATA_VOLUME, "/data", false)]),
        readiness_probe: Some(w::exec_probe(ping, Timing::READINESS)),
        liveness_probe: Some(w::exec_probe(ping, Timing::LIVENESS)),
        // Replaying a large append-only file takes a while after a restart.
        startup_probe: Some(w::exec_probe(ping, Timing::STARTUP)),
        ..ctx.container(COMPONENT, &v.image, &v.resources)
    }
}

/// The Job that forms the cluster once every node answers; none unless cluster
/// mode is on.
pub fn render_cluster_init<V: StackValues, C, X: RedisExtras>(
    ctx: &Ctx<'_, V, C>,
    v: &Redis<X>,
    conn: Option<&Connection>,
) -> Option<Rendered> {
    let conn = conn?;
    let nodes = v.stack.cluster().filter(|c| c.enabled)?.nodes;
    if !v.enabled {
        return None;
    }
    let mut b = Builder::new(ctx.release, CLUSTER_INIT, Phase::Data, &v.image.tag);
    let hosts: Vec<String> = (0..nodes)
        .map(|i| w::pod_host(ctx.release, COMPONENT, i))
        .collect();
    let script = format!(
        r#"set -eu
addresses=""
for host in {hosts}; do
  until redis-cli -h "$host" -p {PORT} ping 2>/dev/null | grep -q PONG; do
    echo "waiting for $host"; sleep 2
  done
  # CLUSTER MEET takes addresses, not names.
  ip=$(getent hosts "$host" | awk '{{print $1; exit}}')
  addresses="$addresses ${{ip:-$host}}:{PORT}"
done
known=$(redis-cli -h {first} -p {PORT} cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')
if [ "${{known:-1}}" -gt 1 ]; then
  echo "the cluster exists: {first} knows $known nodes"
  exit 0
fi
redis-cli --cluster create $addresses --cluster-replicas 1 --cluster-yes"#,
        hosts = hosts.join(" "),
        first = hosts[0],
    );
    let container = Container {
        command: Some(w::shell(script)),
        env: Some(vec![conn.password_ref.env("REDISCLI_AUTH")]),
        ..w::container(
            "create",
            ctx.image(&v.image),
            v.image.pull_policy.as_str(),
            w::helper_resources(),
        )
    };
    let pod = PodSpec {
        containers: vec![container],
        ..ctx.pod_spec(&b, 1, w::pod_security(Some(UID), Some(UID)))
    };
    b.push(w::job(&b, 6, 600, pod));
    Some(b.finish(vec![COMPONENT]))
}

/// The connectivity probe, from the Redis image (it carries redis-cli), with the
/// password the apps use.
pub fn probe<V: StackValues, C, X>(
    ctx: &Ctx<'_, V, C>,
    v: &Redis<X>,
    conn: &Connection,
) -> ProbeSpec {
    ProbeSpec {
        target: conn.addr(),
        check: "AUTH, PING answers PONG".into(),
        external: !conn.internal,
        script: PROBE_SCRIPT,
        env: vec![
            w::env("HOST", &conn.host),
            w::env("PORT", conn.port.to_string()),
            conn.password_ref.env("REDISCLI_AUTH"),
        ],
        ..ctx.probe_base(COMPONENT, ctx.own_image(&v.image))
    }
}
