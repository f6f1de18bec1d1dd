//! `stackctl doctor` on the real control plane: each fault the simulated node can
//! inject, drift, a Service without endpoints and an Ingress without class or TLS
//! Secret, each checked for its finding, severity and remedy; a healthy release
//! exits 0; a user who can only read gets the degraded report, not an error.
//!
//! What this cannot prove: the simulated node serves no logs (so every log line is
//! "no log available: …") and runs no Prometheus (so volume usage is always a
//! skipped check here); the Prometheus query and the log reading are exercised for
//! their failure path only.

mod common;

use std::time::Duration;

use common::cli::{Env, stderr};
use k8s_openapi::api::core::v1::{Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

async fn doctor(env: &Env, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["doctor", "cv", "-o", "json"];
    args.extend_from_slice(extra);
    let out = env.run(&args).await;
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor -o json printed no JSON ({e}): {}", stderr(&out)));
    (out.status.code(), report)
}

fn find<'a>(report: &'a Value, reason: &str, object_prefix: &str) -> Option<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["reason"] == reason && f["object"].as_str().unwrap().starts_with(object_prefix))
}

fn reasons(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {} {}", f["severity"], f["reason"], f["object"]))
        .collect()
}

#[tokio::test]
async fn a_healthy_release_exits_0_with_the_documented_report() {
    let env = Env::new("dochealthy").await;
    env.ok(&["install", "cv", "--profile", "minimal", "--skip-tests"])
        .await;
    let (code, r) = doctor(&env, &[]).await;
    assert_eq!(code, Some(0), "{r:#}");
    assert_eq!(r["healthy"], true);
    assert_eq!(
        (r["release"].as_str(), r["stack"].as_str()),
        (Some("cv"), Some("clickvisual"))
    );
    assert_eq!(r["namespace"], env.ns.as_str());
    assert_eq!(
        (r["revision"].as_u64(), r["status"].as_str()),
        (Some(1), Some("deployed"))
    );
    assert_eq!(r["windowSeconds"], 3600);
    assert!(r["checkedAt"].as_str().is_some());
    assert_eq!(
        (
            r["counts"]["error"].as_u64(),
            r["counts"]["warning"].as_u64()
        ),
        (Some(0), Some(0))
    );
    for f in r["findings"].as_array().unwrap() {
        assert_eq!(f["severity"], "info", "{f:#}");
        for key in [
            "check",
            "object",
            "component",
            "reason",
            "summary",
            "evidence",
            "remedy",
        ] {
            assert!(f.get(key).is_some(), "finding without {key}: {f:#}");
        }
    }
    // ClickVisual has no Prometheus to tell how full volumes are: said, not hidden.
    assert!(
        r["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["check"] == "volumes" && s["what"] == "volume usage"),
        "{r:#}"
    );
    let text = env.ok(&["doctor", "cv", "--since", "10m"]).await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("FOUND: 0 errors, 0 warnings"), "{text}");
    assert!(text.contains("of the last 10m"), "{text}");

    // --probes runs the connectivity probes; a failing one is an error finding.
    env.faults(&[(
        "probe",
        "{pods: 'cv-test-mysql-*', fault: exit-code, exitCode: 1}",
    )])
    .await;
    let (code, r) = doctor(&env, &["--probes"]).await;
    assert_eq!(code, Some(1), "{:#?}", reasons(&r));
    let probe = find(&r, "ProbeFailed", "Job/cv-test-mysql")
        .unwrap_or_else(|| panic!("{:#?}", reasons(&r)));
    assert_eq!(
        (probe["check"].as_str(), probe["component"].as_str()),
        (Some("probes"), Some("mysql"))
    );
    assert!(
        probe["remedy"].as_str().unwrap().contains("--filter mysql"),
        "{probe:#}"
    );
    let failed = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "probes")
        .count();
    assert_eq!(failed, 1, "only the mysql probe fails: {:#?}", reasons(&r));
    // doctor only looks: the probe run is not recorded in the revision.
    let status = env.run(&["status", "cv", "-o", "json"]).await;
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(status["probes"].is_null(), "{:#}", status["probes"]);
    env.done().await;
}

