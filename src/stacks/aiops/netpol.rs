//! NetworkPolicies (`networkPolicy.enabled`): every pod of the release accepts only
//! the platform's own flows, listed once in [`flows`], rendered by the kit
//! (`crate::stacks::kit::netpol`, which says what `networkPolicy.defaultDeny` adds).
//!
//! Peers are pods of this release (selected by component labels), "anywhere" (the
//! edge, shippers, notification targets, external data services), the API server,
//! the nodes (node-exporter in the host network) and an ingress controller of the
//! user's (`networkPolicy.ingressController`, when the Ingress is not served by the
//! release's Traefik). Policies select pods of this release only, so other
//! workloads sharing the namespace keep their own rules.

use std::collections::{BTreeMap, BTreeSet};

use super::Ctx;
use super::connections::{ALERTMANAGER_PORT, ES_PORT, POSTGRES_PORT, PROMETHEUS_PORT, REDIS_PORT};
use super::values::Values;
use super::{
    alertmanager, elasticsearch, exporters, grafana, inhouse, kibana, logstash, postgresql,
    prometheus, redis, traefik,
};
use crate::model::{API_SERVER_PORTS, Flow, Peer, Proto, Rendered, tcp, with_pods};
use crate::stacks::kit::netpol;

/// Port of an external service's URL (`http(s)://host[:port]`).
fn url_port(url: &str) -> u16 {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(if url.starts_with("https") {
            443
        } else {
            ES_PORT
        })
}

