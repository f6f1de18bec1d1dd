//! Stacks: each is its typed values, defaults, semantic checks and components — and
//! nothing else; the engine (values, plan, apply) knows no stack by name.

pub mod aiops;
pub mod backup_jobs;
pub mod backup_scripts;
pub mod clickvisual;
pub mod component;
pub mod contracts;
#[cfg(test)]
mod guestbook;
#[cfg(test)]
mod invariants;
pub mod kit;
pub mod probe_scripts;
pub mod rotation_scripts;
#[cfg(test)]
pub mod testing;
pub mod types;
pub mod workload;

use anyhow::{Context, Result};
use rand::Rng;
use serde_json::Value;

use crate::model::{
    Capabilities, Flow, InitOnlyChange, KubeRequirement, ProbeSpec, Release, Rendered, RotationJob,
};
use crate::values::{self, Layer, Problems, SetFlag};

/// Values after layering, generation and validation, still untyped so the engine can
/// store, diff and redact them without knowing the stack.
#[derive(Debug, Clone)]
pub struct ResolvedValues {
    pub tree: Value,
    /// Dotted paths of secrets stackctl generated in this resolution.
    pub generated: Vec<String>,
}

pub trait Stack: Sync {
    fn name(&self) -> &'static str;
    /// Namespace used when `-n` is not given.
    fn default_namespace(&self) -> &'static str;
    /// Every key with its default, as YAML.
    fn defaults_yaml(&self) -> &'static str;
    /// What a release installed before a key existed had in effect, as YAML: an
    /// upgrade layers it under the release's stored values, so a key that is new
    /// to the release keeps the behaviour it was installed with instead of taking
    /// a default that changed meanwhile (NetworkPolicies on for new installs only).
    fn earlier_defaults_yaml(&self) -> &'static str;
    /// Layers, `--set` flags, generated secrets, validation; every problem at once.
    fn resolve(
        &self,
        layers: &[Layer],
        sets: &[SetFlag],
        rng: &mut dyn Rng,
    ) -> Result<ResolvedValues, Problems>;
    /// The objects of every enabled component.
    fn render(
        &self,
        values: &ResolvedValues,
        release: &Release,
        caps: Capabilities,
    ) -> Result<Vec<Rendered>>;
    /// Connectivity probes: one per component in use, internal or external, checking
    /// with the credentials the apps use (`stackctl test`, the last phase of install
    /// and upgrade, and — those marked `external` — preflight). A stack without
    /// probes has nothing to prove beyond readiness.
    fn probes(&self, _values: &ResolvedValues, _release: &Release) -> Result<Vec<ProbeSpec>> {
        Ok(Vec::new())
    }
    /// The data services the release runs that can be backed up, each with its own
    /// tooling (`stacks::backup_scripts`). A stack without any has nothing to save.
    fn backups(
        &self,
        _values: &ResolvedValues,
        _release: &Release,
    ) -> Result<Vec<crate::model::BackupSpec>> {
        Ok(Vec::new())
    }
    /// The `backup` values: the backup volume and the schedule.
    fn backup_settings(&self, _values: &ResolvedValues) -> Result<crate::model::BackupSettings> {
        Ok(crate::model::BackupSettings::default())
    }
    /// Every connection the enabled components open, between each other and to
    /// the outside (DNS aside): what `doctor` checks the namespace's
    /// NetworkPolicies against. A stack without a table declares nothing.
    fn flows(&self, _values: &ResolvedValues, _release: &Release) -> Result<Vec<Flow>> {
        Ok(Vec::new())
    }
    /// Valid values that may not do what the user meant (a version stackctl knows
    /// nothing about): printed as `warning:` lines before anything is done.
    fn warnings(&self, _values: &ResolvedValues) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// The values with every secret replaced by `<redacted>`.
    fn redact(&self, tree: &Value) -> Value;
    /// What to tell the user after a successful install or upgrade: how to reach the
    /// apps, how to log in, where credentials live.
    fn notes(&self, values: &ResolvedValues, release: &Release) -> Vec<String>;
    /// Components whose ServiceAccount and RBAC an admin may create instead.
    fn rbac_switches(&self) -> &'static [RbacSwitch];
    /// Credentials the images apply only at first start whose value differs
    /// between `old` (the release's current values) and `new`, each with how it
    /// reaches the service (see `model::InitOnlyChange`).
    fn init_only_changes(
        &self,
        _old: &ResolvedValues,
        _new: &ResolvedValues,
        _release: &Release,
    ) -> Result<Vec<InitOnlyChange>> {
        Ok(Vec::new())
    }
    /// The Jobs that change the credentials `keys` (changes of
    /// [`Stack::init_only_changes`] rotated by a Job) in the running services,
    /// logging in with `old`'s.
    fn rotation_jobs(
        &self,
        _old: &ResolvedValues,
        _new: &ResolvedValues,
        _release: &Release,
        _keys: &[&str],
    ) -> Result<Vec<RotationJob>> {
        Ok(Vec::new())
    }
    /// The Kubernetes versions the enabled components need: preflight refuses an
    /// older cluster before anything is written.
    fn kube_requirements(&self, values: &ResolvedValues) -> Result<Vec<KubeRequirement>>;
}

