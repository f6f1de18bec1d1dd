//! Building blocks shared by every stack's components: containers, probes, security
//! contexts, volume claims, Services, StatefulSets and PodDisruptionBudgets.
//!
//! Nothing here may set a field newer than Kubernetes 1.20: the oldest cluster we
//! support rejects (or, worse, silently drops) unknown fields.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities as LinuxCapabilities, ConfigMap, ConfigMapVolumeSource, Container,
    ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, ExecAction, HTTPGetAction,
    HostPathVolumeSource, LocalObjectReference, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodAffinityTerm, PodAntiAffinity,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    Secret, SecretKeySelector, SecretVolumeSource, SecurityContext, Service, ServiceAccount,
    ServicePort, ServiceSpec, TCPSocketAction, Volume, VolumeMount, VolumeResourceRequirements,
    WeightedPodAffinityTerm,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::component::Builder;
use super::kit::values::{Rbac, ServiceAccount as ServiceAccountValues};
use crate::model::{Capabilities, Phase, Release};

/// Annotation on pod templates carrying a hash of the configuration the pods read, so
/// that a configuration change rolls them.
pub const CONFIG_CHECKSUM_ANNOTATION: &str = "stackctl.dev/config-checksum";

/// Shell expression for a StatefulSet pod's ordinal: the image has no variable for
/// it, but the hostname is `<statefulset>-<ordinal>`.
pub const ORDINAL_SH: &str = "${HOSTNAME##*-}";

/// How replicas of one component are spread over nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AntiAffinity {
    #[default]
    None,
    /// Preferred: replicas still schedule on a single node cluster.
    Soft,
    /// Required: a replica stays Pending rather than share a node.
    Hard,
}

/// Pod settings a stack applies to every workload (its `global.*` values).
#[derive(Debug, Clone, Default)]
pub struct PodGlobals {
    pub image_registry: String,
    pub image_pull_secrets: Vec<String>,
    pub node_selector: BTreeMap<String, String>,
    pub anti_affinity: AntiAffinity,
    pub storage_class: String,
    pub pod_disruption_budgets: bool,
}

// ---------------------------------------------------------------------------------
// Names

/// `<release>-<component>`: the workload and its client Service.
pub fn workload_name(b: &Builder<'_>) -> String {
    b.release().object_name(b.component())
}

/// `<release>-<component>-headless`: the governing Service of a StatefulSet.
pub fn headless_name(release: &Release, component: &str) -> String {
    release.object_name(&format!("{component}-headless"))
}

/// Stable DNS name of one StatefulSet pod, through its headless Service.
pub fn pod_host(release: &Release, component: &str, ordinal: u32) -> String {
    format!(
        "{}-{ordinal}.{}.{}.svc",
        release.object_name(component),
        headless_name(release, component),
        release.namespace
    )
}

// ---------------------------------------------------------------------------------
// Images, resources, storage

/// Full image reference: the mirror prefix, then `repo:tag`, `repo:tag@digest`
/// with a digest, or `repo@digest` for a tag that is itself a digest.
pub fn image(registry: &str, repository: &str, tag: &str, digest: &str) -> String {
    let prefix = match registry {
        "" => String::new(),
        r if r.ends_with('/') => r.to_string(),
        r => format!("{r}/"),
    };
    let sep = if tag.contains(':') { '@' } else { ':' };
    let pinned = if digest.is_empty() {
        String::new()
    } else {
        format!("@{digest}")
    };
    format!("{prefix}{repository}{sep}{tag}{pinned}")
}

/// Requests and limits, each a `(cpu, memory)` pair of Kubernetes quantities.
pub fn resources(requests: (&str, &str), limits: (&str, &str)) -> ResourceRequirements {
    let list = |(cpu, memory): (&str, &str)| {
        BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.to_string())),
            ("memory".to_string(), Quantity(memory.to_string())),
        ])
    };
    ResourceRequirements {
        requests: Some(list(requests)),
        limits: Some(list(limits)),
        ..Default::default()
    }
}

/// Small fixed resources for helper init containers, so that namespaces with a
/// ResourceQuota accept the pod.
pub fn helper_resources() -> ResourceRequirements {
    resources(("10m", "16Mi"), ("100m", "64Mi"))
}

