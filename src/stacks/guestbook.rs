//! A third stack, for tests only: the proof that a new stack is its values, its
//! defaults, a profile and its own components, and nothing else. It has one
//! component of its own (a web app) and takes Redis whole from the kit; it plugs
//! into the engine through [`Definition`] exactly as ClickVisual and AIOps do, and
//! no engine file (model, values, plan, apply, wait, probe, operations, commands) knows it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Definition;
use super::component::Builder;
use super::kit::redis::{self, Redis};
use super::kit::{self, Global, NoExtras, StackValues};
use super::types::{Image, LogLevel, Resources};
use super::workload::{self as w, Timing};
use crate::model::{Capabilities, Phase, ProbeSpec, Release, Rendered};
use crate::values::Validate;

const DEFAULTS_YAML: &str = r#"
global:
  storageClass: ""
  imagePullSecrets: []
  imageRegistry: ""
  podDisruptionBudgets: false
  antiAffinity: none
  nodeSelector: {}
  prepull: false
web:
  image: { repository: example/guestbook, tag: "1.0", pullPolicy: IfNotPresent }
  replicas: 1
  resources:
    requests: { cpu: 50m, memory: 32Mi }
    limits: { cpu: 200m, memory: 64Mi }
redis:
  enabled: true
  image: { repository: redis, tag: 7.4-alpine, pullPolicy: IfNotPresent }
  auth: { password: "" }
  persistence: { size: 1Gi, storageClass: "" }
  resources:
    requests: { cpu: 50m, memory: 64Mi }
    limits: { cpu: 200m, memory: 128Mi }
  external: { host: "", port: 6379, password: "" }
"#;

const PROFILE_YAML: &str = r"
stack: guestbook
description: Two web replicas, a bigger Redis volume
web:
  replicas: 2
redis:
  persistence: { size: 4Gi }
