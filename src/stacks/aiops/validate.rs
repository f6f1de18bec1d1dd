//! Checks that types cannot express: required images of the in-house services,
//! dependencies, names, passwords the setup scripts embed, durations and the Pod
//! Security level. Images, ports, replica counts and StorageClasses carry their
//! own checks in the schema (`crate::values::fields`) and are not listed here.

use super::Ctx;
use super::inhouse::{self, Kind};
use super::namespace::{level_str, required_level};
use super::values::{PodSecurityLevel, Values};
use crate::model::{Capabilities, Release};
use crate::stacks::kit::{check_service_account, redis};
use crate::values::{Problems, Validate, checks};

impl Validate for Values {
    fn validate(&self, p: &mut Problems) {
        crate::stacks::kit::backup::check(self, p);
        self.check_counts(p);
        self.check_images(p);
        self.check_dependencies(p);
        self.check_names(p);
        self.check_secrets(p);
        self.check_monitoring(p);
        self.check_security(p);
        self.check_inhouse_env(p);
        self.check_inhouse_security(p);
        redis::check(&self.redis, p);
    }
}

impl Values {
    /// Each count and port is checked by its type (see `crate::values::fields`);
    /// what is left is the shape of a Redis Cluster.
    fn check_counts(&self, p: &mut Problems) {
        if self.redis.enabled && self.redis.cluster.enabled && self.redis.cluster.nodes < 6 {
            p.add(
                "redis.cluster.nodes",
                format!(
                    "a Redis Cluster with one replica per master needs at least 6 nodes (3 masters), got {}",
                    self.redis.cluster.nodes
                ),
            )
            .hint("set redis.cluster.nodes=6, or redis.cluster.enabled=false");
        }
    }

    /// Image references are checked by their type; an in-house service has no
    /// image to fall back on, so one is required as soon as it is enabled.
    fn check_images(&self, p: &mut Problems) {
        for kind in Kind::ALL {
            let v = kind.values(self);
            if v.enabled && v.image.repository.trim().is_empty() {
                p.add(
                    format!("{}.image.repository", kind.key()),
                    format!(
                        "required when {}.enabled is true: {} is built in-house, so its image has no default",
                        kind.key(),
                        kind.title()
                    ),
                )
                .blame(format!("{}.enabled", kind.key()))
                .hint(format!(
                    "set {key}.image.repository (and {key}.image.tag) to your image, or {key}.enabled=false",
                    key = kind.key()
                ));
            }
        }
    }

