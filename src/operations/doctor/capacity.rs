//! Nodes: requests against allocatable, pressure conditions, readiness, cordons
//! and taints nothing of the release tolerates — what `kubectl top nodes` and
//! `describe node` are read for in the charts' lists, from the API alone (no
//! metrics-server needed: requests, not usage, decide where a pod fits).

use std::collections::BTreeMap;

use serde_json::Value;

use super::finding::{Check, Finding, Outcome, Severity, Skipped};
use crate::values::checks::parse_quantity;
use crate::wait::json::{self, array_at, str_at};

/// Requests over allocatable from which a node is reported as nearly full.
pub const FULL: f64 = 0.90;
const PRESSURES: [&str; 3] = ["MemoryPressure", "DiskPressure", "PIDPressure"];

pub struct Facts<'a> {
    /// `None`: nodes could not be listed.
    pub nodes: Option<&'a [Value]>,
    /// Every pod of the cluster, for the requests per node; `None` when they
    /// could not be listed (then only conditions and taints are checked).
    pub all_pods: Option<&'a [Value]>,
    /// The release's pods, for their tolerations.
    pub release_pods: Vec<&'a Value>,
}

pub fn check(f: &Facts<'_>) -> Outcome {
    let mut out = Outcome::default();
    let Some(nodes) = f.nodes else {
        out.skip(Skipped::new(
            Check::Capacity,
            "nodes",
            "nodes could not be listed (cluster-scoped read denied)",
        ));
        return out;
    };
    let requests = f.all_pods.map(requests_per_node);
    if requests.is_none() {
        out.skip(Skipped::new(
            Check::Capacity,
            "requests against allocatable",
            "pods of all namespaces could not be listed",
        ));
    }
    for node in nodes {
        let name = json::name(node);
        let object = format!("Node/{name}");
        let describe = format!("kubectl describe node {name}");
        if json::condition(node, "Ready").is_none_or(|c| !c.is_true()) {
            out.add(Finding::new(
                Check::Capacity,
                Severity::Error,
                &object,
                "NodeNotReady",
                format!("node {name} is not Ready: its pods are not served"),
                format!("see its conditions and the kubelet: {describe}"),
            ));
        }
        for pressure in PRESSURES {
            if let Some(c) = json::condition(node, pressure).filter(json::Condition::is_true) {
                out.add(
                    Finding::new(
                        Check::Capacity,
                        Severity::Warning,
                        &object,
                        pressure,
                        format!(
                            "node {name} reports {pressure}: the kubelet evicts pods to relieve it"
                        ),
                        format!("free resources on the node or add nodes; {describe}"),
                    )
                    .evidence([json::reason_message(c.reason, c.message)]),
                );
            }
        }
        if json::bool_at(node, "spec.unschedulable") == Some(true) {
            out.add(Finding::new(
                Check::Capacity,
                Severity::Info,
                &object,
                "Cordoned",
                format!("node {name} is cordoned: no new pod is placed on it"),
                format!("kubectl uncordon {name} once its maintenance is over"),
            ));
        }
        for taint in array_at(node, "spec.taints") {
            let effect = str_at(taint, "effect").unwrap_or_default();
            if effect == "PreferNoSchedule" || f.release_pods.is_empty() {
                continue;
            }
            if f.release_pods.iter().any(|p| tolerates(p, taint)) {
                continue;
            }
            let key = str_at(taint, "key").unwrap_or_default();
            let value = str_at(taint, "value")
                .map(|v| format!("={v}"))
                .unwrap_or_default();
            out.add(Finding::new(
                Check::Capacity,
                Severity::Info,
                &object,
                "Tainted",
                format!("node {name} carries taint {key}{value}:{effect}, which no pod of the release tolerates"),
                "the release cannot use this node; if it should, set the components' tolerations".to_string(),
            ));
        }
        if let Some(used) = requests.as_ref().and_then(|r| r.get(name)) {
            for (resource, requested) in [("cpu", used.0), ("memory", used.1)] {
                let Some(allocatable) = str_at(node, &format!("status.allocatable.{resource}"))
                    .and_then(|q| parse_quantity(q).ok())
                else {
                    continue;
                };
                if allocatable <= 0.0 || requested / allocatable < FULL {
                    continue;
                }
                out.add(Finding::new(
                    Check::Capacity,
                    Severity::Warning,
                    &object,
                    "NearlyFull",
                    format!(
                        "node {name}: pods request {:.0}% of its allocatable {resource}; a pod that must move or grow may not fit",
                        100.0 * requested / allocatable
                    ),
                    "add nodes, or lower the components' resources.requests".to_string(),
                ));
            }
        }
    }
    out
}

