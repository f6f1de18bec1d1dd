//! Value types shared by stacks, so that `global.*`, `ingress.*`,
//! `<component>.persistence.*` and `<component>.external.*` mean the same
//! everywhere. A stack with settings of its own in `global` or `ingress` adds them
//! through the type parameter, whose fields sit next to the shared ones (flattened),
//! so users see one map, as before.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::stacks::types::{AntiAffinity, Resources};
use crate::values::types::Quantity;
use crate::values::{Problems, checks};

/// No stack-specific keys.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoExtras {}

/// What the kit's render helpers need to know of a stack's own `global` keys.
pub trait GlobalExtras {
    /// Development mode: requests cut to a quarter, limits kept.
    fn development(&self) -> bool {
        false
    }
}

impl GlobalExtras for NoExtras {}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Global<X = NoExtras> {
    /// StorageClass for every PVC that does not name its own; empty: the cluster default.
    pub storage_class: String,
    /// Names of existing `kubernetes.io/dockerconfigjson` Secrets for every pod.
    pub image_pull_secrets: Vec<String>,
    /// Prefix put before every image repository (a mirror), e.g. `registry.example.com/`.
    pub image_registry: String,
    /// PodDisruptionBudgets for replicated components.
    pub pod_disruption_budgets: bool,
    /// Spread replicas over nodes: `none`, `soft` (preferred) or `hard` (required).
    pub anti_affinity: AntiAffinity,
    pub node_selector: BTreeMap<String, String>,
    /// Pull later phases' images on every eligible node while earlier phases start
    /// (what `--prepull` does for one operation).
    #[serde(default)]
    pub prepull: bool,
    /// The stack's own global settings.
    #[serde(flatten)]
    pub stack: X,
}

/// A component's volume. Older values call it `storage` (AIOps did): accepted and
/// renamed to `persistence` when values are loaded, Helm's (and Bitnami's) name.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend("x-stackctl-alias" = "storage"))]
pub struct Persistence {
    pub size: Quantity,
    /// Overrides `global.storageClass` for this component; empty: inherit.
    #[schemars(extend("x-stackctl-check" = "storage-class"))]
    pub storage_class: String,
}

/// `backup`: where backups go and when they are taken without being asked
/// (`stackctl backup` takes them on demand).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Backup {
    /// When to back up the metadata stores, as a CronJob schedule (`0 3 * * *`,
    /// `@daily`; the controller manager's clock, usually UTC). Empty: on demand only.
    #[schemars(extend("format" = "cron-schedule"))]
    pub schedule: String,
    /// How many scheduled backups to keep; older ones are deleted with their
    /// files. Backups taken by `stackctl backup create` stay until deleted.
    pub keep: u32,
    /// The backup volume, made on first use; kept by `uninstall` (even with
    /// `--purge-volumes`) until `--purge-backups`. `backup.storage` is accepted
    /// for it, as for every `persistence`.
    pub persistence: Persistence,
    /// Of each step of a backup or restore Job (a dump streams through a client;
    /// a Redis restore holds the whole dataset in memory once more).
    pub resources: Resources,
    /// S3-compatible storage for the backups instead of the volume.
    pub s3: S3,
}

