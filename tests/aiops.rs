//! The AIOps stack on the real control plane: install, upgrade and rollback of the
//! `aiops-minimal` profile through the binary, as users run it; cluster-scoped
//! objects (IngressClass, ClusterRoles) and the labelled Namespace included.

mod common;

use common::cli::Env;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::IngressClass;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;

async fn sts_image(env: &Env, name: &str) -> String {
    let s = Api::<StatefulSet>::namespaced(env.client.clone(), &env.ns)
        .get(name)
        .await
        .unwrap();
    s.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone()
        .unwrap()
}

#[tokio::test]
async fn aiops_minimal_installs_upgrades_rolls_back_and_uninstalls() {
    let env = Env::new("aiops").await;
    // The test cluster is Kubernetes 1.20; Traefik v3.4.1 reads EndpointSlices
    // (discovery.k8s.io/v1, 1.21), so preflight refuses it there. The simulated
    // nodes route nothing anyway: what is tested is the lifecycle, so go on.
    let out = env
        .ok(&[
            "install",
            "aiops",
            "--profile",
            "aiops-minimal",
            "--allow-unsupported-kubernetes",
        ])
        .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("AIOps platform"), "no notes: {stdout}");
    assert_eq!(
        sts_image(&env, "aiops-grafana").await,
        "grafana/grafana:12.0.2"
    );
    let elastic = env
        .secret_value("aiops-elasticsearch-credentials", "elastic-password")
        .await;
    let grafana = env
        .secret_value("aiops-grafana-credentials", "admin-password")
        .await;
    assert_eq!(elastic.len(), 32);

    // The Kibana setup Job ran to completion before Kibana was applied.
    let jobs = Api::<Job>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default().labels("app.kubernetes.io/component=kibana-setup"))
        .await
        .unwrap();
    assert_eq!(jobs.items.len(), 1);
    assert_eq!(jobs.items[0].status.as_ref().unwrap().succeeded, Some(1));
    // Cluster-scoped objects carry namespace and release in their names.
    let class = format!("{}-aiops-traefik", env.ns);
    let classes = Api::<IngressClass>::all(env.client.clone());
    assert_eq!(
        classes
            .get(&class)
            .await
            .unwrap()
            .spec
            .unwrap()
            .controller
            .as_deref(),
        Some("traefik.io/ingress-controller")
    );
    // The release namespace is labelled for the release, and kept its own name.
    let namespaces = Api::<Namespace>::all(env.client.clone());
    let ns = namespaces.get(&env.ns).await.unwrap();
    assert_eq!(
        ns.metadata
            .labels
            .unwrap()
            .get("stackctl.dev/release")
            .map(String::as_str),
        Some("aiops")
    );

    // 1.20 again (see the install).
    env.ok(&[
        "upgrade",
        "aiops",
        "--set",
        "grafana.image.tag=12.1.0",
        "--allow-unsupported-kubernetes",
    ])
    .await;
    assert_eq!(
        sts_image(&env, "aiops-grafana").await,
        "grafana/grafana:12.1.0"
    );
    assert_eq!(
        env.secret_value("aiops-elasticsearch-credentials", "elastic-password")
            .await,
        elastic,
        "upgrade regenerated a password"
    );
    assert_eq!(
        env.secret_value("aiops-grafana-credentials", "admin-password")
            .await,
        grafana
    );

    env.ok(&["rollback", "aiops", "1"]).await;
    assert_eq!(
        sts_image(&env, "aiops-grafana").await,
        "grafana/grafana:12.0.2"
    );
    assert_eq!(
        env.secret_value("aiops-elasticsearch-credentials", "elastic-password")
            .await,
        elastic
    );

    let statuses = env.revision_statuses("aiops").await;
    assert_eq!(
        statuses,
        vec![
            (1, "superseded".into()),
            (2, "superseded".into()),
            (3, "deployed".into())
        ]
    );
    let status = env.ok(&["status", "aiops", "-o", "json"]).await;
    let report: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(report["revision"], 3);
    assert_eq!(report["healthy"], true, "{report:#}");

    // Uninstall removes the release's cluster-scoped objects, and never the
    // Namespace it labelled.
    env.ok(&["uninstall", "aiops"]).await;
    assert!(classes.get_opt(&class).await.unwrap().is_none());
    let roles = Api::<ClusterRole>::all(env.client.clone());
    assert!(
        roles
            .get_opt(&format!("{}-aiops-traefik", env.ns))
            .await
            .unwrap()
            .is_none()
    );
    let ns = namespaces.get(&env.ns).await.unwrap();
    assert!(
        ns.metadata.deletion_timestamp.is_none(),
        "namespace deleted"
    );
    common::drop_namespace(&env.client, &env.ns).await;
}

/// Below the Kubernetes version a component needs, install refuses before writing
/// anything, naming the component and the ways out; with a way out taken, it goes
/// on. Meaningful on clusters older than 1.21 (the test cluster is 1.20).
#[tokio::test]
async fn traefik_on_kubernetes_1_20_is_refused_before_anything_is_written() {
    let env = Env::new("aiops-kube").await;
    let version = env.client.apiserver_version().await.unwrap();
    let minor = stackctl::cluster::parse_minor(&version.minor).unwrap();
    if minor >= 21 {
        eprintln!(
            "skipped: the cluster is {}, which Traefik supports",
            version.git_version
        );
        env.done().await;
        return;
    }
    let out = env
        .run(&["install", "aiops", "--profile", "aiops-minimal", "--yes"])
        .await;
    assert_eq!(out.status.code(), Some(3), "a preflight failure");
    let err = common::cli::stderr(&out);
    assert!(
        err.contains("preflight failed; nothing was changed"),
        "{err}"
    );
    assert!(
        err.contains("traefik needs Kubernetes 1.21 or newer"),
        "names the component: {err}"
    );
    assert!(err.contains("EndpointSlices"), "says why: {err}");
    assert!(err.contains("--set traefik.enabled=false"), "{err}");
    assert!(err.contains("--set traefik.image.tag=v3.0.4"), "{err}");
    assert!(err.contains("--allow-unsupported-kubernetes"), "{err}");
    env.assert_nothing_written("aiops").await;
    let class = format!("{}-aiops-traefik", env.ns);
    assert!(
        Api::<IngressClass>::all(env.client.clone())
            .get_opt(&class)
            .await
            .unwrap()
            .is_none(),
        "the IngressClass was written"
    );
    let ns = Api::<Namespace>::all(env.client.clone())
        .get(&env.ns)
        .await
        .unwrap();
    assert!(
        !ns.metadata
            .labels
            .unwrap_or_default()
            .contains_key("stackctl.dev/release"),
        "the namespace was labelled"
    );

    // A Traefik that reads v1 Endpoints passes this check (server dry run: the
    // API server judges the objects, nothing is kept).
    let out = env
        .run(&[
            "install",
            "aiops",
            "--profile",
            "aiops-minimal",
            "--set",
            "traefik.image.tag=v3.0.4",
            "--dry-run=server",
        ])
        .await;
    let err = common::cli::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("needs Kubernetes"), "{err}");
    env.assert_nothing_written("aiops").await;
    env.done().await;
}
