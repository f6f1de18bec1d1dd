//! One operation that changes a release (install, upgrade, rollback), end to end:
//! record the new revision as pending, run the phases, prune what the revision no
//! longer has, and finish the record; on failure diagnose, and with `--atomic` go
//! back to the last good revision. Ctrl-C and a lost lock stop cleanly.

use std::time::Duration;

use anyhow::Result;
use kube::api::DeleteParams;
use serde_json::Value;
use tokio::time::Instant;

use super::failure::{Failed, Failure, Interrupted};
use super::immutable::same_object;
use super::phases::Runner;
use super::prepare::Prepared;
use super::progress::Reporter;
use super::prune::{delete_owned, never_deleted, to_prune};
use super::{RunOptions, default_timeout, guard};
use crate::cluster::Session;
use crate::model::ProbeSpec;
use crate::model::{BackupSettings, Manifest, RELEASE_LABEL, Release};
use crate::plan::Plan;
use crate::release::{
    LockGuard, ObjectRef, Operation, PhaseResult, PhaseStatus, Record, Status, Store,
};
use anyhow::Context;
use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::api::ListParams;

/// What to do: the plan and the values it came from.
pub struct Spec {
    pub operation: Operation,
    /// The revision this operation was planned as (a rendered plan's objects may
    /// carry it in their names). Checked under the lock: if another operation
    /// recorded a revision meanwhile, nothing is applied. `None`: take the next.
    pub revision: Option<u32>,
    pub release: String,
    pub namespace: String,
    pub stack: String,
    pub profile: String,
    pub values: Value,
    pub generated: Vec<String>,
    pub plan: Plan,
    /// Objects the release had before (union of the last deployed and the latest
    /// revision), for prune.
    pub previous: Vec<Manifest>,
    /// Objects to delete with orphan propagation before applying (`--recreate`).
    pub recreate: Vec<Manifest>,
    /// "Rollback to 1" and the like; empty for the default wording.
    pub description: String,
    /// Connectivity probes run as the last phase; `None` with `--skip-tests`.
    pub probes: Option<ProbePlan>,
    /// Jobs changing credentials in the running services, run under the lock before
    /// the revision is recorded (see `credentials`).
    pub rotation: Option<super::credentials::RotationPlan>,
    /// With `backup.schedule`: the backup volume its CronJob mounts, made once the
    /// release's objects are applied (the namespace may be one of them). Not one
    /// of the release's objects: nothing but `--purge-backups` deletes it.
    pub backup_volume: Option<(Release, BackupSettings)>,
}

/// The backup volume a release with `backup.schedule` needs (none when its
/// backups go to S3).
fn backup_volume(
    stack: &dyn crate::stacks::Stack,
    values: &crate::stacks::ResolvedValues,
    release: &Release,
) -> Result<Option<(Release, BackupSettings)>> {
    let settings = stack.backup_settings(values)?;
    let needed = !settings.schedule.is_empty() && settings.s3.is_none();
    Ok(needed.then(|| (release.clone(), settings)))
}

impl Spec {
    /// A new revision rendered from resolved values (install, upgrade). Probes come
    /// from the stack unless `skip_tests`.
    pub fn rendered(
        operation: Operation,
        prepared: &Prepared,
        plan: Plan,
        skip_tests: bool,
    ) -> Result<Spec> {
        let probes = if skip_tests {
            None
        } else {
            Some(ProbePlan {
                release: prepared.release.clone(),
                specs: prepared.stack.probes(&prepared.values, &prepared.release)?,
            })
        };
        Ok(Spec {
            operation,
            revision: Some(prepared.release.revision),
            release: prepared.release.name.clone(),
            namespace: prepared.release.namespace.clone(),
            stack: prepared.stack.name().to_string(),
            profile: prepared.profile.name.clone(),
            values: prepared.values.tree.clone(),
            generated: prepared.values.generated.clone(),
            plan,
            previous: Vec::new(),
            recreate: Vec::new(),
            description: String::new(),
            probes,
            rotation: None,
            backup_volume: backup_volume(prepared.stack, &prepared.values, &prepared.release)?,
        })
    }

