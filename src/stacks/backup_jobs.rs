//! The objects a backup runs: the release's backup volume and the Jobs that write to
//! it. Pure, so their shape is unit-tested.
//!
//! One Job per backup, one pod: every component's dump is an init container in that
//! component's own image (its client matches its server), one after another, all
//! writing to the one volume, which may then be `ReadWriteOnce`. Each prints its
//! result line to its termination log, which stackctl reads back from the pod. The
//! pod carries the labels of stackctl's probe pods, which every NetworkPolicy of the
//! stacks admits to the data services.
//!
//! A scheduled backup (`backup.schedule`) is the same pod in a CronJob's Job
//! template, with a first step that names it from the clock and a last one that
//! keeps the newest `backup.keep`: the cluster runs it with no stackctl around.
//! Its Job stays (history limits) until a stackctl command that holds the release
//! lock turns it into a record.
//!
//! `backup download` reads a backup through a bare pod that holds its files
//! ([`download_pod`]), by exec: the only pod here that runs no script of its own.

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, ResourceRequirements};
use serde_json::{Value, json};

use crate::model::{
    BACKUP_OF_LABEL, BackupSettings, BackupSpec, MANAGED_BY, Release, S3_SECRET_KEYS, S3Target,
    VolumeCopy, probe_labels,
};
use crate::stacks::backup_scripts;

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

/// On the Jobs of a release's CronJob (and their pods): the release. Their own
/// records until a stackctl command adopts them.
pub const SCHEDULED_LABEL: &str = "stackctl.dev/backup-scheduled";
/// A scheduled backup's first step: its termination message is the backup's name.
pub const NAME_STEP: &str = "backup-name";
/// Where a scheduled backup's steps find its name.
const NAME_FILE: &str = "/tmp/backup-name";
/// Where each step writes its result line: the container's termination message.
const TERMINATION_LOG: &str = "/dev/termination-log";
/// Bound on a scheduled backup's Job (a backup on demand takes `--timeout`).
pub const SCHEDULED_DEADLINE: Duration = Duration::from_secs(2 * 3600);

/// Where a Job finds or puts backups.
#[derive(Debug, Clone)]
pub enum Place {
    /// The backup volume of this release (of a restore `--from`: of that one).
    Volume { release: String },
    /// S3, through a scratch directory of the pod.
    S3(S3Place),
}

/// A release's backups in S3, and what a Job needs to reach them.
#[derive(Debug, Clone)]
pub struct S3Place {
    pub target: S3Target,
    /// `<prefix><namespace>/<release>/`.
    pub prefix: String,
    /// The client's image and pull policy (`backup.s3.image`).
    pub image: (String, String),
    /// The scratch directory's size limit (`backup.persistence.size`).
    pub scratch: String,
}

impl Place {
    /// Where backups of `release` go under `settings`.
    pub fn of(release: &Release, settings: &BackupSettings) -> Place {
        match &settings.s3 {
            Some(target) => Place::S3(S3Place::new(
                target,
                (&release.namespace, &release.name),
                settings,
            )),
            None => Place::Volume {
                release: release.name.clone(),
            },
        }
    }
}

impl S3Place {
    /// The backups of release `(namespace, name)` in `target`, reached with the
    /// client and scratch size of `settings` (those of the release running the
    /// Job, which may be another).
    pub fn new(
        target: &S3Target,
        (namespace, name): (&str, &str),
        settings: &BackupSettings,
    ) -> Self {
        S3Place {
            prefix: target.release_prefix(namespace, name),
            target: target.clone(),
            image: settings.s3_client.clone(),
            scratch: settings.size.clone(),
        }
    }
}

/// Where the S3 client finds the keys.
const S3_CREDENTIALS: &str = "/credentials/s3";
// The S3 client, `curlimages/curl:8.14.1` (curl/curl-container at tag 8.14.1,
// the probes' image and contract, `contracts::shared`): Alpine 3.22.0
// (`Makefile`: `base=docker.io/alpine:3.22.0`) with BusyBox kept, so `sh`,
// `sed`, `awk`, `tr`, `grep` and `sort` are there; its user is `curl_user`,
// made by `adduser -S` and set by name (`create_appliance_image.sh`: `buildah
// config --user curl_user`), so `runAsNonRoot` needs the pod's numeric 999; its
// entrypoint runs a command given as is (`etc/entrypoint.sh`); CAs from
// `CURL_CA_BUNDLE=/cacert.pem` (`create_base_image.sh`).

