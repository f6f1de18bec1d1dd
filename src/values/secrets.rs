//! Secret fields: generated when left empty, redacted when shown.
//!
//! A stack marks a field with a schemars extension:
//!
//! ```ignore
//! /// Generated on first install when empty; kept across upgrades.
//! #[schemars(extend("x-stackctl-secret" = "generate"))]
//! root_password: String,
//! /// Secret, never generated (a password of an external database).
//! #[schemars(extend("x-stackctl-secret" = true))]
//! password: String,
//! ```
//!
//! The marker may also sit on a type (`#[schemars(extend(...))]` on a newtype),
//! and then applies wherever the type is used. A marker on a map or struct makes
//! the whole subtree secret for redaction; generation only fills string slots.

use rand::Rng;
use rand::RngExt;
use rand::distr::Alphanumeric;
use serde_json::{Map, Value};

use super::path::{Path, Seg};
use super::schema::{Child, SchemaTree};

/// The schema extension key that marks a secret.
pub const SECRET_MARKER: &str = "x-stackctl-secret";

/// What replaces a secret in shown values.
pub const REDACTED: &str = "<redacted>";

/// Length of generated secrets. Letters and digits only (62 symbols, about
/// 190 bits), so they need no escaping in DSNs, URLs, TOML or shell.
pub const GENERATED_LEN: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// `"x-stackctl-secret" = true`: hidden, never generated.
    Keep,
    /// `"x-stackctl-secret" = "generate"`: hidden, generated when empty.
    Generate,
}

impl SecretKind {
    pub(crate) fn from_marker(marker: Option<&Value>) -> Option<Self> {
        match marker? {
            Value::String(s) if s == "generate" => Some(Self::Generate),
            Value::Bool(false) | Value::Null => None,
            // Any other marker errs on the side of hiding.
            _ => Some(Self::Keep),
        }
    }
}

/// A slot in the tree that holds (or could hold) a secret.
enum Slot<'a> {
    Present(&'a mut Value),
    Absent(&'a mut Map<String, Value>, &'a str),
}

