//! A backup's record: a Secret per backup, `<release>-backup-<name>`, of type
//! [`SECRET_TYPE`], holding what was saved (per component: file, size, checksum,
//! server version) and the values of the revision it was taken at. A Secret, not a
//! ConfigMap: the values hold the release's passwords. The files themselves are on
//! the backup volume, under `<name>/`.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{BackupSettings, MANAGED_BY, S3Target};
use crate::stacks::backup_jobs::{Place, S3Place};

pub const SECRET_TYPE: &str = "stackctl.dev/backup.v1";
pub use crate::model::BACKUP_OF_LABEL;
const RECORD_KEY: &str = "backup.json";
const VALUES_KEY: &str = "values.json.gz";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BackupStatus {
    Complete,
    Failed,
}

impl BackupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Failed => "failed",
        }
    }
}

/// One component's saved file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    pub component: String,
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    /// The server's version (its image tag) the dump came from.
    pub version: String,
    /// [`crate::model::BackupSpec::layout`] of the servers it came from; empty
    /// (and absent in records before it): one server.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub layout: String,
    /// stackctl can restore it (else the file is for a restore by hand).
    pub restorable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    pub name: String,
    pub release: String,
    pub namespace: String,
    pub stack: String,
    /// The release revision it was taken at.
    pub revision: u32,
    /// RFC 3339, UTC.
    pub created: String,
    pub status: BackupStatus,
    /// Why it failed; empty when complete.
    #[serde(default)]
    pub message: String,
    pub components: Vec<Saved>,
    /// Taken by `backup.schedule`, so subject to `backup.keep`.
    #[serde(default)]
    pub scheduled: bool,
    /// Where its files went, when to S3 (`backup.s3`); `None`: the release's
    /// backup volume, `<name>/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Target>,
}

impl Backup {
    pub fn bytes(&self) -> u64 {
        self.components.iter().map(|c| c.bytes).sum()
    }

    /// Where its Jobs find its files: where it went, whatever `backup.s3` says
    /// now; `settings` give the S3 client and the scratch size.
    pub fn place(&self, settings: &BackupSettings) -> Place {
        match &self.s3 {
            Some(target) => Place::S3(S3Place::new(
                target,
                (&self.namespace, &self.release),
                settings,
            )),
            None => Place::Volume {
                release: self.release.clone(),
            },
        }
    }

    /// Where it is, for people.
    pub fn location(&self) -> String {
        match &self.s3 {
            Some(t) => format!(
                "{}{}/",
                t.describe(&self.namespace, &self.release),
                self.name
            ),
            None => format!(
                "volume {}, {}/",
                crate::stacks::backup_jobs::claim_name(&self.release),
                self.name
            ),
        }
    }
}

/// The manifest of `backup` (`stackctl.json`), as its S3 upload writes it
/// (`stacks::backup_scripts::s3_manifest`): what [`from_manifest`] reads back
/// where there is no record (a download on someone's disk, uploaded elsewhere).
pub fn to_manifest(backup: &Backup) -> String {
    let manifest = serde_json::json!({
        "backup": {
            "name": backup.name,
            "release": backup.release,
            "namespace": backup.namespace,
            "stack": backup.stack,
            "revision": backup.revision,
            "scheduled": backup.scheduled,
            "components": backup.components.iter().map(|c| serde_json::json!({
                "component": c.component,
                "file": c.file,
                "version": c.version,
                "layout": c.layout,
                "restorable": c.restorable,
            })).collect::<Vec<_>>(),
        },
        "files": backup.components.iter().map(|c| serde_json::json!({
            "file": c.file,
            "bytes": c.bytes,
            "sha256": c.sha256,
        })).collect::<Vec<_>>(),
    });
    format!("{manifest:#}\n")
}

