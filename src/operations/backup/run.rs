//! Creating, listing and deleting backups against the cluster.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use tokio::time::Instant;

use super::pause;
use super::record::{
    self, BACKUP_OF_LABEL, Backup, BackupStatus, SECRET_TYPE, Saved, parse_result,
};
use super::scheduled;
use crate::cluster::Session;
use crate::model::{BackupSettings, BackupSpec, Manifest, Phase, S3_SECRET_KEYS, S3Target};
use crate::operations::failure::{Refused, Stopped};
use crate::operations::progress::Reporter;
use crate::operations::{guard, recorded_stack, target};
use crate::release::Store;
use crate::stacks::backup_jobs as job;

pub struct CreateOptions {
    pub release: Option<String>,
    pub namespace: Option<String>,
    /// Only these components (`--component`); empty: the stack's default ones.
    pub components: Vec<String>,
    pub timeout: Duration,
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

/// A name no backup of `release` has: [`new_name`], or, when a backup was taken
/// in the same second, the next second's.
async fn free_name(client: &kube::Client, release: &crate::model::Release) -> Result<String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &release.namespace);
    loop {
        let name = new_name();
        if secrets
            .get_opt(&record::secret_name(&release.name, &name))
            .await?
            .is_none()
        {
            return Ok(name);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The release a backup command acts on, at its last deployed revision: what
/// its stack backs up, and how, follows the values that revision was deployed
/// with.
pub(super) struct Deployed {
    pub t: target::Target,
    pub store: Store,
    pub current: crate::release::Record,
    pub stack: &'static dyn crate::stacks::Stack,
    pub release: crate::model::Release,
    pub values: crate::stacks::ResolvedValues,
}

/// The release `name` in `namespace` (either found as `target::find` does);
/// refused when no revision of it was deployed, saying what that keeps from
/// happening (`to`: "back up").
pub(super) async fn deployed(
    session: &Session,
    (name, namespace): (Option<&str>, Option<&str>),
    to: &str,
) -> Result<Deployed> {
    let t = target::find(&session.client, name, namespace).await?;
    let store = Store::new(session.client.clone(), &t.namespace);
    let Some(current) = store.last_deployed(&t.name).await? else {
        return Err(Refused(format!(
            "release {} has no deployed revision to {to}",
            t.name
        ))
        .into());
    };
    let (stack, release, values) = recorded_stack(&current)?;
    Ok(Deployed {
        t,
        store,
        current,
        stack,
        release,
        values,
    })
}

/// Takes a backup under the release lock: the volume (made on first use), the Job,
/// its results, the record. A failed backup is recorded as failed, with why.
pub async fn create(
    session: &Session,
    reporter: &Reporter,
    opts: &CreateOptions,
) -> Result<Backup> {
    let Deployed {
        t,
        store,
        current,
        stack,
        release,
        values,
    } = deployed(
        session,
        (opts.release.as_deref(), opts.namespace.as_deref()),
        "back up",
    )
    .await?;
    let specs = stack.backups(&values, &release)?;
    let chosen = select(&specs, &opts.components)?;
    if chosen.is_empty() {
        return Err(Refused(format!("release {} has nothing to back up", t.name)).into());
    }
    let volume = stack.backup_settings(&values)?;
    scheduled::refuse_if_running(
        &scheduled::find(&session.client, &store, &t.name).await?,
        "take this one",
    )?;
    let lock = guard::acquire(session, &store, reporter, &t.name, "backup").await?;
    if let Err(e) = scheduled::adopt(&session.client, reporter, &store, &t.name, volume.keep).await
    {
        reporter.warn(format!("scheduled backups not recorded: {e:#}"));
    }
    let objects = crate::operations::stored_objects(&current);
    let taken = Taken {
        revision: current.revision,
        stack: stack.name(),
        values: &current.values,
        objects: &objects,
        keep_stopped: false,
    };
    // A component stopped for its copy: no scheduled run may start meanwhile
    // (it would stop and start that component itself).
    let schedule = objects
        .iter()
        .find(|m| m.kind == "CronJob")
        .filter(|_| chosen.iter().any(|s| s.stopped().is_some()));
    let result = scheduled::suspended_while(session, reporter, schedule, async {
        // Checked again once suspended: one may have started since.
        if schedule.is_some() {
            scheduled::refuse_if_running(
                &scheduled::find(&session.client, &store, &t.name).await?,
                "take this one",
            )?;
        }
        take(
            session,
            reporter,
            &release,
            &chosen,
            (&volume, opts.timeout),
            &taken,
        )
        .await
    })
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
    /// Its objects: a component stopped for its copy comes back to the
    /// replicas they say (never to a zero a failed run left).
    pub objects: &'a [Manifest],
    /// The caller stops the apps right after (a restore's safety backup): a
    /// component stopped for its copy stays stopped; its start, and waiting for
    /// it (a broken one may never be ready), are the caller's.
    pub keep_stopped: bool,
}

/// Takes a backup while the caller holds the release lock.
pub(super) async fn take(
    session: &Session,
    reporter: &Reporter,
    release: &crate::model::Release,
    chosen: &[&BackupSpec],
    (volume, timeout): (&BackupSettings, Duration),
    taken: &Taken<'_>,
) -> Result<Backup> {
    let client = &session.client;
    let ns = &release.namespace;
    let place = job::Place::of(release, volume);
    match &volume.s3 {
        None => ensure_volume(client, reporter, release, volume).await?,
        Some(target) => s3_credentials(client, ns, target).await?,
    }
    let name = free_name(client, release).await?;
    let job = job::backup_job(release, (&name, &place), chosen, timeout)?;
    let job_name = job::job_name(&release.name, &name);
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let offline = Offline::find(chosen, taken.objects)?;
    one_node_mounts_all(client, release, &place, chosen).await?;
    let since = Instant::now();
    let work = async {
        offline.stop(session, reporter, timeout).await?;
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
        reporter.info(format!("backing up {} as {name}", names(chosen)));
        anyhow::Ok(
            wait_for_job(session, &job, timeout)
                .await
                .map_err(|e| e.to_string()),
        )
    };
    // Ctrl-C stops the Job and brings back what was stopped.
    let outcome = tokio::select! {
        done = work => Some(done),
        _ = tokio::signal::ctrl_c() => None,
    };
    let interrupted = outcome.is_none();
    if !matches!(outcome, Some(Ok(Ok(())))) && !offline.workloads.is_empty() {
        // Its pod must be gone before the component mounts its volume again.
        stop_job(session, release, &job_name).await;
    }
    // Back whatever the Job did; a failure to come back is said once the backup
    // is recorded.
    let started = if taken.keep_stopped {
        Ok(())
    } else {
        offline.start(session, reporter, since, timeout).await
    };
    let waited = match outcome {
        Some(Ok(waited)) => waited,
        Some(Err(e)) => {
            let _ = jobs.delete(&job_name, &DeleteParams::background()).await;
            if let Err(back) = started {
                reporter.warn(format!("{back:#}"));
            }
            return Err(e);
        }
        None => Err(INTERRUPTED.to_string()),
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod = pods
        .list(&ListParams::default().labels(&format!("job-name={job_name}")))
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
        scheduled: false,
        s3: volume.s3.clone(),
    };
    let results = pod.as_ref().map(|p| saved(p, chosen));
    match (waited, results) {
        (Ok(()), Some(Ok(components))) => backup.components = components,
        (Ok(()), Some(Err(e))) => fail(&mut backup, format!("{e:#}")),
        (Ok(()), None) => fail(&mut backup, "the backup Job's pod is gone".into()),
        (Err(e), _) => fail(&mut backup, e),
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    secrets
        .create(
            &PostParams::default(),
            &record::to_secret(&backup, taken.values)?,
        )
        .await
        .context("writing the backup record")?;
    let background = DeleteParams::background();
    if let Err(e) = jobs.delete(&job_name, &background).await {
        tracing::debug!("deleting the backup Job: {e}");
    }
    started.with_context(|| format!("backup {name} is recorded"))?;
    if interrupted {
        return Err(Stopped(format!(
            "backup {name} {INTERRUPTED}: its Job was stopped{}, and it is recorded as failed (`stackctl backup delete {name}` removes what it wrote)",
            if offline.workloads.is_empty() {
                String::new()
            } else {
                format!(" and {} started again", offline.names())
            }
        ))
        .into());
    }
    Ok(backup)
}

/// Why a backup or restore stopped early.
pub(super) const INTERRUPTED: &str = "interrupted by the user (Ctrl-C)";

/// Ends Job `name` at once: its pods deleted without a grace period (a step's
/// `sh` may ignore SIGTERM) and waited for, so nothing of it writes on. The
/// Job itself stays for whoever deletes or keeps it.
pub(super) async fn stop_job(session: &Session, release: &crate::model::Release, name: &str) {
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), &release.namespace);
    let jobs: Api<Job> = Api::namespaced(session.client.clone(), &release.namespace);
    // No new pod for it: a Job of parallelism 0 runs none.
    let _ = jobs
        .patch(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"parallelism": 0}})),
        )
        .await;
    let selector = format!("job-name={name}");
    let Ok(list) = pods.list(&ListParams::default().labels(&selector)).await else {
        return;
    };
    for p in list.items {
        let Some(pod) = p.metadata.name else { continue };
        let _ = pods
            .delete(&pod, &DeleteParams::default().grace_period(0))
            .await;
        let _ = await_gone(&pods, &pod).await;
    }
}

