//! The four lines from MISSION.md, exactly as written, in order, against the real
//! control plane: no -n, no release name, no other flags. This binary has one test so
//! no other release of this suite is being created while it looks for "the only
//! release visible".

mod common;

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;
use stackctl::release::Store;

async fn stackctl(kubeconfig: &std::path::Path, args: &[&str]) -> std::process::Output {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    eprintln!(
        "$ stackctl {}\n{}{}exit {:?}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code()
    );
    out
}

#[tokio::test]
async fn the_four_lines_of_the_mission() {
    let client = common::cluster().await;
    let kubeconfig = common::kubeconfig().await;

    // Earlier test binaries delete their namespaces on the way out; wait for that, so
    // this release is the only one visible.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let visible = Store::releases(client.clone(), None)
            .await
            .unwrap_or_default();
        if visible.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "other stackctl releases are still visible: {visible:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "clickvisual");
    let image = || async {
        deployments
            .get("clickvisual-clickvisual")
            .await
            .unwrap()
            .spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .containers[0]
            .image
            .clone()
            .unwrap()
    };

    // 1. stackctl install --profile minimal
    let out = stackctl(&kubeconfig, &["install", "--profile", "minimal"]).await;
    assert!(out.status.success());
    assert_eq!(image().await, "clickvisual/clickvisual:1.0.7");
    let sts: Vec<String> = Api::<StatefulSet>::namespaced(client.clone(), "clickvisual")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    assert_eq!(
        sts,
        [
            "clickvisual-clickhouse",
            "clickvisual-kafka",
            "clickvisual-mysql"
        ]
    );

    // 2. stackctl upgrade --set clickvisual.image.tag=v1.2.0
    let out = stackctl(
        &kubeconfig,
        &["upgrade", "--set", "clickvisual.image.tag=v1.2.0"],
    )
    .await;
    assert!(out.status.success());
    assert_eq!(image().await, "clickvisual/clickvisual:v1.2.0");

    // 3. stackctl rollback 1
    let out = stackctl(&kubeconfig, &["rollback", "1"]).await;
    assert!(out.status.success());
    assert_eq!(image().await, "clickvisual/clickvisual:1.0.7");

    // 4. stackctl status
    let out = stackctl(&kubeconfig, &["status"]).await;
    assert!(
        out.status.success(),
        "status must exit 0 for a healthy release"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("REVISION: 3") && text.contains("STATUS: deployed"),
        "{text}"
    );
    assert!(
        text.contains("clickvisual-mysql-credentials"),
        "credentials not shown: {text}"
    );

    let history = stackctl(&kubeconfig, &["history", "-o", "json"]).await;
    let history: Vec<Value> = serde_json::from_slice(&history.stdout).unwrap();
    let statuses: Vec<(&str, &str)> = history
        .iter()
        .map(|r| {
            (
                r["operation"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("install", "superseded"),
            ("upgrade", "superseded"),
            ("rollback", "deployed")
        ]
    );

    let out = stackctl(&kubeconfig, &["uninstall", "--purge-volumes", "--yes"]).await;
    assert!(out.status.success());
    common::drop_namespace(&client, "clickvisual").await;
}