";

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Values {
    global: Global,
    web: Web,
    redis: Redis,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Web {
    image: Image,
    replicas: u32,
    resources: Resources,
}

impl Validate for Values {}

impl StackValues for Values {
    type GlobalExtras = NoExtras;
    fn global(&self) -> &Global {
        &self.global
    }
}

struct Connections {
    redis: Option<redis::Connection>,
}

type Ctx<'a> = kit::Ctx<'a, Values, Connections>;

fn ctx<'a>(values: &'a Values, release: &'a Release, caps: Capabilities) -> Ctx<'a> {
    Ctx {
        release,
        values,
        caps,
        conn: Connections {
            redis: redis::connection(release, &values.redis),
        },
    }
}

static STACK: Definition<Values> = Definition {
    name: "guestbook",
    default_namespace: "guestbook",
    defaults_yaml: DEFAULTS_YAML,
    earlier_defaults_yaml: "",
    render: |v, release, caps| {
        let ctx = ctx(v, release, caps);
        [
            redis::render(&ctx, &v.redis, ctx.conn.redis.as_ref(), LogLevel::Info),
            Some(web(&ctx)),
        ]
        .into_iter()
        .flatten()
        .collect()
    },
    backups: |_, _| Vec::new(),
    backup_settings: |_| crate::model::BackupSettings::default(),
    probes: |v, release| {
        let ctx = ctx(v, release, Capabilities::latest());
        ctx.conn
            .redis
            .iter()
            .map(|r| redis::probe(&ctx, &v.redis, r))
            .collect::<Vec<ProbeSpec>>()
    },
    notes: |v, release| {
        let ctx = ctx(v, release, Capabilities::latest());
        ctx.conn
            .redis
            .iter()
            .map(|r| {
                format!(
                    "  Redis  {}",
                    kit::read_secret_command(
                        &release.namespace,
                        &r.password_ref.secret,
                        r.password_ref.key,
                    )
                )
            })
            .collect()
    },
    // No flows: nothing to check NetworkPolicies against, as a stack may choose.
    flows: |_, _| Vec::new(),
    warnings: |_| Vec::new(),
    rbac_switches: &[],
    init_only_changes: |_, _, _| Vec::new(),
    rotation_jobs: |_, _, _, _| Vec::new(),
    kube_requirements: |_| Vec::new(),
};

/// The stack's own component: the web app, wired to Redis through the Secret.
fn web(ctx: &Ctx<'_>) -> Rendered {
    let v = &ctx.values.web;
    let mut b = Builder::new(ctx.release, "web", Phase::Apps, &v.image.tag);
    let mut env = Vec::new();
    let mut deps = Vec::new();
    if let Some(r) = &ctx.conn.redis {
        env.push(w::env("REDIS_ADDR", r.addr()));
        env.push(r.password_ref.env("REDIS_PASSWORD"));
        deps.push(redis::COMPONENT);
    }
    let container = Container {
        env: Some(env),
        ports: Some(vec![w::container_port("http", 8080)]),
        readiness_probe: Some(w::http_probe("/", "http", Timing::READINESS)),
        ..ctx.container("web", &v.image, &v.resources)
    };
    let pod = PodSpec {
        containers: vec![container],
        ..ctx.pod_spec(&b, v.replicas, w::pod_security(Some(1000), Some(1000)))
    };
    b.push(w::client_service(
        &b,
        "ClusterIP",
        vec![w::service_port("http", 8080)],
    ));
    b.push(w::deployment(&b, v.replicas, BTreeMap::new(), pod));
    b.finish(deps)
}

mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::model::Manifest;
    use crate::stacks::{ResolvedValues, Stack};
    use crate::values::{Layer, Problems, SetFlag};

    fn release() -> Release {
        Release {
            name: "gb".into(),
            namespace: "apps".into(),
            stack: "guestbook",
            revision: 1,
        }
    }

    fn resolve(extra: &[Layer], sets: &[&str]) -> Result<ResolvedValues, Problems> {
        let mut layers = vec![
            Layer::defaults(STACK.defaults_yaml()),
            Layer::profile("small", "inline", PROFILE_YAML),
        ];
        layers.extend_from_slice(extra);
        let flags: Vec<SetFlag> = sets.iter().map(|s| SetFlag::set(*s)).collect();
        let stack: &dyn Stack = &STACK;
        stack.resolve(&layers, &flags, &mut StdRng::seed_from_u64(3))
    }

    fn manifests(v: &ResolvedValues) -> Vec<Manifest> {
        STACK
            .render(v, &release(), Capabilities::latest())
            .unwrap()
            .into_iter()
            .flat_map(|r| r.manifests)
            .collect()
    }

    fn find<'a>(ms: &'a [Manifest], kind: &str, name: &str) -> &'a Manifest {
        ms.iter()
            .find(|m| m.kind == kind && m.name == name)
            .unwrap_or_else(|| panic!("{kind}/{name} not rendered"))
    }

    #[test]
    fn resolves_renders_probes_and_notes_through_the_engine_interface() {
        let v = resolve(&[], &["web.image.tag=1.1"]).unwrap();
        // The Redis password was generated, as the kit's values type asks.
        assert_eq!(v.generated, vec!["redis.auth.password".to_string()]);
        let password = v.tree["redis"]["auth"]["password"].as_str().unwrap();
        assert_eq!(password.len(), 32);

        let ms = manifests(&v);
        let web = find(&ms, "Deployment", "gb-web");
        assert_eq!(web.body["spec"]["replicas"], 2, "from the profile");
        let c = &web.body["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "example/guestbook:1.1", "from --set");
        assert_eq!(c["env"][0]["value"], "gb-redis.apps.svc:6379");
        assert_eq!(
            c["env"][1]["valueFrom"]["secretKeyRef"]["name"],
            "gb-redis-credentials"
        );
        let sts = find(&ms, "StatefulSet", "gb-redis");
        assert_eq!(
            sts.body["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
            "4Gi"
        );
        find(&ms, "Secret", "gb-redis-credentials");
        // The password is in the Secret only.
        for m in ms.iter().filter(|m| m.kind != "Secret") {
            assert!(!m.body.to_string().contains(password), "{}", m.id());
        }

        let probes = STACK.probes(&v, &release()).unwrap();
        assert_eq!(probes.len(), 1);
        assert_eq!(probes[0].target, "gb-redis.apps.svc:6379");
        assert_eq!(
            STACK.notes(&v, &release()),
            vec![
                "  Redis  kubectl -n apps get secret gb-redis-credentials -o jsonpath='{.data.redis-password}' | base64 -d"
                    .to_string()
            ]
        );
    }

    #[test]
    fn the_engine_checks_it_like_any_stack() {
        let err = resolve(&[], &["web.replicaz=3"]).unwrap_err().to_string();
        assert!(err.contains("web.replicaz: unknown key"), "{err}");
        // The kit's rename applies to every stack that uses its types.
        let old = Layer::file("old.yaml", "redis:\n  storage:\n    size: 9Gi\n");
        let v = resolve(&[old], &[]).unwrap();
        assert_eq!(v.tree["redis"]["persistence"]["size"], "9Gi");
    }

    #[test]
    fn external_redis_is_only_a_secret_and_a_probe() {
        let v = resolve(
            &[],
            &[
                "redis.enabled=false",
                "redis.external.host=cache.example.com",
            ],
        )
        .unwrap();
        let ms = manifests(&v);
        assert!(ms.iter().all(|m| m.kind != "StatefulSet"));
        find(&ms, "Secret", "gb-redis-credentials");
        let probes = STACK.probes(&v, &release()).unwrap();
        assert!(probes[0].external);
        assert_eq!(probes[0].target, "cache.example.com:6379");
    }
}
