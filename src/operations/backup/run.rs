//! Creating, listing and deleting backups against the cluster.

use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams, PropagationPolicy};
use tokio::time::Instant;

use super::job;
use super::record::{
    self, BACKUP_OF_LABEL, Backup, BackupStatus, SECRET_TYPE, Saved, parse_result,
};
use crate::cluster::Session;
use crate::model::{BackupSpec, Manifest, Phase};
use crate::operations::failure::Refused;
use crate::operations::progress::Reporter;
use crate::operations::{guard, recorded_stack, target};
use crate::release::Store;

pub struct CreateOptions {
    pub release: Option<String>,
    pub namespace: Option<String>,
    /// Only these components (`--component`); empty: the stack's default ones.
    pub components: Vec<String>,
    pub volume: Volume,
    pub timeout: Duration,
}

/// The backup volume's size and class, used when a backup creates it.
pub struct Volume {
    pub size: String,
    pub storage_class: String,
}

impl Default for Volume {
    fn default() -> Self {
        Volume {
            size: job::DEFAULT_VOLUME_SIZE.to_string(),
            storage_class: String::new(),
        }
    }
}

/// The components a backup saves: those named, or the default ones. A name the
/// release has no backup for is refused with the ones it has.
pub fn select<'a>(
    specs: &'a [BackupSpec],
    wanted: &[String],
) -> Result<Vec<&'a BackupSpec>, Refused> {
    if wanted.is_empty() {
        return Ok(specs.iter().filter(|s| s.default).collect());
    }
    let known: Vec<&str> = specs.iter().map(|s| s.component.as_str()).collect();
    for w in wanted {
        if !known.contains(&w.as_str()) {
            return Err(Refused(format!(
                "--component {w}: this release backs up {}",
                if known.is_empty() {
                    "nothing".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    Ok(specs
        .iter()
        .filter(|s| wanted.contains(&s.component))
        .collect())
}

/// A backup's name: when it was taken, UTC, to the second.
pub fn new_name() -> String {
    crate::release::record::now()
        .strftime("%Y%m%d-%H%M%S")
        .to_string()
}

/// Takes a backup under the release lock: the volume (made on first use), the Job,
/// its results, the record. A failed backup is recorded as failed, with why.
pub async fn create(
    session: &Session,
    reporter: &Reporter,
    opts: &CreateOptions,
) -> Result<Backup> {
    let t = target::find(
        &session.client,
        opts.release.as_deref(),
        opts.namespace.as_deref(),
    )
    .await?;
    let store = Store::new(session.client.clone(), &t.namespace);
    let Some(current) = store.last_deployed(&t.name).await? else {
        return Err(Refused(format!(
            "release {} has no deployed revision to back up",
            t.name
        ))
        .into());
    };
    let (stack, release, values) = recorded_stack(&current)?;
    let specs = stack.backups(&values, &release)?;
    let chosen = select(&specs, &opts.components)?;
    if chosen.is_empty() {
        return Err(Refused(format!("release {} has nothing to back up", t.name)).into());
    }
    let lock = guard::acquire(session, &store, reporter, &t.name, "backup").await?;
    let taken = Taken {
        revision: current.revision,
        stack: stack.name(),
        values: &current.values,
    };
    let result = take(
        session,
        reporter,
        &release,
        &chosen,
        (&opts.volume, opts.timeout),
        &taken,
    )
    .await;
    if let Err(e) = lock.release().await {
        reporter.warn(format!("could not release the lock: {e}"));
    }
    result
}

/// The revision a backup is taken at.
pub(super) struct Taken<'a> {
    pub revision: u32,
    pub stack: &'static str,
    pub values: &'a serde_json::Value,
}

/// Takes a backup while the caller holds the release lock.
pub(super) async fn take(
    session: &Session,
    reporter: &Reporter,
    release: &crate::model::Release,
    chosen: &[&BackupSpec],
    (volume, timeout): (&Volume, Duration),
    taken: &Taken<'_>,
) -> Result<Backup> {
    let client = &session.client;
    let ns = &release.namespace;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    if claims
        .get_opt(&job::claim_name(&release.name))
        .await?
        .is_none()
    {
        claims
            .create(
                &PostParams::default(),
                &job::claim(release, &volume.size, &volume.storage_class)?,
            )
            .await
            .context("creating the backup volume")?;
        reporter.info(format!(
            "created the backup volume {} ({})",
            job::claim_name(&release.name),
            volume.size
        ));
    }
    let name = new_name();
    let job = job::backup_job(release, &name, chosen, timeout)?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    jobs.create(&PostParams::default(), &job)
        .await
        .context("creating the backup Job")?;
    for s in chosen {
        if let Some(why) = s.experimental {
            reporter.warn(format!(
                "the backup of {} is experimental: {why}",
                s.component
            ));
        }
    }
    reporter.info(format!(
        "backing up {} as {name}",
        chosen
            .iter()
            .map(|s| s.component.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let waited = wait_for_job(session, &job, timeout).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod = pods
        .list(
            &ListParams::default()
                .labels(&format!("job-name={}", job::job_name(&release.name, &name))),
        )
        .await?
        .items
        .into_iter()
        .next();
    let mut backup = Backup {
        name: name.clone(),
        release: release.name.clone(),
        namespace: ns.clone(),
        stack: taken.stack.to_string(),
        revision: taken.revision,
        created: crate::release::record::now().to_string(),
        status: BackupStatus::Complete,
        message: String::new(),
        components: Vec::new(),
    };
    let results = pod.as_ref().map(|p| saved(p, chosen));
    match (waited, results) {
        (Ok(()), Some(Ok(components))) => backup.components = components,
        (Ok(()), Some(Err(e))) => fail(&mut backup, format!("{e:#}")),
        (Ok(()), None) => fail(&mut backup, "the backup Job's pod is gone".into()),
        (Err(e), _) => fail(&mut backup, e.to_string()),
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    secrets
        .create(
            &PostParams::default(),
            &record::to_secret(&backup, taken.values)?,
        )
        .await
        .context("writing the backup record")?;
    let background = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    if let Err(e) = jobs
        .delete(&job::job_name(&release.name, &name), &background)
        .await
    {
        tracing::debug!("deleting the backup Job: {e}");
    }
    Ok(backup)
}

fn fail(backup: &mut Backup, why: String) {
    backup.status = BackupStatus::Failed;
    backup.message = why;
}

/// Waits until a Job completes, by the engine's readiness rules (a failed pod is
/// failed at once, with its reason).
pub(super) async fn wait_for_job(
    session: &Session,
    job: &Job,
    timeout: Duration,
) -> Result<(), crate::wait::WaitError> {
    let Some(manifest) = serde_json::to_value(job)
        .ok()
        .map(with_phase)
        .and_then(Manifest::from_value)
    else {
        return Ok(());
    };
    crate::wait::wait_ready(
        &session.resolver,
        std::slice::from_ref(&manifest),
        crate::wait::WaitOptions::new(Instant::now() + timeout),
        |_| {},
    )
    .await
}

/// The Job as the waiter reads manifests: its phase annotation and component label.
fn with_phase(mut body: serde_json::Value) -> serde_json::Value {
    body["metadata"]["annotations"][crate::model::PHASE_ANNOTATION] = Phase::Apps.as_str().into();
    body["metadata"]["labels"]["app.kubernetes.io/component"] = "backup".into();
    body
}

/// Each component's file, from its init container's termination message.
fn saved(pod: &Pod, chosen: &[&BackupSpec]) -> Result<Vec<Saved>> {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.init_container_statuses.clone())
        .unwrap_or_default();
    chosen
        .iter()
        .map(|spec| {
            let message = statuses
                .iter()
                .find(|s| s.name == spec.component)
                .and_then(|s| s.state.as_ref()?.terminated.as_ref()?.message.clone())
                .unwrap_or_default();
            let r = parse_result(&spec.component, &message)?;
            Ok(Saved {
                component: spec.component.clone(),
                file: r.file,
                bytes: r.bytes,
                sha256: r.sha256,
                version: spec.version.clone(),
                restorable: spec.restore.is_some(),
            })
        })
        .collect()
}

/// The release's backups, oldest first.
pub async fn list(
    session: &Session,
    release: Option<&str>,
    namespace: Option<&str>,
) -> Result<Vec<Backup>> {
    let t = target::find(&session.client, release, namespace).await?;
    let secrets: Api<Secret> = Api::namespaced(session.client.clone(), &t.namespace);
    let mut out: Vec<Backup> = secrets
        .list(&ListParams::default().labels(&format!("{BACKUP_OF_LABEL}={}", t.name)))
        .await?
        .items
        .iter()
        .filter(|s| s.type_.as_deref() == Some(SECRET_TYPE))
        .filter_map(|s| record::from_secret(s).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Removes a backup's files (by a Job on the volume) and then its record.
pub async fn delete(
    session: &Session,
    reporter: &Reporter,
    release: Option<&str>,
    namespace: Option<&str>,
    name: &str,
    timeout: Duration,
) -> Result<()> {
    let t = target::find(&session.client, release, namespace).await?;
    let secrets: Api<Secret> = Api::namespaced(session.client.clone(), &t.namespace);
    let secret_name = record::secret_name(&t.name, name);
    if secrets.get_opt(&secret_name).await?.is_none() {
        return Err(Refused(format!(
            "release {} has no backup {name} (see `stackctl backup list`)",
            t.name
        ))
        .into());
    }
    let store = Store::new(session.client.clone(), &t.namespace);
    let Some(current) = store.latest(&t.name).await? else {
        return Err(Refused(format!("release {} has no revisions", t.name)).into());
    };
    let (stack, release_ref, values) = recorded_stack(&current)?;
    let specs = stack.backups(&values, &release_ref)?;
    let Some(image_of) = specs.first() else {
        return Err(Refused(format!(
            "release {} has nothing backed up to delete",
            t.name
        ))
        .into());
    };
    let lock = guard::acquire(session, &store, reporter, &t.name, "backup delete").await?;
    let result = async {
        let job = job::delete_job(&release_ref, name, image_of, timeout)?;
        let jobs: Api<Job> = Api::namespaced(session.client.clone(), &t.namespace);
        jobs.create(&PostParams::default(), &job)
            .await
            .context("creating the delete Job")?;
        wait_for_job(session, &job, timeout)
            .await
            .map_err(|e| anyhow::anyhow!("removing the files of backup {name}: {e}"))?;
        let background = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        let _ = jobs
            .delete(&job.metadata.name.clone().unwrap_or_default(), &background)
            .await;
        secrets
            .delete(&secret_name, &DeleteParams::default())
            .await
            .context("deleting the backup record")?;
        Ok::<(), anyhow::Error>(())
    }
    .await;
    if let Err(e) = lock.release().await {
        reporter.warn(format!("could not release the lock: {e}"));
    }
    result
}

/// Deletes every backup record of `release` and its backup volume: how many records,
/// and whether there was a volume.
pub async fn purge(client: &kube::Client, namespace: &str, release: &str) -> Result<(usize, bool)> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let records: Vec<String> = secrets
        .list(&ListParams::default().labels(&format!("{BACKUP_OF_LABEL}={release}")))
        .await?
        .items
        .into_iter()
        .filter(|s| s.type_.as_deref() == Some(SECRET_TYPE))
        .filter_map(|s| s.metadata.name)
        .collect();
    for name in &records {
        secrets
            .delete(name, &DeleteParams::default())
            .await
            .with_context(|| format!("deleting backup record {name}"))?;
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let volume = match claims
        .delete(&job::claim_name(release), &DeleteParams::default())
        .await
    {
        Ok(_) => true,
        Err(kube::Error::Api(s)) if s.code == 404 => false,
        Err(e) => return Err(e).context("deleting the backup volume"),
    };
    Ok((records.len(), volume))
}
