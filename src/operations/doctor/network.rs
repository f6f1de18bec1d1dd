//! Services, Ingresses and NetworkPolicies: the `get svc` / `get ingress` of the
//! charts' troubleshooting lists, read for what breaks a flow — a Service with no
//! ready endpoint, an Ingress no controller serves, a TLS Secret that is missing,
//! and a policy that denies a connection the stack declares.

use std::collections::BTreeMap;

use serde_json::Value;

use super::finding::{Check, Finding, Outcome, Severity, Skipped};
use crate::model::{Manifest, Peer};
use crate::netpol::Evaluation;
use crate::wait::json::{self, array_at, str_at};

/// Legacy way of naming an Ingress's class, still honoured by controllers.
const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

pub struct Facts<'a> {
    pub namespace: &'a str,
    /// The release's Services and Ingresses as the cluster has them.
    pub services: Vec<(&'a Manifest, &'a Value)>,
    pub ingresses: Vec<(&'a Manifest, &'a Value)>,
    /// Endpoints objects by name.
    pub endpoints: &'a BTreeMap<String, Value>,
    /// `None` when they could not be listed.
    pub ingress_classes: Option<&'a [Value]>,
    /// TLS Secrets the Ingresses name: whether each exists (`None`: could not tell).
    pub tls_secrets: &'a BTreeMap<String, Option<bool>>,
}

pub fn check(f: &Facts<'_>) -> Outcome {
    let mut out = Outcome::default();
    for (m, svc) in &f.services {
        let selects = json::at(svc, "spec.selector")
            .and_then(Value::as_object)
            .is_some_and(|s| !s.is_empty());
        if !selects || str_at(svc, "spec.type") == Some("ExternalName") {
            continue;
        }
        let (ready, not_ready) = f.endpoints.get(&m.name).map_or((0, 0), addresses);
        if ready > 0 {
            continue;
        }
        out.add(
            Finding::new(
                Check::Network,
                Severity::Error,
                format!("Service/{}", m.name),
                "NoEndpoints",
                format!(
                    "Service {} has no ready endpoint{}: connections to it are refused",
                    m.name,
                    if not_ready > 0 {
                        format!(" ({not_ready} not ready)")
                    } else {
                        String::new()
                    }
                ),
                format!(
                    "its pods are not ready or its selector matches none: kubectl get endpoints -n {ns} {name}; kubectl get pods -n {ns} -l app.kubernetes.io/component={c}",
                    ns = f.namespace,
                    name = m.name,
                    c = m.component
                ),
            )
            .component(&m.component),
        );
    }
    for (m, ing) in &f.ingresses {
        ingress(f, m, ing, &mut out);
    }
    if f.ingress_classes.is_none() && !f.ingresses.is_empty() {
        out.skip(Skipped::new(
            Check::Network,
            "ingress classes",
            "IngressClasses could not be listed (cluster-scoped read denied)",
        ));
    }
    out
}

/// Ready and not-ready addresses of an Endpoints object.
fn addresses(ep: &Value) -> (usize, usize) {
    array_at(ep, "subsets").iter().fold((0, 0), |(r, n), s| {
        (
            r + array_at(s, "addresses").len(),
            n + array_at(s, "notReadyAddresses").len(),
        )
    })
}

fn ingress(f: &Facts<'_>, m: &Manifest, ing: &Value, out: &mut Outcome) {
    let object = format!("Ingress/{}", m.name);
    let class =
        str_at(ing, "spec.ingressClassName").or_else(|| json::annotation(ing, CLASS_ANNOTATION));
    let finding = |severity, reason: &str, summary: String, remedy: String| {
        Finding::new(Check::Network, severity, &object, reason, summary, remedy)
            .component(&m.component)
    };
    match (class, f.ingress_classes) {
        (None, Some(classes)) => {
            let default = classes
                .iter()
                .any(|c| json::annotation(c, DEFAULT_CLASS_ANNOTATION) == Some("true"));
            if !default {
                out.add(finding(
                    Severity::Warning,
                    "NoIngressClass",
                    format!("Ingress {} names no class and the cluster has no default IngressClass: no controller may serve it", m.name),
                    format!(
                        "set ingress.className to the class of your ingress controller ({})",
                        names(classes)
                    ),
                ));
            }
        }
        (Some(class), Some(classes)) if !classes.iter().any(|c| json::name(c) == class) => {
            out.add(finding(
                Severity::Error,
                "IngressClassNotFound",
                format!("Ingress {} names class {class:?}, which does not exist", m.name),
                format!(
                    "install the controller of class {class:?}, or set ingress.className to one that exists ({})",
                    names(classes)
                ),
            ));
        }
        _ => {}
    }
    if array_at(ing, "status.loadBalancer.ingress").is_empty() {
        // Several controllers never publish an address; it is worth knowing, not a fault.
        out.add(finding(
            Severity::Info,
            "NoAddress",
            format!(
                "Ingress {} has no address yet{}",
                m.name,
                class.map(|c| format!(": the controller of class {c:?} has not published one")).unwrap_or_default()
            ),
            "if the UI does not answer, check that the ingress controller runs and watches this namespace".into(),
        ));
    }
    for tls in array_at(ing, "spec.tls") {
        let Some(secret) = str_at(tls, "secretName") else {
            continue;
        };
        match f.tls_secrets.get(secret).copied().flatten() {
            Some(true) => {}
            Some(false) => out.add(finding(
                Severity::Error,
                "TLSSecretNotFound",
                format!("Ingress {} serves TLS with Secret {secret}, which does not exist", m.name),
                format!(
                    "create it (kubectl create secret tls -n {} {secret} --cert=… --key=…) or let cert-manager issue it",
                    f.namespace
                ),
            )),
            None => out.skip(Skipped::new(
                Check::Network,
                format!("TLS Secret {secret}"),
                "could not read it (permission denied)",
            )),
        }
    }
}

