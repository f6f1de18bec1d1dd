//! What AIOps's components share beyond the kit's context (`kit::Ctx`): the tools
//! image, the log level (development mode forces debug), JVM heaps, YAML files.

use k8s_openapi::api::core::v1::Container;

use super::Ctx;
use super::values::{LogLevel, Resources};
use crate::stacks::workload as w;

/// Name of every data service's volume claim template.
pub(super) use crate::stacks::kit::DATA_VOLUME;

impl Ctx<'_> {
    /// A container of the tools image (sh, nc, curl) with small fixed resources.
    pub(super) fn tools_container(&self, name: &str) -> Container {
        let image = &self.values.global.tools_image;
        w::container(
            name,
            self.image(image),
            image.pull_policy.as_str(),
            w::helper_resources(),
        )
    }

    /// `global.logLevel`, or debug in development mode.
    pub(super) fn log_level(&self) -> LogLevel {
        if self.values.global.development {
            LogLevel::Debug
        } else {
            self.values.global.log_level
        }
    }
}

/// JVM heap for a memory limit: half of it, the rest for off-heap memory and the
/// page cache (Elasticsearch's own advice).
pub(super) fn jvm_heap_mib(r: &Resources) -> u64 {
    ((r.limits.memory.value() / 1_048_576.0 / 2.0) as u64).max(256)
}

/// A YAML document of a JSON value (the plan's serializer: stable key order).
pub(super) fn yaml(v: &serde_json::Value) -> String {
    crate::model::to_yaml(v).expect("JSON values serialize to YAML")
}

#[cfg(test)]
pub(super) mod testing {
    //! Values and context for the components' tests.

    pub use crate::stacks::kit::testing::*;

    use super::super::values::Values;
    use super::super::{DEFAULTS_YAML, render};
    use crate::model::{Capabilities, Release, Rendered};

    /// Fixed secrets, distinct enough to search rendered output for.
    pub const ELASTIC_PW: &str = "ElasticPw7Hq2Zx9";
    pub const KIBANA_PW: &str = "KibanaSysPw4Rt8Mn";
    pub const KIBANA_KEY: &str = "KibanaEncKey0123456789abcdefghijk";
    pub const REDIS_PW: &str = "RedisPw3Hc8Vn1";
    pub const PG_SUPER_PW: &str = "PgSuperPw6Ld2Qs";
    pub const PG_PW: &str = "PgAppPw5Kw9Bt";
    pub const GRAFANA_PW: &str = "GrafanaPw2Xy7Fe";
    pub const SMTP_PW: &str = "SmtpPw8Jn3Vc";
    pub const SLACK_URL: &str = "https://hooks.slack.example/T0/B0/SlackSecret9";
    pub const ALL_SECRETS: [&str; 9] = [
        ELASTIC_PW,
        KIBANA_PW,
        KIBANA_KEY,
        REDIS_PW,
        PG_SUPER_PW,
        PG_PW,
        GRAFANA_PW,
        SMTP_PW,
        SLACK_URL,
    ];

    /// The defaults with fixed secrets and images for the in-house services.
    pub fn values() -> Values {
        let mut v: Values = serde_saphyr::from_str(DEFAULTS_YAML).expect("defaults parse");
        v.elasticsearch.auth.password = ELASTIC_PW.into();
        v.kibana.system_password = KIBANA_PW.into();
        v.kibana.encryption_key = KIBANA_KEY.into();
        v.redis.auth.password = REDIS_PW.into();
        v.postgresql.auth.postgres_password = PG_SUPER_PW.into();
        v.postgresql.auth.password = PG_PW.into();
        v.grafana.admin_password = GRAFANA_PW.into();
        v.ai_engine.image.repository = "example.com/aiops/ai-engine".into();
        v.api_gateway.image.repository = "example.com/aiops/api-gateway".into();
        v.self_healing.image.repository = "example.com/aiops/self-healing".into();
        v
    }

