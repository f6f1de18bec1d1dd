//! Preflight: everything that can be known before the first write (the API server's
//! reachability and version are the session's, see `cluster::Session::connect`):
//! every permission the plan needs (SelfSubjectAccessReview, reported together);
//! StorageClasses exist; requested CPU and memory against allocatable; the
//! Kubernetes version each component needs ([`kubernetes_versions`]); and the probes
//! of external services ([`external`]).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};

use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::Value;

use super::delegation::{ClusterWideNeed, cluster_wide_needs};
use super::failure::PreflightFailed;
use super::prepare::Prepared;
use super::progress::Reporter;
use crate::cluster::{Permission, Resolver, Session, denied_permissions};
use crate::model::{KubeRequirement, Manifest};
use crate::plan::Plan;
use crate::stacks::RbacSwitch;

/// What stackctl itself touches besides the plan: release records, the lock Lease,
/// pods and events for diagnosis.
fn own_permissions(namespace: &str) -> Vec<Permission> {
    let ns = Some(namespace.to_string());
    let mut out = Vec::new();
    for verb in ["get", "list", "create", "update", "delete"] {
        out.push(Permission {
            verb,
            group: String::new(),
            resource: "secrets".into(),
            namespace: ns.clone(),
        });
        out.push(Permission {
            verb,
            group: "coordination.k8s.io".into(),
            resource: "leases".into(),
            namespace: ns.clone(),
        });
    }
    for (group, resource) in [("", "pods"), ("", "events")] {
        for verb in ["list", "watch"] {
            out.push(Permission {
                verb,
                group: group.into(),
                resource: resource.into(),
                namespace: ns.clone(),
            });
        }
    }
    out
}

/// Every (verb, resource) the plan needs, with the components whose objects need
/// it (none for stackctl's own): apply is `patch` (and `create` for new objects),
/// waiting is `list`/`watch`, pruning is `delete`.
pub async fn required_permissions(
    resolver: &Resolver,
    manifests: &[Manifest],
    namespace: &str,
) -> Result<BTreeMap<Permission, BTreeSet<String>>> {
    let mut needed: BTreeMap<Permission, BTreeSet<String>> = BTreeMap::new();
    for m in manifests {
        let (ar, caps) = resolver.resolve(&m.api_version, &m.kind).await?;
        let ns = match caps.scope {
            kube::discovery::Scope::Namespaced => {
                Some(m.namespace.clone().unwrap_or_else(|| namespace.to_string()))
            }
            kube::discovery::Scope::Cluster => None,
        };
        for verb in ["get", "create", "patch", "list", "watch", "delete"] {
            let p = Permission {
                verb,
                group: ar.group.clone(),
                resource: ar.plural.clone(),
                namespace: ns.clone(),
            };
            needed.entry(p).or_default().insert(m.component.clone());
        }
    }
    for p in own_permissions(namespace) {
        needed.entry(p).or_default();
    }
    Ok(needed)
}

/// Storage classes the plan's PVCs name (or need as a default), checked against the
/// cluster. Returns human-readable problems.
pub async fn storage_problems(client: &Client, manifests: &[Manifest]) -> Result<Vec<String>> {
    let mut wanted: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
    for m in manifests {
        for (class, claim) in claimed_classes(m) {
            wanted.entry(class).or_default().push(claim);
        }
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let classes = match Api::<StorageClass>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(classes) => classes,
        // Namespace-scoped users often may not list cluster-wide StorageClasses; the
        // check is then skipped rather than blocking an install it cannot judge.
        Err(kube::Error::Api(s)) if s.code == 403 => {
            crate::output::warn(
                "cannot list StorageClasses (forbidden); skipping the storage check",
            );
            return Ok(Vec::new());
        }
        Err(e) => return Err(e).context("listing StorageClasses"),
    };
    let names: Vec<String> = classes
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    let has_default = classes.items.iter().any(|c| {
        c.metadata.annotations.as_ref().is_some_and(|a| {
            a.get("storageclass.kubernetes.io/is-default-class")
                .map(String::as_str)
                == Some("true")
                || a.get("storageclass.beta.kubernetes.io/is-default-class")
                    .map(String::as_str)
                    == Some("true")
        })
    });
    let available = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    };
    let mut problems = Vec::new();
    for (class, claims) in wanted {
        match class {
            Some(name) if !names.contains(&name) => problems.push(format!(
                "no StorageClass '{name}' (wanted by {}); available: {available} — set global.storageClass or <component>.persistence.storageClass",
                claims.join(", ")
            )),
            None if !has_default => problems.push(format!(
                "the cluster has no default StorageClass, and {} name none; available: {available} — set global.storageClass",
                claims.join(", ")
            )),
            _ => {}
        }
    }
    Ok(problems)
}