/// `<release>-backup`: the CronJob of `backup.schedule`.
pub fn cronjob_name(release: &str) -> String {
    format!("{release}-backup")
}
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

/// The Job that restores backup `name` into `release`.
pub fn restore_job_name(release: &str, name: &str) -> String {
    format!("{release}-restore-{name}")
}

fn security() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
    })
}

/// `backup.resources`, else (a stack without `backup` values) what a dump needs:
/// it streams a database through a client, so generous limits, small requests.
fn resources(spec: &BackupSpec) -> Value {
    if spec.resources == ResourceRequirements::default() {
        return json!({
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        });
    }
    json!(spec.resources)
}

/// What a Job does with backup `name`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Backup,
    Scheduled,
    Restore,
    Delete,
    /// Reads a backup's manifest from S3 (a restore without its record).
    Manifest,
    /// Deletes every backup of a release in S3 (`uninstall --purge-backups`).
    Purge,
    /// Holds a backup's files for `backup download` to read through the API.
    Download,
    /// Receives a backup's files from `backup upload` through the API.
    Upload,
}

/// The step of a [`manifest_job`]: its termination message is the manifest.
pub const MANIFEST_STEP: &str = "backup-manifest";

/// What stackctl knows of a backup when it makes its Job, uploaded with it to S3
/// as part of `stackctl.json`: what a restore without the record (another
/// cluster, another namespace) needs besides the files' checksums. A scheduled
/// backup's name is `@NAME@`, replaced by the one its first step chose.
fn meta(release: &Release, name: &str, specs: &[&BackupSpec], scheduled: bool) -> String {
    json!({
        "name": name,
        "release": release.name,
        "namespace": release.namespace,
        "stack": release.stack,
        "revision": release.revision,
        "scheduled": scheduled,
        "components": specs.iter().map(|s| json!({
            "component": s.component,
            "file": s.file,
            "version": s.version,
            "layout": s.layout,
            "restorable": s.restore.is_some(),
        })).collect::<Vec<_>>(),
    })
    .to_string()
}

