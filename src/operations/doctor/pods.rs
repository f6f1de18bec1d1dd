//! Pods of the release's workloads: crash loops, pulls, pods no node takes, pods
//! that run but are not ready, and restarts within the report's window — the
//! `describe pod` and `logs --previous` of the charts' troubleshooting lists.
//!
//! The same detection that fails an install early (`wait::pods`) finds the
//! problems; only what happened within the window counts as a restart, since one
//! restart last week is not a finding today.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::finding::{Check, Finding, Severity};
use crate::model::Manifest;
use crate::wait::diagnose::{self, Target};
use crate::wait::json::{self, array_at, int_at, str_at};
use crate::wait::pods::{owned_pods, pod_problems};
use crate::wait::{ProblemKind, State, StorageClasses, compute};

/// Kinds whose pods this check reads.
pub const WORKLOADS: [&str; 4] = ["Deployment", "StatefulSet", "DaemonSet", "Job"];

/// Problems of a pod's claim rather than of the pod.
pub const CLAIM_KINDS: [ProblemKind; 3] = [
    ProblemKind::ClaimPending,
    ProblemKind::MissingStorageClass,
    ProblemKind::ClaimLost,
];

/// Whose last log lines belong in a finding's evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRequest {
    pub pod: String,
    pub container: String,
    /// The previous (crashed) instance's log rather than the running one's.
    pub previous: bool,
}

/// A finding that may still get log lines.
#[derive(Debug)]
pub struct PodFinding {
    pub finding: Finding,
    pub log: Option<LogRequest>,
}

pub struct Facts<'a> {
    pub namespace: &'a str,
    /// The release's workloads as the cluster has them.
    pub workloads: Vec<(&'a Manifest, &'a Value)>,
    pub pods: &'a [Value],
    pub claims: &'a BTreeMap<String, Value>,
    pub classes: &'a StorageClasses,
    pub now: Timestamp,
    pub window: Duration,
}

pub fn check(f: &Facts<'_>) -> Vec<PodFinding> {
    let mut out = Vec::new();
    for (m, live) in &f.workloads {
        let target = Target {
            kind: m.kind.clone(),
            name: m.name.clone(),
            namespace: Some(f.namespace.to_string()),
            component: m.component.clone(),
        };
        let mut pods = owned_pods(live, f.pods);
        if m.kind == "Job" {
            // A Job's retries fail alike: the newest pod speaks for them.
            pods.sort_by_key(|p| {
                str_at(p, "metadata.creationTimestamp")
                    .unwrap_or_default()
                    .to_string()
            });
            pods.drain(..pods.len().saturating_sub(1));
        }
        let mut explained = false;
        for pod in &pods {
            for p in pod_problems(pod, f.claims, f.classes) {
                explained = true;
                if CLAIM_KINDS.contains(&p.kind) {
                    // The volumes check reports the claim itself.
                    continue;
                }
                let d = diagnose::from_problem(&target, &p, f.classes);
                let severity = Severity::Error;
                let log = match (p.kind, &p.pod, &p.container) {
                    (ProblemKind::CrashLoop | ProblemKind::JobPodFailed, Some(pod), Some(c)) => {
                        Some(LogRequest {
                            pod: pod.clone(),
                            container: c.clone(),
                            previous: p.kind == ProblemKind::CrashLoop,
                        })
                    }
                    _ => None,
                };
                out.push(PodFinding {
                    finding: Finding::new(
                        Check::Pods,
                        severity,
                        pod_id(p.pod.as_deref(), &d.object),
                        // The kind, not the diagnosis's reason with its exit code:
                        // scripts match on it.
                        p.kind.as_str(),
                        d.detail,
                        d.remedy,
                    )
                    .component(&m.component),
                    log,
                });
            }
        }
        out.extend(restarts(f, m, &pods));
        let status = compute(live);
        if !explained && status.state != State::Current {
            let d = diagnose::from_status(&target, &status, &pods);
            let severity = if status.state == State::Failed {
                Severity::Error
            } else {
                Severity::Warning
            };
            out.push(PodFinding {
                finding: Finding::new(
                    Check::Pods,
                    severity,
                    pod_id(d.pod.as_deref(), &d.object),
                    d.reason,
                    d.detail,
                    d.remedy,
                )
                .component(&m.component)
                .evidence([format!("{}: {}", d.object, status.message)]),
                log: None,
            });
        }
    }
    out
}

fn pod_id(pod: Option<&str>, object: &str) -> String {
    pod.map_or_else(|| object.to_string(), |p| format!("Pod/{p}"))
}

