//! The release's PersistentVolumeClaims: pending (no class, a class that does not
//! exist, nobody to consume a `WaitForFirstConsumer` claim, a provisioner that does
//! not deliver), lost, and near full where the release's own Prometheus can tell.
//!
//! Usage comes only from the kubelet's `kubelet_volume_stats_*` series as the
//! release's Prometheus has scraped them, read through the API server's service
//! proxy. Never through `nodes/proxy`: that permission reaches every kubelet API.

use std::collections::BTreeMap;

use serde_json::Value;

use super::finding::{Check, Finding, Outcome, Severity, Skipped};
use crate::wait::json::{self, array_at, str_at};
use crate::wait::pods::claim_problem;
use crate::wait::storage::{BindingMode, claim_class};
use crate::wait::{ProblemKind, StorageClasses};

/// Used over capacity from which a volume is reported.
pub const WARN_FULL: f64 = 0.80;
pub const ERROR_FULL: f64 = 0.95;

/// Bytes used and capacity per claim name.
pub type Usage = BTreeMap<String, (f64, f64)>;

pub struct Facts<'a> {
    pub namespace: &'a str,
    /// The release's claims.
    pub claims: Vec<&'a Value>,
    /// Pods of the namespace, to tell whether anyone consumes a claim.
    pub pods: &'a [Value],
    pub classes: &'a StorageClasses,
    /// `Ok(None)`: the release has no Prometheus; `Err`: it did not answer.
    pub usage: Result<Option<Usage>, String>,
}

pub fn check(f: &Facts<'_>) -> Outcome {
    let mut out = Outcome::default();
    for pvc in &f.claims {
        let name = json::name(pvc);
        let component = json::label(pvc, "app.kubernetes.io/component").unwrap_or_default();
        let describe = format!("kubectl describe pvc -n {} {name}", f.namespace);
        if let Some(p) = claim_problem(pvc, f.classes) {
            let (severity, remedy) = match p.kind {
                ProblemKind::ClaimLost => (
                    Severity::Error,
                    format!(
                        "its PersistentVolume is gone and so is its data unless the volume can be restored; {describe}"
                    ),
                ),
                ProblemKind::MissingStorageClass => (
                    Severity::Error,
                    format!(
                        "create StorageClass {:?} or set {component}.persistence.storageClass (global.storageClass) to one of: {}",
                        p.storage_class.as_deref().unwrap_or_default(),
                        f.classes.names().join(", ")
                    ),
                ),
                _ => (
                    Severity::Error,
                    format!(
                        "the provisioner does not deliver: its events say why (capacity, quota, zone); {describe}"
                    ),
                ),
            };
            out.add(
                Finding::new(
                    Check::Volumes,
                    severity,
                    format!("PersistentVolumeClaim/{name}"),
                    p.reason,
                    format!("claim {name}: {}", p.message),
                    remedy,
                )
                .component(component),
            );
            continue;
        }
        if str_at(pvc, "status.phase") != Some("Bound") && !consumed(name, f.pods) {
            let class = claim_class(pvc)
                .and_then(|c| f.classes.get(c))
                .or_else(|| f.classes.default_class());
            if class.is_none_or(|c| c.binding == BindingMode::WaitForFirstConsumer) {
                out.add(
                    Finding::new(
                        Check::Volumes,
                        Severity::Warning,
                        format!("PersistentVolumeClaim/{name}"),
                        "NoConsumer",
                        format!(
                            "claim {name} waits for its first consumer and no pod uses it"
                        ),
                        format!(
                            "it binds when a pod using it is scheduled: check that {component}'s workload exists and is scaled up, or delete the claim if it is left over"
                        ),
                    )
                    .component(component),
                );
            }
        }
    }
    match &f.usage {
        Ok(Some(usage)) => {
            for pvc in &f.claims {
                let name = json::name(pvc);
                let Some((used, capacity)) = usage.get(name).filter(|(_, c)| *c > 0.0) else {
                    continue;
                };
                let ratio = used / capacity;
                if ratio < WARN_FULL {
                    continue;
                }
                let component = json::label(pvc, "app.kubernetes.io/component").unwrap_or_default();
                out.add(
                    Finding::new(
                        Check::Volumes,
                        if ratio >= ERROR_FULL { Severity::Error } else { Severity::Warning },
                        format!("PersistentVolumeClaim/{name}"),
                        "NearlyFull",
                        format!(
                            "claim {name} is {:.0}% full ({} of {})",
                            ratio * 100.0,
                            bytes(*used),
                            bytes(*capacity)
                        ),
                        format!(
                            "raise {component}.persistence.size (the StorageClass must allow expansion) or shorten the component's retention"
                        ),
                    )
                    .component(component),
                );
            }
        }
        Ok(None) => out.skip(Skipped::new(
            Check::Volumes,
            "volume usage",
            "the release has no Prometheus to read kubelet_volume_stats_* from",
        )),
        Err(why) => out.skip(Skipped::new(Check::Volumes, "volume usage", why.clone())),
    }
    out
}

