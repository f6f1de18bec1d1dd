//! Node registration and heartbeats: status conditions plus a Lease in
//! `kube-node-lease`, the two signals a real kubelet sends every ~10 s.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::DaemonEndpoint;
use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeStatus, NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;
use tracing::{info, warn};

use crate::{MANAGER, status_code};

pub const HEARTBEAT: Duration = Duration::from_secs(10);
const LEASE_NAMESPACE: &str = "kube-node-lease";
const LEASE_DURATION_SECONDS: i32 = 40;
pub const KUBELET_VERSION: &str = "v1.20.2";
/// Taints a node gets while not (yet) ready; the node lifecycle controller would lift
/// them, but it is disabled on the test control plane, so we do.
const NOT_READY_TAINTS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

#[derive(Debug, Clone)]
pub struct Capacity {
    pub cpu: String,
    pub memory: String,
    pub max_pods: u32,
}

#[derive(Debug, Clone)]
pub struct SimNode {
    pub name: String,
    pub ip: String,
    /// Where the API server reaches this node's exec endpoint on loopback (see
    /// `exec`); `None`: nowhere (10250 of an address nothing routes to).
    pub kubelet_port: Option<u16>,
    /// When Ready last turned True; kept across heartbeats as lastTransitionTime.
    ready_since: Timestamp,
}

impl SimNode {
    pub fn new(prefix: &str, index: usize, kubelet_port: Option<u16>) -> Self {
        Self {
            name: format!("{prefix}-{index}"),
            ip: format!("10.0.{}.{}", index / 200, 10 + index % 200),
            kubelet_port,
            ready_since: Timestamp::now(),
        }
    }
}

pub fn node_labels(name: &str) -> BTreeMap<String, String> {
    [
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", "amd64"),
        ("node.stackctl.dev/simulated", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub fn node_status(node: &SimNode, capacity: &Capacity, now: Timestamp) -> NodeStatus {
    let resources: BTreeMap<String, Quantity> = [
        ("cpu", capacity.cpu.clone()),
        ("memory", capacity.memory.clone()),
        ("pods", capacity.max_pods.to_string()),
        ("ephemeral-storage", "100Gi".to_owned()),
        ("hugepages-1Gi", "0".to_owned()),
        ("hugepages-2Mi", "0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Quantity(v)))
    .collect();
    let since = Time(node.ready_since);
    let condition = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(since.clone()),
    };
    NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        conditions: Some(vec![
            condition(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            condition(
                "DiskPressure",
                "False",
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
            ),
            condition(
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            condition(
                "Ready",
                "True",
                "KubeletReady",
                "kubelet is posting ready status",
            ),
        ]),
        addresses: Some(
            [
                ("InternalIP", node.ip.clone()),
                ("Hostname", node.name.clone()),
            ]
            .into_iter()
            // The API server dials this one first (`tests/cluster/up`); the
            // InternalIP stays the node's address for everything else.
            .chain(
                node.kubelet_port
                    .map(|_| ("InternalDNS", "127.0.0.1".to_owned())),
            )
            .map(|(type_, address)| NodeAddress {
                type_: type_.to_owned(),
                address,
            })
            .collect(),
        ),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: node.kubelet_port.map_or(10250, i32::from),
            }),
        }),
        node_info: Some(NodeSystemInfo {
            machine_id: stable_id(&node.name, "machine"),
            system_uuid: stable_id(&node.name, "system"),
            boot_id: stable_id(&node.name, "boot"),
            kernel_version: "6.1.0-simnode".to_owned(),
            os_image: "Debian GNU/Linux 12 (bookworm)".to_owned(),
            container_runtime_version: "containerd://1.6.20".to_owned(),
            kubelet_version: KUBELET_VERSION.to_owned(),
            kube_proxy_version: KUBELET_VERSION.to_owned(),
            operating_system: "linux".to_owned(),
            architecture: "amd64".to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn stable_id(name: &str, salt: &str) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    (name, salt).hash(&mut h);
    let a = h.finish();
    salt.hash(&mut h);
    format!("{a:016x}{:016x}", h.finish())
}

/// Creates or takes over the Node, then sends the first heartbeat so it is Ready and
/// schedulable before we return.
pub async fn register(client: &Client, node: &mut SimNode, capacity: &Capacity) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let existing = api
        .get_opt(&node.name)
        .await
        .with_context(|| format!("reading node {}", node.name))?;
    // A node we ran before keeps its Ready transition time; the cluster never saw it
    // go NotReady because nothing is watching heartbeats.
    if let Some(since) = existing.as_ref().and_then(ready_since) {
        node.ready_since = since;
    }
    let desired = Node {
        metadata: ObjectMeta {
            name: Some(node.name.clone()),
            labels: Some(node_labels(&node.name)),
            ..Default::default()
        },
        ..Default::default()
    };
    api.patch(
        &node.name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&desired),
    )
    .await
    .with_context(|| format!("applying node {}", node.name))?;
    heartbeat(client, node, capacity)
        .await
        .with_context(|| format!("first heartbeat of {}", node.name))?;
    info!(
        node = node.name,
        ip = node.ip,
        existed = existing.is_some(),
        "node registered"
    );
    Ok(())
}

fn ready_since(node: &Node) -> Option<Timestamp> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

pub async fn heartbeat(client: &Client, node: &SimNode, capacity: &Capacity) -> kube::Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let status = node_status(node, capacity, Timestamp::now());
    let updated = api
        .patch_status(
            &node.name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await?;
    let uid = updated.metadata.uid.clone().unwrap_or_default();
    lift_not_ready_taints(&api, updated).await?;
    renew_lease(client, node, uid).await
}

async fn lift_not_ready_taints(api: &Api<Node>, mut current: Node) -> kube::Result<()> {
    for _ in 0..5 {
        let taints = current
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        let keep: Vec<&Taint> = taints
            .iter()
            .filter(|t| !NOT_READY_TAINTS.contains(&t.key.as_str()))
            .collect();
        if keep.len() == taints.len() {
            return Ok(());
        }
        let name = current.metadata.name.clone().unwrap_or_default();
        // resourceVersion makes this a compare-and-swap: the taint list is replaced
        // wholesale, so a concurrent edit must not be overwritten.
        let patch = json!({
            "metadata": {"resourceVersion": current.metadata.resource_version},
            "spec": {"taints": keep},
        });
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                info!(node = name, "lifted not-ready taint");
                return Ok(());
            }
            Err(e) if status_code(&e) == Some(409) => current = api.get(&name).await?,
            Err(e) => return Err(e),
        }
    }
    warn!("gave up lifting taints after repeated conflicts; next heartbeat retries");
    Ok(())
}

