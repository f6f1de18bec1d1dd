//! ClickVisual stack values: the typed form of `defaults.yaml`, key names as in the
//! chart document. Every field is required here; `defaults.yaml` supplies them all,
//! so an unknown or missing key is caught by the schema walk, never silently defaulted.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::stacks::kit::values::{DnsPolicy, IngressTls, Persistence, PolicyPeer};
use crate::stacks::kit::values::{ExternalDatabase, NoExtras, Rbac, ServiceAccount};
pub use crate::stacks::types::{
    AntiAffinity, Image, LogLevel, PullPolicy, ResourceList, Resources, ServiceType,
};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Values {
    pub global: Global,
    pub clickvisual: ClickVisual,
    /// MySQL, where ClickVisual keeps its own data: in the release, or an external
    /// one with `enabled: false`.
    pub mysql: Mysql,
    pub redis: Redis,
    pub clickhouse: ClickHouse,
    pub kafka: Kafka,
    pub zookeeper: Zookeeper,
    pub fluentbit: FluentBit,
    pub prometheus: Prometheus,
    pub ingress: Ingress,
    pub network_policy: NetworkPolicy,
    pub backup: crate::stacks::kit::values::Backup,
}

/// `networkPolicy`: the shared keys, plus who outside the release may reach
/// ClickVisual's UI and Kafka.
pub type NetworkPolicy = crate::stacks::kit::NetworkPolicy<OutsidePeers>;

/// ClickVisual's own `networkPolicy` keys, next to the shared ones.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OutsidePeers {
    /// Who may reach ClickVisual's HTTP port through the Ingress: the cluster's
    /// ingress controller. Empty: any address (on that port only), since the
    /// controller's namespace, labels and network (many run in the host network,
    /// where no pod selector matches) are yours to know.
    pub ingress_from: Vec<PolicyPeer>,
    /// Who besides Fluent Bit and ClickHouse may reach the release's Kafka on its
    /// client port: other producers (and consumers) of yours. Empty: any address,
    /// so producers that wrote to Kafka before the policies still do; name them to
    /// close it.
    pub kafka_from: Vec<PolicyPeer>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClickVisual {
    pub image: Image,
    #[schemars(extend("x-stackctl-check" = "replicas"))]
    pub replicas: u32,
    pub resources: Resources,
    pub config: ClickVisualConfig,
    pub service: Service,
    pub schema: Schema,
    /// The image's UI was built for `ingress.path` (upstream's `Dockerfile.subpath`
    /// sets `PUBLIC_PATH`); the stock image serves its UI from `/` only.
    pub sub_path_build: bool,
}

/// ClickVisual's tables in MySQL, created and migrated by a Job once per revision.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Schema {
    /// Off: the database is managed elsewhere and holds every table the version needs.
    pub enabled: bool,
    /// Your own schema script instead of the one shipped for the tag
    /// (`--set-file clickvisual.schema.sql=schema.sql`); applied as given.
    pub sql: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClickVisualConfig {
    /// OAuth state hash secret (`[app] secretKey`).
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub secret_key: String,
    /// `[app] encryptionKey`; 32 characters.
    #[schemars(extend("x-stackctl-secret" = "generate", "x-stackctl-secret-length" = 32))]
    pub encryption_key: String,
    /// Session cookie keys (`[auth] Keypairs`).
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub session_key: String,
    /// External URL users open; empty: derived from the Ingress host, else the Service.
    #[serde(rename = "rootURL")]
    pub root_url: String,
    pub log_level: LogLevel,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Service {
    #[serde(rename = "type")]
    pub type_: ServiceType,
    #[schemars(extend("x-stackctl-check" = "port"))]
    pub port: u16,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Mysql {
    pub enabled: bool,
    pub image: Image,
    pub auth: MysqlAuth,
    pub persistence: Persistence,
    pub resources: Resources,
    pub external: ExternalDatabase,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MysqlAuth {
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub root_password: String,
    pub database: String,
    /// The account ClickVisual connects as.
    pub username: String,
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClickHouse {
    pub enabled: bool,
    pub image: Image,
    pub auth: ClickHouseAuth,
    /// Database the log tables live in.
    pub database: String,
    /// Shards × replicas; more than one of either runs a cluster with Keeper.
    #[schemars(extend("x-stackctl-check" = "replicas"))]
    pub shards: u32,
    #[schemars(extend("x-stackctl-check" = "replicas"))]
    pub replicas: u32,
    pub persistence: Persistence,
    pub resources: Resources,
    pub external: ClickHouseExternal,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClickHouseAuth {
    pub username: String,
    #[schemars(extend("x-stackctl-secret" = "generate"))]
    pub password: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend("x-stackctl-external" = true))]
pub struct ClickHouseExternal {
    pub host: String,
    /// Native protocol port.
    #[schemars(extend("x-stackctl-check" = "port"))]
    pub port: u16,
    #[schemars(extend("x-stackctl-check" = "port"))]
    pub http_port: u16,
    pub username: String,
    #[schemars(extend("x-stackctl-secret" = true))]
    pub password: String,
    pub database: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Kafka {
    pub enabled: bool,
    pub image: Image,
    #[schemars(extend("x-stackctl-check" = "replicas"))]
    pub replicas: u32,
    pub persistence: Persistence,
    pub resources: Resources,
    pub external: KafkaExternal,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend("x-stackctl-external" = true))]
pub struct KafkaExternal {
    /// `host:port` of each bootstrap broker.
    pub brokers: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Zookeeper {
    /// Runs Kafka in ZooKeeper mode; off means KRaft.
    pub enabled: bool,
    pub image: Image,
    #[schemars(extend("x-stackctl-check" = "replicas"))]
    pub replicas: u32,
    pub persistence: Persistence,
    pub resources: Resources,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FluentBit {
    pub enabled: bool,
    pub image: Image,
    /// Written into every record as `_cluster_`.
    pub cluster_name: String,
    /// Kafka topic the container logs go to.
    pub topic: String,
    pub resources: Resources,
    /// Off: no ServiceAccount, ClusterRole or binding of stackctl's; the pods run
    /// as `serviceAccount.name`, which an admin created.
    #[serde(default)]
    pub rbac: Rbac,
    #[serde(default)]
    pub service_account: ServiceAccount,
}

pub type Redis = crate::stacks::kit::redis::Redis<NoExtras>;
pub type Prometheus = crate::stacks::kit::prometheus::Prometheus<NoExtras>;
pub type Global = crate::stacks::kit::Global<NoExtras>;
pub type Ingress = crate::stacks::kit::Ingress<IngressPath>;

/// ClickVisual's own Ingress key, next to the shared ones.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressPath {
    /// Path prefix ClickVisual is served under (`/` or e.g. `/cv`).
    pub path: String,
}

impl crate::stacks::kit::StackValues for Values {
    type GlobalExtras = NoExtras;
    fn global(&self) -> &Global {
        &self.global
    }
    fn backup(&self) -> Option<&crate::stacks::kit::values::Backup> {
        Some(&self.backup)
    }
}