/// Faults injected after a healthy install: controllers replace the deleted pods,
/// and the replacements carry the faults.
#[tokio::test]
async fn each_fault_drift_and_network_problem_is_a_finding_with_its_remedy() {
    let env = Env::new("docfaults").await;
    env.ok(&[
        "install",
        "cv",
        "--profile",
        "minimal",
        "--skip-tests",
        "--set",
        "ingress.enabled=true",
        "--set",
        "ingress.tls.enabled=true",
        "--set",
        "ingress.tls.secretName=cv-tls",
        // Without the release's own policies, which would admit its flows: the
        // user's deny-all below is then what blocks them.
        "--set",
        "networkPolicy.enabled=false",
    ])
    .await;
    env.faults(&[
        (
            "crash",
            "{pods: 'cv-clickvisual-*', fault: crashloop, exitCode: 3}",
        ),
        ("never", "{pods: 'cv-kafka-0', fault: never-ready}"),
        ("pull", "{pods: 'cv-clickhouse-0', fault: image-pull}"),
        (
            "slow",
            "{pods: 'cv-fluentbit-*', fault: slow, delaySeconds: 600}",
        ),
    ])
    .await;
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), &env.ns);
    for p in pods.list(&ListParams::default()).await.unwrap().items {
        let name = p.metadata.name.unwrap();
        if ["cv-clickvisual-", "cv-kafka-0", "cv-clickhouse-0"]
            .iter()
            .any(|n| name.starts_with(n))
            || name.starts_with("cv-fluentbit-")
        {
            pods.delete(&name, &DeleteParams::default()).await.unwrap();
        }
    }
    // Drift: one object deleted, one of our fields changed by another manager.
    let services: Api<Service> = Api::namespaced(env.client.clone(), &env.ns);
    services
        .delete("cv-mysql-headless", &DeleteParams::default())
        .await
        .unwrap();
    services
        .patch(
            "cv-kafka",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app.kubernetes.io/version": "edited"}}})),
        )
        .await
        .unwrap();

    // A user's deny-all ingress policy: every flow into the release's pods is denied.
    let deny: NetworkPolicy = serde_json::from_value(json!({
        "metadata": {"name": "deny-all"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}
    }))
    .unwrap();
    Api::<NetworkPolicy>::namespaced(env.client.clone(), &env.ns)
        .create(&PostParams::default(), &deny)
        .await
        .unwrap();

    let wanted = [
        ("CrashLoopBackOff", "Pod/cv-clickvisual-"),
        ("ImagePullBackOff", "Pod/cv-clickhouse-0"),
        ("NoEndpoints", "Service/cv-kafka"),
        ("Deleted", "Service/cv-mysql-headless"),
        ("Drifted", "Service/cv-kafka"),
        ("NoIngressClass", "Ingress/cv-clickvisual"),
        ("TLSSecretNotFound", "Ingress/cv-clickvisual"),
        ("FlowBlocked", "NetworkPolicy/deny-all"),
    ];
    let mut last = (None, Value::Null);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while tokio::time::Instant::now() < deadline {
        last = doctor(&env, &[]).await;
        if wanted.iter().all(|(r, o)| find(&last.1, r, o).is_some())
            && find(&last.1, "NotReady", "Pod/cv-kafka-0").is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let (code, r) = last;
    assert_eq!(code, Some(1), "{:#?}", reasons(&r));
    assert_eq!(r["healthy"], false);

    let crash = find(&r, "CrashLoopBackOff", "Pod/cv-clickvisual-")
        .unwrap_or_else(|| panic!("{:#?}", reasons(&r)));
    assert_eq!(
        (crash["severity"].as_str(), crash["check"].as_str()),
        (Some("error"), Some("pods"))
    );
    assert_eq!(crash["component"], "clickvisual");
    assert!(
        crash["summary"].as_str().unwrap().contains("code 3"),
        "{crash:#}"
    );
    assert!(
        crash["remedy"].as_str().unwrap().contains("--previous"),
        "{crash:#}"
    );
    let evidence = crash["evidence"].to_string();
    // The simulated node serves no logs: the report says so instead of failing.
    assert!(evidence.contains("no log available"), "{crash:#}");

    let pull = find(&r, "ImagePullBackOff", "Pod/cv-clickhouse-0").unwrap();
    assert_eq!(pull["severity"], "error");
    assert!(
        pull["remedy"]
            .as_str()
            .unwrap()
            .contains("clickhouse.image.repository"),
        "{pull:#}"
    );

    let never =
        find(&r, "NotReady", "Pod/cv-kafka-0").unwrap_or_else(|| panic!("{:#?}", reasons(&r)));
    assert_eq!(never["severity"], "warning");
    let slow = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["component"] == "fluentbit" && f["check"] == "pods")
        .unwrap_or_else(|| panic!("no finding for the slow fluentbit pods: {:#?}", reasons(&r)));
    assert_eq!(slow["severity"], "warning", "{slow:#}");

    let no_endpoints = find(&r, "NoEndpoints", "Service/cv-kafka").unwrap();
    assert_eq!(
        (
            no_endpoints["severity"].as_str(),
            no_endpoints["check"].as_str()
        ),
        (Some("error"), Some("network"))
    );
    let deleted = find(&r, "Deleted", "Service/cv-mysql-headless").unwrap();
    assert_eq!(
        (deleted["severity"].as_str(), deleted["check"].as_str()),
        (Some("error"), Some("release"))
    );
    assert!(
        deleted["remedy"]
            .as_str()
            .unwrap()
            .contains("stackctl upgrade")
    );
    let drifted = find(&r, "Drifted", "Service/cv-kafka").unwrap();
    assert_eq!(drifted["severity"], "warning");
    assert!(
        drifted["evidence"].to_string().contains("edited"),
        "{drifted:#}"
    );
    // Only what was changed drifted: the untouched Services are not reported.
    assert!(
        find(&r, "Drifted", "Service/cv-mysql").is_none(),
        "{:#?}",
        reasons(&r)
    );

    let class = find(&r, "NoIngressClass", "Ingress/").unwrap();
    assert_eq!(class["severity"], "warning");
    let tls = find(&r, "TLSSecretNotFound", "Ingress/").unwrap();
    assert_eq!(tls["severity"], "error");
    assert!(
        tls["remedy"]
            .as_str()
            .unwrap()
            .contains("kubectl create secret tls")
    );

    let blocked: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["reason"] == "FlowBlocked")
        .map(|f| f["summary"].as_str().unwrap())
        .collect();
    assert!(
        blocked
            .iter()
            .any(|s| s.contains("clickvisual → mysql tcp/3306")
                && s.contains("ingress of mysql denied by networkpolicy/deny-all")),
        "{blocked:#?}"
    );
    assert!(
        blocked.iter().any(|s| s.contains("fluentbit → kafka")),
        "{blocked:#?}"
    );

    // `status` carries the findings of the revision, its pods and claims.
    let status = env.run(&["status", "cv", "-o", "json"]).await;
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let problems: Vec<&str> = status["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reason"].as_str().unwrap())
        .collect();
    assert!(
        problems.contains(&"CrashLoopBackOff") && problems.contains(&"ImagePullBackOff"),
        "{problems:?}"
    );
    assert!(
        !problems.contains(&"Drifted"),
        "status does not dry-run: {problems:?}"
    );

    // Worst first.
    let severities: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    let rank = |s: &str| {
        ["info", "warning", "error"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    assert!(
        severities.windows(2).all(|w| rank(w[0]) >= rank(w[1])),
        "{severities:?}"
    );
    env.done().await;
}

/// A failed install: the revision and the Job that exited non-zero.
#[tokio::test]
async fn a_failed_install_shows_the_revision_and_the_failed_job() {
    let env = Env::new("docjob").await;
    env.faults(&[(
        "job",
        "{pods: 'cv-clickvisual-schema-*', fault: exit-code, exitCode: 2}",
    )])
    .await;
    let out = env
        .run(&["install", "cv", "--profile", "minimal", "--skip-tests"])
        .await;
    assert_eq!(out.status.code(), Some(1), "the install must fail");
    let (code, r) = doctor(&env, &[]).await;
    assert_eq!(code, Some(1));
    let failed =
        find(&r, "RevisionFailed", "Release/cv").unwrap_or_else(|| panic!("{:#?}", reasons(&r)));
    assert_eq!(failed["severity"], "error");
    assert!(failed["remedy"].as_str().unwrap().contains("rollback"));
    let job = find(&r, "JobPodFailed", "Pod/cv-clickvisual-schema-")
        .unwrap_or_else(|| panic!("{:#?}", reasons(&r)));
    assert_eq!(job["severity"], "error");
    assert!(
        job["summary"].as_str().unwrap().contains("code 2"),
        "{job:#}"
    );
    assert!(
        job["evidence"].to_string().contains("no log available"),
        "{job:#}"
    );
    env.done().await;
}

/// A claim no provisioner binds: the install runs into its deadline, and the
/// claim is the finding (not the pod waiting for it).
#[tokio::test]
async fn a_claim_that_never_binds_is_a_volume_finding() {
    let env = Env::new("docclaim").await;
    env.faults(&[(
        "claim",
        "{pods: 'data-cv-clickhouse-0', fault: pvc-never-bound}",
    )])
    .await;
    let out = env
        .run(&["install", "cv", "--profile", "minimal", "--timeout", "20s"])
        .await;
    assert_ne!(out.status.code(), Some(0), "the install must fail");
    let (code, r) = doctor(&env, &[]).await;
    assert_eq!(code, Some(1));
    let claim = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["check"] == "volumes" && f["object"] == "PersistentVolumeClaim/data-cv-clickhouse-0"
        })
        .unwrap_or_else(|| panic!("{:#?}", reasons(&r)));
    assert_eq!(
        (claim["severity"].as_str(), claim["reason"].as_str()),
        (Some("error"), Some("ClaimPending")),
        "{claim:#}"
    );
    assert!(
        claim["remedy"]
            .as_str()
            .unwrap()
            .contains("kubectl describe pvc"),
        "{claim:#}"
    );
    // The pod that waits for the claim is not reported a second time.
    assert!(
        find(&r, "ClaimPending", "Pod/").is_none(),
        "{:#?}",
        reasons(&r)
    );
    env.done().await;
}

