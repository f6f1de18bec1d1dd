//! What an operation knows about the release's pods before it changes anything, and
//! `--restart-failed`.
//!
//! A re-run after a fix meets the pods of the failed run: a container in
//! CrashLoopBackOff carries its old restarts, and the kubelet will not start it again
//! before its back-off (up to five minutes) runs out. [`baseline`] records each
//! container's restart count as the operation begins, so the wait counts only crashes
//! seen during this operation. [`restart_stuck`] goes further: after a component is
//! applied, it deletes the pods of its controllers that are stuck in
//! CrashLoopBackOff or ImagePullBackOff, so their controllers start them afresh now,
//! with the configuration just applied (a StatefulSet never replaces a pod that is not
//! ready by itself). Each pod's last state and log lines are kept first: once the pod
//! is gone, so is its log. A Job's pods are never deleted; each revision has its own
//! Jobs, so a retry runs new ones.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, LogParams};
use kube::{Api, Client};
use serde_json::Value;

use super::progress::Reporter;
use crate::model::{Manifest, RELEASE_LABEL};
use crate::release::RestartedPod;
use crate::wait::json::{self, array_at, int_at, str_at};
use crate::wait::pods::{is_job_pod, owned_pods};
use crate::wait::{Baseline, Diagnosis};

/// Log lines kept per restarted container.
const LOG_LINES: i64 = 10;
/// How long to wait for them.
const LOG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The waiting reasons a restart can cure: the kubelet's back-off is the only thing
/// between the pod and a fresh start.
const STUCK: [&str; 2] = ["CrashLoopBackOff", "ImagePullBackOff"];

/// The release's pods in `namespaces`, as JSON (see `wait::pods`).
async fn release_pods(client: &Client, namespace: &str, release: &str) -> kube::Result<Vec<Value>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pods = api
        .list(&ListParams::default().labels(&format!("{RELEASE_LABEL}={release}")))
        .await?;
    Ok(pods
        .items
        .into_iter()
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect())
}

/// Restart counts of the release's pods now. Without it every crash counts, as
/// before; so a failure to read is logged, not fatal.
pub async fn baseline(client: &Client, namespaces: &BTreeSet<String>, release: &str) -> Baseline {
    let mut pods = Vec::new();
    for ns in namespaces {
        match release_pods(client, ns, release).await {
            Ok(found) => pods.extend(found),
            Err(e) => tracing::debug!("listing the pods of {release} in {ns}: {e}"),
        }
    }
    Baseline::from_pods(&pods)
}

/// A pod to restart, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Stuck {
    pub pod: String,
    pub component: String,
    pub container: String,
    pub reason: String,
    pub restarts: u32,
    pub last_state: Value,
}

/// The pods of `workloads` (Deployments, StatefulSets, DaemonSets) whose container or
/// init container waits in one of [`STUCK`], once per pod. Job pods never are.
pub fn stuck<'a>(workloads: &[(&'a Manifest, &'a Value)], pods: &'a [Value]) -> Vec<Stuck> {
    let mut found: Vec<Stuck> = Vec::new();
    for (manifest, live) in workloads {
        for pod in owned_pods(live, pods) {
            if is_job_pod(pod) || json::at(pod, "metadata.deletionTimestamp").is_some() {
                continue;
            }
            let name = json::name(pod);
            if found.iter().any(|s| s.pod == name) {
                continue;
            }
            let statuses = array_at(pod, "status.initContainerStatuses")
                .iter()
                .chain(array_at(pod, "status.containerStatuses"));
            let hit = statuses
                .into_iter()
                .find(|c| str_at(c, "state.waiting.reason").is_some_and(|r| STUCK.contains(&r)));
            if let Some(c) = hit {
                found.push(Stuck {
                    pod: name.to_string(),
                    component: manifest.component.clone(),
                    container: str_at(c, "name").unwrap_or_default().to_string(),
                    reason: str_at(c, "state.waiting.reason")
                        .unwrap_or_default()
                        .to_string(),
                    restarts: json::count(int_at(c, "restartCount").unwrap_or(0)),
                    last_state: json::at(c, "lastState").cloned().unwrap_or(Value::Null),
                });
            }
        }
    }
    found
}

