//! Release records in the cluster: one Secret per revision, in the release namespace.
//!
//! The layout mirrors Helm's (`sh.helm.release.v1.<name>.v<rev>`, labels `owner`,
//! `name`, `status`) so that people who know one know the other, and the Secrets sit
//! next to the objects they describe: deleting the namespace forgets the release.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client};

use super::record::{self, Record, RecordError, Status, Summary};
use super::trim::select_for_trim;
use crate::model::{ReleaseNameError, check_release_name};

pub use super::record::SECRET_TYPE;
/// Key in `Secret.data` holding the encoded record.
pub const DATA_KEY: &str = "release";
pub const OWNER_LABEL: &str = "owner";
pub const OWNER: &str = "stackctl";
pub const NAME_LABEL: &str = "name";
pub const REVISION_LABEL: &str = "revision";
pub const STATUS_LABEL: &str = "status";
pub const STACK_LABEL: &str = "stack";

const NAME_PREFIX: &str = "stackctl.release.v1.";

/// `stackctl.release.v1.<release>.v<revision>`.
pub fn secret_name(release: &str, revision: u32) -> String {
    format!("{NAME_PREFIX}{release}.v{revision}")
}

/// The revision a Secret of `release` holds, read from its name (which the API keeps
/// unique, unlike labels anyone can edit).
fn revision_of(secret: &Secret, release: &str) -> Option<u32> {
    secret
        .metadata
        .name
        .as_deref()?
        .strip_prefix(NAME_PREFIX)?
        .strip_prefix(release)?
        .strip_prefix(".v")?
        .parse()
        .ok()
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "release {release} has no revision {revision} in namespace {namespace}; `stackctl history {release}` lists the revisions kept"
    )]
    NoRevision {
        release: String,
        namespace: String,
        revision: u32,
    },
    #[error(
        "release record {namespace}/{secret} was changed by someone else meanwhile (another stackctl run?); run the command again"
    )]
    Conflict { namespace: String, secret: String },
    #[error("{}", forbidden_message(action, namespace.as_deref(), message))]
    Forbidden {
        action: String,
        /// `None` when the request spanned all namespaces.
        namespace: Option<String>,
        message: String,
    },
    #[error(
        "Secret {namespace}/{secret} is not a readable release record: {source}; if it is not needed, delete it with `kubectl delete secret -n {namespace} {secret}`"
    )]
    Decode {
        namespace: String,
        secret: String,
        #[source]
        source: RecordError,
    },
    #[error("cannot store revision {revision} of release {release}: {source}")]
    Encode {
        release: String,
        revision: u32,
        #[source]
        source: RecordError,
    },
    #[error("{0}")]
    InvalidName(#[from] ReleaseNameError),
    #[error("{action}: {source}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
}

fn scope(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("namespace {ns}"),
        None => "any namespace".to_string(),
    }
}

fn forbidden_message(action: &str, namespace: Option<&str>, message: &str) -> String {
    match namespace {
        None => format!(
            "not allowed to {action} in all namespaces ({message}); name the release's namespace with -n NAMESPACE"
        ),
        Some(ns) => format!(
            "not allowed to {action} in namespace {ns} ({message}); ask your cluster admin for access to Secrets there"
        ),
    }
}

/// Maps API failures to what a user can act on.
fn api_error(source: kube::Error, action: String, namespace: Option<&str>) -> StoreError {
    match &source {
        kube::Error::Api(status) if status.is_forbidden() => StoreError::Forbidden {
            action,
            namespace: namespace.map(str::to_string),
            message: status.message.clone(),
        },
        _ => StoreError::Api { action, source },
    }
}

/// One release as `status` and `list` show it: its newest revision.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseSummary {
    pub name: String,
    pub namespace: String,
    pub stack: String,
    pub revision: u32,
    pub status: Status,
    /// When the newest revision finished, or started if it has not; `None` if its
    /// record is unreadable.
    pub updated: Option<Timestamp>,
}

impl fmt::Display for ReleaseSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (namespace {}, stack {}, revision {}, {})",
            self.name, self.namespace, self.stack, self.revision, self.status
        )
    }
}

