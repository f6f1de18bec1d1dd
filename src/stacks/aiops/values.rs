//! AIOps stack values: the typed form of `defaults.yaml`, key names as in the chart
//! document (`global.development`, `prometheus.retention`, `elasticsearch.replicas`,
//! `redis.cluster.enabled`, `networkPolicy.defaultDeny`, …). Every field is required
//! here; `defaults.yaml` supplies them all.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::stacks::kit::values::{DnsPolicy, IngressTls, Persistence, PolicyPeer};
use crate::stacks::kit::values::{ExternalDatabase, GlobalExtras, NoExtras, Rbac, ServiceAccount};
pub use crate::stacks::types::{
    AntiAffinity, Image, LogLevel, PullPolicy, ResourceList, Resources, ServiceType,
};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Values {
    pub global: Global,
    pub ingress: Ingress,
    pub network_policy: NetworkPolicy,
    pub backup: crate::stacks::kit::values::Backup,
    pub pod_security_policy: PodSecurity,
    pub traefik: Traefik,
    pub prometheus: Prometheus,
    pub node_exporter: NodeExporter,
    pub kube_state_metrics: KubeStateMetrics,
    pub alertmanager: Alertmanager,
    pub grafana: Grafana,
    pub elasticsearch: Elasticsearch,
    pub logstash: Logstash,
    pub kibana: Kibana,
    pub redis: Redis,
    pub postgresql: Postgresql,
    /// The AI engine, one of the in-house services.
    pub ai_engine: InHouse,
    /// The API gateway, one of the in-house services.
    pub api_gateway: InHouse,
    /// The self-healing executor, one of the in-house services: it may restart and
    /// scale workloads in the release namespace.
    pub self_healing: InHouse,
}

/// `networkPolicy`: the shared keys, plus the ingress controller's peers.
pub type NetworkPolicy = crate::stacks::kit::NetworkPolicy<IngressControllerKey>;

