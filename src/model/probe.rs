//! What a stack asks the probe runner to check: stack-neutral data, so a stack can
//! declare its probes without knowing how they are run.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements};

use super::{MANAGED_BY, RELEASE_LABEL, Release};

/// Label on every probe Job and pod: the component probed.
pub const PROBE_LABEL: &str = "stackctl.dev/probe";
/// `app.kubernetes.io/name` of every probe pod, whatever it probes: what
/// NetworkPolicies admit probes by.
pub const PROBE_APP_NAME: &str = "stackctl-probe";
/// Until the service answers or the check fails, counted from the Job's start, so it
/// includes scheduling and the image pull.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(120);

/// One connectivity check of one component, rendered by the probe runner as a Job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeSpec {
    /// The component probed; the Job is `<release>-test-<component>`.
    pub component: String,
    /// What is probed, for the table: `host:port`, a URL, brokers.
    pub target: String,
    /// What is proven, for the table: "SELECT 1 as clickvisual in clickvisual".
    pub check: String,
    /// The dependency is configured as external (`<dependency>.enabled=false`): it
    /// exists before the release does, so preflight probes it.
    pub external: bool,
    /// An image that carries the client (the service's own image where it has one).
    pub image: String,
    pub pull_policy: String,
    /// A POSIX shell script reading only its env (the stacks keep them, see
    /// `stacks::probe_scripts` and the kit's components), run as `sh -c`.
    pub script: &'static str,
    /// Inputs of the script; credentials only as `secretKeyRef`.
    pub env: Vec<EnvVar>,
    /// `activeDeadlineSeconds` of the Job (overridden by `--timeout`).
    pub timeout: Duration,
    pub resources: ResourceRequirements,
    pub image_pull_secrets: Vec<String>,
    pub node_selector: BTreeMap<String, String>,
    /// Probe each pod matching a selector rather than one Service address.
    pub fan_out: Option<FanOut>,
}

/// One Job per pod matching `selector` (in the release namespace), with env `env`
/// set to `template` where `{ip}` is the pod's IP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FanOut {
    pub selector: BTreeMap<String, String>,
    pub env: &'static str,
    pub template: String,
}

/// Labels of a probe Job and its pods. Deliberately not the component's own selector
/// labels: a probe pod must never be selected by the Service it probes.
pub fn probe_labels(release: &Release, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (RELEASE_LABEL.to_string(), release.name.clone()),
        (PROBE_LABEL.to_string(), component.to_string()),
        (
            "app.kubernetes.io/name".to_string(),
            PROBE_APP_NAME.to_string(),
        ),
        (
            "app.kubernetes.io/instance".to_string(),
            release.name.clone(),
        ),
        (
            "app.kubernetes.io/part-of".to_string(),
            release.stack.to_string(),
        ),
        (
            "app.kubernetes.io/managed-by".to_string(),
            MANAGED_BY.to_string(),
        ),
    ])
}

/// The probes of dependencies configured as external: the only ones that can run
/// before the release is installed (preflight).
pub fn external_probes(probes: Vec<ProbeSpec>) -> Vec<ProbeSpec> {
    probes.into_iter().filter(|p| p.external).collect()
}

/// Every `(secret, key)` the probes read credentials from.
pub fn secret_refs(probes: &[ProbeSpec]) -> Vec<(String, String)> {
    let mut refs: Vec<(String, String)> = probes
        .iter()
        .flat_map(|p| &p.env)
        .filter_map(|e| e.value_from.as_ref()?.secret_key_ref.as_ref())
        .map(|r| (r.name.clone(), r.key.clone()))
        .collect();
    refs.sort();
    refs.dedup();
    refs
}
