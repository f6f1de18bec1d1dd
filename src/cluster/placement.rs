//! Whether one node can mount a set of volumes: a pod mounting two claims whose
//! volumes are pinned to different nodes (local volumes) or zones (most cloud
//! disks) is never scheduled. Read from each bound volume's required node
//! affinity, evaluated against the cluster's nodes as the scheduler's
//! `VolumeBinding` filter does (`In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`,
//! `Lt` on labels; `metadata.name` as a field). The Kubernetes API has no dry run
//! of scheduling, hence this small evaluator rather than a crate.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, PersistentVolume, PersistentVolumeClaim,
};
use kube::Api;

/// The bound volume of each of `claims` (namespace `namespace`) that is pinned
/// to some nodes; a claim that is missing or unbound is free to go anywhere.
async fn pinned_volumes(
    client: &kube::Client,
    namespace: &str,
    claims: &[&str],
) -> kube::Result<Vec<PersistentVolume>> {
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let mut out = Vec::new();
    for claim in claims {
        let Some(pvc) = pvcs.get_opt(claim).await? else {
            continue;
        };
        let Some(volume) = pvc.spec.and_then(|s| s.volume_name) else {
            continue;
        };
        if let Some(pv) = pvs.get_opt(&volume).await?
            && !terms(&pv).is_empty()
        {
            out.push(pv);
        }
    }
    Ok(out)
}

/// The names of the volumes of `claims` that no node a pod of
/// `node_selector` (and no tolerations) may run on can mount together, or
/// `None` when one such node can mount them all (or the cluster's nodes or
/// volumes cannot be read: the scheduler then says it, more slowly).
pub async fn unplaceable(
    client: &kube::Client,
    namespace: &str,
    claims: &[&str],
    node_selector: &BTreeMap<String, String>,
) -> Option<Vec<String>> {
    let volumes = pinned_volumes(client, namespace, claims).await.ok()?;
    if volumes.len() < 2 {
        return None;
    }
    let nodes = Api::<Node>::all(client.clone())
        .list(&kube::api::ListParams::default())
        .await
        .ok()?
        .items;
    if nodes
        .iter()
        .filter(|n| eligible(n, node_selector))
        .any(|n| volumes.iter().all(|v| fits(n, v)))
    {
        return None;
    }
    Some(
        volumes
            .iter()
            .map(|v| v.metadata.name.clone().unwrap_or_default())
            .collect(),
    )
}

/// Whether a pod with `node_selector` and no tolerations may be scheduled on
/// `node`: schedulable, untainted for scheduling, every selected label there.
pub fn eligible(node: &Node, node_selector: &BTreeMap<String, String>) -> bool {
    let spec = node.spec.as_ref();
    let cordoned = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let tainted = spec
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|t| t.iter().any(|t| t.effect != "PreferNoSchedule"));
    let labels = node.metadata.labels.as_ref();
    let selected = node_selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
    !cordoned && !tainted && selected
}

fn terms(pv: &PersistentVolume) -> &[NodeSelectorTerm] {
    pv.spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
        .map_or(&[], |r| r.node_selector_terms.as_slice())
}

/// Whether `node` may mount `pv`: its terms are ORed, a term's requirements
/// ANDed; no terms, no constraint.
pub fn fits(node: &Node, pv: &PersistentVolume) -> bool {
    let terms = terms(pv);
    terms.is_empty() || terms.iter().any(|t| term_matches(node, t))
}

fn term_matches(node: &Node, term: &NodeSelectorTerm) -> bool {
    let labels = node.metadata.labels.as_ref();
    let name = node.metadata.name.as_deref();
    let by_label = term
        .match_expressions
        .iter()
        .flatten()
        .all(|r| requirement(labels.and_then(|l| l.get(&r.key)).map(String::as_str), r));
    let by_field = term.match_fields.iter().flatten().all(|r| {
        let value = (r.key == "metadata.name").then_some(name).flatten();
        requirement(value, r)
    });
    // A term that requires nothing matches no node (the scheduler's rule).
    let empty = term.match_expressions.as_ref().is_none_or(Vec::is_empty)
        && term.match_fields.as_ref().is_none_or(Vec::is_empty);
    !empty && by_label && by_field
}

