//! Which of a stack's declared flows the NetworkPolicies of its namespace deny
//! ([`blocked_flows`]): pure, over the live objects as JSON, for `doctor`.
//!
//! The semantics are networking.k8s.io/v1's. A pod is isolated for ingress
//! (egress) when some policy of its namespace selects it and has that policy type
//! (`policyTypes` defaults to Ingress, plus Egress when the policy has egress
//! rules); traffic to (from) an isolated pod is then allowed when one of those
//! policies has a rule whose peers match the other end (no peers: any) and whose
//! ports match (none: all; a named port is the destination pod's container port
//! of that name; protocol TCP unless given; `endPort` makes a range). Policies add
//! up: none denies what another allows. A flow between two pods must be allowed
//! on both ends, the source's egress and the destination's ingress.
//!
//! What the evaluator cannot see, it approximates:
//! - `Anywhere`, `ApiServer` and `IngressController` are addresses outside the
//!   namespace's pods. No pod or namespace selector matches `Anywhere` or
//!   `ApiServer`; an `ipBlock` matches `Anywhere` when its CIDR is a /0 (its
//!   `except` entries taken to carve out cluster ranges, not the outside world),
//!   and matches `ApiServer` whatever its CIDR, whose address differs between
//!   distributions and is usually admitted by an ipBlock of its own.
//!   `IngressController` and `OtherClients` are matched like `Anywhere`, and also
//!   by any peer with a `namespaceSelector`: they may run in a namespace whose
//!   labels are unknown here, so such a rule gets the benefit of the doubt.
//! - Probe pods run only during `stackctl test`: when none is live, one is
//!   assumed with the labels every probe pod of the release carries (taken from
//!   the release's pods), and without an address.
//! - A pod in the host network is never isolated, and as a peer matches only
//!   ipBlocks (its address is its node's), as most network plugins have it.
//! - A pod never blocks traffic to itself; pairs of one pod are not checked.
//! - An `ipBlock` matches a pod by the addresses in its status; a pod without
//!   one matches none.
//! - A flow on all ports passes a rule only if the rule names no ports.
//! - Pods of a component carry `app.kubernetes.io/component=<component>` (see
//!   `stacks::component::selector_labels`). When a component named by a flow has
//!   no pod, the sides that need its pods are not checked and
//!   [`Evaluation::skipped`] says so.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::model::{Flow, MANAGED_BY, PROBE_APP_NAME, Peer, Proto, RELEASE_LABEL, ports_text};

const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
const NAME_LABEL: &str = "app.kubernetes.io/name";
const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    Ingress,
    Egress,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        })
    }
}

/// A declared flow that policies deny on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub flow: Flow,
    pub direction: Direction,
    /// The flow's ports that are denied (empty: the flow is on all ports).
    pub ports: Vec<(Proto, u16)>,
    /// The policies that isolate the pods on that side, none of which allows it.
    pub policies: Vec<String>,
    /// Which pods, and why no rule matches.
    pub detail: String,
}

impl Blocked {
    /// The component whose pods are isolated: the source for egress, the
    /// destination for ingress.
    pub fn side(&self) -> &Peer {
        match self.direction {
            Direction::Ingress => &self.flow.to,
            Direction::Egress => &self.flow.from,
        }
    }

    /// One line: `prometheus → grafana tcp/3000: ingress of grafana denied by
    /// networkpolicy/deny-all`.
    pub fn describe(&self) -> String {
        let policies: Vec<String> = self
            .policies
            .iter()
            .map(|p| format!("networkpolicy/{p}"))
            .collect();
        format!(
            "{} → {} {}: {} of {} denied by {}",
            self.flow.from,
            self.flow.to,
            ports_text(&self.ports),
            self.direction,
            self.side(),
            policies.join(", ")
        )
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// What [`blocked_flows`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    pub blocked: Vec<Blocked>,
    /// Sides of flows not checked, each with the reason (no pod of a component).
    pub skipped: Vec<String>,
}

/// The flows some NetworkPolicy of the namespace denies, on either side.
/// `policies` and `pods` are the namespace's live NetworkPolicies and the
/// release's live pods; `namespace_labels` the namespace's own labels (for
/// `namespaceSelector`s; an object, or null for none).
pub fn blocked_flows(
    policies: &[Value],
    pods: &[Value],
    namespace_labels: &Value,
    flows: &[Flow],
) -> Evaluation {
    let empty = Map::new();
    let world = World {
        policies: policies.iter().map(Policy::parse).collect(),
        pods: pods.iter().map(Pod::parse).collect(),
        namespace_labels: namespace_labels.as_object().unwrap_or(&empty),
    };
    let probes = world.probe_pods();
    let mut out = Evaluation::default();
    for flow in flows {
        for direction in [Direction::Egress, Direction::Ingress] {
            world.check(flow, direction, &probes, &mut out);
        }
    }
    out
}

struct World<'a> {
    policies: Vec<Policy<'a>>,
    pods: Vec<Pod<'a>>,
    namespace_labels: &'a Map<String, Value>,
}