/// Refuses, before anything stops, a Job that would mount the backup volume
/// (`place`) and a component's own volume that no node can mount together
/// (a local volume on another node, a disk in another zone): its pod would
/// never be scheduled.
pub(super) async fn one_node_mounts_all(
    client: &kube::Client,
    release: &crate::model::Release,
    place: &job::Place,
    specs: &[&BackupSpec],
) -> Result<(), Refused> {
    let job::Place::Volume { release: owner } = place else {
        return Ok(());
    };
    let copies: Vec<&BackupSpec> = specs
        .iter()
        .copied()
        .filter(|s| s.own_volume.is_some())
        .collect();
    if copies.is_empty() {
        return Ok(());
    }
    let backups = job::claim_name(owner);
    let mut claims = vec![backups.as_str()];
    claims.extend(
        copies
            .iter()
            .filter_map(|s| Some(s.own_volume.as_ref()?.claim.as_str())),
    );
    let selector = &copies[0].node_selector;
    match crate::cluster::placement::unplaceable(client, &release.namespace, &claims, selector)
        .await
    {
        None => Ok(()),
        Some(volumes) => Err(Refused(format!(
            "no node can mount both the backup volume {backups} and the volume of {} (volumes {} are pinned to different nodes or zones), so a pod mounting both could never start; nothing was stopped. Back {} up to S3 (backup.s3.*), where the pod needs only its own volume, or leave {} out (--component)",
            names(&copies),
            volumes.join(", "),
            if copies.len() == 1 { "it" } else { "them" },
            names(&copies),
        ))),
    }
}

