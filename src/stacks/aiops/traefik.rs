//! Traefik, the edge router: a Deployment serving the release's own IngressClass
//! (controller `traefik.io/ingress-controller`), cluster-wide read access to what
//! its Kubernetes Ingress provider watches, `/ping` health on the `traefik` entry
//! point (8080, also Prometheus metrics, scraped by the release's Prometheus), and a
//! Service for `web` and `websecure`.

use k8s_openapi::api::core::v1::{Container, PodSpec, ServicePort};
use k8s_openapi::api::networking::v1::{IngressClass, IngressClassSpec};

use super::Ctx;
use super::prometheus::scrape_annotations;
use crate::model::{Phase, Release, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "traefik";
pub const WEB_PORT: u16 = 8000;
pub const WEBSECURE_PORT: u16 = 8443;
/// The `traefik` entry point: ping, metrics.
pub const ADMIN_PORT: u16 = 8080;
/// The image's conventional non-root user (the upstream chart's).
const UID: i64 = 65532;
pub const CONTROLLER: &str = "traefik.io/ingress-controller";
/// Where Traefik serves Prometheus metrics on the entry point of
/// `--metrics.prometheus.entrypoint`: its internal router's rule is
/// ``PathPrefix(`/metrics`)`` (traefik/traefik v3.4.1, pkg/provider/traefik/internal.go).
pub const METRICS_PATH: &str = "/metrics";
/// Traefik's own latency buckets (`SetDefaults` of traefik/traefik v3.4.1,
/// pkg/types/metrics.go; docs/content/observability/metrics/prometheus.md).
const DEFAULT_BUCKETS: [f64; 4] = [0.1, 0.3, 1.2, 5.0];

/// Name of the release's IngressClass: cluster-scoped, so it carries namespace and
/// release, and never takes over a `traefik` class another installation owns.
pub fn ingress_class_name(release: &Release) -> String {
    release.cluster_object_name(COMPONENT)
}

/// The last Traefik release whose Kubernetes providers read v1 Endpoints, and so
/// work on Kubernetes 1.19 and 1.20: "Starting with v3.1, the Kubernetes Providers
/// now use the EndpointSlices API (Kubernetes >=v1.21)" (traefik/traefik v3.4.1,
/// docs/content/migration/v3.md). v3.0.4's Ingress provider watches
/// `Core().V1().Endpoints()` (pkg/provider/kubernetes/ingress/client.go); v3.4.1's
/// `Discovery().V1().EndpointSlices()` (same file).
pub const LAST_ENDPOINTS_TAG: &str = "v3.0.4";

/// Whether Traefik of this image tag discovers endpoints through
/// `discovery.k8s.io/v1` EndpointSlices (v3.1 and later). A tag that is no version
/// (`latest`, a digest) is taken as a current release.
pub fn uses_endpoint_slices(tag: &str) -> bool {
    let mut parts = tag.trim_start_matches('v').split('.');
    let number = |p: Option<&str>| -> Option<u32> {
        let digits: String = p?.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    match (number(parts.next()), number(parts.next())) {
        (Some(major), Some(minor)) => (major, minor) >= (3, 1),
        _ => true,
    }
}

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.traefik;
    if !v.enabled {
        return None;
    }
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Apps, &v.image.tag);
    let account = w::Account::new(&b, &v.rbac, &v.service_account);
    // What the provider reads endpoints from: RBAC of the upstream migration guide
    // (docs/content/migration/v3.md, "the `endpoints` right has to be removed and
    // the following `endpointslices` right has to be added").
    let endpoints = if uses_endpoint_slices(&v.image.tag) {
        w::rule(
            &["discovery.k8s.io"],
            &["endpointslices"],
            &["list", "watch"],
        )
    } else {
        w::rule(&[""], &["endpoints"], &["list", "watch"])
    };
    w::push_cluster_rbac(
        &mut b,
        &account,
        vec![
            w::rule(
                &[""],
                &["services", "secrets", "nodes", "configmaps"],
                &["get", "list", "watch"],
            ),
            endpoints,
            w::rule(
                &["networking.k8s.io"],
                &["ingresses", "ingressclasses"],
                &["get", "list", "watch"],
            ),
            w::rule(&["networking.k8s.io"], &["ingresses/status"], &["update"]),
        ],
    );
    b.push(IngressClass {
        metadata: b.cluster_meta(ingress_class_name(ctx.release)),
        spec: Some(IngressClassSpec {
            controller: Some(CONTROLLER.into()),
            ..Default::default()
        }),
    });

    let pod = PodSpec {
        service_account_name: Some(account.name),
        // The Ingress provider watches the API with this token.
        automount_service_account_token: Some(true),
        containers: vec![container(ctx)],
        termination_grace_period_seconds: Some(30),
        ..ctx.pod_spec(&b, v.replicas, w::pod_security(Some(UID), Some(UID)))
    };
    // The alert rules on response time and error rate read Traefik's metrics.
    b.push(w::deployment(
        &b,
        v.replicas,
        scrape_annotations(ADMIN_PORT, METRICS_PATH),
        pod,
    ));
    b.push(w::client_service(
        &b,
        v.service.type_.as_str(),
        vec![
            ServicePort {
                port: 80,
                ..w::service_port("web", i32::from(WEB_PORT))
            },
            ServicePort {
                port: 443,
                ..w::service_port("websecure", i32::from(WEBSECURE_PORT))
            },
        ],
    ));
    w::push_pdb(&mut b, ctx.caps, &ctx.pod_globals(), v.replicas);
    Some(b.finish(vec![]))
}