/// Every flow the platform needs between the components that are rendered.
pub fn flows(ctx: &Ctx<'_>, present: &BTreeSet<&'static str>) -> Vec<Flow> {
    use Peer::{Anywhere, ApiServer, Pods};
    let v: &Values = ctx.values;
    let has = |c: &str| present.contains(c);
    let mut out = Vec::new();
    let mut add = |from: Peer, to: Peer, ports: Vec<(Proto, u16)>| {
        let known = |p: &Peer| match p {
            Pods(c) => has(c),
            _ => true,
        };
        if known(&from) && known(&to) {
            out.push(Flow { from, to, ports });
        }
    };
    let inhouse: Vec<(&'static str, u16)> = inhouse::Kind::ALL
        .iter()
        .map(|k| (k.component(), k.values(v).port))
        .filter(|(c, _)| has(c))
        .collect();

    // The edge.
    add(
        Anywhere,
        Pods(traefik::COMPONENT),
        tcp(&[traefik::WEB_PORT, traefik::WEBSECURE_PORT]),
    );
    add(Pods(traefik::COMPONENT), ApiServer, tcp(&API_SERVER_PORTS));
    if v.ingress.enabled {
        // Whoever serves the Ingress's class reaches the routed services.
        let router = if routed_by_own_traefik(ctx) {
            Pods(traefik::COMPONENT)
        } else {
            Peer::IngressController
        };
        for (backend, port) in [
            (grafana::COMPONENT, grafana::PORT),
            (prometheus::COMPONENT, PROMETHEUS_PORT),
            (kibana::COMPONENT, kibana::PORT),
        ] {
            add(router.clone(), Pods(backend), tcp(&[port]));
        }
        for (c, port) in &inhouse {
            if *c != inhouse::Kind::SelfHealing.component() {
                add(router.clone(), Pods(c), tcp(&[*port]));
            }
        }
    }

    // Monitoring: Prometheus reads the API (service discovery), scrapes, alerts.
    add(
        Pods(prometheus::COMPONENT),
        ApiServer,
        tcp(&API_SERVER_PORTS),
    );
    for (target, port) in [
        (traefik::COMPONENT, traefik::ADMIN_PORT),
        (grafana::COMPONENT, grafana::PORT),
        (alertmanager::COMPONENT, ALERTMANAGER_PORT),
        (exporters::KSM, exporters::KSM_PORT),
        (postgresql::COMPONENT, postgresql::METRICS_PORT),
    ] {
        add(Pods(prometheus::COMPONENT), Pods(target), tcp(&[port]));
    }
    if has(exporters::NODE_EXPORTER) {
        if v.node_exporter.host_network {
            // Host network: the pods' addresses are the nodes'.
            add(
                Pods(prometheus::COMPONENT),
                Anywhere,
                tcp(&[v.node_exporter.port]),
            );
        } else {
            add(
                Pods(prometheus::COMPONENT),
                Pods(exporters::NODE_EXPORTER),
                tcp(&[v.node_exporter.port]),
            );
        }
    }
    add(Pods(exporters::KSM), ApiServer, tcp(&API_SERVER_PORTS));
    add(
        Pods(grafana::COMPONENT),
        Pods(prometheus::COMPONENT),
        tcp(&[PROMETHEUS_PORT]),
    );
    add(
        Pods(grafana::COMPONENT),
        Pods(alertmanager::COMPONENT),
        tcp(&[ALERTMANAGER_PORT]),
    );
    if v.alertmanager.replicas > 1 {
        add(
            Pods(alertmanager::COMPONENT),
            Pods(alertmanager::COMPONENT),
            vec![
                (Proto::Tcp, alertmanager::CLUSTER_PORT),
                (Proto::Udp, alertmanager::CLUSTER_PORT),
            ],
        );
    }
    // Notifications go wherever the receivers are (SMTP, Slack, webhooks).
    add(Pods(alertmanager::COMPONENT), Anywhere, vec![]);

    // Logs: shippers anywhere send to Logstash; Elasticsearch's clients.
    add(
        Anywhere,
        Pods(logstash::COMPONENT),
        tcp(&[logstash::BEATS_PORT, logstash::HTTP_INPUT_PORT]),
    );
    let es_target = match &ctx.conn.elasticsearch {
        Some(es) if es.internal => Some((Pods(elasticsearch::COMPONENT), ES_PORT)),
        Some(es) => Some((Anywhere, url_port(&es.url))),
        None => None,
    };
    if let Some((target, port)) = es_target {
        let mut clients = vec![
            logstash::COMPONENT,
            kibana::COMPONENT,
            kibana::SETUP,
            grafana::COMPONENT,
        ];
        clients.extend(inhouse.iter().map(|(c, _)| *c));
        for c in clients {
            add(Pods(c), target.clone(), tcp(&[port]));
        }
    }
    if v.elasticsearch.replicas > 1 {
        add(
            Pods(elasticsearch::COMPONENT),
            Pods(elasticsearch::COMPONENT),
            tcp(&[ES_PORT, elasticsearch::TRANSPORT_PORT]),
        );
    }

    // Data services of the in-house services.
    let redis_target = match &ctx.conn.redis {
        Some(r) if r.internal => Some(Pods(redis::COMPONENT)),
        Some(_) => Some(Anywhere),
        None => None,
    };
    let redis_port = ctx.conn.redis.as_ref().map_or(REDIS_PORT, |r| r.port);
    let pg_target = match &ctx.conn.postgresql {
        Some(p) if p.internal => Some(Pods(postgresql::COMPONENT)),
        Some(_) => Some(Anywhere),
        None => None,
    };
    let pg_port = ctx
        .conn
        .postgresql
        .as_ref()
        .map_or(POSTGRES_PORT, |p| p.port);
    for (c, port) in &inhouse {
        if let Some(t) = &redis_target {
            add(Pods(c), t.clone(), tcp(&[redis_port]));
        }
        if let Some(t) = &pg_target {
            add(Pods(c), t.clone(), tcp(&[pg_port]));
        }
        add(
            Pods(c),
            Pods(prometheus::COMPONENT),
            tcp(&[PROMETHEUS_PORT]),
        );
        add(
            Pods(c),
            Pods(alertmanager::COMPONENT),
            tcp(&[ALERTMANAGER_PORT]),
        );
        add(Pods(prometheus::COMPONENT), Pods(c), tcp(&[*port]));
        for (other, other_port) in &inhouse {
            if other != c {
                add(Pods(c), Pods(other), tcp(&[*other_port]));
            }
        }
    }
    if has(inhouse::Kind::SelfHealing.component()) {
        add(
            Pods(inhouse::Kind::SelfHealing.component()),
            ApiServer,
            tcp(&API_SERVER_PORTS),
        );
    }
    // Connectivity probes (`stackctl test`) reach each service where the apps do.
    let probe_targets: [(&'static str, u16); 9] = [
        (elasticsearch::COMPONENT, ES_PORT),
        (redis::COMPONENT, REDIS_PORT),
        (postgresql::COMPONENT, POSTGRES_PORT),
        (traefik::COMPONENT, traefik::ADMIN_PORT),
        (prometheus::COMPONENT, PROMETHEUS_PORT),
        (alertmanager::COMPONENT, ALERTMANAGER_PORT),
        (grafana::COMPONENT, grafana::PORT),
        (logstash::COMPONENT, logstash::API_PORT),
        (kibana::COMPONENT, kibana::PORT),
    ];
    for (target, port) in probe_targets {
        add(Peer::Probes, Pods(target), tcp(&[port]));
    }
    if v.redis.cluster.enabled {
        add(
            Pods(redis::COMPONENT),
            Pods(redis::COMPONENT),
            tcp(&[REDIS_PORT, redis::BUS_PORT]),
        );
        add(
            Pods(redis::CLUSTER_INIT),
            Pods(redis::COMPONENT),
            tcp(&[REDIS_PORT]),
        );
    }
    out
}

/// Whether the release's Traefik serves the Ingress: it is on and the Ingress has
/// its class (`ingress.className` empty, or naming that class).
fn routed_by_own_traefik(ctx: &Ctx<'_>) -> bool {
    let v = ctx.values;
    v.traefik.enabled
        && (v.ingress.class_name.is_empty()
            || v.ingress.class_name == traefik::ingress_class_name(ctx.release))
}

/// Renders after every other component: `rendered` tells which pods exist.
pub fn render(ctx: &Ctx<'_>, rendered: &[Rendered]) -> Option<Rendered> {
    let np = &ctx.values.network_policy;
    if !np.enabled {
        return None;
    }
    // Components with pods; NetworkPolicies govern those outside the host network.
    let all_present = with_pods(rendered);
    let mut governed = all_present.clone();
    if ctx.values.node_exporter.host_network {
        governed.remove(exporters::NODE_EXPORTER);
    }
    let settings = netpol::Settings {
        default_deny: np.default_deny,
        dns: &np.dns,
        ingress_controller: &np.ingress_controller.peers,
        other_clients: BTreeMap::new(),
    };
    Some(netpol::render(
        ctx.release,
        &settings,
        &flows(ctx, &all_present),
        &governed,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;
    use super::*;
    use crate::model::Capabilities;
    use crate::stacks::aiops::values::PolicyPeer;
    use crate::stacks::kit::netpol::COMPONENT;

    fn policies(v: &Values) -> Vec<crate::model::Manifest> {
        let all = render_all(v);
        if !has(&all, COMPONENT) {
            return Vec::new();
        }
        component(&all, COMPONENT).manifests.clone()
    }

    fn named<'a>(ps: &'a [crate::model::Manifest], name: &str) -> &'a serde_json::Value {
        &ps.iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no NetworkPolicy {name}"))
            .body
    }

    /// `(from component or "*", ports)` of each ingress rule of a policy.
    fn sources(p: &serde_json::Value) -> Vec<(String, Vec<i64>)> {
        p["spec"]["ingress"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let labels = &r["from"][0]["podSelector"]["matchLabels"];
                let from = match (
                    labels["app.kubernetes.io/component"].as_str(),
                    labels["app.kubernetes.io/name"].as_str(),
                ) {
                    (Some(c), _) => c.to_string(),
                    (None, Some("stackctl-probe")) => "probe".to_string(),
                    _ => "*".to_string(),
                };
                let ports = r["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| p["port"].as_i64().unwrap())
                    .collect();
                (from, ports)
            })
            .collect()
    }

    #[test]
    fn absent_unless_enabled() {
        assert!(!policies(&values()).is_empty(), "on by default");
        let mut v = values();
        v.network_policy.enabled = false;
        assert!(policies(&v).is_empty());
        v.network_policy.default_deny = true;
        assert!(policies(&v).is_empty(), "defaultDeny alone does nothing");
    }

    #[test]
    fn ingress_only_policies_without_default_deny() {
        let mut v = values();
        v.network_policy.enabled = true;
        let ps = policies(&v);
        assert!(
            ps.iter()
                .all(|m| m.kind == "NetworkPolicy" && m.phase.as_str() == "storage")
        );
        assert!(ps.iter().all(|m| m.name != "ops-default-deny"));
        for m in &ps {
            assert_eq!(
                m.body["spec"]["policyTypes"],
                serde_json::json!(["Ingress"]),
                "{}",
                m.name
            );
        }
        // Traefik reaches the apps it routes to, and nothing else reaches Grafana
        // but Prometheus (scraping).
        let grafana = sources(named(&ps, "ops-grafana"));
        assert!(
            grafana.contains(&("traefik".into(), vec![3000])),
            "{grafana:?}"
        );
        assert!(
            grafana.contains(&("prometheus".into(), vec![3000])),
            "{grafana:?}"
        );
        assert!(
            grafana.contains(&("probe".into(), vec![3000])),
            "{grafana:?}"
        );
        assert_eq!(grafana.len(), 3, "{grafana:?}");
        let kibana = sources(named(&ps, "ops-kibana"));
        assert_eq!(
            kibana,
            vec![
                ("traefik".to_string(), vec![5601]),
                ("probe".to_string(), vec![5601])
            ]
        );
        // The edge is open to anyone on its entry points.
        let edge = sources(named(&ps, "ops-traefik"));
        assert!(edge.contains(&("*".into(), vec![8000, 8443])), "{edge:?}");
        // Data services: only their clients.
        let es = sources(named(&ps, "ops-elasticsearch"));
        for client in [
            "logstash",
            "kibana",
            "kibana-setup",
            "grafana",
            "ai-engine",
            "api-gateway",
            "self-healing",
        ] {
            assert!(
                es.contains(&(client.into(), vec![9200])),
                "{client}: {es:?}"
            );
        }
        assert!(
            es.iter().all(|(from, _)| from != "traefik" && from != "*"),
            "{es:?}"
        );
        let pg = sources(named(&ps, "ops-postgresql"));
        assert!(pg.contains(&("ai-engine".into(), vec![5432])), "{pg:?}");
        assert!(pg.contains(&("prometheus".into(), vec![9187])), "{pg:?}");
        let redis = sources(named(&ps, "ops-redis"));
        assert!(
            redis.contains(&("self-healing".into(), vec![6379])),
            "{redis:?}"
        );
        // Policies select pods of this release's components.
        let sel = &named(&ps, "ops-redis")["spec"]["podSelector"]["matchLabels"];
        assert_eq!(sel["app.kubernetes.io/instance"], "ops");
        assert_eq!(sel["app.kubernetes.io/component"], "redis");
    }

    #[test]
    fn default_deny_adds_egress_dns_and_api_server() {
        // node-exporter in the pod network first: then it has a policy.
        let mut pod_network = production();
        pod_network.node_exporter.host_network = false;
        let ps = policies(&pod_network);
        let deny = named(&ps, "ops-default-deny");
        assert_eq!(
            deny["spec"]["policyTypes"],
            serde_json::json!(["Ingress", "Egress"])
        );
        assert_eq!(deny["spec"]["ingress"], serde_json::json!([]));
        assert_eq!(deny["spec"]["egress"], serde_json::json!([]));
        assert_eq!(
            deny["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"],
            "ops"
        );
        let dns = named(&ps, "ops-allow-dns");
        assert_eq!(dns["spec"]["egress"].as_array().unwrap().len(), 1);

        let prom = named(&ps, "ops-prometheus");
        let egress = prom["spec"]["egress"].as_array().unwrap();
        // API server (no `to`) and scrape targets, node-exporter's pods included.
        assert!(
            egress
                .iter()
                .any(|r| r.get("to").is_none() && r["ports"][0]["port"] == 443)
        );
        let component_of = |r: &serde_json::Value| {
            r["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"].clone()
        };
        assert!(
            egress
                .iter()
                .any(|r| component_of(r) == "node-exporter" && r["ports"][0]["port"] == 9100)
        );
        assert!(egress.iter().any(
            |r| r["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                == "kube-state-metrics"
        ));
        // Kibana may talk to Elasticsearch only.
        let kibana = named(&ps, "ops-kibana");
        let to: Vec<_> = kibana["spec"]["egress"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"].clone()
            })
            .collect();
        assert_eq!(to, vec![serde_json::json!("elasticsearch")]);
        // Cluster peers talk to each other.
        let es = sources(named(&ps, "ops-elasticsearch"));
        assert!(
            es.contains(&("elasticsearch".into(), vec![9200, 9300])),
            "{es:?}"
        );
        let redis = sources(named(&ps, "ops-redis"));
        assert!(
            redis.contains(&("redis".into(), vec![6379, 16379])),
            "{redis:?}"
        );
        assert!(
            redis.contains(&("redis-cluster-init".into(), vec![6379])),
            "{redis:?}"
        );
        // The self-healing executor reaches the API server.
        let sh = named(&ps, "ops-self-healing");
        assert!(
            sh["spec"]["egress"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["ports"][0]["port"] == 6443 || r["ports"][1]["port"] == 6443)
        );
        // Probes reach the services and go anywhere.
        let probes = named(&ps, "ops-probes");
        assert_eq!(
            probes["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
            "stackctl-probe"
        );
        assert_eq!(probes["spec"]["egress"], serde_json::json!([{}]));
        let pg = &named(&ps, "ops-postgresql")["spec"]["ingress"];
        assert!(
            pg.as_array().unwrap().iter().any(
                |r| r["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                    == "stackctl-probe"
            )
        );
        let ne = sources(named(&ps, "ops-node-exporter"));
        assert_eq!(ne, vec![("prometheus".to_string(), vec![9100])]);
        // No policy for host-network pods; Prometheus reaches them at the nodes.
        let mut v = production();
        v.node_exporter.host_network = true;
        let ps = policies(&v);
        assert!(ps.iter().all(|m| m.name != "ops-node-exporter"));
        let prom = named(&ps, "ops-prometheus");
        let egress = prom["spec"]["egress"].as_array().unwrap();
        assert!(
            egress
                .iter()
                .any(|r| r.get("to").is_none() && r["ports"][0]["port"] == 9100)
        );
    }

    /// Values for every AIOps profile, and a few variants of the everything-on
    /// test values, all under default deny.
    fn denied_variants() -> Vec<(String, Values)> {
        use crate::stacks::Stack;
        use crate::values::{Layer, SetFlag};
        use rand::SeedableRng;

        let mut out = Vec::new();
        for p in crate::profiles::builtin()
            .into_iter()
            .filter(|p| p.stack == super::super::NAME)
        {
            let mut sets: Vec<SetFlag> = p
                .requires
                .iter()
                .map(|r| SetFlag::json(format!("{}={}", r.key, r.example.as_ref().unwrap())))
                .collect();
            sets.push(SetFlag::set(
                "networkPolicy.enabled=true,networkPolicy.defaultDeny=true",
            ));
            let resolved = super::super::STACK
                .resolve(
                    &[
                        Layer::defaults(super::super::DEFAULTS_YAML),
                        Layer::profile(&p.name, &p.source, p.yaml.clone()),
                    ],
                    &sets,
                    &mut rand::rngs::StdRng::seed_from_u64(1),
                )
                .unwrap_or_else(|e| panic!("profile {}: {e}", p.name));
            let v: Values = serde_json::from_value(resolved.tree).unwrap();
            out.push((format!("profile {}", p.name), v));
        }
        out.push(("everything on".into(), production()));
        let mut v = production();
        v.node_exporter.host_network = false;
        out.push(("node-exporter in the pod network".into(), v));
        let mut v = production();
        v.elasticsearch.enabled = false;
        v.elasticsearch.external.url = "https://es.example.com:9243".into();
        v.elasticsearch.external.password = "x".into();
        v.redis.enabled = false;
        v.redis.external.host = "redis.example.com".into();
        v.postgresql.enabled = false;
        v.postgresql.external.host = "pg.example.com".into();
        v.postgresql.external.password = "x".into();
        out.push(("external data services".into(), v));
        out
    }

    /// Components with pods outside the node's network: those policies govern.
    fn governed(all: &[Rendered]) -> Vec<&'static str> {
        all.iter()
            .filter(|r| {
                let pods: Vec<&serde_json::Value> = r
                    .manifests
                    .iter()
                    .filter(|m| {
                        matches!(
                            m.kind.as_str(),
                            "Deployment" | "StatefulSet" | "DaemonSet" | "Job"
                        )
                    })
                    .map(|m| &m.body["spec"]["template"]["spec"])
                    .collect();
                !pods.is_empty() && pods.iter().any(|p| p["hostNetwork"] != true)
            })
            .map(|r| r.name)
            .collect()
    }

    /// Under default deny a pod talks only along declared flows: a component
    /// with pods that the flow table does not know would start and then
    /// silently reach nothing, and nothing would reach it.
    #[test]
    fn every_component_with_pods_has_flows_under_default_deny() {
        let variants = denied_variants();
        // Flows of a client are only added when the client is rendered; with every
        // component any variant renders, a service whose clients are all off in
        // one profile (Redis without the in-house services) still has its flows.
        let everyone: BTreeSet<&'static str> = variants
            .iter()
            .flat_map(|(_, v)| governed(&render_all(v)))
            .collect();
        for (variant, v) in &variants {
            let all = render_all(v);
            let release = release();
            let ctx = Ctx::new(&release, v, Capabilities::latest());
            let table = flows(&ctx, &everyone);
            let ps = policies(v);
            let mut checked = 0;
            for c in governed(&all) {
                // stackctl's probes reach every service; they are no flow of the app's.
                let own = table.iter().any(|f| {
                    f.from != Peer::Probes && (f.from == Peer::Pods(c) || f.to == Peer::Pods(c))
                });
                assert!(
                    own,
                    "{variant}: {c} renders pods but has no flow in `flows()`; \
                     default deny would cut it off"
                );
                // And the table reaches the rendered policy.
                let name = release.object_name(c);
                let policy = ps
                    .iter()
                    .find(|m| m.name == name)
                    .unwrap_or_else(|| panic!("{variant}: {c} has pods but no policy"));
                let rules = |dir: &str| policy.body["spec"][dir].as_array().map_or(0, Vec::len);
                assert!(
                    rules("ingress") + rules("egress") > 0,
                    "{variant}: the policy of {c} allows nothing"
                );
                checked += 1;
            }
            assert!(checked > 5, "{variant}: only {checked} components checked");
        }
    }

    /// Every port a pod asks Prometheus to scrape (`prometheus.io/port`) is open
    /// from Prometheus, both ways: otherwise the target is down under the policies,
    /// and the alert rules that read it have no data.
    #[test]
    fn every_scraped_port_is_open_to_prometheus() {
        let ports_of = |r: &serde_json::Value| -> Vec<i64> {
            r["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| p["port"].as_i64().unwrap())
                .collect()
        };
        let component_of = |peers: &serde_json::Value| {
            peers[0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                .as_str()
                .map(str::to_string)
        };
        for (variant, v) in denied_variants() {
            let all = render_all(&v);
            let ps = policies(&v);
            let prom = named(&ps, "ops-prometheus");
            let egress = prom["spec"]["egress"].as_array().unwrap();
            let mut scraped = Vec::new();
            for r in &all {
                for m in &r.manifests {
                    let template = &m.body["spec"]["template"];
                    let annotations = &template["metadata"]["annotations"];
                    if annotations["prometheus.io/scrape"] != "true" {
                        continue;
                    }
                    let port: i64 = annotations["prometheus.io/port"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    scraped.push(r.name);
                    if template["spec"]["hostNetwork"] == true {
                        assert!(
                            egress
                                .iter()
                                .any(|e| e.get("to").is_none() && ports_of(e).contains(&port)),
                            "{variant}: Prometheus cannot reach {} at the nodes on {port}",
                            r.name
                        );
                        continue;
                    }
                    let target = named(&ps, &format!("ops-{}", r.name));
                    let admitted = target["spec"]["ingress"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|i| {
                            component_of(&i["from"]).as_deref() == Some(prometheus::COMPONENT)
                                && ports_of(i).contains(&port)
                        });
                    assert!(
                        admitted,
                        "{variant}: {} does not admit Prometheus on {port}",
                        r.name
                    );
                    let leaves = egress.iter().any(|e| {
                        component_of(&e["to"]).as_deref() == Some(r.name)
                            && ports_of(e).contains(&port)
                    });
                    assert!(
                        leaves,
                        "{variant}: Prometheus may not reach {} on {port}",
                        r.name
                    );
                }
            }
            assert!(
                scraped.contains(&traefik::COMPONENT),
                "{variant}: Traefik is not scraped: {scraped:?}"
            );
        }
    }

    #[test]
    fn external_services_are_reached_anywhere_on_their_port() {
        let mut v = production();
        v.elasticsearch.enabled = false;
        v.elasticsearch.external.url = "https://es.example.com:9243".into();
        v.elasticsearch.external.password = "x".into();
        let ps = policies(&v);
        let logstash = named(&ps, "ops-logstash");
        let rule = &logstash["spec"]["egress"][0];
        assert!(rule.get("to").is_none());
        assert_eq!(rule["ports"][0]["port"], 9243);
    }

    /// Under default deny, name resolution reaches kube-dns/CoreDNS pods (on 53 or
    /// behind a Service on 5353), NodeLocal DNSCache and GKE Cloud DNS, over UDP and
    /// TCP, and depends on no namespace label Kubernetes 1.20 lacks.
    #[test]
    fn dns_reaches_every_usual_resolver_on_1_20() {
        let ps = policies(&production());
        let rule = &named(&ps, "ops-allow-dns")["spec"]["egress"][0];
        assert_eq!(
            rule["to"],
            serde_json::json!([
                {"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}},
                {"ipBlock": {"cidr": "169.254.20.10/32"}},
                {"ipBlock": {"cidr": "169.254.169.254/32"}},
            ])
        );
        assert_eq!(
            rule["ports"],
            serde_json::json!([
                {"port": 53, "protocol": "UDP"},
                {"port": 53, "protocol": "TCP"},
                {"port": 5353, "protocol": "UDP"},
                {"port": 5353, "protocol": "TCP"},
            ])
        );
        for m in &ps {
            let body = serde_json::to_string(&m.body).unwrap();
            assert!(
                !body.contains("kubernetes.io/metadata.name"),
                "{} selects by a label 1.20 does not set",
                m.name
            );
        }
    }

    #[test]
    fn dns_peers_and_ports_come_from_the_values() {
        let mut v = production();
        v.network_policy.dns.peers = vec![PolicyPeer {
            pod_selector: Some(BTreeMap::from([("app".into(), "unbound".into())])),
            namespace_selector: Some(BTreeMap::from([("team".into(), "net".into())])),
            ip_block: None,
        }];
        v.network_policy.dns.ports = vec![5353];
        let ps = policies(&v);
        let rule = &named(&ps, "ops-allow-dns")["spec"]["egress"][0];
        assert_eq!(
            rule["to"],
            serde_json::json!([{
                "namespaceSelector": {"matchLabels": {"team": "net"}},
                "podSelector": {"matchLabels": {"app": "unbound"}},
            }])
        );
        assert_eq!(rule["ports"].as_array().unwrap().len(), 2);
        // No peers: the resolver may be anywhere, on those ports only.
        v.network_policy.dns.peers.clear();
        let ps = policies(&v);
        let rule = &named(&ps, "ops-allow-dns")["spec"]["egress"][0];
        assert!(rule.get("to").is_none(), "{rule}");
        assert_eq!(rule["ports"][0]["port"], 5353);
    }

    /// `(from, ports)` of the ingress rules of a routed service.
    fn routed_sources(v: &Values) -> Vec<(String, Vec<i64>)> {
        sources(named(&policies(v), "ops-grafana"))
    }

    #[test]
    fn an_ingress_controller_of_yours_reaches_the_routed_services() {
        // Traefik off, the Ingress served by another class: anyone may reach the
        // routed port (the controller is yours to place), the data services not.
        let mut v = production();
        v.traefik.enabled = false;
        v.ingress.class_name = "nginx".into();
        let g = routed_sources(&v);
        assert!(g.contains(&("*".into(), vec![3000])), "{g:?}");
        let es = sources(named(&policies(&v), "ops-elasticsearch"));
        assert!(es.iter().all(|(from, _)| from != "*"), "{es:?}");
        // Traefik on but not serving the class: the same.
        let mut v = production();
        v.ingress.class_name = "nginx".into();
        let g = routed_sources(&v);
        assert!(g.contains(&("*".into(), vec![3000])), "{g:?}");
        assert!(!g.iter().any(|(from, _)| from == "traefik"), "{g:?}");
        // The release's own class by name: Traefik.
        let mut v = production();
        v.ingress.class_name = "mon-ops-traefik".into();
        let g = routed_sources(&v);
        assert!(g.contains(&("traefik".into(), vec![3000])), "{g:?}");
        assert!(!g.iter().any(|(from, _)| from == "*"), "{g:?}");
        // Peers narrow it down.
        let mut v = production();
        v.traefik.enabled = false;
        v.ingress.class_name = "nginx".into();
        v.network_policy.ingress_controller.peers = vec![PolicyPeer {
            pod_selector: Some(BTreeMap::from([(
                "app.kubernetes.io/name".into(),
                "ingress-nginx".into(),
            )])),
            namespace_selector: Some(BTreeMap::new()),
            ip_block: None,
        }];
        let ps = policies(&v);
        let rules = named(&ps, "ops-api-gateway")["spec"]["ingress"].clone();
        assert!(
            rules.as_array().unwrap().iter().any(|r| r["from"]
                == serde_json::json!([{
                    "namespaceSelector": {},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
                }])
                && r["ports"][0]["port"] == 8080),
            "{rules}"
        );
        let grafana = named(&ps, "ops-grafana")["spec"]["ingress"].clone();
        assert!(
            grafana
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r.get("from").is_some()),
            "no rule from anywhere: {grafana}"
        );
    }

    /// The table as the engine asks for it (`Stack::flows`), whether or not the
    /// values render policies from it.
    #[test]
    fn the_stack_declares_its_flows_for_each_profile() {
        use Peer::{Anywhere, ApiServer, Pods, Probes};
        let flows_of = |profile: &str| {
            let r = crate::stacks::testing::resolve(profile, &[]);
            r.stack.flows(&r.values, &r.release).unwrap()
        };
        let has = |flows: &[Flow], from: &Peer, to: &Peer, ports: &[(Proto, u16)]| {
            flows
                .iter()
                .any(|f| &f.from == from && &f.to == to && f.ports == ports)
        };
        let minimal = flows_of("aiops-minimal");
        for (from, to, ports) in [
            (Anywhere, Pods("traefik"), tcp(&[8000, 8443])),
            (Pods("prometheus"), ApiServer, tcp(&API_SERVER_PORTS)),
            (Pods("prometheus"), Pods("node-exporter"), tcp(&[9100])),
            (Pods("grafana"), Pods("prometheus"), tcp(&[9090])),
            (Pods("logstash"), Pods("elasticsearch"), tcp(&[9200])),
            (Pods("kibana"), Pods("elasticsearch"), tcp(&[9200])),
            (Probes, Pods("grafana"), tcp(&[3000])),
        ] {
            assert!(
                has(&minimal, &from, &to, &ports),
                "{from} → {to}: {minimal:#?}"
            );
        }
        assert!(
            minimal
                .iter()
                .all(|f| f.from != Pods("ai-engine") && f.to != Pods("ai-engine")),
            "the in-house services are off: {minimal:#?}"
        );
        let production = flows_of("aiops-production");
        for (from, to, ports) in [
            (
                Pods("alertmanager"),
                Pods("alertmanager"),
                vec![(Proto::Tcp, 9094), (Proto::Udp, 9094)],
            ),
            (Pods("ai-engine"), Pods("postgresql"), tcp(&[5432])),
            (Pods("api-gateway"), Pods("redis"), tcp(&[6379])),
            (Pods("self-healing"), ApiServer, tcp(&API_SERVER_PORTS)),
        ] {
            assert!(
                has(&production, &from, &to, &ports),
                "{from} → {to}: {production:#?}"
            );
        }
    }
}
