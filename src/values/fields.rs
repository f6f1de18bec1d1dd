//! Checks that value types carry in their schema, run by one walk over the values.
//!
//! A field (or a type, for every field of that type) names its check with a
//! schemars extension, the way secrets are marked:
//!
//! ```ignore
//! #[derive(JsonSchema)]
//! pub struct Image {
//!     #[schemars(extend("x-stackctl-check" = "image-repository"))]
//!     pub repository: String,
//!     #[schemars(extend("x-stackctl-check" = "image-tag"))]
//!     pub tag: String,
//! }
//! ```
//!
//! Every use of `Image`, in any component, is then checked without being
//! listed anywhere: a stack's [`Validate`](super::Validate) keeps only rules
//! that relate several fields. The walk goes by the schema, so a problem names
//! the full key (`kafka.image.tag`) and the engine attaches its origin.
//!
//! Settings of a switched-off component are not used, so they are not held
//! against the user: nothing below an object whose `enabled` is `false` is
//! checked. The exception is a type marked `"x-stackctl-external" = true`
//! (where an outside service is described): it is used exactly when the
//! component that holds it is off, so it is checked then and only then.
//!
//! The check names are those of [`FieldCheck`]; an unknown name is a bug in a
//! stack, caught by the stacks' invariant tests rather than at run time.

use std::fmt;

use serde_json::Value;

use super::checks;
use super::path::{Path, Seg};
use super::problems::Problems;
use super::schema::{Child, SchemaTree};

/// The schema extension key naming a field's check.
pub const CHECK_MARKER: &str = "x-stackctl-check";

/// The schema extension key marking the description of an outside service.
pub const EXTERNAL_MARKER: &str = "x-stackctl-external";

/// A check a field carries; its name is the value of [`CHECK_MARKER`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldCheck {
    /// `port`: 1 to 65535.
    Port,
    /// `replicas`: at least 1.
    Replicas,
    /// `image-repository`: a repository without tag or digest.
    ImageRepository,
    /// `image-tag`.
    ImageTag,
    /// `image-digest`: `sha256:` and 64 hex digits, or empty for none.
    ImageDigest,
    /// `storage-class`: a StorageClass name, or empty to inherit.
    StorageClass,
}

impl FieldCheck {
    pub const ALL: [FieldCheck; 6] = [
        FieldCheck::Port,
        FieldCheck::Replicas,
        FieldCheck::ImageRepository,
        FieldCheck::ImageTag,
        FieldCheck::ImageDigest,
        FieldCheck::StorageClass,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FieldCheck::Port => "port",
            FieldCheck::Replicas => "replicas",
            FieldCheck::ImageRepository => "image-repository",
            FieldCheck::ImageTag => "image-tag",
            FieldCheck::ImageDigest => "image-digest",
            FieldCheck::StorageClass => "storage-class",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Runs the check on a value the schema walk has already typed; a value of
    /// the wrong type is left to that walk (it has reported it).
    pub fn run(self, value: &Value) -> Result<(), String> {
        match self {
            FieldCheck::Port => value.as_i64().map_or(Ok(()), checks::port),
            FieldCheck::Replicas => value.as_i64().map_or(Ok(()), checks::replicas),
            FieldCheck::ImageRepository => value.as_str().map_or(Ok(()), checks::image_repository),
            FieldCheck::ImageTag => value.as_str().map_or(Ok(()), checks::image_tag),
            FieldCheck::ImageDigest => match value.as_str() {
                Some("") | None => Ok(()),
                Some(digest) => checks::image_digest(digest),
            },
            FieldCheck::StorageClass => match value.as_str() {
                Some("") | None => Ok(()),
                Some(name) => checks::dns1123_subdomain(name),
            },
        }
    }
}

impl fmt::Display for FieldCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl SchemaTree {
    /// An extension on a schema as written (a field-level attribute) or on what
    /// it refers to (a type-level one).
    pub(crate) fn marker<'a>(&'a self, s: &'a Value, key: &str) -> Option<&'a Value> {
        s.get(key).or_else(|| self.deref(s).get(key)).or_else(|| {
            self.alternatives(s)
                .into_iter()
                .find_map(|alt| alt.get(key))
        })
    }

