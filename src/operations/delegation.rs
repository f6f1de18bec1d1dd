//! When preflight finds cluster-wide permissions denied, which components need them
//! and how to do without them: an admin creates the component's ServiceAccount and
//! RBAC (printed here as stackctl renders them) and the install uses those
//! (`<key>.rbac.create=false`), or the component stays off. "Get RBAC rights" is a
//! request admins refuse; "apply these three objects for Fluent Bit" is one they
//! can judge.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use serde_json::Value;

use crate::cluster::Permission;
use crate::model::{MANAGED_BY, Manifest, PHASE_ANNOTATION, RELEASE_LABEL, to_yaml};
use crate::stacks::{RBAC_KINDS, RbacSwitch};

/// A component whose objects need cluster-wide permissions the user lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterWideNeed {
    pub component: String,
    /// The denied cluster-wide resources, as `clusterroles.rbac.authorization.k8s.io`.
    pub resources: Vec<String>,
    /// How to install without them, when the component's RBAC can be an admin's.
    pub handover: Option<Handover>,
}

/// Letting an admin create a component's RBAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    /// The component's values key (`fluentbit`).
    pub key: &'static str,
    /// The account its pods run as, which the admin creates.
    pub service_account: String,
    /// `ServiceAccount`, `ClusterRole`, …: what the admin applies, in order.
    pub kinds: Vec<String>,
    /// Those objects as YAML documents for `kubectl apply -f -`.
    pub yaml: String,
    /// Denied resources the component needs besides its RBAC (Traefik's
    /// IngressClass): `rbac.create=false` does not spare them.
    pub remaining: Vec<String>,
}

impl ClusterWideNeed {
    /// One problem line for preflight's list: who needs what, and the ways out.
    pub fn problem(&self) -> String {
        let c = &self.component;
        let mut text = format!(
            "component {c} needs the cluster-wide {}",
            short(&self.resources)
        );
        if let Some(h) = &self.handover {
            let k = h.key;
            text.push_str(&format!(
                "; either\n    (a) an admin applies its {} (printed below) and you add\n        --set {k}.rbac.create=false --set {k}.serviceAccount.name={}",
                list(&h.kinds),
                h.service_account
            ));
            if !h.remaining.is_empty() {
                text.push_str(&format!(
                    "\n        ({c} still needs the cluster-wide {} then: ask an admin for those)",
                    short(&h.remaining)
                ));
            }
            text.push_str(&format!(
                "\n    (b) or you go without {c}: --set {k}.enabled=false"
            ));
        } else {
            text.push_str("; an admin must grant them");
        }
        text
    }

    /// The objects for the admin, introduced, or nothing.
    pub fn appendix(&self) -> Option<String> {
        let h = self.handover.as_ref()?;
        Some(format!(
            "{}'s {}, for an admin to apply (kubectl apply -f -):\n{}",
            self.component,
            list(&h.kinds),
            h.yaml
        ))
    }
}

/// Groups the denied cluster-wide permissions by the components whose objects need
/// them (`needed_by`: each permission's components), and finds each one's way out.
pub fn cluster_wide_needs(
    denied: &[Permission],
    needed_by: &BTreeMap<Permission, BTreeSet<String>>,
    manifests: &[Manifest],
    switches: &[RbacSwitch],
) -> Result<Vec<ClusterWideNeed>> {
    let mut by_component: BTreeMap<&str, BTreeSet<&Permission>> = BTreeMap::new();
    for p in denied.iter().filter(|p| p.namespace.is_none()) {
        for c in needed_by.get(p).into_iter().flatten() {
            by_component.entry(c).or_default().insert(p);
        }
    }
    let mut needs = Vec::new();
    for (component, permissions) in by_component {
        let resources = resources(permissions.iter().copied());
        let handover = match switches.iter().find(|s| s.component == component) {
            Some(switch) => handover(switch, component, &permissions, manifests)?,
            None => None,
        };
        needs.push(ClusterWideNeed {
            component: component.to_string(),
            resources,
            handover,
        });
    }
    Ok(needs)
}

