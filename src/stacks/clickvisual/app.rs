//! ClickVisual itself: its TOML configuration (a Secret: it holds the MySQL DSN), a
//! Deployment (applied once the schema Job of the revision has finished, see
//! `schema`), its Service and Ingress.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, HTTPHeader, PodSpec, Probe, SecretVolumeSource, ServicePort, Volume,
    VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use serde::Serialize;
use serde_json::json;

use super::Ctx;
use super::values::{ServiceType, Values};
use super::{clickhouse, kafka, mysql, redis, schema};
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "clickvisual";
pub(super) const HTTP_PORT: u16 = 19001;
pub(super) const GOVERNOR_PORT: u16 = 19011;
/// Where the config Secret is mounted. Not `/clickvisual/config`: that directory of
/// the image holds `resource.yaml` and `rbac.conf`, which the config refers to.
const CONFIG_DIR: &str = "/clickvisual/configs";
const CONFIG_KEY: &str = "default.toml";
/// Not the image's user (it has no USER line: root). Every file the image holds is
/// root's and world-readable (`config/` is mode 100644 in git, the binary is what
/// `go build` writes), and the server writes none of them (see the image contract),
/// so any uid runs it; a high one shares no uid with the node's users.
const UID: i64 = 10001;
/// Where Go spools a multipart upload past 32 MiB (gin's form binding, see the
/// contract): the one path the server may write under its read-only root.
const TMP_DIR: &str = "/tmp";

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.clickvisual;
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Apps, &v.image.tag);
    let globals = ctx.pod_globals();

    let config = config_toml(ctx);
    let config_secret = ctx.release.object_name("clickvisual-config");
    let secret = w::secret(
        &b,
        config_secret.clone(),
        BTreeMap::from([(CONFIG_KEY.to_string(), config.clone())]),
    );
    b.push_in(Phase::Storage, secret);

    let pod = PodSpec {
        init_containers: Some(init_containers(ctx)),
        containers: vec![container(ctx)],
        volumes: Some(vec![
            Volume {
                name: "config".into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(config_secret),
                    ..Default::default()
                }),
                ..Default::default()
            },
            w::empty_dir("tmp"),
        ]),
        // A Deployment without volumes of its own: nothing on disk belongs to the uid
        // it ran as before, so existing releases move to this one as they upgrade.
        ..w::pod_spec(
            &b,
            &globals,
            v.replicas,
            w::pod_security(Some(UID), Some(UID)),
        )
    };
    let deployment = Deployment {
        metadata: b.meta(w::workload_name(&b)),
        spec: Some(DeploymentSpec {
            replicas: Some(v.replicas as i32),
            selector: w::label_selector(&b.selector_labels()),
            template: w::pod_template(&b, w::checksum_annotation(&config), pod),
            ..Default::default()
        }),
        ..Default::default()
    };
    b.push(deployment);
    // The UI and API only. The governor serves pprof, `/env/info` (the process
    // environment) and `/jobs` without authentication (gotomicro/ego v1.2.2,
    // `server/egovernor/component.go`), so no Service publishes it — with
    // `service.type` NodePort or LoadBalancer it would leave the cluster. Prometheus
    // finds the pods' `governor` container port directly (`prometheus.rs`).
    b.push(w::client_service(
        &b,
        service_type(v.service.type_),
        vec![ServicePort {
            port: i32::from(v.service.port),
            ..w::service_port("http", i32::from(HTTP_PORT))
        }],
    ));
    push_ingress(ctx, &mut b);
    w::push_pdb(&mut b, ctx.caps, &globals, v.replicas);
    Some(b.finish(depends_on(ctx)))
}