/// `--metrics.prometheus.buckets`: Traefik's defaults plus the `HighResponseTime`
/// threshold and twice it. `histogram_quantile` never answers more than the highest
/// finite bucket, so with the defaults alone (highest 5 s) a threshold of 5 s or more
/// could never be crossed; with the threshold itself a bucket bound, the quantile
/// exceeds it exactly when more than 5% of requests take longer.
pub fn buckets(ctx: &Ctx<'_>) -> String {
    let threshold = ctx.values.prometheus.alert_rules.response_time_seconds;
    let mut bounds: Vec<f64> = DEFAULT_BUCKETS.to_vec();
    bounds.extend([threshold, 2.0 * threshold]);
    bounds.retain(|b| b.is_finite() && *b > 0.0);
    bounds.sort_by(f64::total_cmp);
    bounds.dedup();
    bounds
        .iter()
        .map(f64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn container(ctx: &Ctx<'_>) -> Container {
    let v = &ctx.values.traefik;
    let level = match ctx.log_level() {
        super::values::LogLevel::Debug => "DEBUG",
        super::values::LogLevel::Info => "INFO",
        super::values::LogLevel::Warn => "WARN",
        super::values::LogLevel::Error => "ERROR",
    };
    let service = format!(
        "{}/{}",
        ctx.release.namespace,
        ctx.release.object_name(COMPONENT)
    );
    let mut args = vec![
        format!("--entrypoints.web.address=:{WEB_PORT}/tcp"),
        format!("--entrypoints.websecure.address=:{WEBSECURE_PORT}/tcp"),
        "--entrypoints.websecure.http.tls=true".into(),
        format!("--entrypoints.traefik.address=:{ADMIN_PORT}/tcp"),
        "--ping=true".into(),
        "--ping.entrypoint=traefik".into(),
        "--metrics.prometheus=true".into(),
        "--metrics.prometheus.entrypoint=traefik".into(),
        // CLI form of `metrics.prometheus.buckets` (traefik/traefik v3.4.1,
        // docs/content/observability/metrics/prometheus.md).
        format!("--metrics.prometheus.buckets={}", buckets(ctx)),
        "--providers.kubernetesingress=true".into(),
        format!(
            "--providers.kubernetesingress.ingressclass={}",
            ingress_class_name(ctx.release)
        ),
        format!("--providers.kubernetesingress.ingressendpoint.publishedservice={service}"),
        // A routed Service with no ready pod answers 503, not 404: without it the
        // provider skips the route ("Skipping service: no endpoints found",
        // traefik/traefik v3.4.1 pkg/provider/kubernetes/ingress/kubernetes.go;
        // docs/content/providers/kubernetes-ingress.md, `allowEmptyServices`), and a
        // request for `/grafana` then falls through to the `/` route of the gateway.
        "--providers.kubernetesingress.allowemptyservices=true".into(),
        format!("--log.level={level}"),
        "--global.checknewversion=false".into(),
        "--global.sendanonymoususage=false".into(),
    ];
    if ctx.values.global.development {
        args.push("--accesslog=true".into());
    }
    Container {
        args: Some(args),
        ports: Some(vec![
            w::container_port("web", i32::from(WEB_PORT)),
            w::container_port("websecure", i32::from(WEBSECURE_PORT)),
            w::container_port("traefik", i32::from(ADMIN_PORT)),
        ]),
        readiness_probe: Some(w::http_probe("/ping", "traefik", Timing::READINESS)),
        liveness_probe: Some(w::http_probe("/ping", "traefik", Timing::LIVENESS)),
        // The image declares no data directory and, configured by flags with no
        // ACME storage or plugins, writes nothing (its contract).
        ..w::read_only_root(ctx.container(COMPONENT, &v.image, &v.resources))
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    #[test]
    fn an_admins_account_replaces_the_rbac() {
        let mut v = values();
        v.traefik.rbac.create = false;
        v.traefik.service_account.name = "edge".into();
        let all = render_all(&v);
        let r = component(&all, "traefik");
        for kind in ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"] {
            assert!(r.manifests.iter().all(|m| m.kind != kind), "{kind}");
        }
        let d = find(r, "Deployment", "ops-traefik");
        assert_eq!(
            d.body["spec"]["template"]["spec"]["serviceAccountName"],
            "edge"
        );
        // Its IngressClass is no RBAC: still the release's own.
        find(r, "IngressClass", "mon-ops-traefik");
    }

    #[test]
    fn ingress_class_rbac_and_health() {
        let all = render_all(&values());
        let r = component(&all, "traefik");
        let class = find(r, "IngressClass", "mon-ops-traefik");
        assert_eq!(class.api_version, "networking.k8s.io/v1");
        assert_eq!(class.namespace, None);
        assert_eq!(
            class.body["spec"]["controller"],
            "traefik.io/ingress-controller"
        );
        let role = find(r, "ClusterRole", "mon-ops-traefik");
        let rules = role.body["rules"].as_array().unwrap();
        let grants = |group: &str, resource: &str, verb: &str| {
            rules.iter().any(|r| {
                r["apiGroups"][0] == group
                    && r["resources"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|x| x == resource)
                    && r["verbs"].as_array().unwrap().iter().any(|x| x == verb)
            })
        };
        for res in ["services", "secrets", "nodes", "configmaps"] {
            assert!(grants("", res, "watch"), "{res}");
        }
        assert!(grants("discovery.k8s.io", "endpointslices", "list"));
        assert!(!grants("", "endpoints", "list"));
        assert!(grants("networking.k8s.io", "ingresses", "watch"));
        assert!(grants("networking.k8s.io", "ingressclasses", "get"));
        assert!(grants("networking.k8s.io", "ingresses/status", "update"));
        let binding = find(r, "ClusterRoleBinding", "mon-ops-traefik");
        assert_eq!(binding.body["subjects"][0]["namespace"], "mon");
        assert_eq!(binding.body["subjects"][0]["name"], "ops-traefik");

        let d = find(r, "Deployment", "ops-traefik");
        let c = container_of(d, "traefik");
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(args.contains(&"--ping=true"));
        assert!(args.contains(&"--providers.kubernetesingress.ingressclass=mon-ops-traefik"));
        assert!(args.contains(&"--entrypoints.traefik.address=:8080/tcp"));
        assert!(
            args.contains(&"--providers.kubernetesingress.allowemptyservices=true"),
            "a Service without ready pods answers 503, and its path does not fall through to /"
        );
        assert!(
            args.contains(&"--log.level=DEBUG"),
            "development mode logs debug"
        );
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ping");
        assert_eq!(c["readinessProbe"]["httpGet"]["port"], "traefik");
        assert_eq!(
            d.body["spec"]["template"]["spec"]["automountServiceAccountToken"],
            true
        );
        let svc = find(r, "Service", "ops-traefik");
        assert_eq!(svc.body["spec"]["type"], "LoadBalancer");
        assert_eq!(svc.body["spec"]["ports"][0]["port"], 80);
        assert_eq!(svc.body["spec"]["ports"][0]["targetPort"], "web");
    }

    #[test]
    fn metrics_are_scraped_where_traefik_serves_them() {
        let all = render_all(&values());
        let d = find(component(&all, "traefik"), "Deployment", "ops-traefik");
        let annotations = &d.body["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(annotations["prometheus.io/scrape"], "true");
        assert_eq!(annotations["prometheus.io/path"], "/metrics");
        let c = container_of(d, "traefik");
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        // The annotated port is the address of the entry point metrics are served on.
        let entrypoint = args
            .iter()
            .find_map(|a| a.strip_prefix("--metrics.prometheus.entrypoint="))
            .expect("metrics entry point");
        let address = args
            .iter()
            .find_map(|a| a.strip_prefix(&format!("--entrypoints.{entrypoint}.address=:")))
            .expect("entry point address");
        let port = annotations["prometheus.io/port"].as_str().unwrap();
        assert_eq!(address.trim_end_matches("/tcp"), port);
        let port: u16 = port.parse().unwrap();
        assert!(
            c["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["containerPort"] == port),
            "port {port} is declared"
        );
    }

    fn bucket_bounds(v: &super::super::values::Values) -> Vec<f64> {
        let all = render_all(v);
        let d = find(component(&all, "traefik"), "Deployment", "ops-traefik");
        container_of(d, "traefik")["args"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|a| {
                a.as_str()
                    .unwrap()
                    .strip_prefix("--metrics.prometheus.buckets=")
            })
            .expect("explicit buckets")
            .split(',')
            .map(|b| b.parse().unwrap())
            .collect()
    }

    #[test]
    fn latency_buckets_reach_beyond_the_response_time_threshold() {
        let mut v = values();
        assert_eq!(bucket_bounds(&v), vec![0.1, 0.3, 1.2, 5.0, 10.0]);
        for threshold in [0.25, 5.0, 30.0] {
            v.prometheus.alert_rules.response_time_seconds = threshold;
            let bounds = bucket_bounds(&v);
            assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
            // The threshold is a bound, and a finite bucket lies above it: the 95th
            // percentile can exceed it, and does exactly when 5% are slower.
            assert!(bounds.contains(&threshold), "{threshold}: {bounds:?}");
            assert!(bounds.iter().any(|b| *b > threshold), "{bounds:?}");
        }
    }

    #[test]
    fn endpoint_slices_from_v3_1() {
        use super::uses_endpoint_slices;
        for tag in [
            "v3.4.1",
            "v3.1.0",
            "3.1",
            "v4.0.0-rc1",
            "latest",
            "sha256:abc",
        ] {
            assert!(uses_endpoint_slices(tag), "{tag}");
        }
        for tag in ["v3.0.4", "3.0", "v2.11.0", super::LAST_ENDPOINTS_TAG] {
            assert!(!uses_endpoint_slices(tag), "{tag}");
        }
    }

    #[test]
    fn traefik_before_v3_1_reads_endpoints() {
        let mut v = values();
        v.traefik.image.tag = super::LAST_ENDPOINTS_TAG.into();
        let all = render_all(&v);
        let role = find(component(&all, "traefik"), "ClusterRole", "mon-ops-traefik");
        let rules = role.body["rules"].as_array().unwrap();
        let grants = |group: &str, res: &str| {
            rules.iter().any(|r| {
                r["apiGroups"][0] == group
                    && r["resources"].as_array().unwrap().iter().any(|x| x == res)
            })
        };
        assert!(grants("", "endpoints"));
        assert!(!grants("discovery.k8s.io", "endpointslices"));
    }
}
