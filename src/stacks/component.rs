//! What every component produces: Kubernetes objects tagged with the phase they are
//! applied in, plus the labels and annotations the lifecycle relies on.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

/// Install phases, applied in this order; a phase ends only when all of it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Namespaced plumbing every later object may need: config, secrets, RBAC, storage.
    Storage,
    /// Data services: databases, caches, queues.
    Data,
    /// Applications and everything that routes to them.
    Apps,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Storage, Phase::Data, Phase::Apps];

    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Storage => "storage",
            Phase::Data => "data",
            Phase::Apps => "apps",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Label carrying the release name; inventory and prune select on it.
pub const RELEASE_LABEL: &str = "stackctl.dev/release";
/// Annotation naming the phase an object is applied in.
pub const PHASE_ANNOTATION: &str = "stackctl.dev/phase";
pub const MANAGED_BY: &str = "stackctl";
/// On an object named for its revision (`<base>-<revision>`: a Job, whose template
/// cannot change, that runs once per revision): the base name. The upgrade summary
/// and `diff` compare it with the previous revision's counterpart, not with nothing.
pub const PER_REVISION_ANNOTATION: &str = "stackctl.dev/per-revision";
/// On a Job that creates or migrates a database schema: which schema, for people.
/// Rollback says that it re-runs such Jobs and does not undo what they did.
pub const SCHEMA_ANNOTATION: &str = "stackctl.dev/schema";

/// Identity of the release being rendered, shared by all components.
#[derive(Debug, Clone)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub stack: &'static str,
    /// The revision these objects are rendered for (1 outside an operation, as in
    /// `template`); objects whose spec may not change in place carry it in their name.
    pub revision: u32,
}

impl Release {
    /// `<release>-<suffix>`: the name of a release-owned object.
    pub fn object_name(&self, suffix: &str) -> String {
        format!("{}-{}", self.name, suffix)
    }

    /// Cluster-scoped objects carry the namespace too, so two releases of the same
    /// name in different namespaces never collide.
    pub fn cluster_object_name(&self, suffix: &str) -> String {
        format!("{}-{}-{}", self.namespace, self.name, suffix)
    }

    /// In-cluster DNS name of a Service of this release.
    pub fn service_host(&self, suffix: &str) -> String {
        format!("{}.{}.svc", self.object_name(suffix), self.namespace)
    }
}

/// Which API versions the target cluster serves, for kinds whose version moved.
/// Chosen by discovery when a cluster is reachable, else from `--kube-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `policy/v1` PodDisruptionBudget (Kubernetes ≥ 1.21), else `policy/v1beta1`.
    pub pdb_v1: bool,
    /// `networking.k8s.io/v1` Ingress and IngressClass (Kubernetes ≥ 1.19).
    pub ingress_v1: bool,
}

impl Capabilities {
    /// What a cluster of the given minor version (1.x) serves.
    pub fn for_minor(minor: u32) -> Self {
        Capabilities {
            pdb_v1: minor >= 21,
            ingress_v1: minor >= 19,
        }
    }

    pub fn latest() -> Self {
        Self::for_minor(u32::MAX)
    }
}

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

    #[test]
    fn cluster_scoped_names_carry_the_namespace() {
        let r = Release {
            name: "cv".into(),
            namespace: "team-a".into(),
            stack: "clickvisual",
            revision: 1,
        };
        assert_eq!(r.cluster_object_name("fluentbit"), "team-a-cv-fluentbit");
        assert_eq!(r.service_host("mysql"), "cv-mysql.team-a.svc");
    }

    #[test]
    fn capabilities_follow_the_minor_version() {
        assert!(!Capabilities::for_minor(20).pdb_v1);
        assert!(Capabilities::for_minor(21).pdb_v1);
        assert!(Capabilities::latest().pdb_v1);
    }
}