fn depends_on(ctx: &Ctx<'_>) -> Vec<&'static str> {
    let mut deps = vec![mysql::COMPONENT];
    if ctx.values.clickvisual.schema.enabled {
        deps.push(schema::COMPONENT);
    }
    if redis_used(ctx).is_some() {
        deps.push(redis::COMPONENT);
    }
    if ctx.conn.clickhouse.as_ref().is_some_and(|c| c.internal) {
        deps.push(clickhouse::COMPONENT);
    }
    if ctx.conn.kafka.as_ref().is_some_and(|k| k.internal) {
        deps.push(kafka::COMPONENT);
    }
    deps
}

/// A bundled Redis nothing reads: one ClickVisual replica keeps its sessions in
/// memory (`app.isMultiCopy` off; clickvisual v1.0.7
/// `api/internal/invoker/invoker.go` builds the Redis client only in multi-copy
/// mode). A release installed when the defaults had Redis on keeps it until asked.
pub fn unused_redis(v: &Values) -> Option<String> {
    (v.redis.enabled && v.clickvisual.replicas <= 1).then(|| {
        "redis.enabled is true, but ClickVisual with one replica keeps sessions in memory and never reads Redis: \
         set redis.enabled=false to remove it (its volume is kept), or keep it for a later clickvisual.replicas > 1"
            .to_string()
    })
}

/// Redis, when ClickVisual uses it: only in multi-copy mode (more than one replica)
/// does it read `[redis]` and keep sessions there.
pub(super) fn redis_used<'a>(ctx: &'a Ctx<'_>) -> Option<&'a super::connections::Redis> {
    ctx.conn
        .redis
        .as_ref()
        .filter(|_| ctx.values.clickvisual.replicas > 1)
}

fn service_type(t: ServiceType) -> &'static str {
    match t {
        ServiceType::ClusterIP => "ClusterIP",
        ServiceType::NodePort => "NodePort",
        ServiceType::LoadBalancer => "LoadBalancer",
    }
}

// ---------------------------------------------------------------------------------
// Configuration (`config/default.toml` of the image, keys as ClickVisual spells them)

