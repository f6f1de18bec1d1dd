//! Every connection ClickVisual's components open ([`flows`]), read off what they
//! are rendered to do: ClickVisual and its schema Job to MySQL, ClickVisual to
//! Redis (multi-copy mode only) and ClickHouse, ClickHouse's Kafka engine tables
//! and Fluent Bit to Kafka, Kafka to ZooKeeper, Fluent Bit and Prometheus to the
//! API server, Prometheus to its scrape targets, members of a cluster to each other,
//! the Ingress (or a NodePort/LoadBalancer Service) to ClickVisual, and stackctl's
//! probes to every service they check.
//!
//! Ports are the pods' (container) ports, which NetworkPolicies see, not the
//! Services': ClickVisual's Service may publish another port than the pod's.
//!
//! ClickVisual itself may reach any address: it sends alert notifications to the
//! webhooks its UI is given (DingTalk, Feishu, Slack, …), signs users in through
//! the OAuth providers of its configuration, and reads the Kubernetes clusters a
//! user registers in its UI; all of them are data, not values, and may be
//! anywhere on any port. Other clients of the release's Kafka (producers of
//! yours) are [`Peer::OtherClients`], whom `networkPolicy.kafkaFrom` names.
//!
//! These flows are also what the NetworkPolicies are rendered from
//! ([`policies`], with the kit's `netpol`).
//!
//! Not listed, each for a reason:
//! - DNS: every pod resolves names; the resolvers are the cluster's, not the
//!   release's, and the policies allow DNS separately (`networkPolicy.dns`).
//! - The kubelet's liveness and readiness probes: NetworkPolicies do not apply to
//!   traffic from a pod's own node.
//! - Prometheus scraping itself (`localhost`), Kafka in KRaft mode with one broker
//!   reaching its own controller: a pod cannot block access to itself.
//! - ClickVisual to Kafka: ClickVisual hands the brokers to ClickHouse's Kafka engine
//!   tables, which consume; it opens no connection of its own.
//! - `kubectl port-forward` to ClickVisual: it enters the pod through the kubelet.

use std::collections::{BTreeMap, BTreeSet};

use super::connections::Connections;
use super::values::{ServiceType, Values};
use super::{Ctx, app, clickhouse, fluentbit, kafka, mysql, redis, schema, zookeeper};
use crate::model::{API_SERVER_PORTS, Flow, Peer, Proto, Release, Rendered, tcp, with_pods};
use crate::stacks::kit::{netpol, prometheus, redis as kit_redis};

/// A port constant of the renderers (Kubernetes spells them `i32`) as a flow's.
fn port(p: i32) -> u16 {
    u16::try_from(p).expect("container ports are 1-65535")
}

/// The port of a `host:port` broker address; Kafka's own when none is given.
fn broker_port(broker: &str) -> u16 {
    broker
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(port(kafka::PORT))
}

/// Where a dependency is, as a peer: the component's pods when the release runs
/// it, else anywhere (an external service).
fn dependency(internal: bool, component: &'static str) -> Peer {
    if internal {
        Peer::Pods(component)
    } else {
        Peer::Anywhere
    }
}

/// Redis's port: the pods' when internal, the address's when external.
fn redis_port(r: &super::connections::Redis) -> u16 {
    if r.internal { kit_redis::PORT } else { r.port }
}

/// Kafka's brokers as a peer, with the ports they listen on.
fn brokers(k: &super::connections::Kafka) -> (Peer, Vec<u16>) {
    if k.internal {
        return (Peer::Pods(kafka::COMPONENT), vec![port(kafka::PORT)]);
    }
    let mut ports: Vec<u16> = k.brokers.iter().map(|b| broker_port(b)).collect();
    ports.sort_unstable();
    ports.dedup();
    (Peer::Anywhere, ports)
}

/// Every flow between the components the values render with pods (see the module
/// documentation for what is left out).
pub fn flows(values: &Values, release: &Release) -> Vec<Flow> {
    let caps = crate::model::Capabilities::latest();
    let present = with_pods(&super::render(values, release, caps));
    let ctx = Ctx::new(release, values, caps);
    of_present(&ctx, &present)
}

/// The flows of [`table`] whose components in the release all have pods.
fn of_present(ctx: &Ctx<'_>, present: &BTreeSet<&'static str>) -> Vec<Flow> {
    table(ctx)
        .into_iter()
        .filter(|f| {
            [&f.from, &f.to]
                .into_iter()
                .all(|p| !matches!(p, Peer::Pods(c) if !present.contains(c)))
        })
        .collect()
}

