//! The objects a backup runs: the release's backup volume and the Jobs that write to
//! it. Pure, so their shape is unit-tested.
//!
//! One Job per backup, one pod: every component's dump is an init container in that
//! component's own image (its client matches its server), one after another, all
//! writing to the one volume, which may then be `ReadWriteOnce`. Each prints its
//! result line to its termination log, which stackctl reads back from the pod. The
//! pod carries the labels of stackctl's probe pods, which every NetworkPolicy of the
//! stacks admits to the data services.

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use serde_json::{Value, json};

use super::record::BACKUP_OF_LABEL;
use crate::model::{BackupSpec, MANAGED_BY, Release, probe_labels};

/// Where the backup volume is mounted; each backup is a directory `<name>/`.
pub const MOUNT: &str = "/backups";
/// The uid and gid every container runs as, and the group the volume's files get:
/// the database user of each image is 999 (docker-library/mysql
/// `8.4/Dockerfile.oracle`: `useradd --system --uid 999`; docker-library/postgres
/// `17/trixie/Dockerfile`: `useradd -r -g postgres --uid=999`;
/// redis/docker-library-redis `7.4/alpine/Dockerfile`: `adduser -S -G redis -u 999`).
const UID: i64 = 999;
/// On the Job and its pod: the backup's name.
pub const BACKUP_LABEL: &str = "stackctl.dev/backup";

/// The backup volume's size when `backup create` is not told one.
pub const DEFAULT_VOLUME_SIZE: &str = "5Gi";

pub fn claim_name(release: &str) -> String {
    format!("{release}-backups")
}

/// The backup volume: not one of the release's objects (no release label), so
/// neither prune nor `uninstall --purge-volumes` touches it.
pub fn claim(release: &Release, size: &str, storage_class: &str) -> Result<PersistentVolumeClaim> {
    let mut spec = json!({
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    });
    if !storage_class.is_empty() {
        spec["storageClassName"] = json!(storage_class);
    }
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": claim_name(&release.name),
            "namespace": release.namespace,
            "labels": {
                "app.kubernetes.io/managed-by": MANAGED_BY,
                BACKUP_OF_LABEL: release.name,
            },
        },
        "spec": spec,
    }))?)
}

pub fn job_name(release: &str, name: &str) -> String {
    format!("{release}-backup-{name}")
}

fn security() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
    })
}

/// A dump streams a database through a client: generous limits, small requests.
fn resources() -> Value {
    json!({
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    })
}

/// What a Job does with backup `name`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Backup,
    Restore,
    Delete,
}

/// The pod around `init` and `main` containers: the volume, `/tmp`, the credential
/// files of `specs` its step reads, Pod Security `restricted`.
fn job(
    release: &Release,
    kind: Kind,
    name: &str,
    specs: &[&BackupSpec],
    init: &[Value],
    main: &Value,
    deadline: Duration,
) -> Result<Job> {
    let restoring = kind == Kind::Restore;
    let job = match kind {
        Kind::Backup => job_name(&release.name, name),
        Kind::Restore => format!("{}-restore-{name}", release.name),
        Kind::Delete => format!("{}-backup-delete-{name}", release.name),
    };
    let mut labels = json!(probe_labels(release, "backup"));
    labels[BACKUP_LABEL] = json!(name);
    let mut volumes = vec![
        json!({"name": "backups", "persistentVolumeClaim": {"claimName": claim_name(&release.name)}}),
        json!({"name": "tmp", "emptyDir": {}}),
    ];
    // Only the credentials the Job's own step reads: a backup never mounts the
    // restore's superuser password.
    for s in specs {
        let (offset, credentials): (usize, Vec<&crate::model::CredentialFile>) = if restoring {
            let restore = s.restore.iter().flat_map(|r| &r.credentials);
            (s.dump.credentials.len(), restore.collect())
        } else {
            (0, s.dump.credentials.iter().collect())
        };
        for (i, c) in credentials.into_iter().enumerate() {
            volumes.push(json!({
                "name": format!("{}-{}", s.component, offset + i),
                "secret": {
                    "secretName": c.secret,
                    "items": [{"key": c.key, "path": "password"}],
                    "defaultMode": 0o440,
                },
            }));
        }
    }
    let secrets: Vec<Value> = specs
        .iter()
        .flat_map(|s| &s.image_pull_secrets)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|n| json!({"name": n}))
        .collect();
    let node_selector = specs
        .first()
        .map(|s| json!(s.node_selector))
        .unwrap_or(json!({}));
    Ok(serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job, "namespace": release.namespace, "labels": labels.clone()},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline.as_secs().max(1),
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": false,
                    "enableServiceLinks": false,
                    "imagePullSecrets": secrets,
                    "nodeSelector": node_selector,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "initContainers": init,
                    "containers": [main],
                    "volumes": volumes,
                },
            },
        },
    }))?)
}