/// The kinds `<key>.rbac.create=false` leaves to an admin (see [`RbacSwitch`]), in
/// the order an admin applies them.
pub const RBAC_KINDS: [&str; 5] = [
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

/// A component whose ServiceAccount and RBAC an admin can create in stackctl's
/// place: `<key>.rbac.create=false` with `<key>.serviceAccount.name`, or
/// `<key>.enabled=false` to go without it. Preflight offers both to a user who may
/// not create the component's cluster-wide RBAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RbacSwitch {
    /// The component's name, as its objects' `app.kubernetes.io/component` label.
    pub component: &'static str,
    /// Its values key, as in `--set <key>.rbac.create=false`.
    pub key: &'static str,
}

pub static STACKS: &[&dyn Stack] = &[&clickvisual::STACK, &aiops::STACK];

/// A stack as its typed values and a few functions over them; the engine's view of it
/// ([`Stack`]) is derived, so adding a stack needs no engine code.
pub struct Definition<T> {
    pub name: &'static str,
    pub default_namespace: &'static str,
    pub defaults_yaml: &'static str,
    /// [`Stack::earlier_defaults_yaml`].
    pub earlier_defaults_yaml: &'static str,
    pub render: fn(&T, &Release, Capabilities) -> Vec<Rendered>,
    pub probes: fn(&T, &Release) -> Vec<ProbeSpec>,
    /// [`Stack::backups`] over typed values.
    pub backups: fn(&T, &Release) -> Vec<crate::model::BackupSpec>,
    /// [`Stack::backup_settings`] over typed values.
    pub backup_settings: fn(&T) -> crate::model::BackupSettings,
    /// [`Stack::flows`] over typed values.
    pub flows: fn(&T, &Release) -> Vec<Flow>,
    pub notes: fn(&T, &Release) -> Vec<String>,
    pub warnings: fn(&T) -> Vec<String>,
    pub rbac_switches: &'static [RbacSwitch],
    /// [`Stack::init_only_changes`] over typed values.
    pub init_only_changes: fn(&T, &T, &Release) -> Vec<InitOnlyChange>,
    /// [`Stack::rotation_jobs`] over typed values.
    pub rotation_jobs: fn(&T, &T, &Release, &[&str]) -> Vec<RotationJob>,
    pub kube_requirements: fn(&T) -> Vec<KubeRequirement>,
}

impl<T: serde::de::DeserializeOwned + schemars::JsonSchema> Definition<T> {
    /// Values were validated against `T` when resolved; failing here is a bug (or a
    /// release record written by an incompatible stackctl), reported, not panicked.
    /// Records from before a key was renamed are read under the new names, as
    /// resolving them would; keys added since a record was written read as such a
    /// release had them ([`Stack::earlier_defaults_yaml`], then the defaults), so
    /// that comparing an old revision's credentials with a new one's still works.
    fn typed(&self, v: &ResolvedValues) -> Result<T> {
        let mut tree = Value::Object(serde_json::Map::new());
        for yaml in [self.defaults_yaml, self.earlier_defaults_yaml] {
            let layer: Value = serde_saphyr::from_str(yaml)
                .with_context(|| format!("the {} stack's built-in defaults", self.name))?;
            if !layer.is_null() {
                values::overlay(&mut tree, layer);
            }
        }
        values::overlay(&mut tree, values::normalise_aliases::<T>(&v.tree));
        serde_json::from_value(tree).map_err(|e| {
            anyhow::anyhow!(
                "the values do not match the {} stack's schema ({e}); were they written by another stackctl version?",
                self.name
            )
        })
    }
}