/// Containers that restarted within the window and are running again (a container
/// still crash-looping is already a finding of its own).
fn restarts(f: &Facts<'_>, m: &Manifest, pods: &[&Value]) -> Vec<PodFinding> {
    let mut out = Vec::new();
    let since = f.now - f.window;
    for pod in pods {
        let name = json::name(pod);
        for s in array_at(pod, "status.containerStatuses") {
            let restarts = int_at(s, "restartCount").unwrap_or(0);
            if restarts == 0 || str_at(s, "state.waiting.reason") == Some("CrashLoopBackOff") {
                continue;
            }
            let Some(last) = json::at(s, "lastState.terminated") else {
                continue;
            };
            let Some(finished) =
                str_at(last, "finishedAt").and_then(|t| t.parse::<Timestamp>().ok())
            else {
                continue;
            };
            if finished < since {
                continue;
            }
            let container = str_at(s, "name").unwrap_or_default();
            let reason = str_at(last, "reason").unwrap_or("Error");
            let code = int_at(last, "exitCode").unwrap_or_default();
            let hint = if reason == "OOMKilled" {
                format!(
                    "; it ran out of memory: raise {}.resources.limits.memory",
                    m.component
                )
            } else {
                String::new()
            };
            out.push(PodFinding {
                finding: Finding::new(
                    Check::Pods,
                    Severity::Warning,
                    format!("Pod/{name}"),
                    "Restarted",
                    format!(
                        "container {container} of pod {name} restarted {restarts} time{} (last at {finished}: {reason}, exit code {code}) and runs again",
                        if restarts == 1 { "" } else { "s" },
                    ),
                    format!(
                        "see why it stopped: kubectl logs -n {} {name} -c {container} --previous{hint}",
                        f.namespace
                    ),
                )
                .component(&m.component),
                log: Some(LogRequest {
                    pod: name.to_string(),
                    container: container.to_string(),
                    previous: true,
                }),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> (Manifest, Value) {
        let live = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "cv-clickvisual", "namespace": "ns", "generation": 1},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "cv"}}},
            "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1,
                       "availableReplicas": 1, "updatedReplicas": 1,
                       "conditions": [
                           {"type": "Available", "status": "True"},
                           {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
        });
        let m = Manifest::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "cv-clickvisual", "namespace": "ns",
                         "labels": {"app.kubernetes.io/component": "clickvisual"},
                         "annotations": {"stackctl.dev/phase": "apps"}},
            "spec": {}
        }))
        .unwrap();
        (m, live)
    }

    fn pod(statuses: &Value) -> Value {
        json!({
            "metadata": {"name": "cv-clickvisual-1", "namespace": "ns", "labels": {"app": "cv"}},
            "spec": {"containers": [{"name": "app", "image": "clickvisual:1"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": statuses}
        })
    }

    fn run(pods: &[Value], now: &str) -> Vec<PodFinding> {
        let (m, live) = deployment();
        let claims = BTreeMap::new();
        let classes = StorageClasses::unknown();
        check(&Facts {
            namespace: "ns",
            workloads: vec![(&m, &live)],
            pods,
            claims: &claims,
            classes: &classes,
            now: now.parse().unwrap(),
            window: Duration::from_secs(3600),
        })
    }

    #[test]
    fn a_restart_counts_only_within_the_window() {
        let p = pod(&json!([{"name": "app", "ready": true, "restartCount": 2,
            "state": {"running": {}},
            "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137,
                                         "finishedAt": "2026-11-30T10:00:00Z"}}}]));
        let recent = run(std::slice::from_ref(&p), "2026-11-30T10:30:00Z");
        assert_eq!(recent.len(), 1, "{recent:?}");
        let f = &recent[0].finding;
        assert_eq!(
            (f.reason.as_str(), f.severity),
            ("Restarted", Severity::Warning)
        );
        assert!(f.summary.contains("restarted 2 times"), "{}", f.summary);
        assert!(
            f.remedy.contains("clickvisual.resources.limits.memory"),
            "{}",
            f.remedy
        );
        assert_eq!(
            recent[0].log,
            Some(LogRequest {
                pod: "cv-clickvisual-1".into(),
                container: "app".into(),
                previous: true
            })
        );
        assert!(
            run(&[p], "2026-11-30T12:00:01Z").is_empty(),
            "an old restart is no finding"
        );
    }

    #[test]
    fn a_crash_loop_is_an_error_with_the_previous_log_wanted() {
        let p = pod(&json!([{"name": "app", "ready": false, "restartCount": 5,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
            "lastState": {"terminated": {"reason": "Error", "exitCode": 1,
                                         "finishedAt": "2026-11-30T10:00:00Z"}}}]));
        let found = run(&[p], "2026-11-30T10:00:30Z");
        assert_eq!(found.len(), 1, "{found:?}");
        let f = &found[0].finding;
        assert_eq!(
            (f.reason.as_str(), f.severity),
            ("CrashLoopBackOff", Severity::Error)
        );
        assert_eq!(f.object, "Pod/cv-clickvisual-1");
        assert!(found[0].log.as_ref().is_some_and(|l| l.previous));
    }

    #[test]
    fn a_healthy_pod_is_no_finding() {
        let p = pod(
            &json!([{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}]),
        );
        assert!(run(&[p], "2026-11-30T10:00:00Z").is_empty());
    }
}