fn handover(
    switch: &RbacSwitch,
    component: &str,
    permissions: &BTreeSet<&Permission>,
    manifests: &[Manifest],
) -> Result<Option<Handover>> {
    let mut objects: Vec<&Manifest> = manifests
        .iter()
        .filter(|m| m.component == component && RBAC_KINDS.contains(&m.kind.as_str()))
        .collect();
    objects.sort_by_key(|m| RBAC_KINDS.iter().position(|k| *k == m.kind));
    // Without a ServiceAccount of its own there is nothing to hand over (its RBAC
    // is already an admin's, and the denial is about something else).
    let Some(account) = objects.iter().find(|m| m.kind == "ServiceAccount") else {
        return Ok(None);
    };
    let mut yaml = String::new();
    for m in &objects {
        yaml.push_str("---\n");
        yaml.push_str(&to_yaml(&unowned(&m.body))?);
    }
    let mut kinds: Vec<String> = Vec::new();
    for m in &objects {
        if !kinds.contains(&m.kind) {
            kinds.push(m.kind.clone());
        }
    }
    Ok(Some(Handover {
        key: switch.key,
        service_account: account.name.clone(),
        kinds,
        yaml,
        remaining: resources(permissions.iter().copied().filter(|p| !is_rbac(p))),
    }))
}

/// Whether the permission is for one of [`RBAC_KINDS`].
fn is_rbac(p: &Permission) -> bool {
    match p.group.as_str() {
        "" => p.resource == "serviceaccounts",
        "rbac.authorization.k8s.io" => true,
        _ => false,
    }
}

