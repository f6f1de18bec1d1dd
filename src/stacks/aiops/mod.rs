//! The AIOps platform: Traefik (edge router), Prometheus (+ node-exporter,
//! kube-state-metrics, alert rules), Alertmanager, Grafana, Elasticsearch, Logstash,
//! Kibana, Redis, PostgreSQL and three in-house services (AI engine, API gateway,
//! self-healing executor), behind one Ingress; optional NetworkPolicies and Pod
//! Security admission labels.

pub mod connections;
mod validate;
pub mod values;

/// The stack as the engine sees it.
pub static STACK: crate::stacks::Definition<Values> = crate::stacks::Definition {
    name: NAME,
    default_namespace: DEFAULT_NAMESPACE,
    defaults_yaml: DEFAULTS_YAML,
    earlier_defaults_yaml: include_str!("earlier.yaml"),
    render,
    probes,
    backups: |v, release| backups::backups(&Ctx::for_jobs(release, v)),
    backup_settings: crate::stacks::kit::backup::settings,
    flows,
    notes,
    warnings: |v| {
        let np = &v.network_policy;
        np.warnings(crate::stacks::kit::keyed_peers(
            "networkPolicy.ingressController.peers",
            &np.ingress_controller.peers,
        ))
    },
    rbac_switches: &[
        crate::stacks::RbacSwitch {
            component: traefik::COMPONENT,
            key: "traefik",
        },
        crate::stacks::RbacSwitch {
            component: exporters::KSM,
            key: "kubeStateMetrics",
        },
    ],
    init_only_changes: credentials::init_only_changes,
    rotation_jobs: credentials::rotation_jobs,
    kube_requirements,
};

mod alertmanager;
mod backups;
mod common;
pub mod credentials;
mod elasticsearch;
mod exporters;
mod grafana;
mod ingress;
mod inhouse;
pub mod kibana;
mod logstash;
mod namespace;
mod netpol;
mod postgresql;
mod probes;
mod prometheus;
mod redis;
mod routes;
mod traefik;

use crate::model::{Capabilities, KubeRequirement, Release, Rendered};
use connections::{Connections, SecretKey};
use values::Values;

pub const NAME: &str = "aiops";
pub const DEFAULT_NAMESPACE: &str = "aiops";
pub const DEFAULTS_YAML: &str = include_str!("defaults.yaml");

/// Everything a component needs to render itself.
pub type Ctx<'a> = crate::stacks::kit::Ctx<'a, Values, Connections>;

/// All enabled components' objects, in declaration order (the plan sorts by phase and
/// dependency).
pub fn render(values: &Values, release: &Release, caps: Capabilities) -> Vec<Rendered> {
    let ctx = Ctx::new(release, values, caps);
    let mut out: Vec<Rendered> = [
        namespace::render(&ctx),
        elasticsearch::render(&ctx),
        kibana::render_setup(&ctx),
        redis::render(&ctx),
        redis::render_cluster_init(&ctx),
        postgresql::render(&ctx),
        traefik::render(&ctx),
        prometheus::render(&ctx),
        exporters::render_node_exporter(&ctx),
        exporters::render_kube_state_metrics(&ctx),
        alertmanager::render(&ctx),
        grafana::render(&ctx),
        logstash::render(&ctx),
        kibana::render(&ctx),
        inhouse::render(&ctx, inhouse::Kind::AiEngine),
        inhouse::render(&ctx, inhouse::Kind::ApiGateway),
        inhouse::render(&ctx, inhouse::Kind::SelfHealing),
        ingress::render(&ctx),
        crate::stacks::kit::backup::schedule(&ctx, &backups::backups(&ctx)),
    ]
    .into_iter()
    .flatten()
    .collect();
    // Last: the policies follow from which components have pods.
    if let Some(policies) = netpol::render(&ctx, &out) {
        out.push(policies);
    }
    out
}

/// Every flow between the components the values render with pods, from the table
/// the NetworkPolicies are made of (`netpol::flows`), whether or not
/// `networkPolicy.enabled` renders them. Which components have pods does not
/// depend on the cluster's API versions, so the latest are assumed.
pub fn flows(values: &Values, release: &Release) -> Vec<crate::model::Flow> {
    let caps = Capabilities::latest();
    let rendered = render(values, release, caps);
    let ctx = Ctx::new(release, values, caps);
    netpol::flows(&ctx, &crate::model::with_pods(&rendered))
}