/// A user bound to a read-only Role in the namespace: no `patch` (so no drift dry
/// run), nothing cluster-wide (so no nodes). The report degrades and says what it
/// skipped; it does not fail.
#[tokio::test]
async fn a_read_only_user_gets_the_degraded_report() {
    let env = Env::new("docreader").await;
    env.ok(&["install", "cv", "--profile", "minimal", "--skip-tests"])
        .await;
    let kubeconfig = reader_kubeconfig(&env).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .args(["doctor", "cv", "-n", &env.ns, "-o", "json"])
        .env("KUBECONFIG", &kubeconfig)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let r: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    assert_eq!(out.status.code(), Some(0), "{r:#} {}", stderr(&out));
    let skipped: Vec<String> = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}: {}: {}", s["check"], s["what"], s["reason"]))
        .collect();
    for what in ["\"release\": \"drift\"", "\"capacity\": \"nodes\""] {
        assert!(
            skipped.iter().any(|s| s.starts_with(what)),
            "{what} not skipped: {skipped:#?}"
        );
    }
    assert!(skipped.iter().any(|s| s.contains("patch")), "{skipped:#?}");
    // Cluster-scoped objects it may not read are not taken for deleted.
    assert!(
        skipped.iter().any(|s| s.contains("ClusterRole/")),
        "{skipped:#?}"
    );
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["reason"] != "Deleted"),
        "{r:#}"
    );
    env.done().await;
}

