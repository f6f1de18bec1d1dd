//! ZooKeeper for Kafka in ZooKeeper mode: standalone with one replica, an ensemble
//! addressed through the headless Service with more.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::Ctx;
use super::common::{DATA_VOLUME, join, jvm_heap_mib};
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, ORDINAL_SH, Timing};

pub const COMPONENT: &str = "zookeeper";
pub const CLIENT_PORT: i32 = 2181;
pub(super) const PEER_PORT: i32 = 2888;
pub(super) const ELECTION_PORT: i32 = 3888;
/// The `zookeeper` user of the official image.
const UID: i64 = 1000;
/// `ZOO_CONF_DIR` and `ZOOCFGDIR` of the image (31z4/zookeeper-docker
/// `3.9.4/Dockerfile`).
const CONF_DIR: &str = "/conf";
/// What the container writes besides its claim at /data, each an emptyDir under the
/// read-only root (see the image contract): zoo.cfg (the entrypoint), the log
/// directory zkServer.sh wants writable (`ZOO_LOG_DIR`; the logback.xml of 3.9.4
/// logs to the console only), the image's default `ZOO_DATA_LOG_DIR`, unused here
/// (the log is on the claim) but a path the image writes, and the JVM's /tmp.
const WRITABLE: [(&str, &str); 4] = [
    ("conf", CONF_DIR),
    ("logs", "/logs"),
    ("datalog", "/datalog"),
    ("tmp", "/tmp"),
];

/// ZooKeeper runs only for an internal Kafka in ZooKeeper mode.
pub fn used(ctx: &Ctx<'_>) -> bool {
    ctx.values.zookeeper.enabled && ctx.values.kafka.enabled
}

/// `host:port` Kafka connects to: the client Service, which follows ready members.
pub fn connect_string(ctx: &Ctx<'_>) -> String {
    format!("{}:{CLIENT_PORT}", ctx.release.service_host(COMPONENT))
}

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    if !used(ctx) {
        return None;
    }
    let v = &ctx.values.zookeeper;
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Data, &v.image.tag);
    let globals = ctx.pod_globals();

    b.push(w::headless_service(
        &b,
        vec![
            w::service_port("client", CLIENT_PORT),
            w::service_port("peer", PEER_PORT),
            w::service_port("election", ELECTION_PORT),
        ],
    ));
    b.push(w::client_service(
        &b,
        "ClusterIP",
        vec![w::service_port("client", CLIENT_PORT)],
    ));
    let pod = PodSpec {
        // The entrypoint writes zoo.cfg into /conf, next to the logback.xml the
        // server reads from there (its directory is on the classpath): under a
        // read-only root /conf is an emptyDir, first given the image's own files.
        init_containers: Some(vec![w::seed_dir(
            "seed-conf",
            ctx.image(&v.image),
            v.image.pull_policy.as_str(),
            CONF_DIR,
            "conf",
        )]),
        containers: vec![container(ctx)],
        volumes: Some(
            WRITABLE
                .iter()
                .map(|(volume, _)| w::empty_dir(volume))
                .collect(),
        ),
        ..w::pod_spec(
            &b,
            &globals,
            v.replicas,
            w::pod_security(Some(UID), Some(UID)),
        )
    };
    let sts = w::stateful_set(
        &b,
        w::StatefulSetParts {
            replicas: v.replicas,
            parallel: true,
            pod_annotations: BTreeMap::new(),
            pod,
            claims: vec![ctx.data_claim(&b, &v.persistence)],
        },
    );
    b.push(sts);
    w::push_pdb(&mut b, ctx.caps, &globals, v.replicas);
    Some(b.finish(vec![]))
}

/// `server.N=host:peer:election;client` for each member, N = ordinal + 1.
fn servers(ctx: &Ctx<'_>) -> String {
    join(0..ctx.values.zookeeper.replicas, " ", |i| {
        format!(
            "server.{}={}:{PEER_PORT}:{ELECTION_PORT};{CLIENT_PORT}",
            i + 1,
            w::pod_host(ctx.release, COMPONENT, i)
        )
    })
}