async fn renew_lease(client: &Client, node: &SimNode, node_uid: String) -> kube::Result<()> {
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(node.name.clone()),
            namespace: Some(LEASE_NAMESPACE.to_owned()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".to_owned(),
                kind: "Node".to_owned(),
                name: node.name.clone(),
                uid: node_uid,
                ..Default::default()
            }]),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.name.clone()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(MicroTime(Timestamp::now())),
            ..Default::default()
        }),
    };
    let api: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    api.patch(
        &node.name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&lease),
    )
    .await
    .map(drop)
}

/// Heartbeats every node forever; a node deleted behind our back is registered again.
pub async fn keep_alive(client: Client, mut nodes: Vec<SimNode>, capacity: Capacity) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // registration just sent the first one
    loop {
        tick.tick().await;
        let beats = nodes.iter_mut().map(|node| {
            let client = client.clone();
            let capacity = capacity.clone();
            async move {
                match heartbeat(&client, node, &capacity).await {
                    Ok(()) => {}
                    Err(e) if status_code(&e) == Some(404) => {
                        warn!(node = node.name, "node disappeared; registering it again");
                        node.ready_since = Timestamp::now();
                        if let Err(e) = register(&client, node, &capacity).await {
                            warn!(node = node.name, "re-registration failed: {e:#}");
                        }
                    }
                    Err(e) => warn!(node = node.name, "heartbeat failed: {e}"),
                }
            }
        });
        futures::future::join_all(beats).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_ready_with_capacity() {
        let node = SimNode::new("simnode", 1, None);
        let cap = Capacity {
            cpu: "4".into(),
            memory: "8Gi".into(),
            max_pods: 110,
        };
        let s = node_status(&node, &cap, Timestamp::now());
        let alloc = s.allocatable.unwrap();
        assert_eq!(alloc["cpu"].0, "4");
        assert_eq!(alloc["memory"].0, "8Gi");
        assert_eq!(alloc["pods"].0, "110");
        let conds = s.conditions.unwrap();
        let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "True");
        assert!(
            conds
                .iter()
                .filter(|c| c.type_ != "Ready")
                .all(|c| c.status == "False")
        );
        assert_eq!(s.node_info.unwrap().kubelet_version, "v1.20.2");
        let addrs = s.addresses.unwrap();
        assert_eq!(addrs[0].address, "10.0.0.11");
        assert_eq!(addrs[1].address, "simnode-1");
    }

    #[test]
    fn labels_and_ids() {
        let l = node_labels("simnode-0");
        assert_eq!(l["kubernetes.io/hostname"], "simnode-0");
        assert_eq!(l["kubernetes.io/os"], "linux");
        assert_eq!(l["kubernetes.io/arch"], "amd64");
        assert_eq!(stable_id("a", "x"), stable_id("a", "x"));
        assert_ne!(stable_id("a", "x"), stable_id("b", "x"));
        assert_eq!(stable_id("a", "x").len(), 32);
    }
}