fn consumed(claim: &str, pods: &[Value]) -> bool {
    pods.iter().any(|p| {
        array_at(p, "spec.volumes")
            .iter()
            .any(|v| str_at(v, "persistentVolumeClaim.claimName") == Some(claim))
    })
}

fn bytes(b: f64) -> String {
    const GI: f64 = 1024.0 * 1024.0 * 1024.0;
    const MI: f64 = 1024.0 * 1024.0;
    if b >= GI {
        format!("{:.1}Gi", b / GI)
    } else {
        format!("{:.0}Mi", b / MI)
    }
}

/// The Prometheus query's `data.result` as usage: `used` and `capacity` vectors
/// joined on the claim label.
pub fn usage_from(used: &Value, capacity: &Value) -> Usage {
    let series = |v: &Value| -> BTreeMap<String, f64> {
        array_at(v, "data.result")
            .iter()
            .filter_map(|r| {
                let claim = str_at(r, "metric.persistentvolumeclaim")?;
                let value = r["value"][1].as_str()?.parse().ok()?;
                Some((claim.to_string(), value))
            })
            .collect()
    };
    let capacity = series(capacity);
    series(used)
        .into_iter()
        .filter_map(|(claim, u)| Some((claim.clone(), (u, *capacity.get(&claim)?))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(name: &str, phase: &str, class: Option<&str>) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns",
                            "labels": {"app.kubernetes.io/component": "mysql"}},
               "spec": {"storageClassName": class},
               "status": {"phase": phase}})
    }

    fn run(claims: &[Value], pods: &[Value], usage: Result<Option<Usage>, String>) -> Outcome {
        let classes = StorageClasses::from_objects(&[json!({
            "metadata": {"name": "standard"}, "provisioner": "p",
            "volumeBindingMode": "WaitForFirstConsumer"
        })]);
        check(&Facts {
            namespace: "ns",
            claims: claims.iter().collect(),
            pods,
            classes: &classes,
            usage,
        })
    }

    #[test]
    fn a_claim_of_a_class_that_does_not_exist_is_an_error_naming_the_key() {
        let out = run(
            &[claim("data-mysql-0", "Pending", Some("fast"))],
            &[],
            Ok(None),
        );
        let f = &out.findings[0];
        assert_eq!(
            (f.reason.as_str(), f.severity),
            ("StorageClassNotFound", Severity::Error)
        );
        assert!(
            f.remedy.contains("mysql.persistence.storageClass"),
            "{}",
            f.remedy
        );
        assert!(f.remedy.contains("standard"), "{}", f.remedy);
    }

    #[test]
    fn a_waiting_claim_is_a_finding_only_without_a_consumer() {
        let c = claim("data-mysql-0", "Pending", Some("standard"));
        let out = run(std::slice::from_ref(&c), &[], Ok(None));
        assert_eq!(out.findings[0].reason, "NoConsumer");
        let pod = json!({"spec": {"volumes": [{"persistentVolumeClaim": {"claimName": "data-mysql-0"}}]}});
        assert!(run(&[c], &[pod], Ok(None)).findings.is_empty());
    }

    #[test]
    fn usage_is_reported_from_eighty_percent_and_skipped_without_prometheus() {
        let used = json!({"data": {"result": [
            {"metric": {"persistentvolumeclaim": "a"}, "value": [0, "85"]},
            {"metric": {"persistentvolumeclaim": "b"}, "value": [0, "10"]}]}});
        let cap = json!({"data": {"result": [
            {"metric": {"persistentvolumeclaim": "a"}, "value": [0, "100"]},
            {"metric": {"persistentvolumeclaim": "b"}, "value": [0, "100"]}]}});
        let usage = usage_from(&used, &cap);
        let out = run(
            &[claim("a", "Bound", None), claim("b", "Bound", None)],
            &[],
            Ok(Some(usage)),
        );
        assert_eq!(out.findings.len(), 1, "{:?}", out.findings);
        assert_eq!(
            (out.findings[0].object.as_str(), out.findings[0].severity),
            ("PersistentVolumeClaim/a", Severity::Warning)
        );
        let none = run(&[claim("a", "Bound", None)], &[], Ok(None));
        assert_eq!(none.skipped.len(), 1);
        assert!(none.findings.is_empty());
    }
}