/// One end of a connection.
#[derive(Clone, Copy)]
enum End<'a, 'p> {
    Pod(&'p Pod<'a>),
    Outside(&'p Peer),
}

impl<'a> World<'a> {
    /// Live probe pods, or the one every probe of the release would be.
    fn probe_pods(&self) -> Vec<Pod<'a>> {
        let live: Vec<Pod<'a>> = self
            .pods
            .iter()
            .filter(|p| p.label(NAME_LABEL) == Some(PROBE_APP_NAME))
            .cloned()
            .collect();
        if !live.is_empty() {
            return live;
        }
        let Some(release_pod) = self.pods.iter().find(|p| p.label(INSTANCE_LABEL).is_some()) else {
            return Vec::new();
        };
        let mut labels = Map::new();
        labels.insert(NAME_LABEL.into(), PROBE_APP_NAME.into());
        labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
        for key in [INSTANCE_LABEL, PART_OF_LABEL, RELEASE_LABEL] {
            if let Some(v) = release_pod.label(key) {
                labels.insert(key.into(), v.into());
            }
        }
        vec![Pod {
            name: "stackctl probe (assumed)",
            namespace: release_pod.namespace,
            labels,
            ips: Vec::new(),
            ports: Vec::new(),
            host_network: false,
        }]
    }

    /// The pods of a peer inside the namespace; `None` for a peer outside it.
    fn pods_of<'p>(&'p self, peer: &Peer, probes: &'p [Pod<'a>]) -> Option<Vec<&'p Pod<'a>>> {
        match peer {
            Peer::Pods(c) => Some(
                self.pods
                    .iter()
                    .filter(|p| p.label(COMPONENT_LABEL) == Some(c))
                    .collect(),
            ),
            Peer::Probes => Some(probes.iter().collect()),
            Peer::Anywhere | Peer::ApiServer | Peer::IngressController | Peer::OtherClients(_) => {
                None
            }
        }
    }

    fn check(&self, flow: &Flow, direction: Direction, probes: &[Pod<'a>], out: &mut Evaluation) {
        let (own, other) = match direction {
            Direction::Egress => (&flow.from, &flow.to),
            Direction::Ingress => (&flow.to, &flow.from),
        };
        let Some(own_pods) = self.pods_of(own, probes) else {
            return;
        };
        let not_checked =
            |missing: &Peer| format!("{flow}: {direction} of {own} not checked: no {missing} pod");
        if own_pods.is_empty() {
            out.skipped.push(not_checked(own));
            return;
        }
        let other_ends: Vec<End<'a, '_>> = match self.pods_of(other, probes) {
            Some(pods) if pods.is_empty() => {
                out.skipped.push(not_checked(other));
                return;
            }
            Some(pods) => pods.into_iter().map(End::Pod).collect(),
            None => vec![End::Outside(other)],
        };
        let ports: Vec<Option<(Proto, u16)>> = if flow.ports.is_empty() {
            vec![None]
        } else {
            flow.ports.iter().copied().map(Some).collect()
        };

        let mut denied_ports = BTreeSet::new();
        let mut policies = BTreeSet::new();
        let mut denied_pods = BTreeSet::new();
        for pod in own_pods.iter().filter(|p| !p.host_network) {
            let isolating: Vec<&Policy<'a>> = self
                .policies
                .iter()
                .filter(|p| p.isolates(pod, direction))
                .collect();
            if isolating.is_empty() {
                continue;
            }
            for end in &other_ends {
                if matches!(end, End::Pod(o) if o.name == pod.name) {
                    continue;
                }
                for port in &ports {
                    // The destination decides named ports.
                    let destination = match direction {
                        Direction::Egress => *end,
                        Direction::Ingress => End::Pod(pod),
                    };
                    let allowed = isolating.iter().any(|p| {
                        p.rules(direction).iter().any(|r| {
                            r.admits(*end, p.namespace, self.namespace_labels)
                                && r.opens(*port, destination)
                        })
                    });
                    if !allowed {
                        denied_ports.extend(*port);
                        policies.extend(isolating.iter().map(|p| p.name.to_string()));
                        denied_pods.insert(pod.name);
                    }
                }
            }
        }
        if denied_pods.is_empty() {
            return;
        }
        let pods: Vec<&str> = denied_pods.into_iter().collect();
        let ports: Vec<(Proto, u16)> = denied_ports.into_iter().collect();
        out.blocked.push(Blocked {
            detail: format!(
                "no rule of the policies selecting pod {} admits {other} on {}",
                pods.join(", "),
                ports_text(&ports)
            ),
            flow: flow.clone(),
            direction,
            ports,
            policies: policies.into_iter().collect(),
        });
    }
}

/// What the evaluator reads of a pod.
#[derive(Clone)]
struct Pod<'a> {
    name: &'a str,
    namespace: Option<&'a str>,
    labels: Map<String, Value>,
    ips: Vec<IpAddr>,
    /// `(name, protocol, number)` of each container port.
    ports: Vec<(&'a str, &'a str, i64)>,
    host_network: bool,
}

