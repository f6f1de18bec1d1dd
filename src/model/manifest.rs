//! One object ready to apply, and one component's objects.

use anyhow::{Context, Result};
use serde_json::Value;

use super::{PER_REVISION_ANNOTATION, PHASE_ANNOTATION, Phase};

/// One Kubernetes object ready to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub component: String,
    pub phase: Phase,
    /// The whole object as JSON, including apiVersion, kind and metadata.
    pub body: Value,
}

impl Manifest {
    /// Rebuilds a manifest from a stored object (a release record), reading component
    /// and phase back from the label and annotation every rendered object carries.
    pub fn from_value(body: Value) -> Option<Manifest> {
        let meta = &body["metadata"];
        Some(Manifest {
            api_version: body["apiVersion"].as_str()?.to_string(),
            kind: body["kind"].as_str()?.to_string(),
            name: meta["name"].as_str()?.to_string(),
            namespace: meta["namespace"].as_str().map(str::to_string),
            component: meta["labels"]["app.kubernetes.io/component"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            phase: Phase::parse(meta["annotations"][PHASE_ANNOTATION].as_str()?)?,
            body,
        })
    }

    /// `kind/name` as kubectl prints it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// The base name of an object named for its revision.
    pub fn per_revision_base(&self) -> Option<&str> {
        self.body["metadata"]["annotations"][PER_REVISION_ANNOTATION].as_str()
    }

    /// Whether `other` is this object as another revision has it.
    pub fn is_counterpart_of(&self, other: &Manifest) -> bool {
        self.kind == other.kind
            && self.namespace == other.namespace
            && self
                .per_revision_base()
                .is_some_and(|b| other.per_revision_base() == Some(b))
    }

    /// The body with a per-revision name replaced by its base, so that two revisions'
    /// counterparts compare equal when only the revision differs.
    pub fn revision_neutral_body(&self) -> Value {
        let mut body = self.body.clone();
        if let Some(base) = self.per_revision_base() {
            body["metadata"]["name"] = Value::String(base.to_string());
        }
        body
    }
}

/// Output of one component: its objects, phase and what it must come after.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub name: &'static str,
    pub phase: Phase,
    /// Components (by name) that must be ready before this one is applied, whether in
    /// an earlier phase or the same one (Zookeeper before Kafka).
    pub depends_on: Vec<&'static str>,
    pub manifests: Vec<Manifest>,
}

impl Rendered {
    /// Whether the component runs pods (a workload among its objects), as opposed
    /// to only configuring them (a credentials Secret of an external service).
    pub fn has_pods(&self) -> bool {
        self.manifests.iter().any(|m| {
            matches!(
                m.kind.as_str(),
                "Deployment" | "StatefulSet" | "DaemonSet" | "Job"
            )
        })
    }
}

/// The components among `rendered` that run pods.
pub fn with_pods(rendered: &[Rendered]) -> std::collections::BTreeSet<&'static str> {
    rendered
        .iter()
        .filter(|r| r.has_pods())
        .map(|r| r.name)
        .collect()
}

/// YAML as `template` prints it and `diff` compares it.
pub fn to_yaml(v: &Value) -> Result<String> {
    serde_saphyr::to_string(v).context("YAML serialisation")
}
