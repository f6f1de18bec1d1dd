//! `--prepull` (or `global.prepull`): the images of later phases are pulled on every
//! node that may run them while the earlier phases start, so that a phase's pods do not
//! begin with a pull once the phase before them is ready. Phases keep their order: the
//! pods made here never run an application.
//!
//! One DaemonSet per group of workloads that may run on the same nodes (the same
//! `nodeSelector`, tolerations and required node affinity) and per CPU architecture.
//! Each image is an init container whose command is a static no-op executable from a
//! ConfigMap mounted into it, so any image works, distroless ones too; the one app
//! container sleeps in the same way, in an image the node already has. The pull
//! secrets are the group's. The objects carry [`PREPULL_LABEL`] and no release
//! label: they are no part of a revision, and are deleted when the operation ends,
//! and before the next one starts (a killed run's), and by `uninstall`.
//!
//! They are created once the first components of the first phase with pods have
//! been applied, so the kubelet's serialized pulls (its default) take those pods'
//! images first.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::cluster::Permission;
use crate::model::{MANAGED_BY, Phase, ProbeSpec};
use crate::plan::Plan;

/// On every prepull object: the release it pulls for.
pub const PREPULL_LABEL: &str = "stackctl.dev/prepull";
/// Where the ConfigMap with the executables is mounted in every container.
const MOUNT: &str = "/stackctl-prepull";
/// The architectures [`noop`] and [`sleeper`] exist for, as nodes label them
/// (`kubernetes.io/arch`).
const ARCHES: [&str; 2] = ["amd64", "arm64"];
const ARCH_LABEL: &str = "kubernetes.io/arch";
/// The executables are Linux ones: Windows nodes (which label their architecture
/// alike) are left out.
const OS_LABEL: &str = "kubernetes.io/os";

/// What `--prepull` will create, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepull {
    pub release: String,
    pub namespace: String,
    /// The phase whose first components' apply starts the pull.
    pub phase: Phase,
    /// How many components of `phase` are applied first (those that depend on none
    /// of the phase: its first wave).
    pub after: usize,
    /// The first wave's workloads (not DaemonSets): the prepull waits until their
    /// pods are on nodes, so each kubelet has them before the prepull's pods.
    pub first: Vec<Value>,
    /// The ConfigMap, then the DaemonSets; empty when every group was skipped.
    pub objects: Vec<Value>,
    /// Distinct images pulled.
    pub images: usize,
    /// Groups whose nodes have no OS or architecture the executables exist for.
    pub skipped: Vec<String>,
}

/// One pod template's placement and images.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Placement {
    node_selector: BTreeMap<String, String>,
    /// Serialized: tolerations and affinity compare as JSON.
    tolerations: String,
    node_affinity: String,
}

#[derive(Debug, Default)]
struct Group {
    /// Image and pull policy, in the order the release needs them.
    images: Vec<(String, String)>,
    pull_secrets: BTreeSet<String>,
    tolerations: Value,
    node_affinity: Value,
}

/// The pod spec inside a workload object.
fn pod_spec(body: &Value) -> Option<&Value> {
    let spec = match body["kind"].as_str()? {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            &body["spec"]["template"]["spec"]
        }
        "CronJob" => &body["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        "Pod" => &body["spec"],
        _ => return None,
    };
    spec.is_object().then_some(spec)
}

/// A pod spec's images with their pull policy: init containers, then containers.
fn images_of(spec: &Value) -> Vec<(String, String)> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().into_iter().flatten())
        .filter_map(|c| {
            let image = c["image"].as_str()?.to_string();
            let policy = c["imagePullPolicy"]
                .as_str()
                .unwrap_or("IfNotPresent")
                .to_string();
            Some((image, policy))
        })
        .collect()
}

