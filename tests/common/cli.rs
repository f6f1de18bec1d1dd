//! Running the stackctl binary against the test cluster, in a namespace of its own.

use std::process::Output;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::Value;

/// A test's namespace on the cluster, and how to run stackctl in it.
pub struct Env {
    pub client: Client,
    pub ns: String,
    pub kubeconfig: std::path::PathBuf,
}

impl Env {
    pub async fn new(prefix: &str) -> Env {
        let client = super::cluster().await;
        let ns = super::namespace(&client, prefix).await;
        Env {
            client,
            ns,
            kubeconfig: super::kubeconfig().await,
        }
    }

    /// In the namespace `name`, created afresh (see [`super::fixed_namespace`]).
    pub async fn in_namespace(name: &str) -> Env {
        let client = super::cluster().await;
        let ns = super::fixed_namespace(&client, name).await;
        Env {
            client,
            ns,
            kubeconfig: super::kubeconfig().await,
        }
    }

    /// `stackctl ARGS -n NS`, never attached to a terminal.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_stackctl"));
        cmd.args(args)
            .args(["-n", &self.ns])
            .env("KUBECONFIG", &self.kubeconfig)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Runs stackctl and prints what it said, so a failing test shows the whole story.
    pub async fn run(&self, args: &[&str]) -> Output {
        let out = tokio::time::timeout(Duration::from_secs(600), self.command(args).output())
            .await
            .expect("stackctl finished within 10 minutes")
            .expect("stackctl runs");
        eprintln!(
            "$ stackctl {} -n {}\n--- stdout\n{}--- stderr\n{}--- exit {:?}",
            args.join(" "),
            self.ns,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            out.status.code()
        );
        out
    }

    pub async fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args).await;
        assert!(out.status.success(), "stackctl {args:?} failed");
        out
    }

    /// `stackctl history RELEASE -o json`.
    pub async fn history(&self, release: &str) -> Vec<Value> {
        let out = self.ok(&["history", release, "-o", "json"]).await;
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Each revision's status, oldest first.
    pub async fn statuses(&self, release: &str) -> Vec<String> {
        self.revision_statuses(release)
            .await
            .into_iter()
            .map(|(_, status)| status)
            .collect()
    }

    /// `(revision, status)` of each revision, oldest first.
    pub async fn revision_statuses(&self, release: &str) -> Vec<(u64, String)> {
        self.history(release)
            .await
            .iter()
            .map(|r| {
                (
                    r["revision"].as_u64().unwrap(),
                    r["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Starts `install cv --profile minimal` held in its data phase (MySQL ready only
    /// after `delay_seconds`) and returns once it holds the release lock and has
    /// written its pending record, so a test can interrupt it mid-operation. (Killed
    /// between the two, it would leave a lock and no record: another test.)
    pub async fn install_holding_the_lock(&self, delay_seconds: u32) -> tokio::process::Child {
        let rule = format!("{{pods: 'cv-mysql-*', fault: slow, delaySeconds: {delay_seconds}}}");
        self.faults(&[("slow", rule.as_str())]).await;
        let child = self
            .command(&["install", "cv", "--profile", "minimal"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        tokio::time::timeout(super::WAIT, async {
            while !(self.lock_exists("cv").await && self.record_exists("cv", 1).await) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .expect("the install took its lock and wrote its record");
        child
    }

    pub async fn secret_value(&self, name: &str, key: &str) -> String {
        let s = Api::<Secret>::namespaced(self.client.clone(), &self.ns)
            .get(name)
            .await
            .unwrap();
        String::from_utf8(s.data.unwrap()[key].0.clone()).unwrap()
    }

    /// Writes the simulated node's fault rules for this namespace.
    pub async fn faults(&self, rules: &[(&str, &str)]) {
        let data: serde_json::Map<String, Value> = rules
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "simnode-faults"},
            "data": data
        }))
        .unwrap();
        Api::<ConfigMap>::namespaced(self.client.clone(), &self.ns)
            .create(&PostParams::default(), &cm)
            .await
            .unwrap();
    }

    pub async fn clear_faults(&self) {
        Api::<ConfigMap>::namespaced(self.client.clone(), &self.ns)
            .delete("simnode-faults", &kube::api::DeleteParams::default())
            .await
            .unwrap();
    }

    pub async fn record_exists(&self, release: &str, revision: u32) -> bool {
        Api::<Secret>::namespaced(self.client.clone(), &self.ns)
            .get_opt(&format!("stackctl.release.v1.{release}.v{revision}"))
            .await
            .unwrap()
            .is_some()
    }

    pub async fn lock_exists(&self, release: &str) -> bool {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), &self.ns);
        leases
            .get_opt(&format!("stackctl-lock-{release}"))
            .await
            .unwrap()
            .is_some()
    }

    /// The release's lock Lease as on the cluster.
    pub async fn lock_lease(&self, release: &str) -> Lease {
        Api::<Lease>::namespaced(self.client.clone(), &self.ns)
            .get(&format!("stackctl-lock-{release}"))
            .await
            .unwrap()
    }

    /// Merge-patches the release's lock Lease, as another stackctl (an older one, or
    /// one on another machine) would have written it.
    pub async fn patch_lock(&self, release: &str, patch: &Value) {
        Api::<Lease>::namespaced(self.client.clone(), &self.ns)
            .patch(
                &format!("stackctl-lock-{release}"),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
            .unwrap();
    }

    /// Asserts that no release record and no object of `release` exists: what a
    /// refused or dry-run operation must leave.
    pub async fn assert_nothing_written(&self, release: &str) {
        let secrets = Api::<Secret>::namespaced(self.client.clone(), &self.ns);
        let records = secrets
            .list(&ListParams::default().labels("owner=stackctl"))
            .await
            .unwrap();
        assert!(records.items.is_empty(), "a release record was written");
        let selector = format!("stackctl.dev/release={release}");
        let owned = secrets
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap();
        assert!(owned.items.is_empty(), "Secrets of {release} were written");
        let configs = Api::<ConfigMap>::namespaced(self.client.clone(), &self.ns)
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap();
        assert!(
            configs.items.is_empty(),
            "ConfigMaps of {release} were written"
        );
    }

    /// Removes the namespace; reached only when the test passed, so a failure leaves
    /// its objects for a post-mortem.
    pub async fn done(self) {
        super::drop_namespace(&self.client, &self.ns).await;
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}
