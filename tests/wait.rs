//! The readiness engine against the real control plane and the simulated node: each
//! test applies a few objects in its own namespace (with simnode faults where the
//! test is about a failure) and checks what `wait_ready` concludes and says.
//!
//! Timing assertions are only generous upper bounds ("failed well before the
//! deadline"), never "took about N seconds".

mod common;

use std::time::Duration;

use serde_json::{Value, json};
use stackctl::apply::apply_all;
use stackctl::cluster::Resolver;
use stackctl::model::{Manifest, Phase, RELEASE_LABEL};
use stackctl::wait::{Progress, State, WaitError, WaitFailure, WaitOptions, wait_ready};
use tokio::time::Instant;

const RELEASE: &str = "t";

struct Fixture {
    client: kube::Client,
    resolver: Resolver,
    ns: String,
    release: String,
}

impl Fixture {
    async fn new(prefix: &str) -> Self {
        let client = common::cluster().await;
        let ns = common::namespace(&client, prefix).await;
        Fixture {
            resolver: Resolver::new(client.clone()),
            client,
            ns,
            release: RELEASE.to_string(),
        }
    }

    /// As the namespace-scoped user of `tests/cluster/up`, in its one namespace: no
    /// cluster-scoped reads (StorageClasses), and a release name of its own since the
    /// namespace is shared.
    async fn restricted() -> Option<Self> {
        let path = common::restricted_kubeconfig().await?;
        let client = common::client_for(&path).await;
        Some(Fixture {
            resolver: Resolver::new(client.clone()),
            client,
            ns: "stackctl-restricted".to_string(),
            release: format!("wait-{}", std::process::id()),
        })
    }

    /// A manifest in the test namespace, with the release label on the object and on
    /// its pod template, as the stacks' Builder does.
    fn manifest(&self, component: &str, mut body: Value) -> Manifest {
        body["metadata"]["namespace"] = json!(self.ns);
        body["metadata"]["labels"][RELEASE_LABEL] = json!(self.release);
        if body["spec"]["template"].is_object() {
            body["spec"]["template"]["metadata"]["labels"][RELEASE_LABEL] = json!(self.release);
        }
        // Claims a StatefulSet creates carry its template labels; a pointer, since
        // indexing a missing key mutably would insert it.
        if let Some(Value::Array(claims)) = body.pointer_mut("/spec/volumeClaimTemplates") {
            for claim in claims {
                claim["metadata"]["labels"][RELEASE_LABEL] = json!(self.release);
            }
        }
        Manifest {
            api_version: body["apiVersion"].as_str().unwrap().to_string(),
            kind: body["kind"].as_str().unwrap().to_string(),
            name: body["metadata"]["name"].as_str().unwrap().to_string(),
            namespace: Some(self.ns.clone()),
            component: component.to_string(),
            phase: Phase::Data,
            body,
        }
    }

    /// simnode's fault rules for this namespace; applied before the workloads so
    /// their pods see them.
    async fn faults(&self, rules: &[&str]) {
        let data: serde_json::Map<String, Value> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("rule-{i}"), json!(r)))
            .collect();
        let cm = self.manifest(
            "test",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "simnode-faults"}, "data": data}),
        );
        self.apply(std::slice::from_ref(&cm)).await;
    }

    async fn apply(&self, manifests: &[Manifest]) {
        if let Err(errors) = apply_all(&self.resolver, manifests, false).await {
            panic!("apply failed: {errors:?}");
        }
    }

    /// Applies and waits; returns the result, the progress seen and the time taken.
    async fn apply_and_wait(
        &self,
        manifests: &[Manifest],
        timeout: Duration,
    ) -> (Result<(), WaitError>, Vec<Progress>, Duration) {
        self.apply(manifests).await;
        let started = Instant::now();
        let mut seen = Vec::new();
        let result = wait_ready(
            &self.resolver,
            manifests,
            WaitOptions::timeout(timeout),
            |p| seen.push(p.clone()),
        )
        .await;
        if let Err(e) = &result {
            eprintln!("{e}");
        }
        (result, seen, started.elapsed())
    }

    async fn done(self) {
        common::drop_namespace(&self.client, &self.ns).await;
    }
}

// Built like a literal: the container goes into the object.
#[allow(clippy::needless_pass_by_value)]
fn deployment(name: &str, replicas: u32, container: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container]}
            }
        }
    })
}

