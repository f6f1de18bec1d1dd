//! What the target cluster serves, for kinds whose API version moved.

/// Which API versions the target cluster serves, for kinds whose version moved.
/// Chosen by discovery when a cluster is reachable, else from `--kube-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `policy/v1` PodDisruptionBudget (Kubernetes ≥ 1.21), else `policy/v1beta1`.
    pub pdb_v1: bool,
    /// `networking.k8s.io/v1` Ingress and IngressClass (Kubernetes ≥ 1.19).
    pub ingress_v1: bool,
}

impl Capabilities {
    /// What a cluster of the given minor version (1.x) serves.
    pub fn for_minor(minor: u32) -> Self {
        Capabilities {
            pdb_v1: minor >= 21,
            ingress_v1: minor >= 19,
        }
    }

    pub fn latest() -> Self {
        Self::for_minor(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_follow_the_minor_version() {
        assert!(!Capabilities::for_minor(20).pdb_v1);
        assert!(Capabilities::for_minor(21).pdb_v1);
        assert!(Capabilities::latest().pdb_v1);
    }
}
