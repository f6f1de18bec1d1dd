//! Redis: a standalone server, or a Redis Cluster of `redis.cluster.nodes` pods
//! (`--cluster-enabled yes`) formed once by a Job running
//! `redis-cli --cluster create … --cluster-replicas 1`, which does nothing when the
//! cluster already exists. External: only the credentials Secret.
//!
//! The password reaches redis-server through a config file written at start by the
//! shell's `printf` builtin, and redis-cli through `REDISCLI_AUTH`: it is on no
//! command line.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::Ctx;
use super::common::DATA_VOLUME;
use super::connections::{REDIS_PORT, credentials_secret, keys};
use super::values::LogLevel;
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "redis";
pub const CLUSTER_INIT: &str = "redis-cluster-init";
/// Cluster bus: the client port + 10000.
pub const BUS_PORT: u16 = 16379;
/// The `redis` user of the official image.
const UID: i64 = 999;

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.redis;
    let conn = ctx.conn.redis.as_ref()?;
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Data, &v.image.tag);
    ctx.push_credentials(
        &mut b,
        COMPONENT,
        BTreeMap::from([(keys::REDIS_PASSWORD.to_string(), conn.password.clone())]),
    );
    if !v.enabled {
        return Some(b.finish(vec![]));
    }
    let cluster = v.cluster.enabled;
    let replicas = if cluster { v.cluster.nodes } else { 1 };
    let client = w::service_port("redis", i32::from(REDIS_PORT));
    let mut headless = vec![client.clone()];
    if cluster {
        headless.push(w::service_port("bus", i32::from(BUS_PORT)));
    }
    b.push(w::headless_service(&b, headless));
    b.push(w::client_service(&b, "ClusterIP", vec![client]));
    let pod = PodSpec {
        containers: vec![container(ctx)],
        ..ctx.pod_spec(&b, replicas, w::pod_security(Some(UID), Some(UID)))
    };
    let sts = w::stateful_set(
        &b,
        w::StatefulSetParts {
            replicas,
            // Cluster nodes start together; the Job joins them afterwards.
            parallel: true,
            pod_annotations: BTreeMap::new(),
            pod,
            claims: vec![ctx.data_claim(&b, &v.persistence)],
        },
    );
    b.push(sts);
    w::push_pdb(&mut b, ctx.caps, &ctx.pod_globals(), replicas);
    Some(b.finish(vec![]))
}

fn redis_log_level(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Debug => "verbose",
        LogLevel::Info => "notice",
        LogLevel::Warn | LogLevel::Error => "warning",
    }
}

/// The server's start script: auth settings into a file, then exec redis-server.
pub fn start_script(cluster: bool, level: LogLevel) -> String {
    let mut script = String::from(
        "set -e\n\
         printf 'requirepass %s\\nmasterauth %s\\n' \"$REDIS_PASSWORD\" \"$REDIS_PASSWORD\" > /tmp/auth.conf\n",
    );
    let mut server = format!(
        "exec redis-server /tmp/auth.conf --port {REDIS_PORT} --dir /data --appendonly yes --loglevel {}",
        redis_log_level(level)
    );
    if cluster {
        // A restarted pod has a new address: correct its own line of nodes.conf so
        // that it rejoins under the same node ID (peers learn the new address from it).
        script.push_str(
            "if [ -f /data/nodes.conf ]; then\n  \
             sed -i -e \"/myself/ s/[0-9]\\{1,3\\}\\.[0-9]\\{1,3\\}\\.[0-9]\\{1,3\\}\\.[0-9]\\{1,3\\}/${POD_IP}/\" /data/nodes.conf\n\
             fi\n",
        );
        server.push_str(
            " --cluster-enabled yes --cluster-config-file /data/nodes.conf --cluster-node-timeout 5000",
        );
    }
    script.push_str(&server);
    script
}

fn container(ctx: &Ctx<'_>) -> Container {
    let v = &ctx.values.redis;
    let secret = credentials_secret(ctx.release, COMPONENT);
    // `ping` answers NOAUTH (exit status 0) to a wrong password, hence the PONG check.
    let ping = "redis-cli -h 127.0.0.1 ping | grep -q PONG";
    let mut env = vec![
        w::env_secret("REDIS_PASSWORD", &secret, keys::REDIS_PASSWORD),
        w::env_secret("REDISCLI_AUTH", &secret, keys::REDIS_PASSWORD),
    ];
    let mut ports = vec![w::container_port("redis", i32::from(REDIS_PORT))];
    if v.cluster.enabled {
        env.push(w::env_field("POD_IP", "status.podIP"));
        ports.push(w::container_port("bus", i32::from(BUS_PORT)));
    }
    Container {
        command: Some(w::shell(start_script(v.cluster.enabled, ctx.log_level()))),
        env: Some(env),
        ports: Some(ports),
        volume_mounts: Some(vec![w::mount(DATA_VOLUME, "/data", false)]),
        readiness_probe: Some(w::exec_probe(ping, Timing::READINESS)),
        liveness_probe: Some(w::exec_probe(ping, Timing::LIVENESS)),
        // Replaying a large append-only file takes a while after a restart.
        startup_probe: Some(w::exec_probe(ping, Timing::STARTUP)),
        ..ctx.container(COMPONENT, &v.image, &v.resources)
    }
}

