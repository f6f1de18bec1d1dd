//! Redis, as every stack runs it: a standalone server, or — where the stack offers
//! `redis.cluster` — a Redis Cluster of `redis.cluster.nodes` pods
//! (`--cluster-enabled yes`) formed once by a Job running
//! `redis-cli --cluster create … --cluster-replicas 1`, which does nothing when the
//! cluster already exists. External: only the credentials Secret.
//!
//! The password reaches the server's container as a file of the Secret
//! (`REDIS_PASSWORD_FILE`), not an env var: redis-server reads it from no file of
//! its own, so the start script copies it into a config file (`requirepass`) with
//! the shell's `printf` builtin, and the pod's probes hand it to redis-cli through
//! `REDISCLI_AUTH` (redis-cli offers no file): it is on no command line, so not in
//! `/proc/<pid>/cmdline` either.
//!
//! Both stacks use Redis as a cache (ClickVisual: sessions and locks; the AIOps
//! services: whatever they cache), so the server gets a `maxmemory` below the
//! container's memory limit and evicts at it instead of being OOM-killed.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::connections::{SecretKey, Side, credentials_secret, side};
use super::ctx::{Ctx, DATA_VOLUME, StackValues};
use super::values::{ExternalRedis, NoExtras, Persistence};
use crate::model::{BackupSpec, CredentialFile, Phase, ProbeSpec, Release, Rendered, Step};
use crate::stacks::backup_scripts;
use crate::stacks::component::Builder;
use crate::stacks::types::{Image, LogLevel, Resources};
use crate::stacks::workload::{self as w, Timing};
use crate::values::{Problems, checks};

pub const COMPONENT: &str = "redis";
pub const CLUSTER_INIT: &str = "redis-cluster-init";
pub const PORT: u16 = 6379;
/// Cluster bus: the client port + 10000.
pub const BUS_PORT: u16 = 16379;
/// Key of the password in `<release>-redis-credentials`.
pub const PASSWORD_KEY: &str = "redis-password";
/// The `redis` user of the official image, in both variants.
const UID: i64 = 999;
/// `nobody`: the cluster init Job runs redis-cli only, as the probe does.
const CLIENT_UID: i64 = 65534;
/// Where the server's container mounts the Secret's password (file `password`).
const PASSWORD_DIR: &str = "/credentials/redis";

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
    /// The server's `maxmemory`, a Kubernetes quantity (`384Mi`) no larger than
    /// `resources.limits.memory`; empty: 75% of that limit.
    #[serde(default)]
    pub maxmemory: String,
    /// What the server evicts once `maxmemory` is reached.
    #[serde(default)]
    pub maxmemory_policy: MaxmemoryPolicy,
    pub persistence: Persistence,
    pub resources: Resources,
    pub external: ExternalRedis,
}

/// `maxmemory-policy`: every value redis.conf lists (redis/redis 7.4.1,
/// `redis.conf`, "MAXMEMORY POLICY").
///
/// The default is `allkeys-lru`, not upstream's `noeviction` nor `volatile-lru`:
/// at the limit, `noeviction` fails every write ("OOM command not allowed"), and
/// `volatile-lru` does the same once the keys left have no TTL. ClickVisual's
/// sessions and locks carry TTLs, but what the AIOps services store is theirs to
/// decide; evicting the least recently used key of any kind keeps a cache
/// writable whatever its clients do (a session evicted that way was the idlest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MaxmemoryPolicy {
    VolatileLru,
    #[default]
    AllkeysLru,
    VolatileLfu,
    AllkeysLfu,
    VolatileRandom,
    AllkeysRandom,
    VolatileTtl,
    Noeviction,
}

impl MaxmemoryPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MaxmemoryPolicy::VolatileLru => "volatile-lru",
            MaxmemoryPolicy::AllkeysLru => "allkeys-lru",
            MaxmemoryPolicy::VolatileLfu => "volatile-lfu",
            MaxmemoryPolicy::AllkeysLfu => "allkeys-lfu",
            MaxmemoryPolicy::VolatileRandom => "volatile-random",
            MaxmemoryPolicy::AllkeysRandom => "allkeys-random",
            MaxmemoryPolicy::VolatileTtl => "volatile-ttl",
            MaxmemoryPolicy::Noeviction => "noeviction",
        }
    }
}

