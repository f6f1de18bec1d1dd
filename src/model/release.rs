//! The identity of a release as components see it while rendering.

/// Identity of the release being rendered, shared by all components.
#[derive(Debug, Clone)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub stack: &'static str,
    /// The revision these objects are rendered for (1 outside an operation, as in
    /// `template`); objects whose spec may not change in place carry it in their name.
    pub revision: u32,
}

impl Release {
    /// `<release>-<suffix>`: the name of a release-owned object.
    pub fn object_name(&self, suffix: &str) -> String {
        format!("{}-{}", self.name, suffix)
    }

    /// Cluster-scoped objects carry the namespace too, so two releases of the same
    /// name in different namespaces never collide.
    pub fn cluster_object_name(&self, suffix: &str) -> String {
        format!("{}-{}-{}", self.namespace, self.name, suffix)
    }

    /// In-cluster DNS name of a Service of this release.
    pub fn service_host(&self, suffix: &str) -> String {
        format!("{}.{}.svc", self.object_name(suffix), self.namespace)
    }
}

/// Longest release name. Every object name is `<release>-<suffix>`, and the longest
/// suffix any stack renders decides: with it a StatefulSet name stays within the 52
/// characters its pods' `controller-revision-hash` label allows, a Service name and a
/// Job's `job-name` label within 63. Today the tightest is AIOps production's
/// `<release>-redis-cluster-init-<hash>` Job (28 characters of suffix). Shorter than
/// Helm's 53 because this is checked rather than hoped: `tests/release_names.rs`
/// renders every profile at this length (and fails if one character less would do),
/// and `tests/render.rs` has the API server dry-run them.
pub const MAX_RELEASE_NAME: usize = 35;

/// Why a release name was refused, for a message that says what to type instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid release name {name:?}: {problem}; use something like \"cv\" or \"logs-prod\"")]
pub struct ReleaseNameError {
    pub name: String,
    pub problem: String,
}

/// A release name prefixes every object name and is a label value: a DNS-1035 label
/// (lowercase letters, digits, '-', starting with a letter) of at most
/// [`MAX_RELEASE_NAME`] characters. The one rule: the CLI, the lock and the record
/// store all check this.
pub fn check_release_name(name: &str) -> Result<(), ReleaseNameError> {
    let problem = if name.is_empty() {
        "it is empty".to_string()
    } else if name.len() > MAX_RELEASE_NAME {
        format!("it is longer than {MAX_RELEASE_NAME} characters")
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        "it must start with a lowercase letter".to_string()
    } else if name.ends_with('-') {
        "it must not end with '-'".to_string()
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        "only lowercase letters, digits and '-' are allowed".to_string()
    } else {
        return Ok(());
    };
    Err(ReleaseNameError {
        name: name.to_string(),
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_scoped_names_carry_the_namespace() {
        let r = Release {
            name: "cv".into(),
            namespace: "team-a".into(),
            stack: "clickvisual",
            revision: 1,
        };
        assert_eq!(r.cluster_object_name("fluentbit"), "team-a-cv-fluentbit");
        assert_eq!(r.service_host("mysql"), "cv-mysql.team-a.svc");
    }

    #[test]
    fn release_names() {
        for ok in ["cv", "logs-prod", "a1", &"a".repeat(MAX_RELEASE_NAME)] {
            assert!(check_release_name(ok).is_ok(), "{ok}");
        }
        let too_long = "a".repeat(MAX_RELEASE_NAME + 1);
        for bad in ["", "1cv", "Cv", "cv-", "c.v", "c_v", &too_long] {
            let err = check_release_name(bad).unwrap_err().to_string();
            assert!(err.contains("invalid release name"), "{err}");
        }
    }
}
