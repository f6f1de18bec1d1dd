//! The AIOps stack as the engine sees it.

use anyhow::{Context, Result};
use rand::Rng;
use serde_json::Value;

use super::values::Values;
use crate::probe::ProbeSpec;
use crate::stacks::component::{Capabilities, Release, Rendered};
use crate::stacks::{ResolvedValues, Stack, resolve_typed};
use crate::values::{self, Layer, Problems, SetFlag};

pub struct AiopsStack;

impl Stack for AiopsStack {
    fn name(&self) -> &'static str {
        super::NAME
    }

    fn default_namespace(&self) -> &'static str {
        super::DEFAULT_NAMESPACE
    }

    fn defaults_yaml(&self) -> &'static str {
        super::DEFAULTS_YAML
    }

    fn resolve(
        &self,
        layers: &[Layer],
        sets: &[SetFlag],
        rng: &mut dyn Rng,
    ) -> Result<ResolvedValues, Problems> {
        resolve_typed::<Values>(layers, sets, rng)
    }

    fn render(
        &self,
        v: &ResolvedValues,
        release: &Release,
        caps: Capabilities,
    ) -> Result<Vec<Rendered>> {
        let typed: Values = serde_json::from_value(v.tree.clone())
            .context("values do not match the AIOps schema (they were validated; this is a bug)")?;
        Ok(super::render(&typed, release, caps))
    }

    fn probes(&self, v: &ResolvedValues, release: &Release) -> Result<Vec<ProbeSpec>> {
        let typed: Values = serde_json::from_value(v.tree.clone())
            .context("values do not match the AIOps schema (they were validated; this is a bug)")?;
        Ok(super::probes(&typed, release))
    }

    fn redact(&self, tree: &Value) -> Value {
        values::redact::<Values>(tree)
    }

    fn notes(&self, v: &ResolvedValues, release: &Release) -> Vec<String> {
        let Ok(typed) = serde_json::from_value::<Values>(v.tree.clone()) else {
            return Vec::new();
        };
        super::notes(&typed, release)
    }
}