/// `backup.s3`: with a bucket, backups go to S3-compatible storage (AWS S3,
/// MinIO, Ceph RGW, …) instead of the volume, signed with AWS Signature V4.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct S3 {
    /// The bucket, which must exist; empty: backups go to the volume.
    pub bucket: String,
    /// The service's URL, `https://s3.eu-west-1.amazonaws.com`,
    /// `http://minio.storage:9000`.
    pub endpoint: String,
    /// The region requests are signed for (`us-east-1` for most other services).
    pub region: String,
    /// Keys start with it, then `<namespace>/<release>/<backup>/`.
    pub prefix: String,
    /// Path-style URLs (`<endpoint>/<bucket>/<key>`), which every S3-compatible
    /// service takes; `false`: virtual-hosted (`<bucket>.<endpoint host>`).
    pub path_style: bool,
    /// The Secret of the release's namespace holding `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`; stackctl never stores these keys itself.
    pub existing_secret: String,
    /// Encryption at rest of every object (`x-amz-server-side-encryption`):
    /// `AES256`, `aws:kms` (the bucket's KMS key), or empty for the bucket's own
    /// default (a MinIO without a KMS refuses both).
    pub server_side_encryption: String,
    /// The S3 client's image: curl, which signs requests itself.
    pub image: crate::stacks::types::Image,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ingress<X = NoExtras> {
    pub enabled: bool,
    /// IngressClass name; empty: the stack's own class if it runs an ingress
    /// controller, else the cluster's default class.
    pub class_name: String,
    pub host: String,
    /// The stack's own Ingress settings.
    #[serde(flatten)]
    pub stack: X,
    pub annotations: BTreeMap<String, String>,
    pub tls: IngressTls,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressTls {
    pub enabled: bool,
    /// Existing `kubernetes.io/tls` Secret holding the certificate.
    pub secret_name: String,
}

/// `networkPolicy`: the release's NetworkPolicies, rendered from the stack's flow
/// table (`crate::stacks::kit::netpol`). A stack adds keys of its own for the
/// peers outside the release it lets in (flattened beside these).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicy<X = NoExtras> {
    /// Only the platform's own flows may reach its pods (ingress policies).
    pub enabled: bool,
    /// Also deny everything else, egress included, for the release's pods; DNS, the
    /// API server (for the components that watch it) and the flows the platform
    /// needs stay allowed.
    pub default_deny: bool,
    /// Name resolution under `defaultDeny`: the resolvers the release's pods may ask.
    pub dns: DnsPolicy,
    /// The stack's own peers.
    #[serde(flatten)]
    pub stack: X,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsPolicy {
    /// The cluster's resolvers. Defaults: pods labelled `k8s-app: kube-dns` in any
    /// namespace (kube-dns and CoreDNS), NodeLocal DNSCache at 169.254.20.10 and
    /// the metadata server at 169.254.169.254 (GKE Cloud DNS). Empty: any address.
    pub peers: Vec<PolicyPeer>,
    /// Ports the resolvers listen on, each allowed over UDP and TCP: 53, and 5353
    /// for resolvers behind a Service that maps 53 to it (NetworkPolicies match the
    /// pod's port, not the Service's).
    pub ports: Vec<u16>,
}

/// One side of a NetworkPolicy rule: pods by labels (in the release's namespace,
/// or in the namespaces `namespaceSelector` picks; `{}` is every namespace), or an
/// address range.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyPeer {
    /// Labels of the pods (`matchLabels`); `{}`: every pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<BTreeMap<String, String>>,
    /// Labels of the namespaces (`matchLabels`); `{}`: every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<BTreeMap<String, String>>,
    /// An address range in CIDR notation, e.g. `169.254.20.10/32`; not with selectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<String>,
}

/// Each peer of a list with its key path (`networkPolicy.ingressFrom[0]`), as
/// [`NetworkPolicy::check`] and [`NetworkPolicy::warnings`] name them.
pub fn keyed_peers<'a>(
    key: &'a str,
    peers: &'a [PolicyPeer],
) -> impl Iterator<Item = (String, &'a PolicyPeer)> + 'a {
    peers
        .iter()
        .enumerate()
        .map(move |(i, peer)| (format!("{key}[{i}]"), peer))
}

/// The namespace label Kubernetes sets on every namespace only from 1.21.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

impl<X> NetworkPolicy<X> {
    /// Problems with the shared keys and with `peers` (each with its key path),
    /// the stack's own.
    pub fn check<'a>(
        &'a self,
        p: &mut Problems,
        peers: impl IntoIterator<Item = (String, &'a PolicyPeer)>,
    ) {
        if self.default_deny && !self.enabled {
            p.add(
                "networkPolicy.defaultDeny",
                "has no effect unless networkPolicy.enabled is true",
            )
            .hint("set networkPolicy.enabled=true as well");
        }
        let dns = keyed_peers("networkPolicy.dns.peers", &self.dns.peers);
        for (path, peer) in dns.chain(peers) {
            if let Err(e) = peer.check() {
                p.add(path, e)
                    .hint("give podSelector and/or namespaceSelector labels, or ipBlock: <address>/<prefix>");
            }
        }
        if self.dns.ports.contains(&0) {
            p.add("networkPolicy.dns.ports", "0 is no port");
        }
    }

    /// Warnings for peers (DNS's, and `peers` with their key paths) that select namespaces by
    /// `kubernetes.io/metadata.name`: on Kubernetes 1.20 no namespace carries it
    /// unless someone labelled it, so such a peer matches nothing there.
    pub fn warnings<'a>(
        &'a self,
        peers: impl IntoIterator<Item = (String, &'a PolicyPeer)>,
    ) -> Vec<String> {
        if !self.enabled {
            return Vec::new();
        }
        keyed_peers("networkPolicy.dns.peers", &self.dns.peers)
            .chain(peers)
            .filter(|(_, peer)| {
                peer.namespace_selector
                    .as_ref()
                    .is_some_and(|l| l.contains_key(NAMESPACE_NAME_LABEL))
            })
            .map(|(path, _)| {
                format!(
                    "{path} selects namespaces by {NAMESPACE_NAME_LABEL}, which Kubernetes sets by itself only from 1.21: on 1.20, label the namespace yourself (kubectl label namespace <name> {NAMESPACE_NAME_LABEL}=<name>)"
                )
            })
            .collect()
    }
}

impl PolicyPeer {
    /// A NetworkPolicy peer is pods (by pod and/or namespace labels) or an address
    /// range, never both (the API refuses `ipBlock` with selectors).
    pub fn check(&self) -> Result<(), String> {
        let selects = self.pod_selector.is_some() || self.namespace_selector.is_some();
        match &self.ip_block {
            Some(_) if selects => {
                Err("ipBlock cannot be combined with podSelector or namespaceSelector".into())
            }
            Some(cidr) => cidr_ok(cidr),
            None if selects => Ok(()),
            None => Err("selects nothing: set podSelector, namespaceSelector or ipBlock".into()),
        }
    }
}

/// `169.254.20.10/32`, `10.0.0.0/8`, `fd00::/8`.
fn cidr_ok(cidr: &str) -> Result<(), String> {
    let err = || format!("ipBlock {cidr:?} is no CIDR; use e.g. 169.254.20.10/32");
    let (addr, prefix) = cidr.split_once('/').ok_or_else(err)?;
    let addr: std::net::IpAddr = addr.parse().map_err(|_| err())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    match prefix.parse::<u8>() {
        Ok(n) if n <= max => Ok(()),
        _ => Err(err()),
    }
}

/// `<component>.rbac`: Helm's switch for the RBAC a component's pods need.
///
/// Off, stackctl renders no ServiceAccount, Role or binding for the component, so a
/// user who may not manage cluster-wide RBAC can install it once an admin has
/// created them (preflight prints them). Absent from records of releases installed
/// before it existed, hence the default.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rbac {
    /// Create the component's ServiceAccount and the RBAC it needs.
    pub create: bool,
}

