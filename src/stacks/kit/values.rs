//! Value types shared by stacks, so that `global.*`, `ingress.*`,
//! `<component>.persistence.*` and `<component>.external.*` mean the same
//! everywhere. A stack with settings of its own in `global` or `ingress` adds them
//! through the type parameter, whose fields sit next to the shared ones (flattened),
//! so users see one map, as before.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::stacks::types::AntiAffinity;
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
impl<X> std::ops::Deref for Global<X> {
    type Target = X;
    fn deref(&self) -> &X {
        &self.stack
    }
}

impl<X> std::ops::DerefMut for Global<X> {
    fn deref_mut(&mut self) -> &mut X {
        &mut self.stack
    }
}

impl<X> std::ops::Deref for Ingress<X> {
    type Target = X;
    fn deref(&self) -> &X {
        &self.stack
    }
}

impl<X> std::ops::DerefMut for Ingress<X> {
    fn deref_mut(&mut self) -> &mut X {
        &mut self.stack
    }
}
