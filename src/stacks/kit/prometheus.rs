//! Prometheus, as every stack runs it: one StatefulSet with retention and volume
//! from values, a ServiceAccount allowed to discover pods, endpoints and services
//! of the release namespace only, and the stack's configuration files in a
//! ConfigMap whose checksum rolls the pod. What to scrape (and any alert rules) is
//! the stack's: it hands over the files and any flags of its own.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ctx::{Ctx, DATA_VOLUME, StackValues};
use super::values::{NoExtras, Persistence};
use crate::model::{BackupSpec, Phase, ProbeSpec, Rendered, Step, VolumeCopy};
use crate::stacks::backup_scripts;
use crate::stacks::component::Builder;
use crate::stacks::probe_scripts;
use crate::stacks::types::{Image, Resources};
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "prometheus";
pub const PORT: u16 = 9090;
/// Where the ConfigMap is mounted.
pub const CONFIG_DIR: &str = "/etc/prometheus";
/// `nobody`, the user (and group) of the prom/prometheus image.
const UID: i64 = 65534;
/// Its TSDB: the image's declared data directory (its contract).
const DATA_DIR: &str = "/prometheus";

/// `prometheus.*`. A stack adds keys of its own (AIOps: `scrapeInterval`,
/// `alertRules`) through `X`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Prometheus<X = NoExtras> {
    pub enabled: bool,
    pub image: Image,
    /// `--storage.tsdb.retention.time`, e.g. `15d`.
    pub retention: String,
    #[serde(flatten)]
    pub stack: X,
    pub persistence: Persistence,
    pub resources: Resources,
}

impl<X> std::ops::Deref for Prometheus<X> {
    type Target = X;
    fn deref(&self) -> &X {
        &self.stack
    }
}

impl<X> std::ops::DerefMut for Prometheus<X> {
    fn deref_mut(&mut self) -> &mut X {
        &mut self.stack
    }
}

/// What the stack decides about its Prometheus.
pub struct Setup {
    /// Files of the ConfigMap (`prometheus.yml` at least), in the order the pod's
    /// checksum covers them.
    pub files: Vec<(String, String)>,
    /// Path prefix Prometheus serves under (`--web.route-prefix`); empty: `/`.
    pub route_prefix: String,
    /// Flags after the kit's own (configuration file, TSDB path, retention).
    pub args: Vec<String>,
}

pub fn render<V: StackValues, C, X>(
    ctx: &Ctx<'_, V, C>,
    v: &Prometheus<X>,
    setup: &Setup,
) -> Option<Rendered> {
    if !v.enabled {
        return None;
    }
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Apps, &v.image.tag);
    let name = w::workload_name(&b);
    w::push_namespaced_rbac(
        &mut b,
        &name,
        vec![w::rule(
            &[""],
            &["endpoints", "pods", "services"],
            &["get", "list", "watch"],
        )],
    );

    let checksum = w::checksum_annotation(
        setup
            .files
            .iter()
            .map(|(_, text)| text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
            .as_str(),
    );
    let config_name = ctx.release.object_name("prometheus-config");
    b.push_in(
        Phase::Storage,
        w::config_map(
            &b,
            config_name.clone(),
            setup.files.iter().cloned().collect::<BTreeMap<_, _>>(),
        ),
    );

    let ports = vec![w::service_port("http", i32::from(PORT))];
    b.push(w::headless_service(&b, ports.clone()));
    b.push(w::client_service(&b, "ClusterIP", ports));
    let pod = PodSpec {
        service_account_name: Some(name),
        // Service discovery reads the API with this token.
        automount_service_account_token: Some(true),
        containers: vec![container(ctx, v, setup)],
        volumes: Some(vec![w::config_map_volume("config", &config_name)]),
        ..ctx.pod_spec(&b, 1, w::pod_security(Some(UID), Some(UID)))
    };
    b.push(ctx.single_stateful_set(&b, checksum, pod, &v.persistence));
    Some(b.finish(vec![]))
}