impl<'a> Pod<'a> {
    fn parse(v: &'a Value) -> Self {
        let status = &v["status"];
        let mut ips: Vec<IpAddr> = status["podIPs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|ip| ip["ip"].as_str()?.parse().ok())
            .collect();
        if let Some(ip) = status["podIP"].as_str().and_then(|s| s.parse().ok())
            && !ips.contains(&ip)
        {
            ips.push(ip);
        }
        let ports = v["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().into_iter().flatten())
            .filter_map(|p| {
                Some((
                    p["name"].as_str().unwrap_or_default(),
                    p["protocol"].as_str().unwrap_or("TCP"),
                    p["containerPort"].as_i64()?,
                ))
            })
            .collect();
        Pod {
            name: v["metadata"]["name"].as_str().unwrap_or_default(),
            namespace: v["metadata"]["namespace"].as_str(),
            labels: v["metadata"]["labels"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ips,
            ports,
            host_network: v["spec"]["hostNetwork"] == true,
        }
    }

    fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).and_then(Value::as_str)
    }

    /// The number of the container port called `name` for `proto`.
    fn named_port(&self, name: &str, proto: &str) -> Option<i64> {
        self.ports
            .iter()
            .find(|(n, p, _)| *n == name && *p == proto)
            .map(|(_, _, number)| *number)
    }
}

struct Policy<'a> {
    name: &'a str,
    namespace: Option<&'a str>,
    pod_selector: &'a Value,
    ingress: Option<Vec<Rule<'a>>>,
    egress: Option<Vec<Rule<'a>>>,
}

impl<'a> Policy<'a> {
    fn parse(v: &'a Value) -> Self {
        let spec = &v["spec"];
        let rules = |key: &str, peers: &str| {
            spec[key].as_array().map(|rs| {
                rs.iter()
                    .map(|r| Rule {
                        peers: r[peers].as_array().map(Vec::as_slice).unwrap_or_default(),
                        ports: r["ports"].as_array().map(Vec::as_slice).unwrap_or_default(),
                    })
                    .collect::<Vec<_>>()
            })
        };
        let types: Option<Vec<&str>> = spec["policyTypes"]
            .as_array()
            .filter(|t| !t.is_empty())
            .map(|t| t.iter().filter_map(Value::as_str).collect());
        let ingress = rules("ingress", "from");
        let egress = rules("egress", "to");
        // The API server's defaults when `policyTypes` is unset.
        let (is_ingress, is_egress) = match &types {
            Some(t) => (t.contains(&"Ingress"), t.contains(&"Egress")),
            None => (true, egress.as_ref().is_some_and(|e| !e.is_empty())),
        };
        Policy {
            name: v["metadata"]["name"].as_str().unwrap_or_default(),
            namespace: v["metadata"]["namespace"].as_str(),
            pod_selector: &spec["podSelector"],
            ingress: is_ingress.then(|| ingress.unwrap_or_default()),
            egress: is_egress.then(|| egress.unwrap_or_default()),
        }
    }

    fn rules(&self, direction: Direction) -> &[Rule<'a>] {
        match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
        .unwrap_or_default()
    }

    fn isolates(&self, pod: &Pod<'_>, direction: Direction) -> bool {
        let typed = match direction {
            Direction::Ingress => self.ingress.is_some(),
            Direction::Egress => self.egress.is_some(),
        };
        typed
            && same_namespace(self.namespace, pod.namespace)
            && selects(self.pod_selector, &pod.labels)
    }
}

struct Rule<'a> {
    /// `from` or `to`; empty: every address.
    peers: &'a [Value],
    /// Empty: every port.
    ports: &'a [Value],
}

impl Rule<'_> {
    fn admits(
        &self,
        end: End<'_, '_>,
        policy_ns: Option<&str>,
        ns_labels: &Map<String, Value>,
    ) -> bool {
        self.peers.is_empty()
            || self
                .peers
                .iter()
                .any(|p| peer_matches(p, end, policy_ns, ns_labels))
    }

    fn opens(&self, port: Option<(Proto, u16)>, destination: End<'_, '_>) -> bool {
        let Some((proto, number)) = port else {
            return self.ports.is_empty();
        };
        self.ports.is_empty()
            || self.ports.iter().any(|p| {
                let protocol = p["protocol"].as_str().unwrap_or("TCP");
                if protocol != proto.as_k8s() {
                    return false;
                }
                let number = i64::from(number);
                match &p["port"] {
                    Value::Null => true,
                    Value::Number(n) => {
                        let first = n.as_i64().unwrap_or(-1);
                        let last = p["endPort"].as_i64().unwrap_or(first);
                        (first..=last).contains(&number)
                    }
                    Value::String(name) => match destination {
                        End::Pod(pod) => pod.named_port(name, protocol) == Some(number),
                        End::Outside(_) => false,
                    },
                    _ => false,
                }
            })
    }
}