/// The StorageClass of a claim: the component's own, else the stack's, else none so
/// that the cluster's default class applies.
pub fn storage_class(component: &str, global: &str) -> Option<String> {
    [component, global]
        .into_iter()
        .find(|c| !c.is_empty())
        .map(str::to_string)
}

/// A StatefulSet volume claim template. Its labels leave out the version: claim
/// templates are immutable, so they must not change when an image tag does.
pub fn volume_claim(
    b: &Builder<'_>,
    name: &str,
    size: &str,
    storage_class: Option<String>,
) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(stable_labels(b)),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: storage_class,
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity(size.to_string()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A pod volume of an existing claim.
pub fn claim_volume(name: &str, claim: &str) -> Volume {
    Volume {
        name: name.to_string(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.to_string(),
            read_only: None,
        }),
        ..Default::default()
    }
}

/// Labels that do not change across upgrades (everything but the version).
pub fn stable_labels(b: &Builder<'_>) -> BTreeMap<String, String> {
    let mut labels = b.labels();
    labels.remove("app.kubernetes.io/version");
    labels
}

// ---------------------------------------------------------------------------------
// Containers

/// A container with the image, pull policy, resources and the restricted security
/// context every container here starts from.
pub fn container(
    name: &str,
    image: String,
    pull_policy: &str,
    resources: ResourceRequirements,
) -> Container {
    Container {
        name: name.to_string(),
        image: Some(image),
        image_pull_policy: Some(pull_policy.to_string()),
        resources: Some(resources),
        security_context: Some(container_security()),
        // The tail of the log is what `stackctl` shows when a pod fails.
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    }
}

/// No privilege escalation and no capabilities: none of our images binds a port
/// below 1024 or needs to change file ownership once the pod's fsGroup applies.
pub fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(LinuxCapabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The container with a read-only root filesystem: for images whose contract
/// lists every path they write (`crate::stacks::contracts`, read at the pinned
/// tag), each of which the container mounts; `tests/contracts.rs` fails a
/// rendered container under a read-only root that leaves one unmounted.
pub fn read_only_root(mut c: Container) -> Container {
    c.security_context
        .get_or_insert_with(container_security)
        .read_only_root_filesystem = Some(true);
    c
}

/// Pod security context: run as the image's own user (`None`: the image default),
/// group-own volumes by `fs_group`, and the runtime's default seccomp profile.
pub fn pod_security(user: Option<i64>, fs_group: Option<i64>) -> PodSecurityContext {
    PodSecurityContext {
        run_as_user: user,
        run_as_group: user.and(fs_group),
        run_as_non_root: user.map(|u| u != 0),
        fs_group,
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn container_port(name: &str, port: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_string()),
        container_port: port,
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

pub fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        ..Default::default()
    }
}

/// An env var read from a Secret key: credentials never appear in a pod spec.
/// A key in a Secret of the release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKey {
    pub secret: String,
    pub key: &'static str,
}

impl SecretKey {
    /// An env var `name` read from this key: how credentials reach every pod.
    pub fn env(&self, name: &str) -> EnvVar {
        env_secret(name, &self.secret, self.key)
    }
}