/// A container of `spec` running `script` with `env`, its credential files
/// (`credentials`, numbered after `offset` as in [`job`]'s volumes) and the volume.
fn container(
    spec: &BackupSpec,
    step: &crate::model::Step,
    offset: usize,
    extra: &[(&str, String)],
) -> Value {
    let mut env: Vec<Value> = step
        .env
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    let mut mounts = vec![
        json!({"name": "backups", "mountPath": MOUNT}),
        json!({"name": "tmp", "mountPath": "/tmp"}),
    ];
    for (i, c) in step.credentials.iter().enumerate() {
        let dir = format!("/credentials/{}-{}", spec.component, offset + i);
        env.push(json!({"name": c.env, "value": format!("{dir}/password")}));
        mounts.push(json!({
            "name": format!("{}-{}", spec.component, offset + i),
            "mountPath": dir,
            "readOnly": true,
        }));
    }
    for (k, v) in [("TMPDIR", "/tmp"), ("HOME", "/tmp")] {
        env.push(json!({"name": k, "value": v}));
    }
    for (k, v) in extra {
        env.push(json!({"name": k, "value": v}));
    }
    json!({
        "name": spec.component,
        "image": spec.image,
        "imagePullPolicy": spec.pull_policy,
        "command": ["sh", "-c", step.script],
        "env": env,
        "volumeMounts": mounts,
        "resources": resources(),
        "securityContext": security(),
        // The result line on success; the last log lines (the error) on failure.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    })
}

/// A plain shell step in the first component's image (every one has `sh`).
fn shell(spec: &BackupSpec, name: &str, script: &str, dir: &str) -> Value {
    json!({
        "name": name,
        "image": spec.image,
        "imagePullPolicy": spec.pull_policy,
        "command": ["sh", "-c", script],
        "env": [{"name": "DIR", "value": dir}],
        "volumeMounts": [{"name": "backups", "mountPath": MOUNT}],
        "resources": resources(),
        "securityContext": security(),
    })
}

/// The Job that saves `specs` (at least one) as backup `name`.
pub fn backup_job(
    release: &Release,
    name: &str,
    specs: &[&BackupSpec],
    deadline: Duration,
) -> Result<Job> {
    let dir = format!("{MOUNT}/{name}");
    let init: Vec<Value> = specs
        .iter()
        .map(|s| {
            container(
                s,
                &s.dump,
                0,
                &[
                    ("OUT", format!("{dir}/{}", s.file)),
                    ("RESULT_FILE", "/dev/termination-log".into()),
                ],
            )
        })
        .collect();
    let list = shell(specs[0], "done", r#"ls -ln "$DIR""#, &dir);
    job(release, Kind::Backup, name, specs, &init, &list, deadline)
}

/// The Job that restores backup `name`: each component's restore script, in its
/// image, reading its file after checking it against the recorded checksum.
pub fn restore_job(
    release: &Release,
    name: &str,
    parts: &[(&BackupSpec, &super::record::Saved)],
    deadline: Duration,
) -> Result<Job> {
    let dir = format!("{MOUNT}/{name}");
    let init: Vec<Value> = parts
        .iter()
        .filter_map(|(spec, saved)| {
            let step = spec.restore.as_ref()?;
            Some(container(
                spec,
                step,
                spec.dump.credentials.len(),
                &[
                    ("IN", format!("{dir}/{}", saved.file)),
                    ("EXPECTED_SHA256", saved.sha256.clone()),
                ],
            ))
        })
        .collect();
    let specs: Vec<&BackupSpec> = parts.iter().map(|(s, _)| *s).collect();
    let done = shell(specs[0], "done", r#"echo "restored from $DIR""#, &dir);
    job(release, Kind::Restore, name, &specs, &init, &done, deadline)
}

/// The Job that removes backup `name`'s files, in the image of `spec`.
pub fn delete_job(
    release: &Release,
    name: &str,
    spec: &BackupSpec,
    deadline: Duration,
) -> Result<Job> {
    let dir = format!("{MOUNT}/{name}");
    let rm = shell(spec, "delete", r#"rm -rf -- "$DIR""#, &dir);
    job(release, Kind::Delete, name, &[], &[], &rm, deadline)
}

#[cfg(test)]
mod tests;