/// What `--prepull` creates for `plan` (and its probes, which run last), or `None`
/// when no later work has an image to pull early.
pub fn plan(plan: &Plan, probes: &[ProbeSpec], release: &str, namespace: &str) -> Option<Prepull> {
    // The first phase that runs pods: its first wave's pods are pulling their images
    // as the DaemonSets are made; everything after them is pulled early. An image a
    // later workload shares with the first wave is pulled too: its pod (MySQL's for
    // the schema Job) may land on another node, and the node that has it pays nothing.
    let (index, first) = plan.phases.iter().enumerate().find(|(_, p)| {
        p.waves
            .iter()
            .flat_map(|w| &w.manifests)
            .any(|m| pod_spec(&m.body).is_some())
    })?;
    let later = first.waves[1..]
        .iter()
        .chain(plan.phases[index + 1..].iter().flat_map(|p| &p.waves))
        .flat_map(|w| &w.manifests)
        .filter_map(|m| pod_spec(&m.body).cloned());
    let probe_specs = probes.iter().map(|p| {
        json!({
            "nodeSelector": p.node_selector,
            "imagePullSecrets": p.image_pull_secrets.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
            "containers": [{"image": p.image, "imagePullPolicy": p.pull_policy}],
        })
    });

    let mut groups: BTreeMap<Placement, Group> = BTreeMap::new();
    for spec in later.chain(probe_specs) {
        let node_selector: BTreeMap<String, String> = spec["nodeSelector"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
        let tolerations = spec["tolerations"].clone();
        let node_affinity =
            spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                .clone();
        let key = Placement {
            node_selector,
            tolerations: tolerations.to_string(),
            node_affinity: node_affinity.to_string(),
        };
        let group = groups.entry(key).or_insert_with(|| Group {
            tolerations,
            node_affinity,
            ..Group::default()
        });
        for (image, policy) in images_of(&spec) {
            if group.images.iter().any(|(i, _)| *i == image) {
                continue;
            }
            group.images.push((image, policy));
        }
        group.pull_secrets.extend(
            spec["imagePullSecrets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["name"].as_str().map(str::to_string)),
        );
    }
    groups.retain(|_, g| !g.images.is_empty());
    if groups.is_empty() {
        return None;
    }

    let mut objects = Vec::new();
    let mut images: BTreeSet<&str> = BTreeSet::new();
    let mut skipped = Vec::new();
    for (n, (placement, group)) in groups.iter().enumerate() {
        if let Some(os) = placement
            .node_selector
            .get(OS_LABEL)
            .filter(|os| *os != "linux")
        {
            skipped.push(format!("nodes labelled {OS_LABEL}={os}"));
            continue;
        }
        let arches: Vec<&str> = match placement.node_selector.get(ARCH_LABEL) {
            Some(a) if ARCHES.contains(&a.as_str()) => vec![a.as_str()],
            Some(a) => {
                skipped.push(format!("nodes labelled {ARCH_LABEL}={a}"));
                continue;
            }
            None => ARCHES.to_vec(),
        };
        for arch in arches {
            objects.push(daemon_set(release, namespace, n, arch, placement, group));
        }
        images.extend(group.images.iter().map(|(i, _)| i.as_str()));
    }
    // Nothing to run anywhere: nothing to create, only the skipped groups to tell.
    if !objects.is_empty() {
        objects.insert(0, config_map(release, namespace));
    }
    Some(Prepull {
        release: release.to_string(),
        namespace: namespace.to_string(),
        phase: first.phase,
        after: first.waves[0].components.len(),
        first: first.waves[0]
            .manifests
            .iter()
            .filter(|m| m.kind != "DaemonSet" && pod_spec(&m.body).is_some())
            .map(|m| m.body.clone())
            .collect(),
        objects,
        images: images.len(),
        skipped,
    })
}

fn labels(release: &str) -> Value {
    json!({
        "app.kubernetes.io/name": "stackctl-prepull",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        PREPULL_LABEL: release,
    })
}

fn config_map(release: &str, namespace: &str) -> Value {
    use base64::Engine as _;
    let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut data = serde_json::Map::new();
    for arch in ARCHES {
        data.insert(format!("noop-{arch}"), json!(b64(noop(arch))));
        data.insert(format!("sleep-{arch}"), json!(b64(sleeper(arch))));
    }
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": format!("{release}-prepull"), "namespace": namespace, "labels": labels(release)},
        "binaryData": data,
    })
}

/// Meets Pod Security `restricted`, so it runs in the release's namespace whatever
/// its level; the uid is fixed because an image's own user may be root.
fn container(name: &str, image: &str, policy: &str, program: &str) -> Value {
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": policy,
        "command": [format!("{MOUNT}/{program}")],
        "volumeMounts": [{"name": "prepull", "mountPath": MOUNT, "readOnly": true}],
        "resources": {
            "requests": {"cpu": "1m", "memory": "4Mi"},
            "limits": {"cpu": "10m", "memory": "16Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]},
        },
    })
}

