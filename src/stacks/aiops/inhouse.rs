//! The three in-house services — AI engine, API gateway, self-healing executor —
//! as Deployments of images the user builds, wired by environment variables to
//! Prometheus, Alertmanager, Elasticsearch, Redis and PostgreSQL (credentials from
//! Secrets). The self-healing executor gets a ServiceAccount whose Role allows
//! exactly what it needs: delete pods, patch and scale Deployments and
//! StatefulSets, read pods, events and pod metrics.

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};
use k8s_openapi::api::rbac::v1::PolicyRule;

use super::Ctx;
use super::prometheus::scrape_annotations;
use super::values::{InHouse, InHouseSecurity, Values};
use super::{elasticsearch, postgresql, redis, routes};
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AiEngine,
    ApiGateway,
    SelfHealing,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::AiEngine, Kind::ApiGateway, Kind::SelfHealing];

    pub fn component(self) -> &'static str {
        match self {
            Kind::AiEngine => "ai-engine",
            Kind::ApiGateway => "api-gateway",
            Kind::SelfHealing => "self-healing",
        }
    }

    /// The values key, as users write it.
    pub fn key(self) -> &'static str {
        match self {
            Kind::AiEngine => "aiEngine",
            Kind::ApiGateway => "apiGateway",
            Kind::SelfHealing => "selfHealing",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Kind::AiEngine => "the AI engine",
            Kind::ApiGateway => "the API gateway",
            Kind::SelfHealing => "the self-healing executor",
        }
    }

    pub fn values(self, v: &Values) -> &InHouse {
        match self {
            Kind::AiEngine => &v.ai_engine,
            Kind::ApiGateway => &v.api_gateway,
            Kind::SelfHealing => &v.self_healing,
        }
    }

    /// The path the Ingress routes to it, if any.
    fn base_path(self, v: &Values) -> &'static str {
        match self {
            Kind::AiEngine => routes::ai_prefix(v),
            Kind::ApiGateway if v.ingress.enabled => routes::ROOT,
            _ => "",
        }
    }
}

/// The Role of the self-healing executor, rule by rule.
pub fn self_healing_rules() -> Vec<PolicyRule> {
    vec![
        // Restart a misbehaving pod by deleting it; read pods and what happened.
        w::rule(&[""], &["pods"], &["get", "list", "watch", "delete"]),
        w::rule(&[""], &["events"], &["get", "list", "watch"]),
        // Roll (patch the template) and scale workloads.
        w::rule(&["apps"], &["deployments", "statefulsets"], &["patch"]),
        w::rule(
            &["apps"],
            &["deployments/scale", "statefulsets/scale"],
            &["patch", "update"],
        ),
        // Pod resource usage from metrics-server.
        w::rule(&["metrics.k8s.io"], &["pods"], &["get", "list"]),
    ]
}

/// Environment variables the stack sets, so user `env` may not redefine them.
pub fn reserved_env(ctx: &Ctx<'_>, kind: Kind) -> Vec<String> {
    stack_env(ctx, kind).into_iter().map(|e| e.name).collect()
}