/// After a component was applied: deletes its stuck pods (see [`stuck`]), saying each, and
/// returns what they had to say. Best-effort: a pod that cannot be read or deleted
/// is left to the wait, which will diagnose it.
pub async fn restart_stuck(
    client: &Client,
    reporter: &Reporter,
    manifests: &[Manifest],
    release: &str,
) -> Vec<RestartedPod> {
    let workload_manifests: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| matches!(m.kind.as_str(), "Deployment" | "StatefulSet" | "DaemonSet"))
        .collect();
    let namespaces: BTreeSet<&str> = workload_manifests
        .iter()
        .filter_map(|m| m.namespace.as_deref())
        .collect();
    let mut restarted = Vec::new();
    for ns in namespaces {
        let pods = match release_pods(client, ns, release).await {
            Ok(p) => p,
            Err(e) => {
                reporter.warn(format!("--restart-failed: cannot list pods in {ns}: {e}"));
                continue;
            }
        };
        // The selectors come from what was just applied: the same as the live ones,
        // since a workload's selector is immutable.
        let workloads: Vec<(&Manifest, &Value)> = workload_manifests
            .iter()
            .filter(|m| m.namespace.as_deref() == Some(ns))
            .map(|m| (*m, &m.body))
            .collect();
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        for s in stuck(&workloads, &pods) {
            let log = last_log(&api, &s).await;
            match api.delete(&s.pod, &DeleteParams::default()).await {
                Ok(_) => reporter.info(format!(
                    "restarted pod {} ({}: {} of container {}, {} restarts)",
                    s.pod, s.component, s.reason, s.container, s.restarts
                )),
                Err(kube::Error::Api(e)) if e.is_not_found() => continue,
                Err(e) => {
                    reporter.warn(format!(
                        "--restart-failed: cannot delete pod {}: {e}",
                        s.pod
                    ));
                    continue;
                }
            }
            restarted.push(RestartedPod {
                pod: s.pod,
                component: s.component,
                container: s.container,
                reason: s.reason,
                restarts: s.restarts,
                last_state: s.last_state,
                log,
            });
        }
    }
    restarted
}

/// Adds to each diagnosis what the pods `--restart-failed` deleted for its component
/// last said: a replacement failing the same way is best explained by its predecessor,
/// whose log is gone with it.
pub fn recall(diagnoses: &mut [Diagnosis], restarted: &[RestartedPod]) {
    for d in diagnoses {
        for r in restarted.iter().filter(|r| r.component == d.component) {
            let last = &r.last_state["terminated"];
            let ended = match (last["reason"].as_str(), last["exitCode"].as_i64()) {
                (Some(reason), Some(code)) => {
                    format!(", last run ended {reason} (exit code {code})")
                }
                (None, Some(code)) => format!(", last run exited {code}"),
                _ => String::new(),
            };
            d.before_restart.push(format!(
                "pod {} ({} of container {}, {} restarts{ended})",
                r.pod, r.reason, r.container, r.restarts
            ));
            d.before_restart
                .extend(r.log.iter().map(|line| format!("  {line}")));
        }
    }
}

