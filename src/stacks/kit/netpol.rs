//! NetworkPolicies from a stack's flow table, the same for every stack: each pod of
//! the release accepts only the flows that end at its component. With
//! `networkPolicy.defaultDeny` the release's pods are also denied everything else,
//! egress included, and get egress rules from the same flows plus DNS (to the
//! resolvers of `networkPolicy.dns`); probe pods keep open egress, since they check
//! external services too.
//!
//! Peers are pods of this release (selected by component labels), "anywhere", the
//! API server (no rule narrower than "any address" fits it: its address is outside
//! the pod network and differs between distributions), and peers outside the
//! release the values name (the ingress controller, other clients of a service).
//! Policies select pods of this release only, so other workloads sharing the
//! namespace keep their own rules.
//!
//! Kubernetes 1.20 knows neither `endPort` (1.22) nor the automatic
//! `kubernetes.io/metadata.name` namespace label (1.21): ports are listed one by
//! one, and the default peers select namespaces by nothing but `{}`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::values::{DnsPolicy, PolicyPeer};
use crate::model::{Flow, Peer, Phase, Proto, Release, Rendered};
use crate::stacks::component::{Builder, selector_labels};
use crate::stacks::workload as w;

/// The component the policies are rendered as.
pub const COMPONENT: &str = "network-policy";

/// What a stack's values say about its policies, whatever it calls the keys.
pub struct Settings<'a> {
    pub default_deny: bool,
    pub dns: &'a DnsPolicy,
    /// Who [`Peer::IngressController`] is; empty: any address.
    pub ingress_controller: &'a [PolicyPeer],
    /// Who [`Peer::OtherClients`] of each component are; empty (or not listed):
    /// any address.
    pub other_clients: BTreeMap<&'static str, &'a [PolicyPeer]>,
}

/// The policies for the components in `governed` (those with pods outside the
/// host network) from `flows`.
pub fn render(
    release: &Release,
    settings: &Settings<'_>,
    flows: &[Flow],
    governed: &BTreeSet<&'static str>,
) -> Rendered {
    let mut b = Builder::new(release, COMPONENT, Phase::Storage, "v1");
    let release_pods = BTreeMap::from([(
        "app.kubernetes.io/instance".to_string(),
        release.name.clone(),
    )]);
    let peer = |p: &Peer| peer(release, settings, p);

    if settings.default_deny {
        b.push(policy(
            &b,
            release.object_name("default-deny"),
            &release_pods,
            Some(vec![]),
            Some(vec![]),
        ));
        b.push(policy(
            &b,
            release.object_name("allow-dns"),
            &release_pods,
            None,
            Some(vec![dns_rule(settings.dns)]),
        ));
        // Probes check external services too: their egress is open.
        b.push(policy(
            &b,
            release.object_name("probes"),
            &probe_pods(release),
            None,
            Some(vec![NetworkPolicyEgressRule::default()]),
        ));
    }
    for component in governed {
        let ingress: Vec<NetworkPolicyIngressRule> = flows
            .iter()
            .filter(|f| f.to == Peer::Pods(component))
            .map(|f| NetworkPolicyIngressRule {
                from: peer(&f.from),
                ports: ports(&f.ports),
            })
            .collect();
        let egress = settings.default_deny.then(|| {
            flows
                .iter()
                .filter(|f| f.from == Peer::Pods(component))
                .map(|f| NetworkPolicyEgressRule {
                    to: peer(&f.to),
                    ports: ports(&f.ports),
                })
                .collect()
        });
        b.push(policy(
            &b,
            release.object_name(component),
            &selector_labels(release, component),
            Some(ingress),
            egress,
        ));
    }
    b.finish(vec![])
}