    /// The check named on a schema, with its name as written: `Err(name)` when
    /// no [`FieldCheck`] has that name.
    pub fn field_check(&self, s: &Value) -> Option<Result<FieldCheck, String>> {
        let name = self.marker(s, CHECK_MARKER)?;
        let name = name.as_str().unwrap_or_default();
        Some(FieldCheck::from_name(name).ok_or_else(|| name.to_owned()))
    }

    fn is_external(&self, s: &Value) -> bool {
        self.marker(s, EXTERNAL_MARKER)
            .is_some_and(|m| m.as_bool() == Some(true))
    }
}

/// Runs every field check in `values`; a key that already has a problem in
/// `already` (a stack's own, more specific rule) is not reported again.
pub fn check_fields(
    schema: &SchemaTree,
    values: &Value,
    already: &Problems,
    problems: &mut Problems,
) {
    let mut walk = Walk {
        schema,
        already,
        problems,
    };
    walk.visit(schema.root(), values, &mut Path::root(), true);
}

struct Walk<'a> {
    schema: &'a SchemaTree,
    already: &'a Problems,
    problems: &'a mut Problems,
}

impl Walk<'_> {
    fn visit(&mut self, s: &Value, value: &Value, path: &mut Path, live: bool) {
        if let Some(check) = self.schema.field_check(s) {
            // An unknown name checks nothing here; the stacks' tests refuse it.
            if let Ok(check) = check
                && live
                && !self.already.iter().any(|p| p.path == *path)
                && let Err(message) = check.run(value)
            {
                self.problems.add(path.clone(), message);
            }
            return;
        }
        match value {
            Value::Object(map) => {
                let enabled = map.get("enabled").and_then(Value::as_bool);
                let inside = live && enabled != Some(false);
                for (k, v) in map {
                    let Child::Schema(sub) = self.schema.child_key(s, k) else {
                        continue;
                    };
                    // Keep in step with `in_use`.
                    let child_live = if self.schema.is_external(sub) {
                        live && enabled != Some(true)
                    } else {
                        inside
                    };
                    path.push_key(k);
                    self.visit(sub, v, path, child_live);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let Child::Schema(sub) = self.schema.child_index(s, i) else {
                        continue;
                    };
                    path.push(Seg::Index(i));
                    self.visit(sub, item, path, live);
                    path.pop();
                }
            }
            _ => {}
        }
    }
}

/// Whether the value at `path` is in use by the rule of the walk above: no
/// switched-off component on the way, except the one an external service
/// stands in for, which must be off.
pub(crate) fn in_use(schema: &SchemaTree, values: &Value, path: &Path) -> bool {
    let mut s = schema.root();
    let mut at = Some(values);
    let mut live = true;
    for seg in path.segs() {
        let Some(value) = at else { break };
        let enabled = value.get("enabled").and_then(Value::as_bool);
        let (child, next) = match seg {
            Seg::Key(k) => (schema.child_key(s, k), value.get(k.as_str())),
            Seg::Index(i) => (schema.child_index(s, *i), value.get(*i)),
        };
        let Child::Schema(sub) = child else { break };
        live = if schema.is_external(sub) {
            live && enabled != Some(true)
        } else {
            live && enabled != Some(false)
        };
        s = sub;
        at = next;
    }
    live
}

/// Every check named anywhere in the schema, with the path of a field that
/// names it (`[]` for list elements, `*` for map values): for tests that keep
/// stacks honest.
pub fn declared_checks(schema: &SchemaTree) -> Vec<(String, Result<FieldCheck, String>)> {
    let mut out = Vec::new();
    collect(schema, schema.root(), &mut String::new(), &mut out, 0);
    out
}

