//! What a stack asks the backup runner to save: per data service, an image whose
//! client matches the server, the scripts that dump and restore it
//! (`stacks::backup_scripts`), their inputs, and the credential files they read.
//! Stack-neutral data, like [`super::ProbeSpec`]: the runner renders the Jobs.

use std::collections::BTreeMap;

/// On every backup record, the backup volume and scheduled backups' Jobs: the
/// release backed up.
pub const BACKUP_OF_LABEL: &str = "stackctl.dev/backup-of";

/// A release's `backup` values, as the runner needs them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupSettings {
    /// A CronJob schedule; empty: none.
    pub schedule: String,
    /// Scheduled backups kept.
    pub keep: u32,
    /// The backup volume's size and StorageClass (empty: the cluster's default).
    pub size: String,
    pub storage_class: String,
    /// `backup.s3`: backups go to this bucket instead of the volume.
    pub s3: Option<S3Target>,
    /// The S3 client's image (`backup.s3.image`), with its pull policy: also
    /// what restores and deletes a backup taken to S3 once `backup.s3` is unset.
    pub s3_client: (String, String),
}

/// Where a release's backups go in S3, as a backup's record keeps it: restoring
/// or deleting a backup uses where it went, whatever `backup.s3` says by then.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Target {
    /// The bucket's URL: `<endpoint>/<bucket>` (path style) or
    /// `<scheme>://<bucket>.<host>` (virtual-hosted style).
    pub url: String,
    pub region: String,
    /// `backup.s3.prefix`, empty or ending in `/`.
    pub prefix: String,
    /// The Secret holding `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    pub secret: String,
    /// `x-amz-server-side-encryption` of every object; empty: the bucket's default.
    pub encryption: String,
}

/// The keys of [`S3Target::secret`], as AWS's own tools name them.
pub const S3_SECRET_KEYS: [&str; 2] = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];

impl S3Target {
    /// Where a release's backups go: `<prefix><namespace>/<release>/`, so that
    /// releases of one name in two namespaces never share a key.
    pub fn release_prefix(&self, namespace: &str, release: &str) -> String {
        format!("{}{namespace}/{release}/", self.prefix)
    }

    /// `s3://`-style, for people: the bucket URL and the release's prefix.
    pub fn describe(&self, namespace: &str, release: &str) -> String {
        format!("{}/{}", self.url, self.release_prefix(namespace, release))
    }
}

/// A credential a script reads from a file: the Secret key mounted read-only, its
/// path given to the script in `env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialFile {
    pub env: String,
    pub secret: String,
    pub key: String,
}

/// One script run: what it runs and with what.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    pub script: String,
    /// Inputs without credentials (hosts, ports, users, databases).
    pub env: Vec<(String, String)>,
    pub credentials: Vec<CredentialFile>,
}

/// The backup of one data service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupSpec {
    pub component: String,
    pub image: String,
    pub pull_policy: String,
    /// The file it writes in the backup's directory, `mysql.sql.gz`.
    pub file: String,
    /// Writes `$OUT` and prints its result line.
    pub dump: Step,
    /// Reads `$IN` after checking `$EXPECTED_SHA256`; `None`: stackctl cannot
    /// restore it yet (the file is kept for a restore by hand).
    pub restore: Option<Step>,
    /// In a backup without `--component`: the metadata stores, small and precious.
    pub default: bool,
    /// The server's version (its image tag): a restore refuses a dump of another.
    pub version: String,
    /// How its servers are laid out, when more than one hold the data
    /// ("2 shards of 2 replicas"); empty: one server. A restore refuses a dump of
    /// another layout: each server's part goes back to the same server.
    pub layout: String,
    /// Why it is experimental: its scripts never ran against this very software
    /// (only against a stand-in). `None`: tested against it.
    pub experimental: Option<&'static str>,
    pub image_pull_secrets: Vec<String>,
    pub node_selector: BTreeMap<String, String>,
    /// Of each of its Job's steps; empty: the runner's default.
    pub resources: k8s_openapi::api::core::v1::ResourceRequirements,
    /// What a user must know once it is restored (said as a warning).
    pub restore_note: Option<&'static str>,
    /// Set when the step copies files of a volume the component mounts (its
    /// data, or a repository it snapshots into); `None`: dumped through the
    /// server alone.
    pub own_volume: Option<VolumeCopy>,
}

/// A volume of the component that its backup step mounts too: its data, copied
/// with its StatefulSet scaled to zero (Grafana's SQLite file: its docs ask for
/// Grafana to be stopped; stackctl stops it for an on-demand backup, the step
/// itself in a scheduled one when [`Self::on_schedule`] allows), or a snapshot
/// repository the running component writes and reads (Elasticsearch's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeCopy {
    /// The StatefulSet stopped meanwhile (one replica: its volume is the claim);
    /// `None`: it keeps running.
    pub stopped: Option<String>,
    /// Its data volume's claim, mounted by the step (read-only for a backup).
    pub claim: String,
    /// Where the step mounts it: the script's `$DATA`.
    pub mount: String,
    /// The group the component's files belong to (its pods' fsGroup): the step
    /// joins it to read them on a read-only mount, which the kubelet never
    /// re-groups.
    pub gid: i64,
    /// The labels of the component's pods when they mount the volume while
    /// the step's pod is scheduled (a running component on a `ReadWriteOnce`
    /// volume, or one a scheduled backup stops only once its pod runs): that
    /// pod goes to one of their nodes (such a volume is attached to one node at
    /// a time). Empty: none do.
    pub beside: BTreeMap<String, String>,
    /// `Some(replicas)`: a scheduled backup takes it too, its step stopping
    /// [`Self::stopped`] through the API (a ServiceAccount allowed to scale
    /// that StatefulSet and read its pod, nothing else) and starting it again
    /// with that many replicas. `None`: on request only.
    pub on_schedule: Option<i32>,
}

impl BackupSpec {
    /// Whether a scheduled backup can take it: not when the component must be
    /// stopped for it.
    pub fn schedulable(&self) -> bool {
        self.default
            && self
                .own_volume
                .as_ref()
                .is_none_or(|o| o.stopped.is_none() || o.on_schedule.is_some())
    }

    /// The StatefulSet stopped while it is copied.
    pub fn stopped(&self) -> Option<&str> {
        self.own_volume.as_ref()?.stopped.as_deref()
    }
}