/// The Job that forms the cluster once every node answers.
pub fn render_cluster_init(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.redis;
    let conn = ctx.conn.redis.as_ref()?;
    if !(v.enabled && v.cluster.enabled) {
        return None;
    }
    let mut b = Builder::new(ctx.release, CLUSTER_INIT, Phase::Data, &v.image.tag);
    let hosts: Vec<String> = (0..v.cluster.nodes)
        .map(|i| w::pod_host(ctx.release, COMPONENT, i))
        .collect();
    let script = format!(
        r#"set -eu
addresses=""
for host in {hosts}; do
  until redis-cli -h "$host" -p {REDIS_PORT} ping 2>/dev/null | grep -q PONG; do
    echo "waiting for $host"; sleep 2
  done
  # CLUSTER MEET takes addresses, not names.
  ip=$(getent hosts "$host" | awk '{{print $1; exit}}')
  addresses="$addresses ${{ip:-$host}}:{REDIS_PORT}"
done
known=$(redis-cli -h {first} -p {REDIS_PORT} cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')
if [ "${{known:-1}}" -gt 1 ]; then
  echo "the cluster exists: {first} knows $known nodes"
  exit 0
fi
redis-cli --cluster create $addresses --cluster-replicas 1 --cluster-yes"#,
        hosts = hosts.join(" "),
        first = hosts[0],
    );
    let container = Container {
        command: Some(w::shell(script)),
        env: Some(vec![conn.password_ref.env("REDISCLI_AUTH")]),
        ..w::container(
            "create",
            ctx.image(&v.image),
            v.image.pull_policy.as_str(),
            w::helper_resources(),
        )
    };
    let pod = PodSpec {
        containers: vec![container],
        ..ctx.pod_spec(&b, 1, w::pod_security(Some(UID), Some(UID)))
    };
    b.push(w::job(&b, 6, 600, pod));
    Some(b.finish(vec![COMPONENT]))
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    #[test]
    fn standalone_password_never_on_a_command_line() {
        let all = render_all(&values());
        let r = component(&all, "redis");
        assert_eq!(
            secret_value(find(r, "Secret", "ops-redis-credentials"), "redis-password"),
            REDIS_PW
        );
        let sts = find(r, "StatefulSet", "ops-redis");
        assert_eq!(sts.body["spec"]["replicas"], 1);
        let c = container_of(sts, "redis");
        let script = c["command"][2].as_str().unwrap();
        assert!(script.contains("printf 'requirepass %s"), "{script}");
        assert!(
            script.contains("exec redis-server /tmp/auth.conf"),
            "{script}"
        );
        assert!(!script.contains("--requirepass"), "{script}");
        assert!(!script.contains("cluster-enabled"), "{script}");
        assert!(!has(&all, "redis-cluster-init"));
    }

    #[test]
    fn cluster_mode_runs_n_nodes_and_a_create_job() {
        let mut v = values();
        v.redis.cluster.enabled = true;
        v.redis.cluster.nodes = 6;
        let all = render_all(&v);
        let r = component(&all, "redis");
        let sts = find(r, "StatefulSet", "ops-redis");
        assert_eq!(sts.body["spec"]["replicas"], 6);
        assert_eq!(sts.body["spec"]["podManagementPolicy"], "Parallel");
        let c = container_of(sts, "redis");
        let script = c["command"][2].as_str().unwrap();
        assert!(script.contains("--cluster-enabled yes"), "{script}");
        assert!(
            script.contains("--cluster-config-file /data/nodes.conf"),
            "{script}"
        );
        let headless = find(r, "Service", "ops-redis-headless");
        assert_eq!(headless.body["spec"]["ports"][1]["port"], 16379);

        let init = component(&all, "redis-cluster-init");
        assert_eq!(init.phase.as_str(), "data");
        assert_eq!(init.depends_on, vec!["redis"]);
        let job = only(init, "Job");
        let c = container_of(job, "create");
        let script = c["command"][2].as_str().unwrap();
        assert!(
            script.contains("--cluster create $addresses --cluster-replicas 1 --cluster-yes"),
            "{script}"
        );
        assert!(
            script.contains("ops-redis-5.ops-redis-headless.mon.svc"),
            "{script}"
        );
        assert!(
            script.contains("cluster_known_nodes"),
            "idempotent: {script}"
        );
        assert_eq!(
            env_ref(c, "REDISCLI_AUTH"),
            Some(("ops-redis-credentials".into(), "redis-password".into()))
        );
    }

    #[test]
    fn external_redis_renders_only_its_secret() {
        let mut v = values();
        v.redis.enabled = false;
        v.redis.external.host = "cache.example.com".into();
        v.redis.external.password = "ExtRedisPw".into();
        let all = render_all(&v);
        assert_eq!(component(&all, "redis").manifests.len(), 1);
        let d = find(component(&all, "ai-engine"), "Deployment", "ops-ai-engine");
        let c = container_of(d, "ai-engine");
        assert_eq!(env(c, "REDIS_HOST"), Some("cache.example.com"));
    }
}