/// The share of the memory limit `maxmemory` takes when not set. The limit bounds
/// the container's whole footprint, `maxmemory` only what the allocator reports
/// as used: fragmentation comes on top, so does the copy-on-write of the child
/// that rewrites the append-only file (`--appendonly yes`) while writes go on,
/// and redis.conf (7.4.1, "maxmemory <bytes>") asks for free memory for the
/// replicas' output buffers, which it leaves out of the count.
const MAXMEMORY_SHARE: f64 = 0.75;
const MIB: u64 = 1024 * 1024;

impl<X> Redis<X> {
    /// `maxmemory` in bytes: as set, or [`MAXMEMORY_SHARE`] of the memory limit
    /// rounded down to a MiB.
    pub fn maxmemory_bytes(&self) -> u64 {
        if self.maxmemory.is_empty() {
            let derived = (self.resources.limits.memory.value() * MAXMEMORY_SHARE) as u64;
            derived / MIB * MIB
        } else {
            checks::parse_quantity(&self.maxmemory).unwrap_or(0.0) as u64
        }
    }
}

/// The checks `redis.*` needs beyond its types, for every stack's `validate`.
pub fn check<X>(v: &Redis<X>, p: &mut Problems) {
    if !v.enabled || v.maxmemory.is_empty() {
        return;
    }
    let limit = v.resources.limits.memory.value();
    match checks::parse_quantity(&v.maxmemory) {
        Err(e) => {
            p.add("redis.maxmemory", e).hint(
                "set a quantity such as 384Mi, or \"\" for 75% of redis.resources.limits.memory",
            );
        }
        Ok(bytes) if bytes < 1.0 => {
            p.add(
                "redis.maxmemory",
                format!("{} is not a positive amount of memory", v.maxmemory),
            )
            .hint("set a quantity such as 384Mi, or \"\" for 75% of redis.resources.limits.memory");
        }
        Ok(bytes) if bytes > limit => {
            p.add(
                "redis.maxmemory",
                format!(
                    "{} is above the container's memory limit ({}): the kernel would kill Redis before it evicts anything",
                    v.maxmemory,
                    v.resources.limits.memory
                ),
            )
            .blame("redis.resources.limits.memory")
            .hint("lower redis.maxmemory, raise redis.resources.limits.memory, or set redis.maxmemory=\"\"");
        }
        Ok(_) => {}
    }
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
        // The password file is mode 0440 with the pod's fsGroup, the image's
        // `redis` group: the server's user reads it.
        volumes: Some(vec![
            w::empty_dir("tmp"),
            w::secret_key_volume(
                "password",
                &credentials_secret(ctx.release, COMPONENT),
                PASSWORD_KEY,
            ),
        ]),
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

/// What the start script passes to redis-server besides the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub level: LogLevel,
    /// `maxmemory` in bytes.
    pub maxmemory: u64,
    pub maxmemory_policy: MaxmemoryPolicy,
    /// Cluster mode: the domain of the pods' stable names
    /// (`<headless Service>.<namespace>.svc`); `None` for a standalone server.
    pub cluster_domain: Option<String>,
}

impl ServerConfig {
    pub fn of<X: RedisExtras>(release: &Release, v: &Redis<X>, level: LogLevel) -> Self {
        ServerConfig {
            level,
            maxmemory: v.maxmemory_bytes(),
            maxmemory_policy: v.maxmemory_policy,
            cluster_domain: v.clustered().then(|| {
                format!(
                    "{}.{}.svc",
                    w::headless_name(release, COMPONENT),
                    release.namespace
                )
            }),
        }
    }
}

