//! Upgrades are forever: a release installed by an earlier stackctl upgrades with
//! this one, without `--recreate`, keeping its volumes, secrets and records.
//!
//! Each fixture in `tests/fixtures/previous-main/` is a release record Secret's
//! payload exactly as an earlier stackctl wrote it:
//! - `minimal-record.b64`: commit 9b24731 (before ClickVisual's schema Job),
//!   `install cv --profile minimal` in namespace `prev-main`;
//! - `aiops-minimal-record.b64`: commit 5469cc5 (before the stack kit, when AIOps
//!   called volumes `storage`), `install ops --profile aiops-minimal` in namespace
//!   `prev-main-aiops`;
//! - `default-record.b64`: commit 5469cc5 (when ClickVisual's defaults ran a Redis
//!   it never read), `install cv --profile default` in namespace
//!   `prev-main-default`;
//! - `production-record.b64`: commit 2c4597c (hardened by default: NetworkPolicies
//!   on, read-only roots, credentials as files; before `global.prepull`), `install
//!   cv --profile production` in namespace `prev-main-production`.
//!
//! A test reads one with today's decoder, recreates in a fresh namespace of that
//! name what that install left (its objects, applied by server-side apply as field
//! manager `stackctl` as that binary did, and its record), then upgrades with this
//! binary.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use common::cli::{Env, stderr};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::api::ListParams;
use stackctl::apply::apply_all;
use stackctl::cluster::Resolver;
use stackctl::model::Manifest;
use stackctl::release::record::{Record, decode};
use stackctl::release::{Status, Store};

const FIXTURE_NAMESPACE: &str = "prev-main";

/// A fixture record, read with today's decoder.
fn fixture(file: &str, namespace: &str) -> Record {
    let path = format!(
        "{}/tests/fixtures/previous-main/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let gz = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap();
    let record = decode(&gz).expect("a record of an earlier stackctl is readable");
    assert_eq!(record.revision, 1);
    assert_eq!(record.status, Status::Deployed);
    assert_eq!(record.namespace, namespace);
    record
}

/// What the install of `record` left on the cluster: its objects, its record, and
/// the claims of its StatefulSets (returned once all exist).
async fn restore(env: &Env, record: &mut Record) -> BTreeMap<String, String> {
    let manifests: Vec<Manifest> = record
        .manifests
        .iter()
        .cloned()
        .filter_map(Manifest::from_value)
        .collect();
    assert_eq!(manifests.len(), record.manifests.len());
    let expected: usize = manifests
        .iter()
        .filter(|m| m.kind == "StatefulSet")
        .map(|m| {
            let spec = &m.body["spec"];
            spec["replicas"].as_u64().unwrap_or(1) as usize
                * spec["volumeClaimTemplates"].as_array().map_or(0, Vec::len)
        })
        .sum();
    apply_all(&Resolver::new(env.client.clone()), &manifests, false)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    Store::new(env.client.clone(), &env.ns)
        .create(record)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let c = claims(env).await;
        if c.len() == expected {
            break c;
        }
        assert!(tokio::time::Instant::now() < deadline, "claims: {c:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn previous_record() -> Record {
    let record = fixture("minimal-record.b64", FIXTURE_NAMESPACE);
    // Its Deployment made the schema in every replica; this stackctl moves that to a Job.
    let deployment = record
        .manifests
        .iter()
        .find(|m| m["kind"] == "Deployment" && m["metadata"]["name"] == "cv-clickvisual")
        .unwrap();
    assert!(deployment.to_string().contains("init-schema"));
    record
}

/// The namespace's NetworkPolicies. A release from before ClickVisual had them
/// predates `networkPolicy` in its values: today's default (on) must not reach it
/// through the upgrade, or clients of its users the flow table does not know would
/// lose their connections unasked.
async fn policies(env: &Env) -> Vec<String> {
    Api::<NetworkPolicy>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.metadata.name.unwrap())
        .collect()
}

async fn claims(env: &Env) -> BTreeMap<String, String> {
    Api::<PersistentVolumeClaim>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| (c.metadata.name.unwrap(), c.metadata.uid.unwrap()))
        .collect()
}

