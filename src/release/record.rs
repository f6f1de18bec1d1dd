//! One revision of a release: what was asked (values), what was applied (inventory and
//! manifests), how it went (status, phases, probes), and its wire encoding.
//!
//! Encoding is Helm's minus one layer: JSON, gzip at best compression, stored as the
//! bytes of `Secret.data["release"]` (the API's own base64 is the only base64). The
//! rendered manifests dominate the size and compress ~10×, which keeps a record far
//! below the 1 MiB a Secret (an etcd value) can hold.

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use k8s_openapi::jiff::{Timestamp, Unit};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `type` of every release Secret; anything else is not ours, whatever its labels.
pub const SECRET_TYPE: &str = "stackctl.dev/release.v1";

/// Where a release is in its lifecycle; the kebab-case names are also label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    PendingInstall,
    PendingUpgrade,
    PendingRollback,
    Deployed,
    Superseded,
    Failed,
    Uninstalling,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::PendingInstall,
        Status::PendingUpgrade,
        Status::PendingRollback,
        Status::Deployed,
        Status::Superseded,
        Status::Failed,
        Status::Uninstalling,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::PendingInstall => "pending-install",
            Status::PendingUpgrade => "pending-upgrade",
            Status::PendingRollback => "pending-rollback",
            Status::Deployed => "deployed",
            Status::Superseded => "superseded",
            Status::Failed => "failed",
            Status::Uninstalling => "uninstalling",
        }
    }

    /// An operation was under way when this was written; unless its lock is still
    /// held, that operation is gone.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            Status::PendingInstall | Status::PendingUpgrade | Status::PendingRollback
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown release status {s:?}"))
    }
}

/// What produced a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Install,
    Upgrade,
    Rollback,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Install => "install",
            Operation::Upgrade => "upgrade",
            Operation::Rollback => "rollback",
        }
    }

    /// The status a revision carries while this operation runs.
    pub fn pending_status(self) -> Status {
        match self {
            Operation::Install => Status::PendingInstall,
            Operation::Upgrade => Status::PendingUpgrade,
            Operation::Rollback => Status::PendingRollback,
        }
    }

    /// "Install", "Upgrade", "Rollback": the start of a description.
    pub fn title(self) -> &'static str {
        match self {
            Operation::Install => "Install",
            Operation::Upgrade => "Upgrade",
            Operation::Rollback => "Rollback",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object the revision applied; prune and uninstall work from this list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub component: String,
    pub phase: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseStatus {
    Succeeded,
    Failed,
    Skipped,
}

/// How one install phase went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseResult {
    pub name: String,
    pub status: PhaseStatus,
    pub started_at: Timestamp,
    pub duration_ms: u64,
    /// Why it failed or was skipped; empty when it succeeded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Of a phase whose objects did not become ready: one diagnosis per object
    /// (object, reason, detail, events, remedy), as the wait layer made it. Kept as
    /// JSON so the record does not depend on that layer's types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnoses: Vec<serde_json::Value>,
    /// How each component's objects of this phase ended. Records written before
    /// stackctl kept this have none; a failed wave must not make ready components
    /// look failed, so they are told apart here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentOutcome>,
}

/// How one component's objects of one phase ended in an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Every object became ready.
    Ready,
    /// An object cannot become ready (or did not in time): the failure is its own.
    Failed,
    /// Applied, still progressing, when another component of its wave failed and
    /// waiting stopped: nothing is known against it.
    NotWaitedFor,
    /// In a wave or phase after the failure: never applied.
    NotStarted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ready => "ready",
            Outcome::Failed => "failed",
            Outcome::NotWaitedFor => "not waited for",
            Outcome::NotStarted => "not started",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentOutcome {
    pub component: String,
    pub phase: String,
    pub outcome: Outcome,
}

/// A pod `--restart-failed` deleted so that its controller starts it afresh, with
/// what it had to say first (its pod, and so its log, is gone afterwards).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartedPod {
    pub pod: String,
    pub component: String,
    pub container: String,
    /// `CrashLoopBackOff` or `ImagePullBackOff`.
    pub reason: String,
    pub restarts: u32,
    /// The container's `lastState`, as the kubelet reported it.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub last_state: Value,
    /// The last lines of its previous run's log, or why there are none.
    #[serde(default)]
    pub log: Vec<String>,
}

/// One revision of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub stackctl_version: String,
    pub stack: String,
    pub profile: String,
    pub release: String,
    pub namespace: String,
    pub revision: u32,
    pub status: Status,
    pub operation: Operation,
    /// One line for `history`: "Install complete", "Upgrade failed: …", "Rollback to 1".
    pub description: String,
    /// The complete values, generated secrets included, so that upgrades and rollbacks
    /// reuse them instead of generating new ones.
    pub values: Value,
    /// Dotted paths in `values` that stackctl generated (and must redact when shown).
    #[serde(default)]
    pub generated: Vec<String>,
    #[serde(default)]
    pub inventory: Vec<ObjectRef>,
    /// The rendered objects, as applied; rollback replays them.
    #[serde(default)]
    pub manifests: Vec<Value>,
    /// Each component's dependencies, so a replay keeps the order (ZooKeeper before
    /// Kafka) without re-rendering.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub dependencies: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub phases: Vec<PhaseResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<Value>,
    /// Pods this operation restarted (`--restart-failed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarted: Vec<RestartedPod>,
    pub started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// resourceVersion of the Secret this was read from or last written to; `Store`
    /// uses it so that an update never overwrites a change it has not seen.
    #[serde(skip)]
    pub resource_version: Option<String>,
}

