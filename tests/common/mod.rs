//! Shared fixture for integration tests: a real control plane and a namespace per test.
//!
//! The cluster comes from `STACKCTL_TEST_KUBECONFIG` (so the tests also run against
//! kind, k3d or a real cluster); when unset, `tests/cluster/up` starts (or reuses) the
//! local one. Each test works in its own namespace so tests run in parallel.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod cli;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use tokio::sync::OnceCell;

/// Every built-in profile.
pub const PROFILES: [&str; 7] = [
    "minimal",
    "default",
    "production",
    "external-services",
    "aiops-minimal",
    "aiops",
    "aiops-production",
];

/// Values a profile cannot default, as the profile declares them (`requires:`), filled
/// in with its examples. In-house images are pinned to a release rather than `latest`.
pub fn required_sets(profile: &str) -> Vec<stackctl::values::SetFlag> {
    use stackctl::values::SetFlag;
    let profile = stackctl::profiles::load(profile).unwrap();
    let mut sets = Vec::new();
    for r in &profile.requires {
        let example = r
            .example
            .as_ref()
            .expect("built-in requirements have examples");
        sets.push(SetFlag::json(format!("{}={example}", r.key)));
        if let Some(component) = r.key.strip_suffix(".image.repository") {
            sets.push(SetFlag::set(format!("{component}.image.tag=1.0.0")));
        }
    }
    sets
}

/// The input of a built-in profile with the values it cannot default.
pub fn profile_input(
    profile: &str,
    release: Option<String>,
    namespace: Option<String>,
) -> stackctl::operations::Input {
    stackctl::operations::Input {
        profile: Some(profile.to_string()),
        release,
        namespace,
        sets: required_sets(profile),
        ..Default::default()
    }
}

/// A built-in profile's objects in apply order, as `template` renders them in
/// `namespace`, with `sets` (`--set` syntax) over the values it cannot default;
/// generated secrets from a fixed seed.
pub fn render(profile: &str, namespace: &str, sets: &[&str]) -> Vec<stackctl::model::Manifest> {
    use rand::SeedableRng;
    let mut input = profile_input(profile, None, Some(namespace.into()));
    input
        .sets
        .extend(sets.iter().map(|s| stackctl::values::SetFlag::set(*s)));
    let prepared =
        stackctl::operations::prepare_with_rng(&input, &mut rand::rngs::StdRng::seed_from_u64(42))
            .unwrap_or_else(|e| panic!("profile {profile}: {e:#}"));
    prepared
        .plan(stackctl::model::Capabilities::latest())
        .unwrap()
        .manifests()
        .cloned()
        .collect()
}

/// The body of the one `kind` whose name contains `part`.
pub fn find<'a>(
    ms: &'a [stackctl::model::Manifest],
    kind: &str,
    part: &str,
) -> &'a serde_json::Value {
    &ms.iter()
        .find(|m| m.kind == kind && m.name.contains(part))
        .unwrap_or_else(|| panic!("no {kind} *{part}*"))
        .body
}

/// The shell script of the readiness probe of the first container of the
/// StatefulSet whose name contains `sts`, as `profile` renders it: what the
/// real-program tests run.
pub fn readiness_script(profile: &str, namespace: &str, sts: &str) -> String {
    let ms = render(profile, namespace, &[]);
    let c = &find(&ms, "StatefulSet", sts)["spec"]["template"]["spec"]["containers"][0];
    let command = &c["readinessProbe"]["exec"]["command"];
    assert_eq!(command[0], "sh", "{c}");
    command[2].as_str().unwrap().to_string()
}

static KUBECONFIG: OnceCell<PathBuf> = OnceCell::const_new();