/// (storage class, claim description) of every PVC a manifest creates.
fn claimed_classes(m: &Manifest) -> Vec<(Option<String>, String)> {
    let class_of = |spec: &Value| spec["storageClassName"].as_str().map(str::to_string);
    match m.kind.as_str() {
        "PersistentVolumeClaim" => vec![(class_of(&m.body["spec"]), m.id())],
        "StatefulSet" => m.body["spec"]["volumeClaimTemplates"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| {
                        (
                            class_of(&t["spec"]),
                            format!(
                                "{} volume {}",
                                m.id(),
                                t["metadata"]["name"].as_str().unwrap_or("?")
                            ),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Total CPU (cores) and memory (bytes) requested by the plan's pods at full scale,
/// and the cluster's allocatable; a warning when requests exceed it.
pub async fn capacity_warning(client: &Client, manifests: &[Manifest]) -> Result<Option<String>> {
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await;
    // Listing nodes needs a cluster-wide permission many namespace users lack; the
    // check is advisory, so skip it then.
    let Ok(nodes) = nodes else { return Ok(None) };
    let node_count = nodes.items.len().max(1) as f64;
    let (mut cpu_alloc, mut mem_alloc) = (0.0, 0.0);
    for n in &nodes.items {
        if let Some(a) = n.status.as_ref().and_then(|s| s.allocatable.as_ref()) {
            cpu_alloc += a
                .get("cpu")
                .and_then(|q| crate::values::checks::parse_quantity(&q.0).ok())
                .unwrap_or(0.0);
            mem_alloc += a
                .get("memory")
                .and_then(|q| crate::values::checks::parse_quantity(&q.0).ok())
                .unwrap_or(0.0);
        }
    }
    let (mut cpu, mut mem) = (0.0, 0.0);
    for m in manifests {
        let replicas = match m.kind.as_str() {
            "Deployment" | "StatefulSet" => m.body["spec"]["replicas"].as_f64().unwrap_or(1.0),
            "DaemonSet" => node_count,
            "Job" => 1.0,
            _ => continue,
        };
        for c in m.body["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let req = &c["resources"]["requests"];
            cpu += replicas
                * req["cpu"]
                    .as_str()
                    .and_then(|q| crate::values::checks::parse_quantity(q).ok())
                    .unwrap_or(0.0);
            mem += replicas
                * req["memory"]
                    .as_str()
                    .and_then(|q| crate::values::checks::parse_quantity(q).ok())
                    .unwrap_or(0.0);
        }
    }
    let gib = |b: f64| b / (1024.0 * 1024.0 * 1024.0);
    if cpu > cpu_alloc || mem > mem_alloc {
        return Ok(Some(format!(
            "the release requests {cpu:.1} CPU and {:.1} GiB memory; the cluster's {} nodes have {cpu_alloc:.1} CPU and {:.1} GiB allocatable in all — pods may stay Pending",
            gib(mem),
            nodes.items.len(),
            gib(mem_alloc)
        )));
    }
    Ok(None)
}

/// Creates a namespace [`namespace_exists`] found missing; `false` when another
/// client created it in between.
pub async fn create_namespace(client: &Client, name: &str) -> Result<bool> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": name, "labels": { "app.kubernetes.io/managed-by": "stackctl" } }
    }))?;
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(false),
        Err(e) => Err(e).with_context(|| format!("creating namespace {name}")),
    }
}

/// What preflight found: every problem at once, and what it checked.
#[derive(Debug, Default)]
pub struct Report {
    pub permissions_checked: usize,
    pub denied: Vec<Permission>,
    /// The components that need the denied cluster-wide permissions, and how to
    /// install without them.
    pub cluster_wide: Vec<ClusterWideNeed>,
    pub storage: Vec<String>,
    /// Requests beyond what the nodes can allocate: a warning, since autoscalers and
    /// pending pods may still resolve it.
    pub capacity: Option<String>,
    /// What the caller found before: components the cluster is too old for, each
    /// with the ways out; a missing `backup.s3.existingSecret`.
    pub found: Vec<String>,
}

impl Report {
    /// Everything that stops the operation, worded for a person.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.denied.is_empty() {
            // One line per resource: the six verbs of a kind read as one want.
            let mut verbs: BTreeMap<String, Vec<&str>> = BTreeMap::new();
            for p in &self.denied {
                verbs.entry(p.target()).or_default().push(p.verb);
            }
            let list = verbs
                .iter()
                .map(|(target, verbs)| format!("    {target}: {}", verbs.join(", ")))
                .collect::<Vec<_>>()
                .join("\n");
            problems.push(format!(
                "you lack {} permissions the release needs:\n{list}",
                self.denied.len()
            ));
        }
        problems.extend(self.found.iter().cloned());
        problems.extend(self.cluster_wide.iter().map(ClusterWideNeed::problem));
        problems.extend(self.storage.iter().cloned());
        problems
    }

    /// The report as a result: [`PreflightFailed`] when anything stops the operation.
    pub fn ensure_passed(&self) -> Result<(), PreflightFailed> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PreflightFailed {
                problems,
                for_admin: self
                    .cluster_wide
                    .iter()
                    .filter_map(ClusterWideNeed::appendix)
                    .collect(),
            })
        }
    }
}

