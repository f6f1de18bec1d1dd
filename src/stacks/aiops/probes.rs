//! The AIOps connectivity probes: one per component in use, internal or external,
//! checking with the credentials the platform itself uses (the Secret keys its pods
//! read, from `Connections`).
//!
//! Images: the service's own where it carries the client (redis-cli, psql);
//! `global.toolsImage` (curl) for HTTP checks. Traefik's `/ping` is on its
//! `traefik` entry point, which its Service does not expose (a LoadBalancer would
//! publish it), so each Traefik pod is probed at its own address.

use super::connections::ALERTMANAGER_PORT;
use super::{
    Ctx, alertmanager, elasticsearch, grafana, kibana, logstash, postgresql, routes, traefik,
};
use crate::model::{FanOut, ProbeSpec};
use crate::stacks::component::selector_labels;
use crate::stacks::kit;
use crate::stacks::probe_scripts as scripts;
use crate::stacks::workload as w;

/// Elasticsearch: cluster health at least yellow, as the configured user.
///
/// Env: `URL` (no trailing slash), `HOST` (of the URL), `ES_USER`, `ES_PASSWORD`.
/// Needs `curl`. The credentials go into a `.netrc` written by the shell's `printf`
/// builtin: on no command line.
pub const ELASTICSEARCH: &str = r#"set -u
command -v curl >/dev/null || { echo "no curl in this image" >&2; exit 2; }
umask 077
dir=$(mktemp -d) || exit 2
trap 'rm -rf "$dir"' EXIT
printf 'machine %s login %s password %s\n' "$HOST" "$ES_USER" "$ES_PASSWORD" > "$dir/netrc"
url="$URL/_cluster/health?wait_for_status=yellow&timeout=30s"
code=$(curl -sS --connect-timeout 5 --max-time 45 --netrc-file "$dir/netrc" -o "$dir/body" -w '%{http_code}' "$url") \
  || { echo "GET $url failed" >&2; exit 1; }
body=$(head -c 2000 "$dir/body")
case "$code:$body" in
  200:*'"status":"green"'*|200:*'"status":"yellow"'*)
    echo "cluster health as $ES_USER: $(printf '%s' "$body" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')"
    exit 0
    ;;
esac
printf '%s\n' "$body" >&2
echo "cluster health as $ES_USER on $URL: HTTP $code, not yellow or green" >&2
exit 1
"#;