/// `clusterroles.rbac.authorization.k8s.io`, each resource once, in order.
fn resources<'a>(permissions: impl Iterator<Item = &'a Permission>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in permissions {
        let r = if p.group.is_empty() {
            p.resource.clone()
        } else {
            format!("{}.{}", p.resource, p.group)
        };
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// The object as an admin should apply it: without the release label, stackctl's
/// managed-by and version labels and its phase annotation. stackctl prunes and
/// deletes only objects carrying its release label, so an admin's objects must not
/// look like the release's, or switching `rbac.create` back on and off (or an
/// uninstall) would remove what the admin made.
fn unowned(body: &Value) -> Value {
    let mut body = body.clone();
    let meta = &mut body["metadata"];
    if let Some(labels) = meta["labels"].as_object_mut() {
        labels.remove(RELEASE_LABEL);
        labels.remove("app.kubernetes.io/version");
        if labels
            .get("app.kubernetes.io/managed-by")
            .and_then(Value::as_str)
            == Some(MANAGED_BY)
        {
            labels.remove("app.kubernetes.io/managed-by");
        }
    }
    if let Some(annotations) = meta["annotations"].as_object_mut() {
        annotations.remove(PHASE_ANNOTATION);
        if annotations.is_empty() {
            meta.as_object_mut().map(|m| m.remove("annotations"));
        }
    }
    body
}

/// `clusterroles and clusterrolebindings`: resources without their group, which
/// the list of denied permissions above them already names in full.
fn short(resources: &[String]) -> String {
    let names: Vec<String> = resources
        .iter()
        .map(|r| r.split('.').next().unwrap_or(r).to_string())
        .collect();
    list(&names)
}

/// "A, B and C".
fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Capabilities, Release};
    use rand::SeedableRng;

    fn permission(verb: &'static str, group: &str, resource: &str) -> Permission {
        Permission {
            verb,
            group: group.into(),
            resource: resource.into(),
            namespace: None,
        }
    }

    /// ClickVisual's minimal profile as rendered, with `--set` flags.
    fn manifests(sets: &[&str]) -> Vec<Manifest> {
        let stack = crate::stacks::find("clickvisual").unwrap();
        let profile = crate::profiles::builtin()
            .into_iter()
            .find(|p| p.name == "minimal")
            .unwrap();
        let layers = [
            crate::values::Layer::defaults(stack.defaults_yaml()),
            crate::values::Layer::profile(&profile.name, &profile.source, profile.yaml.clone()),
        ];
        let flags: Vec<_> = sets
            .iter()
            .map(|s| crate::values::SetFlag::set(*s))
            .collect();
        let values = stack
            .resolve(&layers, &flags, &mut rand::rngs::StdRng::seed_from_u64(1))
            .unwrap();
        let release = Release {
            name: "cv".into(),
            namespace: "team".into(),
            stack: stack.name(),
            revision: 1,
        };
        stack
            .render(&values, &release, Capabilities::latest())
            .unwrap()
            .into_iter()
            .flat_map(|r| r.manifests)
            .collect()
    }

    /// What a namespace-bound user is denied, and who needs it.
    fn denied_rbac() -> (Vec<Permission>, BTreeMap<Permission, BTreeSet<String>>) {
        let mut denied = Vec::new();
        let mut needed_by = BTreeMap::new();
        for resource in ["clusterroles", "clusterrolebindings"] {
            for verb in ["create", "patch"] {
                let p = permission(verb, "rbac.authorization.k8s.io", resource);
                needed_by.insert(p.clone(), BTreeSet::from(["fluentbit".to_string()]));
                denied.push(p);
            }
        }
        (denied, needed_by)
    }

    #[test]
    fn fluent_bits_rbac_is_handed_to_an_admin_without_the_releases_marks() {
        let (denied, needed_by) = denied_rbac();
        let switches = crate::stacks::find("clickvisual").unwrap().rbac_switches();
        let needs = cluster_wide_needs(&denied, &needed_by, &manifests(&[]), switches).unwrap();
        assert_eq!(needs.len(), 1);
        let need = &needs[0];
        assert_eq!(need.component, "fluentbit");
        assert_eq!(
            need.resources,
            [
                "clusterrolebindings.rbac.authorization.k8s.io",
                "clusterroles.rbac.authorization.k8s.io"
            ]
        );
        let problem = need.problem();
        assert!(
            problem.contains(
                "--set fluentbit.rbac.create=false --set fluentbit.serviceAccount.name=cv-fluentbit"
            ),
            "{problem}"
        );
        assert!(
            problem.contains("--set fluentbit.enabled=false"),
            "{problem}"
        );
        let h = need.handover.as_ref().unwrap();
        assert_eq!(
            h.kinds,
            ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]
        );
        assert!(h.remaining.is_empty());

        // Three documents an admin can apply, none of them marked as the release's.
        let docs: Vec<Value> = h
            .yaml
            .split("---\n")
            .filter(|d| !d.trim().is_empty())
            .map(|d| serde_saphyr::from_str(d).unwrap())
            .collect();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0]["kind"], "ServiceAccount");
        assert_eq!(docs[0]["metadata"]["namespace"], "team");
        assert_eq!(docs[1]["kind"], "ClusterRole");
        assert_eq!(docs[1]["metadata"]["name"], "team-cv-fluentbit");
        assert_eq!(docs[2]["subjects"][0]["name"], "cv-fluentbit");
        for d in &docs {
            let labels = &d["metadata"]["labels"];
            assert!(labels.get(RELEASE_LABEL).is_none(), "{d}");
            assert!(labels.get("app.kubernetes.io/managed-by").is_none(), "{d}");
            assert_eq!(labels["app.kubernetes.io/component"], "fluentbit");
            assert!(d["metadata"].get("annotations").is_none(), "{d}");
        }
    }

    #[test]
    fn a_chosen_account_name_is_the_one_handed_over() {
        let (denied, needed_by) = denied_rbac();
        let switches = crate::stacks::find("clickvisual").unwrap().rbac_switches();
        let m = manifests(&["fluentbit.serviceAccount.name=logs"]);
        let needs = cluster_wide_needs(&denied, &needed_by, &m, switches).unwrap();
        let problem = needs[0].problem();
        assert!(
            problem.contains("--set fluentbit.serviceAccount.name=logs"),
            "{problem}"
        );
        assert!(needs[0].appendix().unwrap().contains("name: logs\n"));
    }

    #[test]
    fn components_without_a_switch_are_named_and_what_rbac_does_not_cover_is_said() {
        let mut needed_by = BTreeMap::new();
        let ns = permission("patch", "", "namespaces");
        let class = permission("create", "networking.k8s.io", "ingressclasses");
        let role = permission("create", "rbac.authorization.k8s.io", "clusterroles");
        needed_by.insert(ns.clone(), BTreeSet::from(["namespace".to_string()]));
        needed_by.insert(class.clone(), BTreeSet::from(["fluentbit".to_string()]));
        needed_by.insert(role.clone(), BTreeSet::from(["fluentbit".to_string()]));
        let switches = crate::stacks::find("clickvisual").unwrap().rbac_switches();
        let needs =
            cluster_wide_needs(&[ns, class, role], &needed_by, &manifests(&[]), switches).unwrap();
        assert_eq!(needs.len(), 2);
        assert_eq!(needs[0].component, "fluentbit");
        assert_eq!(
            needs[0].handover.as_ref().unwrap().remaining,
            ["ingressclasses.networking.k8s.io"]
        );
        let problem = needs[0].problem();
        assert!(
            problem.contains("still needs the cluster-wide ingressclasses then"),
            "{problem}"
        );
        assert_eq!(needs[1].component, "namespace");
        assert!(needs[1].handover.is_none());
        assert!(needs[1].problem().ends_with("an admin must grant them"));
        assert!(needs[1].appendix().is_none());
    }

    #[test]
    fn namespaced_denials_and_stackctls_own_are_no_components() {
        let secrets = Permission {
            namespace: Some("team".into()),
            ..permission("create", "", "secrets")
        };
        let needed_by = BTreeMap::from([(secrets.clone(), BTreeSet::from(["mysql".to_string()]))]);
        let needs = cluster_wide_needs(&[secrets], &needed_by, &[], &[]).unwrap();
        assert!(needs.is_empty());
    }
}
