//! Values: layering, `--set` parsing, schema typing, validation, secrets.
//!
//! A stack describes its values as a Rust type `T` (serde + schemars, with
//! `#[serde(deny_unknown_fields, rename_all = "camelCase")]`) and ships complete
//! defaults as YAML. [`resolve`] turns layers and set-flags into a checked `T`:
//!
//! 1. **Layers**, lowest first ([`Layer`]): stack defaults, a profile (its
//!    `stack:`, `description:` and `requires:` keys are metadata and are
//!    dropped; a required key left empty is a problem, see [`requires`]), `-f`
//!    files in order, or a previous release's values ([`Layer::tree`]). Merged
//!    like Helm (RFC 7396 merge patch): maps merge recursively, lists and scalars
//!    replace, `null` deletes a key.
//!    Keys renamed by the stack (an `x-stackctl-alias` on the new key's schema)
//!    are read under their new name in every layer and flag; one source using both
//!    names of a key is a problem (see `alias`).
//! 2. **Set-flags** ([`SetFlag`]), in the order typed, all kinds interleaved,
//!    accumulated into one tree that is merged last. `--set` values are typed
//!    by `T`'s JSON schema, not guessed: see [`set`].
//! 3. **Generated secrets**: empty fields marked
//!    `#[schemars(extend("x-stackctl-secret" = "generate"))]` get 32 random
//!    letters and digits from the caller's RNG ([`secrets`]).
//! 4. **Validation**, all problems at once ([`Problems`]): unknown keys (with a
//!    "did you mean"), wrong types, bounds, enums and formats from the schema
//!    walk; then deserialization into `T`; then the stack's own
//!    [`Validate::validate`] (run only once the structure is sound, since it
//!    needs a `T`), together with the checks value types carry in their schema
//!    (`x-stackctl-check`, see [`fields`]), so that every image, port, replica
//!    count and StorageClass is checked wherever it sits. Every problem names
//!    the path and where the value came from ([`Origin`]: `file:line` for YAML,
//!    the flag for set-values).
//!
//! ```ignore
//! let resolved: Resolved<ClickVisualValues> = values::resolve(
//!     &[
//!         Layer::defaults(DEFAULTS_YAML),
//!         Layer::profile("minimal", "profiles/minimal.yaml", MINIMAL_YAML),
//!         Layer::file("my.yaml", limits::read_file(path, "values file my.yaml (-f)", "values file", limits::VALUES_FILE)?),
//!     ],
//!     &[SetFlag::set("clickvisual.image.tag=v1.2.0")],
//!     &mut rand::rng(), // tests: &mut StdRng::seed_from_u64(…)
//! )?;
//! println!("{}", serde_json::to_string_pretty(&resolved.redacted())?);
//! ```
//!
//! The API in brief:
//!
//! - [`resolve`]`::<T, R>(&[Layer], &[SetFlag], &mut R) -> Result<Resolved<T>, Problems>`
//!   (`T: DeserializeOwned + JsonSchema + Validate`, `R: rand::Rng + ?Sized`);
//!   [`resolve_with`] takes a `--set-file` reader as well.
//! - [`Layer::defaults`], [`Layer::profile`], [`Layer::file`], [`Layer::tree`];
//!   [`profile_meta`] reads a profile's `stack:`/`description:`.
//! - [`SetFlag::set`], [`SetFlag::string`], [`SetFlag::json`], [`SetFlag::file`].
//! - [`Resolved`]: `typed`, `tree`, `generated` (paths), `origins`,
//!   [`Resolved::redacted`], [`Resolved::origin`].
//! - [`Validate`] for stacks, [`Problems::add`]/[`Problems::check`] with
//!   [`Problem::blame`], reusable [`checks`], and [`Quantity`]; checks a type
//!   carries ([`fields`], [`FieldCheck`]); [`validate_typed`] runs both on a `T`.
//! - A profile's `requires:` ([`requires`], [`Requirement`]).
//! - [`limits`]: how much a user may give (per file, per flag, in total) and the
//!   one reader of every file they name; [`resolve`] counts layers, flags and
//!   `--set-file` contents against the total.
//! - [`redact`]`::<T>(&Value)` for stored values; [`SECRET_MARKER`].
//!
//! For upgrades, feed the previous release's values back as a layer
//! ([`Layer::tree`]) above the defaults and profile: generated secrets are then
//! present and are not generated again.

mod alias;
pub mod checks;
pub mod cron;
pub mod fields;
pub mod limits;
mod merge;
pub mod origin;
pub mod path;
pub mod problems;
pub mod requires;
pub mod schema;
pub mod secrets;
pub mod set;
pub mod types;