    /// A stored revision replayed as it is (rollback, `--atomic` recovery): its
    /// objects, values and generated secrets, no probes (the values may be of
    /// another stackctl version, whose probes this one cannot know).
    pub fn replay(target: &Record) -> Result<Spec> {
        let plan = Plan::from_stored(super::stored_objects(target), &target.dependencies)?;
        // A record of a stack this stackctl cannot read has no schedule it knows.
        let backup_volume = super::recorded_stack(target)
            .ok()
            .and_then(|(stack, release, values)| backup_volume(stack, &values, &release).ok())
            .flatten();
        Ok(Spec {
            operation: Operation::Rollback,
            revision: None,
            release: target.release.clone(),
            namespace: target.namespace.clone(),
            stack: target.stack.clone(),
            profile: target.profile.clone(),
            values: target.values.clone(),
            generated: target.generated.clone(),
            plan,
            previous: Vec::new(),
            recreate: Vec::new(),
            description: format!("Rollback to {}", target.revision),
            probes: None,
            rotation: None,
            backup_volume,
        })
    }
}

/// The probes of a release, run after its last phase is ready.
pub struct ProbePlan {
    pub release: Release,
    pub specs: Vec<ProbeSpec>,
}

/// How an operation ended.
#[derive(Debug)]
pub enum Outcome {
    Deployed(Record),
    /// Failed; the record is marked failed. `rolled_back` tells what `--atomic` did.
    Failed {
        record: Record,
        failure: Failure,
        rolled_back: Option<String>,
    },
    /// Ctrl-C or a lost lock; the record is marked failed.
    Interrupted {
        record: Record,
        why: String,
    },
}

pub struct Options {
    pub deadline: Instant,
    pub atomic: bool,
    pub history_max: usize,
    pub restart_failed: bool,
    /// `--prepull`; `global.prepull` in the values turns it on too.
    pub prepull: bool,
}