/// Reads and writes the revisions of releases in one namespace.
#[derive(Clone)]
pub struct Store {
    api: Api<Secret>,
    namespace: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub fn new(client: Client, namespace: &str) -> Self {
        Store {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Every revision kept, oldest first.
    pub async fn list(&self, release: &str) -> Result<Vec<Record>, StoreError> {
        self.secrets(release)
            .await?
            .iter()
            .map(|(_, s)| self.decode(s))
            .collect()
    }

    /// What `history` shows, without materialising values and manifests.
    pub async fn history(&self, release: &str) -> Result<Vec<Summary>, StoreError> {
        self.secrets(release)
            .await?
            .iter()
            .map(|(_, s)| {
                payload(s)
                    .and_then(record::decode_summary)
                    .map_err(|e| self.decode_error(s, e))
            })
            .collect()
    }

    /// The newest revision, whatever its status; `None` if the release does not exist.
    pub async fn latest(&self, release: &str) -> Result<Option<Record>, StoreError> {
        match self.secrets(release).await?.last() {
            Some((_, s)) => self.decode(s).map(Some),
            None => Ok(None),
        }
    }

    pub async fn get(&self, release: &str, revision: u32) -> Result<Record, StoreError> {
        let name = secret_name(release, revision);
        let secret = self
            .api
            .get_opt(&name)
            .await
            .map_err(|e| self.api_error(e, format!("reading release record {name}")))?;
        match secret {
            Some(s) => self.decode(&s),
            None => Err(self.no_revision(release, revision)),
        }
    }

    /// The newest revision marked `deployed`: what is running, and what a failed
    /// upgrade falls back to.
    pub async fn last_deployed(&self, release: &str) -> Result<Option<Record>, StoreError> {
        let secrets = self.secrets(release).await?;
        let found = secrets
            .iter()
            .rev()
            .find(|(_, s)| label(s, STATUS_LABEL) == Some(Status::Deployed.as_str()));
        found.map(|(_, s)| self.decode(s)).transpose()
    }

    /// Stores a new revision. Fails with `Conflict` if that revision exists: someone
    /// else is writing this release, and neither write may silently win.
    pub async fn create(&self, record: &mut Record) -> Result<(), StoreError> {
        check_release_name(&record.release)?;
        let secret = self.to_secret(record, None)?;
        let name = secret_name(&record.release, record.revision);
        let created = self
            .api
            .create(&PostParams::default(), &secret)
            .await
            .map_err(|e| match e {
                kube::Error::Api(s) if s.is_already_exists() => self.conflict(&name),
                e => self.api_error(e, format!("creating release record {name}")),
            })?;
        record.resource_version = created.metadata.resource_version;
        Ok(())
    }

    /// Replaces a stored revision with `record`. If `record` was read from or written
    /// to the store, a change made since by someone else is a `Conflict`.
    pub async fn update(&self, record: &mut Record) -> Result<(), StoreError> {
        let secret = self.to_secret(record, record.resource_version.clone())?;
        let name = secret_name(&record.release, record.revision);
        let replaced = self
            .api
            .replace(&name, &PostParams::default(), &secret)
            .await
            .map_err(|e| match e {
                kube::Error::Api(s) if s.is_conflict() => self.conflict(&name),
                kube::Error::Api(s) if s.is_not_found() => {
                    self.no_revision(&record.release, record.revision)
                }
                e => self.api_error(e, format!("updating release record {name}")),
            })?;
        record.resource_version = replaced.metadata.resource_version;
        Ok(())
    }

    /// Sets one revision's status and description; a revision that reaches an end
    /// state gets its finish time.
    pub async fn set_status(
        &self,
        release: &str,
        revision: u32,
        status: Status,
        description: &str,
    ) -> Result<Record, StoreError> {
        let mut record = self.get(release, revision).await?;
        record.status = status;
        record.description = description.to_string();
        if record.finished_at.is_none() && !status.is_pending() && status != Status::Uninstalling {
            record.finished_at = Some(record::now());
        }
        self.update(&mut record).await?;
        Ok(record)
    }

    /// Marks the newest revision `failed` if it is still pending. Call it only while
    /// holding the release's lock: then no live operation owns that revision, so it
    /// was interrupted (killed, crashed, connection lost). Returns the revision marked.
    pub async fn fail_interrupted(
        &self,
        release: &str,
        reason: &str,
    ) -> Result<Option<Record>, StoreError> {
        let Some(latest) = self.latest(release).await? else {
            return Ok(None);
        };
        if !latest.status.is_pending() {
            return Ok(None);
        }
        let description = format!("{} interrupted: {reason}", latest.operation.title());
        self.set_status(release, latest.revision, Status::Failed, &description)
            .await
            .map(Some)
    }

    /// Deletes the oldest revisions beyond `history_max` (0: keep all), never the last
    /// deployed one nor the newest. Returns the revisions deleted.
    pub async fn trim(&self, release: &str, history_max: usize) -> Result<Vec<u32>, StoreError> {
        let secrets = self.secrets(release).await?;
        let revisions: Vec<(u32, Status)> = secrets
            .iter()
            .map(|(rev, s)| {
                // A record whose status label is missing or mangled is treated as
                // failed: the newest one is protected anyway, so at worst an old
                // revision is trimmed.
                let status = label(s, STATUS_LABEL)
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(Status::Failed);
                (*rev, status)
            })
            .collect();
        let doomed = select_for_trim(&revisions, history_max);
        for &rev in &doomed {
            self.delete_revision(release, rev).await?;
        }
        Ok(doomed)
    }

    /// Forgets the release: deletes every revision. Returns how many there were.
    pub async fn delete_all(&self, release: &str) -> Result<usize, StoreError> {
        let secrets = self.secrets(release).await?;
        for (rev, _) in &secrets {
            self.delete_revision(release, *rev).await?;
        }
        Ok(secrets.len())
    }

    /// Releases visible in `namespace`, or in all namespaces when `None`, newest
    /// revision each, sorted by namespace and name. Listing all namespaces needs
    /// cluster-wide `list secrets`; without it the error is `Forbidden` with
    /// `namespace: None`, which callers turn into "use -n".
    pub async fn releases(
        client: Client,
        namespace: Option<&str>,
    ) -> Result<Vec<ReleaseSummary>, StoreError> {
        let api: Api<Secret> = match namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::all(client),
        };
        let params = ListParams::default().labels(&format!("{OWNER_LABEL}={OWNER}"));
        let secrets = api.list(&params).await.map_err(|e| {
            api_error(
                e,
                format!("listing stackctl release records in {}", scope(namespace)),
                namespace,
            )
        })?;
        // Newest revision per (namespace, release).
        let mut newest: BTreeMap<(String, String), (u32, &Secret)> = BTreeMap::new();
        for s in secrets.items.iter().filter(|s| is_ours(s)) {
            let (Some(ns), Some(name)) = (s.metadata.namespace.clone(), label(s, NAME_LABEL))
            else {
                continue;
            };
            let Some(rev) = revision_of(s, name) else {
                continue;
            };
            let key = (ns, name.to_string());
            if newest.get(&key).is_none_or(|(r, _)| *r < rev) {
                newest.insert(key, (rev, s));
            }
        }
        Ok(newest
            .into_iter()
            .filter_map(|((namespace, name), (revision, s))| {
                summarize(s, namespace, name, revision)
            })
            .collect())
    }

