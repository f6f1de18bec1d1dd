//! What a profile leaves to the user: its `requires:` list.
//!
//! A profile that points at outside services, or at images its users build,
//! cannot ship every value. It says which ones it needs, next to the values it
//! does ship, so the list exists once and serves both the command line and the
//! tests:
//!
//! ```yaml
//! stack: clickvisual
//! description: …
//! requires:
//!   - key: mysql.external.password
//!     example: example        # what tests and documentation fill in
//! mysql:
//!   enabled: false
//! ```
//!
//! [`resolve`](super::resolve) refuses values that leave a required key absent,
//! `null` or empty, before any of the stack's own checks, naming each key with the
//! profile line that requires it. A key of a component the user switched off
//! (`enabled: false`) is not needed, by the same rule as the checks fields carry
//! ([`fields`]): requiring an in-house image stops when the
//! service is off, and an external service's password when the bundled one is on.

use serde_json::Value;

use super::fields;
use super::origin::Origin;
use super::path::Path;
use super::problems::{Missing, Problems};
use super::schema::{Child, SchemaTree};

/// Top-level key of a profile holding its requirements.
pub const REQUIRES_KEY: &str = "requires";

/// One value a profile needs from its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// In `--set` syntax: `mysql.external.password`.
    pub key: String,
    /// A value that satisfies it, for tests and documentation; never a default.
    pub example: Option<Value>,
}

/// Reads the `requires:` list of a parsed profile; empty when there is none.
pub fn parse(profile: &Value) -> Result<Vec<Requirement>, String> {
    let Some(list) = profile.get(REQUIRES_KEY) else {
        return Ok(Vec::new());
    };
    let Some(list) = list.as_array() else {
        return Err(format!(
            "`{REQUIRES_KEY}:` must be a list of entries with `key:` (and `example:`)"
        ));
    };
    list.iter()
        .enumerate()
        .map(|(i, entry)| {
            let key = entry
                .get("key")
                .and_then(Value::as_str)
                .filter(|k| !k.trim().is_empty())
                .ok_or_else(|| format!("`{REQUIRES_KEY}[{i}]` needs `key:` (a dotted key)"))?;
            if let Some(unknown) = entry
                .as_object()
                .and_then(|o| o.keys().find(|k| !matches!(k.as_str(), "key" | "example")))
            {
                return Err(format!(
                    "`{REQUIRES_KEY}[{i}]` has unknown field `{unknown}` (expected `key` and `example`)"
                ));
            }
            Ok(Requirement {
                key: key.to_owned(),
                example: entry.get("example").cloned(),
            })
        })
        .collect()
}

/// Absent, `null`, blank, or an empty list or map: nothing the user gave.
fn is_missing(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

/// Adds a problem for every requirement `values` leaves unmet; each comes with
/// where it was declared.
pub(crate) fn check(
    schema: &SchemaTree,
    requirements: &[(Requirement, Origin)],
    values: &Value,
    problems: &mut Problems,
) {
    for (r, declared) in requirements {
        let path = Path::parse(&r.key);
        if matches!(schema.lookup(&path), Child::Unknown) {
            problems
                .add(
                    Path::root(),
                    format!(
                        "the profile requires `{}`, which is not a key of this stack",
                        r.key
                    ),
                )
                .origin(declared.clone());
        } else if fields::in_use(schema, values, &path) && is_missing(path.get(values)) {
            let missing = describe(schema, values, &path, r);
            let problem = problems
                .add(path, "required by the profile")
                .origin(declared.clone())
                .hint(format!("set it in a -f file or with --set {}=…", r.key));
            problem.missing = Some(missing);
        }
    }
}

/// What a prompt needs to know about an unmet requirement at `path`.
fn describe(schema: &SchemaTree, values: &Value, path: &Path, r: &Requirement) -> Missing {
    let segs = path.segs();
    let mut about = Vec::new();
    let mut switch = None;
    // Deepest first: the field says what it is, its containers whose it is.
    for depth in (1..=segs.len()).rev() {
        let prefix = Path::from(segs[..depth].to_vec());
        if let Child::Schema(s) = schema.lookup(&prefix) {
            let text = s
                .get("description")
                .or_else(|| schema.deref(s).get("description"))
                .and_then(Value::as_str);
            if let Some(text) = text.filter(|t| !about.iter().any(|a: &String| a == t)) {
                about.push(text.to_owned());
            }
        }
        let on = prefix
            .get(values)
            .and_then(|v| v.get("enabled"))
            .and_then(Value::as_bool);
        if depth < segs.len() && switch.is_none() && on == Some(true) {
            switch = Some(format!("{prefix}.enabled"));
        }
    }
    let text = match schema.lookup(path) {
        Child::Schema(s) => {
            let t = schema.types(s);
            t.string || t.any
        }
        Child::Any | Child::Unknown => true,
    };
    Missing {
        key: r.key.clone(),
        about,
        secret: schema.is_secret(path),
        text,
        example: r.example.clone(),
        switch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requirements_are_read_with_their_examples() {
        let profile = json!({
            "stack": "s",
            "requires": [
                {"key": "mysql.external.password", "example": "pw"},
                {"key": "app.image.repository"},
            ],
        });
        assert_eq!(
            parse(&profile).unwrap(),
            vec![
                Requirement {
                    key: "mysql.external.password".into(),
                    example: Some(json!("pw")),
                },
                Requirement {
                    key: "app.image.repository".into(),
                    example: None,
                },
            ]
        );
        assert_eq!(parse(&json!({"stack": "s"})).unwrap(), vec![]);
    }

    #[test]
    fn malformed_requirements_say_what_is_expected() {
        for (requires, expected) in [
            (json!("mysql.external.password"), "must be a list"),
            (json!([{"example": 1}]), "`requires[0]` needs `key:`"),
            (
                json!([{"key": "a", "exmaple": 1}]),
                "unknown field `exmaple`",
            ),
        ] {
            let err = parse(&json!({"requires": requires})).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn blank_values_do_not_meet_a_requirement() {
        for missing in [None, Some(json!(null)), Some(json!(" ")), Some(json!([]))] {
            assert!(is_missing(missing.as_ref()), "{missing:?}");
        }
        for given in [json!("x"), json!(0), json!(false), json!(["a"])] {
            assert!(!is_missing(Some(&given)), "{given}");
        }
    }
}