fn container(image: &str) -> Value {
    json!({"name": "app", "image": image,
           "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}})
}

fn failure(result: Result<(), WaitError>) -> WaitError {
    result.expect_err("the wait should fail")
}

#[tokio::test]
async fn deployment_becomes_ready_with_progress() {
    let f = Fixture::new("wait-ok").await;
    let manifests = [
        f.manifest(
            "web",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web"},
                   "stringData": {"password": "x"}}),
        ),
        f.manifest("web", deployment("web", 2, container("nginx:1.27"))),
    ];
    let (result, seen, _) = f.apply_and_wait(&manifests, common::WAIT).await;
    result.expect("ready");
    let web: Vec<&Progress> = seen
        .iter()
        .filter(|p| p.object == "Deployment/web")
        .collect();
    assert!(web.len() >= 2, "progress while waiting: {web:#?}");
    assert_eq!(web[0].state, State::InProgress);
    let last = web.last().unwrap();
    assert_eq!((last.state, last.ready), (State::Current, Some((2, 2))));
    assert_eq!((last.done, last.total), (2, 2));
    let secret = seen.iter().find(|p| p.object == "Secret/web").unwrap();
    assert_eq!(secret.state, State::Current, "no waiting for Secrets");
    f.done().await;
}

/// A StatefulSet with a claim template on the default (WaitForFirstConsumer) class,
/// its headless Service, and a stand-alone claim of that class used by nothing yet:
/// waiting for that one to bind would deadlock a storage phase.
fn database(f: &Fixture, name: &str) -> Vec<Manifest> {
    let sts = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "db", "image": "mysql:8.4",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql"}]
                }]}
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}
            }]
        }
    });
    // Server-side apply on 1.20 needs the protocol: it is a key of the ports list.
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                     "spec": {"clusterIP": "None", "selector": {"app": name},
                              "ports": [{"port": 3306, "protocol": "TCP"}]}});
    let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                       "metadata": {"name": format!("{name}-spare")},
                       "spec": {"accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": "1Gi"}}}});
    vec![
        f.manifest("db", svc),
        f.manifest("db", claim),
        f.manifest("db", sts),
    ]
}

fn assert_spare_claim_done(seen: &[Progress], name: &str) {
    let spare = seen
        .iter()
        .rev()
        .find(|p| p.object == format!("PersistentVolumeClaim/{name}-spare"))
        .unwrap();
    assert_eq!(spare.state, State::Current);
    assert!(
        spare.message.contains("first consumer"),
        "{}",
        spare.message
    );
}

#[tokio::test]
async fn statefulset_with_claim_on_default_wait_for_first_consumer_class() {
    let f = Fixture::new("wait-sts").await;
    let (result, seen, _) = f.apply_and_wait(&database(&f, "db"), common::WAIT).await;
    result.expect("ready");
    assert_spare_claim_done(&seen, "db");
    f.done().await;
}