pub fn env_secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: key.to_string(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An env var from the downward API, e.g. `metadata.name` or `status.hostIP`.
pub fn env_field(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: field_path.to_string(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `sh -c <script>` as a container command or exec probe.
pub fn shell(script: impl Into<String>) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

/// Init container that blocks until `host:port` accepts TCP connections. It runs in
/// an image the pod already pulls, which must provide `nc` (busybox or netcat).
pub fn wait_for_tcp(
    name: &str,
    image: String,
    pull_policy: &str,
    host: &str,
    port: u16,
) -> Container {
    let script =
        format!("until nc -z -w 2 {host} {port}; do echo waiting for {host}:{port}; sleep 2; done");
    Container {
        command: Some(shell(script)),
        ..container(name, image, pull_policy, helper_resources())
    }
}

/// Init container that copies the image's own directory `dir` into `volume` (an
/// emptyDir the main container mounts at `dir`): for an image whose entrypoint
/// writes into a directory that also holds files of the image, under a read-only
/// root. The copy runs as the pod's user, under a read-only root itself; `cp -R`
/// keeps no owner, so the files become the user's, readable as before.
pub fn seed_dir(
    name: &str,
    image: String,
    pull_policy: &str,
    dir: &str,
    volume: &str,
) -> Container {
    const SEED: &str = "/seed";
    let script = format!("cp -R {dir}/. {SEED}/");
    Container {
        command: Some(shell(script)),
        volume_mounts: Some(vec![mount(volume, SEED, false)]),
        ..read_only_root(container(name, image, pull_policy, helper_resources()))
    }
}

// ---------------------------------------------------------------------------------
// Probes

/// Probe timing in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub initial_delay: i32,
    pub period: i32,
    pub timeout: i32,
    pub failure_threshold: i32,
}

impl Timing {
    pub const READINESS: Timing = Timing {
        initial_delay: 5,
        period: 10,
        timeout: 5,
        failure_threshold: 3,
    };
    /// Liveness restarts a container, so it waits longer than readiness before acting.
    pub const LIVENESS: Timing = Timing {
        initial_delay: 30,
        period: 10,
        timeout: 5,
        failure_threshold: 6,
    };
    /// Up to ten minutes to start (first-time initialisation, log recovery); liveness
    /// only begins once this succeeds.
    pub const STARTUP: Timing = Timing {
        initial_delay: 10,
        period: 10,
        timeout: 5,
        failure_threshold: 60,
    };
}

fn timed(t: Timing, probe: Probe) -> Probe {
    Probe {
        initial_delay_seconds: Some(t.initial_delay),
        period_seconds: Some(t.period),
        timeout_seconds: Some(t.timeout),
        failure_threshold: Some(t.failure_threshold),
        success_threshold: Some(1),
        ..probe
    }
}

pub fn http_probe(path: &str, port: &str, t: Timing) -> Probe {
    timed(
        t,
        Probe {
            http_get: Some(HTTPGetAction {
                path: Some(path.to_string()),
                port: IntOrString::String(port.to_string()),
                scheme: Some("HTTP".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
}

pub fn tcp_probe(port: &str, t: Timing) -> Probe {
    timed(
        t,
        Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String(port.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
}

/// `sh -c <script>` run inside the container; it sees the container's env vars, so
/// credentials come from `secretKeyRef` env, never from the probe itself.
pub fn exec_probe(script: &str, t: Timing) -> Probe {
    timed(
        t,
        Probe {
            exec: Some(ExecAction {
                command: Some(shell(script)),
            }),
            ..Default::default()
        },
    )
}

// ---------------------------------------------------------------------------------
// Pods

/// Spreads replicas of one component over nodes.
pub fn anti_affinity(mode: AntiAffinity, selector: &BTreeMap<String, String>) -> Option<Affinity> {
    let term = || PodAffinityTerm {
        label_selector: Some(label_selector(selector)),
        topology_key: "kubernetes.io/hostname".into(),
        ..Default::default()
    };
    let anti = match mode {
        AntiAffinity::None => return None,
        AntiAffinity::Soft => PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: term(),
                },
            ]),
            ..Default::default()
        },
        AntiAffinity::Hard => PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![term()]),
            ..Default::default()
        },
    };
    Some(Affinity {
        pod_anti_affinity: Some(anti),
        ..Default::default()
    })
}

pub fn label_selector(labels: &BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels.clone()),
        ..Default::default()
    }
}

/// The pod spec every workload starts from: globals applied, Service links off (the
/// apache/kafka image turns every `KAFKA_*` variable into a broker setting, and a
/// Service named `kafka` would inject `KAFKA_PORT=tcp://…`), no API token unless the
/// component asks for one, and anti-affinity once there is more than one replica.
pub fn pod_spec(
    b: &Builder<'_>,
    globals: &PodGlobals,
    replicas: u32,
    security: PodSecurityContext,
) -> PodSpec {
    PodSpec {
        enable_service_links: Some(false),
        automount_service_account_token: Some(false),
        image_pull_secrets: (!globals.image_pull_secrets.is_empty()).then(|| {
            globals
                .image_pull_secrets
                .iter()
                .map(|name| LocalObjectReference { name: name.clone() })
                .collect()
        }),
        node_selector: (!globals.node_selector.is_empty()).then(|| globals.node_selector.clone()),
        affinity: if replicas > 1 {
            anti_affinity(globals.anti_affinity, &b.selector_labels())
        } else {
            None
        },
        security_context: Some(security),
        ..Default::default()
    }
}

/// Pod template with the component's labels and the given annotations (checksums).
pub fn pod_template(
    b: &Builder<'_>,
    annotations: BTreeMap<String, String>,
    spec: PodSpec,
) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(b.labels()),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        }),
        spec: Some(spec),
    }
}

