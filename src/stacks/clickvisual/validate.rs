//! Checks that types cannot express: cross-field requirements and names. Images,
//! ports, replica counts and StorageClasses carry their own checks in the schema
//! (`crate::values::fields`) and are not listed here.

use super::values::{PolicyPeer, Values};
use crate::stacks::kit::{check_service_account, keyed_peers, redis};
use crate::values::{Problems, Validate, checks};

impl Validate for Values {
    fn validate(&self, p: &mut Problems) {
        crate::stacks::kit::backup::check(self, p);
        self.check_counts(p);
        self.check_dependencies(p);
        self.check_names(p);
        self.check_app(p);
        redis::check(&self.redis, p);
        self.network_policy.check(p, outside_peers(self));
    }
}

/// The peers outside the release `networkPolicy` names, each with its key.
pub(super) fn outside_peers(v: &Values) -> impl Iterator<Item = (String, &PolicyPeer)> {
    let np = &v.network_policy;
    keyed_peers("networkPolicy.ingressFrom", &np.ingress_from)
        .chain(keyed_peers("networkPolicy.kafkaFrom", &np.kafka_from))
}

/// A custom schema script lives in a ConfigMap (at most 1 MiB) and, with the values,
/// in every release record (a Secret, also 1 MiB, gzip-compressed).
const MAX_SCHEMA_BYTES: usize = 512 * 1024;

impl Values {
    /// Each count and port is checked by its type (see `crate::values::fields`);
    /// what is left relates a count to the component's nature.
    fn check_counts(&self, p: &mut Problems) {
        // Zero is the replica check's to report (and would underflow below).
        let n = self.zookeeper.replicas;
        if self.zookeeper.enabled && n > 0 && n.is_multiple_of(2) {
            p.add(
                "zookeeper.replicas",
                format!(
                    "{} ZooKeeper servers cannot form a better quorum than {}; use an odd number",
                    n,
                    n - 1
                ),
            );
        }
    }

    /// A disabled dependency needs an address outside; Redis is needed once sessions
    /// are shared between replicas; Fluent Bit needs Kafka.
    fn check_dependencies(&self, p: &mut Problems) {
        if !self.mysql.enabled {
            external_host(p, "mysql", &self.mysql.external.host);
            for (key, value) in [
                ("username", &self.mysql.external.username),
                ("password", &self.mysql.external.password),
                ("database", &self.mysql.external.database),
            ] {
                if value.is_empty() {
                    p.add(
                        format!("mysql.external.{key}"),
                        "required when mysql.enabled is false",
                    )
                    .blame("mysql.enabled");
                }
            }
        }
        if !self.clickhouse.enabled {
            external_host(p, "clickhouse", &self.clickhouse.external.host);
        }
        if !self.redis.enabled && !self.redis.external.host.is_empty() {
            p.check(
                "redis.external.host",
                checks::host(&self.redis.external.host),
            );
        }
        if self.clickvisual.replicas > 1
            && !self.redis.enabled
            && self.redis.external.host.is_empty()
        {
            p.add(
                "redis.enabled",
                format!(
                    "ClickVisual with {} replicas shares sessions through Redis (app.isMultiCopy)",
                    self.clickvisual.replicas
                ),
            )
            .blame("clickvisual.replicas")
            .hint("set redis.enabled=true, or redis.external.host, or clickvisual.replicas=1");
        }
        if !self.kafka.enabled {
            for (i, broker) in self.kafka.external.brokers.iter().enumerate() {
                p.check(format!("kafka.external.brokers[{i}]"), host_port(broker));
            }
            if self.fluentbit.enabled && self.kafka.external.brokers.is_empty() {
                p.add("kafka.external.brokers", "Fluent Bit ships logs to Kafka: required when kafka.enabled is false and fluentbit.enabled is true")
                    .blame("kafka.enabled")
                    .hint("list brokers as [\"host:9092\"], or set fluentbit.enabled=false");
            }
        }
    }

