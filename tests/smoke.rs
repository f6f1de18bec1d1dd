//! Smoke tests of the test control plane itself: the real apiserver, controllers and
//! scheduler plus simnode must make workloads look exactly as on a real cluster, and
//! every simnode fault must produce the state it promises. Each test has its own
//! namespace, waits with watches (never fixed sleeps), and bounds every wait by
//! `common::WAIT`.

mod common;

use std::fmt::Debug;
use std::pin::pin;

use futures::TryStreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, ContainerStatus, Event, Node, PersistentVolume, PersistentVolumeClaim, Pod,
    ServiceAccount,
};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::timeout;

use common::WAIT;

// ---------------------------------------------------------------------------
// helpers

/// A fresh namespace whose `default` ServiceAccount has its token: on 1.20 the
/// ServiceAccount admission plugin refuses bare pods until the token controller has
/// created it (controllers just retry, a test would fail).
async fn namespace(client: &Client, prefix: &str) -> String {
    let ns = common::namespace(client, prefix).await;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    wait_for(&accounts, "default", "a token secret", |sa| {
        sa.secrets.as_ref().is_some_and(|s| !s.is_empty())
    })
    .await;
    ns
}

async fn create<K>(client: &Client, ns: &str, manifest: Value) -> K
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + DeserializeOwned + Serialize,
    K::DynamicType: Default,
{
    let obj: K = serde_json::from_value(manifest).expect("manifest matches the type");
    let name = obj.meta().name.clone().unwrap_or_default();
    Api::<K>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {} {name}: {e}", K::kind(&Default::default())))
}

/// Waits until `name` satisfies `cond`; on timeout the panic shows the last state.
async fn wait_for<K>(api: &Api<K>, name: &str, what: &str, cond: impl Fn(&K) -> bool) -> K
where
    K: Resource + Clone + Debug + Send + DeserializeOwned + 'static,
{
    let waiting = await_condition(api.clone(), name, move |o: Option<&K>| o.is_some_and(&cond));
    match timeout(WAIT, waiting).await {
        Ok(Ok(Some(obj))) => obj,
        Ok(Ok(None)) => unreachable!("the condition requires an object"),
        Ok(Err(e)) => panic!("watching {name} for {what}: {e}"),
        Err(_) => {
            let last = api.get_opt(name).await;
            panic!("timed out after {WAIT:?} waiting for {name}: {what}\nlast state: {last:#?}")
        }
    }
}

/// Waits for an event about the object with `uid` that satisfies `cond`.
async fn wait_event(
    client: &Client,
    ns: &str,
    uid: &str,
    what: &str,
    cond: impl Fn(&Event) -> bool,
) -> Event {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    let config = watcher::Config::default().fields(&format!("involvedObject.uid={uid}"));
    let found = async {
        let mut events = pin!(watcher(api.clone(), config).applied_objects());
        while let Some(event) = events.try_next().await.expect("event watch") {
            if cond(&event) {
                return event;
            }
        }
        unreachable!("watch streams do not end")
    };
    if let Ok(event) = timeout(WAIT, found).await {
        event
    } else {
        let seen = api
            .list(&ListParams::default().fields(&format!("involvedObject.uid={uid}")))
            .await;
        let seen: Vec<_> = seen
            .map(|l| l.items.into_iter().map(|e| (e.reason, e.message)).collect())
            .unwrap_or_default();
        panic!("timed out after {WAIT:?} waiting for event: {what}\nevents seen: {seen:#?}")
    }
}

async fn faults(client: &Client, ns: &str, rules: Value) {
    let _: ConfigMap = create(
        client,
        ns,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "simnode-faults"}, "data": rules}),
    )
    .await;
}

fn pod_manifest(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": image}]}
    })
}

fn container<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == name)
}

fn init_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    pod.status
        .as_ref()?
        .init_container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == name)
}

fn waiting_reason(c: &ContainerStatus) -> Option<&str> {
    c.state.as_ref()?.waiting.as_ref()?.reason.as_deref()
}