/// The pod around `init` and `main` containers: the volume, `/tmp`, the credential
/// files of `specs` its step reads, Pod Security `restricted`.
fn job(
    release: &Release,
    (kind, place): (Kind, &Place),
    name: &str,
    specs: &[&BackupSpec],
    (init, main): (&[Value], &Value),
    deadline: Duration,
) -> Value {
    let restoring = kind == Kind::Restore;
    let job = match kind {
        Kind::Backup | Kind::Scheduled => job_name(&release.name, name),
        Kind::Restore => restore_job_name(&release.name, name),
        Kind::Delete => format!("{}-backup-delete-{name}", release.name),
        Kind::Manifest => format!("{}-backup-read-{name}", release.name),
        Kind::Purge => format!("{}-backup-purge", release.name),
        Kind::Download => download_pod_name(&release.name, name),
        Kind::Upload => upload_pod_name(&release.name, name),
    };
    let mut labels = json!(probe_labels(release, "backup"));
    if kind == Kind::Scheduled {
        labels[SCHEDULED_LABEL] = json!(release.name);
    } else {
        labels[BACKUP_LABEL] = json!(name);
    }
    let backups = match place {
        Place::Volume { release } => {
            json!({"name": "backups", "persistentVolumeClaim": {"claimName": claim_name(release)}})
        }
        Place::S3(s3) => json!({"name": "backups", "emptyDir": {"sizeLimit": s3.scratch}}),
    };
    let mut volumes = vec![backups, json!({"name": "tmp", "emptyDir": {}})];
    if let Place::S3(s3) = place {
        volumes.push(json!({
            "name": "s3-credentials",
            "secret": {
                "secretName": s3.target.secret,
                "items": S3_SECRET_KEYS.map(|k| json!({"key": k, "path": k})),
                "defaultMode": 0o440,
            },
        }));
    }
    // A component copied from its own volume: its claim, read-only unless
    // restored into; only in the pods that copy it (a claim is attached even
    // when no container mounts it, and the component holds it otherwise).
    let copies = matches!(kind, Kind::Backup | Kind::Restore | Kind::Scheduled);
    let own: Vec<(&BackupSpec, &VolumeCopy)> = specs
        .iter()
        .filter(|_| copies)
        .filter_map(|s| Some((*s, s.own_volume.as_ref()?)))
        .collect();
    for (s, o) in &own {
        volumes.push(json!({
            "name": data_volume(&s.component),
            "persistentVolumeClaim": {"claimName": o.claim, "readOnly": !restoring},
        }));
    }
    let copied: Vec<&VolumeCopy> = own.iter().map(|(_, o)| *o).collect();
    // A scheduled step that stops its component itself: the API token of
    // `<release>-backup`, in that step's container only.
    let stops = kind == Kind::Scheduled && copied.iter().any(|o| o.stopped.is_some());
    if stops {
        volumes.push(json!({
            "name": API_VOLUME,
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                ],
                "defaultMode": 0o440,
            },
        }));
    }
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
    let groups: Vec<i64> = copied
        .iter()
        .map(|o| o.gid)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let node_selector = specs
        .first()
        .map(|s| json!(s.node_selector))
        .unwrap_or(json!({}));
    // A restore into the volume of a component that keeps running (an
    // Elasticsearch repository): the kubelet gives the mounted volume the pod's
    // fsGroup, which must then be the component's, or it could no longer write
    // there. Its files are the component's group anyway (the restore `chgrp`s).
    let fs_group = copied
        .iter()
        .find(|o| restoring && o.stopped.is_none())
        .map_or(UID, |o| o.gid);
    let mut pod_security = json!({
        "runAsNonRoot": true,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": fs_group,
        "seccompProfile": {"type": "RuntimeDefault"},
    });
    if !groups.is_empty() {
        pod_security["supplementalGroups"] = json!(groups);
    }
    // Beside the running pods that hold a ReadWriteOnce volume it mounts: a
    // component stopped before the pod is made holds nothing.
    let beside: Vec<Value> = copied
        .iter()
        .filter(|o| kind == Kind::Scheduled || o.stopped.is_none())
        .filter(|o| !o.beside.is_empty())
        .map(|o| {
            json!({
                "labelSelector": {"matchLabels": o.beside},
                "topologyKey": "kubernetes.io/hostname",
            })
        })
        .collect();
    // A schedule only prefers it: a component with no pod when it fires
    // (stopped by hand, pending) must not hold back every other dump; its
    // volume is then free to attach anywhere.
    let affinity = if kind == Kind::Scheduled {
        let weighted: Vec<Value> = beside
            .iter()
            .map(|term| json!({"weight": 100, "podAffinityTerm": term}))
            .collect();
        json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": weighted}})
    } else {
        json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": beside}})
    };

    let mut body = json!({
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
                    "securityContext": pod_security,
                    "initContainers": init,
                    "containers": [main],
                    "volumes": volumes,
                },
            },
        },
    });
    if !beside.is_empty() {
        body["spec"]["template"]["spec"]["affinity"] = affinity;
    }
    if stops {
        body["spec"]["template"]["spec"]["serviceAccountName"] = json!(scaler_name(&release.name));
    }
    body
}

/// The ServiceAccount of scheduled backups that stop a component: allowed to
/// scale those StatefulSets and read their pods, nothing else.
pub fn scaler_name(release: &str) -> String {
    format!("{release}-backup")
}

/// The pod volume of [`scaler_name`]'s token and the API server's CA.
const API_VOLUME: &str = "api-token";
/// Where the step that stops its component finds them.
const API_DIR: &str = "/var/run/secrets/stackctl/api";
/// How long a scheduled step waits for the stopped component's pod to go (its
/// grace period and some).
const STOP_WAIT_SECONDS: u32 = 120;

/// The container of `component`'s step in a backup (`kind` "backup") or restore
/// ("restore") pod. Every container of these pods is named `backup-…` or
/// `restore-…`: the image contracts know them as clients (`contracts::shared`).
pub fn step_name(kind: &str, component: &str) -> String {
    format!("{kind}-{component}")
}

/// A container named `name` of `spec`'s image running `step`'s script with its
/// env, its credential files (numbered after `offset` as in [`job`]'s volumes)
/// and the volume.
fn container(
    name: &str,
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
        "name": name,
        "image": spec.image,
        "imagePullPolicy": spec.pull_policy,
        "command": ["sh", "-c", step.script],
        "env": env,
        "volumeMounts": mounts,
        "resources": resources(spec),
        "securityContext": security(),
        // The result line on success; the last log lines (the error) on failure.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    })
}

/// The pod volume of `component`'s own data volume (an [`crate::model::VolumeCopy`]).
fn data_volume(component: &str) -> String {
    format!("{component}-data")
}