    fn check_names(&self, p: &mut Problems) {
        if !self.global.storage_class.is_empty() {
            p.check(
                "global.storageClass",
                checks::dns1123_subdomain(&self.global.storage_class),
            );
        }
        for (i, secret) in self.global.image_pull_secrets.iter().enumerate() {
            p.check(
                format!("global.imagePullSecrets[{i}]"),
                checks::dns1123_subdomain(secret),
            );
        }
        for (key, value) in [
            ("mysql.auth.database", &self.mysql.auth.database),
            ("mysql.auth.username", &self.mysql.auth.username),
            ("clickhouse.database", &self.clickhouse.database),
            ("clickhouse.auth.username", &self.clickhouse.auth.username),
        ] {
            p.check(key, sql_identifier(value));
        }
        p.check("fluentbit.topic", kafka_topic(&self.fluentbit.topic));
        let fb = &self.fluentbit;
        check_service_account(p, "fluentbit", fb.enabled, &fb.rbac, &fb.service_account);
        if self.ingress.enabled {
            p.check("ingress.host", checks::ingress_host(&self.ingress.host));
            if self.ingress.path.starts_with('/') {
                self.check_sub_path(p);
            } else {
                p.add(
                    "ingress.path",
                    format!("must start with '/', got {:?}", self.ingress.path),
                );
            }
            if !self.ingress.class_name.is_empty() {
                p.check(
                    "ingress.className",
                    checks::dns1123_subdomain(&self.ingress.class_name),
                );
            }
            if self.ingress.tls.enabled
                && let Some(problem) = p.check(
                    "ingress.tls.secretName",
                    checks::dns1123_subdomain(&self.ingress.tls.secret_name),
                )
            {
                problem.hint("name the kubernetes.io/tls Secret holding the certificate");
            }
        }
    }

    /// Served below `/`, ClickVisual puts every route under the path of its rootURL
    /// (`api/internal/router/router.go`, `utils.ParseAppUrlAndSubUrl`), and its UI's
    /// asset URLs are fixed when the image is built (`Dockerfile.subpath` sets
    /// `PUBLIC_PATH`): the stock image cannot serve a sub-path.
    fn check_sub_path(&self, p: &mut Problems) {
        let path = self.ingress.path.trim_end_matches('/');
        if path.is_empty() {
            return;
        }
        if !self.clickvisual.sub_path_build {
            p.add(
                "ingress.path",
                format!(
                    "ClickVisual's stock image serves its UI from / only, not from {:?}",
                    self.ingress.path
                ),
            )
            .blame("clickvisual.subPathBuild")
            .hint(format!(
                "use ingress.path=/, or build the image for {path}/ (upstream's Dockerfile.subpath with PUBLIC_PATH={path}/) and set clickvisual.subPathBuild=true"
            ));
        }
        let root_url = &self.clickvisual.config.root_url;
        if let Some(rest) = root_url.split_once("://").map(|(_, rest)| rest) {
            let rest = rest.split(['?', '#']).next().unwrap_or_default();
            let url_path = rest
                .find('/')
                .map_or("", |i| &rest[i..])
                .trim_end_matches('/');
            if url_path != path {
                p.add(
                    "clickvisual.config.rootURL",
                    format!(
                        "its path {url_path:?} must be ingress.path {path:?}: ClickVisual serves every route below the path of its rootURL"
                    ),
                )
                .blame("ingress.path");
            }
        }
    }

    fn check_app(&self, p: &mut Problems) {
        let schema = &self.clickvisual.schema;
        if !schema.sql.trim().is_empty() {
            if !schema.enabled {
                p.add(
                    "clickvisual.schema.sql",
                    "is set, but clickvisual.schema.enabled is false, so nothing would apply it",
                )
                .blame("clickvisual.schema.enabled");
            } else if schema.sql.len() > MAX_SCHEMA_BYTES {
                p.add(
                    "clickvisual.schema.sql",
                    format!(
                        "is {} KiB; at most {} KiB fit in the ConfigMap and the release record that carry it",
                        schema.sql.len().div_ceil(1024),
                        MAX_SCHEMA_BYTES / 1024
                    ),
                )
                .hint("apply a larger schema yourself and set clickvisual.schema.enabled=false");
            } else if super::schema::sql::split(&schema.sql).is_empty() {
                p.add(
                    "clickvisual.schema.sql",
                    "holds no SQL statement (only comments or whitespace)",
                );
            }
        }
        let key = &self.clickvisual.config.encryption_key;
        if !key.is_empty() && key.len() != 32 {
            p.add(
                "clickvisual.config.encryptionKey",
                format!("must be exactly 32 characters, got {}", key.chars().count()),
            )
            .hint("leave it empty to have one generated");
        }
        let url = &self.clickvisual.config.root_url;
        if !url.is_empty() && !url.starts_with("http://") && !url.starts_with("https://") {
            p.add(
                "clickvisual.config.rootURL",
                format!("must start with http:// or https://, got {url:?}"),
            );
        }
        if self.fluentbit.cluster_name.is_empty() {
            p.add(
                "fluentbit.clusterName",
                "must not be empty: it is written into every log record as _cluster_",
            );
        }
    }
}