/// AIOps' own `networkPolicy` key, next to the shared ones.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressControllerKey {
    /// An ingress controller of yours (Traefik off, or `ingress.className` naming
    /// another class): who may reach the services the Ingress routes to.
    pub ingress_controller: IngressControllerPolicy,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressControllerPolicy {
    /// Who may reach the routed services on their routed ports (the ports only;
    /// data services stay closed). Empty: any address, since the controller's
    /// namespace, labels and network (many run in the host network, where no pod
    /// selector matches) are yours to know.
    pub peers: Vec<PolicyPeer>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodSecurity {
    /// Pod Security admission labels on the namespace (PodSecurityPolicy is gone
    /// from Kubernetes since 1.25; the labels are ignored before 1.23).
    pub enabled: bool,
    /// Level enforced: `auto` picks the least one the enabled components pass.
    pub enforce: PodSecurityLevel,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurityLevel {
    Auto,
    Restricted,
    Baseline,
    Privileged,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Service {
    #[serde(rename = "type")]
    pub type_: ServiceType,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Traefik {
    pub enabled: bool,
    pub image: Image,
    #[schemars(extend("x-stackctl-check" = "replicas"))]
    pub replicas: u32,
    pub resources: Resources,
    pub service: Service,
    /// Off: no ServiceAccount, ClusterRole or binding of stackctl's; the pods run
    /// as `serviceAccount.name`, which an admin created.
    #[serde(default)]
    pub rbac: Rbac,
    #[serde(default)]
    pub service_account: ServiceAccount,
}

pub type Prometheus = crate::stacks::kit::prometheus::Prometheus<AiopsPrometheus>;

/// AIOps's own `prometheus` keys, next to the shared ones.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AiopsPrometheus {
    pub scrape_interval: String,
    pub alert_rules: AlertRules,
}

/// Thresholds of the chart's alert rules.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlertRules {
    pub enabled: bool,
    /// How long a condition must hold before the alert fires, e.g. `5m`.
    #[serde(rename = "for")]
    pub for_: String,
    pub cpu_percent: u32,
    pub memory_percent: u32,
    pub disk_percent: u32,
    /// 95th percentile of request duration at the edge (Traefik).
    pub response_time_seconds: f64,
    /// Share of 5xx answers at the edge.
    pub error_rate_percent: f64,
    /// Open PostgreSQL connections.
    pub database_connections: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeExporter {
    /// Node CPU, memory and disk metrics (the resource alert rules need them).
    pub enabled: bool,
    pub image: Image,
    #[schemars(extend("x-stackctl-check" = "port"))]
    pub port: u16,
    /// Run in the node's network and PID namespaces, as upstream requires for host
    /// monitoring (`--net="host" --pid="host"`, prometheus/node_exporter v1.9.1
    /// README.md, "Docker"); otherwise network metrics (read from `/proc/net`, which
    /// is the reading process's namespace) describe the pod. The price: `port` is
    /// taken on every node, so another node-exporter there (or a second release)
    /// cannot schedule; NetworkPolicies do not govern host-network pods, so the
    /// metrics are open to whatever reaches the node on `port`; and the pods need
    /// the `privileged` Pod Security level (which node-exporter's hostPath mounts
    /// need anyway). Off: CPU, memory and disk metrics, which the alert rules use,
    /// are the node's all the same (read from /host).
    pub host_network: bool,
    pub resources: Resources,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubeStateMetrics {
    /// Pod and workload state metrics (the pod alert rules need them).
    pub enabled: bool,
    pub image: Image,
    pub resources: Resources,
    /// Off: no ServiceAccount, ClusterRole or binding of stackctl's; the pods run
    /// as `serviceAccount.name`, which an admin created.
    #[serde(default)]
    pub rbac: Rbac,
    #[serde(default)]
    pub service_account: ServiceAccount,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Alertmanager {
    pub enabled: bool,
    pub image: Image,
    #[schemars(extend("x-stackctl-check" = "replicas"))]
    pub replicas: u32,
    pub persistence: Persistence,
    pub resources: Resources,
    pub receivers: Receivers,
}

/// Where alerts go; every enabled receiver gets every alert.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Receivers {
    pub webhook: WebhookReceiver,
    pub email: EmailReceiver,
    pub slack: SlackReceiver,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookReceiver {
    pub enabled: bool,
    /// May carry a token, so it is kept in a Secret and redacted.
    #[schemars(extend("x-stackctl-secret" = true))]
    pub url: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EmailReceiver {
    pub enabled: bool,
    pub to: String,
    pub from: String,
    /// `host:port` of the SMTP server.
    pub smarthost: String,
    pub username: String,
    #[schemars(extend("x-stackctl-secret" = true))]
    pub password: String,
    pub require_tls: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SlackReceiver {
    pub enabled: bool,
    /// Incoming webhook URL (a credential).
    #[schemars(extend("x-stackctl-secret" = true))]
    pub api_url: String,
    pub channel: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Grafana {
    pub enabled: bool,
    pub image: Image,
    pub admin_user: String,
    /// Generated when empty; applies at Grafana's first start only.
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub admin_password: String,
    pub persistence: Persistence,
    /// Scheduled backups (`backup.schedule`) stop Grafana for the copy of its
    /// database, seconds each time; false: its database only on request.
    pub scheduled_backup: bool,
    pub resources: Resources,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Elasticsearch {
    pub enabled: bool,
    pub image: Image,
    /// 1: a single node (`discovery.type: single-node`); more: a cluster of
    /// master-eligible data nodes.
    #[schemars(extend("x-stackctl-check" = "replicas"))]
    pub replicas: u32,
    pub auth: ElasticsearchAuth,
    /// A privileged init container sets the node's `vm.max_map_count`; off: mmap is
    /// disabled instead (`node.store.allow_mmap: false`).
    pub sysctl_init_container: bool,
    /// Transport TLS of a multi-node cluster (Elasticsearch requires it with
    /// security on): an existing Secret with `ca.crt`, `tls.crt`, `tls.key` whose
    /// certificate every node presents; empty: each node makes a self-signed one
    /// and peers are not verified (traffic encrypted, not authenticated).
    pub transport_tls_secret: String,
    pub persistence: Persistence,
    pub snapshots: ElasticsearchSnapshots,
    pub resources: Resources,
    pub external: ElasticsearchExternal,
}

/// A shared-filesystem snapshot repository: one volume every node mounts at the
/// same path (`path.repo`), which `stackctl backup create --component
/// elasticsearch` snapshots into and copies from.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ElasticsearchSnapshots {
    pub enabled: bool,
    /// `ReadWriteOnce` for a single node; a cluster needs `ReadWriteMany` (and a
    /// class that offers it): every node writes its shards' files there.
    pub access_mode: String,
    /// The repository's volume; a snapshot needs room for every index.
    pub persistence: Persistence,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ElasticsearchAuth {
    /// Password of the `elastic` superuser; generated when empty.
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend("x-stackctl-external" = true))]
pub struct ElasticsearchExternal {
    /// `http(s)://host:port`.
    pub url: String,
    /// A user allowed to manage users (it sets Kibana's `kibana_system` password).
    pub username: String,
    #[schemars(extend("x-stackctl-secret" = true))]
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Logstash {
    pub enabled: bool,
    pub image: Image,
    #[schemars(extend("x-stackctl-check" = "replicas"))]
    pub replicas: u32,
    /// Daily indices `<indexPrefix>-YYYY.MM.dd` (not `logs-*`: that pattern belongs
    /// to Elasticsearch's built-in data streams).
    pub index_prefix: String,
    pub resources: Resources,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Kibana {
    pub enabled: bool,
    pub image: Image,
    #[schemars(extend("x-stackctl-check" = "replicas"))]
    pub replicas: u32,
    /// Password of the built-in `kibana_system` user, set by a Job; generated.
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub system_password: String,
    /// `xpack.encryptedSavedObjects.encryptionKey` (32+ characters); generated.
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub encryption_key: String,
    pub resources: Resources,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Postgresql {
    pub enabled: bool,
    pub image: Image,
    pub auth: PostgresqlAuth,
    pub persistence: Persistence,
    pub resources: Resources,
    pub metrics: PostgresqlMetrics,
    pub external: ExternalDatabase,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PostgresqlAuth {
    /// Password of the `postgres` superuser; generated when empty.
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub postgres_password: String,
    /// The account the platform's services connect as; owns `database`.
    pub username: String,
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub password: String,
    pub database: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PostgresqlMetrics {
    /// postgres-exporter sidecar (the database connections alert needs it).
    pub enabled: bool,
    pub image: Image,
}

/// One of the in-house services (AI engine, API gateway, self-healing executor):
/// an image the user builds, wired to the platform by environment variables.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InHouse {
    pub enabled: bool,
    /// No default repository: required when enabled.
    pub image: Image,
    #[schemars(extend("x-stackctl-check" = "replicas"))]
    pub replicas: u32,
    /// Port the service listens on (`PORT`).
    #[schemars(extend("x-stackctl-check" = "port"))]
    pub port: u16,
    /// HTTP path answering 200 when healthy; empty: a TCP check of `port`.
    pub health_path: String,
    /// Path of Prometheus metrics on `port`; empty: not scraped.
    pub metrics_path: String,
    /// Extra plain environment variables (no secrets: those belong in Secrets).
    pub env: BTreeMap<String, String>,
    pub resources: Resources,
    pub security_context: InHouseSecurity,
}

/// How an in-house service's container runs. The image is the user's, so stackctl
/// cannot read its user or what it writes: it runs it the restricted way unless
/// told otherwise (the convention of charts such as Bitnami's
/// `containerSecurityContext`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InHouseSecurity {
    /// `false`: the image's own user and a writable root, nothing asserted (how
    /// releases installed before this key ran them).
    pub enabled: bool,
    /// Non-root uid the container runs as.
    pub run_as_user: u32,
    /// Its primary group.
    pub run_as_group: u32,
    pub read_only_root_filesystem: bool,
    /// Absolute paths the service writes, each an `emptyDir` (under a read-only
    /// root the only writable places).
    pub writable_paths: Vec<String>,
}

pub type Redis = crate::stacks::kit::redis::Redis<crate::stacks::kit::redis::Clustering>;
pub type Global = crate::stacks::kit::Global<AiopsGlobal>;
pub type Ingress = crate::stacks::kit::Ingress<NoExtras>;

/// AIOps's own `global` keys, next to the shared ones.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AiopsGlobal {
    /// Development mode: resource requests cut to a quarter (limits kept) and debug
    /// logging everywhere.
    pub development: bool,
    /// Log level of every component when not in development mode.
    pub log_level: LogLevel,
    /// Image with `sh`, `nc` and `curl` for setup Jobs (Kibana's password).
    pub tools_image: Image,
}

impl GlobalExtras for AiopsGlobal {
    fn development(&self) -> bool {
        self.development
    }
}

impl crate::stacks::kit::StackValues for Values {
    type GlobalExtras = AiopsGlobal;
    fn global(&self) -> &Global {
        &self.global
    }
    fn backup(&self) -> Option<&crate::stacks::kit::values::Backup> {
        Some(&self.backup)
    }
}
