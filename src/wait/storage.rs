//! What the readiness rules need to know about StorageClasses: whether a class exists
//! and when it binds its claims.

use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::ListParams;
use kube::{Api, Client};
use serde_json::Value;

use super::json;

/// Annotation the scheduler puts on a claim of a `WaitForFirstConsumer` class once a
/// pod using it has been placed; from then on the provisioner is expected to act.
pub const SELECTED_NODE_ANNOTATION: &str = "volume.kubernetes.io/selected-node";

const DEFAULT_CLASS_ANNOTATIONS: [&str; 2] = [
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
];

const LIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingMode {
    Immediate,
    WaitForFirstConsumer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassInfo {
    pub name: String,
    pub provisioner: String,
    pub binding: BindingMode,
    pub is_default: bool,
}

/// The cluster's StorageClasses, or the knowledge that we could not list them (a
/// namespace-scoped user may not read cluster-scoped objects).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageClasses {
    known: bool,
    classes: Vec<ClassInfo>,
}

impl StorageClasses {
    /// Nothing is known: rules fall back to what a claim says about itself.
    pub fn unknown() -> Self {
        Self::default()
    }

    pub fn from_classes(classes: Vec<ClassInfo>) -> Self {
        StorageClasses {
            known: true,
            classes,
        }
    }

    /// Parses StorageClass objects as JSON; unparseable entries are skipped.
    pub fn from_objects<'a>(items: impl IntoIterator<Item = &'a Value>) -> Self {
        let classes = items
            .into_iter()
            .filter_map(|sc| {
                let name = json::str_at(sc, "metadata.name")?.to_string();
                let binding = match json::str_at(sc, "volumeBindingMode") {
                    Some("WaitForFirstConsumer") => BindingMode::WaitForFirstConsumer,
                    _ => BindingMode::Immediate,
                };
                let is_default = DEFAULT_CLASS_ANNOTATIONS
                    .iter()
                    .any(|a| json::annotation(sc, a) == Some("true"));
                Some(ClassInfo {
                    name,
                    provisioner: json::str_at(sc, "provisioner")
                        .unwrap_or_default()
                        .to_string(),
                    binding,
                    is_default,
                })
            })
            .collect();
        Self::from_classes(classes)
    }

    /// Lists the classes; on any error (RBAC, network, no answer within 5 s) the result
    /// is `unknown()`, since waiting must not fail merely because a hint is
    /// unavailable. Bounded in time: it runs before watching starts and while reporting.
    pub async fn list(client: &Client) -> Self {
        let api: Api<StorageClass> = Api::all(client.clone());
        let listed = tokio::time::timeout(LIST_TIMEOUT, api.list(&ListParams::default())).await;
        match listed.unwrap_or_else(|_| Err(kube::Error::Service("timed out".into()))) {
            Ok(list) => {
                let values: Vec<Value> = list
                    .items
                    .iter()
                    .filter_map(|sc| serde_json::to_value(sc).ok())
                    .collect();
                Self::from_objects(&values)
            }
            Err(e) => {
                tracing::debug!("cannot list StorageClasses, continuing without them: {e}");
                Self::unknown()
            }
        }
    }

    pub fn is_known(&self) -> bool {
        self.known
    }

    pub fn get(&self, name: &str) -> Option<&ClassInfo> {
        self.classes.iter().find(|c| c.name == name)
    }

    /// True only when the classes were listed and this one is not among them.
    pub fn is_missing(&self, name: &str) -> bool {
        self.known && self.get(name).is_none()
    }

    pub fn default_class(&self) -> Option<&ClassInfo> {
        self.classes.iter().find(|c| c.is_default)
    }

    /// Class names, sorted, for "available: a, b" hints.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.classes.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        names
    }
}

/// The class a claim asks for: `spec.storageClassName`, else the pre-1.6 beta
/// annotation. `Some("")` means "no dynamic provisioning", `None` means the default
/// class was not filled in by admission.
pub fn claim_class(pvc: &Value) -> Option<&str> {
    json::str_at(pvc, "spec.storageClassName")
        .or_else(|| json::annotation(pvc, "volume.beta.kubernetes.io/storage-class"))
}

/// The test cluster's classes: `standard` (default, WaitForFirstConsumer) and
/// `standard-immediate`.
#[cfg(test)]
pub(crate) fn test_classes() -> StorageClasses {
    use serde_json::json;
    StorageClasses::from_objects(&[
        json!({"metadata": {"name": "standard-immediate"}, "provisioner": "stackctl.dev/simnode",
                   "volumeBindingMode": "Immediate"}),
        json!({"metadata": {"name": "standard", "annotations": {
                       "storageclass.kubernetes.io/is-default-class": "true"}},
                   "provisioner": "stackctl.dev/simnode", "volumeBindingMode": "WaitForFirstConsumer"}),
        json!({"no": "metadata"}),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_classes() {
        let c = test_classes();
        assert!(c.is_known());
        assert_eq!(c.names(), ["standard", "standard-immediate"]);
        assert_eq!(c.default_class().unwrap().name, "standard");
        assert_eq!(
            c.get("standard").unwrap().binding,
            BindingMode::WaitForFirstConsumer
        );
        assert_eq!(
            c.get("standard-immediate").unwrap().binding,
            BindingMode::Immediate
        );
        assert!(c.is_missing("fast-ssd"));
        assert!(!StorageClasses::unknown().is_missing("fast-ssd"));
    }

    #[test]
    fn claim_class_sources() {
        assert_eq!(
            claim_class(&json!({"spec": {"storageClassName": "x"}})),
            Some("x")
        );
        assert_eq!(
            claim_class(&json!({"metadata": {"annotations": {
                "volume.beta.kubernetes.io/storage-class": "y"}}, "spec": {}})),
            Some("y")
        );
        assert_eq!(claim_class(&json!({"spec": {}})), None);
    }
}