/// `c`, the step of `spec`, with the component's data volume at `$DATA` when it
/// is an [`crate::model::VolumeCopy`]. It runs as every step does (the backup
/// volume's files stay the backup user's); the pod joins the component's group
/// to reach its files.
fn with_data(mut c: Value, spec: &BackupSpec, restoring: bool) -> Value {
    let Some(o) = &spec.own_volume else {
        return c;
    };
    if let Some(mounts) = c["volumeMounts"].as_array_mut() {
        mounts.push(json!({
            "name": data_volume(&spec.component),
            "mountPath": o.mount,
            "readOnly": !restoring,
        }));
    }
    if let Some(env) = c["env"].as_array_mut() {
        env.push(json!({"name": "DATA", "value": o.mount}));
        env.push(json!({"name": "DATA_GROUP", "value": o.gid.to_string()}));
    }
    c
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
        "resources": resources(spec),
        "securityContext": security(),
    })
}

/// A step of the S3 client (`backup.s3.image`) running `script` with `env`.
fn s3_step(
    spec: &BackupSpec,
    s3: &S3Place,
    name: &str,
    script: &str,
    extra: &[(&str, String)],
) -> Value {
    let mut env = vec![
        ("S3_URL", s3.target.url.clone()),
        ("S3_REGION", s3.target.region.clone()),
        ("S3_SSE", s3.target.encryption.clone()),
        ("S3_CREDENTIALS", S3_CREDENTIALS.to_string()),
        ("TMPDIR", "/tmp".into()),
        ("HOME", "/tmp".into()),
    ];
    env.extend(extra.iter().cloned());
    json!({
        "name": name,
        "image": s3.image.0,
        "imagePullPolicy": s3.image.1,
        "command": ["sh", "-c", script],
        "env": env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
        "volumeMounts": [
            {"name": "backups", "mountPath": MOUNT},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "s3-credentials", "mountPath": S3_CREDENTIALS, "readOnly": true},
        ],
        "resources": resources(spec),
        "securityContext": security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    })
}

/// A step named `step` that fetches backup `name`'s `files` from `s3` into its
/// directory under [`MOUNT`], as a restore or a download needs them.
fn s3_fetch(spec: &BackupSpec, s3: &S3Place, step: &str, name: &str, files: &[&str]) -> Value {
    s3_step(
        spec,
        s3,
        step,
        &backup_scripts::s3_download(),
        &[
            ("DIR", format!("{MOUNT}/{name}")),
            ("KEY", format!("{}{name}/", s3.prefix)),
            ("FILES", files.join(" ")),
        ],
    )
}

