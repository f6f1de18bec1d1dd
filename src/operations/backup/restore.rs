//! `backup restore`: under the release lock, a safety backup of what is there now,
//! the apps stopped (scaled to zero, so nothing writes while a database is
//! replaced), the restore Job, the apps back, and the connectivity probes. Every
//! refusal (an unknown or failed backup, a component it cannot restore, a server of
//! another major version) comes before anything is written.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};

use super::pause;
use super::record::{self, Backup, BackupStatus, Saved};
use super::run::{Deployed, INTERRUPTED, Taken, deployed, stop_job, take, wait_for_job};
use super::scheduled;
use crate::cluster::Session;
use crate::model::{BackupSpec, Manifest, Phase, ProbeSpec, Release};
use crate::operations::failure::{Refused, Stopped};
use crate::operations::progress::Reporter;
use crate::operations::{guard, stored_objects};
use crate::probe::{ProbeReport, RunOptions, run_probes};
use crate::release::Store;
use crate::stacks::backup_jobs as job;

pub struct RestoreOptions {
    pub release: Option<String>,
    pub namespace: Option<String>,
    pub name: String,
    /// The release whose backup it is, when another of the namespace (a new
    /// release restoring an old one's); `None`: the release itself.
    pub from: Option<String>,
    /// Only these components; empty: every one the backup can restore.
    pub components: Vec<String>,
    pub timeout: Duration,
}

/// Everything a restore will do, found before it does any of it.
pub struct RestorePlan {
    pub release: Release,
    pub backup: Backup,
    pub parts: Vec<(BackupSpec, Saved)>,
    /// The apps' Deployments and StatefulSets, stopped meanwhile.
    pub apps: Vec<Manifest>,
    /// Every object of the revision restored into.
    objects: Vec<Manifest>,
    /// The CronJob of `backup.schedule`, suspended meanwhile.
    schedule: Option<Manifest>,
    probes: Vec<ProbeSpec>,
    volume: crate::model::BackupSettings,
    revision: u32,
    values: serde_json::Value,
}

/// The part of a version before its first dot: `8.4.3` → `8`.
fn major(version: &str) -> &str {
    version.split(['.', '-']).next().unwrap_or(version)
}

/// What of `backup` to restore, checked against what the release runs now.
pub fn choose(
    backup: &Backup,
    specs: &[BackupSpec],
    wanted: &[String],
) -> Result<Vec<(BackupSpec, Saved)>, Refused> {
    if backup.status != BackupStatus::Complete {
        return Err(Refused(format!(
            "backup {} failed ({}); pick a complete one (`stackctl backup list`)",
            backup.name, backup.message
        )));
    }
    for w in wanted {
        if !backup.components.iter().any(|c| &c.component == w) {
            let held: Vec<&str> = backup
                .components
                .iter()
                .map(|c| c.component.as_str())
                .collect();
            return Err(Refused(format!(
                "--component {w}: backup {} holds {}",
                backup.name,
                held.join(", ")
            )));
        }
    }
    let mut parts = Vec::new();
    for saved in &backup.components {
        if !wanted.is_empty() && !wanted.contains(&saved.component) {
            continue;
        }
        let Some(spec) = specs.iter().find(|s| s.component == saved.component) else {
            return Err(Refused(format!(
                "backup {} holds {}, which this release no longer runs",
                backup.name, saved.component
            )));
        };
        if spec.restore.is_none() {
            if wanted.contains(&saved.component) {
                return Err(Refused(format!(
                    "stackctl cannot restore {} yet; its file {} is on the backup volume for a restore by hand",
                    saved.component, saved.file
                )));
            }
            continue;
        }
        if major(&saved.version) != major(&spec.version) {
            return Err(Refused(format!(
                "backup {} of {} was taken from version {}, and the release runs {}: restore it into a release running {} (a dump does not move across major versions)",
                backup.name, saved.component, saved.version, spec.version, saved.version
            )));
        }
        if saved.layout != spec.layout {
            let shape = |l: &str| {
                if l.is_empty() {
                    "one server".to_string()
                } else {
                    l.to_string()
                }
            };
            return Err(Refused(format!(
                "backup {} of {} was taken from {}, and the release runs {}: restore it into a release laid out as it was (each server's part goes back to its server)",
                backup.name,
                saved.component,
                shape(&saved.layout),
                shape(&spec.layout)
            )));
        }
        parts.push((spec.clone(), saved.clone()));
    }
    if parts.is_empty() {
        return Err(Refused(format!(
            "backup {} holds nothing stackctl can restore",
            backup.name
        )));
    }
    Ok(parts)
}