impl Default for Rbac {
    fn default() -> Self {
        Rbac { create: true }
    }
}

/// `<component>.serviceAccount`: the account the component's pods run as.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceAccount {
    /// Empty: `<release>-<component>`. Required when `rbac.create` is false: the
    /// account an admin created.
    pub name: String,
}

/// Problems with a component's `rbac` and `serviceAccount` under its values key
/// (`fluentbit`): without RBAC of its own, the component must be told whose account
/// to use. `in_use`: the component is rendered at all.
pub fn check_service_account(
    p: &mut Problems,
    key: &str,
    in_use: bool,
    rbac: &Rbac,
    account: &ServiceAccount,
) {
    if !in_use {
        return;
    }
    let name_key = format!("{key}.serviceAccount.name");
    if account.name.is_empty() {
        if !rbac.create {
            p.add(
                name_key,
                format!("required when {key}.rbac.create is false"),
            )
            .blame(format!("{key}.rbac.create"))
            .hint(format!(
                "name the ServiceAccount an admin created for it, or set {key}.rbac.create=true"
            ));
        }
    } else {
        p.check(name_key, checks::dns1123_subdomain(&account.name));
    }
}

/// A database outside the release (MySQL, PostgreSQL): used when the internal one
/// is disabled and `host` is set.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend("x-stackctl-external" = true))]
pub struct ExternalDatabase {
    pub host: String,
    #[schemars(extend("x-stackctl-check" = "port"))]
    pub port: u16,
    pub username: String,
    /// Password of `username` on the external database.
    #[schemars(extend("x-stackctl-secret" = true))]
    pub password: String,
    pub database: String,
}

/// A Redis outside the release: used when the internal one is disabled and `host`
/// is set.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend("x-stackctl-external" = true))]
pub struct ExternalRedis {
    pub host: String,
    #[schemars(extend("x-stackctl-check" = "port"))]
    pub port: u16,
    /// Password of the external Redis (`AUTH`).
    #[schemars(extend("x-stackctl-secret" = true))]
    pub password: String,
}

// The stack's own keys read as if declared beside the shared ones
// (`values.global.development`, `values.ingress.path`), as they appear to users.
macro_rules! stack_keys_beside_shared {
    ($($t:ident),*) => {$(
        impl<X> std::ops::Deref for $t<X> {
            type Target = X;
            fn deref(&self) -> &X {
                &self.stack
            }
        }

        impl<X> std::ops::DerefMut for $t<X> {
            fn deref_mut(&mut self) -> &mut X {
                &mut self.stack
            }
        }
    )*};
}

stack_keys_beside_shared!(Global, Ingress, NetworkPolicy);