fn stack_env(ctx: &Ctx<'_>, kind: Kind) -> Vec<EnvVar> {
    let v = kind.values(ctx.values);
    let mut env = vec![
        w::env("PORT", v.port.to_string()),
        w::env("LOG_LEVEL", ctx.log_level().as_str()),
        w::env("BASE_PATH", kind.base_path(ctx.values)),
        w::env_field("KUBERNETES_NAMESPACE", "metadata.namespace"),
        w::env_field("POD_NAME", "metadata.name"),
    ];
    if let Some(url) = &ctx.conn.prometheus_url {
        env.push(w::env("PROMETHEUS_URL", url));
    }
    if let Some(url) = &ctx.conn.alertmanager_url {
        env.push(w::env("ALERTMANAGER_URL", url));
    }
    if let Some(es) = &ctx.conn.elasticsearch {
        env.push(w::env("ELASTICSEARCH_URL", &es.url));
        env.push(w::env("ELASTICSEARCH_USERNAME", &es.username));
        env.push(es.password_ref.env("ELASTICSEARCH_PASSWORD"));
    }
    if let Some(r) = &ctx.conn.redis {
        env.push(w::env("REDIS_HOST", &r.host));
        env.push(w::env("REDIS_PORT", r.port.to_string()));
        env.push(r.password_ref.env("REDIS_PASSWORD"));
        env.push(w::env(
            "REDIS_CLUSTER",
            (!r.cluster_nodes.is_empty()).to_string(),
        ));
        if !r.cluster_nodes.is_empty() {
            env.push(w::env("REDIS_CLUSTER_NODES", r.cluster_nodes.join(",")));
        }
    }
    if let Some(pg) = &ctx.conn.postgresql {
        env.push(w::env("POSTGRES_HOST", &pg.host));
        env.push(w::env("POSTGRES_PORT", pg.port.to_string()));
        env.push(w::env("POSTGRES_DB", &pg.database));
        env.push(w::env("POSTGRES_USER", &pg.username));
        env.push(pg.password_ref.env("POSTGRES_PASSWORD"));
        // Kubernetes expands $(POSTGRES_PASSWORD) from the variable above: the pod
        // spec names it, never its value.
        env.push(w::env(
            "DATABASE_URL",
            format!(
                "postgresql://{}:$(POSTGRES_PASSWORD)@{}:{}/{}",
                pg.username, pg.host, pg.port, pg.database
            ),
        ));
    }
    for other in Kind::ALL {
        let ov = other.values(ctx.values);
        if other != kind && ov.enabled {
            env.push(w::env(
                &format!("{}_URL", other.component().replace('-', "_").to_uppercase()),
                format!(
                    "http://{}:{}",
                    ctx.release.service_host(other.component()),
                    ov.port
                ),
            ));
        }
    }
    env
}

pub fn render(ctx: &Ctx<'_>, kind: Kind) -> Option<Rendered> {
    let v = kind.values(ctx.values);
    if !v.enabled {
        return None;
    }
    let component = kind.component();
    let mut b = Builder::new(ctx.release, component, Phase::Apps, &v.image.tag);
    let name = w::workload_name(&b);
    let mut env = stack_env(ctx, kind);
    env.extend(v.env.iter().map(|(k, val)| w::env(k, val.clone())));
    let probe = |t: Timing| {
        if v.health_path.is_empty() {
            w::tcp_probe("http", t)
        } else {
            w::http_probe(&v.health_path, "http", t)
        }
    };
    let container = Container {
        env: Some(env),
        ports: Some(vec![w::container_port("http", i32::from(v.port))]),
        readiness_probe: Some(probe(Timing::READINESS)),
        liveness_probe: Some(probe(Timing::LIVENESS)),
        ..ctx.container(component, &v.image, &v.resources)
    };
    let mut pod = PodSpec {
        containers: vec![container],
        ..ctx.pod_spec(&b, v.replicas, w::pod_security(None, None))
    };
    restrict(&mut pod, &v.security_context);
    if kind == Kind::SelfHealing {
        w::push_namespaced_rbac(&mut b, &name, self_healing_rules());
        pod.service_account_name = Some(name.clone());
        pod.automount_service_account_token = Some(true);
    }
    let annotations = if ctx.values.prometheus.enabled && !v.metrics_path.is_empty() {
        scrape_annotations(v.port, &v.metrics_path)
    } else {
        std::collections::BTreeMap::default()
    };
    b.push(w::deployment(&b, v.replicas, annotations, pod));
    b.push(w::client_service(
        &b,
        "ClusterIP",
        vec![w::service_port("http", i32::from(v.port))],
    ));
    w::push_pdb(&mut b, ctx.caps, &ctx.pod_globals(), v.replicas);
    Some(b.finish(depends_on(ctx)))
}

/// The user and root filesystem `securityContext` asks for. Off, the image's own
/// user runs with a writable root and runAsNonRoot is not asserted: stackctl
/// cannot read an image it does not know.
fn restrict(pod: &mut PodSpec, sc: &InHouseSecurity) {
    if !sc.enabled {
        return;
    }
    let security = pod.security_context.get_or_insert_with(Default::default);
    security.run_as_user = Some(i64::from(sc.run_as_user));
    security.run_as_group = Some(i64::from(sc.run_as_group));
    security.run_as_non_root = Some(true);
    let container = &mut pod.containers[0];
    for (i, path) in sc.writable_paths.iter().enumerate() {
        let name = format!("writable-{i}");
        pod.volumes
            .get_or_insert_with(Vec::new)
            .push(w::empty_dir(&name));
        container
            .volume_mounts
            .get_or_insert_with(Vec::new)
            .push(w::mount(&name, path, false));
    }
    if sc.read_only_root_filesystem {
        *container = w::read_only_root(std::mem::take(container));
    }
}