pub async fn plan(session: &Session, opts: &RestoreOptions) -> Result<RestorePlan> {
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
        "restore into",
    )
    .await?;
    let pending = scheduled::find(&session.client, &store, &t.name).await?;
    scheduled::refuse_if_running(&pending, "restore")?;
    let volume = stack.backup_settings(&values)?;
    // `--from [NAMESPACE/]RELEASE`.
    let (source_ns, source) = match opts.from.as_deref().map(|f| f.split_once('/')) {
        Some(Some((ns, r))) => (ns.to_string(), r.to_string()),
        Some(None) => (t.namespace.clone(), opts.from.clone().unwrap_or_default()),
        None => (t.namespace.clone(), t.name.clone()),
    };
    let here = source_ns == t.namespace;
    let from_source = if !here {
        scheduled::Scheduled::default()
    } else if source == t.name {
        pending
    } else {
        scheduled::find(&session.client, &store, &source).await?
    };
    let secrets: Api<Secret> = Api::namespaced(session.client.clone(), &t.namespace);
    let record = if here {
        secrets
            .get_opt(&record::secret_name(&source, &opts.name))
            .await?
    } else {
        None
    };
    let found = match record {
        Some(secret) => Some(record::from_secret(&secret)?),
        None => from_source
            .finished
            .into_iter()
            .map(|f| f.backup)
            .find(|b| b.name == opts.name),
    };
    let specs = stack.backups(&values, &release)?;
    let backup = match (found, &volume.s3) {
        (Some(b), _) => b,
        // No record here (another cluster, another namespace, records lost):
        // the bucket this release backs up to may hold it.
        (None, Some(target)) => {
            let Some(first) = specs.first() else {
                return Err(Refused(format!("release {} backs up nothing", t.name)).into());
            };
            super::run::s3_credentials(&session.client, &t.namespace, target).await?;
            let place = job::S3Place::new(target, (&source_ns, &source), &volume);
            let found_at = (source_ns.as_str(), source.as_str());
            read_manifest(
                session,
                &release,
                (&opts.name, &place, found_at),
                first,
                opts.timeout,
            )
            .await?
        }
        (None, None) => {
            return Err(Refused(format!(
                "release {source} has no backup {} in namespace {source_ns} (see `stackctl backup list {source}`); one in S3 is found once this release has backup.s3 set to its bucket",
                opts.name
            ))
            .into());
        }
    };
    let parts = choose(&backup, &specs, &opts.components)?;
    let restored: Vec<&BackupSpec> = parts.iter().map(|(s, _)| s).collect();
    super::run::one_node_mounts_all(&session.client, &release, &backup.place(&volume), &restored)
        .await?;
    // Checked before anything stops: the backup's S3 keys, and those the safety
    // backup goes with.
    for s3 in backup.s3.iter().chain(&volume.s3) {
        super::run::s3_credentials(&session.client, &t.namespace, s3).await?;
    }
    let stored = stored_objects(&current);
    let objects = stored.clone();
    let apps = stored
        .iter()
        .filter(|m| {
            m.phase == Phase::Apps && matches!(m.kind.as_str(), "Deployment" | "StatefulSet")
        })
        .cloned()
        .collect();
    let schedule = stored.into_iter().find(|m| m.kind == "CronJob");
    Ok(RestorePlan {
        probes: stack.probes(&values, &release)?,
        volume,
        release,
        backup,
        parts,
        apps,
        objects,
        schedule,
        revision: current.revision,
        values: current.values.clone(),
    })
}

