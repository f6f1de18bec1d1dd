//! What the target cluster serves, for kinds whose API version moved, and the
//! Kubernetes versions components need ([`KubeRequirement`]).

/// Which API versions the target cluster serves, for kinds whose version moved.
/// Chosen by discovery when a cluster is reachable, else from `--kube-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The server's minor version (1.x); `u32::MAX` for "latest" or when the server
    /// did not say.
    pub minor: u32,
    /// `policy/v1` PodDisruptionBudget (Kubernetes ≥ 1.21), else `policy/v1beta1`.
    pub pdb_v1: bool,
    /// `networking.k8s.io/v1` Ingress and IngressClass (Kubernetes ≥ 1.19).
    pub ingress_v1: bool,
    /// `batch/v1` CronJob (Kubernetes ≥ 1.21), else `batch/v1beta1`.
    pub cronjob_v1: bool,
}

impl Capabilities {
    /// What a cluster of the given minor version (1.x) serves.
    pub fn for_minor(minor: u32) -> Self {
        Capabilities {
            minor,
            pdb_v1: minor >= 21,
            ingress_v1: minor >= 19,
            cronjob_v1: minor >= 21,
        }
    }

    pub fn latest() -> Self {
        Self::for_minor(u32::MAX)
    }
}

/// A component that works only from a Kubernetes version on: below it, it may
/// install and then silently not work, so preflight refuses (unless overridden).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeRequirement {
    /// The component, as its objects' `app.kubernetes.io/component` label.
    pub component: String,
    /// The lowest minor version (1.x) it works on.
    pub min_minor: u32,
    /// What it needs from that version, e.g. the API it reads.
    pub needs: String,
    /// How to install without it on an older cluster (`--set` flags, each a way).
    pub ways_out: Vec<String>,
}

impl KubeRequirement {
    /// The problem, worded for a person, when the cluster is older than needed.
    pub fn unmet(&self, caps: Capabilities, server_version: &str) -> Option<String> {
        (caps.minor < self.min_minor).then(|| {
            format!(
                "{} needs Kubernetes 1.{} or newer ({}); the cluster is {server_version} — {}",
                self.component,
                self.min_minor,
                self.needs,
                self.ways_out.join("; or ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requirement_is_unmet_below_its_minor_only() {
        let r = KubeRequirement {
            component: "traefik".into(),
            min_minor: 21,
            needs: "discovery.k8s.io/v1 EndpointSlices".into(),
            ways_out: vec!["--set traefik.enabled=false".into(), "x".into()],
        };
        let msg = r.unmet(Capabilities::for_minor(20), "v1.20.2").unwrap();
        assert!(
            msg.starts_with("traefik needs Kubernetes 1.21 or newer"),
            "{msg}"
        );
        assert!(msg.contains("v1.20.2"), "{msg}");
        assert!(msg.contains("--set traefik.enabled=false; or x"), "{msg}");
        assert_eq!(r.unmet(Capabilities::for_minor(21), "v1.21.0"), None);
        assert_eq!(r.unmet(Capabilities::latest(), "v1.33.1"), None);
    }

    #[test]
    fn capabilities_follow_the_minor_version() {
        assert!(!Capabilities::for_minor(20).pdb_v1);
        assert!(Capabilities::for_minor(21).pdb_v1);
        assert!(Capabilities::latest().pdb_v1);
        assert!(!Capabilities::for_minor(20).cronjob_v1);
        assert!(Capabilities::for_minor(21).cronjob_v1);
    }
}