fn names(classes: &[Value]) -> String {
    let names: Vec<&str> = classes.iter().map(json::name).collect();
    if names.is_empty() {
        "the cluster has none".into()
    } else {
        format!("the cluster has: {}", names.join(", "))
    }
}

/// Declared flows that the namespace's NetworkPolicies deny.
pub fn policies(namespace: &str, eval: &Evaluation) -> Outcome {
    let mut out = Outcome::default();
    for b in &eval.blocked {
        let component = match b.side() {
            Peer::Pods(c) => c.to_string(),
            _ => String::new(),
        };
        let object = b.policies.first().map_or_else(
            || "NetworkPolicy".to_string(),
            |p| format!("NetworkPolicy/{p}"),
        );
        out.add(
            Finding::new(
                Check::Network,
                Severity::Error,
                object,
                "FlowBlocked",
                format!("a connection the stack needs is denied: {}", b.describe()),
                format!(
                    "allow it in the policies named (kubectl get networkpolicy -n {namespace} -o yaml), or, for the release's own policies, in the networkPolicy values"
                ),
            )
            .component(component)
            .evidence([b.detail.clone()]),
        );
    }
    for why in &eval.skipped {
        out.skip(Skipped::new(Check::Network, "network policy", why.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(kind: &str, name: &str) -> Manifest {
        Manifest::from_value(json!({
            "apiVersion": "v1", "kind": kind,
            "metadata": {"name": name, "labels": {"app.kubernetes.io/component": "clickvisual"},
                         "annotations": {"stackctl.dev/phase": "apps"}}
        }))
        .unwrap()
    }

    #[test]
    fn a_service_without_ready_endpoints_is_an_error() {
        let m = manifest("Service", "cv");
        let svc = json!({"spec": {"selector": {"a": "b"}}});
        let headless_no_selector = json!({"spec": {}});
        let m2 = manifest("Service", "external");
        let endpoints = BTreeMap::from([(
            "cv".to_string(),
            json!({"subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}]}]}),
        )]);
        let out = check(&Facts {
            namespace: "ns",
            services: vec![(&m, &svc), (&m2, &headless_no_selector)],
            ingresses: vec![],
            endpoints: &endpoints,
            ingress_classes: Some(&[]),
            tls_secrets: &BTreeMap::new(),
        });
        assert_eq!(out.findings.len(), 1, "{:?}", out.findings);
        assert_eq!(out.findings[0].reason, "NoEndpoints");
        assert!(out.findings[0].summary.contains("1 not ready"));
    }

    #[test]
    fn ingress_class_and_tls_problems() {
        let m = manifest("Ingress", "cv");
        let no_class = json!({"spec": {"tls": [{"secretName": "cv-tls"}]}});
        let wrong_class = json!({"spec": {"ingressClassName": "nginx"},
                                 "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}});
        let classes = [json!({"metadata": {"name": "traefik"}})];
        let secrets = BTreeMap::from([("cv-tls".to_string(), Some(false))]);
        let out = check(&Facts {
            namespace: "ns",
            services: vec![],
            ingresses: vec![(&m, &no_class), (&m, &wrong_class)],
            endpoints: &BTreeMap::new(),
            ingress_classes: Some(&classes),
            tls_secrets: &secrets,
        });
        let reasons: Vec<(&str, Severity)> = out
            .findings
            .iter()
            .map(|f| (f.reason.as_str(), f.severity))
            .collect();
        assert_eq!(
            reasons,
            [
                ("NoIngressClass", Severity::Warning),
                ("NoAddress", Severity::Info),
                ("TLSSecretNotFound", Severity::Error),
                ("IngressClassNotFound", Severity::Error),
            ]
        );
        assert!(out.findings[0].remedy.contains("traefik"));

        let default = [json!({"metadata": {"name": "traefik",
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}}})];
        let out = check(&Facts {
            namespace: "ns",
            services: vec![],
            ingresses: vec![(&m, &no_class)],
            endpoints: &BTreeMap::new(),
            ingress_classes: Some(&default),
            tls_secrets: &BTreeMap::from([("cv-tls".to_string(), Some(true))]),
        });
        assert_eq!(out.findings.len(), 1, "only NoAddress: {:?}", out.findings);
    }
}
