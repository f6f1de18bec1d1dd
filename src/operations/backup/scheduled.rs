//! Scheduled backups (`backup.schedule`): the Jobs of the release's CronJob, run
//! with no stackctl around. Until a stackctl command that holds the release lock
//! records one ([`adopt`]: `backup create`, `delete` and `restore`), its Job is
//! its record: `backup list` and `status` read it from there. The CronJob keeps
//! as many finished Jobs as `backup.keep` (its history limit), which is as many
//! as the Job's own last step keeps on the volume; deleting the CronJob orphans
//! them (`operations::prune`), so a schedule taken away loses no backup.

use anyhow::{Context, Result};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::record::{self, Backup, BackupStatus};
use crate::cluster::Session;
use crate::model::{BackupSpec, Manifest};
use crate::operations::failure::Refused;
use crate::operations::progress::Reporter;
use crate::operations::recorded_stack;
use crate::release::Store;
use crate::stacks::backup_jobs::{NAME_STEP, SCHEDULED_LABEL};

/// Refuses to start while a scheduled backup runs: it holds the backup volume
/// (`ReadWriteOnce`), and its data would be caught mid-change.
pub fn refuse_if_running(s: &Scheduled, what: &str) -> Result<(), Refused> {
    match s.running.first() {
        None => Ok(()),
        Some(job) => Err(Refused(format!(
            "a scheduled backup is running (Job {job}); {what} when it has ended"
        ))),
    }
}

/// Failed scheduled backups whose records are kept: enough to see a pattern.
const FAILED_KEPT: usize = 3;

/// A scheduled backup read from its Job.
pub struct Found {
    pub job: String,
    pub backup: Backup,
    /// The values of the revision it was taken at (for its record).
    values: serde_json::Value,
}

#[derive(Default)]
pub struct Scheduled {
    /// Finished, oldest first.
    pub finished: Vec<Found>,
    /// Jobs still running.
    pub running: Vec<String>,
}

/// The release's scheduled backups that have no record yet.
pub async fn find(client: &kube::Client, store: &Store, release: &str) -> Result<Scheduled> {
    let ns = store.namespace();
    let by_label = ListParams::default().labels(&format!("{SCHEDULED_LABEL}={release}"));
    let jobs = Api::<Job>::namespaced(client.clone(), ns)
        .list(&by_label)
        .await
        .context("listing scheduled backups")?
        .items;
    let mut out = Scheduled::default();
    if jobs.is_empty() {
        return Ok(out);
    }
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&by_label)
        .await?
        .items;
    let history = store.list(release).await?;
    for job in jobs {
        let name = job.metadata.name.clone().unwrap_or_default();
        let status = job.status.clone().unwrap_or_default();
        let succeeded = status.succeeded.unwrap_or(0) > 0;
        let failed = status.failed.unwrap_or(0) > 0
            || status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Failed" && c.status == "True");
        if !succeeded && !failed {
            out.running.push(name);
            continue;
        }
        let created = job
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or_else(crate::release::record::now, |t| t.0);
        // The revision deployed when it ran: the last one started before it that
        // got deployed (a failed upgrade's values may never have run).
        let deployed = |r: &&crate::release::Record| {
            matches!(
                r.status,
                crate::release::Status::Deployed | crate::release::Status::Superseded
            )
        };
        let Some(at) = history
            .iter()
            .rev()
            .filter(deployed)
            .find(|r| r.started_at <= created)
            .or_else(|| history.iter().find(deployed))
            .or(history.first())
        else {
            continue;
        };
        let (stack, rel, values) = recorded_stack(at)?;
        let specs = stack.backups(&values, &rel)?;
        let pod = pods
            .iter()
            .find(|p| p.metadata.labels.as_ref().and_then(|l| l.get("job-name")) == Some(&name));
        let mut backup = Backup {
            name: pod
                .and_then(|p| terminated(p, NAME_STEP))
                .map(|(_, message)| message.trim().to_string())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| created.strftime("%Y%m%d-%H%M%S").to_string()),
            release: release.to_string(),
            namespace: ns.to_string(),
            stack: stack.name().to_string(),
            revision: at.revision,
            created: created.to_string(),
            status: BackupStatus::Complete,
            message: String::new(),
            components: Vec::new(),
            scheduled: true,
            // Where that revision's CronJob sent it.
            s3: stack.backup_settings(&values)?.s3,
        };
        let chosen: Vec<&BackupSpec> = template_steps(&job)
            .iter()
            .filter_map(|step| specs.iter().find(|s| &s.component == step))
            .collect();
        match (succeeded, pod) {
            (true, Some(p)) => match super::run::saved(p, &chosen) {
                Ok(components) => backup.components = components,
                Err(e) => fail(&mut backup, format!("{e:#}")),
            },
            (true, None) => fail(&mut backup, "its pod is gone".into()),
            (false, _) => fail(&mut backup, why_failed(&job, pod)),
        }
        out.finished.push(Found {
            job: name,
            backup,
            values: at.values.clone(),
        });
    }
    out.finished
        .sort_by(|a, b| a.backup.name.cmp(&b.backup.name));
    out.running.sort();
    Ok(out)
}