/// Runs one operation while holding `lock`; the caller releases the lock.
pub async fn execute(
    session: &Session,
    store: &Store,
    reporter: &Reporter,
    lock: &LockGuard,
    spec: Spec,
    options: &Options,
) -> Result<Outcome> {
    let revision = store.latest(&spec.release).await?.map_or(0, |r| r.revision) + 1;
    if let Some(planned) = spec.revision.filter(|&p| p != revision) {
        anyhow::bail!(
            "release {} changed while this {} was being prepared: it was planned as revision {planned}, \
             but revision {} was recorded meanwhile; nothing was applied, re-run the command",
            spec.release,
            spec.operation.as_str(),
            revision - 1
        );
    }
    let prepull = if options.prepull || spec.values["global"]["prepull"] == true {
        prepull_plan(session, reporter, &spec).await?
    } else {
        None
    };
    // Before the revision exists: a rotation that fails leaves nothing written.
    if let Some(rotation) = &spec.rotation {
        super::credentials::rotate(session, reporter, rotation).await?;
    }
    let mut record = Record::new(
        &spec.release,
        &spec.namespace,
        &spec.stack,
        &spec.profile,
        revision,
        spec.operation,
        spec.values.clone(),
    );
    record.generated = spec.generated.clone();
    record.inventory = inventory(&spec.plan);
    record.manifests = spec.plan.manifests().map(|m| m.body.clone()).collect();
    record.dependencies = spec.plan.dependencies.clone();
    store.create(&mut record).await?;
    reporter.info(format!(
        "{} {} revision {revision} in namespace {} ({} objects)",
        spec.operation.title(),
        spec.release,
        spec.namespace,
        record.manifests.len()
    ));

    for m in &spec.recreate {
        recreate_orphaning(session, m, reporter).await?;
    }

    // Taken before anything is applied: crashes from before this operation do not
    // fail it until they happen again.
    let namespaces = spec
        .plan
        .manifests()
        .filter_map(|m| m.namespace.clone())
        .collect();
    let baseline = super::restart::baseline(&session.client, &namespaces, &spec.release).await;
    let runner = Runner {
        resolver: &session.resolver,
        reporter,
        store,
        deadline: options.deadline,
        baseline: std::sync::Arc::new(baseline),
        restart_failed: options.restart_failed,
        release: &spec.release,
        prepull: prepull.as_ref(),
        applied: super::phases::Applied::default(),
    };
    let mut lost = lock.watch_lost();
    let run = async {
        let r = runner.run(&spec.plan, &mut record).await;
        (r, record)
    };
    let (result, mut record) = tokio::select! {
        out = run => out,
        _ = tokio::signal::ctrl_c() => {
            reporter.clear();
            finish_prepull(session, reporter, prepull.as_ref()).await;
            let mut record = store.get(&spec.release, revision).await?;
            record.finish(Status::Failed, format!("{} interrupted by the user (Ctrl-C)", spec.operation.title()));
            store.update(&mut record).await?;
            return Ok(Outcome::Interrupted { record, why: "interrupted (Ctrl-C)".into() });
        }
        _ = lost.changed() => {
            reporter.clear();
            finish_prepull(session, reporter, prepull.as_ref()).await;
            let reason = lost.borrow().clone().unwrap_or_else(|| "it could not be renewed".into());
            let mut record = store.get(&spec.release, revision).await?;
            record.finish(Status::Failed, format!("{} stopped: lost the release lock ({reason})", spec.operation.title()));
            store.update(&mut record).await?;
            return Ok(Outcome::Interrupted { record, why: format!("stopped: lost the release lock ({reason})") });
        }
    };

    if result.is_ok()
        && let Some((release, settings)) = &spec.backup_volume
        && let Err(e) =
            super::backup::ensure_volume(&session.client, reporter, release, settings).await
    {
        reporter.warn(format!(
            "the backup volume could not be made ({e:#}); scheduled backups wait for it (`stackctl backup create` makes it too)"
        ));
    }
    let result = match result {
        Ok(()) => probe_phase(session, reporter, &spec, &mut record).await,
        Err(failure) => Err(failure),
    };
    finish_prepull(session, reporter, prepull.as_ref()).await;
    // The record must be finished even when the deadline has passed (a wait that timed
    // out): its writes keep retrying a little beyond it.
    session.retry.until(
        options
            .deadline
            .max(Instant::now() + crate::cluster::retry::DEFAULT_BUDGET),
    );
    match result {
        Ok(()) => {
            let pruned = prune(session, reporter, &spec, &spec.plan).await;
            let description = if spec.description.is_empty() {
                format!("{} complete", spec.operation.title())
            } else {
                format!("{} complete", spec.description)
            };
            record.finish(Status::Deployed, description);
            store.update(&mut record).await?;
            supersede_others(store, &spec.release, revision).await?;
            let trimmed = store.trim(&spec.release, options.history_max).await?;
            if !trimmed.is_empty() {
                reporter.info(format!(
                    "history: removed revisions {trimmed:?} (--history-max {})",
                    options.history_max
                ));
            }
            if let Err(e) = pruned {
                reporter.warn(format!("pruning objects the revision no longer has: {e:#}"));
            }
            Ok(Outcome::Deployed(record))
        }
        Err(failure) => {
            reporter.clear();
            record.finish(
                Status::Failed,
                format!("{} failed: {}", spec.operation.title(), failure.stage()),
            );
            store.update(&mut record).await?;
            let rolled_back = if options.atomic {
                Some(
                    atomic_recovery(
                        session,
                        store,
                        reporter,
                        lock,
                        &spec,
                        &failure.stage(),
                        options,
                    )
                    .await,
                )
            } else {
                None
            };
            Ok(Outcome::Failed {
                record,
                failure,
                rolled_back,
            })
        }
    }
}