fn depends_on(ctx: &Ctx<'_>) -> Vec<&'static str> {
    let mut deps = Vec::new();
    if ctx.conn.elasticsearch.as_ref().is_some_and(|c| c.internal) {
        deps.push(elasticsearch::COMPONENT);
    }
    if let Some(r) = ctx.conn.redis.as_ref().filter(|r| r.internal) {
        deps.push(redis::COMPONENT);
        if !r.cluster_nodes.is_empty() {
            deps.push(redis::CLUSTER_INIT);
        }
    }
    if ctx.conn.postgresql.as_ref().is_some_and(|c| c.internal) {
        deps.push(postgresql::COMPONENT);
    }
    deps
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    #[test]
    fn wired_to_the_platform_by_environment() {
        let all = render_all(&values());
        let r = component(&all, "ai-engine");
        assert_eq!(r.depends_on, vec!["elasticsearch", "redis", "postgresql"]);
        let d = find(r, "Deployment", "ops-ai-engine");
        let c = container_of(d, "ai-engine");
        assert_eq!(c["image"], "example.com/aiops/ai-engine:latest");
        assert_eq!(
            env(c, "PROMETHEUS_URL"),
            Some("http://ops-prometheus.mon.svc:9090/prometheus")
        );
        assert_eq!(
            env(c, "ELASTICSEARCH_URL"),
            Some("http://ops-elasticsearch.mon.svc:9200")
        );
        assert_eq!(env(c, "REDIS_HOST"), Some("ops-redis.mon.svc"));
        assert_eq!(env(c, "REDIS_CLUSTER"), Some("false"));
        assert_eq!(env(c, "POSTGRES_HOST"), Some("ops-postgresql.mon.svc"));
        assert_eq!(env(c, "BASE_PATH"), Some("/ai"));
        assert_eq!(
            env(c, "DATABASE_URL"),
            Some("postgresql://aiops:$(POSTGRES_PASSWORD)@ops-postgresql.mon.svc:5432/aiops")
        );
        for (var, secret, key) in [
            (
                "ELASTICSEARCH_PASSWORD",
                "ops-elasticsearch-credentials",
                "elastic-password",
            ),
            ("REDIS_PASSWORD", "ops-redis-credentials", "redis-password"),
            (
                "POSTGRES_PASSWORD",
                "ops-postgresql-credentials",
                "password",
            ),
        ] {
            assert_eq!(env_ref(c, var), Some((secret.into(), key.into())), "{var}");
        }
        // POSTGRES_PASSWORD must come before the variable that expands it.
        let names: Vec<&str> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert!(pos("POSTGRES_PASSWORD") < pos("DATABASE_URL"));
        assert_eq!(
            env(c, "SELF_HEALING_URL"),
            Some("http://ops-self-healing.mon.svc:8080")
        );
        assert_eq!(c["readinessProbe"]["tcpSocket"]["port"], "http");
        assert_eq!(
            d.body["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"],
            "/metrics"
        );
    }

    #[test]
    fn redis_cluster_nodes_are_handed_over() {
        let all = render_all(&production());
        let d = find(
            component(&all, "api-gateway"),
            "Deployment",
            "ops-api-gateway",
        );
        let c = container_of(d, "api-gateway");
        assert_eq!(env(c, "REDIS_CLUSTER"), Some("true"));
        assert!(
            env(c, "REDIS_CLUSTER_NODES")
                .unwrap()
                .starts_with("ops-redis-0.ops-redis-headless.mon.svc:6379,")
        );
        assert_eq!(env(c, "BASE_PATH"), Some("/"));
        assert!(
            component(&all, "api-gateway")
                .depends_on
                .contains(&"redis-cluster-init")
        );
    }

    #[test]
    fn self_healing_role_allows_exactly_its_job() {
        let all = render_all(&values());
        let r = component(&all, "self-healing");
        let role = find(r, "Role", "ops-self-healing");
        assert_eq!(role.namespace.as_deref(), Some("mon"));
        assert_eq!(
            role.body["rules"],
            serde_json::json!([
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]},
                {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"], "verbs": ["patch"]},
                {"apiGroups": ["apps"], "resources": ["deployments/scale", "statefulsets/scale"], "verbs": ["patch", "update"]},
                {"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["get", "list"]},
            ])
        );
        let binding = find(r, "RoleBinding", "ops-self-healing");
        assert_eq!(binding.body["roleRef"]["kind"], "Role");
        assert_eq!(binding.body["subjects"][0]["name"], "ops-self-healing");
        find(r, "ServiceAccount", "ops-self-healing");
        let d = find(r, "Deployment", "ops-self-healing");
        assert_eq!(
            d.body["spec"]["template"]["spec"]["serviceAccountName"],
            "ops-self-healing"
        );
        assert_eq!(
            d.body["spec"]["template"]["spec"]["automountServiceAccountToken"],
            true
        );
        // No cluster-wide rights.
        assert!(
            r.manifests
                .iter()
                .all(|m| m.kind != "ClusterRole" && m.kind != "ClusterRoleBinding")
        );
        // The other services get no API access at all.
        let d = find(component(&all, "ai-engine"), "Deployment", "ops-ai-engine");
        assert_eq!(
            d.body["spec"]["template"]["spec"]["automountServiceAccountToken"],
            false
        );
    }

    #[test]
    fn health_path_and_extra_env() {
        let mut v = values();
        v.api_gateway.health_path = "/healthz".into();
        v.api_gateway.env.insert("FEATURE_X".into(), "on".into());
        let all = render_all(&v);
        let d = find(
            component(&all, "api-gateway"),
            "Deployment",
            "ops-api-gateway",
        );
        let c = container_of(d, "api-gateway");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(env(c, "FEATURE_X"), Some("on"));
    }

    #[test]
    fn runs_as_a_high_uid_with_a_read_only_root_unless_turned_off() {
        let mut v = values();
        v.api_gateway.security_context.writable_paths = vec!["/tmp".into(), "/app/cache".into()];
        v.self_healing.security_context.enabled = false;
        let all = render_all(&v);
        let spec = |c: &str| {
            find(component(&all, c), "Deployment", &format!("ops-{c}")).body["spec"]["template"]
                ["spec"]
                .clone()
        };
        let gw = spec("api-gateway");
        let sc = &gw["securityContext"];
        assert_eq!(
            (&sc["runAsUser"], &sc["runAsGroup"], &sc["runAsNonRoot"]),
            (&10001.into(), &10001.into(), &true.into())
        );
        let c = &gw["containers"][0];
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        // Each writable path is its own emptyDir, mounted writable.
        for (i, path) in ["/tmp", "/app/cache"].into_iter().enumerate() {
            let name = format!("writable-{i}");
            let mount = c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == name.as_str())
                .unwrap_or_else(|| panic!("{name} not mounted"));
            assert_eq!(mount["mountPath"], path);
            assert!(mount.get("readOnly").is_none());
            assert!(
                gw["volumes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v["name"] == name.as_str() && v["emptyDir"].is_object())
            );
        }
        // Off: the image's own user, a writable root, nothing mounted.
        let sh = spec("self-healing");
        assert!(sh["securityContext"].get("runAsUser").is_none());
        assert!(sh["securityContext"].get("runAsNonRoot").is_none());
        assert!(sh.get("volumes").is_none());
        let c = &sh["containers"][0];
        assert!(c["securityContext"].get("readOnlyRootFilesystem").is_none());
        assert!(c.get("volumeMounts").is_none());
    }

    #[test]
    fn disabled_services_render_nothing() {
        let mut v = values();
        v.ai_engine.enabled = false;
        v.api_gateway.enabled = false;
        v.self_healing.enabled = false;
        let all = render_all(&v);
        for c in ["ai-engine", "api-gateway", "self-healing"] {
            assert!(!has(&all, c), "{c}");
        }
    }
}