#[tokio::test]
async fn a_release_of_the_previous_stackctl_upgrades_in_place() {
    let env = Env::in_namespace(FIXTURE_NAMESPACE).await;
    let mut record = previous_record();
    let before = restore(&env, &mut record).await;
    // Its StatefulSets' volumes: MySQL, ClickHouse, Kafka.
    assert_eq!(before.len(), 3, "{before:?}");
    let root = env
        .secret_value("cv-mysql-credentials", "mysql-root-password")
        .await;
    let password = env
        .secret_value("cv-mysql-credentials", "mysql-password")
        .await;

    let out = env
        .ok(&["upgrade", "cv", "--set", "clickvisual.image.tag=v1.2.0"])
        .await;
    assert!(
        stderr(&out).contains("warning: clickvisual.image.tag \"v1.2.0\""),
        "{}",
        stderr(&out)
    );

    assert_eq!(claims(&env).await, before, "volumes were replaced");
    // Its values lack every key added since, and are read with them filled in.
    assert!(
        !stderr(&out).contains("were not compared"),
        "{}",
        stderr(&out)
    );
    assert!(record.values.get("networkPolicy").is_none());
    assert_eq!(policies(&env).await, Vec::<String>::new());
    assert!(!stderr(&out).contains("turns NetworkPolicies on"));
    assert_eq!(
        env.secret_value("cv-mysql-credentials", "mysql-root-password")
            .await,
        root
    );
    assert_eq!(
        env.secret_value("cv-mysql-credentials", "mysql-password")
            .await,
        password
    );
    assert_eq!(
        env.revision_statuses("cv").await,
        vec![(1, "superseded".into()), (2, "deployed".into())]
    );
    let job = Api::<Job>::namespaced(env.client.clone(), &env.ns)
        .get("cv-clickvisual-schema-2")
        .await
        .unwrap();
    assert_eq!(job.status.unwrap().succeeded, Some(1));
    let d = Api::<Deployment>::namespaced(env.client.clone(), &env.ns)
        .get("cv-clickvisual")
        .await
        .unwrap();
    let pod = d.spec.unwrap().template.spec.unwrap();
    let inits: Vec<String> = pod
        .init_containers
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(inits, ["wait-for-mysql"]);
    assert_eq!(
        pod.containers[0].image.as_deref(),
        Some("clickvisual/clickvisual:v1.2.0")
    );

    // Turning them on is the user's call, and is shown before it is made.
    let out = env
        .ok(&["upgrade", "cv", "--set", "networkPolicy.enabled=true"])
        .await;
    let err = stderr(&out);
    let on = policies(&env).await;
    assert!(!on.is_empty());
    assert!(
        err.contains("note: this upgrade turns NetworkPolicies on"),
        "{err}"
    );
    for name in &on {
        assert!(
            err.contains(&format!("new NetworkPolicy/{name}")),
            "{name}: {err}"
        );
    }
    assert_eq!(claims(&env).await, before, "volumes were replaced");
    env.done().await;
}

#[tokio::test]
async fn an_aiops_release_with_storage_keys_upgrades_to_persistence() {
    const NAMESPACE: &str = "prev-main-aiops";
    let env = Env::in_namespace(NAMESPACE).await;
    let mut record = fixture("aiops-minimal-record.b64", NAMESPACE);
    // Written when AIOps called a component's volume `storage`.
    assert!(record.values["prometheus"]["storage"].is_object());
    assert!(record.values["prometheus"].get("persistence").is_none());
    let before = restore(&env, &mut record).await;
    assert!(before.len() >= 5, "{before:?}");
    let grafana = env
        .secret_value("ops-grafana-credentials", "admin-password")
        .await;
    let elastic = env
        .secret_value("ops-elasticsearch-credentials", "elastic-password")
        .await;

    // The fixture runs Traefik v3.4.1, which needs Kubernetes 1.21
    // (EndpointSlices); the test cluster is 1.20, and what is tested is the values
    // migration, so the version check is overridden.
    let out = env
        .ok(&[
            "upgrade",
            "ops",
            "--set",
            "prometheus.retention=10d",
            "--allow-unsupported-kubernetes",
        ])
        .await;
    // The rename changes no object; the retention flag is the one change (and the
    // Redis start script, which now quotes the password in its auth file).
    let err = stderr(&out);
    assert!(err.contains("StatefulSet/ops-prometheus"), "{err}");
    // Nothing is removed but the kibana-setup Job, replaced: a Job's name hashes its
    // pod template (immutable), and that Job has run as nobody under a read-only
    // root since; it sets the password the Secret holds once more.
    let removed: Vec<&str> = err
        .lines()
        .filter(|l| l.trim_start().starts_with("- "))
        .collect();
    assert!(
        removed
            .iter()
            .all(|l| l.trim_start().starts_with("- Job/ops-kibana-setup-")),
        "{err}"
    );
    assert!(
        removed.is_empty() || err.contains("+ Job/ops-kibana-setup-"),
        "{err}"
    );

    assert_eq!(claims(&env).await, before, "volumes were replaced");
    assert!(!err.contains("were not compared"), "{err}");
    assert_eq!(policies(&env).await, Vec::<String>::new());
    assert_eq!(
        env.secret_value("ops-grafana-credentials", "admin-password")
            .await,
        grafana
    );
    assert_eq!(
        env.secret_value("ops-elasticsearch-credentials", "elastic-password")
            .await,
        elastic
    );
    assert_eq!(
        env.revision_statuses("ops").await,
        vec![(1, "superseded".into()), (2, "deployed".into())]
    );
    // The new revision keeps the values under the canonical key.
    let latest = Store::new(env.client.clone(), &env.ns)
        .latest("ops")
        .await
        .unwrap()
        .unwrap();
    let prometheus = &latest.values["prometheus"];
    assert!(prometheus.get("storage").is_none(), "{prometheus}");
    assert_eq!(
        prometheus["persistence"], record.values["prometheus"]["storage"],
        "{prometheus}"
    );
    assert_eq!(prometheus["retention"], "10d");
    env.done().await;
}