impl Record {
    /// A new revision about to start: pending, started now, nothing applied yet.
    pub fn new(
        release: &str,
        namespace: &str,
        stack: &str,
        profile: &str,
        revision: u32,
        operation: Operation,
        values: Value,
    ) -> Self {
        Record {
            stackctl_version: env!("CARGO_PKG_VERSION").to_string(),
            stack: stack.to_string(),
            profile: profile.to_string(),
            release: release.to_string(),
            namespace: namespace.to_string(),
            revision,
            status: operation.pending_status(),
            operation,
            description: format!("{} in progress", operation.title()),
            values,
            generated: Vec::new(),
            inventory: Vec::new(),
            manifests: Vec::new(),
            dependencies: std::collections::BTreeMap::default(),
            phases: Vec::new(),
            probes: None,
            restarted: Vec::new(),
            started_at: now(),
            finished_at: None,
            resource_version: None,
        }
    }

    /// Ends the revision with its final status.
    pub fn finish(&mut self, status: Status, description: impl Into<String>) {
        self.status = status;
        self.description = description.into();
        self.finished_at = Some(now());
    }
}

/// The current time to the second: records are read by people, and sub-second
/// precision belongs in `PhaseResult::duration_ms`.
pub fn now() -> Timestamp {
    let t = Timestamp::now();
    t.round(Unit::Second).unwrap_or(t)
}

/// The largest encoded record stored. The API server caps a Secret's data at 1 MiB
/// (decoded bytes, so the wire base64 does not count); refusing a little earlier
/// gives a message that says why instead of the API's generic one.
pub const MAX_ENCODED_BYTES: usize = 1024 * 1024 - 16 * 1024;

/// A decompressed record larger than this is not one of ours; refusing it bounds the
/// memory a corrupt or hostile Secret can make us allocate.
const MAX_DECODED_BYTES: u64 = 256 * 1024 * 1024;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(
        "the release record is {size} bytes compressed, more than the {max} a Kubernetes Secret can hold; \
         values this large usually come from --set-file with a big file: keep such data in your own ConfigMap"
    )]
    TooLarge { size: usize, max: usize },
    #[error(
        "not a stackctl release record: the data is not gzip-compressed (was it written by another tool or edited by hand?)"
    )]
    NotGzip,
    #[error("not a stackctl release record: cannot decompress it ({0}); the Secret is corrupt")]
    Corrupt(#[source] std::io::Error),
    #[error("not a stackctl release record, or one from an incompatible stackctl version: {0}")]
    Json(#[source] serde_json::Error),
    #[error("not a stackctl release record: its type is {0:?}, not {expected:?}", expected = SECRET_TYPE)]
    ForeignType(String),
    #[error("not a stackctl release record: it has no `release` data")]
    NoData,
    #[error("cannot encode the release record: {0}")]
    Encode(#[source] std::io::Error),
}

/// Record → JSON → gzip (best compression), refusing what a Secret cannot hold.
pub fn encode(record: &Record) -> Result<Vec<u8>, RecordError> {
    let json = serde_json::to_vec(record).map_err(RecordError::Json)?;
    let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 8), Compression::best());
    gz.write_all(&json).map_err(RecordError::Encode)?;
    let bytes = gz.finish().map_err(RecordError::Encode)?;
    if bytes.len() > MAX_ENCODED_BYTES {
        return Err(RecordError::TooLarge {
            size: bytes.len(),
            max: MAX_ENCODED_BYTES,
        });
    }
    Ok(bytes)
}

/// The reverse of [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
    serde_json::from_slice(&gunzip(bytes)?).map_err(RecordError::Json)
}

/// The fields `history` shows, read without materialising values and manifests.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub stackctl_version: String,
    pub stack: String,
    pub profile: String,
    pub release: String,
    pub namespace: String,
    pub revision: u32,
    pub status: Status,
    pub operation: Operation,
    pub description: String,
    pub started_at: Timestamp,
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
}

impl From<&Record> for Summary {
    fn from(r: &Record) -> Self {
        Summary {
            stackctl_version: r.stackctl_version.clone(),
            stack: r.stack.clone(),
            profile: r.profile.clone(),
            release: r.release.clone(),
            namespace: r.namespace.clone(),
            revision: r.revision,
            status: r.status,
            operation: r.operation,
            description: r.description.clone(),
            started_at: r.started_at,
            finished_at: r.finished_at,
        }
    }
}

pub fn decode_summary(bytes: &[u8]) -> Result<Summary, RecordError> {
    serde_json::from_slice(&gunzip(bytes)?).map_err(RecordError::Json)
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, RecordError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Err(RecordError::NotGzip);
    }
    let mut json = Vec::with_capacity(bytes.len() * 8);
    GzDecoder::new(bytes)
        .take(MAX_DECODED_BYTES)
        .read_to_end(&mut json)
        .map_err(RecordError::Corrupt)?;
    Ok(json)
}

#[cfg(test)]
mod tests;
