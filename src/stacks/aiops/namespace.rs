//! The release namespace, carrying Pod Security admission labels when
//! `podSecurityPolicy.enabled` (the chart's PodSecurityPolicy no longer exists:
//! Kubernetes removed it in 1.25; Pod Security admission replaces it from 1.23, and
//! older API servers keep the labels without acting on them).
//!
//! The Namespace object is always rendered, so that turning the labels off removes
//! them (server-side apply drops fields its manager no longer sets); it is never
//! pruned or deleted by stackctl.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;

use super::Ctx;
use super::inhouse::Kind;
use super::values::{PodSecurityLevel, Values};
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;

pub const COMPONENT: &str = "namespace";

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Storage, "v1");
    let mut meta = b.cluster_meta(ctx.release.namespace.clone());
    let ps = &ctx.values.pod_security_policy;
    if ps.enabled {
        let level = effective_level(ctx.values);
        let labels = meta.labels.get_or_insert_with(BTreeMap::new);
        for (mode, level) in [
            ("enforce", level),
            ("warn", level),
            // The audit log shows what still stands between the platform and the
            // strictest profile.
            ("audit", PodSecurityLevel::Restricted),
        ] {
            labels.insert(
                format!("pod-security.kubernetes.io/{mode}"),
                level_str(level).into(),
            );
            labels.insert(
                format!("pod-security.kubernetes.io/{mode}-version"),
                "latest".into(),
            );
        }
    }
    b.push(Namespace {
        metadata: meta,
        ..Default::default()
    });
    Some(b.finish(vec![]))
}

pub fn level_str(l: PodSecurityLevel) -> &'static str {
    match l {
        PodSecurityLevel::Auto => "auto",
        PodSecurityLevel::Restricted => "restricted",
        PodSecurityLevel::Baseline => "baseline",
        PodSecurityLevel::Privileged => "privileged",
    }
}

/// The least permissive level every enabled component passes, with the reasons.
///
/// - `privileged`: Elasticsearch's init container that sets `vm.max_map_count` is
///   privileged; node-exporter reads the host (hostPath; host network and PID with
///   `nodeExporter.hostNetwork`).
/// - `baseline`: an in-house service run as its image's own user
///   (`securityContext.enabled=false`): `runAsNonRoot`, which `restricted`
///   requires, cannot be promised for an image stackctl does not know.
/// - `restricted`: everything else runs as a fixed non-root user, drops every
///   capability, forbids privilege escalation and uses the runtime's seccomp profile.
pub fn required_level(v: &Values) -> (PodSecurityLevel, Vec<String>) {
    let mut privileged: Vec<String> = Vec::new();
    if v.elasticsearch.enabled && v.elasticsearch.sysctl_init_container {
        privileged.push(
            "elasticsearch.sysctlInitContainer (a privileged init container sets vm.max_map_count)"
                .into(),
        );
    }
    if v.prometheus.enabled && v.node_exporter.enabled {
        // Baseline forbids both hostPath volumes and host namespaces.
        privileged.push(if v.node_exporter.host_network {
            "nodeExporter.enabled (hostPath mounts of /proc, /sys and /; host network and PID with nodeExporter.hostNetwork)"
        } else {
            "nodeExporter.enabled (hostPath mounts of /proc, /sys and /)"
        }
        .into());
    }
    if !privileged.is_empty() {
        return (PodSecurityLevel::Privileged, privileged);
    }
    // An in-house service run as the image's own user asserts nothing about it.
    let baseline: Vec<String> = Kind::ALL
        .into_iter()
        .filter(|k| {
            let s = k.values(v);
            s.enabled && !s.security_context.enabled
        })
        .map(|k| {
            format!(
                "{}.securityContext.enabled=false (the image's own user, unknown)",
                k.key()
            )
        })
        .collect();
    if !baseline.is_empty() {
        return (PodSecurityLevel::Baseline, baseline);
    }
    (PodSecurityLevel::Restricted, Vec::new())
}

/// The level enforced: the configured one, or the required one for `auto`.
pub fn effective_level(v: &Values) -> PodSecurityLevel {
    match v.pod_security_policy.enforce {
        PodSecurityLevel::Auto => required_level(v).0,
        l => l,
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;
    use super::*;

    fn labels(v: &Values) -> serde_json::Value {
        let all = render_all(v);
        let ns = find(component(&all, COMPONENT), "Namespace", "mon");
        assert_eq!(ns.namespace, None);
        assert_eq!(ns.phase.as_str(), "storage");
        ns.body["metadata"]["labels"].clone()
    }

    #[test]
    fn no_pod_security_labels_unless_enabled() {
        let l = labels(&values());
        assert!(l.get("pod-security.kubernetes.io/enforce").is_none(), "{l}");
        assert_eq!(l["stackctl.dev/release"], "ops");
    }

    #[test]
    fn privileged_while_elasticsearch_tunes_the_host() {
        let mut v = values();
        v.pod_security_policy.enabled = true;
        let l = labels(&v);
        assert_eq!(l["pod-security.kubernetes.io/enforce"], "privileged");
        assert_eq!(l["pod-security.kubernetes.io/warn"], "privileged");
        assert_eq!(l["pod-security.kubernetes.io/audit"], "restricted");
        assert_eq!(l["pod-security.kubernetes.io/enforce-version"], "latest");
    }

    #[test]
    fn baseline_or_restricted_without_host_access() {
        let mut v = values();
        v.pod_security_policy.enabled = true;
        v.elasticsearch.sysctl_init_container = false;
        v.node_exporter.enabled = false;
        // The in-house services run as uid 10001 by default: restricted holds.
        assert_eq!(
            labels(&v)["pod-security.kubernetes.io/enforce"],
            "restricted"
        );
        v.api_gateway.security_context.enabled = false;
        assert_eq!(labels(&v)["pod-security.kubernetes.io/enforce"], "baseline");
        v.api_gateway.enabled = false;
        assert_eq!(
            labels(&v)["pod-security.kubernetes.io/enforce"],
            "restricted"
        );
        v.pod_security_policy.enforce = PodSecurityLevel::Baseline;
        assert_eq!(labels(&v)["pod-security.kubernetes.io/enforce"], "baseline");
    }
}