/// The previous run's last lines (a container in an image-pull back-off never ran:
/// its current log, which is empty, says so), or why there are none.
async fn last_log(api: &Api<Pod>, s: &Stuck) -> Vec<String> {
    let params = LogParams {
        container: Some(s.container.clone()),
        tail_lines: Some(LOG_LINES),
        previous: s.reason == "CrashLoopBackOff" && s.restarts > 0,
        ..LogParams::default()
    };
    // The kubelet answers through the API server; one that hangs must not hold up
    // the operation.
    let read = tokio::time::timeout(LOG_TIMEOUT, api.logs(&s.pod, &params)).await;
    match read {
        Ok(Ok(text)) if text.trim().is_empty() => vec!["(empty log)".to_string()],
        Ok(Ok(text)) => text.lines().map(str::to_string).collect(),
        Ok(Err(kube::Error::Api(e))) => vec![format!("no log available: {}", e.message)],
        Ok(Err(e)) => vec![format!("no log available: {e}")],
        Err(_) => vec![format!(
            "no log available: no answer within {}s",
            LOG_TIMEOUT.as_secs()
        )],
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment() -> Manifest {
        Manifest {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "cv-clickvisual".into(),
            namespace: Some("demo".into()),
            component: "clickvisual".into(),
            phase: crate::model::Phase::Apps,
            body: json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "cv-clickvisual", "namespace": "demo"},
                "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "clickvisual"}}}
            }),
        }
    }

    fn pod(name: &str, reason: Option<&str>, job: bool) -> Value {
        let mut p = json!({
            "metadata": {"name": name, "namespace": "demo", "uid": format!("uid-{name}"),
                "labels": {"app.kubernetes.io/name": "clickvisual"}},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "clickvisual", "restartCount": 4,
                "state": match reason {
                    Some(r) => json!({"waiting": {"reason": r}}),
                    None => json!({"running": {}}),
                },
                "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}}
            }]}
        });
        if job {
            p["metadata"]["labels"]["job-name"] = json!("cv-migrate");
        }
        p
    }

    #[test]
    fn only_pods_waiting_out_a_back_off_are_restarted() {
        let d = deployment();
        let pods = vec![
            pod("crash", Some("CrashLoopBackOff"), false),
            pod("pull", Some("ImagePullBackOff"), false),
            pod("fine", None, false),
            pod("config", Some("CreateContainerConfigError"), false),
            pod("job", Some("CrashLoopBackOff"), true),
        ];
        let found = stuck(&[(&d, &d.body)], &pods);
        let names: Vec<&str> = found.iter().map(|s| s.pod.as_str()).collect();
        assert_eq!(names, ["crash", "pull"]);
        assert_eq!(found[0].component, "clickvisual");
        assert_eq!(found[0].restarts, 4);
        assert_eq!(found[0].last_state["terminated"]["exitCode"], 3);
    }

    #[test]
    fn another_workloads_pods_are_left_alone() {
        let d = deployment();
        let mut other = pod("other", Some("CrashLoopBackOff"), false);
        other["metadata"]["labels"] = json!({"app.kubernetes.io/name": "mysql"});
        assert!(stuck(&[(&d, &d.body)], &[other]).is_empty());
    }

    #[test]
    fn a_diagnosis_quotes_the_pods_restarted_for_its_component() {
        let restarted = RestartedPod {
            pod: "cv-mysql-0".into(),
            component: "mysql".into(),
            container: "mysql".into(),
            reason: "CrashLoopBackOff".into(),
            restarts: 6,
            last_state: json!({"terminated": {"reason": "Error", "exitCode": 3}}),
            log: vec!["[ERROR] unknown variable 'x'".into()],
        };
        let target = crate::wait::diagnose::Target {
            kind: "StatefulSet".into(),
            name: "cv-mysql".into(),
            namespace: Some("demo".into()),
            component: "mysql".into(),
        };
        let status = crate::wait::ObjectStatus::in_progress("0/1 ready");
        let mut diagnoses = vec![
            crate::wait::diagnose::from_status(&target, &status, &[]),
            crate::wait::diagnose::from_status(
                &crate::wait::diagnose::Target {
                    component: "kafka".into(),
                    ..target.clone()
                },
                &status,
                &[],
            ),
        ];
        recall(&mut diagnoses, &[restarted]);
        assert_eq!(
            diagnoses[0].before_restart,
            [
                "pod cv-mysql-0 (CrashLoopBackOff of container mysql, 6 restarts, last run ended Error (exit code 3))",
                "  [ERROR] unknown variable 'x'"
            ]
        );
        assert!(diagnoses[0].to_string().contains("before the restart:"));
        assert!(
            diagnoses[1].before_restart.is_empty(),
            "another component's"
        );
    }

    #[test]
    fn the_baseline_keeps_each_containers_restarts() {
        let p = pod("crash", Some("CrashLoopBackOff"), false);
        let b = Baseline::from_pods([&p]);
        let mut problems = crate::wait::pods::pod_problems(
            &p,
            &std::collections::BTreeMap::default(),
            &crate::wait::StorageClasses::unknown(),
        );
        b.mark(&p, &mut problems);
        assert_eq!(problems[0].restarts_before, Some(4));
        assert!(problems[0].is_stale());
    }
}