/// Before a cluster node starts: every address in nodes.conf made current.
///
/// A restarted pod has a new IP and nodes.conf holds the old ones. Cluster bus
/// links go to the address recorded for a node (redis/redis 7.4.1,
/// `src/cluster_legacy.c`, `clusterNodeCronHandleReconnect`: `connConnect(...,
/// node->ip, node->cport, ...)`; an announced hostname is only shown to clients),
/// and a node takes a peer's new address only from a PING that peer sends it
/// (`nodeUpdateAddressIfNeeded`). One pod restarting rejoins that way; when every
/// pod restarts at once, nobody reaches anybody and the cluster stays down. So each
/// node's own line gets `POD_IP`, and each peer's line the address its stable name
/// resolves to now: the name it announced with `cluster-announce-hostname`, kept in
/// nodes.conf as `ip:port@cport,hostname[,aux=value]*` (`clusterGenNodeDescription`,
/// `clusterLoadConfig`). The headless Service publishes not-ready pods, so a peer's
/// name resolves as soon as it has an address; one that does not within a minute
/// (a pod that cannot be scheduled) keeps its old address and is left to gossip.
/// Lines without a hostname (written before nodes announced one) keep theirs.
const REWRITE_NODES_CONF: &str = r#"if [ -f /data/nodes.conf ]; then
  deadline=$(($(date +%s) + 60))
  while IFS= read -r line || [ -n "$line" ]; do
    id=${line%% *}
    rest=${line#* }
    addr=${rest%% *}
    rest=${rest#* }
    case "$addr" in
      *:*@*) ;;
      *) printf '%s\n' "$line"; continue ;;
    esac
    ip=${addr%%@*}
    ip=${ip%:*}
    host=${addr#*@}
    case "$host" in
      *,*) host=${host#*,}; host=${host%%,*} ;;
      *) host= ;;
    esac
    case "$host" in *=*) host= ;; esac
    new=$ip
    case ",${rest%% *}," in
      *,myself,*) new=$POD_IP ;;
      *)
        while [ -n "$host" ]; do
          found=$(getent hosts "$host" | awk '{print $1; exit}')
          if [ -n "$found" ]; then new=$found; break; fi
          if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "$host does not resolve: node $id keeps $ip" >&2
            break
          fi
          sleep 1
        done
        ;;
    esac
    printf '%s %s%s %s\n' "$id" "$new" "${addr#"$ip"}" "$rest"
  done < /data/nodes.conf > /data/nodes.conf.new
  mv /data/nodes.conf.new /data/nodes.conf
fi
"#;

/// The server's start script: auth settings into a file, then exec redis-server.
/// The password is read from the file `REDIS_PASSWORD_FILE` names (a read failure
/// stops the start) and stays off the command line (argv is readable through
/// `/proc`). In
/// the file it is a double-quoted string, backslashes and quotes escaped, which
/// redis.conf reads back verbatim (`sdssplitargs` in upstream's `src/sds.c`): any
/// password a user sets works, spaces and quotes included.
///
/// Cluster mode needs `POD_NAME` and `POD_IP` in the env.
pub fn start_script(c: &ServerConfig) -> String {
    let mut script = String::from(
        "set -e\n\
         quoted=$(sed 's/[\\\\\"]/\\\\&/g' \"$REDIS_PASSWORD_FILE\")\n\
         printf 'requirepass \"%s\"\\nmasterauth \"%s\"\\n' \"$quoted\" \"$quoted\" > /tmp/auth.conf\n",
    );
    let mut server = format!(
        "exec redis-server /tmp/auth.conf --port {PORT} --dir /data --appendonly yes --loglevel {} \
         --maxmemory {} --maxmemory-policy {}",
        redis_log_level(c.level),
        c.maxmemory,
        c.maxmemory_policy.as_str(),
    );
    if let Some(domain) = &c.cluster_domain {
        script.push_str(REWRITE_NODES_CONF);
        server.push_str(&format!(
            " --cluster-enabled yes --cluster-config-file /data/nodes.conf --cluster-node-timeout 5000 \
             --cluster-announce-hostname \"$POD_NAME.{domain}\""
        ));
    }
    script.push_str(&server);
    script
}