/// What `--prepull` will create for `spec`, after checking that the user may: a
/// denial stops the operation before anything is written, naming what is missing.
async fn prepull_plan(
    session: &Session,
    reporter: &Reporter,
    spec: &Spec,
) -> Result<Option<super::prepull::Prepull>> {
    let probes = spec.probes.as_ref().map_or(&[][..], |p| &p.specs[..]);
    let Some(prepull) = super::prepull::plan(&spec.plan, probes, &spec.release, &spec.namespace)
    else {
        reporter.info("prepull: no later phase has an image to pull early");
        return Ok(None);
    };
    for s in &prepull.skipped {
        reporter.warn(format!(
            "prepull: skipped {s}: stackctl has no no-op program for them"
        ));
    }
    if prepull.objects.is_empty() {
        return Ok(None);
    }
    let denied = crate::cluster::denied_permissions(
        &session.client,
        &super::prepull::permissions(&spec.namespace),
    )
    .await?;
    if !denied.is_empty() {
        let list: Vec<String> = denied.iter().map(ToString::to_string).collect();
        anyhow::bail!(
            "--prepull (or global.prepull) needs permissions you lack: {}; ask for them, or run without it (nothing was applied)",
            list.join(", ")
        );
    }
    Ok(Some(prepull))
}

/// Says how far the prepull got and deletes its objects; a failure to delete is a
/// warning (the next operation and `uninstall` delete them too).
async fn finish_prepull(
    session: &Session,
    reporter: &Reporter,
    prepull: Option<&super::prepull::Prepull>,
) {
    let Some(p) = prepull else { return };
    let client = &session.client;
    if let Ok((done, all)) = super::prepull::progress(client, &p.namespace, &p.release).await
        && all > 0
    {
        reporter.info(format!("prepull: done on {done} of {all} nodes"));
    }
    if let Err(e) = super::prepull::remove(client, &p.namespace, &p.release).await {
        reporter.warn(format!(
            "prepull: could not delete its DaemonSets ({e:#}); the next operation or uninstall does"
        ));
    }
}

/// Takes the lock, executes, releases the lock, and turns the outcome into a result:
/// how install, upgrade and rollback end (uninstall, which records no revision,
/// takes the lock itself).
pub async fn run_locked(
    session: &Session,
    store: &Store,
    reporter: &Reporter,
    spec: Spec,
    run: &RunOptions,
) -> Result<Record> {
    let operation = spec.operation;
    let lock = guard::acquire(session, store, reporter, &spec.release, operation.as_str()).await?;
    let options = Options {
        deadline: Instant::now() + run.timeout.unwrap_or_else(|| default_timeout(&spec.plan)),
        atomic: run.atomic,
        history_max: run.history_max,
        restart_failed: run.restart_failed.unwrap_or(false),
        prepull: run.prepull,
    };
    // A transient API error must not fail a revision that still has time: requests
    // retry until the operation's own deadline.
    session.retry.until(options.deadline);
    let outcome = execute(session, store, reporter, &lock, spec, &options).await;
    if let Err(e) = lock.release().await {
        reporter.warn(format!("could not release the lock: {e}"));
    }
    match outcome? {
        Outcome::Deployed(record) => {
            reporter.info(format!(
                "{} of {} complete: revision {} deployed in {:.1}s",
                operation.title(),
                record.release,
                record.revision,
                reporter.elapsed().as_secs_f64()
            ));
            Ok(record)
        }
        Outcome::Failed {
            record,
            failure,
            rolled_back,
        } => Err(Failed {
            operation,
            record,
            failure,
            rolled_back,
        }
        .into()),
        Outcome::Interrupted { record, why } => Err(Interrupted {
            operation,
            record,
            why,
        }
        .into()),
    }
}