#[derive(Serialize)]
struct Config {
    app: AppSection,
    casbin: Casbin,
    server: Server,
    logger: Logger,
    mysql: MysqlSection,
    #[serde(skip_serializing_if = "Option::is_none")]
    redis: Option<RedisSection>,
    auth: Auth,
    prom2click: Prom2Click,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppSection {
    secret_key: String,
    #[serde(rename = "rootURL")]
    root_url: String,
    #[serde(rename = "baseURL")]
    base_url: &'static str,
    /// More than one replica: sessions and locks go through Redis.
    is_multi_copy: bool,
    /// Relative to the working directory `/clickvisual`: the image's own file.
    permission_file: &'static str,
    serve_from_sub_path: bool,
    encryption_key: String,
}

#[derive(Serialize)]
struct Casbin {
    rule: CasbinRule,
}

#[derive(Serialize)]
struct CasbinRule {
    path: &'static str,
}

#[derive(Serialize)]
struct Server {
    http: Http,
    governor: Listener,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Http {
    host: &'static str,
    port: u16,
    embed_path: &'static str,
    max_age: u32,
}

#[derive(Serialize)]
struct Listener {
    host: &'static str,
    port: u16,
}

#[derive(Serialize)]
struct Logger {
    level: &'static str,
    writer: &'static str,
    name: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MysqlSection {
    debug: bool,
    dsn: String,
    level: &'static str,
    max_idle_conns: u32,
    max_open_conns: u32,
    conn_max_lifetime: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RedisSection {
    debug: bool,
    addr: String,
    write_timeout: &'static str,
    password: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Auth {
    mode: &'static str,
    name: &'static str,
    debug: bool,
    #[serde(rename = "Keypairs")]
    keypairs: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    redis: Option<AuthRedis>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
// The fields are ClickVisual's own configuration keys (`redisSize`, `redisAddr`, …).
#[allow(clippy::struct_field_names)]
struct AuthRedis {
    redis_size: u32,
    redis_network: &'static str,
    redis_addr: String,
    redis_password: String,
}

#[derive(Serialize)]
struct Prom2Click {
    /// Off: it opens one more listener, for alerting through Prometheus remote
    /// read/write, which this stack does not wire.
    enable: bool,
}

/// ClickVisual's `default.toml` for this release.
fn config_toml(ctx: &Ctx<'_>) -> String {
    let v = &ctx.values.clickvisual;
    let multi = v.replicas > 1;
    let redis = redis_used(ctx);
    let config = Config {
        app: AppSection {
            secret_key: v.config.secret_key.clone(),
            root_url: root_url(ctx),
            base_url: "/api/admin/login/",
            is_multi_copy: multi,
            permission_file: "./config/resource.yaml",
            serve_from_sub_path: sub_path(ctx).is_some(),
            encryption_key: v.config.encryption_key.clone(),
        },
        casbin: Casbin {
            rule: CasbinRule {
                path: "./config/rbac.conf",
            },
        },
        server: Server {
            http: Http {
                host: "0.0.0.0",
                port: HTTP_PORT,
                embed_path: "dist",
                max_age: 86400,
            },
            governor: Listener {
                host: "0.0.0.0",
                port: GOVERNOR_PORT,
            },
        },
        // ClickVisual's own logger (`elog.Load("logger")`, clickvisual v1.0.7
        // `api/internal/invoker/invoker.go`): ego's default writer is a file under
        // `./logs` (gotomicro/ego v1.2.2 `core/elog/config.go`), which the
        // read-only root would refuse.
        logger: Logger {
            level: v.config.log_level.as_str(),
            writer: "stderr",
            name: "clickvisual.log",
        },
        mysql: MysqlSection {
            debug: false,
            dsn: super::connections::mysql_dsn(&ctx.conn.mysql),
            level: "panic",
            max_idle_conns: 50,
            max_open_conns: 100,
            conn_max_lifetime: "300s",
        },
        redis: redis.map(|r| RedisSection {
            debug: false,
            addr: r.addr(),
            write_timeout: "3s",
            password: r.password.clone(),
        }),
        auth: Auth {
            // Sessions in memory would be lost whenever a request lands on another
            // replica.
            mode: if redis.is_some() { "redis" } else { "memstore" },
            name: "clickvisual_session",
            debug: false,
            keypairs: v.config.session_key.clone(),
            redis: redis.map(|r| AuthRedis {
                redis_size: 10,
                redis_network: "tcp",
                redis_addr: r.addr(),
                redis_password: r.password.clone(),
            }),
        },
        prom2click: Prom2Click { enable: false },
    };
    toml::to_string(&config).expect("ClickVisual config serializes to TOML")
}

/// The Ingress path prefix when ClickVisual is served below `/`: every route,
/// `/api/…` included, is then below it.
pub(super) fn sub_path<'a>(ctx: &Ctx<'a>) -> Option<&'a str> {
    sub_path_of(ctx.values)
}

fn sub_path_of(v: &Values) -> Option<&str> {
    let ing = &v.ingress;
    let path = ing.path.trim_end_matches('/');
    (ing.enabled && !path.is_empty()).then_some(path)
}

/// Where the notes tell users to open ClickVisual without an Ingress host: through
/// `kubectl port-forward svc/<release>-clickvisual <port>:<port>` on their machine.
pub(super) fn local_url(v: &Values) -> String {
    format!(
        "http://localhost:{}{}",
        v.clickvisual.service.port,
        sub_path_of(v).unwrap_or("")
    )
}

/// The URL users open: as configured, else the Ingress URL, else the port-forward
/// URL the notes give (`local_url`). ClickVisual hands it to browsers: the login
/// redirect is `rootURL + "user/login"` (`router/middlewares/auth.go`), share links
/// and alert links start with it (`service/shorturl/shorturl.go`,
/// `service/alarm/pusher/interface.go`), OAuth callbacks too (`service/user/user.go`;
/// clickvisual/clickvisual v1.0.7, under `api/internal/`). The in-cluster Service
/// name would send browsers to a host they cannot resolve. Its path is where
/// ClickVisual serves its routes (`utils.ParseAppUrlAndSubUrl`), so it carries the
/// sub-path in every case. With a NodePort or LoadBalancer Service, set
/// `clickvisual.config.rootURL` to the address users open.
fn root_url(ctx: &Ctx<'_>) -> String {
    let v = ctx.values;
    if !v.clickvisual.config.root_url.is_empty() {
        return v.clickvisual.config.root_url.clone();
    }
    if v.ingress.enabled && !v.ingress.host.is_empty() {
        let scheme = if v.ingress.tls.enabled {
            "https"
        } else {
            "http"
        };
        return format!(
            "{scheme}://{}{}",
            v.ingress.host,
            sub_path(ctx).unwrap_or("")
        );
    }
    local_url(v)
}

/// The unauthenticated API route readiness and the probe ask: JSON from the API
/// router, not the static UI.
pub(super) fn install_route(ctx: &Ctx<'_>) -> String {
    format!("{}/api/v1/install", sub_path(ctx).unwrap_or(""))
}

// ---------------------------------------------------------------------------------
// Pod

fn config_env() -> Vec<EnvVar> {
    vec![
        // Overrides `--config`: the image's CMD would otherwise read its own copy.
        w::env("EGO_CONFIG_PATH", format!("{CONFIG_DIR}/{CONFIG_KEY}")),
        // ego's own loggers, built before the config is read, take their writer
        // from here (default `file`: gotomicro/ego v1.2.2 `core/eapp/env.go`,
        // `core/elog/elog_api.go`).
        w::env("EGO_LOG_WRITER", "stderr"),
    ]
}

fn config_mount() -> VolumeMount {
    VolumeMount {
        name: "config".into(),
        mount_path: CONFIG_DIR.into(),
        read_only: Some(true),
        ..Default::default()
    }
}

/// Wait for MySQL (and Redis, which the process connects to at start in multi-copy
/// mode): v1.0.7 panics at start when MySQL is unreachable. The schema is not made
/// here, in every replica, but once per revision by the schema Job. Busybox `nc`
/// writes nothing: read-only roots.
fn init_containers(ctx: &Ctx<'_>) -> Vec<Container> {
    let v = &ctx.values.clickvisual;
    let image = ctx.image(&v.image);
    let policy = v.image.pull_policy.as_str();
    let mysql = &ctx.conn.mysql;
    let mut inits = vec![w::read_only_root(w::wait_for_tcp(
        "wait-for-mysql",
        image.clone(),
        policy,
        &mysql.host,
        mysql.port,
    ))];
    if let Some(r) = redis_used(ctx) {
        inits.push(w::read_only_root(w::wait_for_tcp(
            "wait-for-redis",
            image,
            policy,
            &r.host,
            r.port,
        )));
    }
    inits
}

/// The header ego's HTTP server answers by itself, before routing.
const HEALTH_CHECK_HEADER: (&str, &str) = ("X-Health-Check", "1");

/// Liveness on the main port, not the governor: ego's governor listens with
/// `net.Listen("tcp4", …)` whatever its host (gotomicro/ego v1.2.2, the version
/// ClickVisual v1.0.7's `go.mod` pins: `server/egovernor/component.go`), so on an
/// IPv6-only cluster the kubelet never reaches it and restarts the pod forever.
/// The main server listens on `tcp` (dual-stack) and its first middleware,
/// gin-health-check's `healthcheck.Default()` (`server/egin/container.go`), answers
/// every request carrying `X-Health-Check: 1` with 200 `ok` and stops there
/// (RaMin0/gin-health-check a677317, the commit ego pins, `healthcheck.go`): no
/// session, no MySQL, so a database outage makes pods unready, not restart. It is
/// what ego's own `Health()` asks (`server/egin/component.go`).
fn liveness_probe() -> Probe {
    let mut probe = w::http_probe("/", "http", Timing::LIVENESS);
    if let Some(get) = probe.http_get.as_mut() {
        let (name, value) = HEALTH_CHECK_HEADER;
        get.http_headers = Some(vec![HTTPHeader {
            name: name.into(),
            value: value.into(),
        }]);
    }
    probe
}

fn container(ctx: &Ctx<'_>) -> Container {
    let v = &ctx.values.clickvisual;
    Container {
        env: Some(config_env()),
        ports: Some(vec![
            w::container_port("http", i32::from(HTTP_PORT)),
            w::container_port("governor", i32::from(GOVERNOR_PORT)),
        ]),
        // Read-only root: with the loggers on stderr the server writes no file; /tmp
        // takes what Go spools of a large upload (the image contract has the sources).
        volume_mounts: Some(vec![config_mount(), w::mount("tmp", TMP_DIR, false)]),
        // Unauthenticated JSON from the API router (not just the static UI).
        readiness_probe: Some(w::http_probe(
            &install_route(ctx),
            "http",
            Timing::READINESS,
        )),
        liveness_probe: Some(liveness_probe()),
        ..w::read_only_root(ctx.container(COMPONENT, &v.image, &v.resources))
    }
}

// ---------------------------------------------------------------------------------
// Ingress

fn push_ingress(ctx: &Ctx<'_>, b: &mut Builder<'_>) {
    let ing = &ctx.values.ingress;
    if !ing.enabled {
        return;
    }
    let mut meta = b.meta(w::workload_name(b));
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.extend(ing.annotations.clone());
    }
    let service = w::workload_name(b);
    let host = (!ing.host.is_empty()).then(|| ing.host.clone());
    let class = (!ing.class_name.is_empty()).then(|| ing.class_name.clone());
    let tls = ing.tls.enabled.then(|| IngressTLS {
        hosts: host.clone().map(|h| vec![h]),
        secret_name: (!ing.tls.secret_name.is_empty()).then(|| ing.tls.secret_name.clone()),
    });
    if ctx.caps.ingress_v1 {
        b.push(Ingress {
            metadata: meta,
            spec: Some(IngressSpec {
                ingress_class_name: class,
                rules: Some(vec![IngressRule {
                    host,
                    http: Some(HTTPIngressRuleValue {
                        paths: vec![HTTPIngressPath {
                            path: Some(ing.path.clone()),
                            path_type: "Prefix".into(),
                            backend: IngressBackend {
                                service: Some(IngressServiceBackend {
                                    name: service,
                                    port: Some(ServiceBackendPort {
                                        name: Some("http".into()),
                                        ..Default::default()
                                    }),
                                }),
                                ..Default::default()
                            },
                        }],
                    }),
                }]),
                tls: tls.map(|t| vec![t]),
                ..Default::default()
            }),
            ..Default::default()
        });
    } else {
        // networking.k8s.io/v1beta1 (Kubernetes < 1.19): same shape, older backend.
        let mut spec = json!({
            "rules": [{
                "http": {"paths": [{
                    "path": ing.path,
                    "pathType": "Prefix",
                    "backend": {"serviceName": service, "servicePort": "http"},
                }]},
            }],
        });
        if let Some(h) = host {
            spec["rules"][0]["host"] = json!(h);
        }
        if let Some(c) = class {
            spec["ingressClassName"] = json!(c);
        }
        if let Some(t) = tls {
            spec["tls"] = json!([t]);
        }
        let body = json!({"metadata": meta, "spec": spec});
        b.push_value("networking.k8s.io/v1beta1", "Ingress", body);
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;
    use crate::model::Capabilities;

    fn config(v: &super::super::values::Values) -> toml::Table {
        let all = render_all(v);
        let secret = find(
            component(&all, "clickvisual"),
            "Secret",
            "cv-clickvisual-config",
        );
        assert_eq!(secret.phase.as_str(), "storage");
        secret_value(secret, "default.toml")
            .parse::<toml::Table>()
            .expect("valid TOML")
    }

    #[test]
    fn config_has_the_internal_dsn_and_single_copy_defaults() {
        let v = values();
        let c = config(&v);
        let dsn = c["mysql"]["dsn"].as_str().unwrap();
        assert!(
            dsn.starts_with(&format!(
                "clickvisual:{MYSQL_PW}@tcp(cv-mysql.logs.svc:3306)/clickvisual?"
            )),
            "{dsn}"
        );
        assert_eq!(c["app"]["isMultiCopy"].as_bool(), Some(false));
        assert_eq!(
            c["app"]["permissionFile"].as_str(),
            Some("./config/resource.yaml")
        );
        assert_eq!(c["app"]["secretKey"].as_str(), Some(SECRET_KEY));
        assert_eq!(c["app"]["encryptionKey"].as_str(), Some(ENCRYPTION_KEY));
        // What the notes' port-forward line opens (upstream v1.0.7 redirects
        // browsers to `rootURL + "user/login"`: api/internal/router/middlewares/auth.go).
        assert_eq!(c["app"]["rootURL"].as_str(), Some("http://localhost:19001"));
        let notes = super::super::notes(&v, &release()).join("\n");
        assert!(
            notes.contains("then open http://localhost:19001\n"),
            "{notes}"
        );
        assert_eq!(
            c["casbin"]["rule"]["path"].as_str(),
            Some("./config/rbac.conf")
        );
        assert_eq!(c["server"]["http"]["port"].as_integer(), Some(19001));
        assert_eq!(c["server"]["governor"]["port"].as_integer(), Some(19011));
        assert_eq!(c["logger"]["writer"].as_str(), Some("stderr"));
        assert_eq!(c["auth"]["mode"].as_str(), Some("memstore"));
        assert!(c.get("redis").is_none());
        assert!(c["auth"].get("redisAddr").is_none());
        assert_eq!(c["auth"]["Keypairs"].as_str(), Some(SESSION_KEY));
        assert_eq!(c["prom2click"]["enable"].as_bool(), Some(false));
    }

    #[test]
    fn config_uses_the_external_mysql() {
        let mut v = values();
        use_external_mysql(&mut v, "cvuser");
        let dsn = config(&v)["mysql"]["dsn"].as_str().unwrap().to_string();
        assert!(
            dsn.starts_with("cvuser:ExtPw@tcp(db.example.com:3307)/cvdb?"),
            "{dsn}"
        );
    }

    #[test]
    fn redis_is_off_unless_clickvisual_reads_it_and_a_lone_replica_warns_of_an_unused_one() {
        let mut v = values();
        // The defaults run one replica, which keeps sessions in memory.
        assert!(!v.redis.enabled && v.clickvisual.replicas == 1);
        assert_eq!(config(&v)["auth"]["mode"].as_str(), Some("memstore"));
        assert_eq!(super::unused_redis(&v), None);
        // A release installed when the defaults had Redis on: told, not changed.
        v.redis.enabled = true;
        let w = super::unused_redis(&v).expect("a warning");
        assert!(w.contains("set redis.enabled=false"), "{w}");
        v.clickvisual.replicas = 2;
        assert_eq!(super::unused_redis(&v), None);
    }

    #[test]
    fn multi_copy_uses_redis_for_sessions() {
        let mut v = values();
        v.clickvisual.replicas = 3;
        v.redis.enabled = true;
        let c = config(&v);
        assert_eq!(c["app"]["isMultiCopy"].as_bool(), Some(true));
        assert_eq!(c["auth"]["mode"].as_str(), Some("redis"));
        assert_eq!(
            c["auth"]["redisAddr"].as_str(),
            Some("cv-redis.logs.svc:6379")
        );
        assert_eq!(c["auth"]["redisPassword"].as_str(), Some(REDIS_PW));
        assert_eq!(c["redis"]["addr"].as_str(), Some("cv-redis.logs.svc:6379"));
        let all = render_all(&v);
        let r = component(&all, "clickvisual");
        assert_eq!(
            r.depends_on,
            vec![
                "mysql",
                "clickvisual-schema",
                "redis",
                "clickhouse",
                "kafka"
            ]
        );
        let d = find(r, "Deployment", "cv-clickvisual");
        container_of(d, "wait-for-redis");
    }

    #[test]
    fn root_url_follows_the_ingress() {
        let mut v = values();
        v.ingress.enabled = true;
        v.ingress.host = "logs.example.com".into();
        v.ingress.tls.enabled = true;
        assert_eq!(
            config(&v)["app"]["rootURL"].as_str(),
            Some("https://logs.example.com")
        );
        v.ingress.path = "/cv/".into();
        let c = config(&v);
        assert_eq!(
            c["app"]["rootURL"].as_str(),
            Some("https://logs.example.com/cv")
        );
        assert_eq!(c["app"]["serveFromSubPath"].as_bool(), Some(true));
        v.clickvisual.config.root_url = "https://given.example.com".into();
        assert_eq!(
            config(&v)["app"]["rootURL"].as_str(),
            Some("https://given.example.com")
        );
    }

    #[test]
    fn deployment_mounts_config_and_waits_for_the_schema_job() {
        let v = values();
        let all = render_all(&v);
        let r = component(&all, "clickvisual");
        assert_eq!(
            r.depends_on,
            vec!["mysql", "clickvisual-schema", "clickhouse", "kafka"]
        );
        let d = find(r, "Deployment", "cv-clickvisual");
        assert_eq!(d.phase.as_str(), "apps");
        let tmpl = &d.body["spec"]["template"];
        assert!(tmpl["metadata"]["annotations"]["stackctl.dev/config-checksum"].is_string());
        let c = container_of(d, "clickvisual");
        assert_eq!(
            env(c, "EGO_CONFIG_PATH"),
            Some("/clickvisual/configs/default.toml")
        );
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/clickvisual/configs");
        let inits: Vec<_> = tmpl["spec"]["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(inits, ["wait-for-mysql"]);
        let svc = find(r, "Service", "cv-clickvisual");
        let ports: Vec<_> = svc.body["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap(), p["targetPort"].clone()))
            .collect();
        // Not the governor (pprof, `/env/info`, no authentication: gotomicro/ego
        // v1.2.2 `server/egovernor/`): the UI and API only.
        assert_eq!(ports, [("http", serde_json::json!("http"))]);
        // Still on the pod, where Prometheus finds it.
        let c = container_of(d, "clickvisual");
        assert!(
            c["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "governor" && p["containerPort"] == 19011),
            "{c}"
        );
    }

    /// Not root, as the image would run, and nothing writable but /tmp: the server
    /// writes no file with its loggers on stderr (see the image contract). Init
    /// containers too, Redis's included.
    #[test]
    fn runs_as_a_high_uid_under_a_read_only_root() {
        let mut v = values();
        v.clickvisual.replicas = 3;
        v.redis.enabled = true;
        let all = render_all(&v);
        let d = find(
            component(&all, "clickvisual"),
            "Deployment",
            "cv-clickvisual",
        );
        let sc = &d.body["spec"]["template"]["spec"]["securityContext"];
        assert_eq!(sc["runAsUser"], 10001, "{sc}");
        assert_eq!(sc["runAsGroup"], 10001, "{sc}");
        assert_eq!(sc["runAsNonRoot"], true, "{sc}");
        assert_read_only_root(d, "clickvisual", &["/tmp"]);
        for init in ["wait-for-mysql", "wait-for-redis"] {
            assert_read_only_root(d, init, &[]);
        }
        assert_eq!(
            config(&v)["logger"]["writer"].as_str(),
            Some("stderr"),
            "ego's default writer is a file under ./logs"
        );
        assert_eq!(
            env(container_of(d, "clickvisual"), "EGO_LOG_WRITER"),
            Some("stderr")
        );
    }

    /// ego's governor listens on `tcp4` only (gotomicro/ego v1.2.2,
    /// `server/egovernor/component.go`): liveness must ask the main port, with the
    /// header ego's health-check middleware answers before any route or session.
    #[test]
    fn liveness_asks_the_main_port_with_the_health_check_header() {
        let mut v = values();
        for sub_path in [false, true] {
            if sub_path {
                v.ingress.enabled = true;
                v.ingress.path = "/cv/".into();
                v.clickvisual.sub_path_build = true;
            }
            let all = render_all(&v);
            let d = find(
                component(&all, "clickvisual"),
                "Deployment",
                "cv-clickvisual",
            );
            let get = &container_of(d, "clickvisual")["livenessProbe"]["httpGet"];
            assert_eq!(get["port"], "http", "{get}");
            assert_eq!(get["path"], "/", "{get}");
            assert_eq!(
                get["httpHeaders"],
                serde_json::json!([{"name": "X-Health-Check", "value": "1"}]),
                "{get}"
            );
            let ports = container_of(d, "clickvisual")["ports"].as_array().unwrap();
            let http = ports.iter().find(|p| p["name"] == "http").unwrap();
            assert_eq!(http["containerPort"], 19001);
        }
    }

    #[test]
    fn a_sub_path_moves_every_route_below_it() {
        let mut v = values();
        v.ingress.enabled = true;
        v.ingress.host = String::new();
        v.ingress.path = "/cv/".into();
        v.clickvisual.sub_path_build = true;
        // Without a host the port-forward URL still carries the path, or ClickVisual
        // would serve at / what the Ingress sends to /cv/.
        assert_eq!(
            config(&v)["app"]["rootURL"].as_str(),
            Some("http://localhost:19001/cv")
        );
        let notes = super::super::notes(&v, &release()).join("\n");
        assert!(
            notes.contains("then open http://localhost:19001/cv\n"),
            "{notes}"
        );
        let all = render_all(&v);
        let d = find(
            component(&all, "clickvisual"),
            "Deployment",
            "cv-clickvisual",
        );
        let c = container_of(d, "clickvisual");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/cv/api/v1/install");
        let probes = super::super::probes(&v, &release());
        let app = probes
            .iter()
            .find(|p| p.component == "clickvisual")
            .unwrap();
        assert_eq!(
            app.target,
            "http://cv-clickvisual.logs.svc:19001/cv/api/v1/install"
        );
    }

    #[test]
    fn config_change_changes_the_checksum() {
        let checksum = |v: &super::super::values::Values| {
            let all = render_all(v);
            let d = find(
                component(&all, "clickvisual"),
                "Deployment",
                "cv-clickvisual",
            );
            d.body["spec"]["template"]["metadata"]["annotations"]["stackctl.dev/config-checksum"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let mut v = values();
        let before = checksum(&v);
        v.clickvisual.config.log_level = super::super::values::LogLevel::Debug;
        assert_ne!(before, checksum(&v));
    }

    #[test]
    fn ingress_api_follows_capabilities() {
        let mut v = values();
        v.ingress.enabled = true;
        v.ingress.class_name = "traefik".into();
        v.ingress
            .annotations
            .insert("a.example/b".into(), "c".into());
        let all = render_all(&v);
        let ing = find(component(&all, "clickvisual"), "Ingress", "cv-clickvisual");
        assert_eq!(ing.api_version, "networking.k8s.io/v1");
        assert_eq!(ing.body["spec"]["ingressClassName"], "traefik");
        assert_eq!(ing.body["metadata"]["annotations"]["a.example/b"], "c");
        assert_eq!(
            ing.body["metadata"]["annotations"]["stackctl.dev/phase"],
            "apps"
        );
        let path = &ing.body["spec"]["rules"][0]["http"]["paths"][0];
        assert_eq!(path["pathType"], "Prefix");
        assert_eq!(path["backend"]["service"]["port"]["name"], "http");

        let old = super::super::render(&v, &release(), Capabilities::for_minor(18));
        let ing = find(component(&old, "clickvisual"), "Ingress", "cv-clickvisual");
        assert_eq!(ing.api_version, "networking.k8s.io/v1beta1");
        let backend = &ing.body["spec"]["rules"][0]["http"]["paths"][0]["backend"];
        assert_eq!(backend["serviceName"], "cv-clickvisual");

        v.ingress.class_name = String::new();
        let all = render_all(&v);
        let ing = find(component(&all, "clickvisual"), "Ingress", "cv-clickvisual");
        assert!(ing.body["spec"].get("ingressClassName").is_none());
    }

    #[test]
    fn replicated_app_gets_pdb_and_anti_affinity() {
        let mut v = values();
        v.clickvisual.replicas = 3;
        v.global.pod_disruption_budgets = true;
        v.global.anti_affinity = super::super::values::AntiAffinity::Soft;
        let all = render_all(&v);
        let r = component(&all, "clickvisual");
        let pdb = find(r, "PodDisruptionBudget", "cv-clickvisual");
        assert_eq!(pdb.phase.as_str(), "apps");
        let d = find(r, "Deployment", "cv-clickvisual");
        let affinity = &d.body["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
        assert!(affinity["preferredDuringSchedulingIgnoredDuringExecution"].is_array());
    }
}
