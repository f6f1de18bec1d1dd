//! `backup.*`, shared by every stack: the backup volume's settings and, with
//! `backup.schedule`, the CronJob that backs up the stack's metadata stores (the
//! backups a stack marks `default`) with no stackctl around. The CronJob is one of
//! the release's objects (applied, upgraded and pruned with it); the volume is not
//! (see `stacks::backup_jobs::claim`).

use serde_json::json;

use super::ctx::{Ctx, StackValues};
use crate::model::{BackupSettings, BackupSpec, Phase, Rendered};
use crate::stacks::backup_jobs;
use crate::stacks::component::Builder;
use crate::values::Problems;

pub const COMPONENT: &str = "backup";
/// The backup volume's size for a stack without `backup.persistence`.
const DEFAULT_SIZE: &str = "5Gi";
/// More scheduled backups than this is a mistake (a typo for days of a month?).
const MAX_KEEP: u32 = 1000;
/// A run the controller missed by more than this (it was down) is skipped, not
/// run late: without a bound, the `batch/v1beta1` controller gives up on a
/// CronJob that missed more than 100 runs.
const STARTING_DEADLINE_SECONDS: u32 = 3600;

/// The settings the runner needs: size and class of the volume (the class falls
/// back to `global.storageClass`, as every volume's does), and the schedule.
pub fn settings<V: StackValues>(v: &V) -> BackupSettings {
    let global_class = &v.global().storage_class;
    let Some(b) = v.backup() else {
        return BackupSettings {
            size: DEFAULT_SIZE.into(),
            storage_class: global_class.clone(),
            keep: 1,
            schedule: String::new(),
        };
    };
    let class = if b.persistence.storage_class.is_empty() {
        global_class
    } else {
        &b.persistence.storage_class
    };
    BackupSettings {
        schedule: b.schedule.trim().to_string(),
        keep: b.keep,
        size: b.persistence.size.as_str().to_string(),
        storage_class: class.clone(),
    }
}

/// The notes' lines on backups: the schedule, or how to take or schedule one;
/// nothing when the release has nothing to back up.
pub fn notes<V: StackValues>(
    v: &V,
    release: &crate::model::Release,
    specs: &[BackupSpec],
) -> Vec<String> {
    let what: Vec<&str> = specs
        .iter()
        .filter(|b| b.default)
        .map(|b| b.component.as_str())
        .collect();
    if what.is_empty() {
        return Vec::new();
    }
    let s = settings(v);
    let when = if s.schedule.is_empty() {
        "on demand (`stackctl backup create`; `--set backup.schedule='0 3 * * *'` schedules them)"
            .to_string()
    } else {
        format!(
            "scheduled {:?}, the newest {} kept, to the volume {}",
            s.schedule,
            s.keep,
            backup_jobs::claim_name(&release.name)
        )
    };
    vec![
        String::new(),
        format!("Backups of {}: {when}", what.join(", ")),
        "  `stackctl backup list` shows them; `stackctl backup restore NAME` restores one".into(),
    ]
}

/// What the schema cannot say of `backup`.
pub fn check<V: StackValues>(v: &V, p: &mut Problems) {
    let Some(b) = v.backup() else {
        return;
    };
    let keep = b.keep;
    if !(1..=MAX_KEEP).contains(&keep) {
        p.add(
            "backup.keep",
            format!("must be from 1 to {MAX_KEEP}, got {keep}"),
        );
    }
}

/// The CronJob of `backup.schedule`, when set and the stack has something to back
/// up by default; `None` otherwise.
pub fn schedule<V: StackValues, C>(ctx: &Ctx<'_, V, C>, specs: &[BackupSpec]) -> Option<Rendered> {
    let s = settings(ctx.values);
    let chosen: Vec<&BackupSpec> = specs.iter().filter(|b| b.default).collect();
    if s.schedule.is_empty() || chosen.is_empty() {
        return None;
    }
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Apps, &chosen[0].version);
    let api_version = if ctx.caps.cronjob_v1 {
        "batch/v1"
    } else {
        "batch/v1beta1"
    };
    let body = json!({
        "metadata": b.meta(backup_jobs::cronjob_name(&ctx.release.name)),
        "spec": {
            "schedule": s.schedule,
            // Two backups at once would share one ReadWriteOnce volume and race
            // on retention.
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": STARTING_DEADLINE_SECONDS,
            "successfulJobsHistoryLimit": s.keep,
            "failedJobsHistoryLimit": 3,
            "suspend": false,
            "jobTemplate": backup_jobs::scheduled_job_template(ctx.release, &chosen, s.keep),
        },
    });
    b.push_value(api_version, "CronJob", body);
    // In the apps phase, after every data service it backs up is ready.
    Some(b.finish(Vec::new()))
}