    /// Everything on: 3-node Elasticsearch, Redis cluster, replicas, receivers with
    /// credentials, NetworkPolicies, Pod Security labels, TLS.
    pub fn production() -> Values {
        let mut v = values();
        v.global.development = false;
        v.global.pod_disruption_budgets = true;
        v.global.anti_affinity = super::super::values::AntiAffinity::Soft;
        v.elasticsearch.replicas = 3;
        v.redis.cluster.enabled = true;
        v.traefik.replicas = 2;
        v.alertmanager.replicas = 3;
        v.kibana.replicas = 2;
        v.logstash.replicas = 2;
        v.ai_engine.replicas = 2;
        v.api_gateway.replicas = 3;
        v.ingress.tls.enabled = true;
        v.ingress.tls.secret_name = "aiops-tls".into();
        v.ingress.host = "aiops.example.com".into();
        v.network_policy.enabled = true;
        v.network_policy.default_deny = true;
        v.pod_security_policy.enabled = true;
        let r = &mut v.alertmanager.receivers;
        r.email.enabled = true;
        r.email.to = "ops@example.com".into();
        r.email.from = "aiops@example.com".into();
        r.email.smarthost = "smtp.example.com:587".into();
        r.email.username = "aiops".into();
        r.email.password = SMTP_PW.into();
        r.slack.enabled = true;
        r.slack.api_url = SLACK_URL.into();
        v
    }

    pub fn release() -> Release {
        Release {
            name: "ops".into(),
            namespace: "mon".into(),
            stack: "aiops",
            revision: 1,
        }
    }

    pub fn render_all(v: &Values) -> Vec<Rendered> {
        render(v, &release(), Capabilities::latest())
    }
}

#[cfg(test)]
mod render_tests {
    //! Properties of the whole render, across components.

    use super::testing::*;

    #[test]
    fn passwords_appear_only_in_secrets() {
        for v in [values(), production()] {
            for m in render_all(&v).iter().flat_map(|r| &r.manifests) {
                if m.kind == "Secret" {
                    continue;
                }
                let text = serde_json::to_string(&m.body).unwrap();
                for secret in ALL_SECRETS {
                    assert!(!text.contains(secret), "{secret} in {}", m.id());
                }
            }
        }
    }

    #[test]
    fn credentials_reach_pods_only_through_secret_refs() {
        for m in render_all(&production()).iter().flat_map(|r| &r.manifests) {
            let spec = &m.body["spec"]["template"]["spec"];
            for c in ["containers", "initContainers"]
                .iter()
                .filter_map(|k| spec[*k].as_array())
                .flatten()
            {
                for e in c["env"].as_array().into_iter().flatten() {
                    let name = e["name"].as_str().unwrap();
                    // A `*_FILE` names a file of a Secret volume the container mounts.
                    if name.ends_with("_FILE") {
                        let path = e["value"].as_str().unwrap_or_default();
                        let from_secret =
                            c["volumeMounts"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|mnt| {
                                    path.starts_with(mnt["mountPath"].as_str().unwrap_or("?"))
                                        && spec["volumes"].as_array().into_iter().flatten().any(
                                            |v| v["name"] == mnt["name"] && v["secret"].is_object(),
                                        )
                                });
                        assert!(from_secret, "{name} of {} is no file of a Secret", m.id());
                        continue;
                    }
                    if name.contains("PASSWORD") || name.contains("PASS") || name.ends_with("_AUTH")
                    {
                        assert!(
                            e["valueFrom"]["secretKeyRef"].is_object(),
                            "{name} of {} is not from a Secret",
                            m.id()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn development_mode_quarters_requests_and_keeps_limits() {
        let all = render_all(&values());
        let es = find(
            component(&all, "elasticsearch"),
            "StatefulSet",
            "ops-elasticsearch",
        );
        let c = container_of(es, "elasticsearch");
        assert_eq!(c["resources"]["requests"]["cpu"], "250m");
        assert_eq!(c["resources"]["requests"]["memory"], "512Mi");
        assert_eq!(c["resources"]["limits"]["memory"], "4Gi");
        let all = render_all(&production());
        let es = find(
            component(&all, "elasticsearch"),
            "StatefulSet",
            "ops-elasticsearch",
        );
        let c = container_of(es, "elasticsearch");
        assert_eq!(c["resources"]["requests"]["cpu"], "1");
        assert_eq!(c["resources"]["requests"]["memory"], "2Gi");
    }

    #[test]
    fn no_field_newer_than_kubernetes_1_20() {
        for m in render_all(&production()).iter().flat_map(|r| &r.manifests) {
            let text = serde_json::to_string(&m.body).unwrap();
            for field in [
                "ipFamilyPolicy",
                "\"grpc\"",
                "\"endPort\"",
                "ttlSecondsAfterFinished",
                "podFailurePolicy",
                "unhealthyPodEvictionPolicy",
                "persistentVolumeClaimRetentionPolicy",
            ] {
                assert!(!text.contains(field), "{field} in {}", m.id());
            }
        }
    }
}