/// Path of an admin kubeconfig for the test cluster, starting the local one if needed.
pub async fn kubeconfig() -> PathBuf {
    KUBECONFIG
        .get_or_init(|| async {
            if let Some(path) = std::env::var_os("STACKCTL_TEST_KUBECONFIG") {
                return PathBuf::from(path);
            }
            let up = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/up");
            let out = tokio::process::Command::new(&up)
                // Tests run installs in parallel: give the simulated nodes room for
                // several releases at once (a caller's settings win).
                .env(
                    "SIMNODE_CPU",
                    std::env::var("SIMNODE_CPU").unwrap_or_else(|_| "16".into()),
                )
                .env(
                    "SIMNODE_MEMORY",
                    std::env::var("SIMNODE_MEMORY").unwrap_or_else(|_| "64Gi".into()),
                )
                .stderr(std::process::Stdio::inherit())
                .output()
                .await
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", up.display()));
            assert!(out.status.success(), "{} failed", up.display());
            let stdout = String::from_utf8_lossy(&out.stdout);
            let last = stdout.lines().last().unwrap_or_default();
            let path = last
                .strip_prefix("KUBECONFIG=")
                .unwrap_or_else(|| panic!("unexpected last line from tests/cluster/up: {last:?}"));
            PathBuf::from(path)
        })
        .await
        .clone()
}

/// Path of the kubeconfig whose user is bound to a namespace-scoped Role only
/// (namespace `stackctl-restricted`), written next to the admin one by `up`.
pub async fn restricted_kubeconfig() -> Option<PathBuf> {
    let admin = kubeconfig().await;
    let path = admin.with_file_name("restricted.kubeconfig");
    path.exists().then_some(path)
}

/// A client for the test cluster as its admin.
pub async fn cluster() -> Client {
    client_for(&kubeconfig().await).await
}

pub async fn client_for(path: &std::path::Path) -> Client {
    let kc = Kubeconfig::read_from(path).expect("readable kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("valid kubeconfig");
    Client::try_from(config).expect("kube client")
}

/// Creates a fresh namespace named `<prefix>-<pid>-<n>` and returns its name.
/// Namespaces are left behind on failure for a post-mortem; `tests/cluster/up`
/// starts from an empty etcd each time.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "{prefix}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name }
    }))
    .unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
    wait_for_default_service_account(client, &name).await;
    name
}

/// Creates the namespace `name` afresh (after deleting a leftover one), for a test
/// whose fixture was recorded in a namespace of that name.
pub async fn fixed_namespace(client: &Client, name: &str) -> String {
    let api = Api::<Namespace>::all(client.clone());
    let deadline = tokio::time::Instant::now() + WAIT;
    while api.get_opt(name).await.unwrap().is_some() {
        let _ = api.delete(name, &DeleteParams::default()).await;
        assert!(
            tokio::time::Instant::now() < deadline,
            "namespace {name} is still being deleted"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name }
    }))
    .unwrap();
    api.create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
    wait_for_default_service_account(client, name).await;
    name.to_string()
}

/// Before 1.24, a pod created before the namespace's default ServiceAccount has its
/// token Secret is refused ("no API token found"); controllers retry, bare pods do not.
async fn wait_for_default_service_account(client: &Client, ns: &str) {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let needs_token = client
        .apiserver_version()
        .await
        .ok()
        .and_then(|v| v.minor.trim_end_matches('+').parse::<u32>().ok())
        .is_some_and(|minor| minor < 24);
    let api = Api::<ServiceAccount>::namespaced(client.clone(), ns);
    let ready = async {
        loop {
            if let Ok(Some(sa)) = api.get_opt("default").await
                && (!needs_token || sa.secrets.is_some_and(|s| !s.is_empty()))
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(WAIT, ready).await.unwrap_or_else(|_| {
        panic!("namespace {ns}: the default ServiceAccount never became usable")
    });
}

/// Deletes a namespace a test is done with (best effort).
pub async fn drop_namespace(client: &Client, name: &str) {
    let _ = Api::<Namespace>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await;
}

/// Upper bound for anything a test waits for; generous, since CI machines vary.
pub const WAIT: Duration = Duration::from_secs(120);

/// The data of every Secret of `namespace` that `keep` admits, by name: what tests
/// compare before and after an operation that must not change credentials.
pub async fn secret_data(
    client: &Client,
    namespace: &str,
    keep: impl Fn(&k8s_openapi::api::core::v1::Secret) -> bool,
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<u8>>> {
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), namespace)
        .list(&kube::api::ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|s| keep(s))
        .map(|s| {
            let data = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            (s.metadata.name.unwrap_or_default(), data)
        })
        .collect()
}