fn names(specs: &[&BackupSpec]) -> String {
    specs
        .iter()
        .map(|s| s.component.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The workloads a backup stops while it copies their volumes, with the
/// replicas they ran.
struct Offline {
    workloads: Vec<Manifest>,
    replicas: Vec<i32>,
}

impl Offline {
    /// The StatefulSets of `chosen`'s offline copies, as the release's
    /// `objects` have them.
    fn find(chosen: &[&BackupSpec], objects: &[Manifest]) -> Result<Offline, Refused> {
        let mut workloads = Vec::new();
        for s in chosen {
            let Some(stateful_set) = s.stopped() else {
                continue;
            };
            let Some(m) = objects
                .iter()
                .find(|m| m.kind == "StatefulSet" && m.name == stateful_set)
            else {
                return Err(Refused(format!(
                    "{} cannot be backed up: the release has no StatefulSet {stateful_set}",
                    s.component
                )));
            };
            workloads.push(m.clone());
        }
        let replicas = pause::replicas(&workloads);
        Ok(Offline {
            workloads,
            replicas,
        })
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self
            .workloads
            .iter()
            .map(|m| m.component.as_str())
            .collect();
        names.join(", ")
    }

    /// Scaled to zero and gone (the caller brings them back, whatever happens).
    async fn stop(&self, session: &Session, reporter: &Reporter, timeout: Duration) -> Result<()> {
        if self.workloads.is_empty() {
            return Ok(());
        }
        reporter.info(format!(
            "stopping {} for the copy of its volume: scaling it to zero",
            self.names()
        ));
        pause::stop(session, &self.workloads, timeout).await
    }

    async fn start(
        &self,
        session: &Session,
        reporter: &Reporter,
        since: Instant,
        timeout: Duration,
    ) -> Result<()> {
        if self.workloads.is_empty() {
            return Ok(());
        }
        reporter.info(format!("starting {} again", self.names()));
        let started = pause::start(session, &self.workloads, &self.replicas, timeout).await;
        reporter.info(format!(
            "{} was stopped for {:.1}s",
            self.names(),
            since.elapsed().as_secs_f64()
        ));
        started
    }
}

/// Makes the backup volume unless it exists (its size and class are those of its
/// first use: `backup.persistence` then).
pub async fn ensure_volume(
    client: &kube::Client,
    reporter: &Reporter,
    release: &crate::model::Release,
    volume: &BackupSettings,
) -> Result<()> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &release.namespace);
    if claims
        .get_opt(&job::claim_name(&release.name))
        .await?
        .is_some()
    {
        return Ok(());
    }
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
    Ok(())
}