/// The components the cluster is too old for, as problems naming each with its
/// ways out. With `allow_unsupported` (`--allow-unsupported-kubernetes`) they are
/// warned about instead, and none is returned.
pub fn kubernetes_versions(
    session: &Session,
    reporter: &Reporter,
    requirements: &[KubeRequirement],
    allow_unsupported: bool,
) -> Vec<String> {
    let unmet: Vec<String> = requirements
        .iter()
        .filter_map(|r| r.unmet(session.caps, &session.server_version))
        .collect();
    if allow_unsupported {
        for u in &unmet {
            reporter.warn(format!(
                "{u} (going on: --allow-unsupported-kubernetes; it may install and not work)"
            ));
        }
        return Vec::new();
    }
    unmet
        .into_iter()
        .map(|u| format!("{u}; or, at your own risk, --allow-unsupported-kubernetes"))
        .collect()
}

/// Every check that needs the cluster but writes nothing: permissions the plan needs
/// (plus creating the namespace, when the caller found it missing and will create
/// it), storage classes, capacity. `switches`: the components whose RBAC an admin
/// may create instead (none when the values cannot change, as in a rollback).
/// `found`: problems the caller found (what [`kubernetes_versions`] found).
pub async fn check(
    session: &Session,
    plan: &Plan,
    namespace: &str,
    creates_namespace: bool,
    switches: &[RbacSwitch],
    found: Vec<String>,
) -> Result<Report> {
    let manifests: Vec<Manifest> = plan.manifests().cloned().collect();
    let mut needed = required_permissions(&session.resolver, &manifests, namespace)
        .await
        .map_err(|e| PreflightFailed {
            problems: vec![format!("{e:#}")],
            for_admin: Vec::new(),
        })?;
    if creates_namespace {
        needed
            .entry(Permission {
                verb: "create",
                group: String::new(),
                resource: "namespaces".into(),
                namespace: None,
            })
            .or_default();
    }
    let wanted: Vec<Permission> = needed.keys().cloned().collect();
    let denied = denied_permissions(&session.client, &wanted).await?;
    Ok(Report {
        permissions_checked: wanted.len(),
        cluster_wide: cluster_wide_needs(&denied, &needed, &manifests, switches)?,
        denied,
        storage: storage_problems(&session.client, &manifests).await?,
        capacity: capacity_warning(&session.client, &manifests).await?,
        found,
    })
}

/// [`run`] for a plan rendered from `prepared` (install, upgrade): with the stack's
/// RBAC switches and its components' minimum Kubernetes versions.
pub async fn run_rendered(
    session: &Session,
    reporter: &Reporter,
    prepared: &Prepared,
    plan: &Plan,
    creates_namespace: bool,
    allow_unsupported_kubernetes: bool,
) -> Result<Report> {
    let mut found = kubernetes_versions(
        session,
        reporter,
        &prepared.stack.kube_requirements(&prepared.values)?,
        allow_unsupported_kubernetes,
    );
    // The backup Jobs would wait for a mount that never comes.
    if let Some(s3) = prepared.stack.backup_settings(&prepared.values)?.s3
        && let Err(e) =
            super::backup::s3_credentials(&session.client, &prepared.release.namespace, &s3).await
    {
        found.push(e.0);
    }
    run(
        session,
        reporter,
        plan,
        &prepared.release.namespace,
        creates_namespace,
        prepared.stack.rbac_switches(),
        found,
    )
    .await
}

/// Runs [`check`], reports it, and fails with [`PreflightFailed`] on any problem.
pub async fn run(
    session: &Session,
    reporter: &Reporter,
    plan: &Plan,
    namespace: &str,
    creates_namespace: bool,
    switches: &[RbacSwitch],
    found: Vec<String>,
) -> Result<Report> {
    let report = check(session, plan, namespace, creates_namespace, switches, found).await?;
    report.ensure_passed()?;
    if let Some(w) = &report.capacity {
        reporter.warn(w);
    }
    reporter.info(format!(
        "preflight passed ({} permissions checked)",
        report.permissions_checked
    ));
    Ok(report)
}

/// Probes of the external dependencies (`<dependency>.enabled=false`) before anything
/// of the release is written, so that a wrong host or password stops the operation
/// here. Their Jobs and a temporary credentials Secret are the only writes, and are
/// deleted again (see `probe::run_preflight_probes`).
pub async fn external(
    session: &Session,
    reporter: &Reporter,
    prepared: &Prepared,
    plan: &crate::plan::Plan,
) -> Result<()> {
    let manifests: Vec<_> = plan.manifests().cloned().collect();
    let report = crate::probe::preflight_external(
        session,
        prepared.stack,
        &prepared.values,
        &prepared.release,
        &manifests,
        |r| reporter.info(format!("preflight probe {}: {}", r.job, r.result_text())),
    )
    .await?;
    if let Some(r) = report {
        reporter.info(format!(
            "preflight probes of external services: {}",
            r.summary()
        ));
    }
    Ok(())
}

/// Whether the namespace exists; without the right to read namespaces, assume it
/// does (later calls will tell).
pub async fn namespace_exists(client: &Client, ns: &str) -> Result<bool> {
    let api: Api<Namespace> = Api::all(client.clone());
    match api.get_opt(ns).await {
        Ok(found) => Ok(found.is_some()),
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(true),
        Err(e) => Err(e).with_context(|| format!("reading namespace {ns}")),
    }
}
