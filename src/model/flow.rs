//! The connections a stack's components open ([`Flow`]): what a stack renders its
//! NetworkPolicies from, and what `doctor` checks live NetworkPolicies against.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    /// Pods of one component of this release (its `app.kubernetes.io/component`).
    Pods(&'static str),
    /// Any address: the edge, log shippers, notification targets, external services.
    Anywhere,
    /// The Kubernetes API server.
    ApiServer,
    /// stackctl's connectivity probe pods of this release.
    Probes,
    /// The ingress controller that serves the release's Ingress when it is not one
    /// of the release's own components.
    IngressController,
    /// Clients of one component's service from outside the release, as the values
    /// name them (other producers writing to Kafka).
    OtherClients(&'static str),
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Pods(c) => f.write_str(c),
            Peer::Anywhere => f.write_str("anywhere"),
            Peer::ApiServer => f.write_str("the API server"),
            Peer::Probes => f.write_str("stackctl probes"),
            Peer::IngressController => f.write_str("the ingress controller"),
            Peer::OtherClients(c) => write!(f, "other clients of {c}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// As NetworkPolicy ports spell it.
    pub fn as_k8s(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// One connection a component opens: who opens it, to whom, on which ports
/// (empty: all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub from: Peer,
    pub to: Peer,
    pub ports: Vec<(Proto, u16)>,
}

impl Flow {
    /// `tcp/3000,udp/53`, or `all ports`.
    pub fn ports_text(&self) -> String {
        ports_text(&self.ports)
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {} {}", self.from, self.to, self.ports_text())
    }
}

/// `tcp/3000,udp/53`, or `all ports` for none.
pub fn ports_text(ports: &[(Proto, u16)]) -> String {
    if ports.is_empty() {
        return "all ports".to_string();
    }
    ports
        .iter()
        .map(|(proto, port)| format!("{proto}/{port}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Ports the API server may listen on (the `kubernetes` Service's endpoints are
/// outside the pod network and differ between distributions).
pub const API_SERVER_PORTS: [u16; 2] = [443, 6443];

/// The same ports, each over TCP.
pub fn tcp(ports: &[u16]) -> Vec<(Proto, u16)> {
    ports.iter().map(|p| (Proto::Tcp, *p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_reads_as_one_line() {
        let f = Flow {
            from: Peer::Pods("prometheus"),
            to: Peer::Pods("grafana"),
            ports: tcp(&[3000]),
        };
        assert_eq!(f.to_string(), "prometheus → grafana tcp/3000");
        let any = Flow {
            from: Peer::Pods("alertmanager"),
            to: Peer::Anywhere,
            ports: vec![],
        };
        assert_eq!(any.to_string(), "alertmanager → anywhere all ports");
    }
}