/// Refuses, naming the Secret and the key, when `backup.s3.existingSecret` is
/// missing or lacks a key: its Job would wait for a mount that never comes.
pub async fn s3_credentials(
    client: &kube::Client,
    namespace: &str,
    target: &S3Target,
) -> Result<(), Refused> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let found = secrets.get_opt(&target.secret).await.map_err(|e| {
        Refused(format!(
            "backup.s3.existingSecret: reading Secret {namespace}/{}: {e}",
            target.secret
        ))
    })?;
    let Some(secret) = found else {
        return Err(Refused(format!(
            "backup.s3.existingSecret: Secret {namespace}/{} does not exist; create it with \
             `kubectl -n {namespace} create secret generic {} --from-literal=AWS_ACCESS_KEY_ID=… \
             --from-literal=AWS_SECRET_ACCESS_KEY=…`",
            target.secret, target.secret
        )));
    };
    let has = |k: &str| {
        secret.data.as_ref().is_some_and(|d| d.contains_key(k))
            || secret
                .string_data
                .as_ref()
                .is_some_and(|d| d.contains_key(k))
    };
    let missing: Vec<&str> = S3_SECRET_KEYS.into_iter().filter(|k| !has(k)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Refused(format!(
            "backup.s3.existingSecret: Secret {namespace}/{} has no key {}",
            target.secret,
            missing.join(" and no key ")
        )))
    }
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
pub(super) fn saved(pod: &Pod, chosen: &[&BackupSpec]) -> Result<Vec<Saved>> {
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
                .find(|s| s.name == job::step_name("backup", &spec.component))
                .and_then(|s| s.state.as_ref()?.terminated.as_ref()?.message.clone())
                .unwrap_or_default();
            let r = parse_result(&spec.component, &message)?;
            Ok(Saved {
                component: spec.component.clone(),
                file: r.file,
                bytes: r.bytes,
                sha256: r.sha256,
                version: spec.version.clone(),
                layout: spec.layout.clone(),
                restorable: spec.restore.is_some(),
            })
        })
        .collect()
}

/// The release's backups, oldest first: the recorded ones and the scheduled ones
/// not recorded yet (see [`super::scheduled`]).
pub async fn list(
    session: &Session,
    release: Option<&str>,
    namespace: Option<&str>,
) -> Result<Vec<Backup>> {
    let t = target::find(&session.client, release, namespace).await?;
    let store = Store::new(session.client.clone(), &t.namespace);
    all(&session.client, &store, &t.name).await
}

/// [`list`] of a release known by name.
/// Backup `name` of `release`, recorded or scheduled; refused when there is none.
pub(super) async fn find(
    client: &kube::Client,
    store: &Store,
    release: &str,
    name: &str,
) -> Result<Backup> {
    all(client, store, release)
        .await?
        .into_iter()
        .find(|b| b.name == name)
        .ok_or_else(|| {
            Refused(format!(
                "release {release} has no backup {name} (see `stackctl backup list`)"
            ))
            .into()
        })
}

pub async fn all(client: &kube::Client, store: &Store, release: &str) -> Result<Vec<Backup>> {
    Ok(merged(client, store, release).await?.0)
}