    fn check_dependencies(&self, p: &mut Problems) {
        let es = &self.elasticsearch;
        if !es.enabled {
            let users: Vec<&str> = [
                (self.kibana.enabled, "kibana"),
                (self.logstash.enabled, "logstash"),
            ]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| name)
            .collect();
            if es.external.url.is_empty() {
                if !users.is_empty() {
                    p.add(
                        "elasticsearch.external.url",
                        format!(
                            "required when elasticsearch.enabled is false: {} need Elasticsearch",
                            users.join(" and ")
                        ),
                    )
                    .blame("elasticsearch.enabled")
                    .hint("set elasticsearch.external.url (http(s)://host:9200), or elasticsearch.enabled=true");
                }
            } else {
                if !(es.external.url.starts_with("http://")
                    || es.external.url.starts_with("https://"))
                {
                    p.add(
                        "elasticsearch.external.url",
                        format!(
                            "must start with http:// or https://, got {:?}",
                            es.external.url
                        ),
                    );
                }
                for (key, value) in [
                    ("username", &es.external.username),
                    ("password", &es.external.password),
                ] {
                    if value.is_empty() {
                        p.add(
                            format!("elasticsearch.external.{key}"),
                            "required with elasticsearch.external.url (security is on)",
                        );
                    }
                }
            }
        }
        let snapshots = &es.snapshots;
        if snapshots.enabled {
            if !es.enabled {
                p.add(
                    "elasticsearch.snapshots.enabled",
                    "needs the bundled Elasticsearch (elasticsearch.enabled): an external one keeps its own snapshot repositories",
                );
            }
            match snapshots.access_mode.as_str() {
                "ReadWriteOnce" if es.replicas > 1 => {
                    p.add(
                        "elasticsearch.snapshots.accessMode",
                        format!(
                            "ReadWriteOnce cannot serve {} nodes: each writes its shards to the repository, which every node must mount",
                            es.replicas
                        ),
                    )
                    .blame("elasticsearch.replicas")
                    .hint("set elasticsearch.snapshots.accessMode=ReadWriteMany with a storage class that offers it (elasticsearch.snapshots.persistence.storageClass), or elasticsearch.snapshots.enabled=false");
                }
                "ReadWriteOnce" | "ReadWriteMany" => {}
                other => {
                    p.add(
                        "elasticsearch.snapshots.accessMode",
                        format!("must be ReadWriteOnce or ReadWriteMany, got {other:?}"),
                    );
                }
            }
        }
        if !self.redis.enabled && !self.redis.external.host.is_empty() {
            p.check(
                "redis.external.host",
                checks::host(&self.redis.external.host),
            );
        }
        let pg = &self.postgresql;
        if !pg.enabled && !pg.external.host.is_empty() {
            p.check("postgresql.external.host", checks::host(&pg.external.host));
            for (key, value) in [
                ("username", &pg.external.username),
                ("password", &pg.external.password),
                ("database", &pg.external.database),
            ] {
                if value.is_empty() {
                    p.add(
                        format!("postgresql.external.{key}"),
                        "required with postgresql.external.host",
                    );
                }
            }
        }
    }

    fn check_names(&self, p: &mut Problems) {
        let (t, ksm) = (&self.traefik, &self.kube_state_metrics);
        check_service_account(p, "traefik", t.enabled, &t.rbac, &t.service_account);
        check_service_account(
            p,
            "kubeStateMetrics",
            ksm.enabled && self.prometheus.enabled,
            &ksm.rbac,
            &ksm.service_account,
        );
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
        if !self.elasticsearch.transport_tls_secret.is_empty() {
            p.check(
                "elasticsearch.transportTlsSecret",
                checks::dns1123_subdomain(&self.elasticsearch.transport_tls_secret),
            );
        }
        if self.postgresql.enabled {
            for (key, value) in [
                ("postgresql.auth.username", &self.postgresql.auth.username),
                ("postgresql.auth.database", &self.postgresql.auth.database),
            ] {
                p.check(key, sql_identifier(value));
            }
            if self.postgresql.auth.username == "postgres" {
                p.add(
                    "postgresql.auth.username",
                    "must not be `postgres`: that is the superuser; the platform gets its own account",
                );
            }
        }
        p.check(
            "logstash.indexPrefix",
            index_prefix(&self.logstash.index_prefix),
        );
        let ing = &self.ingress;
        if ing.enabled {
            p.check("ingress.host", checks::ingress_host(&ing.host));
            if ing.host.is_empty() || ing.host.starts_with('*') {
                p.add(
                    "ingress.host",
                    "must name one host: the apps are routed by path below it",
                );
            }
            if !ing.class_name.is_empty() {
                p.check(
                    "ingress.className",
                    checks::dns1123_subdomain(&ing.class_name),
                );
            }
            if ing.tls.enabled
                && let Some(problem) = p.check(
                    "ingress.tls.secretName",
                    checks::dns1123_subdomain(&ing.tls.secret_name),
                )
            {
                problem.hint("name the kubernetes.io/tls Secret holding the certificate");
            }
        }
    }

    /// Passwords that setup scripts put into a `.netrc`, a JSON body, a Redis
    /// config line or an SQL literal (generated ones always pass).
    fn check_secrets(&self, p: &mut Problems) {
        for (key, value) in [
            (
                "elasticsearch.auth.password",
                &self.elasticsearch.auth.password,
            ),
            (
                "elasticsearch.external.password",
                &self.elasticsearch.external.password,
            ),
            ("kibana.systemPassword", &self.kibana.system_password),
            ("redis.auth.password", &self.redis.auth.password),
            ("postgresql.auth.password", &self.postgresql.auth.password),
            (
                "postgresql.auth.postgresPassword",
                &self.postgresql.auth.postgres_password,
            ),
        ] {
            if let Err(e) = script_safe(value) {
                p.add(key, e).hint("leave it empty to have one generated");
            }
        }
        let key = &self.kibana.encryption_key;
        if !key.is_empty() && key.chars().count() < 32 {
            p.add(
                "kibana.encryptionKey",
                format!(
                    "must be at least 32 characters, got {}",
                    key.chars().count()
                ),
            )
            .hint("leave it empty to have one generated");
        }
        if self.grafana.enabled && self.grafana.admin_user.trim().is_empty() {
            p.add("grafana.adminUser", "must not be empty");
        }
        let r = &self.alertmanager.receivers;
        if self.alertmanager.enabled {
            if r.webhook.enabled {
                p.check(
                    "alertmanager.receivers.webhook.url",
                    http_url(&r.webhook.url),
                );
            }
            if r.slack.enabled {
                p.check(
                    "alertmanager.receivers.slack.apiUrl",
                    http_url(&r.slack.api_url),
                );
            }
            if r.email.enabled {
                for (k, value) in [
                    ("to", &r.email.to),
                    ("from", &r.email.from),
                    ("smarthost", &r.email.smarthost),
                ] {
                    if value.trim().is_empty() {
                        p.add(
                            format!("alertmanager.receivers.email.{k}"),
                            "required when alertmanager.receivers.email.enabled is true",
                        );
                    }
                }
                if !r.email.smarthost.is_empty() && !r.email.smarthost.contains(':') {
                    p.add(
                        "alertmanager.receivers.email.smarthost",
                        format!("expected host:port, got {:?}", r.email.smarthost),
                    );
                }
            }
        }
    }

    fn check_monitoring(&self, p: &mut Problems) {
        p.check("prometheus.retention", duration(&self.prometheus.retention));
        p.check(
            "prometheus.scrapeInterval",
            duration(&self.prometheus.scrape_interval),
        );
        let a = &self.prometheus.alert_rules;
        p.check("prometheus.alertRules.for", duration(&a.for_));
        for (key, value) in [
            ("cpuPercent", a.cpu_percent),
            ("memoryPercent", a.memory_percent),
            ("diskPercent", a.disk_percent),
        ] {
            if !(1..=100).contains(&value) {
                p.add(
                    format!("prometheus.alertRules.{key}"),
                    format!("must be a percentage from 1 to 100, got {value}"),
                );
            }
        }
        if !(a.error_rate_percent > 0.0 && a.error_rate_percent <= 100.0) {
            p.add(
                "prometheus.alertRules.errorRatePercent",
                format!(
                    "must be a percentage above 0 and at most 100, got {}",
                    a.error_rate_percent
                ),
            );
        }
        if a.response_time_seconds <= 0.0 {
            p.add(
                "prometheus.alertRules.responseTimeSeconds",
                format!("must be above 0, got {}", a.response_time_seconds),
            );
        }
        if a.database_connections == 0 {
            p.add(
                "prometheus.alertRules.databaseConnections",
                "must be at least 1",
            );
        }
    }

    fn check_security(&self, p: &mut Problems) {
        let ps = &self.pod_security_policy;
        if ps.enabled && ps.enforce != PodSecurityLevel::Auto {
            let (needed, reasons) = required_level(self);
            if ps.enforce < needed {
                p.add(
                    "podSecurityPolicy.enforce",
                    format!(
                        "the enabled components need the {} level, not {}: {}",
                        level_str(needed),
                        level_str(ps.enforce),
                        reasons.join("; ")
                    ),
                )
                .hint("set podSecurityPolicy.enforce=auto, or turn off the settings named");
            }
        }
        let np = &self.network_policy;
        np.check(
            p,
            crate::stacks::kit::keyed_peers(
                "networkPolicy.ingressController.peers",
                &np.ingress_controller.peers,
            ),
        );
    }

    fn check_inhouse_env(&self, p: &mut Problems) {
        let release = Release {
            name: "r".into(),
            namespace: "n".into(),
            stack: super::NAME,
            revision: 1,
        };
        let ctx = Ctx::new(&release, self, Capabilities::latest());
        for kind in Kind::ALL {
            let v = kind.values(self);
            if !v.enabled {
                continue;
            }
            let reserved = inhouse::reserved_env(&ctx, kind);
            for name in v.env.keys() {
                let path = format!("{}.env.{name}", kind.key());
                if let Err(e) = env_name(name) {
                    p.add(path, e);
                } else if reserved.contains(name) {
                    p.add(
                        path,
                        format!(
                            "{name} is set by the stack (it wires the service to the platform)"
                        ),
                    );
                } else if looks_secret(name) {
                    p.add(
                        path,
                        "looks like a credential: plain env values are visible in the pod spec",
                    )
                    .hint("keep credentials in a Secret; the platform's own reach the service from Secrets already");
                }
            }
        }
    }

    /// The in-house containers' user and writable paths: mount paths the kubelet
    /// would refuse, or a uid the restricted level forbids, named before anything
    /// is applied.
    fn check_inhouse_security(&self, p: &mut Problems) {
        for kind in Kind::ALL {
            let v = kind.values(self);
            let sc = &v.security_context;
            if !v.enabled || !sc.enabled {
                continue;
            }
            let key = format!("{}.securityContext", kind.key());
            if sc.run_as_user == 0 {
                p.add(
                    format!("{key}.runAsUser"),
                    "0 is root: the container must run as a non-root uid",
                )
                .hint(format!(
                    "set {key}.enabled=false to run the image's own user, whatever it is"
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for (i, path) in sc.writable_paths.iter().enumerate() {
                let at = format!("{key}.writablePaths[{i}]");
                if !path.starts_with('/') || path == "/" || path.split('/').any(|s| s == "..") {
                    p.add(at, format!("{path:?} is not an absolute path below /"));
                } else if !seen.insert(path.trim_end_matches('/')) {
                    p.add(at, format!("{path:?} is listed twice"));
                }
            }
        }
    }
}

/// Names used unquoted-ish in SQL: letters, digits, '_'.
fn sql_identifier(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a plain identifier: use letters, digits and '_' (at most 63), not starting with a digit"
        ))
    }
}