fn waiting_message(c: &ContainerStatus) -> Option<&str> {
    c.state.as_ref()?.waiting.as_ref()?.message.as_deref()
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn pod_condition<'a>(pod: &'a Pod, type_: &str) -> Option<(&'a str, Option<&'a str>)> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)?;
    Some((c.status.as_str(), c.reason.as_deref()))
}

fn is_ready(pod: &Pod) -> bool {
    pod_condition(pod, "Ready").is_some_and(|(s, _)| s == "True")
}

fn pvc_phase(pvc: &PersistentVolumeClaim) -> &str {
    pvc.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn job_condition(job: &Job, type_: &str) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

async fn pods_with_label(client: &Client, ns: &str, selector: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(selector))
        .await
        .expect("list pods")
        .items
}

// ---------------------------------------------------------------------------
// workloads

#[tokio::test]
async fn deployment_becomes_available() {
    let client = common::cluster().await;
    let ns = namespace(&client, "smoke-deploy").await;
    let _: Deployment = create(
        &client,
        &ns,
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "nginx", "image": "nginx:1.25",
                        "readinessProbe": {"httpGet": {"path": "/", "port": 80}}
                    }]}
                }
            }
        }),
    )
    .await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    wait_for(&api, "web", "Available with 2 replicas", |d| {
        let s = d.status.clone().unwrap_or_default();
        s.available_replicas == Some(2)
            && s.conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Available" && c.status == "True")
    })
    .await;

    let pods = pods_with_label(&client, &ns, "app=web").await;
    assert_eq!(pods.len(), 2);
    let ips: Vec<&str> = pods
        .iter()
        .filter_map(|p| p.status.as_ref()?.pod_ip.as_deref())
        .collect();
    assert_eq!(ips.len(), 2);
    assert_ne!(ips[0], ips[1], "pod IPs are unique");
    for pod in &pods {
        assert_eq!(phase(pod), "Running");
        for t in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
            assert_eq!(pod_condition(pod, t).map(|c| c.0), Some("True"), "{t}");
        }
        let status = pod.status.as_ref().unwrap();
        assert!(status.host_ip.is_some() && status.start_time.is_some());
        let c = container(pod, "nginx").unwrap();
        assert!(c.ready && c.started == Some(true) && c.restart_count == 0);
        assert!(c.state.as_ref().unwrap().running.is_some());
        assert!(!c.image_id.is_empty() && c.container_id.is_some());
    }

    // kubelet's events: attributed to the node, pointing at the container.
    let pod = &pods[0];
    let node = pod.spec.as_ref().unwrap().node_name.clone().unwrap();
    let started = wait_event(&client, &ns, &pod.uid().unwrap(), "Started", |e| {
        e.reason.as_deref() == Some("Started")
    })
    .await;
    let source = started.source.unwrap();
    assert_eq!(source.component.as_deref(), Some("kubelet"));
    assert_eq!(source.host.as_deref(), Some(node.as_str()));
    let involved = started.involved_object;
    assert_eq!(involved.kind.as_deref(), Some("Pod"));
    assert_eq!(involved.api_version.as_deref(), Some("v1"));
    assert_eq!(
        involved.field_path.as_deref(),
        Some("spec.containers{nginx}")
    );
    for reason in ["Scheduled", "Pulling", "Pulled", "Created"] {
        wait_event(&client, &ns, &pod.uid().unwrap(), reason, |e| {
            e.reason.as_deref() == Some(reason)
        })
        .await;
    }
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn statefulset_with_claims_becomes_ready() {
    let client = common::cluster().await;
    let ns = namespace(&client, "smoke-sts").await;
    let _: k8s_openapi::api::core::v1::Service = create(
        &client,
        &ns,
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "db"},
            "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 3306}]}
        }),
    )
    .await;
    let _: StatefulSet = create(&client, &ns, json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {
                    "initContainers": [{"name": "init-perms", "image": "busybox:1.36"}],
                    "containers": [{
                        "name": "mysql", "image": "mysql:8.0",
                        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql"}]
                    }]
                }
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
            }]
        }
    }))
    .await;
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    wait_for(&api, "db", "2 ready replicas", |s| {
        s.status.as_ref().and_then(|s| s.ready_replicas) == Some(2)
    })
    .await;

    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    for i in 0..2 {
        let pvc = pvcs.get(&format!("data-db-{i}")).await.unwrap();
        assert_eq!(pvc_phase(&pvc), "Bound");
        let spec = pvc.spec.as_ref().unwrap();
        assert_eq!(
            spec.storage_class_name.as_deref(),
            Some("standard"),
            "default class applied"
        );
        let pod = pods.get(&format!("db-{i}")).await.unwrap();
        let node = pod.spec.as_ref().unwrap().node_name.clone().unwrap();
        let selected = pvc.annotations().get("volume.kubernetes.io/selected-node");
        assert_eq!(
            selected,
            Some(&node),
            "WaitForFirstConsumer picked the pod's node"
        );
        let init = init_container(&pod, "init-perms").unwrap();
        let done = init.state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!(
            (done.exit_code, done.reason.as_deref()),
            (0, Some("Completed"))
        );

        let pv = pvs.get(spec.volume_name.as_deref().unwrap()).await.unwrap();
        assert_eq!(
            pv.annotations()
                .get("pv.kubernetes.io/provisioned-by")
                .map(String::as_str),
            Some("stackctl.dev/simnode")
        );
        let pv_spec = pv.spec.unwrap();
        assert_eq!(pv_spec.claim_ref.unwrap().uid, pvc.uid());
        assert_eq!(pv_spec.capacity.unwrap()["storage"].0, "1Gi");
        assert_eq!(pv_spec.storage_class_name.as_deref(), Some("standard"));
        let affinity = serde_json::to_string(&pv_spec.node_affinity).unwrap();
        assert!(affinity.contains(&node), "{affinity}");
    }
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn immediate_claim_binds_without_a_pod_and_is_reclaimed() {
    let client = common::cluster().await;
    let ns = namespace(&client, "smoke-pvc").await;
    let _: PersistentVolumeClaim = create(
        &client,
        &ns,
        json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "quick"},
            "spec": {
                "storageClassName": "standard-immediate",
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "2Gi"}}
            }
        }),
    )
    .await;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    let pvc = wait_for(&pvcs, "quick", "Bound", |p| pvc_phase(p) == "Bound").await;
    assert_eq!(
        pvc.status.as_ref().unwrap().capacity.as_ref().unwrap()["storage"].0,
        "2Gi"
    );
    let pv_name = pvc.spec.unwrap().volume_name.unwrap();
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv = pvs.get(&pv_name).await.unwrap();
    assert_eq!(
        pv.spec
            .as_ref()
            .unwrap()
            .persistent_volume_reclaim_policy
            .as_deref(),
        Some("Delete")
    );

    // Reclaim policy Delete: once the claim is gone, so is the volume.
    pvcs.delete("quick", &DeleteParams::default())
        .await
        .unwrap();
    let uid = pv.uid().unwrap();
    let gone = await_condition(pvs.clone(), &pv_name, conditions::is_deleted(&uid));
    timeout(WAIT, gone)
        .await
        .expect("released PV deleted in time")
        .unwrap();
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn daemonset_runs_one_pod_per_node() {
    let client = common::cluster().await;
    let ns = namespace(&client, "smoke-ds").await;
    let _: DaemonSet = create(
        &client,
        &ns,
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [{"name": "fluent-bit", "image": "fluent/fluent-bit:2.2"}]
                    }
                }
            }
        }),
    )
    .await;
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .len();
    let nodes = i32::try_from(nodes).unwrap();
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), &ns);
    wait_for(&api, "agent", "a ready pod on every node", |d| {
        let s = d.status.clone().unwrap_or_default();
        s.desired_number_scheduled == nodes && s.number_ready == nodes
    })
    .await;
    let pods = pods_with_label(&client, &ns, "app=agent").await;
    let mut on: Vec<String> = pods
        .iter()
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect();
    on.sort();
    on.dedup();
    assert_eq!(on.len(), pods.len(), "one pod per node: {on:?}");
    assert_eq!(pods.len(), usize::try_from(nodes).unwrap());
    common::drop_namespace(&client, &ns).await;
}

