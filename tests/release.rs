//! Release records and the operation lock against a real API server.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::json;
use stackctl::operations::target;
use stackctl::release::lock::lease_name;
use stackctl::release::store::secret_name;
use stackctl::release::{Lock, LockError, ObjectRef, Operation, Record, Status, Store, StoreError};

fn record(release: &str, ns: &str, revision: u32, op: Operation) -> Record {
    let mut r = Record::new(
        release,
        ns,
        "clickvisual",
        "minimal",
        revision,
        op,
        json!({ "mysql": { "auth": { "password": "generated-123" } } }),
    );
    r.generated = vec!["mysql.auth.password".into()];
    r.inventory = vec![ObjectRef {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        namespace: Some(ns.into()),
        name: format!("{release}-mysql"),
        component: "mysql".into(),
        phase: "data".into(),
    }];
    r.manifests = vec![json!({ "apiVersion": "apps/v1", "kind": "StatefulSet",
                              "metadata": { "name": format!("{release}-mysql") } })];
    r
}

async fn secret(client: &Client, ns: &str, name: &str) -> Secret {
    Api::<Secret>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap()
}

#[tokio::test]
async fn records_are_created_read_updated_and_deleted() {
    let client = common::cluster().await;
    let ns = common::namespace(&client, "release-store").await;
    let store = Store::new(client.clone(), &ns);

    assert!(store.latest("cv").await.unwrap().is_none());

    let mut r1 = record("cv", &ns, 1, Operation::Install);
    store.create(&mut r1).await.unwrap();
    assert!(r1.resource_version.is_some());
    r1.finish(Status::Deployed, "Install complete");
    store.update(&mut r1).await.unwrap();

    let s = secret(&client, &ns, "stackctl.release.v1.cv.v1").await;
    assert_eq!(s.type_.as_deref(), Some("stackctl.dev/release.v1"));
    let labels = s.metadata.labels.unwrap();
    let want: BTreeMap<String, String> = [
        ("owner", "stackctl"),
        ("name", "cv"),
        ("revision", "1"),
        ("status", "deployed"),
        ("stack", "clickvisual"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(labels, want);

    // A second writer of the same revision is refused, not merged.
    let mut dup = record("cv", &ns, 1, Operation::Install);
    let err = store.create(&mut dup).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");

    let mut r2 = record("cv", &ns, 2, Operation::Upgrade);
    store.create(&mut r2).await.unwrap();

    // An update based on a stale read loses.
    let mut stale = store.get("cv", 2).await.unwrap();
    let mut fresh = store.get("cv", 2).await.unwrap();
    fresh.description = "Upgrade: data phase".into();
    store.update(&mut fresh).await.unwrap();
    stale.description = "stale".into();
    let err = store.update(&mut stale).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("run the command again"), "{err}");

    let all = store.list("cv").await.unwrap();
    assert_eq!(all.iter().map(|r| r.revision).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(all[0].values, r1.values);
    assert_eq!(all[0].inventory, r1.inventory);
    assert_eq!(store.latest("cv").await.unwrap().unwrap().revision, 2);
    assert_eq!(
        store.last_deployed("cv").await.unwrap().unwrap().revision,
        1
    );
    assert_eq!(
        store.get("cv", 2).await.unwrap().description,
        "Upgrade: data phase"
    );

    let err = store.get("cv", 9).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NoRevision { revision: 9, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("stackctl history cv"), "{err}");

    store
        .set_status("cv", 2, Status::Deployed, "Upgrade complete")
        .await
        .unwrap();
    let superseded = store
        .set_status("cv", 1, Status::Superseded, "Superseded by 2")
        .await
        .unwrap();
    assert_eq!(
        superseded.finished_at, r1.finished_at,
        "finish time is kept"
    );
    let history = store.history("cv").await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| (h.revision, h.status))
            .collect::<Vec<_>>(),
        [(1, Status::Superseded), (2, Status::Deployed)]
    );
    assert!(history[1].finished_at.is_some());
    let labels = secret(&client, &ns, "stackctl.release.v1.cv.v2")
        .await
        .metadata
        .labels
        .unwrap();
    assert_eq!(labels["status"], "deployed");

    assert_eq!(store.delete_all("cv").await.unwrap(), 2);
    assert!(store.list("cv").await.unwrap().is_empty());
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn trim_keeps_the_last_deployed_and_the_newest() {
    let client = common::cluster().await;
    let ns = common::namespace(&client, "release-trim").await;
    let store = Store::new(client.clone(), &ns);
    // 1 deployed; 2..5 failed upgrades; 6 in progress.
    for rev in 1..=6 {
        let op = if rev == 1 {
            Operation::Install
        } else {
            Operation::Upgrade
        };
        let mut r = record("cv", &ns, rev, op);
        match rev {
            1 => r.finish(Status::Deployed, "Install complete"),
            6 => {}
            _ => r.finish(Status::Failed, "Upgrade failed: timeout"),
        }
        store.create(&mut r).await.unwrap();
    }
    // Another release in the namespace is not touched.
    store
        .create(&mut record("other", &ns, 1, Operation::Install))
        .await
        .unwrap();

    assert_eq!(store.trim("cv", 0).await.unwrap(), Vec::<u32>::new());
    assert_eq!(store.trim("cv", 3).await.unwrap(), [2, 3, 4]);
    let left: Vec<u32> = store
        .list("cv")
        .await
        .unwrap()
        .iter()
        .map(|r| r.revision)
        .collect();
    assert_eq!(left, [1, 5, 6]);
    assert_eq!(store.trim("cv", 1).await.unwrap(), [5]);
    let left: Vec<u32> = store
        .list("cv")
        .await
        .unwrap()
        .iter()
        .map(|r| r.revision)
        .collect();
    assert_eq!(left, [1, 6]);
    assert_eq!(store.list("other").await.unwrap().len(), 1);
    common::drop_namespace(&client, &ns).await;
}

/// Hand-made or foreign Secrets never pass for records.
#[tokio::test]
async fn foreign_and_corrupt_secrets_are_reported_not_trusted() {
    let client = common::cluster().await;
    let ns = common::namespace(&client, "release-foreign").await;
    let store = Store::new(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let make = |name: &str, type_: &str, data: &[u8]| Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                [
                    ("owner", "stackctl"),
                    ("name", "cv"),
                    ("status", "deployed"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ),
            ..Default::default()
        },
        type_: Some(type_.into()),
        data: Some([("release".to_string(), ByteString(data.to_vec()))].into()),
        ..Default::default()
    };
    // Same labels and name, another type: invisible to listings, refused by `get`.
    secrets
        .create(
            &PostParams::default(),
            &make(&secret_name("cv", 1), "Opaque", b"x"),
        )
        .await
        .unwrap();
    assert!(store.list("cv").await.unwrap().is_empty());
    let err = store.get("cv", 1).await.unwrap_err();
    assert!(err.to_string().contains("its type is \"Opaque\""), "{err}");

    secrets
        .create(
            &PostParams::default(),
            &make(&secret_name("cv", 2), "stackctl.dev/release.v1", b"{}"),
        )
        .await
        .unwrap();
    let err = store.latest("cv").await.unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "Secret {ns}/stackctl.release.v1.cv.v2 is not a readable release record"
        )) && err.contains("kubectl delete secret"),
        "{err}"
    );
    // Listings still show the release, from its labels.
    let found = Store::releases(client.clone(), Some(&ns)).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].revision, found[0].status, found[0].updated),
        (2, Status::Deployed, None)
    );
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn releases_are_found_by_namespace_or_cluster_wide() {
    let client = common::cluster().await;
    let ns = common::namespace(&client, "release-find").await;
    let store = Store::new(client.clone(), &ns);
    for name in ["alpha", "beta"] {
        for rev in 1..=2 {
            let mut r = record(name, &ns, rev, Operation::Upgrade);
            r.finish(Status::Deployed, "Upgrade complete");
            store.create(&mut r).await.unwrap();
        }
    }
    store
        .set_status("beta", 2, Status::Failed, "Upgrade failed")
        .await
        .unwrap();

    let found = Store::releases(client.clone(), Some(&ns)).await.unwrap();
    let brief: Vec<_> = found
        .iter()
        .map(|r| (r.name.as_str(), r.revision, r.status, r.stack.as_str()))
        .collect();
    assert_eq!(
        brief,
        [
            ("alpha", 2, Status::Deployed, "clickvisual"),
            ("beta", 2, Status::Failed, "clickvisual")
        ]
    );
    let all = Store::releases(client.clone(), None).await.unwrap();
    assert!(all.iter().filter(|r| r.namespace == ns).count() == 2);

    // Which release a command means when none is named: the one visible, else an
    // error listing the candidates.
    let err = target::find(&client, None, Some(&ns)).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("2 stackctl releases match")
            && msg.contains("alpha (namespace")
            && msg.contains("beta (namespace"),
        "{msg}"
    );

    store.delete_all("beta").await.unwrap();
    let only = target::find(&client, None, Some(&ns)).await.unwrap();
    assert_eq!(only.name, "alpha");
    store.delete_all("alpha").await.unwrap();
    let err = target::find(&client, None, Some(&ns)).await.unwrap_err();
    assert!(
        err.to_string().contains("no stackctl release in namespace"),
        "{err}"
    );
    common::drop_namespace(&client, &ns).await;
}