/// `--atomic`: back to the last deployed revision, or remove a first install.
async fn atomic_recovery(
    session: &Session,
    store: &Store,
    reporter: &Reporter,
    lock: &LockGuard,
    spec: &Spec,
    what: &str,
    options: &Options,
) -> String {
    let last = match store.last_deployed(&spec.release).await {
        Ok(last) => last,
        Err(e) => return format!("--atomic: could not read the release history: {e}"),
    };
    let Some(good) = last else {
        reporter
            .info("--atomic: removing the failed first install (PersistentVolumeClaims are kept)");
        let objects: Vec<Manifest> = spec.plan.manifests().cloned().collect();
        return match remove_objects(session, reporter, &objects, &spec.release).await {
            Ok(n) => format!(
                "--atomic: uninstalled the failed install ({n} objects removed, volumes kept)"
            ),
            Err(e) => format!("--atomic: removing the failed install failed: {e:#}"),
        };
    };
    reporter.info(format!(
        "--atomic: rolling back to revision {} after the failure in {what}",
        good.revision
    ));
    let mut rollback = match Spec::replay(&good) {
        Ok(spec) => spec,
        Err(e) => {
            return format!(
                "--atomic: revision {} cannot be replayed: {e:#}",
                good.revision
            );
        }
    };
    // Credentials the failed operation moved in the services move back with it.
    let by_hand = match super::credentials::recovery(&spec.stack, &spec.values, &good) {
        Ok((rotation, by_hand)) => {
            rollback.rotation = rotation;
            by_hand
        }
        Err(e) => {
            return format!(
                "--atomic: not rolling back to revision {}: the credentials it would put back could not be compared with the services': {e:#}",
                good.revision
            );
        }
    };
    let by_hand_note = if by_hand.is_empty() {
        String::new()
    } else {
        format!(
            "; the services keep what you changed by hand ({}), while the Secrets went back: change those back too, or upgrade again with them and --rotated",
            by_hand.iter().map(|c| c.key).collect::<Vec<_>>().join(", ")
        )
    };
    rollback.previous = spec
        .plan
        .manifests()
        .cloned()
        .chain(spec.previous.iter().cloned())
        .collect();
    let inner = Options {
        deadline: options
            .deadline
            .max(Instant::now() + Duration::from_secs(300)),
        atomic: false,
        history_max: options.history_max,
        restart_failed: options.restart_failed,
        // Going back to images the nodes had a moment ago.
        prepull: false,
    };
    session.retry.until(inner.deadline);
    match Box::pin(execute(session, store, reporter, lock, rollback, &inner)).await {
        Ok(Outcome::Deployed(r)) => format!(
            "--atomic: rolled back to revision {} (now revision {}){by_hand_note}",
            good.revision, r.revision
        ),
        Ok(Outcome::Failed { failure, .. }) => format!(
            "--atomic: the rollback to revision {} failed too:\n{failure}",
            good.revision
        ),
        Ok(Outcome::Interrupted { why, .. }) => format!("--atomic: the rollback was {why}"),
        Err(e) => format!("--atomic: the rollback failed: {e:#}"),
    }
}

/// Every other revision that was deployed is now superseded.
async fn supersede_others(store: &Store, release: &str, current: u32) -> Result<()> {
    for r in store.history(release).await? {
        if r.revision != current && r.status == Status::Deployed {
            store
                .set_status(release, r.revision, Status::Superseded, &r.description)
                .await?;
        }
    }
    Ok(())
}

async fn prune(session: &Session, reporter: &Reporter, spec: &Spec, plan: &Plan) -> Result<()> {
    let next: Vec<Manifest> = plan.manifests().cloned().collect();
    let mut gone = to_prune(&spec.previous, &next);
    for job in stale_per_revision_jobs(session, &spec.namespace, &spec.release).await? {
        if !next.iter().chain(&gone).any(|m| same_object(m, &job)) {
            gone.push(job);
        }
    }
    if gone.is_empty() {
        return Ok(());
    }
    let n = remove_objects(session, reporter, &gone, &spec.release).await?;
    reporter.info(format!(
        "pruned {n} objects the new revision no longer has (volumes kept)"
    ));
    Ok(())
}

/// The release's per-revision Jobs on the cluster. Each failed retry leaves its own,
/// and `previous` holds only the last revisions' objects, so they are found by label.
async fn stale_per_revision_jobs(
    session: &Session,
    namespace: &str,
    release: &str,
) -> Result<Vec<Manifest>> {
    let api: Api<Job> = Api::namespaced(session.client.clone(), namespace);
    let jobs = api
        .list(&ListParams::default().labels(&format!("{RELEASE_LABEL}={release}")))
        .await
        .with_context(|| format!("listing the Jobs of release {release}"))?;
    Ok(jobs
        .items
        .into_iter()
        .filter_map(|j| Manifest::from_value(serde_json::to_value(j).ok()?))
        .filter(|m| m.per_revision_base().is_some())
        .collect())
}

