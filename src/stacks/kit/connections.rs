//! How a stack reaches its dependencies: which side of one is in use (inside the
//! release or external), the Secret its credentials live in (in both modes, so
//! pods never carry a literal password), and how users read that Secret.

use super::values::ExternalDatabase;
use crate::model::Release;

pub use crate::stacks::workload::SecretKey;

/// `<release>-<dependency>-credentials`.
pub fn credentials_secret(release: &Release, dependency: &str) -> String {
    release.object_name(&format!("{dependency}-credentials"))
}

/// Where a dependency runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// In the release, from its own component.
    Internal,
    /// Outside, from the component's `external` settings.
    External,
}

/// The side in use: internal when the component is enabled, else external when
/// the user configured it, else none (the dependency is not used at all).
pub fn side(enabled: bool, external_configured: bool) -> Option<Side> {
    if enabled {
        Some(Side::Internal)
    } else if external_configured {
        Some(Side::External)
    } else {
        None
    }
}

/// Where the apps find a SQL database (MySQL, PostgreSQL), from whichever side is
/// in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub database: String,
    pub password_ref: SecretKey,
    pub internal: bool,
}

impl Database {
    /// The database of `external` settings, its password in `password_ref`.
    pub fn external(e: &ExternalDatabase, password_ref: SecretKey) -> Self {
        Database {
            host: e.host.clone(),
            port: e.port,
            username: e.username.clone(),
            password: e.password.clone(),
            database: e.database.clone(),
            password_ref,
            internal: false,
        }
    }
}

/// The shell command printing one key of a Secret: the notes and `status` show it.
pub fn read_secret_command(namespace: &str, secret: &str, key: &str) -> String {
    format!("kubectl -n {namespace} get secret {secret} -o jsonpath='{{.data.{key}}}' | base64 -d")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enabled_component_wins_over_external_settings() {
        assert_eq!(side(true, true), Some(Side::Internal));
        assert_eq!(side(false, true), Some(Side::External));
        assert_eq!(side(false, false), None);
    }

    #[test]
    fn the_notes_command_decodes_the_named_key() {
        let r = SecretKey {
            secret: "cv-redis-credentials".into(),
            key: "redis-password",
        };
        assert_eq!(
            read_secret_command("logs", &r.secret, r.key),
            "kubectl -n logs get secret cv-redis-credentials -o jsonpath='{.data.redis-password}' | base64 -d"
        );
    }
}
