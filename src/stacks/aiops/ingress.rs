//! The platform's Ingress: one host, `/` (API gateway), `/grafana`, `/prometheus`,
//! `/kibana` and `/ai` (AI engine), each app configured to serve from its path
//! (see [`routes`](super::routes)); class: the release's own Traefik IngressClass
//! unless `ingress.className` names another.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};

use super::inhouse::Kind;
use super::{Ctx, grafana, kibana, prometheus, routes, traefik};
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;

pub const COMPONENT: &str = "ingress";

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = ctx.values;
    let ing = &v.ingress;
    if !ing.enabled {
        return None;
    }
    let routes: Vec<(&str, &str)> = [
        (
            v.api_gateway.enabled,
            routes::ROOT,
            Kind::ApiGateway.component(),
        ),
        (v.grafana.enabled, routes::GRAFANA, grafana::COMPONENT),
        (
            v.prometheus.enabled,
            routes::PROMETHEUS,
            prometheus::COMPONENT,
        ),
        (v.kibana.enabled, routes::KIBANA, kibana::COMPONENT),
        (v.ai_engine.enabled, routes::AI, Kind::AiEngine.component()),
    ]
    .into_iter()
    .filter(|(enabled, _, _)| *enabled)
    .map(|(_, path, component)| (path, component))
    .collect();
    if routes.is_empty() {
        return None;
    }
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Apps, "v1");
    let mut meta = b.meta(ctx.release.object_name(COMPONENT));
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.extend(ing.annotations.clone());
    }
    let class = if !ing.class_name.is_empty() {
        Some(ing.class_name.clone())
    } else if v.traefik.enabled {
        Some(traefik::ingress_class_name(ctx.release))
    } else {
        None
    };
    let paths = routes
        .iter()
        .map(|(path, component)| HTTPIngressPath {
            path: Some(path.to_string()),
            path_type: "Prefix".into(),
            backend: IngressBackend {
                service: Some(IngressServiceBackend {
                    name: ctx.release.object_name(component),
                    port: Some(ServiceBackendPort {
                        name: Some("http".into()),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            },
        })
        .collect();
    b.push(Ingress {
        metadata: meta,
        spec: Some(IngressSpec {
            ingress_class_name: class,
            rules: Some(vec![IngressRule {
                host: Some(ing.host.clone()),
                http: Some(HTTPIngressRuleValue { paths }),
            }]),
            tls: ing.tls.enabled.then(|| {
                vec![IngressTLS {
                    hosts: Some(vec![ing.host.clone()]),
                    secret_name: Some(ing.tls.secret_name.clone()),
                }]
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    Some(b.finish(vec![]))
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    fn ingress(v: &super::super::values::Values) -> serde_json::Value {
        let all = render_all(v);
        find(component(&all, "ingress"), "Ingress", "ops-ingress")
            .body
            .clone()
    }

    #[test]
    fn one_host_every_app_under_its_path() {
        let ing = ingress(&values());
        assert_eq!(ing["spec"]["ingressClassName"], "mon-ops-traefik");
        let rule = &ing["spec"]["rules"][0];
        assert_eq!(rule["host"], "aiops.local");
        let paths: Vec<(String, String)> = rule["http"]["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                assert_eq!(p["pathType"], "Prefix");
                assert_eq!(p["backend"]["service"]["port"]["name"], "http");
                (
                    p["path"].as_str().unwrap().to_string(),
                    p["backend"]["service"]["name"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect();
        let expected = [
            ("/", "ops-api-gateway"),
            ("/grafana", "ops-grafana"),
            ("/prometheus", "ops-prometheus"),
            ("/kibana", "ops-kibana"),
            ("/ai", "ops-ai-engine"),
        ];
        assert_eq!(
            paths,
            expected
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .to_vec()
        );
        assert!(ing["spec"].get("tls").is_none());
    }

    #[test]
    fn tls_and_class_from_values() {
        let mut v = production();
        v.ingress.class_name = "nginx".into();
        let ing = ingress(&v);
        assert_eq!(ing["spec"]["ingressClassName"], "nginx");
        assert_eq!(ing["spec"]["tls"][0]["secretName"], "aiops-tls");
        assert_eq!(ing["spec"]["tls"][0]["hosts"][0], "aiops.example.com");
    }

    #[test]
    fn no_ingress_when_disabled() {
        let mut v = values();
        v.ingress.enabled = false;
        assert!(!has(&render_all(&v), "ingress"));
    }
}
