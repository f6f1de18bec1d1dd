//! Profiles: named sets of values for a stack. The built-in ones in `profiles/` are
//! embedded in the binary; `--profile` also takes a path to a file of the same form.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::values::{Requirement, limits, requires};

/// A profile file: `stack:` and `description:` first, then what it `requires:`
/// of its user (see [`requires`]), then values.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub stack: String,
    pub description: String,
    /// Values the profile leaves to its user: the one list the command line
    /// enforces (through the values engine) and tests fill in from the examples.
    pub requires: Vec<Requirement>,
    /// Where it came from, used in error origins (`profiles/minimal.yaml`).
    pub source: String,
    /// The whole file; the values engine strips `stack`, `description` and `requires`.
    pub yaml: String,
}

const BUILTIN: &[(&str, &str)] = &[
    ("minimal", include_str!("../profiles/minimal.yaml")),
    ("default", include_str!("../profiles/default.yaml")),
    ("production", include_str!("../profiles/production.yaml")),
    (
        "external-services",
        include_str!("../profiles/external-services.yaml"),
    ),
    (
        "aiops-minimal",
        include_str!("../profiles/aiops-minimal.yaml"),
    ),
    ("aiops", include_str!("../profiles/aiops.yaml")),
    (
        "aiops-production",
        include_str!("../profiles/aiops-production.yaml"),
    ),
];

/// Every built-in profile, in a stable order.
pub fn builtin() -> Vec<Profile> {
    BUILTIN
        .iter()
        .map(|(name, yaml)| {
            parse(name, &format!("profiles/{name}.yaml"), yaml)
                .expect("built-in profiles are valid (checked by tests)")
        })
        .collect()
}

/// A built-in profile by name, or a profile file by path (anything with a `/` or a
/// `.yaml`/`.yml` suffix, or an existing file).
pub fn load(name_or_path: &str) -> Result<Profile> {
    let looks_like_path = name_or_path.contains('/')
        || std::path::Path::new(name_or_path)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    if !looks_like_path {
        if let Some((name, yaml)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return parse(name, &format!("profiles/{name}.yaml"), yaml);
        }
        if !Path::new(name_or_path).is_file() {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            bail!(
                "no profile named {name_or_path:?}; built-in profiles: {} (or give a path to a profile file)",
                names.join(", ")
            );
        }
    }
    let path = Path::new(name_or_path);
    let yaml = limits::read_file(
        path,
        &format!("profile file {}", path.display()),
        "profile file",
        limits::VALUES_FILE,
    )?;
    let name = path.file_stem().map_or_else(
        || name_or_path.to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    parse(&name, name_or_path, &yaml)
}

fn parse(name: &str, source: &str, yaml: &str) -> Result<Profile> {
    let doc: Value = serde_saphyr::from_str(yaml)
        .with_context(|| format!("profile {source} is not valid YAML"))?;
    let field = |key: &str| -> Result<String> {
        match doc.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => bail!("profile {source} must begin with `{key}:` (a non-empty string)"),
        }
    };
    let requires = requires::parse(&doc).map_err(|e| anyhow::anyhow!("profile {source}: {e}"))?;
    Ok(Profile {
        name: name.to_string(),
        stack: field("stack")?,
        description: field("description")?,
        requires,
        source: source.to_string(),
        yaml: yaml.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_name_their_stack_first() {
        for p in builtin() {
            let first_keys: Vec<&str> = p
                .yaml
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .take(2)
                .map(|l| l.split(':').next().unwrap())
                .collect();
            assert_eq!(first_keys, ["stack", "description"], "{}", p.source);
        }
    }

    #[test]
    fn unknown_profile_lists_the_builtin_ones() {
        let err = load("minimla").unwrap_err().to_string();
        assert!(err.contains("no profile named \"minimla\""), "{err}");
        assert!(err.contains("minimal, default, production"), "{err}");
    }

    #[test]
    fn profile_files_load_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.yaml");
        std::fs::write(
            &path,
            "stack: clickvisual\ndescription: mine\nmysql:\n  enabled: true\n",
        )
        .unwrap();
        let p = load(path.to_str().unwrap()).unwrap();
        assert_eq!((p.name.as_str(), p.stack.as_str()), ("mine", "clickvisual"));

        std::fs::write(
            &path,
            "stack: clickvisual\ndescription: mine\nrequires:\n  - key: mysql.external.host\n",
        )
        .unwrap();
        let p = load(path.to_str().unwrap()).unwrap();
        assert_eq!(p.requires.len(), 1);
        assert_eq!(p.requires[0].key, "mysql.external.host");

        std::fs::write(
            &path,
            "stack: clickvisual\ndescription: mine\nrequires: mysql.external.host\n",
        )
        .unwrap();
        let err = format!("{:#}", load(path.to_str().unwrap()).unwrap_err());
        assert!(err.contains("`requires:` must be a list"), "{err}");

        std::fs::write(&path, "description: no stack\n").unwrap();
        let err = load(path.to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains("must begin with `stack:`"), "{err}");
    }
}
