//! From arguments to a plan: profile → stack → values → components → phases.

use std::path::Path;

use anyhow::{Context, Result};

use super::Exit;
use crate::cli::{GlobalArgs, ValuesArgs};
use crate::model::{Capabilities, Release, check_release_name};
use crate::plan::Plan;
use crate::profiles::{self, Profile};
use crate::stacks::{self, ResolvedValues, Stack};
use crate::values::Layer;

/// Everything a command needs once the values are known to be valid.
pub struct Prepared {
    pub stack: &'static dyn Stack,
    pub profile: Profile,
    pub release: Release,
    pub values: ResolvedValues,
    /// What the stack wants a person to know about these values (see
    /// [`Stack::warnings`]); valid values, but maybe not what was meant.
    pub warnings: Vec<String>,
}

impl Prepared {
    /// `warning: …` lines on stderr, unless `--quiet`.
    pub fn print_warnings(&self, global: &GlobalArgs) {
        if !global.quiet {
            for w in &self.warnings {
                eprintln!("warning: {w}");
            }
        }
    }

    pub fn plan(&self, caps: Capabilities) -> Result<Plan> {
        let rendered = self.stack.render(&self.values, &self.release, caps)?;
        Plan::new(&rendered)
    }
}

/// Resolves and validates the values of a release. Invalid values are an [`Exit`]
/// with code 2 listing every problem; nothing has touched a cluster at that point.
pub fn prepare(global: &GlobalArgs, args: &ValuesArgs) -> Result<Prepared> {
    prepare_with_rng(global, args, &mut rand::rng())
}

/// [`prepare`] with the generator for secrets given, so tests render deterministically.
pub fn prepare_with_rng(
    global: &GlobalArgs,
    args: &ValuesArgs,
    rng: &mut dyn rand::Rng,
) -> Result<Prepared> {
    prepare_on(global, args, Base::default(), rng)
}

/// What an existing release contributes to a new resolution.
#[derive(Default)]
pub struct Base {
    /// Profile to use when the command line names none (the release's own).
    pub profile: Option<String>,
    /// Values layered over the profile, under `-f` and `--set`: the previous
    /// revision's values, or only its generated secrets with `--reset-values`.
    pub layer: Option<Layer>,
}

/// Resolves values over an existing release's base.
pub fn prepare_on(
    global: &GlobalArgs,
    args: &ValuesArgs,
    base: Base,
    rng: &mut dyn rand::Rng,
) -> Result<Prepared> {
    let profile_name = args
        .profile
        .clone()
        .or(base.profile)
        .unwrap_or_else(|| "default".to_string());
    let profile =
        profiles::load(&profile_name).map_err(|e| Exit::usage(format!("error: {e:#}")))?;
    let stack = stacks::find(&profile.stack)
        .with_context(|| format!("profile {} names stack {:?}", profile.source, profile.stack))
        .map_err(|e| Exit::usage(format!("error: {e:#}")))?;

    let mut layers = vec![
        Layer::defaults(stack.defaults_yaml()),
        Layer::profile(&profile.name, &profile.source, profile.yaml.clone()),
    ];
    layers.extend(base.layer);
    for file in &args.values {
        layers.push(read_layer(file)?);
    }
    let values = stack
        .resolve(&layers, &args.ordered_sets, rng)
        .map_err(|problems| Exit::usage(problems.to_string()))?;

    let release = Release {
        name: args
            .release
            .clone()
            .unwrap_or_else(|| stack.name().to_string()),
        namespace: global
            .namespace
            .clone()
            .unwrap_or_else(|| stack.default_namespace().to_string()),
        stack: stack.name(),
        revision: 1,
    };
    check_release_name(&release.name)
        .map_err(|e| Exit::usage(format!("error: {e} (the RELEASE argument)")))?;
    let warnings = stack.warnings(&values)?;
    Ok(Prepared {
        stack,
        profile,
        release,
        values,
        warnings,
    })
}

fn read_layer(path: &Path) -> Result<Layer> {
    let yaml = std::fs::read_to_string(path).map_err(|e| {
        Exit::usage(format!(
            "error: cannot read values file {} (-f): {e}",
            path.display()
        ))
    })?;
    Ok(Layer::file(&path.display().to_string(), yaml))
}
