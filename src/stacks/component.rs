//! The builder every component is written with: a [`Builder`] that gives each object the
//! standard labels and the phase annotation, and the label helpers around it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

use crate::model::{
    MANAGED_BY, Manifest, PHASE_ANNOTATION, Phase, RELEASE_LABEL, Release, Rendered,
};

/// Builds manifests for one component with the standard labels and annotations.
pub struct Builder<'a> {
    release: &'a Release,
    component: &'static str,
    phase: Phase,
    version: String,
    manifests: Vec<Manifest>,
}

impl<'a> Builder<'a> {
    pub fn new(release: &'a Release, component: &'static str, phase: Phase, version: &str) -> Self {
        Builder {
            release,
            component,
            phase,
            version: version.to_string(),
            manifests: Vec::new(),
        }
    }

    pub fn release(&self) -> &Release {
        self.release
    }

    pub fn component(&self) -> &'static str {
        self.component
    }

    /// Labels that select this component's pods; stable across upgrades, because
    /// selectors of Deployments and StatefulSets are immutable.
    pub fn selector_labels(&self) -> BTreeMap<String, String> {
        selector_labels(self.release, self.component)
    }

    /// Every label an object of this component carries.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut l = self.selector_labels();
        l.insert(
            "app.kubernetes.io/part-of".into(),
            self.release.stack.into(),
        );
        l.insert(
            "app.kubernetes.io/version".into(),
            label_value(&self.version),
        );
        l.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
        l.insert(RELEASE_LABEL.into(), self.release.name.clone());
        l
    }

    /// Metadata for a namespaced object of this component.
    pub fn meta(&self, name: impl Into<String>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(self.release.namespace.clone()),
            labels: Some(self.labels()),
            annotations: Some(self.annotations()),
            ..Default::default()
        }
    }

    /// Metadata for a cluster-scoped object of this component.
    pub fn cluster_meta(&self, name: impl Into<String>) -> ObjectMeta {
        ObjectMeta {
            namespace: None,
            ..self.meta(name)
        }
    }

    fn annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(PHASE_ANNOTATION.to_string(), self.phase.to_string())])
    }

    /// Adds a typed object in the component's own phase.
    pub fn push<K>(&mut self, object: K) -> &mut Self
    where
        K: k8s_openapi::Resource + Serialize,
    {
        self.push_in(self.phase, object)
    }

    /// Adds a typed object in another phase: a data service's credentials Secret goes
    /// in `storage` so that every pod that references it finds it.
    // Taking the object, as `Vec::push` does, keeps call sites `b.push(Service { .. })`.
    #[allow(clippy::needless_pass_by_value)]
    pub fn push_in<K>(&mut self, phase: Phase, object: K) -> &mut Self
    where
        K: k8s_openapi::Resource + Serialize,
    {
        let body = serde_json::to_value(&object).expect("k8s-openapi objects serialize");
        self.push_value_in(phase, K::API_VERSION, K::KIND, body)
    }

    /// Adds an object given as JSON, for kinds whose API version is chosen at run time
    /// (PodDisruptionBudget policy/v1 vs v1beta1).
    pub fn push_value(&mut self, api_version: &str, kind: &str, body: Value) -> &mut Self {
        self.push_value_in(self.phase, api_version, kind, body)
    }

    fn push_value_in(
        &mut self,
        phase: Phase,
        api_version: &str,
        kind: &str,
        mut body: Value,
    ) -> &mut Self {
        if let Some(annotations) = body["metadata"]["annotations"].as_object_mut() {
            annotations.insert(PHASE_ANNOTATION.into(), Value::String(phase.to_string()));
        }
        body["apiVersion"] = Value::String(api_version.to_string());
        body["kind"] = Value::String(kind.to_string());
        let meta = &body["metadata"];
        let name = meta["name"].as_str().unwrap_or_default().to_string();
        let namespace = meta["namespace"].as_str().map(str::to_string);
        self.manifests.push(Manifest {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name,
            namespace,
            component: self.component.to_string(),
            phase,
            body,
        });
        self
    }

    pub fn finish(self, depends_on: Vec<&'static str>) -> Rendered {
        Rendered {
            name: self.component,
            phase: self.phase,
            depends_on,
            manifests: self.manifests,
        }
    }
}

/// Labels selecting a component's pods (also used by other components' NetworkPolicies
/// and probes to find them).
pub fn selector_labels(release: &Release, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), component.to_string()),
        (
            "app.kubernetes.io/instance".to_string(),
            release.name.clone(),
        ),
        (
            "app.kubernetes.io/component".to_string(),
            component.to_string(),
        ),
    ])
}

/// Label values are at most 63 characters of `[A-Za-z0-9._-]`, starting and ending
/// alphanumeric; image tags such as `v1.2.0` pass through, digests do not.
pub fn label_value(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("v1.2.0"), "v1.2.0");
        assert_eq!(label_value("sha256:abc"), "sha256_abc");
        assert_eq!(label_value(&"a".repeat(80)).len(), 63);
        assert_eq!(label_value("-x-"), "x");
    }
}
