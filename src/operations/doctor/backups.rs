//! Backups: whether the schedule's newest run failed. A release whose nightly
//! backup fails every night looks healthy in every other check, and nobody finds
//! out until the restore they need.

use super::finding::{Check, Finding, Severity};
use crate::operations::backup::Summary;
use crate::operations::backup::record::BackupStatus;
use crate::release::{Record, Store};

/// The release's backups in brief (`status` shows them); `None` when it has none
/// and no schedule, or when they could not be read (a user who may read the
/// release but not Jobs still gets a status and a report).
pub async fn read(client: &kube::Client, store: &Store, record: &Record) -> Option<Summary> {
    let schedule = crate::operations::recorded_stack(record)
        .ok()
        .and_then(|(stack, _, values)| stack.backup_settings(&values).ok())
        .map(|s| s.schedule)
        .unwrap_or_default();
    match crate::operations::backup::summary(client, store, &record.release, &schedule).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("backups not read: {e:#}");
            None
        }
    }
}

/// A warning when a schedule is set and its newest backup failed.
pub fn check(summary: Option<&Summary>, namespace: &str, release: &str) -> Vec<Finding> {
    let Some(s) = summary.filter(|s| !s.schedule.is_empty()) else {
        return Vec::new();
    };
    let Some(last) = s.last_scheduled.as_ref() else {
        return Vec::new();
    };
    if last.status != BackupStatus::Failed {
        return Vec::new();
    }
    vec![
        Finding::new(
            Check::Backups,
            Severity::Warning,
            format!("Backup/{}", last.name),
            "BackupFailed",
            format!(
                "the newest scheduled backup ({}, {}) failed: {}",
                last.name, last.created, last.message
            ),
            format!(
                "`stackctl backup list` shows every backup; the failed run's Job is kept for a look (`kubectl -n {namespace} describe jobs -l stackctl.dev/backup-scheduled={release}`); `stackctl backup create` takes one now"
            ),
        )
        .component("backup"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operations::backup::record::Backup;

    fn backup(status: BackupStatus) -> Backup {
        Backup {
            name: "20261201-030000".into(),
            release: "cv".into(),
            namespace: "logs".into(),
            stack: "clickvisual".into(),
            revision: 2,
            created: "2026-12-01T03:00:00Z".into(),
            status,
            message: "step mysql exited with 2: Access denied".into(),
            components: Vec::new(),
            scheduled: true,
            s3: None,
        }
    }

    fn summary(schedule: &str, last: Option<Backup>) -> Summary {
        Summary {
            schedule: schedule.into(),
            count: 1,
            last: last.clone(),
            last_scheduled: last,
            running: None,
        }
    }

    #[test]
    fn a_failed_scheduled_backup_is_a_warning() {
        let failed = summary("0 3 * * *", Some(backup(BackupStatus::Failed)));
        let f = check(Some(&failed), "logs", "cv");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].summary.contains("Access denied"), "{}", f[0].summary);
        assert!(
            f[0].remedy.contains("backup-scheduled=cv"),
            "{}",
            f[0].remedy
        );
        let ok = summary("0 3 * * *", Some(backup(BackupStatus::Complete)));
        assert!(check(Some(&ok), "logs", "cv").is_empty());
        // No schedule: a failed backup on demand was seen by whoever took it.
        assert!(
            check(
                Some(&summary("", Some(backup(BackupStatus::Failed)))),
                "logs",
                "cv"
            )
            .is_empty()
        );
        assert!(check(None, "logs", "cv").is_empty());
    }
}