/// Backup `name`'s manifest under `s3.prefix`, read by a Job (stackctl itself
/// may not reach the S3 endpoint; the cluster does): the Job and its pod are
/// the only writes, deleted again.
async fn read_manifest(
    session: &Session,
    release: &Release,
    (name, s3, found_at): (&str, &job::S3Place, (&str, &str)),
    spec: &BackupSpec,
    timeout: Duration,
) -> Result<Backup> {
    let job = job::manifest_job(release, (name, s3), spec, timeout)?;
    let job_name = job.metadata.name.clone().unwrap_or_default();
    let jobs: Api<Job> = Api::namespaced(session.client.clone(), &release.namespace);
    jobs.create(&PostParams::default(), &job)
        .await
        .context("creating the Job that reads the backup's manifest from S3")?;
    let waited = wait_for_job(session, &job, timeout).await;
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), &release.namespace);
    let said = pods
        .list(&ListParams::default().labels(&format!("job-name={job_name}")))
        .await?
        .items
        .first()
        .and_then(|p| scheduled::terminated(p, job::MANIFEST_STEP))
        .map(|(_, message)| message);
    let _ = jobs.delete(&job_name, &DeleteParams::background()).await;
    let where_ = format!("{}/{}{name}/", s3.target.url, s3.prefix);
    match (waited, said) {
        (Ok(()), Some(text)) => record::from_manifest(&text, Some(&s3.target), found_at)
            .with_context(|| format!("the backup at {where_}")),
        (Ok(()), None) => Err(anyhow::anyhow!(
            "reading the backup at {where_}: its Job's pod is gone"
        )),
        (Err(e), said) => Err(Refused(format!(
            "no backup {name} at {where_}: {}",
            said.filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| e.to_string())
                .trim()
        ))
        .into()),
    }
}

/// How a restore went.
pub struct Restored {
    /// What was there before, saved first.
    pub safety: Backup,
    /// How long the apps were stopped.
    pub stopped: Duration,
    pub probes: ProbeReport,
}

pub async fn run(
    session: &Session,
    reporter: &Reporter,
    plan: RestorePlan,
    opts: &RestoreOptions,
) -> Result<Restored> {
    let store = Store::new(session.client.clone(), &plan.release.namespace);
    let lock = guard::acquire(
        session,
        &store,
        reporter,
        &plan.release.name,
        "backup restore",
    )
    .await?;
    if let Err(e) = scheduled::adopt(
        &session.client,
        reporter,
        &store,
        &plan.release.name,
        plan.volume.keep,
    )
    .await
    {
        reporter.warn(format!("scheduled backups not recorded: {e:#}"));
    }
    // No scheduled backup starts while the data is being replaced; one that
    // started since the plan was made is waited out by the user, not raced.
    let result = scheduled::suspended_while(session, reporter, plan.schedule.as_ref(), async {
        let now = scheduled::find(&session.client, &store, &plan.release.name).await?;
        scheduled::refuse_if_running(&now, "restore")?;
        locked(session, reporter, &plan, opts).await
    })
    .await;
    if let Err(e) = lock.release().await {
        reporter.warn(format!("could not release the lock: {e}"));
    }
    result
}