#[tokio::test]
async fn statefulset_claim_with_missing_class_is_blamed_on_its_pod() {
    let f = Fixture::new("wait-stsclass").await;
    let mut manifests = database(&f, "db");
    let sts = manifests.last_mut().unwrap();
    sts.body["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] = json!("fast-ssd");
    let deadline = Duration::from_secs(240);
    let (result, _, took) = f.apply_and_wait(&manifests, deadline).await;
    let e = failure(result);
    assert_eq!(e.kind, WaitFailure::Failed, "{e}");
    assert!(took < deadline / 2, "failed fast: {took:?}");
    let d = &e.diagnoses[0];
    assert_eq!(d.object, "StatefulSet/db");
    assert_eq!(d.reason, "StorageClassNotFound");
    assert_eq!(d.pod.as_deref(), Some("db-0"));
    assert!(d.detail.contains("claim data-db-0"), "{}", d.detail);
    assert!(
        d.remedy.contains("available: standard, standard-immediate"),
        "{}",
        d.remedy
    );
    f.done().await;
}

#[tokio::test]
async fn namespace_scoped_user_can_wait_without_reading_storage_classes() {
    let Some(f) = Fixture::restricted().await else {
        eprintln!("no restricted kubeconfig; skipping");
        return;
    };
    let name = format!("rdb-{}", std::process::id());
    let manifests = database(&f, &name);
    let (result, seen, _) = f.apply_and_wait(&manifests, common::WAIT).await;
    result.expect("ready");
    assert_spare_claim_done(&seen, &name);
    // Shared namespace: clean up what this test made, the StatefulSet's claim too.
    for m in &manifests {
        let api = f.resolver.api_for(m).await.unwrap();
        let _ = api
            .delete(&m.name, &kube::api::DeleteParams::default())
            .await;
    }
    let claims: kube::Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        kube::Api::namespaced(f.client.clone(), &f.ns);
    let _ = claims
        .delete(
            &format!("data-{name}-0"),
            &kube::api::DeleteParams::default(),
        )
        .await;
}

#[tokio::test]
async fn crash_loop_fails_fast_with_exit_code() {
    let f = Fixture::new("wait-crash").await;
    f.faults(&["{pods: 'crash-*', fault: crashloop, exitCode: 3}"])
        .await;
    let manifests = [f.manifest("crash", deployment("crash", 1, container("busybox:1.36")))];
    let deadline = Duration::from_secs(240);
    let (result, _, took) = f.apply_and_wait(&manifests, deadline).await;
    let e = failure(result);
    assert_eq!(e.kind, WaitFailure::Failed, "{e}");
    assert!(took < deadline / 2, "failed fast: {took:?}");
    let d = &e.diagnoses[0];
    assert_eq!(d.object, "Deployment/crash");
    assert_eq!(d.reason, "CrashLoopBackOff");
    assert!(d.pod.as_deref().unwrap().starts_with("crash-"), "{d:?}");
    assert!(d.detail.contains("exit code 3"), "{}", d.detail);
    assert!(d.remedy.contains("--previous"), "{}", d.remedy);
    assert!(
        d.events.iter().any(|e| e.contains("BackOff")),
        "events: {:?}",
        d.events
    );
    f.done().await;
}

#[tokio::test]
async fn image_pull_failure_names_the_image() {
    let f = Fixture::new("wait-pull").await;
    f.faults(&["{pods: 'pull-*', fault: image-pull}"]).await;
    let manifests = [f.manifest(
        "pull",
        deployment("pull", 1, container("example.com/nope:0.0.1")),
    )];
    let deadline = Duration::from_secs(240);
    let (result, _, took) = f.apply_and_wait(&manifests, deadline).await;
    let e = failure(result);
    assert_eq!(e.kind, WaitFailure::Failed, "{e}");
    assert!(took < deadline / 2, "failed fast: {took:?}");
    let d = &e.diagnoses[0];
    assert!(
        d.reason == "ErrImagePull" || d.reason == "ImagePullBackOff",
        "{}",
        d.reason
    );
    assert!(d.detail.contains("example.com/nope:0.0.1"), "{}", d.detail);
    assert!(d.remedy.contains("pull.image.tag"), "{}", d.remedy);
    f.done().await;
}

#[tokio::test]
async fn unschedulable_pod_reports_the_scheduler_message() {
    let f = Fixture::new("wait-cpu").await;
    let mut c = container("clickhouse/clickhouse-server:24.8");
    c["resources"]["requests"]["cpu"] = json!("100");
    let manifests = [f.manifest("clickhouse", deployment("big", 1, c))];
    let deadline = Duration::from_secs(240);
    let (result, _, took) = f.apply_and_wait(&manifests, deadline).await;
    let e = failure(result);
    assert_eq!(e.kind, WaitFailure::Failed, "{e}");
    assert!(took < deadline / 2, "failed fast: {took:?}");
    let d = &e.diagnoses[0];
    assert_eq!(d.reason, "Unschedulable");
    assert!(d.detail.contains("Insufficient cpu"), "{}", d.detail);
    assert!(d.detail.contains("nodes are available"), "{}", d.detail);
    assert!(
        d.remedy.contains("clickhouse.resources.requests.cpu"),
        "{}",
        d.remedy
    );
    f.done().await;
}

#[tokio::test]
async fn claim_with_missing_storage_class_lists_the_available_ones() {
    let f = Fixture::new("wait-class").await;
    let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                       "metadata": {"name": "data"},
                       "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast-ssd",
                                "resources": {"requests": {"storage": "1Gi"}}}});
    let manifests = [f.manifest("mysql", claim)];
    let deadline = Duration::from_secs(240);
    let (result, _, took) = f.apply_and_wait(&manifests, deadline).await;
    let e = failure(result);
    assert_eq!(e.kind, WaitFailure::Failed, "{e}");
    assert!(took < deadline / 2, "failed fast: {took:?}");
    let d = &e.diagnoses[0];
    assert_eq!(d.object, "PersistentVolumeClaim/data");
    assert_eq!(d.reason, "StorageClassNotFound");
    assert!(
        d.remedy.contains("no StorageClass 'fast-ssd'")
            && d.remedy.contains("standard")
            && d.remedy.contains("standard-immediate"),
        "{}",
        d.remedy
    );
    assert!(
        d.remedy.contains("mysql.persistence.storageClass"),
        "{}",
        d.remedy
    );
    f.done().await;
}

fn job(name: &str) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"restartPolicy": "Never", "containers": [container("busybox:1.36")]}
            }
        }
    })
}

#[tokio::test]
async fn job_is_waited_for_until_complete() {
    let f = Fixture::new("wait-job").await;
    let manifests = [f.manifest("setup", job("setup"))];
    let (result, seen, _) = f.apply_and_wait(&manifests, common::WAIT).await;
    result.expect("completed");
    let states: Vec<State> = seen.iter().map(|p| p.state).collect();
    assert_eq!(
        states.first(),
        Some(&State::InProgress),
        "a started Job is not done"
    );
    assert_eq!(states.last(), Some(&State::Current));
    f.done().await;
}