fn collect(
    schema: &SchemaTree,
    s: &Value,
    prefix: &mut String,
    out: &mut Vec<(String, Result<FieldCheck, String>)>,
    depth: usize,
) {
    // Recursive types would otherwise be walked forever.
    const MAX_DEPTH: usize = 16;
    if depth >= MAX_DEPTH {
        return;
    }
    if let Some(check) = schema.field_check(s) {
        out.push((prefix.clone(), check));
        return;
    }
    let len = prefix.len();
    for (k, sub) in schema.properties(s) {
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(k);
        collect(schema, sub, prefix, out, depth + 1);
        prefix.truncate(len);
    }
    for alt in schema.alternatives(s) {
        let (suffix, sub) = match (alt.get("items"), alt.get("additionalProperties")) {
            (Some(items), _) if items.is_object() => ("[]", items),
            (_, Some(extra)) if extra.is_object() => (".*", extra),
            _ => continue,
        };
        prefix.push_str(suffix);
        collect(schema, sub, prefix, out, depth + 1);
        prefix.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> SchemaTree {
        SchemaTree::from_value(json!({
            "type": "object",
            "properties": {
                "app": {"$ref": "#/$defs/Component"},
                "db": {"$ref": "#/$defs/Component"},
                "pools": {"type": "array", "items": {"$ref": "#/$defs/Component"}},
            },
            "$defs": {
                "Component": {
                    "type": "object",
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "image": {"$ref": "#/$defs/Image"},
                        "replicas": {"type": "integer", "x-stackctl-check": "replicas"},
                        "external": {"$ref": "#/$defs/External"},
                    }
                },
                "Image": {
                    "type": "object",
                    "properties": {
                        "repository": {"type": "string", "x-stackctl-check": "image-repository"},
                        "tag": {"type": "string", "x-stackctl-check": "image-tag"},
                    }
                },
                "External": {
                    "type": "object",
                    "x-stackctl-external": true,
                    "properties": {
                        "port": {"type": "integer", "x-stackctl-check": "port"},
                    }
                },
            }
        }))
    }

    fn component(enabled: bool, tag: &str, replicas: i64, port: i64) -> Value {
        json!({
            "enabled": enabled,
            "image": {"repository": "example/app", "tag": tag},
            "replicas": replicas,
            "external": {"port": port},
        })
    }

    fn found(values: &Value) -> Vec<String> {
        let mut problems = Problems::new();
        check_fields(&schema(), values, &Problems::new(), &mut problems);
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_marked_field_is_checked_with_its_full_key() {
        let values = json!({
            "app": component(true, "-bad", 0, 0),
            "db": component(true, "1.0", 1, 5432),
            "pools": [component(true, "1.0", 1, 1), component(true, "1.0", 0, 1)],
        });
        let found = found(&values);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].starts_with("app.image.tag: \"-bad\" is not a valid image tag"),
            "{found:?}"
        );
        assert_eq!(found[1], "app.replicas: must be at least 1, got 0");
        assert_eq!(found[2], "pools[1].replicas: must be at least 1, got 0");
    }

    #[test]
    fn a_disabled_component_is_not_checked_but_its_external_service_is() {
        let values = json!({
            "app": component(false, "-bad", 0, 0),
            "db": component(true, "1.0", 1, 0),
            "pools": [],
        });
        assert_eq!(
            found(&values),
            vec!["app.external.port: must be a port number from 1 to 65535, got 0"]
        );
    }

    #[test]
    fn in_use_follows_the_same_switches_as_the_walk() {
        let values =
            json!({"app": component(false, "1.0", 1, 1), "db": component(true, "1.0", 1, 1)});
        let used = |p: &str| in_use(&schema(), &values, &Path::parse(p));
        assert!(!used("app.image.tag"));
        assert!(used("app.external.port"));
        assert!(used("db.image.tag"));
        assert!(!used("db.external.port"));
    }

    #[test]
    fn a_key_a_stack_rule_already_reported_is_not_reported_again() {
        let values = json!({"app": component(true, "-bad", 1, 1)});
        let mut already = Problems::new();
        already.add("app.image.tag", "a more specific rule");
        let mut problems = Problems::new();
        check_fields(&schema(), &values, &already, &mut problems);
        assert!(problems.is_empty(), "{problems}");
    }

    #[test]
    fn declared_checks_name_every_marked_field() {
        let declared: Vec<String> = declared_checks(&schema())
            .into_iter()
            .map(|(path, check)| format!("{path}={}", check.unwrap()))
            .collect();
        assert!(declared.contains(&"app.image.tag=image-tag".to_owned()));
        assert!(declared.contains(&"db.external.port=port".to_owned()));
        assert!(declared.contains(&"pools[].replicas=replicas".to_owned()));
        for check in FieldCheck::ALL {
            assert_eq!(FieldCheck::from_name(check.name()), Some(check));
        }
    }
}