/// A backup as its manifest (`stackctl.json`, see
/// `stacks::backup_scripts::s3_manifest` and [`to_manifest`]) tells it, found
/// under `target` in S3 (`None`: on a disk): what a restore or an upload
/// without the record reads. Every file the manifest lists with a component,
/// with its size and checksum as measured where it was written. Its release and
/// namespace are where it was found (`found_at`), which its Jobs read, whatever
/// the manifest says.
pub fn from_manifest(
    text: &str,
    target: Option<&S3Target>,
    (namespace, release): (&str, &str),
) -> Result<Backup> {
    #[derive(Deserialize)]
    struct Part {
        component: String,
        file: String,
        version: String,
        #[serde(default)]
        layout: String,
        restorable: bool,
    }
    #[derive(Deserialize)]
    struct Meta {
        name: String,
        stack: String,
        revision: u32,
        #[serde(default)]
        scheduled: bool,
        components: Vec<Part>,
    }
    #[derive(Deserialize)]
    struct Uploaded {
        file: String,
        bytes: u64,
        sha256: String,
    }
    #[derive(Deserialize)]
    struct Manifest {
        backup: Meta,
        files: Vec<Uploaded>,
    }
    let m: Manifest = serde_json::from_str(text.trim())
        .with_context(|| format!("reading the backup's stackctl.json: {:?}", text.trim()))?;
    let mut components = Vec::new();
    for c in m.backup.components {
        let Some(f) = m.files.iter().find(|f| f.file == c.file) else {
            bail!(
                "the backup's stackctl.json names {} for {}, and no such file was uploaded",
                c.file,
                c.component
            );
        };
        components.push(Saved {
            component: c.component,
            file: c.file,
            bytes: f.bytes,
            sha256: f.sha256.clone(),
            version: c.version,
            layout: c.layout,
            restorable: c.restorable,
        });
    }
    Ok(Backup {
        name: m.backup.name,
        release: release.to_string(),
        namespace: namespace.to_string(),
        stack: m.backup.stack,
        revision: m.backup.revision,
        created: String::new(),
        status: BackupStatus::Complete,
        message: String::new(),
        components,
        scheduled: m.backup.scheduled,
        s3: target.cloned(),
    })
}

pub fn secret_name(release: &str, name: &str) -> String {
    format!("{release}-backup-{name}")
}

/// The record as a Secret, with the values it was taken at, compressed.
pub fn to_secret(backup: &Backup, values: &Value) -> Result<Secret> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(serde_json::to_string(values)?.as_bytes())?;
    let data = BTreeMap::from([
        (
            RECORD_KEY.to_string(),
            ByteString(serde_json::to_vec_pretty(backup)?),
        ),
        (VALUES_KEY.to_string(), ByteString(gz.finish()?)),
    ]);
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(&backup.release, &backup.name)),
            namespace: Some(backup.namespace.clone()),
            labels: Some(BTreeMap::from([
                ("app.kubernetes.io/managed-by".into(), MANAGED_BY.into()),
                (BACKUP_OF_LABEL.into(), backup.release.clone()),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some(SECRET_TYPE.into()),
        data: Some(data),
        ..Secret::default()
    })
}

pub fn from_secret(secret: &Secret) -> Result<Backup> {
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    if secret.type_.as_deref() != Some(SECRET_TYPE) {
        bail!("Secret {name} is not a stackctl backup record");
    }
    let raw = secret
        .data
        .as_ref()
        .and_then(|d| d.get(RECORD_KEY))
        .with_context(|| format!("backup record {name} has no {RECORD_KEY}"))?;
    serde_json::from_slice(&raw.0).with_context(|| format!("reading backup record {name}"))
}

/// The values a backup was taken at.
pub fn values_of(secret: &Secret) -> Result<Value> {
    let raw = secret
        .data
        .as_ref()
        .and_then(|d| d.get(VALUES_KEY))
        .context("the backup record holds no values")?;
    let mut text = String::new();
    GzDecoder::new(&raw.0[..]).read_to_string(&mut text)?;
    Ok(serde_json::from_str(&text)?)
}

/// A backup script's result line (see `stacks::backup_scripts`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ScriptResult {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