/// A user limited to one namespace gets an error that says to name it.
#[tokio::test]
async fn cluster_wide_listing_without_permission_says_use_n() {
    let Some(path) = common::restricted_kubeconfig().await else {
        eprintln!("no restricted kubeconfig: skipped");
        return;
    };
    let client = common::client_for(&path).await;
    let err = Store::releases(client.clone(), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Forbidden {
                namespace: None,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("-n NAMESPACE"), "{err}");
    Store::releases(client, Some("stackctl-restricted"))
        .await
        .unwrap();
}

const TTL: Duration = Duration::from_secs(3);

#[tokio::test]
async fn of_two_concurrent_acquires_exactly_one_wins() {
    let client = common::cluster().await;
    let ns = common::namespace(&client, "release-race").await;
    let (a, b) = tokio::join!(
        Lock::acquire(client.clone(), &ns, "cv", "upgrade", TTL),
        Lock::acquire(client.clone(), &ns, "cv", "rollback", TTL),
    );
    let (winner, loser) = match (a, b) {
        (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
        (a, b) => panic!(
            "expected exactly one winner, got {:?} and {:?}",
            a.is_ok(),
            b.is_ok()
        ),
    };
    let LockError::Held { ref info, .. } = loser else {
        panic!("loser got {loser}");
    };
    assert_eq!(info.holder, winner.holder());
    let msg = loser.to_string();
    assert!(
        msg.starts_with(&format!(
            "release cv is locked by {} since ",
            winner.holder()
        )) && msg.contains("unless renewed")
            && msg.contains(&format!("`stackctl unlock cv -n {ns}`")),
        "{msg}"
    );
    assert!(winner.took_over().is_none());
    let holder = winner.holder().to_string();
    let (who, rest) = holder.split_once('@').unwrap();
    assert!(
        !who.is_empty() && rest.contains(&format!("/pid-{}/", std::process::id())),
        "{holder}"
    );
    winner.release().await.unwrap();
    let lease = Api::<Lease>::namespaced(client.clone(), &ns)
        .get_opt(&lease_name("cv"))
        .await
        .unwrap();
    assert!(lease.is_none(), "release deletes the Lease");
    common::drop_namespace(&client, &ns).await;
}

/// A killed process stops renewing: its lock holds until it expires, then the next
/// run takes it over and is told so.
#[tokio::test]
async fn an_abandoned_lock_expires_and_is_taken_over() {
    let client = common::cluster().await;
    let ns = common::namespace(&client, "release-crash").await;
    let crashed = Lock::acquire(client.clone(), &ns, "cv", "upgrade", TTL)
        .await
        .unwrap();
    let crashed_holder = crashed.holder().to_string();
    drop(crashed);

    let err = Lock::acquire(client.clone(), &ns, "cv", "upgrade", TTL)
        .await
        .unwrap_err();
    assert!(matches!(err, LockError::Held { .. }), "{err}");

    let start = tokio::time::Instant::now();
    let guard = loop {
        match Lock::acquire(client.clone(), &ns, "cv", "upgrade", TTL).await {
            Ok(g) => break g,
            Err(LockError::Held { .. }) if start.elapsed() < common::WAIT => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < TTL * 3,
        "waited {waited:?}"
    );
    let previous = guard.took_over().expect("reports the takeover");
    assert_eq!(previous.holder, crashed_holder);
    assert!(previous.is_expired());
    guard.release().await.unwrap();
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn renewals_keep_a_lock_past_its_ttl() {
    let client = common::cluster().await;
    let ns = common::namespace(&client, "release-renew").await;
    let ttl = Duration::from_secs(2);
    let guard = Lock::acquire(client.clone(), &ns, "cv", "install", ttl)
        .await
        .unwrap();
    tokio::time::sleep(ttl * 3).await;
    let err = Lock::acquire(client.clone(), &ns, "cv", "upgrade", ttl)
        .await
        .unwrap_err();
    assert!(matches!(err, LockError::Held { .. }), "{err}");
    assert!(!guard.lost());
    guard.check().unwrap();
    let info = Lock::inspect(client.clone(), &ns, "cv")
        .await
        .unwrap()
        .unwrap();
    assert!(info.renewed > info.acquired, "{info:?}");
    guard.release().await.unwrap();
    let next = Lock::acquire(client.clone(), &ns, "cv", "upgrade", ttl)
        .await
        .unwrap();
    assert!(
        next.took_over().is_none(),
        "a released lock is not a takeover"
    );
    next.release().await.unwrap();
    common::drop_namespace(&client, &ns).await;
}

async fn wait_lost(guard: &stackctl::release::LockGuard) -> String {
    let mut rx = guard.watch_lost();
    tokio::time::timeout(common::WAIT, rx.wait_for(Option::is_some))
        .await
        .expect("lock reported lost in time")
        .unwrap()
        .clone()
        .unwrap()
}

#[tokio::test]
async fn force_unlock_frees_the_lock_and_its_holder_notices() {
    let client = common::cluster().await;
    let ns = common::namespace(&client, "release-unlock").await;
    let first = Lock::acquire(client.clone(), &ns, "cv", "upgrade", TTL)
        .await
        .unwrap();
    assert!(
        Lock::force_unlock(client.clone(), &ns, "other")
            .await
            .unwrap()
            .is_none()
    );
    let removed = Lock::force_unlock(client.clone(), &ns, "cv")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(removed.holder, first.holder());

    let second = Lock::acquire(client.clone(), &ns, "cv", "rollback", TTL)
        .await
        .unwrap();
    assert!(second.took_over().is_none());
    let reason = wait_lost(&first).await;
    assert!(first.lost());
    assert!(first.check().is_err());
    assert!(!reason.is_empty());
    // The first holder's release must not remove the second's lock.
    let err = first.release().await.unwrap_err();
    assert!(matches!(err, LockError::Lost { .. }), "{err}");
    let info = Lock::inspect(client.clone(), &ns, "cv")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.holder, second.holder());
    second.release().await.unwrap();
    assert!(
        Lock::inspect(client.clone(), &ns, "cv")
            .await
            .unwrap()
            .is_none()
    );
    common::drop_namespace(&client, &ns).await;
}

/// A holder that stalls past its lease (suspended laptop) and is taken over learns it
/// has lost the lock at its next renewal.
#[tokio::test]
async fn a_holder_taken_over_after_expiry_sees_lost() {
    let client = common::cluster().await;
    let ns = common::namespace(&client, "release-lost").await;
    // Renewals every 2 s leave ample time to fake the stall before the next one.
    let stalled = Lock::acquire(client.clone(), &ns, "cv", "upgrade", Duration::from_secs(6))
        .await
        .unwrap();
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let mut lease = leases.get(&lease_name("cv")).await.unwrap();
    let long_ago = Timestamp::now() - SignedDuration::from_secs(3600);
    lease.spec.as_mut().unwrap().renew_time = Some(MicroTime(long_ago));
    leases
        .replace(&lease_name("cv"), &PostParams::default(), &lease)
        .await
        .unwrap();

    let taker = Lock::acquire(client.clone(), &ns, "cv", "rollback", TTL)
        .await
        .unwrap();
    assert_eq!(taker.took_over().unwrap().holder, stalled.holder());
    let reason = wait_lost(&stalled).await;
    assert!(reason.contains(taker.holder()), "{reason}");
    let err = stalled.check().unwrap_err().to_string();
    assert!(err.starts_with("lost the lock on release cv"), "{err}");
    assert!(!taker.lost());
    taker.release().await.unwrap();
    common::drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn fail_interrupted_marks_a_pending_revision_failed() {
    let client = common::cluster().await;
    let ns = common::namespace(&client, "release-interrupted").await;
    let store = Store::new(client.clone(), &ns);
    let mut r1 = record("cv", &ns, 1, Operation::Install);
    r1.finish(Status::Deployed, "Install complete");
    store.create(&mut r1).await.unwrap();
    assert!(store.fail_interrupted("cv", "x").await.unwrap().is_none());

    store
        .create(&mut record("cv", &ns, 2, Operation::Upgrade))
        .await
        .unwrap();
    let marked = store
        .fail_interrupted("cv", "its lock expired")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((marked.revision, marked.status), (2, Status::Failed));
    assert_eq!(marked.description, "Upgrade interrupted: its lock expired");
    assert!(marked.finished_at.is_some());
    assert_eq!(
        store.last_deployed("cv").await.unwrap().unwrap().revision,
        1
    );
    common::drop_namespace(&client, &ns).await;
}