/// No whitespace, quotes or backslashes; empty (to be generated) passes.
fn script_safe(s: &str) -> Result<(), String> {
    match s
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\' | '`'))
    {
        Some(c) => Err(format!(
            "must not contain whitespace, quotes or backslashes (found {c:?}): setup scripts embed it"
        )),
        None => Ok(()),
    }
}

fn http_url(s: &str) -> Result<(), String> {
    if s.starts_with("http://") || s.starts_with("https://") {
        Ok(())
    } else {
        Err("must be an http:// or https:// URL".into())
    }
}

/// A Prometheus duration: one or more `<number><unit>` (ms, s, m, h, d, w, y).
fn duration(s: &str) -> Result<(), String> {
    let mut rest = s;
    if rest.is_empty() {
        return Err("must be a duration such as 30s, 5m or 15d".into());
    }
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("{s:?} is not a duration such as 30s, 5m or 15d"));
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d", "w", "y"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return Err(format!("{s:?} is not a duration such as 30s, 5m or 15d")),
        }
    }
    Ok(())
}

/// Elasticsearch index names are lowercase without `\/*?"<>| ,#`; and `logs-…`,
/// `metrics-…`, `traces-…` belong to the built-in data streams.
fn index_prefix(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 200
        && !s.starts_with(['-', '_', '+', '.'])
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(format!(
            "{s:?} is not a valid index prefix: lowercase letters, digits, '-', '_', '.', not starting with '-', '_', '+' or '.'"
        ));
    }
    for reserved in ["logs-", "metrics-", "traces-", "synthetics-"] {
        if s.starts_with(reserved) {
            return Err(format!(
                "{s:?} starts with {reserved:?}: Elasticsearch routes such indices to its built-in data streams"
            ));
        }
    }
    Ok(())
}

/// A C identifier, as env var names should be.
fn env_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an environment variable name (letters, digits, '_')"
        ))
    }
}

fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "APIKEY", "API_KEY"]
        .iter()
        .any(|w| upper.contains(w))
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::values;
    use super::*;
    use crate::stacks::ResolvedValues;
    use crate::stacks::Stack;
    use crate::values::{Layer, SetFlag};
    use rand::SeedableRng;

    fn problems(v: &Values) -> Vec<String> {
        crate::values::validate_typed(v)
            .iter()
            .map(std::string::ToString::to_string)
            .collect()
    }

    fn resolve(sets: &[&str]) -> Result<ResolvedValues, Problems> {
        let flags: Vec<SetFlag> = sets.iter().map(|s| SetFlag::set(*s)).collect();
        super::super::STACK.resolve(
            &[Layer::defaults(super::super::DEFAULTS_YAML)],
            &flags,
            &mut rand::rngs::StdRng::seed_from_u64(1),
        )
    }

    #[test]
    fn the_test_values_are_valid() {
        assert!(problems(&values()).is_empty(), "{:?}", problems(&values()));
    }

    #[test]
    fn enabled_inhouse_services_need_an_image() {
        let err = resolve(&[]).unwrap_err().to_string();
        for key in ["aiEngine", "apiGateway", "selfHealing"] {
            assert!(
                err.contains(&format!(
                    "{key}.image.repository: required when {key}.enabled is true"
                )),
                "{err}"
            );
        }
        assert!(err.contains("built in-house"), "{err}");
        // Disabled, or given an image: fine.
        resolve(&[
            "aiEngine.enabled=false",
            "apiGateway.image.repository=example.com/gw",
            "selfHealing.enabled=false",
        ])
        .unwrap();
    }

    #[test]
    fn generated_secrets_fill_every_password() {
        let r = resolve(&[
            "aiEngine.enabled=false",
            "apiGateway.enabled=false",
            "selfHealing.enabled=false",
        ])
        .unwrap();
        for path in [
            "grafana.adminPassword",
            "elasticsearch.auth.password",
            "kibana.systemPassword",
            "kibana.encryptionKey",
            "redis.auth.password",
            "postgresql.auth.postgresPassword",
            "postgresql.auth.password",
        ] {
            assert!(
                r.generated.iter().any(|g| g == path),
                "{path} not generated: {:?}",
                r.generated
            );
        }
        let redacted = super::super::STACK.redact(&r.tree);
        assert_eq!(redacted["grafana"]["adminPassword"], "<redacted>");
        assert_eq!(
            redacted["alertmanager"]["receivers"]["slack"]["apiUrl"],
            "<redacted>"
        );
    }

    #[test]
    fn inhouse_security_names_a_root_uid_and_bad_paths() {
        let mut v = values();
        let sc = &mut v.ai_engine.security_context;
        sc.run_as_user = 0;
        sc.writable_paths = vec![
            "tmp".into(),
            "/".into(),
            "/a/../etc".into(),
            "/x".into(),
            "/x/".into(),
        ];
        let p = problems(&v);
        for want in [
            "aiEngine.securityContext.runAsUser: 0 is root",
            "aiEngine.securityContext.writablePaths[0]: \"tmp\" is not an absolute path",
            "aiEngine.securityContext.writablePaths[1]: \"/\" is not an absolute path",
            "aiEngine.securityContext.writablePaths[2]: \"/a/../etc\" is not an absolute path",
            "aiEngine.securityContext.writablePaths[4]: \"/x/\" is listed twice",
        ] {
            assert!(p.iter().any(|x| x.starts_with(want)), "{want}: {p:#?}");
        }
        assert_eq!(p.len(), 5, "{p:#?}");
        // Off, nothing of it is checked: the image's own user runs.
        v.ai_engine.security_context.enabled = false;
        assert!(problems(&v).is_empty(), "{:#?}", problems(&v));
    }

    #[test]
    fn redis_cluster_needs_six_nodes() {
        let mut v = values();
        v.redis.cluster.enabled = true;
        v.redis.cluster.nodes = 3;
        let p = problems(&v);
        assert!(
            p.iter()
                .any(|x| x.contains("redis.cluster.nodes: a Redis Cluster")),
            "{p:?}"
        );
    }

    #[test]
    fn redis_maxmemory_is_a_quantity_within_the_limit() {
        let mut v = values();
        v.redis.resources.limits.memory = "1Gi".parse().unwrap();
        for ok in ["", "512Mi", "1Gi"] {
            v.redis.maxmemory = ok.into();
            assert!(problems(&v).is_empty(), "{ok}: {:?}", problems(&v));
        }
        for (bad, why) in [
            ("2Gi", "above the container's memory limit (1Gi)"),
            ("512mb", "not a Kubernetes quantity"),
            ("0", "not a positive amount"),
        ] {
            v.redis.maxmemory = bad.into();
            let p = problems(&v);
            assert!(
                p.iter()
                    .any(|x| x.starts_with("redis.maxmemory") && x.contains(why)),
                "{bad}: {p:?}"
            );
        }
    }

    #[test]
    fn redis_maxmemory_policy_is_one_redis_knows() {
        let off = [
            "aiEngine.enabled=false",
            "apiGateway.enabled=false",
            "selfHealing.enabled=false",
        ];
        let with = |policy: &str| {
            let mut sets = off.to_vec();
            sets.push(policy);
            resolve(&sets)
        };
        with("redis.maxmemoryPolicy=volatile-ttl").unwrap();
        let e = with("redis.maxmemoryPolicy=allkeys-ttl")
            .unwrap_err()
            .to_string();
        assert!(e.contains("redis.maxmemoryPolicy"), "{e}");
        assert!(e.contains("allkeys-lru"), "names what is allowed: {e}");
    }

    #[test]
    fn a_snapshot_repository_of_a_cluster_must_be_shared_by_every_node() {
        let mut v = values();
        v.elasticsearch.snapshots.enabled = true;
        assert!(problems(&v).is_empty(), "{:?}", problems(&v));
        v.elasticsearch.replicas = 3;
        let p = problems(&v);
        assert!(
            p.iter().any(|x| x.starts_with(
                "elasticsearch.snapshots.accessMode: ReadWriteOnce cannot serve 3 nodes"
            )),
            "{p:?}"
        );
        v.elasticsearch.snapshots.access_mode = "ReadWriteMany".into();
        assert!(problems(&v).is_empty(), "{:?}", problems(&v));
        v.elasticsearch.snapshots.access_mode = "ReadOnlyMany".into();
        let p = problems(&v);
        assert!(
            p.iter()
                .any(|x| x.contains("must be ReadWriteOnce or ReadWriteMany")),
            "{p:?}"
        );
        v.elasticsearch.snapshots.access_mode = "ReadWriteMany".into();
        v.elasticsearch.enabled = false;
        v.elasticsearch.external.url = "http://es:9200".into();
        v.elasticsearch.external.password = "x".into();
        let p = problems(&v);
        assert!(
            p.iter()
                .any(|x| x.starts_with("elasticsearch.snapshots.enabled: needs the bundled")),
            "{p:?}"
        );
    }

    #[test]
    fn kibana_and_logstash_need_elasticsearch() {
        let mut v = values();
        v.elasticsearch.enabled = false;
        let p = problems(&v);
        assert!(p.iter().any(|x| x.contains("elasticsearch.external.url: required when elasticsearch.enabled is false: kibana and logstash need")), "{p:?}");
        v.elasticsearch.external.url = "es.example.com:9200".into();
        let p = problems(&v);
        assert!(
            p.iter().any(|x| x.contains("must start with http://")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|x| x.contains("elasticsearch.external.password")),
            "{p:?}"
        );
    }

    #[test]
    fn pod_security_level_below_what_the_components_need_is_refused() {
        let mut v = values();
        v.pod_security_policy.enabled = true;
        v.pod_security_policy.enforce = PodSecurityLevel::Baseline;
        let p = problems(&v);
        assert!(p.iter().any(|x| x.contains("podSecurityPolicy.enforce: the enabled components need the privileged level, not baseline")), "{p:?}");
        assert!(
            p.iter()
                .any(|x| x.contains("elasticsearch.sysctlInitContainer")),
            "{p:?}"
        );
        v.elasticsearch.sysctl_init_container = false;
        v.node_exporter.enabled = false;
        assert!(problems(&v).is_empty(), "{:?}", problems(&v));
    }

    #[test]
    fn scripts_embedded_passwords_and_names() {
        let mut v = values();
        v.postgresql.auth.password = "it's".into();
        v.postgresql.auth.username = "postgres".into();
        v.logstash.index_prefix = "logs-app".into();
        v.prometheus.retention = "15 days".into();
        v.network_policy.enabled = false;
        v.network_policy.default_deny = true;
        v.ai_engine.env.insert("REDIS_HOST".into(), "x".into());
        v.ai_engine.env.insert("MY_TOKEN".into(), "x".into());
        let p = problems(&v).join("\n");
        for expected in [
            "postgresql.auth.password: must not contain whitespace, quotes",
            "postgresql.auth.username: must not be `postgres`",
            "logstash.indexPrefix: \"logs-app\" starts with",
            "prometheus.retention: \"15 days\" is not a duration",
            "networkPolicy.defaultDeny: has no effect",
            "aiEngine.env.REDIS_HOST: REDIS_HOST is set by the stack",
            "aiEngine.env.MY_TOKEN: looks like a credential",
        ] {
            assert!(p.contains(expected), "{expected}\n{p}");
        }
    }

    #[test]
    fn durations() {
        assert!(duration("15d").is_ok());
        assert!(duration("1h30m").is_ok());
        assert!(duration("500ms").is_ok());
        assert!(duration("").is_err());
        assert!(duration("5").is_err());
        assert!(duration("m5").is_err());
    }

    #[test]
    fn network_policy_peers_are_pods_or_an_address_range() {
        use super::super::values::PolicyPeer;
        let mut v = values();
        assert!(problems(&v).is_empty(), "{:?}", problems(&v));
        let labels = Some(std::collections::BTreeMap::from([(
            "app".to_string(),
            "x".to_string(),
        )]));
        v.network_policy.dns.peers = vec![
            PolicyPeer {
                pod_selector: labels.clone(),
                namespace_selector: None,
                ip_block: Some("10.0.0.10/32".into()),
            },
            PolicyPeer {
                pod_selector: None,
                namespace_selector: None,
                ip_block: Some("10.0.0.300/32".into()),
            },
            PolicyPeer {
                pod_selector: None,
                namespace_selector: None,
                ip_block: Some("fd00::/129".into()),
            },
        ];
        v.network_policy.ingress_controller.peers = vec![
            PolicyPeer {
                pod_selector: None,
                namespace_selector: None,
                ip_block: None,
            },
            PolicyPeer {
                pod_selector: None,
                namespace_selector: labels,
                ip_block: None,
            },
        ];
        v.network_policy.dns.ports = vec![53, 0];
        let p = problems(&v);
        let has = |path: &str, text: &str| p.iter().any(|x| x.contains(path) && x.contains(text));
        assert!(
            has("networkPolicy.dns.peers[0]", "cannot be combined"),
            "{p:?}"
        );
        assert!(has("networkPolicy.dns.peers[1]", "is no CIDR"), "{p:?}");
        assert!(has("networkPolicy.dns.peers[2]", "is no CIDR"), "{p:?}");
        assert!(
            has(
                "networkPolicy.ingressController.peers[0]",
                "selects nothing"
            ),
            "{p:?}"
        );
        assert!(
            !p.iter().any(|x| x.contains("ingressController.peers[1]")),
            "{p:?}"
        );
        assert!(has("networkPolicy.dns.ports", "0 is no port"), "{p:?}");
        assert_eq!(p.len(), 5, "{p:?}");
    }
}
