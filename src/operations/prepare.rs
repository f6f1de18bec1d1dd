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
    /// `layer` holds a revision's complete values: the stack's earlier defaults
    /// ([`Stack::earlier_defaults_yaml`](crate::stacks::Stack::earlier_defaults_yaml))
    /// go under it, for the keys its stackctl did not know yet.
    pub earlier_defaults: bool,
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
    if base.earlier_defaults && !stack.earlier_defaults_yaml().is_empty() {
        layers.push(Layer::earlier_defaults(stack.earlier_defaults_yaml()));
    }
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

    /// The values an upgrade over `stored` (a revision's values) resolves to.
    fn upgraded(profile: &str, stored: Value, earlier_defaults: bool) -> Value {
        use rand::SeedableRng;
        let input = Input {
            sets: vec![
                SetFlag::set("aiEngine.image.repository=r/ai"),
                SetFlag::set("apiGateway.image.repository=r/gw"),
                SetFlag::set("selfHealing.image.repository=r/sh"),
            ]
            .into_iter()
            .filter(|_| profile.starts_with("aiops"))
            .collect(),
            ..Input::default()
        };
        let base = Base {
            profile: Some(profile.into()),
            layer: Some(Layer::tree("values of revision 1", stored)),
            earlier_defaults,
        };
        prepare_on(&input, base, &mut rand::rngs::StdRng::seed_from_u64(1))
            .unwrap()
            .values
            .tree
    }

    #[test]
    fn keys_a_release_predates_keep_their_earlier_meaning_on_upgrade() {
        // A ClickVisual release installed before it had NetworkPolicies: its
        // stored values have no `networkPolicy` at all.
        let old = serde_json::json!({"clickvisual": {"replicas": 1}});
        let v = upgraded("minimal", old.clone(), true);
        assert_eq!(v["networkPolicy"]["enabled"], false);
        // The rest of the key comes from today's defaults.
        assert_eq!(v["networkPolicy"]["defaultDeny"], false);
        assert!(v["networkPolicy"]["dns"]["ports"].is_array());
        // New installs (and --reset-values) take today's default.
        assert_eq!(
            upgraded("minimal", old, false)["networkPolicy"]["enabled"],
            true
        );
        // A release that knew the key keeps what it had, either way.
        let on = serde_json::json!({"networkPolicy": {"enabled": true}});
        assert_eq!(
            upgraded("minimal", on, true)["networkPolicy"]["enabled"],
            true
        );

        // In-house services installed before `securityContext`: still the
        // image's own user.
        let old = serde_json::json!({"aiEngine": {"replicas": 2}});
        let v = upgraded("aiops", old, true);
        for key in ["aiEngine", "apiGateway", "selfHealing"] {
            assert_eq!(v[key]["securityContext"]["enabled"], false, "{key}");
        }
        assert_eq!(v["aiEngine"]["replicas"], 2);
        let v = upgraded("aiops", serde_json::json!({}), false);
        assert_eq!(v["aiEngine"]["securityContext"]["enabled"], true);
    }

    #[test]
    fn a_record_of_an_earlier_stackctl_is_read_with_the_keys_it_predates() {
        // Today's values without the keys added since (the in-house services'
        // securityContext, ClickVisual's networkPolicy): the credentials of such a
        // revision are compared with the new one's, not skipped.
        for (profile, drop) in [
            (
                "aiops",
                &[
                    "aiEngine.securityContext",
                    "apiGateway.securityContext",
                    "selfHealing.securityContext",
                ][..],
            ),
            ("minimal", &["networkPolicy"][..]),
        ] {
            let new = upgraded(profile, serde_json::json!({}), false);
            let mut old = new.clone();
            for key in drop {
                let (parent, leaf) = key.rsplit_once('.').map_or(("", *key), |(p, l)| (p, l));
                let node = parent
                    .split('.')
                    .filter(|k| !k.is_empty())
                    .fold(&mut old, |n, k| &mut n[k]);
                node.as_object_mut().unwrap().remove(leaf).unwrap();
            }
            let stack = stacks::find(if profile == "aiops" {
                "aiops"
            } else {
                "clickvisual"
            })
            .unwrap();
            let release = Release {
                name: "r".into(),
                namespace: "n".into(),
                stack: stack.name(),
                revision: 2,
            };
            let as_values = |tree: &Value| ResolvedValues {
                tree: tree.clone(),
                generated: Vec::new(),
            };
            let changes = stack
                .init_only_changes(&as_values(&old), &as_values(&new), &release)
                .unwrap_or_else(|e| panic!("{profile}: {e:#}"));
            assert!(changes.is_empty(), "{profile}: {changes:?}");
            // A password changed meanwhile is still found.
            let mut changed = new.clone();
            let key = if profile == "aiops" {
                "postgresql"
            } else {
                "mysql"
            };
            changed[key]["auth"]["password"] = "Changed0Password".into();
            let changes = stack
                .init_only_changes(&as_values(&old), &as_values(&changed), &release)
                .unwrap();
            assert!(
                !changes.is_empty(),
                "{profile}: the changed password went unseen"
            );
        }
    }

    #[test]
    fn earlier_defaults_are_valid_values_of_their_stack() {
        // A key misspelt there would be layered silently under every upgrade.
        for stack in crate::stacks::STACKS {
            let layers = [
                Layer::defaults(stack.defaults_yaml()),
                Layer::earlier_defaults(stack.earlier_defaults_yaml()),
            ];
            let sets = [
                SetFlag::set("aiEngine.enabled=false"),
                SetFlag::set("apiGateway.enabled=false"),
                SetFlag::set("selfHealing.enabled=false"),
            ];
            let sets: &[SetFlag] = if stack.name() == "aiops" { &sets } else { &[] };
            if let Err(e) = stack.resolve(&layers, sets, &mut rand::rng()) {
                panic!("{}: {e}", stack.name());
            }
        }
    }
}
