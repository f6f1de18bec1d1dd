//! Where the platform's services are, from whichever side is active (inside the
//! release or external), and where their credentials live: always a Secret key,
//! never a literal in a pod spec.

use super::values::Values;
use crate::model::Release;

pub use crate::stacks::kit::{SecretKey, credentials_secret};
use crate::stacks::kit::{Side, side};

/// Keys of the credentials Secrets. They exist in both modes: internal ones hold
/// generated passwords, external ones the passwords the user gave.
pub mod keys {
    pub const ELASTIC_PASSWORD: &str = "elastic-password";
    pub const KIBANA_SYSTEM_PASSWORD: &str = "kibana-system-password";
    pub const KIBANA_ENCRYPTION_KEY: &str = "encryption-key";
    pub const REDIS_PASSWORD: &str = crate::stacks::kit::redis::PASSWORD_KEY;
    pub const POSTGRES_PASSWORD: &str = "postgres-password";
    pub const PASSWORD: &str = "password";
    pub const GRAFANA_ADMIN_USER: &str = "admin-user";
    pub const GRAFANA_ADMIN_PASSWORD: &str = "admin-password";
}

pub const ES_PORT: u16 = 9200;
pub const REDIS_PORT: u16 = crate::stacks::kit::redis::PORT;
pub const POSTGRES_PORT: u16 = 5432;
pub const PROMETHEUS_PORT: u16 = crate::stacks::kit::prometheus::PORT;
pub const ALERTMANAGER_PORT: u16 = 9093;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elasticsearch {
    /// `http://host:9200`, no trailing slash.
    pub url: String,
    /// Host part of the URL, for `.netrc` files.
    pub host: String,
    pub username: String,
    pub password: String,
    pub password_ref: SecretKey,
    pub internal: bool,
}

pub use crate::stacks::kit::redis::Connection as Redis;

pub use crate::stacks::kit::Database as Postgresql;

/// Every dependency endpoint; `None` where the dependency is not there at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connections {
    pub elasticsearch: Option<Elasticsearch>,
    pub redis: Option<Redis>,
    pub postgresql: Option<Postgresql>,
    /// In-cluster URL of Prometheus, route prefix included.
    pub prometheus_url: Option<String>,
    pub alertmanager_url: Option<String>,
}

/// Host of an `http(s)://host:port/...` URL.
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host.to_string(),
        _ => authority.to_string(),
    }
}

impl crate::stacks::kit::Wiring<Values> for Connections {
    fn wire(values: &Values, release: &Release) -> Self {
        Self::new(values, release)
    }
}

impl Connections {
    pub fn new(v: &Values, release: &Release) -> Self {
        let es_ref = SecretKey {
            secret: credentials_secret(release, "elasticsearch"),
            key: keys::ELASTIC_PASSWORD,
        };
        let elasticsearch = side(
            v.elasticsearch.enabled,
            !v.elasticsearch.external.url.is_empty(),
        )
        .map(|s| match s {
            Side::Internal => {
                let host = release.service_host("elasticsearch");
                Elasticsearch {
                    url: format!("http://{host}:{ES_PORT}"),
                    host,
                    username: "elastic".into(),
                    password: v.elasticsearch.auth.password.clone(),
                    password_ref: es_ref,
                    internal: true,
                }
            }
            Side::External => {
                let e = &v.elasticsearch.external;
                let url = e.url.trim_end_matches('/').to_string();
                Elasticsearch {
                    host: url_host(&url),
                    url,
                    username: e.username.clone(),
                    password: e.password.clone(),
                    password_ref: es_ref,
                    internal: false,
                }
            }
        });

        let redis = crate::stacks::kit::redis::connection(release, &v.redis);

        let pg_ref = SecretKey {
            secret: credentials_secret(release, "postgresql"),
            key: keys::PASSWORD,
        };
        let postgresql =
            side(v.postgresql.enabled, !v.postgresql.external.host.is_empty()).map(|s| match s {
                Side::Internal => {
                    let a = &v.postgresql.auth;
                    Postgresql {
                        host: release.service_host("postgresql"),
                        port: POSTGRES_PORT,
                        username: a.username.clone(),
                        password: a.password.clone(),
                        database: a.database.clone(),
                        password_ref: pg_ref,
                        internal: true,
                    }
                }
                Side::External => Postgresql::external(&v.postgresql.external, pg_ref),
            });

        let prometheus_url = v.prometheus.enabled.then(|| {
            format!(
                "http://{}:{PROMETHEUS_PORT}{}",
                release.service_host("prometheus"),
                super::routes::prometheus_prefix(v)
            )
        });
        let alertmanager_url = v.alertmanager.enabled.then(|| {
            format!(
                "http://{}:{ALERTMANAGER_PORT}",
                release.service_host("alertmanager")
            )
        });
        Connections {
            elasticsearch,
            redis,
            postgresql,
            prometheus_url,
            alertmanager_url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_urls() {
        assert_eq!(url_host("https://es.example.com:9243"), "es.example.com");
        assert_eq!(url_host("http://es.example.com/"), "es.example.com");
        assert_eq!(url_host("http://10.0.0.1:9200/prefix"), "10.0.0.1");
    }
}