fn job_manifest(name: &str, restart_policy: &str) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {
                "restartPolicy": restart_policy,
                "containers": [{"name": "probe", "image": "busybox:1.36", "command": ["true"]}]
            }}
        }
    })
}

#[tokio::test]
async fn job_completes() {
    let client = common::cluster().await;
    let ns = namespace(&client, "smoke-job").await;
    let _: Job = create(&client, &ns, job_manifest("once", "Never")).await;
    let api: Api<Job> = Api::namespaced(client.clone(), &ns);
    let job = wait_for(&api, "once", "Complete", |j| job_condition(j, "Complete")).await;
    assert_eq!(job.status.unwrap().succeeded, Some(1));
    let pods = pods_with_label(&client, &ns, "job-name=once").await;
    assert_eq!(pods.len(), 1);
    assert_eq!(phase(&pods[0]), "Succeeded");
    let done = container(&pods[0], "probe")
        .unwrap()
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (done.exit_code, done.reason.as_deref()),
        (0, Some("Completed"))
    );
    assert_eq!(
        pod_condition(&pods[0], "Ready"),
        Some(("False", Some("PodCompleted")))
    );
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn deleted_pod_is_removed() {
    let client = common::cluster().await;
    let ns = namespace(&client, "smoke-delete").await;
    let _: Pod = create(&client, &ns, pod_manifest("doomed", "nginx:1.25")).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = wait_for(&pods, "doomed", "Ready", is_ready).await;
    // The default 30s grace period: without a kubelet the pod would stay Terminating.
    pods.delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let uid = pod.uid().unwrap();
    let gone = await_condition(pods.clone(), "doomed", conditions::is_deleted(&uid));
    timeout(WAIT, gone)
        .await
        .expect("pod removed in time")
        .unwrap();
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn server_side_apply_conflict_without_force() {
    let client = common::cluster().await;
    let ns = namespace(&client, "smoke-ssa").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm = |owner: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {"owner": owner}});
    api.patch(
        "shared",
        &PatchParams::apply("alice"),
        &Patch::Apply(cm("alice")),
    )
    .await
    .unwrap();
    let err = api
        .patch(
            "shared",
            &PatchParams::apply("bob"),
            &Patch::Apply(cm("bob")),
        )
        .await
        .expect_err("bob does not own data.owner");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409, "{status:?}");
            assert_eq!(status.reason, "Conflict");
            assert!(status.message.contains("alice"), "{}", status.message);
        }
        other => panic!("expected a 409 Conflict, got {other}"),
    }
    // Forcing takes the field over.
    let cm = api
        .patch(
            "shared",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(cm("bob")),
        )
        .await
        .unwrap();
    assert_eq!(cm.data.unwrap()["owner"], "bob");
    common::drop_namespace(&client, &ns).await;
}