/// Opt-in (`backup create --component prometheus`): the whole TSDB (blocks,
/// write-ahead log, head chunks), copied from the volume with Prometheus stopped,
/// so it is consistent without the admin API a snapshot needs (which would then
/// have to be kept from the Ingress route and every other pod). Prometheus
/// scrapes nothing while it is stopped: a gap in the metrics as long as the copy.
pub fn backup<V: StackValues, C, X>(ctx: &Ctx<'_, V, C>, v: &Prometheus<X>) -> Option<BackupSpec> {
    if !v.enabled {
        return None;
    }
    let stateful_set = ctx.release.object_name(COMPONENT);
    let env = vec![("WHAT".to_string(), COMPONENT.to_string())];
    Some(BackupSpec {
        file: "prometheus.tar.gz".into(),
        dump: Step {
            script: backup_scripts::volume_dump(),
            env: env.clone(),
            credentials: Vec::new(),
        },
        restore: Some(Step {
            script: backup_scripts::volume_restore(),
            env,
            credentials: Vec::new(),
        }),
        default: false,
        experimental: Some(
            "its scripts ran against Debian's Prometheus 2.42 and GNU tar, not the image's v3.4.1 and BusyBox",
        ),
        own_volume: Some(VolumeCopy {
            claim: format!("{DATA_VOLUME}-{stateful_set}-0"),
            stopped: Some(stateful_set),
            mount: DATA_DIR.into(),
            gid: UID,
            beside: std::collections::BTreeMap::new(),
            on_schedule: None,
        }),
        ..ctx.backup_base(COMPONENT, &v.image)
    })
}

fn container<V: StackValues, C, X>(
    ctx: &Ctx<'_, V, C>,
    v: &Prometheus<X>,
    setup: &Setup,
) -> Container {
    let prefix = &setup.route_prefix;
    let mut args = vec![
        format!("--config.file={CONFIG_DIR}/prometheus.yml"),
        format!("--storage.tsdb.path={DATA_DIR}"),
        format!("--storage.tsdb.retention.time={}", v.retention),
    ];
    args.extend(setup.args.iter().cloned());
    Container {
        args: Some(args),
        ports: Some(vec![w::container_port("http", i32::from(PORT))]),
        volume_mounts: Some(vec![
            w::mount("config", CONFIG_DIR, true),
            w::mount(DATA_VOLUME, DATA_DIR, false),
        ]),
        readiness_probe: Some(w::http_probe(
            &format!("{prefix}/-/ready"),
            "http",
            Timing::READINESS,
        )),
        liveness_probe: Some(w::http_probe(
            &format!("{prefix}/-/healthy"),
            "http",
            Timing::LIVENESS,
        )),
        // Replaying the write-ahead log after a restart can take minutes.
        startup_probe: Some(w::http_probe(
            &format!("{prefix}/-/ready"),
            "http",
            Timing::STARTUP,
        )),
        // Writes only its TSDB under /prometheus (the image's declared data
        // directory, its contract), the volume above.
        ..w::read_only_root(ctx.container(COMPONENT, &v.image, &v.resources))
    }
}

/// The connectivity probe: `/-/ready` under `route_prefix` must answer `Ready`.
/// `image` needs curl (prom/prometheus is busybox without an HTTP client that
/// reports status codes).
pub fn probe<V: StackValues, C>(
    ctx: &Ctx<'_, V, C>,
    route_prefix: &str,
    image: (String, String),
) -> ProbeSpec {
    let url = format!(
        "http://{}:{PORT}{route_prefix}/-/ready",
        ctx.release.service_host(COMPONENT)
    );
    ProbeSpec {
        target: url.clone(),
        check: "/-/ready answers Ready".into(),
        script: probe_scripts::HTTP,
        env: vec![w::env("URL", &url), w::env("EXPECT", "Ready")],
        ..ctx.probe_base(COMPONENT, image)
    }
}