/// A kubeconfig for a ServiceAccount that may get, list and watch everything in
/// the test's namespace and nothing else.
async fn reader_kubeconfig(env: &Env) -> std::path::PathBuf {
    let pp = PostParams::default();
    let ns = env.ns.as_str();
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "reader"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]
    }))
    .unwrap();
    Api::<Role>::namespaced(env.client.clone(), ns)
        .create(&pp, &role)
        .await
        .unwrap();
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "reader"}})).unwrap();
    Api::<ServiceAccount>::namespaced(env.client.clone(), ns)
        .create(&pp, &sa)
        .await
        .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(env.client.clone(), ns)
        .create(&pp, &binding)
        .await
        .unwrap();
    // Kubernetes 1.20 creates a token Secret for every ServiceAccount.
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), ns);
    let token = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let list = secrets.list(&ListParams::default()).await.unwrap();
            let found = list.items.into_iter().find(|s| {
                s.type_.as_deref() == Some("kubernetes.io/service-account-token")
                    && s.metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get("kubernetes.io/service-account.name"))
                        == Some(&"reader".to_string())
            });
            if let Some(token) = found.and_then(|s| s.data?.get("token").cloned()) {
                return String::from_utf8(token.0).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await
    .expect("the token controller wrote the ServiceAccount's token");
    let admin: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&env.kubeconfig).unwrap()).unwrap();
    let cluster = &admin["clusters"][0]["cluster"];
    let config = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "reader",
        "clusters": [{"name": "test", "cluster": cluster}],
        "users": [{"name": "reader", "user": {"token": token}}],
        "contexts": [{"name": "reader", "context": {"cluster": "test", "user": "reader", "namespace": ns}}]
    });
    let path = std::env::temp_dir().join(format!("stackctl-doctor-{ns}.kubeconfig"));
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