    /// The release's Secrets with their revisions, oldest first.
    async fn secrets(&self, release: &str) -> Result<Vec<(u32, Secret)>, StoreError> {
        let params =
            ListParams::default().labels(&format!("{OWNER_LABEL}={OWNER},{NAME_LABEL}={release}"));
        let list = self.api.list(&params).await.map_err(|e| {
            self.api_error(e, format!("listing the revisions of release {release}"))
        })?;
        let mut revs: Vec<(u32, Secret)> = list
            .items
            .into_iter()
            .filter(is_ours)
            .filter_map(|s| Some((revision_of(&s, release)?, s)))
            .collect();
        revs.sort_by_key(|(rev, _)| *rev);
        Ok(revs)
    }

    async fn delete_revision(&self, release: &str, revision: u32) -> Result<(), StoreError> {
        let name = secret_name(release, revision);
        match self.api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            // Someone trimmed it first: the outcome is the one wanted.
            Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
            Err(e) => Err(self.api_error(e, format!("deleting release record {name}"))),
        }
    }

    fn to_secret(
        &self,
        record: &Record,
        resource_version: Option<String>,
    ) -> Result<Secret, StoreError> {
        let bytes = record::encode(record).map_err(|source| StoreError::Encode {
            release: record.release.clone(),
            revision: record.revision,
            source,
        })?;
        let labels = BTreeMap::from([
            (OWNER_LABEL.to_string(), OWNER.to_string()),
            (NAME_LABEL.to_string(), record.release.clone()),
            (REVISION_LABEL.to_string(), record.revision.to_string()),
            (STATUS_LABEL.to_string(), record.status.to_string()),
            (STACK_LABEL.to_string(), record.stack.clone()),
        ]);
        Ok(Secret {
            metadata: ObjectMeta {
                name: Some(secret_name(&record.release, record.revision)),
                namespace: Some(self.namespace.clone()),
                labels: Some(labels),
                resource_version,
                ..Default::default()
            },
            type_: Some(SECRET_TYPE.to_string()),
            data: Some(BTreeMap::from([(DATA_KEY.to_string(), ByteString(bytes))])),
            ..Default::default()
        })
    }

