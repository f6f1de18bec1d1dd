//! Problems found in values, reported all together.

use std::fmt;

use super::origin::{Origin, Origins};
use super::path::Path;

/// One thing wrong with the values, tied to a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where the problem is; the root path for problems about a whole flag or file.
    pub path: Path,
    pub message: String,
    /// Where the offending value came from; filled in by the engine from
    /// [`Problem::blame`] (or `path`) when a check leaves it empty.
    pub origin: Option<Origin>,
    /// Shown after the origin, e.g. "did you mean `mysql.auth.rootPassword`?".
    pub hint: Option<String>,
    /// Whose origin to show, when it is not the problem's own path (for
    /// "required when mysql.enabled=false" the culprit is `mysql.enabled`).
    pub blame: Option<Path>,
    /// Set when the problem is only that a value the profile requires is absent:
    /// something a person could be asked for.
    pub missing: Option<Missing>,
}

/// A required value nobody gave, with what a prompt needs to ask for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    /// In `--set` syntax: `mysql.external.password`.
    pub key: String,
    /// What the value is, from the schema's descriptions: the field's own first,
    /// then those of the objects containing it.
    pub about: Vec<String>,
    /// Typed without echo, and never shown again.
    pub secret: bool,
    /// The schema takes text here, so an answer is kept as typed; otherwise it is
    /// read as a YAML scalar (a number, a boolean).
    pub text: bool,
    /// The profile's example of a value that fits.
    pub example: Option<serde_json::Value>,
    /// The `<component>.enabled` key that switches off the component needing the
    /// value, when it is on: turning it off is the other answer.
    pub switch: Option<String>,
}

impl Problem {
    pub fn new(path: impl Into<Path>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            origin: None,
            hint: None,
            blame: None,
            missing: None,
        }
    }

    /// Shows the origin of `path` instead of the problem's own.
    pub fn blame(&mut self, path: impl Into<Path>) -> &mut Self {
        self.blame = Some(path.into());
        self
    }

    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn origin(&mut self, origin: Origin) -> &mut Self {
        self.origin = Some(origin);
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_root() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(origin) = &self.origin {
            write!(f, " (from {origin})")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in one resolution; the error type of
/// [`resolve`](super::resolve). Also what a stack's
/// [`Validate`](super::Validate) implementation adds to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems {
    list: Vec<Problem>,
}

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a problem at `path` (written as for `--set`: `"mysql.external.host"`).
    pub fn add(&mut self, path: impl Into<Path>, message: impl Into<String>) -> &mut Problem {
        self.push(Problem::new(path, message))
    }

    pub fn push(&mut self, problem: Problem) -> &mut Problem {
        self.list.push(problem);
        let last = self.list.len() - 1;
        &mut self.list[last]
    }

    /// Records the outcome of one of the [`checks`](super::checks): an `Err`
    /// becomes a problem at `path`, which is returned for chaining.
    pub fn check(
        &mut self,
        path: impl Into<Path>,
        outcome: Result<(), String>,
    ) -> Option<&mut Problem> {
        match outcome {
            Ok(()) => None,
            Err(message) => Some(self.add(path, message)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.list.iter()
    }

    pub fn retain(&mut self, keep: impl FnMut(&Problem) -> bool) {
        self.list.retain(keep);
    }

    pub fn extend(&mut self, other: Problems) {
        self.list.extend(other.list);
    }

    /// Fills in missing origins from where the values came from.
    pub(crate) fn attach_origins(&mut self, origins: &Origins) {
        for p in self.list.iter_mut().filter(|p| p.origin.is_none()) {
            let at = p.blame.as_ref().unwrap_or(&p.path);
            if at.is_root() {
                continue;
            }
            p.origin = origins.get(at).cloned();
        }
    }

    /// The missing values, when every problem is one: then asking for them is all
    /// it takes.
    pub fn only_missing(&self) -> Option<Vec<&Missing>> {
        self.list.iter().map(|p| p.missing.as_ref()).collect()
    }

    pub(crate) fn into_result(self) -> Result<(), Problems> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl<'a> IntoIterator for &'a Problems {
    type Item = &'a Problem;
    type IntoIter = std::slice::Iter<'a, Problem>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// More than this many problems are summarized: a `--set list[60000]=x`
/// should not print sixty thousand lines.
const MAX_SHOWN: usize = 50;

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.list.len();
        write!(
            f,
            "error: {n} problem{} in values",
            if n == 1 { "" } else { "s" }
        )?;
        for p in self.list.iter().take(MAX_SHOWN) {
            write!(f, "\n  - {p}")?;
        }
        if n > MAX_SHOWN {
            write!(f, "\n  … and {} more", n - MAX_SHOWN)?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn display_matches_the_documented_shape() {
        let mut origins = Origins::default();
        origins.set(
            Path::parse("mysql.enabled"),
            Origin::Yaml {
                layer: Arc::from("profile external-services: profiles/external-services.yaml"),
                line: 8,
            },
        );
        let mut ps = Problems::new();
        ps.add("mysql.auth.rootPasword", "unknown key")
            .origin(Origin::Yaml {
                layer: Arc::from("-f my.yaml"),
                line: 12,
            })
            .hint("did you mean `mysql.auth.rootPassword`?");
        ps.add("clickvisual.replicas", "expected an integer, got \"abc\"")
            .origin(Origin::Flag("--set clickvisual.replicas=abc".into()));
        ps.add("mysql.external.host", "required when mysql.enabled=false")
            .blame("mysql.enabled");
        ps.attach_origins(&origins);
        assert_eq!(
            ps.to_string(),
            "error: 3 problems in values
  - mysql.auth.rootPasword: unknown key (from -f my.yaml:12); did you mean `mysql.auth.rootPassword`?
  - clickvisual.replicas: expected an integer, got \"abc\" (from --set clickvisual.replicas=abc)
  - mysql.external.host: required when mysql.enabled=false (from profile external-services: profiles/external-services.yaml:8)"
        );
    }

    #[test]
    fn long_lists_are_summarized() {
        let mut ps = Problems::new();
        for i in 0..60 {
            ps.add(Path::root().index(i), "bad");
        }
        let text = ps.to_string();
        assert_eq!(text.lines().count(), 1 + MAX_SHOWN + 1);
        assert!(text.ends_with("… and 10 more"), "{text}");
    }

    #[test]
    fn one_problem_is_singular_and_check_records_errors_only() {
        let mut ps = Problems::new();
        assert!(ps.check("a", Ok(())).is_none());
        ps.check("a", Err("must be at least 1, got 0".into()));
        assert_eq!(
            ps.to_string(),
            "error: 1 problem in values\n  - a: must be at least 1, got 0"
        );
    }
}
