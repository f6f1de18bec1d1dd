//! From arguments to a plan: profile → stack → values → components → phases.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Refused;
use crate::model::{Capabilities, Release, check_release_name};
use crate::plan::Plan;
use crate::profiles::{self, Profile};
use crate::stacks::{self, ResolvedValues, Stack};
use serde_json::Value;

use crate::release::Record;
use crate::values::{Layer, Path as ValuesPath, SetFlag, limits};

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

/// Where a release's values come from, as the command line gives them.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// Release name; the stack's name when `None`.
    pub release: Option<String>,
    /// Namespace; the stack's default when `None`.
    pub namespace: Option<String>,
    /// Profile name or path; `default` (or the release's own) when `None`.
    pub profile: Option<String>,
    /// `-f` files, in order.
    pub files: Vec<PathBuf>,
    /// `--set` flags of every kind, in the order typed.
    pub sets: Vec<SetFlag>,
    /// Values a person typed when asked for what the profile requires: a layer
    /// over the `-f` files (the flags still win).
    pub answers: Option<serde_json::Value>,
}

impl Prepared {
    pub fn plan(&self, caps: Capabilities) -> Result<Plan> {
        let rendered = self.stack.render(&self.values, &self.release, caps)?;
        Plan::new(&rendered)
    }
}

/// Resolves and validates the values of a release. Invalid values are
/// [`crate::values::Problems`] listing every problem, other bad input [`Refused`];
/// nothing has touched a cluster at that point.
pub fn prepare(input: &Input) -> Result<Prepared> {
    prepare_with_rng(input, &mut rand::rng())
}

/// [`prepare`] with the generator for secrets given, so tests render deterministically.
pub fn prepare_with_rng(input: &Input, rng: &mut dyn rand::Rng) -> Result<Prepared> {
    prepare_on(input, Base::default(), rng)
}

/// How origins name the values typed at a prompt.
pub const ANSWERS_LAYER: &str = "answers at the prompt";

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
pub fn prepare_on(args: &Input, base: Base, rng: &mut dyn rand::Rng) -> Result<Prepared> {
    let profile_name = args
        .profile
        .clone()
        .or(base.profile)
        .unwrap_or_else(|| "default".to_string());
    let profile = profiles::load(&profile_name).map_err(|e| Refused(format!("{e:#}")))?;
    let stack = stacks::find(&profile.stack)
        .with_context(|| format!("profile {} names stack {:?}", profile.source, profile.stack))
        .map_err(|e| Refused(format!("{e:#}")))?;

    let mut layers = vec![
        Layer::defaults(stack.defaults_yaml()),
        Layer::profile(&profile.name, &profile.source, profile.yaml.clone()),
    ];
    layers.extend(base.layer);
    // Counted here as well as by the values engine, so that a thousand `-f` of the
    // same big file are refused before they are all in memory.
    let budget = limits::Budget::default();
    budget
        .spend(&format!("profile {}", profile.source), profile.yaml.len())
        .map_err(|e| Refused(e.to_string()))?;
    for file in &args.files {
        layers.push(read_layer(file, &budget)?);
    }
    if let Some(answers) = &args.answers {
        layers.push(Layer::tree(ANSWERS_LAYER, answers.clone()));
    }
    let values = stack.resolve(&layers, &args.sets, rng)?;

    let release = Release {
        name: args
            .release
            .clone()
            .unwrap_or_else(|| stack.name().to_string()),
        namespace: args
            .namespace
            .clone()
            .unwrap_or_else(|| stack.default_namespace().to_string()),
        stack: stack.name(),
        revision: 1,
    };
    check_release_name(&release.name)
        .map_err(|e| Refused(format!("{e} (the RELEASE argument)")))?;
    let mut warnings = stack.warnings(&values)?;
    if is_production(&profile.name) {
        warnings.extend(undigested_warning(&profile.name, &values.tree));
    }
    Ok(Prepared {
        stack,
        profile,
        release,
        values,
        warnings,
    })
}

/// Built-in production profiles (`production`, `aiops-production`) and files
/// named like them.
fn is_production(profile: &str) -> bool {
    profile == "production" || profile.ends_with("-production")
}