#[tokio::test]
async fn a_default_release_keeps_its_redis_and_is_told_it_is_unused() {
    const NAMESPACE: &str = "prev-main-default";
    let env = Env::in_namespace(NAMESPACE).await;
    let mut record = fixture("default-record.b64", NAMESPACE);
    assert_eq!(record.values["redis"]["enabled"], true);
    let before = restore(&env, &mut record).await;
    // MySQL, Redis, ClickHouse, Kafka and ZooKeeper volumes.
    assert!(before.contains_key("data-cv-redis-0"), "{before:?}");
    let redis_password = env
        .secret_value("cv-redis-credentials", "redis-password")
        .await;

    // Today's defaults have Redis off; the release's own values keep it on.
    let out = env.ok(&["upgrade", "cv"]).await;
    let err = stderr(&out);
    assert!(err.contains("0 to remove"), "{err}");
    assert!(
        err.contains("warning: redis.enabled is true, but ClickVisual with one replica"),
        "{err}"
    );
    assert_eq!(claims(&env).await, before, "volumes were replaced");
    assert!(!err.contains("were not compared"), "{err}");
    assert_eq!(policies(&env).await, Vec::<String>::new());
    assert_eq!(
        env.secret_value("cv-redis-credentials", "redis-password")
            .await,
        redis_password
    );
    assert_eq!(
        env.revision_statuses("cv").await,
        vec![(1, "superseded".into()), (2, "deployed".into())]
    );
    env.done().await;
}

/// Every Secret's data but the release records': credentials must survive upgrades.
async fn secret_data(env: &Env) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    common::secret_data(&env.client, &env.ns, |s| {
        s.type_.as_deref() != Some(stackctl::release::record::SECRET_TYPE)
    })
    .await
}

/// The last stackctl's `production` (hardened, policies on) upgrades with this one
/// and `--prepull`: its volumes, credentials and policies stay, nothing of the
/// prepull is left, and the record predating `global.prepull` reads as without it.
#[tokio::test]
async fn a_production_release_of_the_last_stackctl_upgrades_with_prepull() {
    const NAMESPACE: &str = "prev-main-production";
    let env = Env::in_namespace(NAMESPACE).await;
    let mut record = fixture("production-record.b64", NAMESPACE);
    assert!(record.values["global"].get("prepull").is_none());
    let before = restore(&env, &mut record).await;
    let secrets = secret_data(&env).await;
    let on = policies(&env).await;
    assert!(!on.is_empty(), "production has its policies on");

    let out = env.ok(&["upgrade", "cv", "--prepull"]).await;
    let err = stderr(&out);
    assert!(!err.contains("were not compared"), "{err}");
    assert!(err.contains("prepull: pulling"), "{err}");
    assert_eq!(claims(&env).await, before, "volumes were replaced");
    assert_eq!(secret_data(&env).await, secrets, "credentials changed");
    assert_eq!(policies(&env).await, on);
    assert_eq!(
        env.revision_statuses("cv").await,
        vec![(1, "superseded".into()), (2, "deployed".into())]
    );
    let left =
        Api::<k8s_openapi::api::apps::v1::DaemonSet>::namespaced(env.client.clone(), &env.ns)
            .list(&ListParams::default().labels("stackctl.dev/prepull=cv"))
            .await
            .unwrap();
    assert!(left.items.is_empty(), "prepull DaemonSets left");
    // The production profile schedules backups for new installs; this release,
    // from before `backup.schedule`, keeps the behaviour it was installed with.
    let status: serde_json::Value =
        serde_json::from_slice(&env.ok(&["status", "cv", "-o", "json"]).await.stdout).unwrap();
    assert!(status.get("backups").is_none(), "{}", status["backups"]);
    let kinds: Vec<&str> = status["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["kind"].as_str())
        .collect();
    assert!(!kinds.contains(&"CronJob"), "{kinds:?}");
    assert!(kinds.contains(&"StatefulSet"), "{kinds:?}");
    env.done().await;
}