pub fn parse_result(component: &str, message: &str) -> Result<ScriptResult> {
    let r: ScriptResult = serde_json::from_str(message.trim()).with_context(|| {
        format!("the backup of {component} ended without its result line (got {message:?})")
    })?;
    if r.sha256.len() != 64 || !r.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "the backup of {component} reported a malformed sha256 {:?}",
            r.sha256
        );
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup() -> Backup {
        Backup {
            name: "20261130-203000".into(),
            release: "cv".into(),
            namespace: "logs".into(),
            stack: "clickvisual".into(),
            revision: 3,
            created: "2026-11-30T20:30:00Z".into(),
            status: BackupStatus::Complete,
            message: String::new(),
            components: vec![Saved {
                component: "mysql".into(),
                file: "mysql.sql.gz".into(),
                bytes: 1234,
                sha256: "a".repeat(64),
                version: "8.4".into(),
                layout: String::new(),
                restorable: true,
            }],
            scheduled: false,
            s3: None,
        }
    }

    #[test]
    fn a_record_round_trips_with_its_values_out_of_sight() {
        let values = serde_json::json!({"mysql": {"auth": {"password": "S3cret!"}}});
        let s = to_secret(&backup(), &values).unwrap();
        assert_eq!(
            s.metadata.name.as_deref(),
            Some("cv-backup-20261130-203000")
        );
        assert_eq!(s.metadata.labels.as_ref().unwrap()[BACKUP_OF_LABEL], "cv");
        assert_eq!(from_secret(&s).unwrap(), backup());
        assert_eq!(values_of(&s).unwrap(), values);
        // The record itself holds no password; the values are compressed.
        let data = s.data.unwrap();
        assert!(!String::from_utf8_lossy(&data[RECORD_KEY].0).contains("S3cret"));
        assert!(!String::from_utf8_lossy(&data[VALUES_KEY].0).contains("S3cret"));
    }

    /// What a restore without the record makes of a manifest: each component
    /// with its uploaded file's size and checksum, where it was found; a
    /// component whose file never went up is refused.
    #[test]
    fn a_manifest_from_s3_is_a_backup_where_it_was_found() {
        let target = S3Target {
            url: "https://s3.example.com/b".into(),
            ..S3Target::default()
        };
        let text = r#"{"backup":{"name":"20261201-030000","release":"cv","namespace":"logs","stack":"clickvisual","revision":4,"scheduled":true,"components":[{"component":"mysql","file":"mysql.sql.gz","version":"8.4","restorable":true}]},"files":[{"file":"mysql.sql.gz","bytes":2048,"sha256":"ab"}]}"#;
        let b = from_manifest(text, Some(&target), ("old-logs", "cv")).unwrap();
        assert_eq!(
            (b.namespace.as_str(), b.release.as_str()),
            ("old-logs", "cv")
        );
        assert_eq!((b.revision, b.scheduled), (4, true));
        assert_eq!(b.status, BackupStatus::Complete);
        assert_eq!(b.components[0].bytes, 2048);
        assert_eq!(b.components[0].sha256, "ab");
        assert_eq!(b.components[0].version, "8.4");
        assert_eq!(b.s3.as_ref(), Some(&target));
        let short = text.replace(r#"{"file":"mysql.sql.gz","bytes":2048,"sha256":"ab"}"#, "");
        let e = from_manifest(&short, Some(&target), ("logs", "cv")).unwrap_err();
        assert!(e.to_string().contains("no such file was uploaded"), "{e}");
        assert!(from_manifest("uploaded", Some(&target), ("logs", "cv")).is_err());
    }

    #[test]
    fn a_written_manifest_reads_back_as_the_backup() {
        let mut b = backup();
        b.components[0].layout = "2 shards of 2 replicas".into();
        let text = to_manifest(&b);
        let back = from_manifest(&text, None, ("new-logs", "cv2")).unwrap();
        assert_eq!(back.components, b.components);
        assert_eq!(
            (back.name, back.stack, back.revision),
            (b.name, b.stack, b.revision)
        );
        assert_eq!(
            (back.namespace.as_str(), back.release.as_str()),
            ("new-logs", "cv2")
        );
        assert_eq!(back.s3, None, "on a disk: no bucket");
    }

    #[test]
    fn other_secrets_are_not_records() {
        let mut s = to_secret(&backup(), &Value::Null).unwrap();
        s.type_ = Some("Opaque".into());
        assert!(from_secret(&s).is_err());
    }

    #[test]
    fn result_lines_are_checked() {
        let good = format!(
            r#"{{"file":"mysql.sql.gz","bytes":12,"sha256":"{}"}}"#,
            "0f".repeat(32)
        );
        assert_eq!(parse_result("mysql", &good).unwrap().bytes, 12);
        let err = parse_result("mysql", "").unwrap_err().to_string();
        assert!(err.contains("without its result line"), "{err}");
        let short = r#"{"file":"x","bytes":1,"sha256":"abc"}"#;
        assert!(parse_result("mysql", short).is_err());
    }
}