fn daemon_set(
    release: &str,
    namespace: &str,
    index: usize,
    arch: &str,
    placement: &Placement,
    group: &Group,
) -> Value {
    let name = format!("{release}-prepull-{index}-{arch}");
    let mut selector = placement.node_selector.clone();
    selector.insert(ARCH_LABEL.to_string(), arch.to_string());
    selector.insert(OS_LABEL.to_string(), "linux".to_string());
    let init: Vec<Value> = group
        .images
        .iter()
        .enumerate()
        .map(|(i, (image, policy))| {
            container(&format!("pull-{i}"), image, policy, &format!("noop-{arch}"))
        })
        .collect();
    // The last image pulled is on the node by the time the app container starts.
    let (last, _) = group
        .images
        .last()
        .expect("groups without images are dropped");
    let sleeper = container("pulled", last, "IfNotPresent", &format!("sleep-{arch}"));
    let mut labels = labels(release);
    labels["stackctl.dev/prepull-set"] = json!(name);
    let mut pod = json!({
        "nodeSelector": selector,
        "imagePullSecrets": group.pull_secrets.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "initContainers": init,
        "containers": [sleeper],
        "volumes": [{
            "name": "prepull",
            "configMap": {"name": format!("{release}-prepull"), "defaultMode": 0o555},
        }],
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        // SIGTERM does not end the sleeper (PID 1 without a handler): nothing to drain.
        "terminationGracePeriodSeconds": 1,
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    });
    if !group.tolerations.is_null() {
        pod["tolerations"] = group.tolerations.clone();
    }
    if !group.node_affinity.is_null() {
        pod["affinity"] = json!({"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": group.node_affinity,
        }});
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace, "labels": labels.clone()},
        "spec": {
            "selector": {"matchLabels": {"stackctl.dev/prepull-set": name}},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    })
}

/// How many pods a workload wants, and which pods are its.
fn wanted(workload: &Value) -> (i64, Value) {
    let name = workload["metadata"]["name"].as_str().unwrap_or_default();
    match workload["kind"].as_str() {
        // The Job controller labels its pods with the Job's name.
        Some("Job") => (
            workload["spec"]["parallelism"].as_i64().unwrap_or(1),
            json!({"matchLabels": {"job-name": name}}),
        ),
        _ => (
            workload["spec"]["replicas"].as_i64().unwrap_or(1),
            workload["spec"]["selector"].clone(),
        ),
    }
}

/// Whether every workload of `first` has as many pods on nodes as it wants.
pub fn placed(first: &[Value], pods: &[Value]) -> bool {
    first.iter().all(|w| {
        let (want, selector) = wanted(w);
        let on_nodes = pods
            .iter()
            .filter(|p| {
                p["spec"]["nodeName"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty())
            })
            .filter(|p| crate::wait::pods::selector_matches(&selector, &p["metadata"]["labels"]))
            .count();
        i64::try_from(on_nodes).unwrap_or(i64::MAX) >= want
    })
}

/// Waits (at most `within`) until the first wave's pods are on nodes. The kubelet
/// pulls one image at a time, in the order its pods come (`serializeImagePulls`, the
/// default): were the prepull's pods first, a database of the first wave would wait
/// for every later image. A pod that cannot be placed holds the prepull back only
/// `within`.
pub async fn first_pods_placed(client: &Client, prepull: &Prepull, within: std::time::Duration) {
    use futures::StreamExt as _;
    use kube::runtime::{WatchStreamExt as _, watcher};
    if prepull.first.is_empty() {
        return;
    }
    let api: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(client.clone(), &prepull.namespace);
    let mut pods: BTreeMap<String, Value> = BTreeMap::new();
    let stream = watcher(api, watcher::Config::default())
        .backoff(crate::cluster::retry::WatchBackoff::default());
    let mut stream = std::pin::pin!(stream);
    let wait = async {
        while let Some(event) = stream.next().await {
            let Ok(event) = event else { continue };
            match event {
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                    let v = serde_json::to_value(&p).unwrap_or(Value::Null);
                    pods.insert(p.metadata.name.clone().unwrap_or_default(), v);
                }
                watcher::Event::Delete(p) => {
                    pods.remove(p.metadata.name.as_deref().unwrap_or_default());
                }
                watcher::Event::Init => pods.clear(),
                watcher::Event::InitDone => {}
            }
            let all: Vec<Value> = pods.values().cloned().collect();
            if placed(&prepull.first, &all) {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(within, wait).await;
}

/// The permissions `--prepull` needs besides the plan's, checked in preflight.
pub fn permissions(namespace: &str) -> Vec<Permission> {
    let mut out = Vec::new();
    for (group, resource) in [("apps", "daemonsets"), ("", "configmaps")] {
        for verb in [
            "get",
            "list",
            "create",
            "patch",
            "delete",
            "deletecollection",
        ] {
            out.push(Permission {
                verb,
                group: group.into(),
                resource: resource.into(),
                namespace: Some(namespace.to_string()),
            });
        }
    }
    out
}

/// Creates the objects (after removing what a killed run left).
pub async fn start(client: &Client, prepull: &Prepull) -> Result<()> {
    remove(client, &prepull.namespace, &prepull.release).await?;
    let params = PatchParams::apply(MANAGED_BY).force();
    for object in &prepull.objects {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let applied = match object["kind"].as_str() {
            Some("ConfigMap") => Api::<ConfigMap>::namespaced(client.clone(), &prepull.namespace)
                .patch(name, &params, &Patch::Apply(object))
                .await
                .map(drop),
            _ => Api::<DaemonSet>::namespaced(client.clone(), &prepull.namespace)
                .patch(name, &params, &Patch::Apply(object))
                .await
                .map(drop),
        };
        applied.with_context(|| {
            format!(
                "creating {}/{name}",
                object["kind"].as_str().unwrap_or_default()
            )
        })?;
    }
    Ok(())
}

/// How far the pull got on the nodes: (nodes done, nodes eligible), summed over the
/// DaemonSets.
pub async fn progress(client: &Client, namespace: &str, release: &str) -> Result<(i32, i32)> {
    let sets = Api::<DaemonSet>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&format!("{PREPULL_LABEL}={release}")))
        .await?;
    Ok(sets
        .items
        .iter()
        .filter_map(|d| d.status.as_ref())
        .fold((0, 0), |(done, all), s| {
            (done + s.number_ready, all + s.desired_number_scheduled)
        }))
}