/// The Job that saves `specs` (at least one) as backup `name`.
pub fn backup_job(
    release: &Release,
    (name, place): (&str, &Place),
    specs: &[&BackupSpec],
    deadline: Duration,
) -> Result<Job> {
    let dir = format!("{MOUNT}/{name}");
    let mut extra = vec![("RESULT_FILE", TERMINATION_LOG.to_string())];
    if let Place::S3(s3) = place {
        // The scratch directory's limit, which `df` in it does not show, for the
        // dumps that check the room first.
        if let Ok(bytes) = crate::values::checks::parse_quantity(&s3.scratch) {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            extra.extend([
                ("ROOM", (bytes as u64).to_string()),
                ("SCRATCH", MOUNT.to_string()),
            ]);
        }
    }
    let init: Vec<Value> = specs
        .iter()
        .map(|s| {
            let mut env = vec![("OUT", format!("{dir}/{}", s.file))];
            env.extend(extra.iter().cloned());
            let step = container(&step_name("backup", &s.component), s, &s.dump, 0, &env);
            with_data(step, s, false)
        })
        .collect();
    let last = match place {
        Place::Volume { .. } => shell(specs[0], "backup-done", r#"ls -ln "$DIR""#, &dir),
        Place::S3(s3) => s3_step(
            specs[0],
            s3,
            "backup-upload",
            &backup_scripts::s3_upload(),
            &[
                ("DIR", dir.clone()),
                ("KEY", format!("{}{name}/", s3.prefix)),
            ],
        ),
    };
    let job = job(
        release,
        (Kind::Backup, place),
        name,
        specs,
        (&init, &last),
        deadline,
    );
    Ok(serde_json::from_value(job)?)
}

/// The Job template of the CronJob of `backup.schedule`: a first step that names
/// the backup, each component's dump into it, and a last step that keeps the
/// newest `keep` scheduled backups. Its metadata carries [`SCHEDULED_LABEL`] and
/// [`BACKUP_OF_LABEL`], not the release's labels: its Jobs are backups, not
/// objects of the release.
pub fn scheduled_job_template(
    release: &Release,
    specs: &[&BackupSpec],
    keep: u32,
    place: &Place,
) -> Value {
    let first = specs[0];
    let naming = crate::model::Step {
        script: backup_scripts::scheduled_name(),
        ..crate::model::Step::default()
    };
    let name = container(
        NAME_STEP,
        first,
        &naming,
        0,
        &[
            ("ROOT", MOUNT.into()),
            ("NAME_FILE", NAME_FILE.into()),
            ("RESULT_FILE", TERMINATION_LOG.into()),
        ],
    );
    let mut init = vec![name];
    // Those that stop their component last: it is down for its copy alone.
    let (stopping, online): (Vec<&BackupSpec>, Vec<&BackupSpec>) =
        specs.iter().copied().partition(|s| s.stopped().is_some());
    init.extend(online.iter().chain(&stopping).map(|s| {
        let copy = backup_scripts::scheduled(&s.dump.script);
        let mut extra = vec![
            ("ROOT", MOUNT.to_string()),
            ("NAME_FILE", NAME_FILE.into()),
            ("FILE", s.file.clone()),
            ("RESULT_FILE", TERMINATION_LOG.into()),
        ];
        let script = match (s.stopped(), s.own_volume.as_ref()) {
            (Some(stateful_set), Some(o)) => {
                extra.extend([
                    ("COPY", copy),
                    ("WHAT", s.component.clone()),
                    ("NAMESPACE", release.namespace.clone()),
                    ("STATEFULSET", stateful_set.to_string()),
                    ("POD", format!("{stateful_set}-0")),
                    ("REPLICAS", o.on_schedule.unwrap_or(1).to_string()),
                    ("WAIT_SECONDS", STOP_WAIT_SECONDS.to_string()),
                    ("API_DIR", API_DIR.into()),
                ]);
                backup_scripts::stopped_through_api()
            }
            _ => copy,
        };
        let step = crate::model::Step {
            script,
            ..s.dump.clone()
        };
        let c = container(&step_name("backup", &s.component), s, &step, 0, &extra);
        let mut c = with_data(c, s, false);
        if let (Some(_), Some(mounts)) = (s.stopped(), c["volumeMounts"].as_array_mut()) {
            mounts.push(json!({"name": API_VOLUME, "mountPath": API_DIR, "readOnly": true}));
        }
        c
    }));
    let keep_step = match place {
        Place::Volume { .. } => {
            let mut step = shell(first, "backup-keep", &backup_scripts::keep_newest(), MOUNT);
            step["env"] = json!([
                {"name": "ROOT", "value": MOUNT},
                {"name": "NAME_FILE", "value": NAME_FILE},
                {"name": "KEEP", "value": keep.to_string()},
            ]);
            step["volumeMounts"] = json!([
                {"name": "backups", "mountPath": MOUNT},
                {"name": "tmp", "mountPath": "/tmp"},
            ]);
            step
        }
        Place::S3(s3) => s3_step(
            first,
            s3,
            "backup-keep",
            &backup_scripts::s3_keep_newest(),
            &[
                ("ROOT", MOUNT.into()),
                ("NAME_FILE", NAME_FILE.into()),
                ("KEY", s3.prefix.clone()),
                ("KEEP", keep.to_string()),
                ("BACKUP_META", meta(release, "@NAME@", specs, true)),
            ],
        ),
    };
    let job = job(
        release,
        (Kind::Scheduled, place),
        "",
        specs,
        (&init, &keep_step),
        SCHEDULED_DEADLINE,
    );
    json!({
        "metadata": {"labels": {
            "app.kubernetes.io/managed-by": MANAGED_BY,
            BACKUP_OF_LABEL: release.name,
            SCHEDULED_LABEL: release.name,
        }},
        "spec": job["spec"],
    })
}

/// The Job that restores backup `name` of release `source` (`release` itself, or
/// another release of the namespace, whose backup volume it mounts): each
/// component's restore script, in its image, reading its file after checking it
/// against the recorded checksum.
pub fn restore_job(
    release: &Release,
    (name, place): (&str, &Place),
    parts: &[(&BackupSpec, &SavedFile)],
    deadline: Duration,
) -> Result<Job> {
    let dir = format!("{MOUNT}/{name}");
    let mut init: Vec<Value> = Vec::new();
    if let (Place::S3(s3), Some((first, _))) = (place, parts.first()) {
        let files: Vec<&str> = parts.iter().map(|(_, saved)| saved.file.as_str()).collect();
        init.push(s3_fetch(first, s3, "restore-download", name, &files));
    }
    init.extend(parts.iter().filter_map(|(spec, saved)| {
        let step = spec.restore.as_ref()?;
        let c = container(
            &step_name("restore", &spec.component),
            spec,
            step,
            spec.dump.credentials.len(),
            &[
                ("IN", format!("{dir}/{}", saved.file)),
                ("EXPECTED_SHA256", saved.sha256.clone()),
            ],
        );
        Some(with_data(c, spec, true))
    }));
    let specs: Vec<&BackupSpec> = parts.iter().map(|(s, _)| *s).collect();
    let done = shell(
        specs[0],
        "restore-done",
        r#"echo "restored from $DIR""#,
        &dir,
    );
    let job = job(
        release,
        (Kind::Restore, place),
        name,
        &specs,
        (&init, &done),
        deadline,
    );
    Ok(serde_json::from_value(job)?)
}

/// A Job of one step in the S3 client's image (`spec` gives its resources).
fn s3_only_job(
    release: &Release,
    (kind, name, s3): (Kind, &str, &S3Place),
    spec: &BackupSpec,
    (step, script, env): (&str, &str, &[(&str, String)]),
    deadline: Duration,
) -> Result<Job> {
    let step = s3_step(spec, s3, step, script, env);
    let place = Place::S3(s3.clone());
    let job = job(release, (kind, &place), name, &[], (&[], &step), deadline);
    Ok(serde_json::from_value(job)?)
}

/// The Job that deletes every object under the release's prefix of `s3`: all
/// its backups there, recorded or not (`uninstall --purge-backups`).
pub fn purge_job(
    release: &Release,
    s3: &S3Place,
    spec: &BackupSpec,
    deadline: Duration,
) -> Result<Job> {
    s3_only_job(
        release,
        (Kind::Purge, "", s3),
        spec,
        (
            "backup-delete",
            &backup_scripts::s3_delete(),
            &[("KEY", s3.prefix.clone())],
        ),
        deadline,
    )
}

/// The Job that reads backup `name`'s manifest (`stackctl.json`) from `s3`,
/// under the prefix of the release it was taken of, as its step's termination
/// message. Run in the image of `spec` for its resources only.
pub fn manifest_job(
    release: &Release,
    (name, s3): (&str, &S3Place),
    spec: &BackupSpec,
    deadline: Duration,
) -> Result<Job> {
    s3_only_job(
        release,
        (Kind::Manifest, name, s3),
        spec,
        (
            MANIFEST_STEP,
            &backup_scripts::s3_manifest(),
            &[
                ("KEY", format!("{}{name}/", s3.prefix)),
                ("RESULT_FILE", TERMINATION_LOG.into()),
            ],
        ),
        deadline,
    )
}

pub fn download_pod_name(release: &str, name: &str) -> String {
    format!("{release}-backup-download-{name}")
}

/// The container of a [`download_pod`] that `backup download` runs `cat` in.
pub const DOWNLOAD_STEP: &str = "backup-serve";

/// The pod `backup download` reads backup `name`'s `files` from, each by `cat`
/// in its [`DOWNLOAD_STEP`] container (an exec through the API, as `kubectl cp`
/// does): the backup volume mounted read-only, or, for a backup in S3, the files
/// fetched into the pod's scratch directory first. A bare pod, so its name is
/// known; it ends by itself after `deadline` (its `sleep`, and
/// `activeDeadlineSeconds`) should stackctl not delete it.
pub fn download_pod(
    release: &Release,
    (name, place): (&str, &Place),
    spec: &BackupSpec,
    files: &[&str],
    deadline: Duration,
) -> Result<Pod> {
    let dir = format!("{MOUNT}/{name}");
    let mut init = Vec::new();
    if let Place::S3(s3) = place {
        init.push(s3_fetch(spec, s3, "backup-fetch", name, files));
    }
    let mut serve = shell(spec, DOWNLOAD_STEP, &sleep(deadline), &dir);
    serve["volumeMounts"][0]["readOnly"] = json!(matches!(place, Place::Volume { .. }));
    bare_pod(
        release,
        (Kind::Download, place),
        (name, spec),
        (&init, &serve),
        deadline,
    )
}

pub fn upload_pod_name(release: &str, name: &str) -> String {
    format!("{release}-backup-upload-{name}")
}

/// The container of an [`upload_pod`] that `backup upload` runs
/// [`UPLOAD_SCRIPT`] in.
pub const UPLOAD_STEP: &str = "backup-receive";

/// Run with `sh -c UPLOAD_SCRIPT upload BYTES PATH` and the file on stdin:
/// writes exactly BYTES bytes to PATH (through `PATH.part`, so a cut stream
/// leaves no file of the name). It reads a known length rather than to the end:
/// the exec protocol of Kubernetes before 1.29 (`v4.channel.k8s.io`) cannot
/// close stdin alone.
pub const UPLOAD_SCRIPT: &str = r#"set -eu
mkdir -p "$(dirname "$2")"
head -c "$1" > "$2.part"
got=$(wc -c < "$2.part" | tr -d ' ')
if [ "$got" != "$1" ]; then
  echo "only $got of $1 bytes of $(basename "$2") arrived" >&2
  rm -f "$2.part"
  exit 1
fi
mv "$2.part" "$2"
"#;

/// The pod `backup upload` writes backup `name`'s files into, through execs
/// in its [`UPLOAD_STEP`] container: the release's backup volume, read-write.
/// Bare and self-ending, as a [`download_pod`].
pub fn upload_pod(
    release: &Release,
    name: &str,
    spec: &BackupSpec,
    deadline: Duration,
) -> Result<Pod> {
    let place = Place::Volume {
        release: release.name.clone(),
    };
    let receive = shell(
        spec,
        UPLOAD_STEP,
        &sleep(deadline),
        &format!("{MOUNT}/{name}"),
    );
    bare_pod(
        release,
        (Kind::Upload, &place),
        (name, spec),
        (&[], &receive),
        deadline,
    )
}

/// `exec sleep` for as long as `deadline`.
fn sleep(deadline: Duration) -> String {
    format!("exec sleep {}", deadline.as_secs().max(1))
}

/// The pod of a [`job`] alone, named as the Job would be, ending after
/// `deadline` (`activeDeadlineSeconds`); `spec`'s image pull secrets and node
/// selector (none of its credentials: it reads no database).
fn bare_pod(
    release: &Release,
    (kind, place): (Kind, &Place),
    (name, spec): (&str, &BackupSpec),
    (init, main): (&[Value], &Value),
    deadline: Duration,
) -> Result<Pod> {
    let job = job(release, (kind, place), name, &[], (init, main), deadline);
    let seconds = deadline.as_secs().max(1);
    let template = &job["spec"]["template"];
    let mut pod_spec = template["spec"].clone();
    pod_spec["activeDeadlineSeconds"] = json!(seconds);
    pod_spec["imagePullSecrets"] = json!(
        spec.image_pull_secrets
            .iter()
            .map(|n| json!({"name": n}))
            .collect::<Vec<_>>()
    );
    pod_spec["nodeSelector"] = json!(spec.node_selector);
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": job["metadata"]["name"],
            "namespace": release.namespace,
            "labels": template["metadata"]["labels"],
        },
        "spec": pod_spec,
    }))?)
}

/// A file of a backup, as a restore checks it.
pub struct SavedFile {
    pub file: String,
    pub sha256: String,
}

/// The Job that removes backup `name`'s files, in the image of `spec`.
pub fn delete_job(
    release: &Release,
    (name, place): (&str, &Place),
    spec: &BackupSpec,
    deadline: Duration,
) -> Result<Job> {
    let dir = format!("{MOUNT}/{name}");
    let rm = match place {
        Place::Volume { .. } => shell(spec, "backup-delete", r#"rm -rf -- "$DIR""#, &dir),
        Place::S3(s3) => s3_step(
            spec,
            s3,
            "backup-delete",
            &backup_scripts::s3_delete(),
            &[("KEY", format!("{}{name}/", s3.prefix))],
        ),
    };
    let job = job(
        release,
        (Kind::Delete, place),
        name,
        &[],
        (&[], &rm),
        deadline,
    );
    Ok(serde_json::from_value(job)?)
}

#[cfg(test)]
mod tests;
