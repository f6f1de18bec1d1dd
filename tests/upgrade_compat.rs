//! Upgrades are forever: a release installed by the previous stackctl upgrades with
//! this one, without `--recreate`, keeping its volumes, secrets and records.
//!
//! The fixture `tests/fixtures/previous-main/minimal-record.b64` is the release
//! record Secret's payload exactly as the previous stackctl (commit 9b24731, before
//! ClickVisual's schema Job) wrote it for `install cv --profile minimal` in namespace
//! `prev-main`. The test reads it with today's decoder, recreates in a fresh
//! namespace of that name what that install left (its objects, applied by
//! server-side apply as field manager `stackctl` as that binary did, and its
//! record), then runs the mission's upgrade line with this binary.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use common::cli::{Env, stderr};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::Api;
use kube::api::ListParams;
use stackctl::apply::apply_all;
use stackctl::cluster::Resolver;
use stackctl::model::Manifest;
use stackctl::release::record::{Record, decode};
use stackctl::release::{Status, Store};

const FIXTURE_NAMESPACE: &str = "prev-main";

fn previous_record() -> Record {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/previous-main/minimal-record.b64"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let gz = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap();
    let record = decode(&gz).expect("a record of the previous stackctl is readable");
    assert_eq!(record.revision, 1);
    assert_eq!(record.status, Status::Deployed);
    assert_eq!(record.namespace, FIXTURE_NAMESPACE);
    // Its Deployment made the schema in every replica; this stackctl moves that to a Job.
    let deployment = record
        .manifests
        .iter()
        .find(|m| m["kind"] == "Deployment" && m["metadata"]["name"] == "cv-clickvisual")
        .unwrap();
    assert!(deployment.to_string().contains("init-schema"));
    record
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

    // What the previous install left on the cluster.
    let manifests: Vec<Manifest> = record
        .manifests
        .iter()
        .cloned()
        .filter_map(Manifest::from_value)
        .collect();
    assert_eq!(manifests.len(), record.manifests.len());
    apply_all(&Resolver::new(env.client.clone()), &manifests, false)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    Store::new(env.client.clone(), &env.ns)
        .create(&mut record)
        .await
        .unwrap();
    // Its StatefulSets' volumes: MySQL, ClickHouse, Kafka.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    let before = loop {
        let c = claims(&env).await;
        if c.len() == 3 {
            break c;
        }
        assert!(tokio::time::Instant::now() < deadline, "claims: {c:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
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
    env.done().await;
}
