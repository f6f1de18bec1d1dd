//! The release itself: the newest revision's state, the lock and its holder, and
//! drift — objects deleted or changed outside stackctl since the revision applied
//! them, found by a server-side dry run of the recorded objects (what `upgrade`
//! with the same values would change back).

use futures::{StreamExt, stream};
use serde_json::Value;

use super::finding::{Check, Finding, Outcome, Severity, Skipped};
use crate::apply::{CONCURRENCY, apply_one};
use crate::cluster::Session;
use crate::model::{Manifest, to_yaml};
use crate::operations::changes::{normalize, unified};
use crate::release::{LockInfo, Record, Status};

/// Diff lines kept as a drift finding's evidence.
const DIFF_LINES: usize = 12;

/// The revision's state and the lock.
pub fn state(record: &Record, lock: Option<&LockInfo>) -> Outcome {
    let mut out = Outcome::default();
    let object = format!("Release/{}", record.release);
    let live_lock = lock.filter(|l| !l.is_abandoned());
    let rev = record.revision;
    let history = format!(
        "stackctl history {} -n {}",
        record.release, record.namespace
    );
    match record.status {
        Status::Failed => out.add(Finding::new(
            Check::Release,
            Severity::Error,
            &object,
            "RevisionFailed",
            format!("revision {rev} failed: {}", record.description),
            format!(
                "`stackctl status {}` shows the failed phase and why; fix the cause and re-run the same command, or `stackctl rollback` to the last deployed revision ({history})",
                record.release
            ),
        )),
        s if s.is_pending() && live_lock.is_some() => out.add(Finding::new(
            Check::Release,
            Severity::Info,
            &object,
            "OperationRunning",
            format!("revision {rev} is {s}: an operation is running now"),
            "wait for it to finish; the report may show its objects mid-change".to_string(),
        )),
        s if s.is_pending() => out.add(Finding::new(
            Check::Release,
            Severity::Error,
            &object,
            "Interrupted",
            format!("revision {rev} is still {s} but no operation holds the lock: it was interrupted"),
            "re-run the same command: it marks the revision failed and carries on".to_string(),
        )),
        _ => {}
    }
    if let Some(l) = lock.filter(|l| l.is_abandoned()) {
        let why = if l.holder_dead {
            "whose process is gone (it ran on this machine)"
        } else {
            "which stopped renewing it"
        };
        out.add(Finding::new(
            Check::Release,
            Severity::Warning,
            &object,
            "StaleLock",
            format!(
                "the lock of {} was left by {}, {why}",
                record.release, l.holder
            ),
            "nothing to do: the next operation takes it over; `stackctl unlock` removes it now"
                .to_string(),
        ));
    }
    out
}

/// Objects the record holds that drift is checked for: not Jobs, which run once
/// per revision and whose pod template the server completes.
fn comparable(m: &Manifest) -> bool {
    !matches!(m.kind.as_str(), "Job" | "Pod")
}

/// Deleted or changed objects among `live` (the record's objects as read).
pub async fn drift(session: &Session, live: &[(Manifest, Option<Value>)]) -> Outcome {
    let mut out = Outcome::default();
    for (m, obj) in live {
        if obj.is_none() {
            out.add(
                Finding::new(
                    Check::Release,
                    Severity::Error,
                    m.id(),
                    "Deleted",
                    format!("{} was deleted outside stackctl", m.id()),
                    "`stackctl upgrade` with the same values (or `stackctl rollback` to this revision) re-creates it".to_string(),
                )
                .component(&m.component),
            );
        }
    }
    let checked: Vec<(&Manifest, &Value)> = live
        .iter()
        .filter(|(m, _)| comparable(m))
        .filter_map(|(m, o)| Some((m, o.as_ref()?)))
        .collect();
    let results: Vec<(&Manifest, anyhow::Result<Option<Vec<String>>>)> = stream::iter(checked)
        .map(|(m, obj)| async move { (m, changed(session, m, obj).await) })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    for (m, result) in results {
        match result {
            Ok(None) => {}
            Ok(Some(diff)) => out.add(
                Finding::new(
                    Check::Release,
                    Severity::Warning,
                    m.id(),
                    "Drifted",
                    format!("{} was changed outside stackctl", m.id()),
                    "the next upgrade puts the recorded state back (`stackctl diff` shows it); to keep the change, make it in values".to_string(),
                )
                .component(&m.component)
                .evidence(diff),
            ),
            Err(e) if forbidden(&e) => {
                out.skip(Skipped::new(
                    Check::Release,
                    "drift",
                    format!(
                        "a server-side dry run needs `patch` on the release's objects, which this user lacks ({})",
                        api_message(&e)
                    ),
                ));
                break;
            }
            Err(e) => out.skip(Skipped::new(
                Check::Release,
                format!("drift of {}", m.id()),
                api_message(&e),
            )),
        }
    }
    out
}