    fn decode(&self, secret: &Secret) -> Result<Record, StoreError> {
        if !is_ours(secret) {
            let found = secret.type_.clone().unwrap_or_default();
            return Err(self.decode_error(secret, RecordError::ForeignType(found)));
        }
        let mut record = payload(secret)
            .and_then(record::decode)
            .map_err(|e| self.decode_error(secret, e))?;
        record
            .resource_version
            .clone_from(&secret.metadata.resource_version);
        Ok(record)
    }

    fn decode_error(&self, secret: &Secret, source: RecordError) -> StoreError {
        StoreError::Decode {
            namespace: self.namespace.clone(),
            secret: secret.metadata.name.clone().unwrap_or_default(),
            source,
        }
    }

    fn api_error(&self, source: kube::Error, action: String) -> StoreError {
        api_error(source, action, Some(&self.namespace))
    }

    fn conflict(&self, secret: &str) -> StoreError {
        StoreError::Conflict {
            namespace: self.namespace.clone(),
            secret: secret.to_string(),
        }
    }

    fn no_revision(&self, release: &str, revision: u32) -> StoreError {
        StoreError::NoRevision {
            release: release.to_string(),
            namespace: self.namespace.clone(),
            revision,
        }
    }
}

/// A release as listings show it. One unreadable record must not hide every other
/// release from `list`: it falls back to the Secret's labels (the command that works
/// on that release reports the decoding problem in full).
fn summarize(
    secret: &Secret,
    namespace: String,
    name: String,
    revision: u32,
) -> Option<ReleaseSummary> {
    match payload(secret).and_then(record::decode_summary) {
        Ok(summary) => Some(ReleaseSummary {
            updated: Some(summary.finished_at.unwrap_or(summary.started_at)),
            stack: summary.stack,
            status: summary.status,
            name,
            namespace,
            revision,
        }),
        Err(e) => {
            crate::output::warn(format!(
                "release record {namespace}/{} is unreadable: {e}",
                secret_name(&name, revision)
            ));
            Some(ReleaseSummary {
                updated: None,
                stack: label(secret, STACK_LABEL).unwrap_or_default().to_string(),
                status: label(secret, STATUS_LABEL)?.parse().ok()?,
                name,
                namespace,
                revision,
            })
        }
    }
}

fn is_ours(secret: &Secret) -> bool {
    secret.type_.as_deref() == Some(SECRET_TYPE)
}

fn label<'a>(secret: &'a Secret, key: &str) -> Option<&'a str> {
    secret
        .metadata
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn payload(secret: &Secret) -> Result<&[u8], RecordError> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(DATA_KEY))
        .map(|b| b.0.as_slice())
        .ok_or(RecordError::NoData)
}
