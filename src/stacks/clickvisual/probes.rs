//! ClickVisual's connectivity probes: one per component in use, internal or external,
//! each checking with the credentials ClickVisual itself uses (the same Secret keys
//! its config and pods read, from `Connections`).
//!
//! Images: the service's own where it carries a client (mysql, redis, kafka,
//! zookeeper); `curlimages/curl` for HTTP checks (ClickHouse, ClickVisual, Fluent
//! Bit, Prometheus) — ClickHouse's image has no curl, and `clickhouse-client` takes
//! its password only as an argument or in a config file. Every image gets the
//! `global.imageRegistry` prefix, so a mirror must carry `curlimages/curl` too.

use std::time::Duration;

use super::{Ctx, app, clickhouse, fluentbit, kafka, mysql, zookeeper};
use crate::model::{FanOut, ProbeSpec};
use crate::stacks::component::selector_labels;
use crate::stacks::kit;
use crate::stacks::probe_scripts as scripts;
use crate::stacks::workload as w;

/// Image of the HTTP checks.
pub const CURL_REPOSITORY: &str = "curlimages/curl";
pub const CURL_TAG: &str = "8.11.1";
/// The JVM of the Kafka tools takes seconds to start, and a first pull of the image
/// is large.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(180);
/// Fluent Bit's health endpoint (`Health_Check On`), as its readiness probe uses it.
const FLUENTBIT_HEALTH: &str = "/api/v1/health";

/// The probes of every component the values use, in dependency order.
pub fn probes(ctx: &Ctx<'_>) -> Vec<ProbeSpec> {
    let v = ctx.values;
    let conn = &ctx.conn;
    let mut out = Vec::new();

    let m = &conn.mysql;
    out.push(ProbeSpec {
        target: format!("{}:{}", m.host, m.port),
        check: format!("SELECT 1 as {} in {}", m.username, m.database),
        external: !m.internal,
        script: scripts::MYSQL,
        env: vec![
            w::env("HOST", &m.host),
            w::env("PORT", m.port.to_string()),
            w::env("DATABASE", &m.database),
            w::env("MYSQL_USER", &m.username),
            m.password_ref.env("MYSQL_PASSWORD"),
        ],
        ..ctx.probe_base(mysql::COMPONENT, ctx.own_image(&v.mysql.image))
    });

    if let Some(r) = &conn.redis {
        out.push(kit::redis::probe(ctx, &v.redis, r));
    }

    if let Some(c) = &conn.clickhouse {
        out.push(ProbeSpec {
            target: format!("{} (http {}, native {})", c.host, c.http_port, c.port),
            check: format!(
                "/ping; SELECT 1 as {} in {}; native port",
                c.username, c.database
            ),
            external: !c.internal,
            script: scripts::CLICKHOUSE,
            env: vec![
                w::env("HOST", &c.host),
                w::env("HTTP_PORT", c.http_port.to_string()),
                w::env("NATIVE_PORT", c.port.to_string()),
                w::env("DATABASE", &c.database),
                w::env("CLICKHOUSE_USER", &c.username),
                c.password_ref.env("CLICKHOUSE_PASSWORD"),
            ],
            ..ctx.probe_base(clickhouse::COMPONENT, curl_image(ctx))
        });
    }

    if zookeeper::used(ctx) {
        let host = ctx.release.service_host(zookeeper::COMPONENT);
        out.push(ProbeSpec {
            target: format!("{host}:{}", zookeeper::CLIENT_PORT),
            check: "srvr reports a Mode".into(),
            script: scripts::ZOOKEEPER,
            env: vec![
                w::env("HOST", &host),
                w::env("PORT", zookeeper::CLIENT_PORT.to_string()),
            ],
            ..ctx.probe_base(zookeeper::COMPONENT, ctx.own_image(&v.zookeeper.image))
        });
    }

    // Fluent Bit runs only with a Kafka to write to; its topic is checked only then.
    let fluentbit_on = v.fluentbit.enabled && conn.kafka.is_some();
    if let Some(k) = &conn.kafka {
        let topic = if fluentbit_on {
            v.fluentbit.topic.clone()
        } else {
            String::new()
        };
        let check = if topic.is_empty() {
            "broker API versions".to_string()
        } else {
            format!("broker API versions; metadata of topic {topic}")
        };
        out.push(ProbeSpec {
            target: k.brokers_csv(),
            check,
            external: !k.internal,
            script: scripts::KAFKA,
            env: vec![
                w::env("BOOTSTRAP", k.brokers_csv()),
                w::env("TOPIC", topic),
                // The tools' JVM, sized for the probe's memory limit; their log
                // directory on the writable /tmp.
                w::env("KAFKA_HEAP_OPTS", "-Xmx256m -Xms64m"),
                w::env("LOG_DIR", "/tmp"),
            ],
            timeout: KAFKA_TIMEOUT,
            resources: w::resources(("100m", "256Mi"), ("1", "768Mi")),
            ..ctx.probe_base(kafka::COMPONENT, ctx.own_image(&v.kafka.image))
        });
    }

    let app_url = format!(
        "http://{}:{}{}",
        ctx.release.service_host(app::COMPONENT),
        v.clickvisual.service.port,
        app::install_route(ctx)
    );
    out.push(ProbeSpec {
        target: app_url.clone(),
        check: "HTTP 2xx with an API answer".into(),
        script: scripts::HTTP,
        // The same unauthenticated API route as its readiness probe, answered by
        // the API router (JSON with a "code"), not by the static UI.
        env: vec![w::env("URL", &app_url), w::env("EXPECT", "\"code\"")],
        ..ctx.probe_base(app::COMPONENT, curl_image(ctx))
    });

    if fluentbit_on {
        out.push(ProbeSpec {
            target: format!("each {} pod", ctx.release.object_name(fluentbit::COMPONENT)),
            check: format!("GET :{}{FLUENTBIT_HEALTH} answers ok", fluentbit::HTTP_PORT),
            script: scripts::HTTP,
            env: vec![w::env("EXPECT", "ok")],
            fan_out: Some(FanOut {
                selector: selector_labels(ctx.release, fluentbit::COMPONENT),
                env: "URL",
                template: format!("http://{{ip}}:{}{FLUENTBIT_HEALTH}", fluentbit::HTTP_PORT),
            }),
            ..ctx.probe_base(fluentbit::COMPONENT, curl_image(ctx))
        });
    }

    if v.prometheus.enabled {
        out.push(kit::prometheus::probe(ctx, "", curl_image(ctx)));
    }
    out
}