/// The Kubernetes versions the enabled components need. The Ingress and the
/// IngressClass are `networking.k8s.io/v1` only (Kubernetes 1.19); Traefik from
/// v3.1 reads EndpointSlices (1.21, see [`traefik::LAST_ENDPOINTS_TAG`]): on 1.20
/// it starts, is ready, and routes nothing. kube-state-metrics reads only what 1.20
/// serves (`exporters::KSM_RESOURCES`); PodDisruptionBudgets follow the cluster's
/// API version. Everything else uses core and `apps/v1` APIs only.
pub fn kube_requirements(v: &Values) -> Vec<KubeRequirement> {
    let mut out = Vec::new();
    if v.traefik.enabled {
        let slices = traefik::uses_endpoint_slices(&v.traefik.image.tag);
        let mut ways_out = vec![
            "`--set traefik.enabled=false` (with `--set ingress.className=<class>` to route through an ingress controller of yours, or `--set ingress.enabled=false`)".to_string(),
        ];
        if slices {
            ways_out.push(format!(
                "a Traefik that reads v1 Endpoints: `--set traefik.image.tag={}`",
                traefik::LAST_ENDPOINTS_TAG
            ));
        }
        out.push(KubeRequirement {
            component: traefik::COMPONENT.into(),
            min_minor: if slices { 21 } else { 19 },
            needs: if slices {
                format!(
                    "Traefik {} discovers endpoints through discovery.k8s.io/v1 EndpointSlices",
                    v.traefik.image.tag
                )
            } else {
                "networking.k8s.io/v1 IngressClass and Ingress".into()
            },
            ways_out,
        });
    }
    if v.ingress.enabled {
        out.push(KubeRequirement {
            component: ingress::COMPONENT.into(),
            min_minor: 19,
            needs: "networking.k8s.io/v1 Ingress".into(),
            ways_out: vec!["`--set ingress.enabled=false`".into()],
        });
    }
    out
}

/// The connectivity probes of every component in use (see `probes.rs`).
pub fn probes(values: &Values, release: &Release) -> Vec<crate::model::ProbeSpec> {
    let ctx = Ctx::for_jobs(release, values);
    probes::probes(&ctx)
}

/// The summary after install or upgrade: URLs, logins, where credentials live.
pub fn notes(v: &Values, release: &Release) -> Vec<String> {
    let ns = &release.namespace;
    let conn = Connections::new(v, release);
    let mut out = vec![String::new(), "AIOps platform".to_string()];
    let apps: [(&str, bool, &str, &str, u16); 5] = [
        (
            "API",
            v.api_gateway.enabled,
            routes::ROOT,
            "api-gateway",
            v.api_gateway.port,
        ),
        (
            "Grafana",
            v.grafana.enabled,
            routes::GRAFANA,
            "grafana",
            3000,
        ),
        (
            "Prometheus",
            v.prometheus.enabled,
            routes::PROMETHEUS,
            "prometheus",
            9090,
        ),
        ("Kibana", v.kibana.enabled, routes::KIBANA, "kibana", 5601),
        (
            "AI engine",
            v.ai_engine.enabled,
            routes::AI,
            "ai-engine",
            v.ai_engine.port,
        ),
    ];
    for (what, enabled, path, component, port) in apps {
        if !enabled {
            continue;
        }
        match routes::external_url(v, path) {
            Some(url) => out.push(format!("  {what:<11} {url}")),
            None => out.push(format!(
                "  {what:<11} kubectl -n {ns} port-forward svc/{} {port}:{port}",
                release.object_name(component)
            )),
        }
    }
    out.push(String::new());
    out.push("Logins and credentials (Secrets in the release namespace)".to_string());
    let mut secret_line = |what: &str, r: &SecretKey| {
        out.push(format!(
            "  {what:<15} {}",
            crate::stacks::kit::read_secret_command(ns, &r.secret, r.key)
        ));
    };
    if v.grafana.enabled {
        secret_line(
            &format!("Grafana {}", v.grafana.admin_user),
            &SecretKey {
                secret: connections::credentials_secret(release, "grafana"),
                key: connections::keys::GRAFANA_ADMIN_PASSWORD,
            },
        );
    }
    if let Some(es) = &conn.elasticsearch {
        secret_line(&format!("Kibana {}", es.username), &es.password_ref);
    }
    if let Some(pg) = &conn.postgresql {
        secret_line(&format!("Postgres {}", pg.username), &pg.password_ref);
    }
    if let Some(r) = &conn.redis {
        secret_line("Redis", &r.password_ref);
    }
    let ctx = Ctx::for_jobs(release, v);
    out.extend(crate::stacks::kit::backup::notes(
        v,
        release,
        &backups::backups(&ctx),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::common::testing::values;
    use super::kube_requirements;

    #[test]
    fn traefik_from_v3_1_needs_kubernetes_1_21() {
        let mut v = values();
        let minimum = |v: &super::Values, c: &str| {
            kube_requirements(v)
                .into_iter()
                .find(|r| r.component == c)
                .map(|r| (r.min_minor, r.ways_out))
        };
        let (minor, ways_out) = minimum(&v, "traefik").unwrap();
        assert_eq!(minor, 21);
        assert!(ways_out[0].contains("--set traefik.enabled=false"));
        assert!(ways_out[1].contains("--set traefik.image.tag=v3.0.4"));
        assert_eq!(minimum(&v, "ingress").unwrap().0, 19);
        // The last v3.0 reads v1 Endpoints: the Ingress API's 1.19 is enough.
        v.traefik.image.tag = "v3.0.4".into();
        assert_eq!(minimum(&v, "traefik").unwrap().0, 19);
        v.traefik.enabled = false;
        v.ingress.enabled = false;
        assert!(kube_requirements(&v).is_empty());
    }
}