/// (cpu cores, memory bytes) requested by the running pods of each node. A pod
/// requests the larger of its containers' sum and its largest init container,
/// as the scheduler counts it.
pub fn requests_per_node(pods: &[Value]) -> BTreeMap<String, (f64, f64)> {
    let mut out: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for pod in pods {
        let Some(node) = str_at(pod, "spec.nodeName") else {
            continue;
        };
        if matches!(str_at(pod, "status.phase"), Some("Succeeded" | "Failed")) {
            continue;
        }
        let request = |c: &Value, r: &str| {
            str_at(c, &format!("resources.requests.{r}"))
                .and_then(|q| parse_quantity(q).ok())
                .unwrap_or(0.0)
        };
        let sum = |r: &str| -> f64 {
            array_at(pod, "spec.containers")
                .iter()
                .map(|c| request(c, r))
                .sum()
        };
        let init = |r: &str| -> f64 {
            array_at(pod, "spec.initContainers")
                .iter()
                .map(|c| request(c, r))
                .fold(0.0, f64::max)
        };
        let e = out.entry(node.to_string()).or_default();
        e.0 += sum("cpu").max(init("cpu"));
        e.1 += sum("memory").max(init("memory"));
    }
    out
}

/// Whether a pod's tolerations cover a taint (core/v1 semantics: empty key with
/// `Exists` tolerates everything; empty effect matches every effect).
fn tolerates(pod: &Value, taint: &Value) -> bool {
    let key = str_at(taint, "key").unwrap_or_default();
    let value = str_at(taint, "value").unwrap_or_default();
    let effect = str_at(taint, "effect").unwrap_or_default();
    array_at(pod, "spec.tolerations").iter().any(|t| {
        let t_key = str_at(t, "key").unwrap_or_default();
        let t_effect = str_at(t, "effect").unwrap_or_default();
        let exists = str_at(t, "operator") == Some("Exists");
        (t_effect.is_empty() || t_effect == effect)
            && ((t_key.is_empty() && exists)
                || (t_key == key && (exists || str_at(t, "value").unwrap_or_default() == value)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(conditions: &Value, taints: &Value) -> Value {
        json!({"metadata": {"name": "n1"},
               "spec": {"taints": taints},
               "status": {"conditions": conditions,
                          "allocatable": {"cpu": "2", "memory": "4Gi"}}})
    }

    #[test]
    fn pressure_not_ready_and_full_nodes_are_reported() {
        let n = node(
            &json!([{"type": "Ready", "status": "False"},
                    {"type": "DiskPressure", "status": "True", "reason": "KubeletHasDiskPressure"}]),
            &json!([]),
        );
        let pods = [json!({"spec": {"nodeName": "n1", "containers": [
                {"resources": {"requests": {"cpu": "1500m", "memory": "1Gi"}}},
                {"resources": {"requests": {"cpu": "400m"}}}]},
            "status": {"phase": "Running"}})];
        let out = check(&Facts {
            nodes: Some(&[n]),
            all_pods: Some(&pods),
            release_pods: vec![],
        });
        let reasons: Vec<&str> = out.findings.iter().map(|f| f.reason.as_str()).collect();
        assert_eq!(
            reasons,
            ["NodeNotReady", "DiskPressure", "NearlyFull"],
            "{:?}",
            out.findings
        );
        assert!(out.findings[2].summary.contains("95%") && out.findings[2].summary.contains("cpu"));
    }

    #[test]
    fn a_taint_is_reported_only_when_no_release_pod_tolerates_it() {
        let n = node(
            &json!([{"type": "Ready", "status": "True"}]),
            &json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
        );
        let plain = json!({"spec": {}});
        let tolerant = json!({"spec": {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db"}]}});
        let out = check(&Facts {
            nodes: Some(std::slice::from_ref(&n)),
            all_pods: None,
            release_pods: vec![&plain],
        });
        assert_eq!(out.findings.len(), 1);
        assert_eq!(
            (out.findings[0].reason.as_str(), out.findings[0].severity),
            ("Tainted", Severity::Info)
        );
        assert_eq!(out.skipped.len(), 1, "requests could not be summed");
        let out = check(&Facts {
            nodes: Some(&[n]),
            all_pods: None,
            release_pods: vec![&plain, &tolerant],
        });
        assert!(out.findings.is_empty());
    }

    #[test]
    fn without_nodes_the_check_is_skipped() {
        let out = check(&Facts {
            nodes: None,
            all_pods: None,
            release_pods: vec![],
        });
        assert!(out.findings.is_empty());
        assert_eq!(out.skipped[0].what, "nodes");
    }
}