#[tokio::test]
async fn failed_job_reports_the_exit_code() {
    let f = Fixture::new("wait-jobfail").await;
    f.faults(&["{pods: 'migrate-*', fault: exit-code, exitCode: 7}"])
        .await;
    let manifests = [f.manifest("migrate", job("migrate"))];
    let deadline = Duration::from_secs(240);
    let (result, _, took) = f.apply_and_wait(&manifests, deadline).await;
    let e = failure(result);
    assert_eq!(e.kind, WaitFailure::Failed, "{e}");
    assert!(took < deadline / 2, "failed fast: {took:?}");
    let d = &e.diagnoses[0];
    assert_eq!(d.object, "Job/migrate");
    assert!(d.reason.contains("exit code 7"), "{}", d.reason);
    assert!(d.pod.as_deref().unwrap().starts_with("migrate-"), "{d:?}");
    assert!(d.remedy.contains("kubectl logs"), "{}", d.remedy);
    f.done().await;
}

/// A Job named for what it runs meets, on a retry, the Job that failed under the
/// same name: applying it again runs it anew instead of failing the wait at once.
#[tokio::test]
async fn a_failed_job_applied_again_runs_again() {
    let f = Fixture::new("wait-rerun").await;
    f.faults(&["{pods: 'setup-*', fault: exit-code, exitCode: 4}"])
        .await;
    let manifests = [f.manifest("setup", job("setup"))];
    let (result, _, _) = f.apply_and_wait(&manifests, common::WAIT).await;
    assert_eq!(failure(result).kind, WaitFailure::Failed);
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(f.client.clone(), &f.ns);
    let failed = jobs.get("setup").await.unwrap().metadata.uid;

    // Faults gone, the same Job applied again: a new Job object that completes.
    f.faults(&[]).await;
    let (result, _, _) = f.apply_and_wait(&manifests, common::WAIT).await;
    result.expect("the Job ran again and completed");
    let job = jobs.get("setup").await.unwrap();
    assert_ne!(job.metadata.uid, failed, "the failed Job was kept");
    assert_eq!(job.status.unwrap().succeeded, Some(1));

    // A completed Job applied again is left as it is: nothing runs twice.
    let (result, _, _) = f.apply_and_wait(&manifests, common::WAIT).await;
    result.unwrap();
    assert_eq!(
        jobs.get("setup").await.unwrap().metadata.uid,
        job.metadata.uid
    );
    f.done().await;
}

#[tokio::test]
async fn never_ready_pod_times_out_with_a_diagnosis() {
    let f = Fixture::new("wait-never").await;
    f.faults(&["{pods: 'stuck-*', fault: never-ready}"]).await;
    let manifests = [f.manifest("stuck", deployment("stuck", 1, container("nginx:1.27")))];
    let timeout = Duration::from_secs(20);
    let (result, _, took) = f.apply_and_wait(&manifests, timeout).await;
    let e = failure(result);
    assert_eq!(e.kind, WaitFailure::TimedOut, "{e}");
    assert!(took >= timeout, "{took:?}");
    assert!(
        took < timeout + Duration::from_secs(30),
        "report is quick: {took:?}"
    );
    let d = &e.diagnoses[0];
    assert_eq!(d.object, "Deployment/stuck");
    assert_eq!(d.reason, "NotReady", "{d:?}");
    assert!(d.pod.as_deref().unwrap().starts_with("stuck-"), "{d:?}");
    assert!(d.detail.contains("running but not ready"), "{}", d.detail);
    let text = e.to_string();
    assert!(text.starts_with("timed out after"), "{text}");
    assert!(text.contains("Deployment/stuck"), "{text}");
    f.done().await;
}

#[tokio::test]
async fn dropping_the_wait_is_harmless() {
    let f = Fixture::new("wait-cancel").await;
    f.faults(&["{pods: 'slow-*', fault: slow, delaySeconds: 60}"])
        .await;
    let manifests = [f.manifest("slow", deployment("slow", 1, container("nginx:1.27")))];
    f.apply(&manifests).await;
    let wait = wait_ready(
        &f.resolver,
        &manifests,
        WaitOptions::timeout(common::WAIT),
        |_| {},
    );
    // Like Ctrl-C: the future is dropped mid-wait; nothing is left running.
    let outcome = tokio::time::timeout(Duration::from_secs(3), wait).await;
    assert!(outcome.is_err(), "still waiting after 3s");
    f.done().await;
}
