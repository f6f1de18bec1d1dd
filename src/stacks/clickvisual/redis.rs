//! Redis from the kit (`kit::redis`): ClickVisual's session store when it runs
//! more than one replica. Standalone only; the server logs at its default level
//! (`notice`), ClickVisual's own log level being the app's.

use super::Ctx;
use crate::model::Rendered;
use crate::stacks::kit::redis;
use crate::stacks::types::LogLevel;

pub use crate::stacks::kit::redis::COMPONENT;

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    redis::render(
        ctx,
        &ctx.values.redis,
        ctx.conn.redis.as_ref(),
        LogLevel::Info,
    )
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    #[test]
    fn password_is_on_no_command_line() {
        let mut v = values();
        v.redis.enabled = true;
        let all = render_all(&v);
        let r = component(&all, "redis");
        let sts = find(r, "StatefulSet", "cv-redis");
        // Once started with `--requirepass $(REDIS_PASSWORD)`, which put the
        // password into redis-server's argv, readable through /proc.
        let c = container_of(sts, "redis");
        assert!(c.get("args").is_none(), "{c}");
        let script = c["command"][2].as_str().unwrap();
        assert!(script.contains("printf 'requirepass \"%s\""), "{script}");
        assert!(
            script.contains("exec redis-server /tmp/auth.conf"),
            "{script}"
        );
        assert!(script.contains("--loglevel notice"), "{script}");
        assert!(!script.contains("--requirepass"), "{script}");
        assert!(!script.contains("cluster-enabled"), "{script}");
        // Read-only root: the script's /tmp/auth.conf goes to an emptyDir.
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        let tmp = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == "/tmp");
        assert_eq!(
            tmp.map(|m| &m["name"]),
            Some(&serde_json::json!("tmp")),
            "{c}"
        );
        let pod = &sts.body["spec"]["template"]["spec"];
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "tmp");
        assert!(volume.is_some_and(|v| v["emptyDir"].is_object()), "{pod}");
        // The policy of the existing StatefulSet, which cannot change.
        assert_eq!(sts.body["spec"]["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            secret_value(find(r, "Secret", "cv-redis-credentials"), "redis-password"),
            REDIS_PW
        );
        assert!(all.iter().all(|r| r.name != "redis-cluster-init"));
    }

    /// The `redis` group of the `redis:*-alpine` image is 1000, its user 999
    /// (docker-library/redis `7.4-rc/alpine/Dockerfile`); Debian's is 999.
    #[test]
    fn runs_in_the_images_redis_group() {
        let mut v = values();
        v.redis.enabled = true;
        assert_eq!(v.redis.image.tag, "7.4-alpine");
        for (tag, group) in [("7.4-alpine", 1000), ("7.4-bookworm", 999)] {
            v.redis.image.tag = tag.into();
            let all = render_all(&v);
            let sts = find(component(&all, "redis"), "StatefulSet", "cv-redis");
            let sc = &sts.body["spec"]["template"]["spec"]["securityContext"];
            assert_eq!(sc["runAsUser"], 999, "{tag}: {sc}");
            assert_eq!(sc["runAsGroup"], group, "{tag}: {sc}");
            assert_eq!(sc["fsGroup"], group, "{tag}: {sc}");
        }
    }

    #[test]
    fn redis_absent_when_neither_internal_nor_external() {
        let mut v = values();
        v.redis.enabled = false;
        assert!(render_all(&v).iter().all(|r| r.name != "redis"));
        v.redis.external.host = "redis.example.com".into();
        let all = render_all(&v);
        assert_eq!(component(&all, "redis").manifests.len(), 1);
    }
}
