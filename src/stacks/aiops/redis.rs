//! Redis from the kit (`kit::redis`): AIOps offers cluster mode and sets the
//! server's log level from `global.logLevel`.

use super::Ctx;
use crate::model::Rendered;
use crate::stacks::kit::redis;

pub use crate::stacks::kit::redis::{BUS_PORT, CLUSTER_INIT, COMPONENT};

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    redis::render(
        ctx,
        &ctx.values.redis,
        ctx.conn.redis.as_ref(),
        ctx.log_level(),
    )
}

/// The Job that forms the cluster once every node answers.
pub fn render_cluster_init(ctx: &Ctx<'_>) -> Option<Rendered> {
    redis::render_cluster_init(ctx, &ctx.values.redis, ctx.conn.redis.as_ref())
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;
    use super::super::values::Values;
    use crate::stacks::kit::redis;

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
        assert!(script.contains("printf 'requirepass \"%s\""), "{script}");
        assert!(
            script.contains("exec redis-server /tmp/auth.conf"),
            "{script}"
        );
        assert!(!script.contains("--requirepass"), "{script}");
        assert!(!script.contains("cluster-enabled"), "{script}");
        assert!(!has(&all, "redis-cluster-init"));
        // The password as a file of the Secret, read by the start script and the
        // probes; no env var holds it.
        assert_password_file(
            &sts.body["spec"]["template"]["spec"],
            c,
            "REDIS_PASSWORD_FILE",
            "/credentials/redis",
            "ops-redis-credentials",
            "redis-password",
        );
        assert!(
            script.contains(r#"quoted=$(sed 's/[\\"]/\\&/g' "$REDIS_PASSWORD_FILE")"#),
            "{script}"
        );
        assert_no_secret_env(c);
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            let command = c[probe]["exec"]["command"][2].as_str().unwrap();
            assert!(
                command.starts_with(r#"REDISCLI_AUTH=$(cat "$REDIS_PASSWORD_FILE") redis-cli "#),
                "{command}"
            );
        }
    }

    #[test]
    fn maxmemory_is_three_quarters_of_the_limit_unless_set() {
        let mut v = values();
        v.redis.resources.limits.memory = "1Gi".parse().unwrap();
        let script = |v: &Values| {
            let all = render_all(v);
            let sts = find(component(&all, "redis"), "StatefulSet", "ops-redis");
            container_of(sts, "redis")["command"][2]
                .as_str()
                .unwrap()
                .to_string()
        };
        let s = script(&v);
        assert!(
            s.contains("--maxmemory 805306368 --maxmemory-policy allkeys-lru"),
            "{s}"
        );
        v.redis.maxmemory = "256Mi".into();
        v.redis.maxmemory_policy = redis::MaxmemoryPolicy::VolatileLfu;
        let s = script(&v);
        assert!(
            s.contains("--maxmemory 268435456 --maxmemory-policy volatile-lfu"),
            "{s}"
        );
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
        // Every node's stable name goes into every nodes.conf, for the restart.
        assert!(
            script.contains("--cluster-announce-hostname \"$POD_NAME.ops-redis-headless.mon.svc\""),
            "{script}"
        );
        assert!(script.contains("getent hosts \"$host\""), "{script}");
        assert_eq!(env_field(c, "POD_NAME"), Some("metadata.name"));
        assert_eq!(env_field(c, "POD_IP"), Some("status.podIP"));
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
        // redis-cli as nobody under a read-only root, HOME on an emptyDir.
        let pod = &job.body["spec"]["template"]["spec"];
        // The password as a file of the Secret, set as REDISCLI_AUTH by the script.
        assert_password_file(
            pod,
            c,
            "REDIS_PASSWORD_FILE",
            "/credentials/redis",
            "ops-redis-credentials",
            "redis-password",
        );
        assert!(
            script.starts_with(
                "set -eu\nREDISCLI_AUTH=$(cat \"$REDIS_PASSWORD_FILE\")\nexport REDISCLI_AUTH\n"
            ),
            "{script}"
        );
        assert_no_secret_env(c);
        assert_eq!(pod["securityContext"]["runAsUser"], 65534);
        assert_eq!(pod["securityContext"]["runAsGroup"], 65534);
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(env(c, "HOME"), Some("/tmp"));
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/tmp");
        assert!(pod["volumes"][0]["emptyDir"].is_object(), "{pod}");
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