// ---------------------------------------------------------------------------
// faults

#[tokio::test]
async fn fault_crashloop() {
    let client = common::cluster().await;
    let ns = namespace(&client, "fault-crash").await;
    faults(
        &client,
        &ns,
        json!({"crash": "{pods: 'crash-*', fault: crashloop, exitCode: 3}"}),
    )
    .await;
    let pod: Pod = create(&client, &ns, pod_manifest("crash-0", "app:1")).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let crashing = wait_for(&pods, "crash-0", "CrashLoopBackOff after a restart", |p| {
        container(p, "app")
            .is_some_and(|c| waiting_reason(c) == Some("CrashLoopBackOff") && c.restart_count >= 1)
    })
    .await;
    let c = container(&crashing, "app").unwrap();
    assert!(!c.ready);
    assert!(
        waiting_message(c).unwrap().starts_with("back-off "),
        "{:?}",
        waiting_message(c)
    );
    assert!(
        waiting_message(c)
            .unwrap()
            .contains("restarting failed container=app pod=crash-0_")
    );
    let last = c.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (3, Some("Error")));
    assert!(last.started_at.is_some() && last.finished_at.is_some());
    assert_eq!(phase(&crashing), "Running");
    assert_eq!(
        pod_condition(&crashing, "Ready"),
        Some(("False", Some("ContainersNotReady")))
    );

    let restarts = c.restart_count;
    wait_for(&pods, "crash-0", "restartCount increasing", |p| {
        container(p, "app").is_some_and(|c| c.restart_count > restarts)
    })
    .await;
    let backoff = wait_event(&client, &ns, &pod.uid().unwrap(), "BackOff", |e| {
        e.reason.as_deref() == Some("BackOff")
    })
    .await;
    assert_eq!(backoff.type_.as_deref(), Some("Warning"));
    assert_eq!(
        backoff.message.as_deref(),
        Some("Back-off restarting failed container")
    );
    assert_eq!(
        backoff.involved_object.field_path.as_deref(),
        Some("spec.containers{app}")
    );
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn fault_crashloop_in_init_container() {
    let client = common::cluster().await;
    let ns = namespace(&client, "fault-initcrash").await;
    faults(
        &client,
        &ns,
        json!({"init": "{pods: 'boot-0', fault: crashloop, containers: 'wait-*'}"}),
    )
    .await;
    let _: Pod = create(
        &client,
        &ns,
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "boot-0"},
            "spec": {
                "initContainers": [{"name": "wait-db", "image": "busybox:1.36"}],
                "containers": [{"name": "app", "image": "app:1"}]
            }
        }),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let pod = wait_for(&pods, "boot-0", "init container in CrashLoopBackOff", |p| {
        init_container(p, "wait-db").is_some_and(|c| waiting_reason(c) == Some("CrashLoopBackOff"))
    })
    .await;
    assert_eq!(phase(&pod), "Pending");
    assert_eq!(
        pod_condition(&pod, "Initialized"),
        Some(("False", Some("ContainersNotInitialized")))
    );
    assert_eq!(
        waiting_reason(container(&pod, "app").unwrap()),
        Some("PodInitializing")
    );
    let last = init_container(&pod, "wait-db")
        .unwrap()
        .last_state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(last.exit_code, 1);
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn fault_never_ready() {
    let client = common::cluster().await;
    let ns = namespace(&client, "fault-never").await;
    faults(
        &client,
        &ns,
        json!({"lazy": "{pods: 'lazy-*', fault: never-ready}"}),
    )
    .await;
    let pod: Pod = create(&client, &ns, pod_manifest("lazy-0", "app:1")).await;
    let uid = pod.uid().unwrap();
    let unhealthy = wait_event(&client, &ns, &uid, "Unhealthy", |e| {
        e.reason.as_deref() == Some("Unhealthy")
    })
    .await;
    assert_eq!(unhealthy.type_.as_deref(), Some("Warning"));
    assert!(
        unhealthy
            .message
            .unwrap()
            .starts_with("Readiness probe failed:")
    );
    let pod = Api::<Pod>::namespaced(client.clone(), &ns)
        .get("lazy-0")
        .await
        .unwrap();
    assert_eq!(phase(&pod), "Running");
    let c = container(&pod, "app").unwrap();
    assert!(c.state.as_ref().unwrap().running.is_some());
    assert!(!c.ready);
    assert_eq!(
        pod_condition(&pod, "Ready"),
        Some(("False", Some("ContainersNotReady")))
    );
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn fault_image_pull() {
    let client = common::cluster().await;
    let ns = namespace(&client, "fault-pull").await;
    faults(
        &client,
        &ns,
        json!({"pull": "{pods: 'pull-*', fault: image-pull}"}),
    )
    .await;
    let image = "registry.example.com/team/missing:9.9";
    let pod: Pod = create(&client, &ns, pod_manifest("pull-0", image)).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let erring = wait_for(&pods, "pull-0", "ErrImagePull", |p| {
        container(p, "app").is_some_and(|c| waiting_reason(c) == Some("ErrImagePull"))
    })
    .await;
    assert_eq!(phase(&erring), "Pending");
    let backing_off = wait_for(&pods, "pull-0", "ImagePullBackOff", |p| {
        container(p, "app").is_some_and(|c| waiting_reason(c) == Some("ImagePullBackOff"))
    })
    .await;
    assert_eq!(phase(&backing_off), "Pending");
    let c = container(&backing_off, "app").unwrap();
    assert_eq!(
        waiting_message(c),
        Some(format!("Back-off pulling image \"{image}\"").as_str())
    );
    assert!(!c.ready);
    let failed = wait_event(&client, &ns, &pod.uid().unwrap(), "Failed to pull", |e| {
        e.reason.as_deref() == Some("Failed")
            && e.message
                .as_deref()
                .is_some_and(|m| m.starts_with("Failed to pull image"))
    })
    .await;
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert!(failed.message.unwrap().contains(image));
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn fault_exit_code_fails_the_job() {
    let client = common::cluster().await;
    let ns = namespace(&client, "fault-exit").await;
    faults(
        &client,
        &ns,
        json!({"exit": "{pods: 'doomed-*', fault: exit-code, exitCode: 42}"}),
    )
    .await;
    let _: Job = create(&client, &ns, job_manifest("doomed", "Never")).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    wait_for(&jobs, "doomed", "Failed", |j| job_condition(j, "Failed")).await;
    let pods = pods_with_label(&client, &ns, "job-name=doomed").await;
    assert_eq!(pods.len(), 1, "backoffLimit 0: no retry");
    assert_eq!(phase(&pods[0]), "Failed");
    let done = container(&pods[0], "probe")
        .unwrap()
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (done.exit_code, done.reason.as_deref()),
        (42, Some("Error"))
    );
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn fault_slow() {
    const DELAY: i64 = 8;
    let client = common::cluster().await;
    let ns = namespace(&client, "fault-slow").await;
    faults(
        &client,
        &ns,
        json!({"slow": format!("{{pods: 'slow-0', fault: slow, delaySeconds: {DELAY}}}")}),
    )
    .await;
    let _: Pod = create(&client, &ns, pod_manifest("slow-0", "app:1")).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let running = wait_for(&pods, "slow-0", "container running", |p| {
        container(p, "app").is_some_and(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
    })
    .await;
    assert!(!is_ready(&running), "not Ready as soon as it runs");
    assert!(!container(&running, "app").unwrap().ready);
    let ready = wait_for(&pods, "slow-0", "Ready", is_ready).await;
    let started = container(&ready, "app")
        .unwrap()
        .state
        .clone()
        .unwrap()
        .running
        .unwrap()
        .started_at
        .unwrap();
    let ready_at = ready
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .and_then(|c| c.last_transition_time.clone())
        .unwrap();
    // Times are whole seconds on the wire, hence the one second of slack.
    let waited = ready_at.0.as_second() - started.0.as_second();
    assert!(
        waited >= DELAY - 1,
        "Ready {waited}s after start, before the {DELAY}s delay"
    );
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn fault_pvc_never_bound() {
    let client = common::cluster().await;
    let ns = namespace(&client, "fault-pvc").await;
    faults(
        &client,
        &ns,
        json!({"held": "{pods: 'data-*-held', fault: pvc-never-bound}"}),
    )
    .await;
    let claim = |name: &str| {
        json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {
                "storageClassName": "standard-immediate",
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}}
            }
        })
    };
    // The held claim goes first, so its sibling binding proves simnode has seen both.
    let _: PersistentVolumeClaim = create(&client, &ns, claim("data-0-held")).await;
    let _: PersistentVolumeClaim = create(&client, &ns, claim("data-0-free")).await;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    wait_for(&pvcs, "data-0-free", "Bound", |p| pvc_phase(p) == "Bound").await;
    let held = pvcs.get("data-0-held").await.unwrap();
    assert_eq!(pvc_phase(&held), "Pending");
    assert!(held.spec.as_ref().unwrap().volume_name.is_none());
    let pv_name = format!("pvc-{}", held.uid().unwrap());
    assert!(
        Api::<PersistentVolume>::all(client.clone())
            .get_opt(&pv_name)
            .await
            .unwrap()
            .is_none()
    );
    common::drop_namespace(&client, &ns).await;
}