fn container(ctx: &Ctx<'_>) -> Container {
    let v = &ctx.values.zookeeper;
    let mut env = vec![
        w::env("ZOO_4LW_COMMANDS_WHITELIST", "srvr,ruok,mntr"),
        // Transaction log on the claim too: the image's /datalog would be lost with
        // the container, and a member cannot rejoin without it.
        w::env("ZOO_DATA_LOG_DIR", "/data/datalog"),
        // A member binds its quorum ports on every address, not just the one its
        // own DNS name resolved to at start.
        w::env("ZOO_CFG_EXTRA", "quorumListenOnAllIPs=true"),
        w::env("ZOO_ADMINSERVER_ENABLED", "false"),
    ];
    if v.replicas > 1 {
        env.push(w::env("ZOO_SERVERS", servers(ctx)));
    }
    if let Some(heap) = jvm_heap_mib(&v.resources) {
        // zkEnv.sh defaults to a 1000 MB heap whatever the container's limit is.
        env.push(w::env("ZK_SERVER_HEAP", heap.to_string()));
    }
    // The image has no variable for the pod ordinal: derive the member id from the
    // hostname, then hand over to the image's entrypoint.
    let start = format!(
        "export ZOO_MY_ID=$(({ORDINAL_SH} + 1)) && exec /docker-entrypoint.sh zkServer.sh start-foreground"
    );
    Container {
        command: Some(w::shell(start)),
        env: Some(env),
        ports: Some(vec![
            w::container_port("client", CLIENT_PORT),
            w::container_port("peer", PEER_PORT),
            w::container_port("election", ELECTION_PORT),
        ]),
        volume_mounts: Some(
            std::iter::once(w::mount(DATA_VOLUME, "/data", false))
                .chain(
                    WRITABLE
                        .iter()
                        .map(|(volume, path)| w::mount(volume, path, false)),
                )
                .collect(),
        ),
        // `srvr` reports a Mode only while the member serves: standalone, leader or
        // follower with a quorum.
        readiness_probe: Some(w::exec_probe(
            "echo srvr | nc -w 2 127.0.0.1 2181 | grep -q Mode",
            Timing::READINESS,
        )),
        // `ruok` answers while the process runs, quorum or not: no restarts of
        // members waiting for their peers.
        liveness_probe: Some(w::exec_probe(
            "echo ruok | nc -w 2 127.0.0.1 2181 | grep -q imok",
            Timing::LIVENESS,
        )),
        ..w::read_only_root(ctx.container(COMPONENT, &v.image, &v.resources))
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    #[test]
    fn standalone_with_one_replica_ensemble_with_three() {
        let mut v = values();
        let all = render_all(&v);
        let sts = find(component(&all, "zookeeper"), "StatefulSet", "cv-zookeeper");
        let c = container_of(sts, "zookeeper");
        assert_eq!(env(c, "ZOO_SERVERS"), None);
        assert_eq!(env(c, "ZK_SERVER_HEAP"), Some("512"));
        assert_eq!(sts.body["spec"]["podManagementPolicy"], "Parallel");

        v.zookeeper.replicas = 3;
        let all = render_all(&v);
        let sts = find(component(&all, "zookeeper"), "StatefulSet", "cv-zookeeper");
        let servers = env(container_of(sts, "zookeeper"), "ZOO_SERVERS").unwrap();
        assert_eq!(servers.split(' ').count(), 3);
        assert!(
            servers.starts_with(
                "server.1=cv-zookeeper-0.cv-zookeeper-headless.logs.svc:2888:3888;2181"
            )
        );
    }

    /// Read-only root: /data on the claim, every other path the image writes on an
    /// emptyDir, /conf first seeded with the image's own files (logback.xml).
    #[test]
    fn read_only_root_with_the_image_conf_copied_to_an_empty_dir() {
        let all = render_all(&values());
        let sts = find(component(&all, "zookeeper"), "StatefulSet", "cv-zookeeper");
        assert_read_only_root(sts, "zookeeper", &["/conf", "/logs", "/datalog", "/tmp"]);
        let c = container_of(sts, "zookeeper");
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/data", "{c}");
        assert_eq!(c["volumeMounts"][0]["name"], "data", "{c}");
        let seed = container_of(sts, "seed-conf");
        assert_eq!(seed["command"][2], "cp -R /conf/. /seed/", "{seed}");
        assert_eq!(seed["volumeMounts"][0]["name"], "conf", "{seed}");
        assert_read_only_root(sts, "seed-conf", &["/seed"]);
        // The image's user, who owns the claim's files in existing releases.
        let sc = &sts.body["spec"]["template"]["spec"]["securityContext"];
        assert_eq!(sc["runAsUser"], 1000, "{sc}");
    }

    #[test]
    fn not_rendered_in_kraft_mode_or_without_internal_kafka() {
        let mut v = values();
        v.zookeeper.enabled = false;
        assert!(render_all(&v).iter().all(|r| r.name != "zookeeper"));
        v.zookeeper.enabled = true;
        v.kafka.enabled = false;
        assert!(render_all(&v).iter().all(|r| r.name != "zookeeper"));
    }
}