/// Deletes objects in reverse phase order, only those carrying the release label;
/// PersistentVolumeClaims and Namespaces are never touched here.
pub async fn remove_objects(
    session: &Session,
    reporter: &Reporter,
    objects: &[Manifest],
    release: &str,
) -> Result<usize> {
    let mut ordered: Vec<&Manifest> = objects.iter().filter(|m| !never_deleted(m)).collect();
    ordered.sort_by_key(|m| std::cmp::Reverse(m.phase));
    let mut removed = 0;
    for m in ordered {
        match delete_owned(&session.resolver, m, release).await {
            Ok(true) => {
                removed += 1;
                tracing::info!("deleted {}", m.id());
            }
            Ok(false) => {}
            Err(e) => reporter.warn(format!("{e:#}")),
        }
    }
    Ok(removed)
}

/// `--recreate`: delete with orphan propagation (pods and PVCs survive) and wait until
/// the object is gone, so the apply re-creates it with the new immutable fields.
async fn recreate_orphaning(session: &Session, m: &Manifest, reporter: &Reporter) -> Result<()> {
    use kube::runtime::wait::{await_condition, conditions::is_deleted};
    let api = session.resolver.api_for(m).await?;
    let Some(live) = api.get_opt(&m.name).await? else {
        return Ok(());
    };
    reporter.info(format!(
        "--recreate: deleting {} (orphaning its pods and volumes) to re-create it",
        m.id()
    ));
    let params = DeleteParams::orphan();
    api.delete(&m.name, &params).await?;
    let uid = live.metadata.uid.unwrap_or_default();
    tokio::time::timeout(
        Duration::from_secs(120),
        await_condition(api, &m.name, is_deleted(&uid)),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "{} was not gone 2 minutes after deleting it for --recreate",
            m.id()
        )
    })??;
    Ok(())
}

pub fn inventory(plan: &Plan) -> Vec<ObjectRef> {
    plan.manifests()
        .map(|m| ObjectRef {
            api_version: m.api_version.clone(),
            kind: m.kind.clone(),
            namespace: m.namespace.clone(),
            name: m.name.clone(),
            component: m.component.clone(),
            phase: m.phase.to_string(),
        })
        .collect()
}

/// The last phase: every probe must pass. Results go into the record either way.
async fn probe_phase(
    session: &Session,
    reporter: &Reporter,
    spec: &Spec,
    record: &mut Record,
) -> Result<(), Failure> {
    let Some(plan) = &spec.probes else {
        return Ok(());
    };
    let started_at = crate::release::record::now();
    let started = std::time::Instant::now();
    reporter.info(format!(
        "probes: checking that {} services answer with the configured credentials",
        plan.specs.len()
    ));
    let outcome = crate::probe::run_probes(
        session,
        &plan.release,
        plan.specs.clone(),
        &crate::probe::RunOptions::default(),
        |r| reporter.info(format!("probe {}: {}", r.job, r.result_text())),
    )
    .await;
    let (passed, text) = match outcome {
        Ok(report) => {
            record.probes = Some(report.for_record());
            (report.passed(), report.to_string())
        }
        Err(e) => (
            false,
            format!("the probes could not run: {}", crate::output::describe(&e)),
        ),
    };
    record.phases.push(PhaseResult {
        name: "probes".into(),
        status: if passed {
            PhaseStatus::Succeeded
        } else {
            PhaseStatus::Failed
        },
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        message: if passed { String::new() } else { text.clone() },
        diagnoses: Vec::new(),
        components: Vec::new(),
    });
    if passed {
        reporter.phase_done_named("probes", started.elapsed());
        Ok(())
    } else {
        Err(Failure::Probes { report: text })
    }
}