#[cfg(test)]
pub(crate) mod testing;

use std::sync::Arc;

use rand::Rng;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use fields::{CHECK_MARKER, EXTERNAL_MARKER, FieldCheck};
pub use origin::{Origin, Origins};
pub use path::{Path, Seg};
pub use problems::{Missing, Problem, Problems};
pub use requires::Requirement;
pub use schema::SchemaTree;
pub use secrets::{REDACTED, SECRET_MARKER, SecretKind, generate_secret, redact};
pub use set::{FileReader, SetFlag, SetKind};
pub use types::Quantity;

/// A stack's semantic checks, run on the typed values after the schema walk.
///
/// Add problems by path (`--set` syntax); the engine attaches origins. Use
/// [`Problem::blame`] when the cause is another key. Reusable checks are in
/// [`checks`].
pub trait Validate {
    fn validate(&self, problems: &mut Problems) {
        let _ = problems;
    }
}

/// What kind of source a layer is; decides how it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    Defaults,
    /// Top-level `stack` and `description` are metadata, not values.
    Profile,
    File,
    /// Values handed over as a tree, such as a previous release's.
    Tree,
}

#[derive(Clone, Debug)]
pub enum LayerSource {
    Yaml(String),
    Tree(Value),
}

/// One layer of values. `name` is how origins refer to it: `stack defaults`,
/// `profile minimal: profiles/minimal.yaml`, `-f my.yaml`.
#[derive(Clone, Debug)]
pub struct Layer {
    pub name: String,
    pub kind: LayerKind,
    pub source: LayerSource,
}

impl Layer {
    pub fn defaults(yaml: impl Into<String>) -> Self {
        Self {
            name: "stack defaults".to_owned(),
            kind: LayerKind::Defaults,
            source: LayerSource::Yaml(yaml.into()),
        }
    }

    /// The stack's defaults for keys an existing release predates (see
    /// `Stack::earlier_defaults_yaml`).
    pub fn earlier_defaults(yaml: impl Into<String>) -> Self {
        Self {
            name: "stack defaults for releases that predate the key".to_owned(),
            kind: LayerKind::Defaults,
            source: LayerSource::Yaml(yaml.into()),
        }
    }

    /// `name` is the profile's name, `path` where it lives (in the repository
    /// for embedded profiles, on disk otherwise).
    pub fn profile(name: &str, path: &str, yaml: impl Into<String>) -> Self {
        Self {
            name: format!("profile {name}: {path}"),
            kind: LayerKind::Profile,
            source: LayerSource::Yaml(yaml.into()),
        }
    }

    /// A `-f` file; `path` as the user gave it.
    pub fn file(path: &str, yaml: impl Into<String>) -> Self {
        Self {
            name: format!("-f {path}"),
            kind: LayerKind::File,
            source: LayerSource::Yaml(yaml.into()),
        }
    }

    /// Values already in tree form, e.g. `Layer::tree("values of revision 3", v)`.
    pub fn tree(name: impl Into<String>, values: Value) -> Self {
        Self {
            name: name.into(),
            kind: LayerKind::Tree,
            source: LayerSource::Tree(values),
        }
    }
}

/// The metadata at the top of a profile file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileMeta {
    pub stack: Option<String>,
    pub description: Option<String>,
    /// Values the profile leaves to its user ([`requires`]).
    pub requires: Vec<Requirement>,
}

/// Top-level keys of a profile that are metadata, not values.
pub const PROFILE_META_KEYS: [&str; 3] = ["stack", "description", requires::REQUIRES_KEY];