fn fail(backup: &mut Backup, why: String) {
    backup.status = BackupStatus::Failed;
    backup.message = why;
}

/// The components a scheduled Job backs up: its init containers after the naming
/// step (`backup-<component>`), in order.
fn template_steps(job: &Job) -> Vec<String> {
    job.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.init_containers.as_ref())
        .map(|cs| {
            cs.iter()
                .filter(|c| c.name != NAME_STEP)
                .filter_map(|c| c.name.strip_prefix("backup-").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A container's exit code and termination message, once it ended.
pub(super) fn terminated(pod: &Pod, container: &str) -> Option<(i32, String)> {
    let s = pod.status.as_ref()?;
    s.init_container_statuses
        .iter()
        .flatten()
        .chain(s.container_statuses.iter().flatten())
        .find(|c| c.name == container)
        .and_then(|c| c.state.as_ref()?.terminated.as_ref())
        .map(|t| (t.exit_code, t.message.clone().unwrap_or_default()))
}

/// Why a scheduled Job failed: the step that failed and its last words, else
/// the Job's own condition (a deadline, a pod that never started).
fn why_failed(job: &Job, pod: Option<&Pod>) -> String {
    if let Some(p) = pod {
        let steps = p
            .spec
            .iter()
            .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers));
        for c in steps {
            if let Some((code, message)) = terminated(p, &c.name).filter(|(code, _)| *code != 0) {
                let said = message
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .to_string();
                return if said.is_empty() {
                    format!(
                        "step {} exited with {code} and said nothing (`kubectl -n {} logs {} -c {}`)",
                        c.name,
                        p.metadata.namespace.as_deref().unwrap_or_default(),
                        p.metadata.name.as_deref().unwrap_or_default(),
                        c.name
                    )
                } else {
                    format!("step {} exited with {code}: {said}", c.name)
                };
            }
        }
    }
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Failed"))
        .map_or_else(
            || "the Job failed".to_string(),
            |c| {
                format!(
                    "the Job failed: {}",
                    c.message.clone().or(c.reason.clone()).unwrap_or_default()
                )
            },
        )
}

/// Records every finished scheduled backup (a Secret, as `backup create` writes)
/// and deletes its Job; then keeps the records of the newest `keep` complete
/// scheduled backups (the files of older ones are gone: the Job's last step
/// deleted them) and of the newest failed ones. The caller holds the release lock.
pub async fn adopt(
    client: &kube::Client,
    reporter: &Reporter,
    store: &Store,
    release: &str,
    keep: u32,
) -> Result<usize> {
    let found = find(client, store, release).await?;
    let ns = store.namespace();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let background = DeleteParams::background();
    for f in &found.finished {
        match secrets
            .create(
                &PostParams::default(),
                &record::to_secret(&f.backup, &f.values)?,
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {
                tracing::debug!("backup {} is recorded already", f.backup.name);
            }
            Err(e) => return Err(e).context("recording a scheduled backup"),
        }
        jobs.delete(&f.job, &background)
            .await
            .with_context(|| format!("deleting Job {} (recorded)", f.job))?;
    }
    if !found.finished.is_empty() {
        let n = found.finished.len();
        reporter.info(format!(
            "recorded {n} scheduled backup{} (from {})",
            if n == 1 { "" } else { "s" },
            if n == 1 { "its Job" } else { "their Jobs" }
        ));
    }
    let records = super::run::records(client, ns, release).await?;
    for name in beyond_retention(&records, keep) {
        secrets
            .delete(
                &record::secret_name(release, &name),
                &DeleteParams::default(),
            )
            .await
            .with_context(|| format!("deleting the record of scheduled backup {name}"))?;
    }
    Ok(found.finished.len())
}

/// The scheduled backups (oldest first in `records`) whose records go: complete
/// ones beyond the newest `keep`, failed ones beyond the newest [`FAILED_KEPT`].
/// Backups taken on demand stay until deleted.
pub fn beyond_retention(records: &[Backup], keep: u32) -> Vec<String> {
    let keep = usize::try_from(keep).unwrap_or(usize::MAX);
    let mut complete = 0;
    let mut failed = 0;
    let mut out = Vec::new();
    for b in records.iter().rev().filter(|b| b.scheduled) {
        let (seen, limit) = match b.status {
            BackupStatus::Complete => (&mut complete, keep),
            BackupStatus::Failed => (&mut failed, FAILED_KEPT),
        };
        *seen += 1;
        if *seen > limit {
            out.push(b.name.clone());
        }
    }
    out
}

/// Runs `work` with the CronJob of `backup.schedule` (when the release has one)
/// suspended, and resumes it however `work` ended, warning when it cannot.
pub(super) async fn suspended_while<T>(
    session: &Session,
    reporter: &Reporter,
    cron: Option<&Manifest>,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    if let Some(cron) = cron {
        suspend(session, cron, true).await?;
    }
    let result = work.await;
    if let Some(cron) = cron
        && let Err(e) = suspend(session, cron, false).await
    {
        reporter.warn(format!(
            "{} is still suspended ({e:#}); `stackctl upgrade` resumes it",
            cron.id()
        ));
    }
    result
}

/// Suspends (`on`) or resumes the CronJob of `backup.schedule`: no scheduled
/// run starts while a restore replaces the data or stackctl stops a component
/// for its copy. Its own field manager, so an upgrade's apply takes it back.
async fn suspend(session: &Session, cron: &Manifest, on: bool) -> Result<()> {
    let api = session.resolver.api_for(cron).await?;
    let params = PatchParams {
        field_manager: Some("stackctl-restore".into()),
        ..PatchParams::default()
    };
    api.patch(
        &cron.name,
        &params,
        &Patch::Merge(json!({"spec": {"suspend": on}})),
    )
    .await
    .with_context(|| {
        format!(
            "{} {}",
            if on { "suspending" } else { "resuming" },
            cron.id()
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(name: &str, status: BackupStatus, scheduled: bool) -> Backup {
        Backup {
            name: name.into(),
            release: "cv".into(),
            namespace: "logs".into(),
            stack: "clickvisual".into(),
            revision: 1,
            created: String::new(),
            status,
            message: String::new(),
            components: Vec::new(),
            scheduled,
            s3: None,
        }
    }

    #[test]
    fn retention_keeps_the_newest_scheduled_and_every_manual_backup() {
        use BackupStatus::{Complete, Failed};
        let records = vec![
            b("20261101-030000", Complete, true),
            b("20261102-030000", Complete, false),
            b("20261103-030000", Failed, true),
            b("20261104-030000", Complete, true),
            b("20261105-030000", Failed, true),
            b("20261106-030000", Failed, true),
            b("20261107-030000", Failed, true),
            b("20261108-030000", Complete, true),
        ];
        assert_eq!(
            beyond_retention(&records, 2),
            vec!["20261103-030000", "20261101-030000"]
        );
        assert_eq!(beyond_retention(&records, 3), vec!["20261103-030000"]);
    }
}