/// The NetworkPolicies (`networkPolicy.enabled`), from the flows between the
/// components in `rendered`; rendered last, as they follow from which have pods
/// (none of ClickVisual's runs in the host network).
pub fn policies(ctx: &Ctx<'_>, rendered: &[Rendered]) -> Option<Rendered> {
    let np = &ctx.values.network_policy;
    if !np.enabled {
        return None;
    }
    let present = with_pods(rendered);
    let settings = netpol::Settings {
        default_deny: np.default_deny,
        dns: &np.dns,
        ingress_controller: &np.ingress_from,
        other_clients: BTreeMap::from([(kafka::COMPONENT, np.kafka_from.as_slice())]),
    };
    Some(netpol::render(
        ctx.release,
        &settings,
        &of_present(ctx, &present),
        &present,
    ))
}

/// The flows the values call for, before dropping those of components without pods.
fn table(ctx: &Ctx<'_>) -> Vec<Flow> {
    use Peer::{Anywhere, ApiServer, Pods, Probes};
    let v = ctx.values;
    let conn: &Connections = &ctx.conn;
    let mut out = Vec::new();
    let mut add = |from: Peer, to: Peer, ports: Vec<(Proto, u16)>| {
        out.push(Flow { from, to, ports });
    };
    let cv = Pods(app::COMPONENT);

    // Who reaches ClickVisual's UI and API.
    if v.ingress.enabled {
        add(Peer::IngressController, cv.clone(), tcp(&[app::HTTP_PORT]));
    }
    if !matches!(v.clickvisual.service.type_, ServiceType::ClusterIP) {
        add(Anywhere, cv.clone(), tcp(&[app::HTTP_PORT]));
    }
    // Alert webhooks, OAuth providers, registered clusters (module documentation).
    add(cv.clone(), Anywhere, vec![]);

    // MySQL: ClickVisual's metadata, the schema Job's migrations.
    let m = &conn.mysql;
    let (mysql_peer, mysql_port) = if m.internal {
        (Pods(mysql::COMPONENT), port(mysql::PORT))
    } else {
        (Anywhere, m.port)
    };
    for client in [app::COMPONENT, schema::COMPONENT] {
        add(Pods(client), mysql_peer.clone(), tcp(&[mysql_port]));
    }

    // Redis: sessions, in multi-copy mode only.
    if let Some(r) = app::redis_used(ctx) {
        add(
            cv.clone(),
            dependency(r.internal, redis::COMPONENT),
            tcp(&[redis_port(r)]),
        );
    }

    // ClickHouse: ClickVisual queries it over the native protocol (its DSN).
    if let Some(c) = &conn.clickhouse {
        let native = if c.internal {
            port(clickhouse::NATIVE_PORT)
        } else {
            c.port
        };
        add(
            cv.clone(),
            dependency(c.internal, clickhouse::COMPONENT),
            tcp(&[native]),
        );
        if c.internal && clickhouse::clustered(&v.clickhouse) {
            let ch = Pods(clickhouse::COMPONENT);
            add(
                ch.clone(),
                ch,
                [
                    clickhouse::NATIVE_PORT,
                    clickhouse::INTERSERVER_PORT,
                    clickhouse::KEEPER_PORT,
                    clickhouse::RAFT_PORT,
                ]
                .into_iter()
                .map(|p| (Proto::Tcp, port(p)))
                .collect(),
            );
        }
    }

    // Kafka: Fluent Bit produces, ClickHouse's Kafka engine tables consume.
    if let Some(k) = &conn.kafka {
        let (target, ports) = brokers(k);
        for client in [fluentbit::COMPONENT, clickhouse::COMPONENT] {
            add(Pods(client), target.clone(), tcp(&ports));
        }
        if k.internal {
            add(
                Peer::OtherClients(kafka::COMPONENT),
                Pods(kafka::COMPONENT),
                tcp(&ports),
            );
        }
        if k.internal && v.kafka.replicas > 1 {
            // Replication; in KRaft mode the brokers are also the controllers.
            let mut ports = vec![port(kafka::PORT)];
            if !zookeeper::used(ctx) {
                ports.push(port(kafka::CONTROLLER_PORT));
            }
            add(Pods(kafka::COMPONENT), Pods(kafka::COMPONENT), tcp(&ports));
        }
    }
    if zookeeper::used(ctx) {
        let zk = Pods(zookeeper::COMPONENT);
        add(
            Pods(kafka::COMPONENT),
            zk.clone(),
            tcp(&[port(zookeeper::CLIENT_PORT)]),
        );
        if v.zookeeper.replicas > 1 {
            add(
                zk.clone(),
                zk,
                tcp(&[port(zookeeper::PEER_PORT), port(zookeeper::ELECTION_PORT)]),
            );
        }
    }

    // The kubernetes filter reads pod metadata.
    add(
        Pods(fluentbit::COMPONENT),
        ApiServer,
        tcp(&API_SERVER_PORTS),
    );

    // Prometheus discovers pods through the API and scrapes them directly.
    let prom = Pods(prometheus::COMPONENT);
    add(prom.clone(), ApiServer, tcp(&API_SERVER_PORTS));
    add(prom.clone(), cv.clone(), tcp(&[app::GOVERNOR_PORT]));
    add(
        prom,
        Pods(fluentbit::COMPONENT),
        tcp(&[port(fluentbit::HTTP_PORT)]),
    );

    // Connectivity probes check each service where the apps reach it, external
    // ones included.
    add(Probes, mysql_peer, tcp(&[mysql_port]));
    if let Some(r) = &conn.redis {
        add(
            Probes,
            dependency(r.internal, redis::COMPONENT),
            tcp(&[redis_port(r)]),
        );
    }
    if let Some(c) = &conn.clickhouse {
        let ports = if c.internal {
            vec![port(clickhouse::HTTP_PORT), port(clickhouse::NATIVE_PORT)]
        } else {
            vec![c.http_port, c.port]
        };
        add(
            Probes,
            dependency(c.internal, clickhouse::COMPONENT),
            tcp(&ports),
        );
    }
    if zookeeper::used(ctx) {
        add(
            Probes,
            Pods(zookeeper::COMPONENT),
            tcp(&[port(zookeeper::CLIENT_PORT)]),
        );
    }
    if let Some(k) = &conn.kafka {
        let (target, ports) = brokers(k);
        add(Probes, target, tcp(&ports));
    }
    add(Probes, cv, tcp(&[app::HTTP_PORT]));
    add(
        Probes,
        Pods(fluentbit::COMPONENT),
        tcp(&[port(fluentbit::HTTP_PORT)]),
    );
    add(
        Probes,
        Pods(prometheus::COMPONENT),
        tcp(&[prometheus::PORT]),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{release, values};
    use super::*;
    use crate::stacks::testing::resolve;

    fn has(flows: &[Flow], from: &Peer, to: &Peer, ports: &[u16]) -> bool {
        flows
            .iter()
            .any(|f| &f.from == from && &f.to == to && f.ports == tcp(ports))
    }

    fn of_profile(name: &str) -> Vec<Flow> {
        let r = resolve(name, &[]);
        r.stack.flows(&r.values, &r.release).unwrap()
    }

    #[test]
    fn minimal_has_the_pipeline_and_no_zookeeper_redis_or_prometheus() {
        use Peer::{ApiServer, Pods, Probes};
        let flows = of_profile("minimal");
        let cv = Pods("clickvisual");
        for (from, to, ports) in [
            (&cv, Pods("mysql"), &[3306][..]),
            (&Pods("clickvisual-schema"), Pods("mysql"), &[3306]),
            (&cv, Pods("clickhouse"), &[9000]),
            (&Pods("fluentbit"), Pods("kafka"), &[9092]),
            (&Pods("clickhouse"), Pods("kafka"), &[9092]),
            (&Pods("fluentbit"), ApiServer, &[443, 6443]),
            (&Probes, cv.clone(), &[19001]),
            (&Probes, Pods("clickhouse"), &[8123, 9000]),
            (&Probes, Pods("fluentbit"), &[2020]),
        ] {
            assert!(has(&flows, from, &to, ports), "{from} → {to}: {flows:#?}");
        }
        for absent in ["zookeeper", "redis", "prometheus"] {
            assert!(
                !flows
                    .iter()
                    .any(|f| f.from == Pods(absent) || f.to == Pods(absent)),
                "{absent}: {flows:#?}"
            );
        }
        // No Ingress, a ClusterIP Service: nobody from outside.
        assert!(
            flows
                .iter()
                .all(|f| f.to != cv || matches!(f.from, Pods(_) | Probes)),
            "{flows:#?}"
        );
    }

    #[test]
    fn production_adds_redis_zookeeper_the_ingress_and_cluster_peers() {
        use Peer::{IngressController, Pods};
        let flows = of_profile("production");
        let cv = Pods("clickvisual");
        for (from, to, ports) in [
            (&IngressController, cv.clone(), &[19001][..]),
            (&cv, Pods("redis"), &[6379]),
            (&Pods("kafka"), Pods("zookeeper"), &[2181]),
            (&Pods("kafka"), Pods("kafka"), &[9092]),
            (&Pods("zookeeper"), Pods("zookeeper"), &[2888, 3888]),
            (
                &Pods("clickhouse"),
                Pods("clickhouse"),
                &[9000, 9009, 9181, 9234],
            ),
        ] {
            assert!(has(&flows, from, &to, ports), "{from} → {to}: {flows:#?}");
        }
    }

    #[test]
    fn external_services_are_reached_anywhere_on_their_own_ports() {
        let mut v = values();
        v.mysql.enabled = false;
        v.mysql.external.host = "db.example.com".into();
        v.mysql.external.port = 3307;
        v.kafka.enabled = false;
        v.kafka.external.brokers = vec!["k1.example.com:19092".into(), "k2.example.com".into()];
        v.prometheus.enabled = true;
        v.clickvisual.service.type_ = ServiceType::NodePort;
        let flows = flows(&v, &release());
        let cv = Peer::Pods("clickvisual");
        assert!(has(&flows, &cv, &Peer::Anywhere, &[3307]), "{flows:#?}");
        assert!(
            has(
                &flows,
                &Peer::Pods("fluentbit"),
                &Peer::Anywhere,
                &[9092, 19092]
            ),
            "{flows:#?}"
        );
        assert!(has(&flows, &Peer::Anywhere, &cv, &[19001]), "{flows:#?}");
        assert!(
            has(&flows, &Peer::Pods("prometheus"), &cv, &[19011]),
            "{flows:#?}"
        );
        // Neither a MySQL nor a Kafka of the release, nor a ZooKeeper without one.
        for gone in ["mysql", "kafka", "zookeeper"] {
            assert!(
                flows
                    .iter()
                    .all(|f| f.from != Peer::Pods(gone) && f.to != Peer::Pods(gone)),
                "{gone}: {flows:#?}"
            );
        }
    }

    fn policy<'a>(all: &'a [Rendered], name: &str) -> &'a serde_json::Value {
        &crate::stacks::kit::testing::component(all, netpol::COMPONENT)
            .manifests
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no NetworkPolicy {name}"))
            .body
    }

    #[test]
    fn kafka_from_and_ingress_from_name_who_gets_in() {
        use super::super::common::testing::render_all;
        use super::super::values::PolicyPeer;
        let mut v = values();
        v.network_policy.enabled = true;
        v.ingress.enabled = true;
        // Defaults: anyone, on the one port.
        let all = render_all(&v);
        let kafka = &policy(&all, "cv-kafka")["spec"]["ingress"];
        assert!(
            kafka
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r.get("from").is_none()
                    && r["ports"] == serde_json::json!([{"port": 9092, "protocol": "TCP"}])),
            "{kafka}"
        );
        let peer = PolicyPeer {
            pod_selector: Some([("app".to_string(), "shipper".to_string())].into()),
            namespace_selector: Some([("team".to_string(), "logs".to_string())].into()),
            ip_block: None,
        };
        v.network_policy.kafka_from = vec![peer.clone()];
        v.network_policy.ingress_from = vec![PolicyPeer {
            ip_block: Some("10.0.0.0/8".into()),
            ..peer.clone()
        }];
        v.network_policy.ingress_from[0].pod_selector = None;
        v.network_policy.ingress_from[0].namespace_selector = None;
        let all = render_all(&v);
        let kafka = &policy(&all, "cv-kafka")["spec"]["ingress"];
        let rules = kafka.as_array().unwrap();
        assert!(rules.iter().all(|r| r.get("from").is_some()), "{kafka}");
        assert!(
            rules.iter().any(|r| r["from"]
                == serde_json::json!([{
                    "namespaceSelector": {"matchLabels": {"team": "logs"}},
                    "podSelector": {"matchLabels": {"app": "shipper"}},
                }])),
            "{kafka}"
        );
        let cv = &policy(&all, "cv-clickvisual")["spec"]["ingress"];
        assert!(
            cv.as_array().unwrap().iter().any(|r| r["from"]
                == serde_json::json!([{"ipBlock": {"cidr": "10.0.0.0/8"}}])
                && r["ports"][0]["port"] == 19001),
            "{cv}"
        );
    }

    #[test]
    fn a_peer_selecting_by_the_namespace_name_label_warns_of_1_20() {
        use crate::stacks::Stack;
        let mut v = values();
        v.network_policy.enabled = true;
        v.network_policy.ingress_from = vec![super::super::values::PolicyPeer {
            pod_selector: None,
            namespace_selector: Some(
                [(
                    "kubernetes.io/metadata.name".to_string(),
                    "ingress-nginx".to_string(),
                )]
                .into(),
            ),
            ip_block: None,
        }];
        let resolved = |v: &Values| crate::stacks::ResolvedValues {
            tree: serde_json::to_value(v).unwrap(),
            generated: Vec::new(),
        };
        let w = super::super::STACK.warnings(&resolved(&v)).unwrap();
        assert!(
            w.iter().any(
                |w| w.starts_with("networkPolicy.ingressFrom[0] selects namespaces")
                    && w.contains("1.21")
            ),
            "{w:?}"
        );
        v.network_policy.enabled = false;
        assert!(
            super::super::STACK
                .warnings(&resolved(&v))
                .unwrap()
                .is_empty()
        );
    }
}