impl<T> Stack for Definition<T>
where
    T: serde::de::DeserializeOwned + schemars::JsonSchema + values::Validate,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn default_namespace(&self) -> &'static str {
        self.default_namespace
    }

    fn defaults_yaml(&self) -> &'static str {
        self.defaults_yaml
    }

    fn earlier_defaults_yaml(&self) -> &'static str {
        self.earlier_defaults_yaml
    }

    fn resolve(
        &self,
        layers: &[Layer],
        sets: &[SetFlag],
        rng: &mut dyn Rng,
    ) -> Result<ResolvedValues, Problems> {
        resolve_typed::<T>(layers, sets, rng)
    }

    fn render(
        &self,
        v: &ResolvedValues,
        release: &Release,
        caps: Capabilities,
    ) -> Result<Vec<Rendered>> {
        Ok((self.render)(&self.typed(v)?, release, caps))
    }

    fn probes(&self, v: &ResolvedValues, release: &Release) -> Result<Vec<ProbeSpec>> {
        Ok((self.probes)(&self.typed(v)?, release))
    }

    fn backups(
        &self,
        v: &ResolvedValues,
        release: &Release,
    ) -> Result<Vec<crate::model::BackupSpec>> {
        Ok((self.backups)(&self.typed(v)?, release))
    }

    fn backup_settings(&self, v: &ResolvedValues) -> Result<crate::model::BackupSettings> {
        Ok((self.backup_settings)(&self.typed(v)?))
    }

    fn flows(&self, v: &ResolvedValues, release: &Release) -> Result<Vec<Flow>> {
        Ok((self.flows)(&self.typed(v)?, release))
    }

    fn warnings(&self, v: &ResolvedValues) -> Result<Vec<String>> {
        Ok((self.warnings)(&self.typed(v)?))
    }

    fn redact(&self, tree: &Value) -> Value {
        values::redact::<T>(tree)
    }

    fn notes(&self, v: &ResolvedValues, release: &Release) -> Vec<String> {
        self.typed(v)
            .map(|t| (self.notes)(&t, release))
            .unwrap_or_default()
    }

    fn rbac_switches(&self) -> &'static [RbacSwitch] {
        self.rbac_switches
    }

    fn init_only_changes(
        &self,
        old: &ResolvedValues,
        new: &ResolvedValues,
        release: &Release,
    ) -> Result<Vec<InitOnlyChange>> {
        Ok((self.init_only_changes)(
            &self.typed(old)?,
            &self.typed(new)?,
            release,
        ))
    }

    fn rotation_jobs(
        &self,
        old: &ResolvedValues,
        new: &ResolvedValues,
        release: &Release,
        keys: &[&str],
    ) -> Result<Vec<RotationJob>> {
        Ok((self.rotation_jobs)(
            &self.typed(old)?,
            &self.typed(new)?,
            release,
            keys,
        ))
    }

    fn kube_requirements(&self, v: &ResolvedValues) -> Result<Vec<KubeRequirement>> {
        Ok((self.kube_requirements)(&self.typed(v)?))
    }
}

/// A stack by name, or an error listing the known ones.
pub fn find(name: &str) -> Result<&'static dyn Stack> {
    STACKS
        .iter()
        .copied()
        .find(|s| s.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = STACKS.iter().map(|s| s.name()).collect();
            anyhow::anyhow!("unknown stack {name:?}; known stacks: {}", names.join(", "))
        })
}

/// Shared implementation of [`Stack::resolve`] for a typed values struct.
pub fn resolve_typed<T>(
    layers: &[Layer],
    sets: &[SetFlag],
    rng: &mut dyn Rng,
) -> Result<ResolvedValues, Problems>
where
    T: serde::de::DeserializeOwned + schemars::JsonSchema + values::Validate,
{
    let resolved = values::resolve::<T, _>(layers, sets, rng)?;
    Ok(ResolvedValues {
        tree: resolved.tree,
        generated: resolved.generated.iter().map(ToString::to_string).collect(),
    })
}