fn curl_image(ctx: &Ctx<'_>) -> (String, String) {
    (
        w::image(
            &ctx.values.global.image_registry,
            CURL_REPOSITORY,
            CURL_TAG,
            "",
        ),
        "IfNotPresent".to_string(),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::common::testing::*;
    use super::super::values::Values;
    use super::*;
    use crate::model::{external_probes, secret_refs};

    fn probes_of(v: &Values) -> Vec<ProbeSpec> {
        let release = release();
        let ctx = Ctx::for_jobs(&release, v);
        probes(&ctx)
    }

    fn components(ps: &[ProbeSpec]) -> Vec<&str> {
        ps.iter().map(|p| p.component.as_str()).collect()
    }

    /// Defaults with the external side of every dependency filled in and switched on.
    fn all_external() -> Values {
        let mut v = values();
        v.mysql.enabled = false;
        v.mysql.external.host = "db.example.com".into();
        v.mysql.external.password = "ExtMysqlPw1".into();
        v.redis.enabled = false;
        v.redis.external.host = "cache.example.com".into();
        v.redis.external.password = "ExtRedisPw2".into();
        v.clickhouse.enabled = false;
        v.clickhouse.external.host = "ch.example.com".into();
        v.clickhouse.external.password = "ExtChPw3".into();
        v.kafka.enabled = false;
        v.kafka.external.brokers = vec!["k1.example.com:9092".into(), "k2.example.com:9092".into()];
        v
    }

    #[test]
    fn one_probe_per_component_in_use() {
        let mut v = values();
        v.redis.enabled = true;
        assert_eq!(
            components(&probes_of(&v)),
            [
                "mysql",
                "redis",
                "clickhouse",
                "zookeeper",
                "kafka",
                "clickvisual",
                "fluentbit"
            ]
        );
        // The minimal profile's shape: no Redis, KRaft (no ZooKeeper).
        let mut v = values();
        v.redis.enabled = false;
        v.zookeeper.enabled = false;
        v.prometheus.enabled = true;
        assert_eq!(
            components(&probes_of(&v)),
            [
                "mysql",
                "clickhouse",
                "kafka",
                "clickvisual",
                "fluentbit",
                "prometheus"
            ]
        );
        // External dependencies are probed too, and marked for preflight.
        let ps = probes_of(&all_external());
        assert_eq!(
            components(&ps),
            [
                "mysql",
                "redis",
                "clickhouse",
                "kafka",
                "clickvisual",
                "fluentbit"
            ]
        );
        assert_eq!(
            components(&external_probes(ps)),
            ["mysql", "redis", "clickhouse", "kafka"]
        );
        assert!(probes_of(&values()).iter().all(|p| !p.external));
    }

    #[test]
    fn probes_are_timed_and_never_carry_a_secret() {
        for v in [values(), all_external()] {
            let ps = probes_of(&v);
            for p in &ps {
                assert!((60..=600).contains(&p.timeout.as_secs()), "{:?}", p.timeout);
                // Everything the probe Job is rendered from (the runner adds only
                // names, labels and limits): no secret may be in it.
                let text = format!("{p:?}");
                for secret in [
                    MYSQL_ROOT,
                    MYSQL_PW,
                    REDIS_PW,
                    CH_PW,
                    "ExtMysqlPw1",
                    "ExtRedisPw2",
                    "ExtChPw3",
                ] {
                    assert!(!text.contains(secret), "{secret} in {}", p.component);
                }
            }
        }
    }

    #[test]
    fn secret_refs_name_rendered_secret_keys() {
        let mut bundled = values();
        bundled.redis.enabled = true;
        for v in [bundled, all_external()] {
            let rendered = render_all(&v);
            let secrets: BTreeSet<(String, String)> = rendered
                .iter()
                .flat_map(|r| &r.manifests)
                .filter(|m| m.kind == "Secret")
                .flat_map(|m| {
                    m.body["data"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, _)| (m.name.clone(), k.clone()))
                        .collect::<Vec<_>>()
                })
                .collect();
            let ps = probes_of(&v);
            let refs = secret_refs(&ps);
            assert_eq!(
                refs,
                [
                    (
                        "cv-clickhouse-credentials".into(),
                        "clickhouse-password".into()
                    ),
                    ("cv-mysql-credentials".into(), "mysql-password".into()),
                    ("cv-redis-credentials".into(), "redis-password".into()),
                ]
            );
            for r in &refs {
                assert!(secrets.contains(r), "{r:?} not rendered");
            }
            // Each credential goes to the variable its client reads.
            let env_ref = |component: &str, var: &str| {
                let p = ps.iter().find(|p| p.component == component).unwrap();
                let e = p.env.iter().find(|e| e.name == var).unwrap();
                let r = e
                    .value_from
                    .as_ref()
                    .unwrap()
                    .secret_key_ref
                    .as_ref()
                    .unwrap();
                (r.name.clone(), r.key.clone())
            };
            assert_eq!(env_ref("mysql", "MYSQL_PASSWORD").1, "mysql-password");
            assert_eq!(env_ref("redis", "REDISCLI_AUTH").1, "redis-password");
            assert_eq!(
                env_ref("clickhouse", "CLICKHOUSE_PASSWORD").1,
                "clickhouse-password"
            );
        }
    }

    #[test]
    fn targets_follow_internal_or_external() {
        let ps = probes_of(&values());
        let env = |p: &ProbeSpec, var: &str| {
            p.env
                .iter()
                .find(|e| e.name == var)
                .and_then(|e| e.value.clone())
                .unwrap_or_default()
        };
        assert_eq!(env(&ps[0], "HOST"), "cv-mysql.logs.svc");
        assert_eq!(env(&ps[0], "MYSQL_USER"), "clickvisual");
        assert_eq!(ps[0].image, "mysql:8.4");
        let kafka = ps.iter().find(|p| p.component == "kafka").unwrap();
        assert_eq!(
            env(kafka, "BOOTSTRAP"),
            "cv-kafka-0.cv-kafka-headless.logs.svc:9092"
        );
        assert_eq!(env(kafka, "TOPIC"), "app-stdout-logs");
        assert_eq!(kafka.timeout, KAFKA_TIMEOUT);

        let ps = probes_of(&all_external());
        assert_eq!(env(&ps[0], "HOST"), "db.example.com");
        let ch = ps.iter().find(|p| p.component == "clickhouse").unwrap();
        assert_eq!(env(ch, "CLICKHOUSE_USER"), "default");
        assert_eq!(ch.image, "curlimages/curl:8.11.1");
        let kafka = ps.iter().find(|p| p.component == "kafka").unwrap();
        assert_eq!(
            env(kafka, "BOOTSTRAP"),
            "k1.example.com:9092,k2.example.com:9092"
        );
    }

    #[test]
    fn fluent_bit_is_probed_per_pod_of_its_daemonset() {
        let v = values();
        let ps = probes_of(&v);
        let fb = ps.iter().find(|p| p.component == "fluentbit").unwrap();
        let fan = fb.fan_out.as_ref().unwrap();
        let all = render_all(&v);
        let ds = find(component(&all, "fluentbit"), "DaemonSet", "cv-fluentbit");
        let selector: std::collections::BTreeMap<String, String> =
            serde_json::from_value(ds.body["spec"]["selector"]["matchLabels"].clone()).unwrap();
        assert_eq!(fan.selector, selector);
        assert_eq!(fan.template, "http://{ip}:2020/api/v1/health");
        let readiness = &container_of(ds, "fluentbit")["readinessProbe"]["httpGet"]["path"];
        assert_eq!(readiness, FLUENTBIT_HEALTH);

        // No Kafka, no Fluent Bit, no probe of it.
        let mut v = values();
        v.kafka.enabled = false;
        assert!(probes_of(&v).iter().all(|p| p.component != "fluentbit"));
    }

    #[test]
    fn images_go_through_the_mirror() {
        let mut v = values();
        v.global.image_registry = "mirror.local".into();
        v.global.image_pull_secrets = vec!["pull".into()];
        for p in probes_of(&v) {
            assert!(p.image.starts_with("mirror.local/"), "{}", p.image);
            assert_eq!(p.image_pull_secrets, ["pull"]);
        }
    }
}