/// The diff lines between the object as it is and as a re-apply would make it;
/// `None` when they agree.
async fn changed(
    session: &Session,
    m: &Manifest,
    live: &Value,
) -> anyhow::Result<Option<Vec<String>>> {
    let applied = serde_json::to_value(apply_one(&session.resolver, m, true).await?)?;
    let (before, after) = (
        to_yaml(&normalize(live.clone()))?,
        to_yaml(&normalize(applied))?,
    );
    if before == after {
        return Ok(None);
    }
    let diff = unified(&before, &after, &format!("live {}", m.id()), &m.id());
    Ok(Some(
        diff.lines()
            .filter(|l| {
                (l.starts_with('+') || l.starts_with('-'))
                    && !l.starts_with("+++")
                    && !l.starts_with("---")
            })
            .take(DIFF_LINES)
            .map(str::to_string)
            .collect(),
    ))
}

/// The API server's own words for a refused request.
fn api_message(e: &anyhow::Error) -> String {
    e.chain()
        .find_map(|c| match c.downcast_ref::<kube::Error>() {
            Some(kube::Error::Api(s)) => Some(s.message.clone()),
            _ => None,
        })
        .unwrap_or_else(|| format!("{e:#}"))
}

fn forbidden(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(c.downcast_ref::<kube::Error>(), Some(kube::Error::Api(s)) if s.is_forbidden())
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::release::Operation;

    fn record(status: Status) -> Record {
        let mut r = Record::new(
            "cv",
            "ns",
            "clickvisual",
            "minimal",
            3,
            Operation::Upgrade,
            Value::Null,
        );
        if !status.is_pending() {
            r.finish(status, "Upgrade failed: MySQL did not become ready");
        }
        r
    }

    fn lock(expires_in: Option<Duration>) -> LockInfo {
        LockInfo {
            holder: "me@host/pid-1/upgrade".into(),
            holder_process: None,
            holder_dead: false,
            acquired: None,
            renewed: None,
            lease_duration: Duration::from_secs(30),
            expires_in,
        }
    }

    fn reasons(o: &Outcome) -> Vec<(&str, Severity)> {
        o.findings
            .iter()
            .map(|f| (f.reason.as_str(), f.severity))
            .collect()
    }

    #[test]
    fn a_deployed_revision_without_a_lock_is_no_finding() {
        assert!(state(&record(Status::Deployed), None).findings.is_empty());
    }

    #[test]
    fn a_failed_revision_is_an_error_with_its_description() {
        let o = state(&record(Status::Failed), None);
        assert_eq!(reasons(&o), [("RevisionFailed", Severity::Error)]);
        assert!(o.findings[0].summary.contains("MySQL did not become ready"));
    }

    #[test]
    fn a_pending_revision_is_running_while_locked_and_interrupted_otherwise() {
        let pending = record(Status::PendingUpgrade);
        let live = lock(Some(Duration::from_secs(20)));
        assert_eq!(
            reasons(&state(&pending, Some(&live))),
            [("OperationRunning", Severity::Info)]
        );
        assert_eq!(
            reasons(&state(&pending, None)),
            [("Interrupted", Severity::Error)]
        );
        let stale = lock(None);
        assert_eq!(
            reasons(&state(&pending, Some(&stale))),
            [
                ("Interrupted", Severity::Error),
                ("StaleLock", Severity::Warning)
            ]
        );
    }
}