/// PostgreSQL: `SELECT 1` in the platform's database as its account, over TCP.
///
/// Env: `HOST`, `PORT`, `DATABASE`, `PGUSER`, `PGPASSWORD` (psql reads both itself).
pub const POSTGRESQL: &str = r#"set -u
command -v psql >/dev/null || { echo "no psql in this image" >&2; exit 2; }
out=$(psql -h "$HOST" -p "$PORT" -d "$DATABASE" -w -tAc 'SELECT 1' 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && [ "$out" = 1 ]; then
  echo "SELECT 1 as $PGUSER on $HOST:$PORT/$DATABASE: 1"
  exit 0
fi
printf '%s\n' "$out" >&2
echo "SELECT 1 as $PGUSER on $HOST:$PORT/$DATABASE failed (psql exit status $rc)" >&2
exit 1
"#;

/// The probes of every component the values use, in dependency order.
pub fn probes(ctx: &Ctx<'_>) -> Vec<ProbeSpec> {
    let v = ctx.values;
    let conn = &ctx.conn;
    let host = |c: &str| ctx.release.service_host(c);
    let mut out = Vec::new();

    if let Some(es) = &conn.elasticsearch {
        out.push(ProbeSpec {
            target: es.url.clone(),
            check: format!("cluster health yellow or green as {}", es.username),
            external: !es.internal,
            script: ELASTICSEARCH,
            env: vec![
                w::env("URL", &es.url),
                w::env("HOST", &es.host),
                w::env("ES_USER", &es.username),
                es.password_ref.env("ES_PASSWORD"),
            ],
            ..ctx.probe_base(elasticsearch::COMPONENT, tools(ctx))
        });
    }
    if let Some(r) = &conn.redis {
        out.push(kit::redis::probe(ctx, &v.redis, r));
    }
    if let Some(pg) = &conn.postgresql {
        out.push(ProbeSpec {
            target: format!("{}:{}", pg.host, pg.port),
            check: format!("SELECT 1 as {} in {}", pg.username, pg.database),
            external: !pg.internal,
            script: POSTGRESQL,
            env: vec![
                w::env("HOST", &pg.host),
                w::env("PORT", pg.port.to_string()),
                w::env("DATABASE", &pg.database),
                w::env("PGUSER", &pg.username),
                pg.password_ref.env("PGPASSWORD"),
            ],
            ..ctx.probe_base(postgresql::COMPONENT, ctx.own_image(&v.postgresql.image))
        });
    }
    if v.traefik.enabled {
        out.push(ProbeSpec {
            target: format!("each {} pod", ctx.release.object_name(traefik::COMPONENT)),
            check: format!("GET :{}/ping answers OK", traefik::ADMIN_PORT),
            script: scripts::HTTP,
            env: vec![w::env("EXPECT", "OK")],
            fan_out: Some(FanOut {
                selector: selector_labels(ctx.release, traefik::COMPONENT),
                env: "URL",
                template: format!("http://{{ip}}:{}/ping", traefik::ADMIN_PORT),
            }),
            ..ctx.probe_base(traefik::COMPONENT, tools(ctx))
        });
    }
    if v.prometheus.enabled {
        out.push(kit::prometheus::probe(
            ctx,
            routes::prometheus_prefix(v),
            tools(ctx),
        ));
    }
    let mut http = |component: &str, url: String, expect: &str, check: &str| {
        out.push(ProbeSpec {
            target: url.clone(),
            check: check.into(),
            script: scripts::HTTP,
            env: vec![w::env("URL", &url), w::env("EXPECT", expect)],
            ..ctx.probe_base(component, tools(ctx))
        });
    };
    if v.alertmanager.enabled {
        http(
            alertmanager::COMPONENT,
            format!(
                "http://{}:{ALERTMANAGER_PORT}/-/ready",
                host(alertmanager::COMPONENT)
            ),
            "OK",
            "/-/ready answers OK",
        );
    }
    if v.grafana.enabled {
        http(
            grafana::COMPONENT,
            format!(
                "http://{}:{}{}/api/health",
                host(grafana::COMPONENT),
                grafana::PORT,
                routes::grafana_prefix(v)
            ),
            "\"database\"",
            "/api/health reports its database",
        );
    }
    if v.logstash.enabled && conn.elasticsearch.is_some() {
        http(
            logstash::COMPONENT,
            format!(
                "http://{}:{}/",
                host(logstash::COMPONENT),
                logstash::API_PORT
            ),
            "\"version\"",
            "node info on the API port",
        );
    }
    if v.kibana.enabled && conn.elasticsearch.is_some() {
        http(
            kibana::COMPONENT,
            format!(
                "http://{}:{}{}/api/status",
                host(kibana::COMPONENT),
                kibana::PORT,
                routes::kibana_prefix(v)
            ),
            "available",
            "/api/status reports available",
        );
    }
    out
}

fn tools(ctx: &Ctx<'_>) -> (String, String) {
    ctx.own_image(&ctx.values.global.tools_image)
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

    fn env(p: &ProbeSpec, var: &str) -> String {
        p.env
            .iter()
            .find(|e| e.name == var)
            .and_then(|e| e.value.clone())
            .unwrap_or_default()
    }

    #[test]
    fn one_probe_per_component_in_use() {
        let ps = probes_of(&values());
        assert_eq!(
            components(&ps),
            [
                "elasticsearch",
                "redis",
                "postgresql",
                "traefik",
                "prometheus",
                "alertmanager",
                "grafana",
                "logstash",
                "kibana"
            ]
        );
        assert!(ps.iter().all(|p| !p.external));
        let url = |c: &str| env(ps.iter().find(|p| p.component == c).unwrap(), "URL");
        assert_eq!(
            url("prometheus"),
            "http://ops-prometheus.mon.svc:9090/prometheus/-/ready"
        );
        assert_eq!(
            url("grafana"),
            "http://ops-grafana.mon.svc:3000/grafana/api/health"
        );
        assert_eq!(
            url("kibana"),
            "http://ops-kibana.mon.svc:5601/kibana/api/status"
        );
        assert_eq!(url("logstash"), "http://ops-logstash.mon.svc:9600/");
        assert_eq!(
            url("alertmanager"),
            "http://ops-alertmanager.mon.svc:9093/-/ready"
        );
        let traefik = ps.iter().find(|p| p.component == "traefik").unwrap();
        assert_eq!(
            traefik.fan_out.as_ref().unwrap().template,
            "http://{ip}:8080/ping"
        );
        let pg = ps.iter().find(|p| p.component == "postgresql").unwrap();
        assert_eq!(pg.image, "postgres:17");
        assert_eq!(env(pg, "PGUSER"), "aiops");
    }

    #[test]
    fn external_services_are_probed_in_preflight() {
        let mut v = values();
        v.elasticsearch.enabled = false;
        v.elasticsearch.external.url = "https://es.example.com:9243".into();
        v.elasticsearch.external.password = "ExtEsPw".into();
        v.redis.enabled = false;
        v.redis.external.host = "cache.example.com".into();
        v.postgresql.enabled = false;
        v.postgresql.external.host = "db.example.com".into();
        v.postgresql.external.password = "ExtPgPw".into();
        let ps = probes_of(&v);
        assert_eq!(
            components(&external_probes(ps.clone())),
            ["elasticsearch", "redis", "postgresql"]
        );
        let es = &ps[0];
        assert_eq!(env(es, "HOST"), "es.example.com");
        assert_eq!(env(es, "URL"), "https://es.example.com:9243");
    }

    #[test]
    fn jobs_never_carry_a_secret_and_refs_name_rendered_keys() {
        let v = production();
        let ps = probes_of(&v);
        for p in &ps {
            // Everything the probe Job is rendered from: no secret may be in it.
            let text = format!("{p:?}");
            for secret in ALL_SECRETS {
                assert!(!text.contains(secret), "{secret} in {}", p.component);
            }
        }
        let secrets: BTreeSet<(String, String)> = render_all(&v)
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
        let refs = secret_refs(&ps);
        assert_eq!(refs.len(), 3, "{refs:?}");
        for r in &refs {
            assert!(secrets.contains(r), "{r:?} not rendered");
        }
    }

    #[test]
    fn scripts_keep_credentials_off_the_command_line() {
        for script in [ELASTICSEARCH, POSTGRESQL] {
            assert!(!script.contains(" -u "), "{script}");
            assert!(!script.contains("--password"), "{script}");
        }
        assert!(ELASTICSEARCH.contains("--netrc-file"));
    }
}
