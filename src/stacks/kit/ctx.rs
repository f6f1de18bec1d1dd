//! The render context every component gets, and the helpers that map the shared
//! values (`global.*`, images, resources, `persistence`) onto the workload
//! builders.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaim, PodSecurityContext, PodSpec, ResourceRequirements,
};

use super::connections::credentials_secret;
use super::values::{Global, GlobalExtras, Persistence};
use crate::model::{BackupSpec, Capabilities, DEFAULT_PROBE_TIMEOUT, Phase, ProbeSpec, Release};
use crate::stacks::component::Builder;
use crate::stacks::types::{Image, Resources};
use crate::stacks::workload::{self as w, PodGlobals};

/// Name of every data service's volume claim template.
pub const DATA_VOLUME: &str = "data";

/// A stack's values as the kit sees them: where its `global` settings are.
pub trait StackValues {
    type GlobalExtras: GlobalExtras;
    fn global(&self) -> &Global<Self::GlobalExtras>;
    /// Its `backup` settings; `None`: the stack has none (no schedule, the
    /// volume's default size).
    fn backup(&self) -> Option<&super::values::Backup> {
        None
    }
}

/// Everything a component needs to render itself: the release, the stack's values
/// `V` and where its dependencies are (`C`, built once per render).
pub struct Ctx<'a, V, C> {
    pub release: &'a Release,
    pub values: &'a V,
    pub caps: Capabilities,
    pub conn: C,
}

/// A stack's connections, as its values and the release place its dependencies:
/// what [`Ctx::new`] builds the context's `conn` from.
pub trait Wiring<V> {
    fn wire(values: &V, release: &Release) -> Self;
}

impl<'a, V, C: Wiring<V>> Ctx<'a, V, C> {
    pub fn new(release: &'a Release, values: &'a V, caps: Capabilities) -> Self {
        Self {
            release,
            values,
            caps,
            conn: C::wire(values, release),
        }
    }

    /// For Jobs stackctl runs itself (probes, rotations): they render no
    /// API-version-dependent objects.
    pub fn for_jobs(release: &'a Release, values: &'a V) -> Self {
        Self::new(release, values, Capabilities::latest())
    }
}

impl<V: StackValues, C> Ctx<'_, V, C> {
    pub fn pod_globals(&self) -> PodGlobals {
        let g = self.values.global();
        PodGlobals {
            image_registry: g.image_registry.clone(),
            image_pull_secrets: g.image_pull_secrets.clone(),
            node_selector: g.node_selector.clone(),
            anti_affinity: g.anti_affinity.into(),
            storage_class: g.storage_class.clone(),
            pod_disruption_budgets: g.pod_disruption_budgets,
        }
    }

    /// The shared pod spec with the stack's globals.
    pub fn pod_spec(
        &self,
        b: &Builder<'_>,
        replicas: u32,
        security: PodSecurityContext,
    ) -> PodSpec {
        w::pod_spec(b, &self.pod_globals(), replicas, security)
    }

    /// Image reference with the `global.imageRegistry` mirror prefix.
    pub fn image(&self, image: &Image) -> String {
        w::image(
            &self.values.global().image_registry,
            &image.repository,
            &image.tag,
            &image.digest,
        )
    }

    /// Requests and limits from values; in development mode requests are a quarter
    /// of the configured ones, so the stack fits a laptop, while limits (and the
    /// JVM heaps derived from them) stay.
    pub fn resources(&self, r: &Resources) -> ResourceRequirements {
        if !self.values.global().stack.development() {
            return resources(r);
        }
        w::resources(
            (
                &quarter_cpu(r.requests.cpu.value()),
                &quarter_memory(r.requests.memory.value()),
            ),
            (r.limits.cpu.as_str(), r.limits.memory.as_str()),
        )
    }

    /// A container of `image` with resources from values.
    pub fn container(&self, name: &str, image: &Image, res: &Resources) -> Container {
        w::container(
            name,
            self.image(image),
            image.pull_policy.as_str(),
            self.resources(res),
        )
    }

    /// The `data` claim template of a component, its StorageClass resolved.
    pub fn data_claim(&self, b: &Builder<'_>, p: &Persistence) -> PersistentVolumeClaim {
        w::volume_claim(
            b,
            DATA_VOLUME,
            p.size.as_str(),
            w::storage_class(&p.storage_class, &self.values.global().storage_class),
        )
    }

    /// A single-replica StatefulSet keeping its data on one `data` volume: the shape
    /// of every database and server here that does not cluster.
    pub fn single_stateful_set(
        &self,
        b: &Builder<'_>,
        pod_annotations: BTreeMap<String, String>,
        pod: PodSpec,
        p: &Persistence,
    ) -> StatefulSet {
        w::stateful_set(
            b,
            w::StatefulSetParts {
                replicas: 1,
                parallel: false,
                pod_annotations,
                pod,
                claims: vec![self.data_claim(b, p)],
            },
        )
    }

    /// An image of the values as a probe takes it: reference and pull policy.
    pub fn own_image(&self, image: &Image) -> (String, String) {
        (self.image(image), image.pull_policy.as_str().to_string())
    }

    /// Fields every connectivity probe shares: component, image, pod settings from
    /// `global.*`, the default timeout and small resources.
    pub fn probe_base(&self, component: &str, (image, pull_policy): (String, String)) -> ProbeSpec {
        let g = self.values.global();
        ProbeSpec {
            component: component.to_string(),
            image,
            pull_policy,
            timeout: DEFAULT_PROBE_TIMEOUT,
            resources: w::resources(("10m", "16Mi"), ("200m", "128Mi")),
            image_pull_secrets: g.image_pull_secrets.clone(),
            node_selector: g.node_selector.clone(),
            ..Default::default()
        }
    }

    /// Fields every backup shares: component, image, the server's version (the
    /// image tag) and pod settings from `global.*`.
    pub fn backup_base(&self, component: &str, image: &Image) -> BackupSpec {
        let g = self.values.global();
        let (image_ref, pull_policy) = self.own_image(image);
        BackupSpec {
            component: component.to_string(),
            image: image_ref,
            pull_policy,
            version: image.tag.clone(),
            image_pull_secrets: g.image_pull_secrets.clone(),
            node_selector: g.node_selector.clone(),
            resources: self
                .values
                .backup()
                .map(|b| self.resources(&b.resources))
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    /// Adds `<release>-<dependency>-credentials` in the storage phase, so that it
    /// exists before any pod that reads it (in both internal and external mode).
    pub fn push_credentials(
        &self,
        b: &mut Builder<'_>,
        dependency: &str,
        data: BTreeMap<String, String>,
    ) {
        let secret = w::secret(b, credentials_secret(self.release, dependency), data);
        b.push_in(Phase::Storage, secret);
    }
}

/// Requests and limits exactly as configured.
fn resources(r: &Resources) -> ResourceRequirements {
    w::resources(
        (r.requests.cpu.as_str(), r.requests.memory.as_str()),
        (r.limits.cpu.as_str(), r.limits.memory.as_str()),
    )
}

fn quarter_cpu(cores: f64) -> String {
    format!("{}m", ((cores * 1000.0 / 4.0).ceil() as u64).max(10))
}

fn quarter_memory(bytes: f64) -> String {
    format!("{}Mi", ((bytes / 4.0 / 1_048_576.0).ceil() as u64).max(16))
}