async fn locked(
    session: &Session,
    reporter: &Reporter,
    plan: &RestorePlan,
    opts: &RestoreOptions,
) -> Result<Restored> {
    let specs: Vec<&BackupSpec> = plan.parts.iter().map(|(s, _)| s).collect();
    let safety = take(
        session,
        reporter,
        &plan.release,
        &specs,
        (&plan.volume, opts.timeout),
        &Taken {
            revision: plan.revision,
            stack: plan.release.stack,
            values: &plan.values,
            objects: &plan.objects,
            keep_stopped: true,
        },
    )
    .await;
    // A component the safety backup stopped for its copy stays stopped until
    // the apps start again (below), or now when nothing is restored.
    let safety = match safety {
        Ok(s) if s.status == BackupStatus::Complete => s,
        not => {
            let replicas = pause::replicas(&plan.apps);
            if let Err(e) = pause::start(session, &plan.apps, &replicas, opts.timeout).await {
                reporter.warn(format!("{e:#}"));
            }
            let s = not?;
            anyhow::bail!(
                "the safety backup {} failed ({}); nothing was restored",
                s.name,
                s.message
            );
        }
    };
    reporter.info(format!("safety backup {} taken", safety.name));

    let stopped_at = Instant::now();
    let names: Vec<&str> = plan.apps.iter().map(|m| m.component.as_str()).collect();
    reporter.info(format!(
        "stopping the apps ({}): scaling them to zero",
        names.join(", ")
    ));
    let replicas = pause::replicas(&plan.apps);
    let work = async {
        pause::stop(session, &plan.apps, opts.timeout).await?;
        restore(session, reporter, plan, opts.timeout).await
    };
    let restored = tokio::select! {
        done = work => done,
        _ = tokio::signal::ctrl_c() => {
            // The Job must not write on while the apps come back.
            let name = job::restore_job_name(&plan.release.name, &plan.backup.name);
            stop_job(session, &plan.release, &name).await;
            Err(Stopped(format!("{INTERRUPTED}; the restore Job {name} was stopped")).into())
        }
    };
    // The apps come back whatever the restore did.
    reporter.info("starting the apps again");
    let started = pause::start(session, &plan.apps, &replicas, opts.timeout).await;
    if let (Err(_), Err(e)) = (&restored, &started) {
        // Said now: the restore's own error is what ends the command.
        reporter.warn(format!("{e:#}"));
    }
    let stopped = stopped_at.elapsed();
    reporter.info(format!(
        "the apps were stopped for {:.1}s",
        stopped.as_secs_f64()
    ));
    restored.with_context(|| {
        format!(
            "restoring backup {} failed; the data may be half restored: restore the safety backup {} to go back",
            plan.backup.name, safety.name
        )
    })?;
    for note in plan.parts.iter().filter_map(|(s, _)| s.restore_note) {
        reporter.warn(note);
    }
    started?;
    let probes = run_probes(
        session,
        &plan.release,
        plan.probes.clone(),
        &RunOptions {
            filter: None,
            timeout: None,
            logs: false,
        },
        |_| {},
    )
    .await?;
    Ok(Restored {
        safety,
        stopped,
        probes,
    })
}

