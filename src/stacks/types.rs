//! Value types every stack shares (images, resources, spreading, Service types), so
//! that a key such as `<component>.image.pullPolicy` means the same in every stack.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::workload;
use crate::values::types::Quantity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AntiAffinity {
    None,
    Soft,
    Hard,
}

impl From<AntiAffinity> for workload::AntiAffinity {
    fn from(a: AntiAffinity) -> Self {
        match a {
            AntiAffinity::None => workload::AntiAffinity::None,
            AntiAffinity::Soft => workload::AntiAffinity::Soft,
            AntiAffinity::Hard => workload::AntiAffinity::Hard,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// The lowercase name most servers' log settings take.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Image {
    /// Image repository, without the tag: `registry.example.com/team/app`.
    #[schemars(extend("x-stackctl-check" = "image-repository"))]
    pub repository: String,
    #[schemars(extend("x-stackctl-check" = "image-tag"))]
    pub tag: String,
    /// The digest of `repository:tag` (`sha256:…`), pinning the exact image; the
    /// reference becomes `repository:tag@digest`, so the tag stays readable. Empty:
    /// the tag alone. Absent from records of releases installed before it existed.
    #[serde(default)]
    #[schemars(extend("x-stackctl-check" = "image-digest"))]
    pub digest: String,
    pub pull_policy: PullPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resources {
    pub requests: ResourceList,
    pub limits: ResourceList,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceList {
    pub cpu: Quantity,
    pub memory: Quantity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ServiceType {
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{Validate, validate_typed};

    /// A component no stack rule mentions: its checks must come from its types.
    #[derive(Serialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    struct NewStack {
        brand_new: NewComponent,
    }

    #[derive(Serialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    struct NewComponent {
        enabled: bool,
        image: Image,
        sidecar: Image,
        #[schemars(extend("x-stackctl-check" = "replicas"))]
        replicas: u32,
    }

    impl Validate for NewStack {}

    fn new_stack(enabled: bool) -> NewStack {
        let image = |tag: &str| Image {
            repository: "example/app".into(),
            tag: tag.into(),
            digest: String::new(),
            pull_policy: PullPolicy::IfNotPresent,
        };
        NewStack {
            brand_new: NewComponent {
                enabled,
                image: image("1.0"),
                sidecar: image("-not-a-tag"),
                replicas: 0,
            },
        }
    }

    #[test]
    fn a_field_is_checked_by_its_type_without_being_listed() {
        let found: Vec<String> = validate_typed(&new_stack(true))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("brandNew.sidecar.tag: \"-not-a-tag\" is not a valid image tag"),
            "{found:?}"
        );
        assert_eq!(found[1], "brandNew.replicas: must be at least 1, got 0");
    }

    #[test]
    fn a_disabled_component_is_not_held_to_its_checks() {
        assert!(validate_typed(&new_stack(false)).is_empty());
    }
}