/// The records and the scheduled backups not recorded yet, oldest first; and the
/// scheduled backups' Jobs still running.
async fn merged(
    client: &kube::Client,
    store: &Store,
    release: &str,
) -> Result<(Vec<Backup>, Vec<String>)> {
    let mut out = records(client, store.namespace(), release).await?;
    let pending = scheduled::find(client, store, release).await?;
    for f in pending.finished {
        if !out.iter().any(|b| b.name == f.backup.name) {
            out.push(f.backup);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((out, pending.running))
}

/// The release's backup records, oldest first.
pub(super) async fn records(
    client: &kube::Client,
    namespace: &str,
    release: &str,
) -> Result<Vec<Backup>> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut out: Vec<Backup> = secrets
        .list(&ListParams::default().labels(&format!("{BACKUP_OF_LABEL}={release}")))
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
    let store = Store::new(session.client.clone(), &t.namespace);
    let target = find(&session.client, &store, &t.name, name).await?;
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
    let settings = stack.backup_settings(&values)?;
    let keep = settings.keep;
    let place = target.place(&settings);
    if let Some(s3) = &target.s3 {
        s3_credentials(&session.client, &t.namespace, s3).await?;
    }
    let lock = guard::acquire(session, &store, reporter, &t.name, "backup delete").await?;
    let result = async {
        // A scheduled backup not recorded yet is recorded first, so that what
        // follows deletes one thing, whichever it was.
        scheduled::adopt(&session.client, reporter, &store, &t.name, keep).await?;
        let job = job::delete_job(&release_ref, (name, &place), image_of, timeout)?;
        let jobs: Api<Job> = Api::namespaced(session.client.clone(), &t.namespace);
        jobs.create(&PostParams::default(), &job)
            .await
            .context("creating the delete Job")?;
        wait_for_job(session, &job, timeout)
            .await
            .map_err(|e| anyhow::anyhow!("removing the files of backup {name}: {e}"))?;
        let background = DeleteParams::background();
        let _ = jobs
            .delete(&job.metadata.name.clone().unwrap_or_default(), &background)
            .await;
        match secrets.delete(&secret_name, &DeleteParams::default()).await {
            // Retention (above) may have taken it already.
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e).context("deleting the backup record"),
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    if let Err(e) = lock.release().await {
        reporter.warn(format!("could not release the lock: {e}"));
    }
    result
}

/// How long the Job that empties a release's S3 prefix may take.
const PURGE_DEADLINE: Duration = Duration::from_secs(600);

/// What [`purge`] deleted.
#[derive(Debug, Default)]
pub struct Purged {
    pub records: usize,
    pub volume: bool,
    /// The S3 prefixes emptied, for people.
    pub in_s3: Vec<String>,
}

/// The buckets (and prefixes) holding backups of `release`: those its records
/// name, and its last values' (scheduled backups not recorded yet).
async fn s3_targets(
    client: &kube::Client,
    latest: Option<&crate::release::Record>,
    namespace: &str,
    release: &str,
) -> Result<Vec<S3Target>> {
    let mut targets: Vec<S3Target> = records(client, namespace, release)
        .await?
        .into_iter()
        .filter_map(|b| b.s3)
        .collect();
    if let Some(latest) = latest {
        let (stack, _, values) = recorded_stack(latest)?;
        targets.extend(stack.backup_settings(&values)?.s3);
    }
    targets.sort_by(|a, b| (&a.url, &a.prefix).cmp(&(&b.url, &b.prefix)));
    targets.dedup_by(|a, b| (&a.url, &a.prefix) == (&b.url, &b.prefix));
    Ok(targets)
}

/// Refuses a purge that could not delete the backups in S3 (their keys gone, or
/// no history left to make the Job from): asked before anything is deleted.
/// The S3 targets it checked, which [`purge`] then empties.
pub async fn check_purge(
    client: &kube::Client,
    latest: Option<&crate::release::Record>,
    namespace: &str,
    release: &str,
) -> Result<Vec<S3Target>> {
    let targets = s3_targets(client, latest, namespace, release).await?;
    if let (Some(t), None) = (targets.first(), latest) {
        return Err(Refused(format!(
            "backups of {release} are in {}, and without the release's history stackctl cannot run the Job that deletes them; delete them with your S3 tools, then the records with `kubectl -n {namespace} delete secret -l {BACKUP_OF_LABEL}={release}`",
            t.describe(namespace, release)
        ))
        .into());
    }
    for t in &targets {
        s3_credentials(client, namespace, t).await?;
    }
    Ok(targets)
}

/// Waits, a minute at most, until object `name` (a Job, a pod) is gone, so
/// that one of its name can be made.
pub(super) async fn await_gone<K>(api: &Api<K>, name: &str) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let gone = |o: Option<&K>| o.is_none();
    tokio::time::timeout(
        Duration::from_secs(60),
        kube::runtime::wait::await_condition(api.clone(), name, gone),
    )
    .await
    .with_context(|| format!("{name} is still there after a minute"))?
    .with_context(|| format!("waiting for {name} to go"))?;
    Ok(())
}

/// Deletes every backup of `release`: first its objects in S3 (see
/// [`s3_targets`]; the release's prefix of each bucket emptied by a Job), then
/// the records, the scheduled backups' Jobs and the backup volume. A failed S3
/// deletion stops it with every record kept, so nothing points nowhere.
/// `latest`: the release's last record, whose values give the S3 client;
/// [`check_purge`] first refuses what this could not do.
pub async fn purge(
    session: &Session,
    latest: Option<&crate::release::Record>,
    namespace: &str,
    release: &str,
) -> Result<Purged> {
    let client = &session.client;
    let targets = check_purge(client, latest, namespace, release).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut purged = Purged::default();
    if let (Some(latest), false) = (latest, targets.is_empty()) {
        let (stack, rel, values) = recorded_stack(latest)?;
        let settings = stack.backup_settings(&values)?;
        let specs = stack.backups(&values, &rel)?;
        let Some(spec) = specs.first() else {
            bail!("release {release} backs up nothing, yet has backups in S3");
        };
        for target in &targets {
            let place = job::S3Place::new(target, (namespace, release), &settings);
            let purge = job::purge_job(&rel, &place, spec, PURGE_DEADLINE)?;
            let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
            let name = purge.metadata.name.clone().unwrap_or_default();
            // A failed purge's Job, kept for its log: this retry replaces it.
            match jobs.delete(&name, &DeleteParams::background()).await {
                Ok(_) => await_gone(&jobs, &name).await?,
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e).context("deleting the last purge's Job"),
            }
            jobs.create(&PostParams::default(), &purge)
                .await
                .context("creating the Job that deletes the backups in S3")?;
            let where_ = target.describe(namespace, release);
            wait_for_job(session, &purge, PURGE_DEADLINE)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "deleting the backups in {where_}: {e}; the backup records are kept (and the Job {name}, for its log)"
                    )
                })?;
            let _ = jobs.delete(&name, &DeleteParams::background()).await;
            purged.in_s3.push(where_);
        }
    }
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
    // Scheduled backups not recorded yet: their files go with the volume.
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    jobs.delete_collection(
        &DeleteParams::background(),
        &ListParams::default().labels(&format!("{}={release}", job::SCHEDULED_LABEL)),
    )
    .await
    .context("deleting scheduled backups' Jobs")?;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let volume = match claims
        .delete(&job::claim_name(release), &DeleteParams::default())
        .await
    {
        Ok(_) => true,
        Err(kube::Error::Api(s)) if s.code == 404 => false,
        Err(e) => return Err(e).context("deleting the backup volume"),
    };
    purged.records = records.len();
    purged.volume = volume;
    Ok(purged)
}

/// What `status` says of a release's backups.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// `backup.schedule`; empty: on demand only.
    pub schedule: String,
    pub count: usize,
    /// The newest backup, scheduled or not.
    pub last: Option<Backup>,
    /// The newest scheduled one.
    pub last_scheduled: Option<Backup>,
    /// A scheduled backup's Job that is running now.
    pub running: Option<String>,
}

/// The release's backups in brief; `None` when it has none and no schedule.
pub async fn summary(
    client: &kube::Client,
    store: &Store,
    release: &str,
    schedule: &str,
) -> Result<Option<Summary>> {
    let (mut backups, running) = merged(client, store, release).await?;
    if backups.is_empty() && schedule.is_empty() && running.is_empty() {
        return Ok(None);
    }
    Ok(Some(Summary {
        schedule: schedule.to_string(),
        count: backups.len(),
        last_scheduled: backups.iter().rev().find(|b| b.scheduled).cloned(),
        last: backups.pop(),
        running: running.into_iter().next(),
    }))
}