/// `spec.suspend` of the backup CronJob, by the restore's own field manager (the
/// next upgrade's forced apply takes the field back).
async fn restore(
    session: &Session,
    reporter: &Reporter,
    plan: &RestorePlan,
    timeout: Duration,
) -> Result<()> {
    let files: Vec<job::SavedFile> = plan
        .parts
        .iter()
        .map(|(_, saved)| job::SavedFile {
            file: saved.file.clone(),
            sha256: saved.sha256.clone(),
        })
        .collect();
    let parts: Vec<(&BackupSpec, &job::SavedFile)> =
        plan.parts.iter().map(|(s, _)| s).zip(&files).collect();
    let job = job::restore_job(
        &plan.release,
        (&plan.backup.name, &plan.backup.place(&plan.volume)),
        &parts,
        timeout,
    )?;
    let jobs: Api<Job> = Api::namespaced(session.client.clone(), &plan.release.namespace);
    let name = job.metadata.name.clone().unwrap_or_default();
    jobs.create(&PostParams::default(), &job)
        .await
        .context("creating the restore Job")?;
    reporter.info(format!(
        "restoring {} from {}",
        parts
            .iter()
            .map(|(s, _)| s.component.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        plan.backup.name
    ));
    let waited = wait_for_job(session, &job, timeout).await;
    let background = DeleteParams::background();
    if waited.is_ok() {
        let _ = jobs.delete(&name, &background).await;
    }
    // A failed restore Job stays, with its pod's log, for the post-mortem.
    waited.map_err(|e| {
        anyhow::anyhow!("{e} (Job {name} is kept: kubectl logs job/{name} --all-containers)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(component: &str, version: &str, restorable: bool) -> BackupSpec {
        BackupSpec {
            component: component.into(),
            version: version.into(),
            restore: restorable.then(crate::model::Step::default),
            ..BackupSpec::default()
        }
    }

    fn saved(component: &str, version: &str) -> Saved {
        Saved {
            component: component.into(),
            file: format!("{component}.dump"),
            bytes: 1,
            sha256: "0".repeat(64),
            version: version.into(),
            layout: String::new(),
            restorable: true,
        }
    }

    fn backup(components: Vec<Saved>) -> Backup {
        Backup {
            name: "b1".into(),
            release: "cv".into(),
            namespace: "logs".into(),
            stack: "clickvisual".into(),
            revision: 1,
            created: String::new(),
            status: BackupStatus::Complete,
            message: String::new(),
            components,
            scheduled: false,
            s3: None,
        }
    }

    #[test]
    fn restorable_components_of_the_same_major_version_are_chosen() {
        let b = backup(vec![saved("mysql", "8.4"), saved("redis", "7.4-alpine")]);
        let specs = [
            spec("mysql", "8.4.3", true),
            spec("redis", "7.4-alpine", false),
        ];
        let parts = choose(&b, &specs, &[]).unwrap();
        let names: Vec<&str> = parts.iter().map(|(s, _)| s.component.as_str()).collect();
        assert_eq!(names, ["mysql"], "Redis is kept for a restore by hand");
        let err = choose(&b, &specs, &["redis".into()]).unwrap_err().0;
        assert!(err.contains("cannot restore redis yet"), "{err}");
    }

    #[test]
    fn a_backup_of_servers_laid_out_otherwise_is_refused() {
        let mut clustered = saved("clickhouse", "24.8");
        clustered.layout = "3 shards of 2 replicas".into();
        let b = backup(vec![clustered]);
        let err = choose(&b, &[spec("clickhouse", "24.8", true)], &[])
            .unwrap_err()
            .0;
        assert!(
            err.contains("was taken from 3 shards of 2 replicas, and the release runs one server"),
            "{err}"
        );
        let mut two = spec("clickhouse", "24.8", true);
        two.layout = "3 shards of 2 replicas".into();
        assert_eq!(choose(&b, &[two], &[]).unwrap().len(), 1);
        // A record from before layouts: one server.
        let old: Saved = serde_json::from_value(serde_json::json!({
            "component": "clickhouse", "file": "clickhouse.tar", "bytes": 1,
            "sha256": "0", "version": "24.8", "restorable": true
        }))
        .unwrap();
        assert_eq!(old.layout, "");
    }

    #[test]
    fn another_major_version_failed_backups_and_unknown_parts_are_refused() {
        let b = backup(vec![saved("mysql", "8.4")]);
        let err = choose(&b, &[spec("mysql", "9.1", true)], &[])
            .unwrap_err()
            .0;
        assert!(
            err.contains("taken from version 8.4, and the release runs 9.1"),
            "{err}"
        );
        let err = choose(&b, &[spec("mysql", "8.4", true)], &["kafka".into()])
            .unwrap_err()
            .0;
        assert!(
            err.contains("--component kafka: backup b1 holds mysql"),
            "{err}"
        );
        let mut failed = backup(vec![]);
        failed.status = BackupStatus::Failed;
        failed.message = "mysql ended without its result line".into();
        let err = choose(&failed, &[], &[]).unwrap_err().0;
        assert!(err.contains("backup b1 failed"), "{err}");
        let err = choose(&b, &[], &[]).unwrap_err().0;
        assert!(err.contains("no longer runs"), "{err}");
    }
}