fn policy(
    b: &Builder<'_>,
    name: String,
    pods: &BTreeMap<String, String>,
    ingress: Option<Vec<NetworkPolicyIngressRule>>,
    egress: Option<Vec<NetworkPolicyEgressRule>>,
) -> NetworkPolicy {
    let mut types = Vec::new();
    if ingress.is_some() {
        types.push("Ingress".to_string());
    }
    if egress.is_some() {
        types.push("Egress".to_string());
    }
    NetworkPolicy {
        metadata: b.meta(name),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(w::label_selector(pods)),
            policy_types: Some(types),
            ingress,
            egress,
        }),
    }
}

/// `None` (no `from`/`to`): any address.
fn peer(release: &Release, settings: &Settings<'_>, p: &Peer) -> Option<Vec<NetworkPolicyPeer>> {
    let named =
        |peers: &[PolicyPeer]| (!peers.is_empty()).then(|| peers.iter().map(policy_peer).collect());
    match p {
        Peer::Pods(c) => Some(vec![NetworkPolicyPeer {
            pod_selector: Some(w::label_selector(&selector_labels(release, c))),
            ..Default::default()
        }]),
        Peer::Probes => Some(vec![NetworkPolicyPeer {
            pod_selector: Some(w::label_selector(&probe_pods(release))),
            ..Default::default()
        }]),
        Peer::IngressController => named(settings.ingress_controller),
        Peer::OtherClients(c) => named(settings.other_clients.get(c).copied().unwrap_or(&[])),
        Peer::Anywhere | Peer::ApiServer => None,
    }
}

/// A peer of the values as the API's: `{}` selectors stay `{}` (every pod, every
/// namespace), an absent one stays absent.
fn policy_peer(p: &PolicyPeer) -> NetworkPolicyPeer {
    let selector = |labels: &Option<BTreeMap<String, String>>| {
        labels.as_ref().map(|l| LabelSelector {
            match_labels: (!l.is_empty()).then(|| l.clone()),
            ..Default::default()
        })
    };
    NetworkPolicyPeer {
        pod_selector: selector(&p.pod_selector),
        namespace_selector: selector(&p.namespace_selector),
        ip_block: p.ip_block.as_ref().map(|cidr| IPBlock {
            cidr: cidr.clone(),
            except: None,
        }),
    }
}

/// Labels of this release's probe pods (not a component's selector labels).
fn probe_pods(release: &Release) -> BTreeMap<String, String> {
    let mut labels = crate::model::probe_labels(release, "");
    labels.retain(|k, _| k == "app.kubernetes.io/name" || k == "app.kubernetes.io/instance");
    labels
}

/// One entry per port: `endPort` (a range) exists only from Kubernetes 1.22.
fn ports(ports: &[(Proto, u16)]) -> Option<Vec<NetworkPolicyPort>> {
    (!ports.is_empty()).then(|| {
        ports
            .iter()
            .map(|(proto, port)| NetworkPolicyPort {
                port: Some(IntOrString::Int(i32::from(*port))),
                protocol: Some(proto.as_k8s().into()),
                ..Default::default()
            })
            .collect()
    })
}

/// DNS to the resolvers of `networkPolicy.dns`, each port over UDP and TCP (TCP
/// for answers too large for a datagram). The defaults select resolver pods by the
/// `k8s-app: kube-dns` label kube-dns and CoreDNS carry, in any namespace, not by
/// the `kubernetes.io/metadata.name` namespace label, which exists only from
/// Kubernetes 1.21; plus the node-local addresses of NodeLocal DNSCache and GKE's
/// Cloud DNS, whose resolvers are no pods a selector could match. No peers: any
/// address on those ports.
fn dns_rule(dns: &DnsPolicy) -> NetworkPolicyEgressRule {
    let dns_ports: Vec<(Proto, u16)> = dns
        .ports
        .iter()
        .flat_map(|p| [(Proto::Udp, *p), (Proto::Tcp, *p)])
        .collect();
    NetworkPolicyEgressRule {
        to: (!dns.peers.is_empty()).then(|| dns.peers.iter().map(policy_peer).collect()),
        ports: ports(&dns_ports),
    }
}