/// Calls `f` for every secret-marked slot under `value`, including declared
/// keys that are absent from their (present) parent object.
fn walk_secrets(
    tree: &SchemaTree,
    schema: &Value,
    value: &mut Value,
    path: &mut Path,
    f: &mut dyn FnMut(SecretKind, &Path, Slot<'_>),
) {
    match value {
        Value::Object(map) => {
            let props = tree.properties(schema);
            for (k, sub) in &props {
                path.push_key(k);
                match (tree.secret_kind(sub), map.get_mut(*k)) {
                    (Some(kind), Some(v)) => f(kind, path, Slot::Present(v)),
                    (Some(kind), None) => f(kind, path, Slot::Absent(map, k)),
                    (None, Some(v)) => walk_secrets(tree, sub, v, path, f),
                    (None, None) => {}
                }
                path.pop();
            }
            // Map values (additionalProperties) for keys not declared above.
            for (k, v) in map.iter_mut() {
                if props.iter().any(|(p, _)| p == k) {
                    continue;
                }
                let Child::Schema(sub) = tree.child_key(schema, k) else {
                    continue;
                };
                path.push_key(k);
                match tree.secret_kind(sub) {
                    Some(kind) => f(kind, path, Slot::Present(v)),
                    None => walk_secrets(tree, sub, v, path, f),
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let Child::Schema(sub) = tree.child_index(schema, i) else {
                    continue;
                };
                path.push(Seg::Index(i));
                match tree.secret_kind(sub) {
                    Some(kind) => f(kind, path, Slot::Present(item)),
                    None => walk_secrets(tree, sub, item, path, f),
                }
                path.pop();
            }
        }
        _ => {}
    }
}

/// A fresh secret: [`GENERATED_LEN`] letters and digits from `rng`.
pub fn generate_secret<R: Rng + ?Sized>(rng: &mut R) -> String {
    (0..GENERATED_LEN)
        .map(|_| char::from(rng.sample(Alphanumeric)))
        .collect()
}

/// Fills every empty (`""`, `null` or absent) generate-marked field; returns
/// the paths filled, in tree order.
pub(crate) fn generate_missing<R: Rng + ?Sized>(
    tree: &SchemaTree,
    values: &mut Value,
    rng: &mut R,
) -> Vec<Path> {
    let mut generated = Vec::new();
    walk_secrets(
        tree,
        tree.root(),
        values,
        &mut Path::root(),
        &mut |kind, path, slot| {
            if kind != SecretKind::Generate {
                return;
            }
            match slot {
                Slot::Present(v) if v.is_null() || v.as_str() == Some("") => {
                    *v = Value::String(generate_secret(rng));
                }
                Slot::Absent(map, key) => {
                    map.insert(key.to_owned(), Value::String(generate_secret(rng)));
                }
                Slot::Present(_) => return,
            }
            generated.push(path.clone());
        },
    );
    generated
}

/// A copy of `values` with every secret-marked value replaced by `"<redacted>"`.
/// Absent and `null` secrets stay as they are; an empty string is redacted too,
/// so the output does not reveal which secrets are set.
pub fn redact_with(tree: &SchemaTree, values: &Value) -> Value {
    let mut out = values.clone();
    walk_secrets(
        tree,
        tree.root(),
        &mut out,
        &mut Path::root(),
        &mut |_, _, slot| {
            if let Slot::Present(v) = slot
                && !v.is_null()
            {
                *v = Value::String(REDACTED.to_owned());
            }
        },
    );
    out
}

/// [`redact_with`] for the schema of `T`; for values from a release record.
pub fn redact<T: schemars::JsonSchema>(values: &Value) -> Value {
    redact_with(&SchemaTree::of::<T>(), values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::testing::{TestValues, defaults_value};
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use serde_json::json;

    #[test]
    fn generated_secrets_are_long_alphanumeric_and_seed_determined() {
        let a = generate_secret(&mut StdRng::seed_from_u64(7));
        let b = generate_secret(&mut StdRng::seed_from_u64(7));
        let c = generate_secret(&mut StdRng::seed_from_u64(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.len() >= 24);
        assert!(a.chars().all(|ch| ch.is_ascii_alphanumeric()), "{a}");
        // The thread RNG works through the same generic signature.
        assert_eq!(generate_secret(&mut rand::rng()).len(), GENERATED_LEN);
    }

    #[test]
    fn only_empty_generate_fields_are_filled() {
        let tree = SchemaTree::of::<TestValues>();
        let mut v = defaults_value();
        v["mysql"]["auth"]["rootPassword"] = json!("given");
        v["mysql"]["auth"]
            .as_object_mut()
            .unwrap()
            .shift_remove("password");
        // `external.password` is secret but not generated; users list entries too.
        let generated = generate_missing(&tree, &mut v, &mut StdRng::seed_from_u64(1));
        let generated: Vec<String> = generated.iter().map(ToString::to_string).collect();
        assert_eq!(generated, vec!["app.users[0].token", "mysql.auth.password"]);
        assert_eq!(v["mysql"]["auth"]["rootPassword"], json!("given"));
        assert_eq!(v["mysql"]["external"]["password"], json!(""));
        assert_eq!(
            v["mysql"]["auth"]["password"].as_str().unwrap().len(),
            GENERATED_LEN
        );
        assert_eq!(
            v["app"]["users"][0]["token"].as_str().unwrap().len(),
            GENERATED_LEN
        );
        // Running again generates nothing: everything is filled.
        assert!(generate_missing(&tree, &mut v, &mut StdRng::seed_from_u64(1)).is_empty());
    }

    #[test]
    fn redaction_hides_every_marked_value() {
        let mut v = defaults_value();
        v["mysql"]["auth"]["rootPassword"] = json!("s3cret");
        v["mysql"]["external"]["password"] = json!("ext");
        v["app"]["users"][0]["token"] = json!("tok");
        v["app"]["secretEnv"] = json!({"A": "1", "B": "2"});
        let r = redact::<TestValues>(&v);
        assert_eq!(r["mysql"]["auth"]["rootPassword"], json!(REDACTED));
        assert_eq!(r["mysql"]["auth"]["password"], json!(REDACTED));
        assert_eq!(r["mysql"]["external"]["password"], json!(REDACTED));
        assert_eq!(r["app"]["users"][0]["token"], json!(REDACTED));
        assert_eq!(r["app"]["users"][0]["name"], json!("admin"));
        assert_eq!(r["app"]["secretEnv"], json!(REDACTED));
        assert_eq!(
            r["mysql"]["auth"]["username"],
            v["mysql"]["auth"]["username"]
        );
        let shown = serde_json::to_string(&r).unwrap();
        for secret in ["s3cret", "ext", "tok"] {
            assert!(!shown.contains(&format!("\"{secret}\"")), "{shown}");
        }
    }
}