/// `{CONFIG_CHECKSUM_ANNOTATION: checksum(config)}`.
pub fn checksum_annotation(config: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(CONFIG_CHECKSUM_ANNOTATION.to_string(), checksum(config))])
}

// ---------------------------------------------------------------------------------
// Objects

pub struct StatefulSetParts {
    pub replicas: u32,
    /// Start and stop all pods at once. Quorum systems need it: with ordered start, pod
    /// 0 waits to be Ready before pod 1 exists, and it cannot be Ready without a
    /// quorum. Immutable on a StatefulSet, so fixed per component, never per values.
    pub parallel: bool,
    pub pod_annotations: BTreeMap<String, String>,
    pub pod: PodSpec,
    pub claims: Vec<PersistentVolumeClaim>,
}

/// StatefulSet `<release>-<component>` governed by `<release>-<component>-headless`.
pub fn stateful_set(b: &Builder<'_>, mut parts: StatefulSetParts) -> StatefulSet {
    // With a group for its volumes, the kubelet changes a volume's ownership only
    // when the volume's root does not already carry it (`OnRootMismatch`, beta and
    // on by default from Kubernetes 1.20) instead of walking every file at each
    // start; the owner and group it sets are the same either way, so existing
    // volumes keep theirs.
    if let Some(sc) = parts.pod.security_context.as_mut()
        && sc.fs_group.is_some()
    {
        sc.fs_group_change_policy = Some("OnRootMismatch".into());
    }
    StatefulSet {
        metadata: b.meta(workload_name(b)),
        spec: Some(StatefulSetSpec {
            replicas: Some(parts.replicas as i32),
            selector: label_selector(&b.selector_labels()),
            service_name: Some(headless_name(b.release(), b.component())),
            pod_management_policy: Some(
                if parts.parallel {
                    "Parallel"
                } else {
                    "OrderedReady"
                }
                .into(),
            ),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                ..Default::default()
            }),
            template: pod_template(b, parts.pod_annotations, parts.pod),
            volume_claim_templates: (!parts.claims.is_empty()).then_some(parts.claims),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `(name, port)` of a Service port; it targets the container port of the same name.
pub fn service_port(name: &str, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_string()),
        port,
        target_port: Some(IntOrString::String(name.to_string())),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

/// Headless Service giving each pod a stable DNS name. Not-ready pods are published
/// too: peers must find each other before any of them is ready (quorum, replication).
pub fn headless_service(b: &Builder<'_>, ports: Vec<ServicePort>) -> Service {
    Service {
        metadata: b.meta(headless_name(b.release(), b.component())),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(b.selector_labels()),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Service `<release>-<component>` that clients connect to (ready pods only).
pub fn client_service(b: &Builder<'_>, type_: &str, ports: Vec<ServicePort>) -> Service {
    Service {
        metadata: b.meta(workload_name(b)),
        spec: Some(ServiceSpec {
            type_: Some(type_.to_string()),
            selector: Some(b.selector_labels()),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Opaque Secret. Values go in `data` rather than `stringData`: server-side apply
/// tracks `data`, whereas `stringData` never round-trips and confuses diffs.
pub fn secret(b: &Builder<'_>, name: String, data: BTreeMap<String, String>) -> Secret {
    Secret {
        metadata: b.meta(name),
        type_: Some("Opaque".into()),
        data: Some(
            data.into_iter()
                .map(|(k, v)| (k, ByteString(v.into_bytes())))
                .collect(),
        ),
        ..Default::default()
    }
}

pub fn config_map(b: &Builder<'_>, name: String, data: BTreeMap<String, String>) -> ConfigMap {
    ConfigMap {
        metadata: b.meta(name),
        data: Some(data),
        ..Default::default()
    }
}

/// Adds a PodDisruptionBudget allowing one voluntary disruption at a time, when the
/// stack asks for them and there is more than one replica; `policy/v1` or
/// `policy/v1beta1` as the cluster serves (the spec is the same in both).
pub fn push_pdb(b: &mut Builder<'_>, caps: Capabilities, globals: &PodGlobals, replicas: u32) {
    if !globals.pod_disruption_budgets || replicas <= 1 {
        return;
    }
    let pdb = PodDisruptionBudget {
        metadata: b.meta(workload_name(b)),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(label_selector(&b.selector_labels())),
            ..Default::default()
        }),
        ..Default::default()
    };
    if caps.pdb_v1 {
        b.push(pdb);
    } else {
        let body = serde_json::to_value(&pdb).expect("k8s-openapi objects serialize");
        b.push_value("policy/v1beta1", "PodDisruptionBudget", body);
    }
}

// ---------------------------------------------------------------------------------
// More objects: Deployments, Jobs, volumes, RBAC

/// Deployment `<release>-<component>` with the component's selector.
pub fn deployment(
    b: &Builder<'_>,
    replicas: u32,
    pod_annotations: BTreeMap<String, String>,
    pod: PodSpec,
) -> Deployment {
    Deployment {
        metadata: b.meta(workload_name(b)),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas as i32),
            selector: label_selector(&b.selector_labels()),
            template: pod_template(b, pod_annotations, pod),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A Job that runs its pod to completion once. Its name carries a hash of the pod
/// template: a Job's template is immutable, so a changed Job is a new object (the
/// old one is pruned), while an unchanged one is re-applied as a no-op.
pub fn job(b: &Builder<'_>, backoff_limit: i32, active_deadline: i64, pod: PodSpec) -> Job {
    let job = job_named(b, String::new(), backoff_limit, active_deadline, pod);
    let spec = job.spec.as_ref().expect("job_named sets a spec");
    let text = serde_json::to_string(&spec.template).expect("pod templates serialize");
    Job {
        metadata: b.meta(hashed_name(&workload_name(b), &text)),
        ..job
    }
}

/// A Job named by the caller, retrying up to `backoff_limit` times within
/// `active_deadline` seconds: in place (`OnFailure`) unless `pod` sets its own
/// restart policy.
pub fn job_named(
    b: &Builder<'_>,
    name: String,
    backoff_limit: i32,
    active_deadline: i64,
    pod: PodSpec,
) -> Job {
    let template = pod_template(
        b,
        BTreeMap::new(),
        PodSpec {
            restart_policy: pod.restart_policy.clone().or(Some("OnFailure".into())),
            ..pod
        },
    );
    Job {
        metadata: b.meta(name),
        spec: Some(JobSpec {
            backoff_limit: Some(backoff_limit),
            active_deadline_seconds: Some(active_deadline),
            template,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `<base>-<8 hex digits of content>`.
pub fn hashed_name(base: &str, content: &str) -> String {
    format!("{base}-{}", &checksum(content)[..8])
}

pub fn mount(volume: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: volume.to_string(),
        mount_path: path.to_string(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

/// One file of a volume mounted at `path` (`subPath`), leaving the rest of the
/// image's directory in place. Such a mount never sees updates: pair it with a
/// checksum annotation so that a change rolls the pods.
pub fn mount_file(volume: &str, path: &str, key: &str) -> VolumeMount {
    VolumeMount {
        sub_path: Some(key.to_string()),
        ..mount(volume, path, true)
    }
}

pub fn config_map_volume(name: &str, config_map: &str) -> Volume {
    Volume {
        name: name.to_string(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map.to_string(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn secret_volume(name: &str, secret: &str) -> Volume {
    Volume {
        name: name.to_string(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One key of a Secret as the file `password` (mode 0440: the pod's fsGroup reads
/// it), for a container that reads credentials from files rather than env vars.
pub fn secret_key_volume(name: &str, secret: &str, key: &str) -> Volume {
    secret_files_volume(name, secret, &[(key, "password")])
}

/// Keys of a Secret as files, `(key, file name)`, each mode 0440 like
/// [`secret_key_volume`]'s.
pub fn secret_files_volume(name: &str, secret: &str, files: &[(&str, &str)]) -> Volume {
    Volume {
        name: name.to_string(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_string()),
            items: Some(
                files
                    .iter()
                    .map(|(key, path)| k8s_openapi::api::core::v1::KeyToPath {
                        key: (*key).to_string(),
                        path: (*path).to_string(),
                        mode: Some(0o440),
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An emptyDir in memory (tmpfs): for a copy of a credential, which must not
/// reach the node's disk.
pub fn memory_dir(name: &str) -> Volume {
    Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            size_limit: Some(k8s_openapi::apimachinery::pkg::api::resource::Quantity(
                "1Mi".into(),
            )),
        }),
        ..Default::default()
    }
}

pub fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }
}

pub fn host_path(name: &str, path: &str) -> Volume {
    Volume {
        name: name.to_string(),
        host_path: Some(HostPathVolumeSource {
            path: path.to_string(),
            type_: None,
        }),
        ..Default::default()
    }
}

/// One RBAC rule.
pub fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(
            groups
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
        ),
        resources: Some(
            resources
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
        ),
        verbs: verbs.iter().map(std::string::ToString::to_string).collect(),
        ..Default::default()
    }
}

fn service_account_subject(b: &Builder<'_>, name: &str) -> Subject {
    Subject {
        kind: "ServiceAccount".into(),
        name: name.to_string(),
        namespace: Some(b.release().namespace.clone()),
        ..Default::default()
    }
}

/// ServiceAccount `name`, and a Role and RoleBinding of the same name granting
/// `rules` in the release namespace, all in the storage phase.
pub fn push_namespaced_rbac(b: &mut Builder<'_>, name: &str, rules: Vec<PolicyRule>) {
    push_service_account(b, name);
    b.push_in(
        Phase::Storage,
        Role {
            metadata: b.meta(name),
            rules: Some(rules),
        },
    );
    let subject = service_account_subject(b, name);
    b.push_in(
        Phase::Storage,
        RoleBinding {
            metadata: b.meta(name),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: name.to_string(),
            },
            subjects: Some(vec![subject]),
        },
    );
}

/// The ServiceAccount a component's pods run as, and whether stackctl creates it
/// and its cluster-wide RBAC: the component's `rbac.create` and
/// `serviceAccount.name` (validation requires a name when `create` is off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub create: bool,
    /// `automountServiceAccountToken` of the ServiceAccount stackctl creates: off, so
    /// that only pods asking for a token get one.
    pub automount: Option<bool>,
}

impl Account {
    pub fn new(b: &Builder<'_>, rbac: &Rbac, account: &ServiceAccountValues) -> Account {
        Account {
            name: if account.name.is_empty() {
                workload_name(b)
            } else {
                account.name.clone()
            },
            create: rbac.create,
            automount: Some(false),
        }
    }
}

/// Unless the account is an admin's (`rbac.create=false`): ServiceAccount
/// `account.name` in the release namespace, plus a ClusterRole and binding named
/// `<namespace>-<release>-<component>` granting `rules` cluster-wide.
pub fn push_cluster_rbac(b: &mut Builder<'_>, account: &Account, rules: Vec<PolicyRule>) {
    if !account.create {
        return;
    }
    let name = account.name.as_str();
    b.push_in(
        Phase::Storage,
        ServiceAccount {
            metadata: b.meta(name),
            automount_service_account_token: account.automount,
            ..Default::default()
        },
    );
    let cluster_name = b.release().cluster_object_name(b.component());
    b.push_in(
        Phase::Storage,
        ClusterRole {
            metadata: b.cluster_meta(cluster_name.clone()),
            rules: Some(rules),
            ..Default::default()
        },
    );
    let subject = service_account_subject(b, name);
    b.push_in(
        Phase::Storage,
        ClusterRoleBinding {
            metadata: b.cluster_meta(cluster_name.clone()),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: cluster_name,
            },
            subjects: Some(vec![subject]),
        },
    );
}

fn push_service_account(b: &mut Builder<'_>, name: &str) {
    b.push_in(
        Phase::Storage,
        ServiceAccount {
            metadata: b.meta(name),
            automount_service_account_token: Some(false),
            ..Default::default()
        },
    );
}

// ---------------------------------------------------------------------------------
// Hashing

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a from a chosen offset basis. Spelled out rather than taken from std,
/// whose hasher may change between Rust releases: rendered manifests must be
/// byte-identical from one build to the next.
pub fn stable_hash(data: &[u8], seed: u64) -> u64 {
    data.iter().fold(FNV_OFFSET ^ seed, |h, &byte| {
        (h ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

/// Hex digest of a configuration, for change detection (not for security).
pub fn checksum(data: &str) -> String {
    format!("{:016x}", stable_hash(data.as_bytes(), 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PHASE_ANNOTATION, Phase, RELEASE_LABEL};

    fn release() -> Release {
        Release {
            name: "cv".into(),
            namespace: "logs".into(),
            stack: "clickvisual",
            revision: 1,
        }
    }

    #[test]
    fn image_references() {
        assert_eq!(image("", "mysql", "8.4", ""), "mysql:8.4");
        assert_eq!(
            image("mirror.local/", "mysql", "8.4", ""),
            "mirror.local/mysql:8.4"
        );
        assert_eq!(
            image("mirror.local", "mysql", "8.4", ""),
            "mirror.local/mysql:8.4"
        );
        assert_eq!(image("", "redis", "sha256:abc", ""), "redis@sha256:abc");
        assert_eq!(
            image("mirror.local/", "mysql", "8.4", "sha256:abc"),
            "mirror.local/mysql:8.4@sha256:abc"
        );
    }

    #[test]
    fn storage_class_precedence() {
        assert_eq!(storage_class("fast", "standard").as_deref(), Some("fast"));
        assert_eq!(storage_class("", "standard").as_deref(), Some("standard"));
        assert_eq!(storage_class("", ""), None);
    }

    #[test]
    fn pod_hosts_go_through_the_headless_service() {
        assert_eq!(
            pod_host(&release(), "kafka", 2),
            "cv-kafka-2.cv-kafka-headless.logs.svc"
        );
    }

    #[test]
    fn claim_templates_do_not_carry_the_version() {
        let r = release();
        let b = Builder::new(&r, "mysql", Phase::Data, "8.4");
        let claim = volume_claim(&b, "data", "8Gi", None);
        let labels = claim.metadata.labels.unwrap();
        assert!(!labels.contains_key("app.kubernetes.io/version"));
        assert_eq!(labels[RELEASE_LABEL], "cv");
        assert!(claim.spec.unwrap().storage_class_name.is_none());
    }

    #[test]
    fn pdb_version_follows_capabilities() {
        let r = release();
        let globals = PodGlobals {
            pod_disruption_budgets: true,
            ..Default::default()
        };
        for (caps, expected) in [
            (Capabilities::for_minor(20), "policy/v1beta1"),
            (Capabilities::for_minor(21), "policy/v1"),
        ] {
            let mut b = Builder::new(&r, "kafka", Phase::Data, "3.9.1");
            push_pdb(&mut b, caps, &globals, 3);
            let rendered = b.finish(vec![]);
            assert_eq!(rendered.manifests.len(), 1);
            let m = &rendered.manifests[0];
            assert_eq!(m.api_version, expected);
            assert_eq!(m.body["apiVersion"], expected);
            assert_eq!(m.body["spec"]["maxUnavailable"], 1);
            assert_eq!(m.body["metadata"]["annotations"][PHASE_ANNOTATION], "data");
        }
    }

    #[test]
    fn no_pdb_for_a_single_replica_or_when_disabled() {
        let r = release();
        let mut b = Builder::new(&r, "kafka", Phase::Data, "3.9.1");
        let on = PodGlobals {
            pod_disruption_budgets: true,
            ..Default::default()
        };
        push_pdb(&mut b, Capabilities::latest(), &on, 1);
        push_pdb(&mut b, Capabilities::latest(), &PodGlobals::default(), 3);
        assert!(b.finish(vec![]).manifests.is_empty());
    }

    #[test]
    fn checksums_are_stable() {
        // Fixed value: golden snapshots depend on it not changing between builds.
        assert_eq!(checksum(""), "cbf29ce484222325");
        assert_ne!(checksum("a"), checksum("b"));
    }
}