/// ClickVisual with its NetworkPolicies on and everything else denied installs,
/// passes its probes and upgrades; doctor finds no declared flow blocked. (The
/// simulated node enforces no policy: the evaluator is what checks the flows.)
#[tokio::test]
async fn clickvisual_with_default_deny_installs_upgrades_and_blocks_no_declared_flow() {
    let env = Env::new("doccv").await;
    let deny = "networkPolicy.enabled=true,networkPolicy.defaultDeny=true";
    env.ok(&["install", "cv", "--profile", "minimal", "--set", deny])
        .await;
    let policies = Api::<NetworkPolicy>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    let names: Vec<String> = policies
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    for name in ["cv-default-deny", "cv-allow-dns", "cv-probes", "cv-kafka"] {
        assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
    }
    env.ok(&["upgrade", "cv", "--set", "clickvisual.image.tag=1.0.6"])
        .await;
    let out = env.run(&["doctor", "cv", "-o", "json"]).await;
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(find(&r, "FlowBlocked", "").is_none(), "{:#?}", reasons(&r));
    env.done().await;
}

/// AIOps with its own NetworkPolicies on and everything else denied: no declared
/// flow is blocked, and volume usage is asked of the release's Prometheus (which
/// the simulated node does not run, so the query fails and says so).
#[tokio::test]
async fn aiops_with_default_deny_blocks_no_declared_flow() {
    let env = Env::new("docaiops").await;
    env.ok(&[
        "install",
        "aiops",
        "--profile",
        "aiops-minimal",
        "--skip-tests",
        // Traefik v3.1+ needs EndpointSlice v1 (1.21); the test bed is 1.20.
        "--allow-unsupported-kubernetes",
        "--set",
        "networkPolicy.enabled=true",
        "--set",
        "networkPolicy.defaultDeny=true",
    ])
    .await;
    let out = env.run(&["doctor", "aiops", "-o", "json"]).await;
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{:#?}", reasons(&r));
    assert!(find(&r, "FlowBlocked", "").is_none(), "{:#?}", reasons(&r));
    let usage = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["what"] == "volume usage")
        .unwrap_or_else(|| panic!("{r:#}"));
    assert!(
        usage["reason"]
            .as_str()
            .unwrap()
            .contains("Prometheus through Service aiops-prometheus"),
        "{usage:#}"
    );
    env.done().await;
}