/// The `image` keys (`mysql.image`) of enabled components whose `digest` is empty:
/// such an image is whatever the registry serves under the tag today.
fn undigested_images(tree: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
        let Some(map) = v.as_object() else { return };
        if map.get("enabled") == Some(&serde_json::Value::Bool(false)) {
            return;
        }
        for (key, child) in map {
            let at = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let is_image = child.get("repository").is_some() && child.get("tag").is_some();
            if is_image {
                if child["digest"].as_str().is_none_or(str::is_empty) {
                    out.push(at);
                }
            } else {
                walk(child, &at, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(tree, "", &mut out);
    out
}

/// A warning naming the images a production profile runs by tag alone.
fn undigested_warning(profile: &str, tree: &serde_json::Value) -> Option<String> {
    let missing = undigested_images(tree);
    (!missing.is_empty()).then(|| {
        format!(
            "profile {profile} runs {} image(s) by tag alone, which a registry can change under the same tag: set `<key>.digest=sha256:…` (the digest your registry reports for the tag) for {}",
            missing.len(),
            missing.join(", ")
        )
    })
}

/// A `-f` file, read within its limit and the command's total (see [`limits`]).
fn read_layer(path: &Path, budget: &limits::Budget) -> Result<Layer> {
    let input = format!("values file {} (-f)", path.display());
    let yaml = limits::read_file(path, &input, "values file", limits::VALUES_FILE)
        .and_then(|yaml| budget.spend(&input, yaml.len()).map(|()| yaml))
        .map_err(|e| Refused(e.to_string()))?;
    Ok(Layer::file(&path.display().to_string(), yaml))
}

/// The previous revision's generated secrets only, as a layer.
pub fn generated_layer(r: &Record) -> Layer {
    let mut tree = Value::Object(serde_json::Map::new());
    for path in &r.generated {
        let p = ValuesPath::parse(path);
        if let Some(v) = p.get(&r.values) {
            set_path(&mut tree, path, v.clone());
        }
    }
    Layer::tree(
        format!("secrets generated for revision {}", r.revision),
        tree,
    )
}

fn set_path(tree: &mut Value, dotted: &str, value: Value) {
    let mut node = tree;
    let keys: Vec<&str> = dotted.split('.').collect();
    for (i, k) in keys.iter().enumerate() {
        if i + 1 == keys.len() {
            node[*k] = value;
            return;
        }
        if !node[*k].is_object() {
            node[*k] = Value::Object(serde_json::Map::new());
        }
        node = &mut node[*k];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_become_a_layer() {
        let mut tree = Value::Object(serde_json::Map::new());
        set_path(&mut tree, "mysql.auth.password", Value::String("p".into()));
        set_path(
            &mut tree,
            "mysql.auth.rootPassword",
            Value::String("r".into()),
        );
        assert_eq!(
            tree,
            serde_json::json!({"mysql": {"auth": {"password": "p", "rootPassword": "r"}}})
        );
    }

    #[test]
    fn a_production_profile_without_digests_is_warned_about_each_image() {
        let tree = serde_json::json!({
            "mysql": {"enabled": true, "image": {"repository": "mysql", "tag": "8.4", "digest": ""}},
            "redis": {"enabled": false, "image": {"repository": "redis", "tag": "7", "digest": ""}},
            "kafka": {"image": {"repository": "apache/kafka", "tag": "3.9.1",
                "digest": format!("sha256:{}", "a".repeat(64))}},
            "global": {"toolsImage": {"repository": "busybox", "tag": "1"}},
        });
        assert_eq!(
            undigested_images(&tree),
            vec!["mysql.image".to_string(), "global.toolsImage".to_string()]
        );
        let w = undigested_warning("production", &tree).unwrap();
        assert!(w.contains("2 image(s)") && w.contains("mysql.image"), "{w}");
        assert!(is_production("aiops-production") && !is_production("minimal"));
        let pinned = serde_json::json!({"kafka": {"image": {"repository": "k", "tag": "1",
            "digest": format!("sha256:{}", "b".repeat(64))}}});
        assert!(undigested_warning("production", &pinned).is_none());
    }
}