fn container<V: StackValues, C, X: RedisExtras>(
    ctx: &Ctx<'_, V, C>,
    v: &Redis<X>,
    level: LogLevel,
) -> Container {
    // `ping` answers NOAUTH (exit status 0) to a wrong password, hence the PONG check.
    // The password is read from the file on every run: it follows the Secret.
    let ping =
        r#"REDISCLI_AUTH=$(cat "$REDIS_PASSWORD_FILE") redis-cli -h 127.0.0.1 ping | grep -q PONG"#;
    let mut env = vec![w::env(
        "REDIS_PASSWORD_FILE",
        format!("{PASSWORD_DIR}/password"),
    )];
    let mut ports = vec![w::container_port("redis", i32::from(PORT))];
    if v.clustered() {
        env.push(w::env_field("POD_NAME", "metadata.name"));
        env.push(w::env_field("POD_IP", "status.podIP"));
        ports.push(w::container_port("bus", i32::from(BUS_PORT)));
    }
    Container {
        command: Some(w::shell(start_script(&ServerConfig::of(
            ctx.release,
            v,
            level,
        )))),
        env: Some(env),
        ports: Some(ports),
        // Read-only root: redis-server writes only under --dir (the volume) and the
        // start script only /tmp/auth.conf (an emptyDir); see the image contract.
        volume_mounts: Some(vec![
            w::mount(DATA_VOLUME, "/data", false),
            w::mount("tmp", "/tmp", false),
            w::mount("password", PASSWORD_DIR, true),
        ]),
        readiness_probe: Some(w::exec_probe(ping, Timing::READINESS)),
        liveness_probe: Some(w::exec_probe(ping, Timing::LIVENESS)),
        // Replaying a large append-only file takes a while after a restart.
        startup_probe: Some(w::exec_probe(ping, Timing::STARTUP)),
        ..w::read_only_root(ctx.container(COMPONENT, &v.image, &v.resources))
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
    // redis-cli reads its password from REDISCLI_AUTH only (no file): set from the
    // mounted file, for this script's redis-cli alone.
    let script = format!(
        r#"set -eu
REDISCLI_AUTH=$(cat "$REDIS_PASSWORD_FILE")
export REDISCLI_AUTH
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
    // Only redis-cli runs, as in the probe: as nobody, under a read-only root, with
    // a writable HOME on an emptyDir. The Job's name hashes its pod template, so a
    // release upgraded to this runs it once more, and the script finds the cluster.
    let container = Container {
        command: Some(w::shell(script)),
        env: Some(vec![
            w::env("REDIS_PASSWORD_FILE", format!("{PASSWORD_DIR}/password")),
            w::env("HOME", "/tmp"),
        ]),
        volume_mounts: Some(vec![
            w::mount("tmp", "/tmp", false),
            w::mount("password", PASSWORD_DIR, true),
        ]),
        ..w::read_only_root(w::container(
            "create",
            ctx.image(&v.image),
            v.image.pull_policy.as_str(),
            w::helper_resources(),
        ))
    };
    let pod = PodSpec {
        containers: vec![container],
        // Mode 0440 with the fsGroup: nobody's group reads the password file.
        volumes: Some(vec![
            w::empty_dir("tmp"),
            w::secret_key_volume("password", &conn.password_ref.secret, conn.password_ref.key),
        ]),
        ..ctx.pod_spec(&b, 1, w::pod_security(Some(CLIENT_UID), Some(CLIENT_UID)))
    };
    b.push(w::job(&b, 6, 600, pod));
    Some(b.finish(vec![COMPONENT]))
}

/// The connectivity probe, from the Redis image (it carries redis-cli), with the
/// password the apps use.
/// The backup of an internal standalone Redis: an RDB copy by `redis-cli --rdb`.
/// Not of a cluster (`--rdb` saves one node's slots), nor of an external server.
/// stackctl does not restore it yet: the server loads its append-only file, not a
/// `dump.rdb`, at start (redis/redis 7.4.1 `src/server.c`, `loadDataFromDisk`).
pub fn backup<V: StackValues, C, X>(
    ctx: &Ctx<'_, V, C>,
    v: &Redis<X>,
    conn: &Connection,
) -> Option<BackupSpec> {
    let env = vec![
        ("HOST".to_string(), conn.host.clone()),
        ("PORT".to_string(), conn.port.to_string()),
    ];
    let credentials = vec![CredentialFile {
        env: "REDIS_PASSWORD_FILE".into(),
        secret: conn.password_ref.secret.clone(),
        key: conn.password_ref.key.into(),
    }];
    (conn.internal && conn.cluster_nodes.is_empty()).then(|| BackupSpec {
        file: "redis.rdb".into(),
        dump: Step {
            script: backup_scripts::redis_dump(),
            env: env.clone(),
            credentials: credentials.clone(),
        },
        // Online, through the server itself (see `backup_scripts::redis_restore`):
        // no need to stop it or to mount its volume.
        restore: Some(Step {
            script: backup_scripts::redis_restore(),
            env,
            credentials,
        }),
        default: true,
        ..ctx.backup_base(COMPONENT, &v.image)
    })
}

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