/// Deletes every prepull object of `release`; how many DaemonSets there were.
pub async fn remove(client: &Client, namespace: &str, release: &str) -> Result<usize> {
    let params = ListParams::default().labels(&format!("{PREPULL_LABEL}={release}"));
    let delete = DeleteParams::background();
    let sets = Api::<DaemonSet>::namespaced(client.clone(), namespace)
        .delete_collection(&delete, &params)
        .await
        .context("deleting the prepull DaemonSets")?
        .left()
        .map_or(0, |l| l.items.len());
    Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .delete_collection(&delete, &params)
        .await
        .context("deleting the prepull ConfigMap")?;
    Ok(sets)
}

/// A static ELF64 executable with `code` as its only instructions, mapped at
/// 0x400000 right after the headers (ELF header, then one `PT_LOAD` program header
/// for the whole file). Written out here, not by a toolchain at build time: a few
/// dozen fixed bytes per architecture, and a cross toolchain is not in the build.
fn elf(machine: u16, code: &[u8]) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let size = HEADERS + code.len() as u64;
    let mut b = Vec::with_capacity(usize::try_from(size).unwrap_or_default());
    // e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, System V ABI, padding.
    b.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
    b.extend_from_slice(&machine.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes()); // e_version
    b.extend_from_slice(&(BASE + HEADERS).to_le_bytes()); // e_entry
    b.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    b.extend_from_slice(&0u64.to_le_bytes()); // e_shoff: no sections
    b.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    b.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
    b.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
    b.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    b.extend_from_slice(&[0; 6]); // e_shentsize, e_shnum, e_shstrndx
    b.extend_from_slice(&1u32.to_le_bytes()); // p_type: PT_LOAD
    b.extend_from_slice(&5u32.to_le_bytes()); // p_flags: R + X
    b.extend_from_slice(&0u64.to_le_bytes()); // p_offset
    b.extend_from_slice(&BASE.to_le_bytes()); // p_vaddr
    b.extend_from_slice(&BASE.to_le_bytes()); // p_paddr
    b.extend_from_slice(&size.to_le_bytes()); // p_filesz
    b.extend_from_slice(&size.to_le_bytes()); // p_memsz
    b.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    b.extend_from_slice(code);
    b
}

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

fn words(insns: &[u32]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_le_bytes()).collect()
}

/// Exits with status 0: `exit(0)`.
fn noop(arch: &str) -> Vec<u8> {
    match arch {
        // xor edi, edi; mov eax, 60 (exit); syscall
        "amd64" => elf(EM_X86_64, &[0x31, 0xff, 0xb8, 0x3c, 0, 0, 0, 0x0f, 0x05]),
        // mov x0, #0; mov x8, #93 (exit); svc #0
        _ => elf(EM_AARCH64, &words(&[0xd280_0000, 0xd280_0ba8, 0xd400_0001])),
    }
}

/// Sleeps until killed: `pause()` in a loop (arm64 has no `pause`:
/// `ppoll(NULL, 0, NULL, NULL)` waits the same way).
fn sleeper(arch: &str) -> Vec<u8> {
    match arch {
        // loop: mov eax, 34 (pause); syscall; jmp loop
        "amd64" => elf(EM_X86_64, &[0xb8, 0x22, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7]),
        // loop: mov x0..x3, #0; mov x8, #73 (ppoll); svc #0; b loop
        _ => elf(
            EM_AARCH64,
            &words(&[
                0xd280_0000,
                0xd280_0001,
                0xd280_0002,
                0xd280_0003,
                0xd280_0928,
                0xd400_0001,
                0x17ff_fffa,
            ]),
        ),
    }
}

#[cfg(test)]
mod tests;