fn external_host(p: &mut Problems, dependency: &str, host: &str) {
    let key = format!("{dependency}.external.host");
    if host.trim().is_empty() {
        p.add(key, format!("required when {dependency}.enabled is false"))
            .blame(format!("{dependency}.enabled"))
            .hint(format!(
                "set {dependency}.external.host, or {dependency}.enabled=true to deploy it"
            ));
    } else {
        p.check(key, checks::host(host));
    }
}

/// `host:port` of a Kafka broker.
fn host_port(s: &str) -> Result<(), String> {
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("expected host:port, got {s:?}"));
    };
    checks::host(host)?;
    let port: i64 = port
        .parse()
        .map_err(|_| format!("port of {s:?} is not a number"))?;
    checks::port(port)
}

/// Names that end up inside DSNs and SQL statements unquoted.
fn sql_identifier(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a plain identifier: use letters, digits and '_' (at most 64), not starting with a digit"
        ))
    }
}

/// Kafka's topic name rule.
fn kafka_topic(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 249
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a valid Kafka topic: letters, digits, '.', '_', '-' (at most 249)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses_need_a_port() {
        assert!(host_port("kafka.example.com:9092").is_ok());
        assert!(
            host_port("kafka.example.com")
                .unwrap_err()
                .contains("host:port")
        );
        assert!(host_port("kafka:99999").is_err());
    }

    #[test]
    fn a_custom_schema_must_fit_its_config_map() {
        let mut v = super::super::common::testing::values();
        let problems = |v: &Values| {
            crate::values::validate_typed(v)
                .iter()
                .map(std::string::ToString::to_string)
                .collect::<Vec<_>>()
        };
        v.clickvisual.schema.sql = "CREATE TABLE IF NOT EXISTS `a` (`id` int);\n".repeat(100);
        assert!(problems(&v).is_empty(), "{:?}", problems(&v));
        v.clickvisual.schema.sql = "-- x\n".repeat(MAX_SCHEMA_BYTES / 5 + 1);
        let found = problems(&v);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("at most 512 KiB"), "{}", found[0]);
    }

    #[test]
    fn an_empty_zookeeper_ensemble_is_one_problem_not_a_crash() {
        let mut v = super::super::common::testing::values();
        v.zookeeper.enabled = true;
        v.zookeeper.replicas = 0;
        let found: Vec<String> = crate::values::validate_typed(&v)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found, vec!["zookeeper.replicas: must be at least 1, got 0"]);
        v.zookeeper.replicas = 2;
        let found = crate::values::validate_typed(&v);
        assert_eq!(found.len(), 1, "{found}");
        assert!(found.to_string().contains("use an odd number"), "{found}");
    }

    #[test]
    fn an_external_service_is_checked_exactly_when_it_stands_in() {
        let mut v = super::super::common::testing::values();
        v.mysql.external.port = 0;
        let port_problems = |v: &Values| {
            crate::values::validate_typed(v)
                .iter()
                .filter(|p| p.path.to_string() == "mysql.external.port")
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        assert!(port_problems(&v).is_empty(), "{:?}", port_problems(&v));
        v.mysql.enabled = false;
        assert_eq!(
            port_problems(&v),
            vec!["mysql.external.port: must be a port number from 1 to 65535, got 0"]
        );
    }

    #[test]
    fn identifiers_and_topics() {
        assert!(sql_identifier("clickvisual").is_ok());
        assert!(sql_identifier("click-visual").is_err());
        assert!(sql_identifier("1db").is_err());
        assert!(kafka_topic("app-stdout-logs").is_ok());
        assert!(kafka_topic("logs/app").is_err());
    }
}
