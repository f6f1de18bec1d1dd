//! Redis: ClickVisual's session store when it runs more than one replica. Internal:
//! a one-pod StatefulSet with AOF persistence; external: only the credentials Secret.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, VolumeMount};

use super::Ctx;
use super::common::DATA_VOLUME;
use super::connections::{credentials_secret, keys};
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "redis";
const PORT: i32 = 6379;
/// The `redis` user of the official image.
const UID: i64 = 999;

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.redis;
    let conn = ctx.conn.redis.as_ref()?;
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Data, &v.image.tag);
    let credentials = BTreeMap::from([(keys::REDIS_PASSWORD.to_string(), conn.password.clone())]);
    ctx.push_credentials(&mut b, COMPONENT, credentials);
    if !v.enabled {
        return Some(b.finish(vec![]));
    }

    let ports = vec![w::service_port("redis", PORT)];
    b.push(w::headless_service(&b, ports.clone()));
    b.push(w::client_service(&b, "ClusterIP", ports));
    let pod = PodSpec {
        containers: vec![container(ctx)],
        ..w::pod_spec(
            &b,
            &ctx.pod_globals(),
            1,
            w::pod_security(Some(UID), Some(UID)),
        )
    };
    let sts = w::stateful_set(
        &b,
        w::StatefulSetParts {
            replicas: 1,
            parallel: false,
            pod_annotations: BTreeMap::new(),
            pod,
            claims: vec![ctx.data_claim(&b, &v.persistence)],
        },
    );
    b.push(sts);
    Some(b.finish(vec![]))
}

fn container(ctx: &Ctx<'_>) -> Container {
    let v = &ctx.values.redis;
    let secret = credentials_secret(ctx.release, COMPONENT);
    // redis-cli reads REDISCLI_AUTH, so the password is on no command line; `ping`
    // answers NOAUTH (exit status 0) to a wrong password, hence the PONG check.
    let ping = "redis-cli -h 127.0.0.1 ping | grep -q PONG";
    Container {
        // Kubernetes expands $(REDIS_PASSWORD) from the env: the pod spec names the
        // variable, never the password.
        args: Some(
            [
                "redis-server",
                "--requirepass",
                "$(REDIS_PASSWORD)",
                "--appendonly",
                "yes",
                "--dir",
                "/data",
            ]
            .map(String::from)
            .to_vec(),
        ),
        env: Some(vec![
            w::env_secret("REDIS_PASSWORD", &secret, keys::REDIS_PASSWORD),
            w::env_secret("REDISCLI_AUTH", &secret, keys::REDIS_PASSWORD),
        ]),
        ports: Some(vec![w::container_port("redis", PORT)]),
        volume_mounts: Some(vec![VolumeMount {
            name: DATA_VOLUME.into(),
            mount_path: "/data".into(),
            ..Default::default()
        }]),
        readiness_probe: Some(w::exec_probe(ping, Timing::READINESS)),
        liveness_probe: Some(w::exec_probe(ping, Timing::LIVENESS)),
        // Replaying a large append-only file takes a while after a restart.
        startup_probe: Some(w::exec_probe(ping, Timing::STARTUP)),
        ..ctx.container(COMPONENT, &v.image, &v.resources)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    #[test]
    fn password_is_expanded_by_kubernetes_not_written() {
        let v = values();
        let all = render_all(&v);
        let r = component(&all, "redis");
        let sts = find(r, "StatefulSet", "cv-redis");
        let c = container_of(sts, "redis");
        assert_eq!(c["args"][2], "$(REDIS_PASSWORD)");
        assert_eq!(
            secret_value(find(r, "Secret", "cv-redis-credentials"), "redis-password"),
            REDIS_PW
        );
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
