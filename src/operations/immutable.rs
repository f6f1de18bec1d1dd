//! Changes the API server would refuse (immutable fields), found before writing by
//! comparing the previous revision's manifest with the new one. Both are stackctl's
//! own renderings, so no server defaulting muddies the comparison.

use serde_json::Value;

use crate::model::Manifest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImmutableChange {
    /// `StatefulSet/cv-mysql`
    pub object: String,
    /// `spec.volumeClaimTemplates`
    pub field: &'static str,
}

impl std::fmt::Display for ImmutableChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} cannot change in place", self.object, self.field)
    }
}

/// Fields that cannot be updated, per kind.
fn immutable_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        // "updates to statefulset spec for fields other than 'replicas', 'template',
        // 'updateStrategy' … are forbidden"
        "StatefulSet" => &[
            "spec.selector",
            "spec.volumeClaimTemplates",
            "spec.serviceName",
            "spec.podManagementPolicy",
        ],
        "Deployment" | "DaemonSet" | "ReplicaSet" => &["spec.selector"],
        "Job" => &["spec.template", "spec.selector", "spec.completions"],
        "Service" => &["spec.clusterIP"],
        "PersistentVolumeClaim" => &[
            "spec.accessModes",
            "spec.storageClassName",
            "spec.volumeName",
        ],
        "RoleBinding" | "ClusterRoleBinding" => &["roleRef"],
        _ => &[],
    }
}

fn at<'v>(v: &'v Value, dotted: &str) -> &'v Value {
    dotted.split('.').fold(v, |v, k| &v[k])
}

/// Every immutable field that differs between an object's previous and new form.
pub fn changes(previous: &[Manifest], next: &[Manifest]) -> Vec<ImmutableChange> {
    let mut out = Vec::new();
    for new in next {
        let Some(old) = previous.iter().find(|o| same_object(o, new)) else {
            continue;
        };
        for field in immutable_fields(&new.kind) {
            if at(&old.body, field) != at(&new.body, field) {
                out.push(ImmutableChange {
                    object: new.id(),
                    field,
                });
            }
        }
    }
    out
}

pub fn same_object(a: &Manifest, b: &Manifest) -> bool {
    a.kind == b.kind
        && a.name == b.name
        && a.namespace == b.namespace
        && group(&a.api_version) == group(&b.api_version)
}

/// API group of an apiVersion: PodDisruptionBudget moving from policy/v1beta1 to
/// policy/v1 is the same object.
fn group(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Phase;
    use serde_json::json;

    fn sts(size: &str, replicas: u32) -> Manifest {
        Manifest {
            api_version: "apps/v1".into(),
            kind: "StatefulSet".into(),
            name: "cv-mysql".into(),
            namespace: Some("ns".into()),
            component: "mysql".into(),
            phase: Phase::Data,
            body: json!({"spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"a": "b"}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": size}}}}]
            }}),
        }
    }

    #[test]
    fn volume_claim_template_changes_are_found() {
        let found = changes(&[sts("8Gi", 1)], &[sts("16Gi", 1)]);
        assert_eq!(
            found,
            vec![ImmutableChange {
                object: "StatefulSet/cv-mysql".into(),
                field: "spec.volumeClaimTemplates"
            }]
        );
        assert_eq!(
            found[0].to_string(),
            "StatefulSet/cv-mysql: spec.volumeClaimTemplates cannot change in place"
        );
    }

    #[test]
    fn mutable_changes_and_new_objects_pass() {
        assert!(changes(&[sts("8Gi", 1)], &[sts("8Gi", 3)]).is_empty());
        assert!(changes(&[], &[sts("8Gi", 3)]).is_empty());
    }
}