/// Reads a profile's `stack:`, `description:` and `requires:`.
pub fn profile_meta(yaml: &str) -> Result<ProfileMeta, String> {
    let parsed = origin::parse_yaml(yaml).map_err(|e| match e.line {
        Some(l) => format!("line {l}: {}", e.message),
        None => e.message,
    })?;
    let text = |k: &str| {
        parsed
            .value
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Ok(ProfileMeta {
        stack: text("stack"),
        description: text("description"),
        requires: requires::parse(&parsed.value)?,
    })
}

/// Checked values, ready to render.
#[derive(Clone, Debug)]
pub struct Resolved<T> {
    pub typed: T,
    /// The merged tree `typed` was built from; what a release records.
    pub tree: Value,
    /// Secrets generated in this resolution, in tree order.
    pub generated: Vec<Path>,
    pub origins: Origins,
    schema: SchemaTree,
}

impl<T> Resolved<T> {
    /// The tree with every secret replaced by `"<redacted>"`.
    pub fn redacted(&self) -> Value {
        secrets::redact_with(&self.schema, &self.tree)
    }

    /// Where the value at `path` came from.
    pub fn origin(&self, path: &str) -> Option<&Origin> {
        self.origins.get(&Path::parse(path))
    }

    pub fn schema(&self) -> &SchemaTree {
        &self.schema
    }
}

/// Resolves values; `--set-file` paths are read from the file system, each up to
/// [`limits::SET_FILE`].
pub fn resolve<T, R>(
    layers: &[Layer],
    sets: &[SetFlag],
    rng: &mut R,
) -> Result<Resolved<T>, Problems>
where
    T: DeserializeOwned + schemars::JsonSchema + Validate,
    R: Rng + ?Sized,
{
    resolve_with(layers, sets, rng, &|p: &str| {
        limits::read_file(
            std::path::Path::new(p),
            &format!("file {p:?}"),
            "--set-file",
            limits::SET_FILE,
        )
        .map_err(|e| e.to_string())
    })
}

/// [`resolve`] with a custom `--set-file` reader. What the user gave (profile and
/// `-f` layers, flags, `--set-file` contents) counts against [`limits::TOTAL`].
pub fn resolve_with<T, R>(
    layers: &[Layer],
    sets: &[SetFlag],
    rng: &mut R,
    read_file: FileReader<'_>,
) -> Result<Resolved<T>, Problems>
where
    T: DeserializeOwned + schemars::JsonSchema + Validate,
    R: Rng + ?Sized,
{
    let schema = SchemaTree::of::<T>();
    let mut problems = Problems::new();
    let mut tree = Value::Object(serde_json::Map::new());
    let mut origins = Origins::default();

    let budget = limits::Budget::default();
    let mut required = Vec::new();
    for layer in layers {
        if let (LayerKind::Profile | LayerKind::File, LayerSource::Yaml(text)) =
            (layer.kind, &layer.source)
            && let Err(e) = budget.spend(&layer.name, text.len())
        {
            problems.add(Path::root(), e.to_string());
        }
        merge_layer(
            layer,
            &schema,
            &mut tree,
            &mut origins,
            &mut required,
            &mut problems,
        );
    }

    let mut set_tree = Value::Object(serde_json::Map::new());
    let mut set_origins = Origins::default();
    let cx = set::SetContext {
        schema: &schema,
        read_file,
        budget: &budget,
    };
    for flag in sets {
        set::apply_flag(flag, &mut set_tree, &mut set_origins, &cx, &mut problems);
    }
    merge::merge(&mut tree, set_tree, &mut origins, &|p| {
        set_origins.get(p).cloned()
    });

    let generated = secrets::generate_missing(&schema, &mut tree, rng);
    for p in &generated {
        origins.set(p.clone(), Origin::Generated);
    }

    // Unmet requirements come first and do not stop the checks below: a prompt
    // asking for one value needs the verdict on the others it was given.
    let mut found = Problems::new();
    requires::check(&schema, &required, &tree, &mut found);
    schema.validate(&tree, &origins, &mut problems);
    if !problems.is_empty() {
        found.extend(problems);
        found.attach_origins(&origins);
        return Err(found);
    }

    let typed: T = match serde_json::from_value(tree.clone()) {
        Ok(t) => t,
        Err(e) => {
            // The walk should have caught this; if serde still objects, say what it said.
            found.add(
                Path::root(),
                format!("values do not fit the stack's types: {e}"),
            );
            return Err(found);
        }
    };
    // A value that is missing is reported as such, not also as whatever its
    // emptiness breaks.
    let mut typed_found = typed_problems(&schema, &tree, &typed);
    typed_found.retain(|p| !found.iter().any(|u| u.path == p.path));
    found.extend(typed_found);
    found.attach_origins(&origins);
    found.into_result()?;

    Ok(Resolved {
        typed,
        tree,
        generated,
        origins,
        schema,
    })
}

/// The checks fields carry ([`fields`]) and the stack's own rules, for values
/// that are already typed. Field problems come first, in tree order; a key the
/// stack's rules report is not reported twice.
fn typed_problems<T: Validate>(schema: &SchemaTree, tree: &Value, typed: &T) -> Problems {
    let mut rules = Problems::new();
    typed.validate(&mut rules);
    let mut problems = Problems::new();
    fields::check_fields(schema, tree, &rules, &mut problems);
    problems.extend(rules);
    problems
}

/// Every semantic problem of typed values, as [`resolve`] would find them after
/// the schema walk (without origins): for tests and callers that build `T` in code.
pub fn validate_typed<T>(typed: &T) -> Problems
where
    T: serde::Serialize + schemars::JsonSchema + Validate,
{
    match serde_json::to_value(typed) {
        Ok(tree) => typed_problems(&SchemaTree::of::<T>(), &tree, typed),
        Err(e) => {
            let mut problems = Problems::new();
            problems.add(
                Path::root(),
                format!("values cannot be written as JSON: {e}"),
            );
            problems
        }
    }
}

/// `patch` merged into `base` as a layer is (maps key by key; lists and scalars
/// replace), without tracking where each value came from.
pub fn overlay(base: &mut Value, patch: Value) {
    merge::merge(base, patch, &mut Origins::default(), &|_| None);
}

/// A tree `T` accepted before (a release record, say) with every old key name
/// renamed (see `alias`), ready to deserialize. Records were checked when written,
/// so a key set under both names cannot occur; the new name would win.
pub fn normalise_aliases<T: schemars::JsonSchema>(tree: &Value) -> Value {
    let mut out = tree.clone();
    SchemaTree::of::<T>().normalise_aliases(&mut out);
    out
}

/// Merges `layer` into `tree`; a profile's requirements go to `required`, with
/// where each is declared.
fn merge_layer(
    layer: &Layer,
    schema: &SchemaTree,
    tree: &mut Value,
    origins: &mut Origins,
    required: &mut Vec<(Requirement, Origin)>,
    problems: &mut Problems,
) {
    let name: Arc<str> = Arc::from(layer.name.as_str());
    let (mut value, mut lines) = match &layer.source {
        LayerSource::Tree(v) => (v.clone(), std::collections::BTreeMap::default()),
        LayerSource::Yaml(text) => match origin::parse_yaml(text) {
            Ok(parsed) => (parsed.value, parsed.lines),
            Err(e) => {
                let origin = match e.line {
                    Some(line) => Origin::Yaml {
                        layer: name.clone(),
                        line,
                    },
                    None => Origin::Layer(name.clone()),
                };
                problems
                    .add(Path::root(), format!("invalid YAML: {}", e.message))
                    .origin(origin);
                return;
            }
        },
    };
    if layer.kind == LayerKind::Profile && value.is_object() {
        let line_of = |p: &str| lines.get(&Path::parse(p)).copied();
        let declared = |at: Option<u64>| match at {
            Some(line) => Origin::Yaml {
                layer: name.clone(),
                line,
            },
            None => Origin::Layer(name.clone()),
        };
        match requires::parse(&value) {
            Ok(list) => required.extend(list.into_iter().enumerate().map(|(i, r)| {
                let at = line_of(&format!("{}[{i}].key", requires::REQUIRES_KEY))
                    .or_else(|| line_of(&format!("{}[{i}]", requires::REQUIRES_KEY)));
                (r, declared(at))
            })),
            Err(message) => {
                problems
                    .add(Path::root(), message)
                    .origin(declared(line_of(requires::REQUIRES_KEY)));
            }
        }
    }
    match &mut value {
        Value::Null => return,
        Value::Object(map) => {
            if layer.kind == LayerKind::Profile {
                for k in PROFILE_META_KEYS {
                    map.shift_remove(k);
                }
            }
        }
        other => {
            problems
                .add(
                    Path::root(),
                    format!(
                        "expected a map of values at the top level, got {}",
                        schema::describe_value(other, false)
                    ),
                )
                .origin(Origin::Layer(name));
            return;
        }
    }
    // Old key names: renamed here, in every kind of layer, so a release recorded
    // before a rename still resolves.
    let (renamed, conflicts) = schema.normalise_aliases(&mut value);
    for r in &renamed {
        lines = lines
            .into_iter()
            .map(|(p, l)| (alias::reroot(&p, &r.from, &r.to).unwrap_or(p), l))
            .collect();
    }
    for c in &conflicts {
        let origin = match lines.get(&c.alias) {
            Some(&line) => Origin::Yaml {
                layer: name.clone(),
                line,
            },
            None => Origin::Layer(name.clone()),
        };
        problems
            .add(c.canonical.clone(), c.message())
            .origin(origin);
    }
    let origin_of = |p: &Path| -> Option<Origin> {
        let mut at = p.clone();
        loop {
            if let Some(&line) = lines.get(&at) {
                return Some(Origin::Yaml {
                    layer: name.clone(),
                    line,
                });
            }
            if at.pop().is_none() {
                return Some(Origin::Layer(name.clone()));
            }
        }
    };
    merge::merge(tree, value, origins, &origin_of);
}

#[cfg(test)]
mod tests;