fn peer_matches(
    peer: &Value,
    end: End<'_, '_>,
    policy_ns: Option<&str>,
    ns_labels: &Map<String, Value>,
) -> bool {
    let ns_selector = peer.get("namespaceSelector").filter(|s| !s.is_null());
    let pod_selector = peer.get("podSelector").filter(|s| !s.is_null());
    if let Some(block) = peer.get("ipBlock").filter(|b| !b.is_null()) {
        let cidr = block["cidr"].as_str().unwrap_or_default();
        return match end {
            End::Pod(pod) => {
                let except: Vec<&str> = block["except"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                pod.ips.iter().any(|ip| {
                    cidr_contains(cidr, *ip) && !except.iter().any(|e| cidr_contains(e, *ip))
                })
            }
            End::Outside(Peer::ApiServer) => true,
            End::Outside(_) => cidr_prefix(cidr) == Some(0),
        };
    }
    match end {
        End::Outside(Peer::IngressController | Peer::OtherClients(_)) => ns_selector.is_some(),
        End::Outside(_) => false,
        End::Pod(pod) if pod.host_network => false,
        End::Pod(pod) => {
            let namespace_ok = match ns_selector {
                Some(s) => selects(s, ns_labels),
                None => same_namespace(policy_ns, pod.namespace),
            };
            let pod_ok = pod_selector.is_none_or(|s| selects(s, &pod.labels));
            (ns_selector.is_some() || pod_selector.is_some()) && namespace_ok && pod_ok
        }
    }
}

/// Unknown namespaces (objects without one) are the namespace being checked.
fn same_namespace(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// A label selector (`matchLabels`, `matchExpressions`) against labels; `{}` and
/// an absent selector select everything.
fn selects(selector: &Value, labels: &Map<String, Value>) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let match_labels = selector["matchLabels"].as_object();
    let by_labels = match_labels
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let by_expressions = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e["operator"].as_str() {
                Some("In") => label(key).is_some_and(|v| values.contains(&v)),
                Some("NotIn") => label(key).is_none_or(|v| !values.contains(&v)),
                Some("Exists") => label(key).is_some(),
                Some("DoesNotExist") => label(key).is_none(),
                _ => false,
            }
        });
    by_labels && by_expressions
}

/// The prefix length of `a.b.c.d/n` or `x::/n`.
fn cidr_prefix(cidr: &str) -> Option<u32> {
    cidr.split_once('/')?.1.parse().ok()
}

fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, prefix)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(prefix)) = (net.parse::<IpAddr>(), prefix.parse::<u32>()) else {
        return false;
    };
    let bits = |a: IpAddr| match a {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    };
    let ((net, width), (ip, ip_width)) = (bits(net), bits(ip));
    if width != ip_width || prefix > width {
        return false;
    }
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    net & mask == ip & mask
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::tcp;

    /// A pod of `component` at `ip`, with container ports `(name, number)`.
    fn pod(name: &str, component: &str, ip: &str, ports: &[(&str, i64)]) -> Value {
        let ports: Vec<Value> = ports
            .iter()
            .map(|(n, p)| json!({"name": n, "containerPort": p}))
            .collect();
        json!({
            "metadata": {"name": name, "namespace": "ops", "labels": {
                "app.kubernetes.io/component": component,
                "app.kubernetes.io/instance": "rel",
            }},
            "spec": {"containers": [{"name": "main", "ports": ports}]},
            "status": {"podIP": ip},
        })
    }

    fn pods() -> Vec<Value> {
        vec![
            pod("prom-0", "prometheus", "10.1.0.5", &[("http", 9090)]),
            pod("grafana-0", "grafana", "10.2.0.7", &[("http", 3000)]),
            pod("traefik-0", "traefik", "10.2.0.9", &[("web", 8000)]),
        ]
    }

    fn policy(name: &str, spec: Value) -> Value {
        let mut p = json!({"metadata": {"name": name, "namespace": "ops"}});
        p["spec"] = spec;
        p
    }

    fn deny_all() -> Value {
        policy(
            "deny-all",
            json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        )
    }

    fn flow(from: Peer, to: Peer, ports: &[u16]) -> Flow {
        Flow {
            from,
            to,
            ports: tcp(ports),
        }
    }

    fn scrape() -> Flow {
        flow(Peer::Pods("prometheus"), Peer::Pods("grafana"), &[3000])
    }

    fn eval(policies: &[Value], flows: &[Flow]) -> Evaluation {
        blocked_flows(policies, &pods(), &json!({}), flows)
    }

    /// `(direction, side)` of each blocked flow.
    fn sides(e: &Evaluation) -> Vec<(Direction, String)> {
        e.blocked
            .iter()
            .map(|b| (b.direction, b.side().to_string()))
            .collect()
    }

    /// Ingress of grafana from prometheus, as `from` peers and `ports`.
    fn grafana_ingress(from: Value, ports: Value) -> Value {
        let mut p = policy(
            "grafana",
            json!({
                "podSelector": {"matchLabels": {"app.kubernetes.io/component": "grafana"}},
                "policyTypes": ["Ingress"],
                "ingress": [{}],
            }),
        );
        p["spec"]["ingress"][0]["from"] = from;
        p["spec"]["ingress"][0]["ports"] = ports;
        p
    }

    fn prometheus_peer() -> Value {
        json!([{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "prometheus"}}}])
    }

    #[test]
    fn without_policies_nothing_is_blocked() {
        let e = eval(&[], &[scrape()]);
        assert_eq!(e, Evaluation::default());
    }

    #[test]
    fn default_deny_blocks_both_ends_and_the_outside() {
        let edge = flow(Peer::Anywhere, Peer::Pods("traefik"), &[8000]);
        let api = flow(Peer::Pods("prometheus"), Peer::ApiServer, &[443]);
        let e = eval(&[deny_all()], &[scrape(), edge, api]);
        assert_eq!(
            sides(&e),
            vec![
                (Direction::Egress, "prometheus".into()),
                (Direction::Ingress, "grafana".into()),
                (Direction::Ingress, "traefik".into()),
                (Direction::Egress, "prometheus".into()),
            ]
        );
        assert_eq!(
            e.blocked[1].describe(),
            "prometheus → grafana tcp/3000: ingress of grafana denied by networkpolicy/deny-all"
        );
        assert!(e.blocked[1].detail.contains("grafana-0"), "{e:?}");
        assert!(e.skipped.is_empty(), "{e:?}");
    }

    #[test]
    fn an_allow_rule_opens_exactly_its_port() {
        let allow = grafana_ingress(prometheus_peer(), json!([{"port": 3000}]));
        let other_port = flow(
            Peer::Pods("prometheus"),
            Peer::Pods("grafana"),
            &[3000, 3001],
        );
        let e = eval(std::slice::from_ref(&allow), &[scrape()]);
        assert!(e.blocked.is_empty(), "{e:?}");
        let e = eval(std::slice::from_ref(&allow), &[other_port]);
        assert_eq!(e.blocked.len(), 1, "{e:?}");
        assert_eq!(e.blocked[0].ports, tcp(&[3001]));
        assert_eq!(e.blocked[0].policies, ["grafana"]);
        // UDP is another port.
        let udp = Flow {
            ports: vec![(Proto::Udp, 3000)],
            ..scrape()
        };
        assert_eq!(eval(std::slice::from_ref(&allow), &[udp]).blocked.len(), 1);
        // A flow on all ports needs a rule on all ports.
        let all = Flow {
            ports: vec![],
            ..scrape()
        };
        let e = eval(&[allow], std::slice::from_ref(&all));
        assert_eq!(
            e.blocked[0].describe(),
            "prometheus → grafana all ports: ingress of grafana denied by networkpolicy/grafana"
        );
        let any_port = grafana_ingress(prometheus_peer(), json!([]));
        assert!(eval(&[any_port], &[all]).blocked.is_empty());
        // A range.
        let range = grafana_ingress(prometheus_peer(), json!([{"port": 2990, "endPort": 3000}]));
        assert!(
            eval(std::slice::from_ref(&range), &[scrape()])
                .blocked
                .is_empty()
        );
        let above = flow(Peer::Pods("prometheus"), Peer::Pods("grafana"), &[3001]);
        assert_eq!(eval(&[range], &[above]).blocked.len(), 1);
    }

    #[test]
    fn policies_add_up() {
        let allow = grafana_ingress(prometheus_peer(), json!([{"port": 3000}]));
        let e = eval(&[deny_all(), allow], &[scrape()]);
        // Ingress is allowed by the second policy; egress of prometheus is not.
        assert_eq!(sides(&e), vec![(Direction::Egress, "prometheus".into())]);
        assert_eq!(e.blocked[0].policies, ["deny-all"]);
    }

    #[test]
    fn a_named_port_is_the_destinations_container_port() {
        let named = grafana_ingress(prometheus_peer(), json!([{"port": "http"}]));
        assert!(
            eval(std::slice::from_ref(&named), &[scrape()])
                .blocked
                .is_empty()
        );
        let other = flow(Peer::Pods("prometheus"), Peer::Pods("grafana"), &[9090]);
        // 9090 is prometheus's `http`, not grafana's.
        assert_eq!(eval(&[named], &[other]).blocked.len(), 1);
        // On egress too, the name is the destination's.
        let egress = policy(
            "prom-out",
            json!({
                "podSelector": {"matchLabels": {"app.kubernetes.io/component": "prometheus"}},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"port": "http"}]}],
            }),
        );
        assert!(
            eval(std::slice::from_ref(&egress), &[scrape()])
                .blocked
                .is_empty()
        );
        let api = flow(Peer::Pods("prometheus"), Peer::ApiServer, &[443]);
        assert_eq!(eval(&[egress], &[api]).blocked.len(), 1, "no name outside");
    }

    #[test]
    fn a_namespace_selector_matches_the_namespaces_labels_a_pod_selector_the_pods() {
        let by_ns = grafana_ingress(
            json!([{"namespaceSelector": {"matchLabels": {"team": "ops"}}}]),
            json!([]),
        );
        let labels = json!({"team": "ops"});
        let with = |ns: &Value, p: &Value| {
            blocked_flows(std::slice::from_ref(p), &pods(), ns, &[scrape()])
        };
        assert_eq!(with(&json!({}), &by_ns).blocked.len(), 1, "1.20: no labels");
        assert!(with(&labels, &by_ns).blocked.is_empty());
        // Both: pods so labelled in namespaces so labelled.
        let both = grafana_ingress(
            json!([{
                "namespaceSelector": {"matchLabels": {"team": "ops"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/component": "traefik"}},
            }]),
            json!([]),
        );
        assert_eq!(with(&labels, &both).blocked.len(), 1);
        // Expressions.
        let expr = grafana_ingress(
            json!([{"podSelector": {"matchExpressions": [
                {"key": "app.kubernetes.io/component", "operator": "In", "values": ["prometheus", "x"]},
                {"key": "debug", "operator": "DoesNotExist"},
            ]}}]),
            json!([]),
        );
        assert!(with(&json!({}), &expr).blocked.is_empty());
        // A namespaceSelector does not reach the API server or anywhere.
        let everywhere = policy(
            "out",
            json!({
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"namespaceSelector": {}}]}],
            }),
        );
        let api = flow(Peer::Pods("prometheus"), Peer::ApiServer, &[443]);
        let e = eval(&[everywhere], &[scrape(), api]);
        assert_eq!(sides(&e), vec![(Direction::Egress, "prometheus".into())]);
        assert_eq!(e.blocked[0].flow.to, Peer::ApiServer);
    }

    #[test]
    fn an_ip_block_leaves_out_its_exceptions() {
        let out = |block: Value| {
            policy(
                "out",
                json!({
                    "podSelector": {"matchLabels": {"app.kubernetes.io/component": "prometheus"}},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"ipBlock": block}]}],
                }),
            )
        };
        // grafana is at 10.2.0.7, traefik at 10.2.0.9.
        let to_traefik = flow(Peer::Pods("prometheus"), Peer::Pods("traefik"), &[8000]);
        let p = out(json!({"cidr": "10.2.0.0/16", "except": ["10.2.0.8/29"]}));
        let e = eval(&[p], &[scrape(), to_traefik.clone()]);
        assert_eq!(e.blocked.len(), 1, "{e:?}");
        assert_eq!(e.blocked[0].flow, to_traefik);
        // The outside: a /0 reaches anywhere, a narrower block does not.
        let anywhere = flow(Peer::Pods("prometheus"), Peer::Anywhere, &[]);
        let all = out(json!({"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}));
        assert!(
            eval(&[all], std::slice::from_ref(&anywhere))
                .blocked
                .is_empty()
        );
        let narrow = out(json!({"cidr": "192.0.2.0/24"}));
        assert_eq!(
            eval(std::slice::from_ref(&narrow), &[anywhere])
                .blocked
                .len(),
            1
        );
        // The API server's address is unknown: any block is taken to be for it.
        let api = flow(Peer::Pods("prometheus"), Peer::ApiServer, &[443]);
        assert!(eval(&[narrow], &[api]).blocked.is_empty());
        // IPv6.
        assert!(cidr_contains("fd00::/8", "fd12::1".parse().unwrap()));
        assert!(!cidr_contains("fd00::/8", "10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn egress_is_isolated_only_with_the_egress_type() {
        let rules_only = |types: Option<Value>| {
            let mut spec = json!({"podSelector": {}, "egress": [{"ports": [{"port": 1}]}]});
            if let Some(t) = types {
                spec["policyTypes"] = t;
            }
            policy("p", spec)
        };
        // Declared as ingress only: its egress rules isolate nothing.
        let e = eval(&[rules_only(Some(json!(["Ingress"])))], &[scrape()]);
        assert_eq!(sides(&e), vec![(Direction::Ingress, "grafana".into())]);
        // Unset: egress rules make it an egress policy too.
        let e = eval(&[rules_only(None)], &[scrape()]);
        assert_eq!(
            sides(&e),
            vec![
                (Direction::Egress, "prometheus".into()),
                (Direction::Ingress, "grafana".into())
            ]
        );
        // Unset, no egress rules: ingress only.
        let e = eval(
            &[policy("p", json!({"podSelector": {}, "egress": []}))],
            &[scrape()],
        );
        assert_eq!(sides(&e), vec![(Direction::Ingress, "grafana".into())]);
    }

    #[test]
    fn a_policy_selecting_other_pods_isolates_none_of_ours() {
        let others = policy(
            "others",
            json!({
                "podSelector": {"matchLabels": {"app": "someone-else"}},
                "policyTypes": ["Ingress", "Egress"],
            }),
        );
        assert!(eval(&[others], &[scrape()]).blocked.is_empty());
        // Nor does one of another namespace.
        let mut elsewhere = deny_all();
        elsewhere["metadata"]["namespace"] = json!("elsewhere");
        assert!(eval(&[elsewhere], &[scrape()]).blocked.is_empty());
    }

    #[test]
    fn a_component_without_pods_is_skipped_and_said() {
        let to_kibana = flow(Peer::Pods("grafana"), Peer::Pods("kibana"), &[5601]);
        let from_anywhere = flow(Peer::Anywhere, Peer::Pods("kibana"), &[5601]);
        let e = eval(&[deny_all()], &[to_kibana, from_anywhere]);
        assert!(e.blocked.is_empty(), "{e:?}");
        assert_eq!(
            e.skipped,
            [
                "grafana → kibana tcp/5601: egress of grafana not checked: no kibana pod",
                "grafana → kibana tcp/5601: ingress of kibana not checked: no kibana pod",
                "anywhere → kibana tcp/5601: ingress of kibana not checked: no kibana pod",
            ]
        );
    }

    #[test]
    fn probes_are_assumed_with_the_releases_probe_labels() {
        let probe_in = grafana_ingress(
            json!([{"podSelector": {"matchLabels": {
                "app.kubernetes.io/name": "stackctl-probe",
                "app.kubernetes.io/instance": "rel",
            }}}]),
            json!([{"port": 3000}]),
        );
        let probe = flow(Peer::Probes, Peer::Pods("grafana"), &[3000]);
        assert!(
            eval(&[probe_in], std::slice::from_ref(&probe))
                .blocked
                .is_empty()
        );
        let e = eval(&[deny_all()], &[probe]);
        assert_eq!(
            sides(&e),
            vec![
                (Direction::Egress, "stackctl probes".into()),
                (Direction::Ingress, "grafana".into())
            ]
        );
    }

    /// One pod per component, as its workload's template makes it.
    fn pods_of(rendered: &[crate::model::Rendered]) -> Vec<Value> {
        rendered
            .iter()
            .flat_map(|r| &r.manifests)
            .filter_map(|m| m.body["spec"]["template"].as_object().map(|t| (m, t)))
            .enumerate()
            .map(|(i, (m, t))| {
                json!({
                    "metadata": {
                        "name": format!("{}-0", m.name),
                        "namespace": m.namespace,
                        "labels": t["metadata"]["labels"],
                    },
                    "spec": t["spec"],
                    "status": {"podIP": format!("10.42.0.{}", i + 1)},
                })
            })
            .collect()
    }

    fn policies_of(rendered: &[crate::model::Rendered]) -> Vec<Value> {
        rendered
            .iter()
            .flat_map(|c| &c.manifests)
            .filter(|m| m.kind == "NetworkPolicy")
            .map(|m| m.body.clone())
            .collect()
    }

    #[test]
    fn the_aiops_production_policies_let_every_declared_flow_through() {
        let r = crate::stacks::testing::resolve("aiops-production", &[]);
        let rendered = r.render();
        let flows = r.stack.flows(&r.values, &r.release).unwrap();
        let policies = policies_of(&rendered);
        assert!(policies.len() > 10, "the profile renders NetworkPolicies");
        let e = blocked_flows(&policies, &pods_of(&rendered), &json!({}), &flows);
        let lines: Vec<String> = e.blocked.iter().map(Blocked::describe).collect();
        assert!(lines.is_empty(), "{lines:#?}");
    }

    #[test]
    fn the_aiops_stacks_own_policies_let_every_declared_flow_through() {
        let r = crate::stacks::testing::resolve(
            "aiops-minimal",
            &[
                "networkPolicy.enabled=true",
                "networkPolicy.defaultDeny=true",
            ],
        );
        let rendered = r.render();
        let policies = policies_of(&rendered);
        assert!(
            policies
                .iter()
                .any(|p| p["metadata"]["name"] == "rel-default-deny"),
            "rendered with default deny"
        );
        let pods = pods_of(&rendered);
        let flows = r.stack.flows(&r.values, &r.release).unwrap();
        assert!(flows.len() > 20, "{flows:#?}");
        let e = blocked_flows(&policies, &pods, &json!({}), &flows);
        let lines: Vec<String> = e.blocked.iter().map(Blocked::describe).collect();
        assert!(lines.is_empty(), "{lines:#?}");
        assert!(e.skipped.is_empty(), "{:#?}", e.skipped);

        // A deny-all of the user's adds nothing to policies that allow.
        let mut deny = deny_all();
        deny["metadata"]["namespace"] = json!(r.release.namespace);
        let mut with_deny = policies.clone();
        with_deny.push(deny.clone());
        let e = blocked_flows(&with_deny, &pods, &json!({}), &flows);
        assert!(e.blocked.is_empty(), "{:#?}", e.blocked);

        // Alone, it blocks every flow, each on the side(s) in the namespace.
        let e = blocked_flows(&[deny], &pods, &json!({}), &flows);
        for f in &flows {
            let blocked: BTreeSet<Direction> = e
                .blocked
                .iter()
                .filter(|b| &b.flow == f)
                .map(|b| b.direction)
                .collect();
            let inside = |p: &Peer| matches!(p, Peer::Pods(_) | Peer::Probes);
            let mut expected = BTreeSet::new();
            if inside(&f.from) {
                expected.insert(Direction::Egress);
            }
            if inside(&f.to) {
                expected.insert(Direction::Ingress);
            }
            // A component talking to its own single pod blocks nothing.
            if f.from == f.to {
                continue;
            }
            assert_eq!(blocked, expected, "{f}");
        }
        assert!(
            e.blocked
                .iter()
                .any(|b| b.describe()
                    == "grafana → prometheus tcp/9090: ingress of prometheus denied by networkpolicy/deny-all"),
            "{:#?}",
            e.blocked.iter().map(Blocked::describe).collect::<Vec<_>>()
        );
    }

    /// Every built-in profile of both stacks, as it is and with the policies on,
    /// with and without default deny: every flow its stack declares (probes,
    /// scraping, the API server included) passes the rendered policies, so does
    /// DNS from every pod to the cluster's resolver, and flows nobody declared
    /// (each pod to every container port of every other component, unless the
    /// table lets anyone reach that port) are denied.
    #[test]
    fn every_profile_allows_its_flows_and_denies_the_undeclared() {
        let modes: [&[&str]; 3] = [
            &[],
            &[
                "networkPolicy.enabled=true",
                "networkPolicy.defaultDeny=false",
            ],
            &[
                "networkPolicy.enabled=true",
                "networkPolicy.defaultDeny=true",
            ],
        ];
        let mut checked_profiles = 0;
        for profile in crate::stacks::testing::builtin_profiles() {
            for sets in modes {
                let r = crate::stacks::testing::resolve(&profile, sets);
                let rendered = r.render();
                let policies = policies_of(&rendered);
                let what = format!("{profile} {sets:?}");
                if policies.is_empty() {
                    // Only the profile as it is may come without policies.
                    assert!(sets.is_empty(), "{what}: no NetworkPolicy rendered");
                    continue;
                }
                let default_deny = policies
                    .iter()
                    .any(|p| p["metadata"]["name"] == "rel-default-deny");
                let mut pods = pods_of(&rendered);
                pods.push(resolver_pod());
                let declared = r.stack.flows(&r.values, &r.release).unwrap();
                let components = crate::model::with_pods(&rendered);
                let mut flows = declared.clone();
                flows.extend(dns_flows(&components));
                let e = blocked_flows(&policies, &pods, &json!({}), &flows);
                let lines: Vec<String> = e.blocked.iter().map(Blocked::describe).collect();
                assert!(lines.is_empty(), "{what}: {lines:#?}");
                assert!(e.skipped.is_empty(), "{what}: {:#?}", e.skipped);

                let undeclared = undeclared_flows(&pods, &declared, &components);
                assert!(!undeclared.is_empty(), "{what}: nothing to sample");
                let e = blocked_flows(&policies, &pods, &json!({}), &undeclared);
                for f in &undeclared {
                    assert!(
                        e.blocked.iter().any(|b| &b.flow == f),
                        "{what}: nobody declared {f}, yet the policies allow it"
                    );
                }
                // Under default deny, a pod's egress is closed too: to the outside
                // on a port no flow declares (443 and 6443 are open to the
                // components that reach the API server, whose address is unknown).
                if default_deny {
                    for c in ["mysql", "fluentbit", "grafana", "kafka"] {
                        let f = Flow {
                            from: Peer::Pods(c),
                            to: Peer::Anywhere,
                            ports: crate::model::tcp(&[80]),
                        };
                        let open = declared
                            .iter()
                            .any(|d| d.from == f.from && d.to == Peer::Anywhere);
                        if !components.contains(c) || open {
                            continue;
                        }
                        let e =
                            blocked_flows(&policies, &pods, &json!({}), std::slice::from_ref(&f));
                        assert!(!e.blocked.is_empty(), "{what}: {f} is allowed");
                    }
                }
                checked_profiles += 1;
            }
        }
        assert!(checked_profiles >= 14, "{checked_profiles}");
    }

    /// A CoreDNS pod in `kube-system`, labelled as the default DNS peers select.
    fn resolver_pod() -> Value {
        json!({
            "metadata": {
                "name": "coredns-0",
                "namespace": "kube-system",
                "labels": {"k8s-app": "kube-dns", COMPONENT_LABEL: "cluster-dns"},
            },
            "spec": {"containers": [{"name": "coredns"}]},
            "status": {"podIP": "10.43.0.10"},
        })
    }

    /// Name resolution from every component with pods, over UDP and TCP.
    fn dns_flows(components: &BTreeSet<&'static str>) -> Vec<Flow> {
        components
            .iter()
            .map(|c| Flow {
                from: Peer::Pods(c),
                to: Peer::Pods("cluster-dns"),
                ports: vec![(Proto::Udp, 53), (Proto::Tcp, 53)],
            })
            .collect()
    }

    /// From each component's pod to each TCP container port of every other
    /// component, the flows the table does not declare. Left out: pods in the host
    /// network (no policy governs them), and ports the table opens to anyone (an `Anywhere`, ingress controller or other clients'
    /// flow), which any pod may then reach too.
    fn undeclared_flows(
        pods: &[Value],
        declared: &[Flow],
        components: &BTreeSet<&'static str>,
    ) -> Vec<Flow> {
        let component = |p: &Value| {
            p["metadata"]["labels"][COMPONENT_LABEL]
                .as_str()
                .and_then(|c| components.get(c).copied())
        };
        let open_to_anyone = |to: &Peer, port: u16| {
            declared.iter().any(|f| {
                &f.to == to
                    && matches!(
                        f.from,
                        Peer::Anywhere | Peer::IngressController | Peer::OtherClients(_)
                    )
                    && (f.ports.is_empty() || f.ports.contains(&(Proto::Tcp, port)))
            })
        };
        let is_declared = |from: &Peer, to: &Peer, port: u16| {
            declared.iter().any(|f| {
                &f.from == from
                    && &f.to == to
                    && (f.ports.is_empty() || f.ports.contains(&(Proto::Tcp, port)))
            })
        };
        let mut out: Vec<Flow> = Vec::new();
        for a in pods.iter().filter_map(component) {
            for b_pod in pods {
                let Some(b) = component(b_pod) else { continue };
                // NetworkPolicies do not govern pods in the host network.
                if a == b || b_pod["spec"]["hostNetwork"] == true {
                    continue;
                }
                let ports = b_pod["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|c| c["ports"].as_array().into_iter().flatten())
                    .filter_map(|p| p["containerPort"].as_u64())
                    .filter_map(|p| u16::try_from(p).ok());
                for port in ports {
                    let (from, to) = (Peer::Pods(a), Peer::Pods(b));
                    if is_declared(&from, &to, port) || open_to_anyone(&to, port) {
                        continue;
                    }
                    let f = Flow {
                        from,
                        to,
                        ports: crate::model::tcp(&[port]),
                    };
                    if !out.contains(&f) {
                        out.push(f);
                    }
                }
            }
        }
        out
    }
}