fn requirement(value: Option<&str>, r: &NodeSelectorRequirement) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| values.iter().all(|x| x != v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(number),
                values.first().and_then(|b| number(b)),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, zone: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name,
                "topology.kubernetes.io/zone": zone,
                "cpus": "16",
            }},
        }))
        .unwrap()
    }

    fn pv(terms: &serde_json::Value) -> PersistentVolume {
        serde_json::from_value(json!({
            "metadata": {"name": "pv"},
            "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": terms}}},
        }))
        .unwrap()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> serde_json::Value {
        json!({"matchExpressions": [{"key": key, "operator": op, "values": values}]})
    }

    #[test]
    fn a_local_volume_fits_its_node_only_and_a_zonal_one_its_zone() {
        let (a, b) = (node("n1", "eu-1a"), node("n2", "eu-1b"));
        let local = pv(&json!([expr("kubernetes.io/hostname", "In", &["n1"])]));
        assert!(fits(&a, &local));
        assert!(!fits(&b, &local));
        let zonal = pv(&json!([expr(
            "topology.kubernetes.io/zone",
            "In",
            &["eu-1b", "eu-1c"]
        )]));
        assert!(!fits(&a, &zonal));
        assert!(fits(&b, &zonal));
        // Terms are ORed.
        let either = pv(&json!([
            expr("kubernetes.io/hostname", "In", &["n1"]),
            expr("topology.kubernetes.io/zone", "In", &["eu-1b"]),
        ]));
        assert!(fits(&a, &either) && fits(&b, &either));
        // No affinity: anywhere.
        let free: PersistentVolume = serde_json::from_value(json!({"spec": {}})).unwrap();
        assert!(fits(&a, &free));
    }

    #[test]
    fn a_pod_goes_only_to_a_schedulable_untainted_node_it_selects() {
        let plain = node("n1", "eu-1a");
        let none = BTreeMap::new();
        assert!(eligible(&plain, &none));
        let zone = BTreeMap::from([(
            "topology.kubernetes.io/zone".to_string(),
            "eu-1b".to_string(),
        )]);
        assert!(!eligible(&plain, &zone));
        let mut cordoned = plain.clone();
        cordoned.spec = Some(serde_json::from_value(json!({"unschedulable": true})).unwrap());
        assert!(!eligible(&cordoned, &none));
        let mut tainted = plain.clone();
        tainted.spec = Some(
            serde_json::from_value(
                json!({"taints": [{"key": "dedicated", "effect": "NoSchedule"}]}),
            )
            .unwrap(),
        );
        assert!(!eligible(&tainted, &none));
        tainted.spec = Some(
            serde_json::from_value(json!({"taints": [{"key": "x", "effect": "PreferNoSchedule"}]}))
                .unwrap(),
        );
        assert!(eligible(&tainted, &none), "only a preference");
    }

    #[test]
    fn every_operator_and_the_name_field() {
        let n = node("n1", "eu-1a");
        let one = |term: serde_json::Value| fits(&n, &pv(&json!([term])));
        assert!(one(expr(
            "topology.kubernetes.io/zone",
            "NotIn",
            &["eu-1b"]
        )));
        assert!(!one(expr(
            "topology.kubernetes.io/zone",
            "NotIn",
            &["eu-1a"]
        )));
        assert!(one(expr("gpu", "NotIn", &["a"])), "absent label: not in");
        assert!(one(expr("cpus", "Exists", &[])));
        assert!(!one(expr("gpu", "Exists", &[])));
        assert!(one(expr("gpu", "DoesNotExist", &[])));
        assert!(one(expr("cpus", "Gt", &["8"])));
        assert!(!one(expr("cpus", "Lt", &["8"])));
        assert!(
            !one(expr("kubernetes.io/hostname", "Gt", &["8"])),
            "not a number"
        );
        assert!(one(
            json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]})
        ));
        assert!(!one(
            json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]})
        ));
        // Requirements of one term are ANDed; an empty term matches nothing.
        assert!(!one(json!({"matchExpressions": [
            {"key": "cpus", "operator": "Exists"},
            {"key": "gpu", "operator": "Exists"},
        ]})));
        assert!(!one(json!({})));
    }
}
