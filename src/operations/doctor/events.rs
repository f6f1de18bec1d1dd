//! Warning events of the release's objects within the report's window, grouped by
//! object and reason and counted. An object that already has a finding gets its
//! events as evidence there; the rest are reported on their own, as information:
//! the object is fine now, but something happened to it recently.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;

use super::finding::{Check, Finding, Severity};
use crate::wait::diagnose::event_time;
use crate::wait::json::reason_message;

/// Lines of evidence per event group.
const MAX_LINES: usize = 3;

/// One object's warnings of one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    count: i64,
    last: Timestamp,
    message: String,
}

/// `is_ours` says whether an involved object (`Kind/name`) belongs to the release;
/// `owner_of` maps an object to the one its findings are filed under (a
/// ReplicaSet's events to its Deployment).
pub fn attach(
    events: &[Event],
    since: Timestamp,
    is_ours: impl Fn(&str) -> bool,
    owner_of: impl Fn(&str) -> Option<String>,
    findings: &mut Vec<Finding>,
) {
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for e in events {
        if e.type_.as_deref() != Some("Warning") || event_time(e) < since {
            continue;
        }
        let object = format!(
            "{}/{}",
            e.involved_object.kind.as_deref().unwrap_or_default(),
            e.involved_object.name.as_deref().unwrap_or_default()
        );
        if !is_ours(&object) {
            continue;
        }
        let reason = e.reason.clone().unwrap_or_default();
        let g = groups.entry((object, reason)).or_insert(Group {
            count: 0,
            last: event_time(e),
            message: String::new(),
        });
        g.count += i64::from(e.count.unwrap_or(1).max(1));
        if event_time(e) >= g.last || g.message.is_empty() {
            g.last = event_time(e);
            g.message = e.message.clone().unwrap_or_default().trim().to_string();
        }
    }
    let mut own: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ((object, reason), g) in groups {
        let line = format!(
            "{} (×{}, last at {})",
            reason_message(&reason, &g.message),
            g.count,
            g.last
        );
        let filed_under = owner_of(&object).unwrap_or_else(|| object.clone());
        if let Some(f) = findings
            .iter_mut()
            .find(|f| f.object == object || f.object == filed_under)
        {
            if f.evidence.len() < MAX_LINES + 1 {
                f.evidence.push(format!("event of {object}: {line}"));
            }
            continue;
        }
        own.entry(object).or_default().push(line);
    }
    for (object, lines) in own {
        let n = lines.len();
        findings.push(
            Finding::new(
                Check::Events,
                Severity::Info,
                &object,
                "RecentWarnings",
                format!(
                    "{object} had {n} kind{} of warning in the window and is fine now",
                    if n == 1 { "" } else { "s" }
                ),
                "nothing to fix now; if it recurs, `kubectl describe` the object".to_string(),
            )
            .evidence(lines.into_iter().take(MAX_LINES)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, name: &str, reason: &str, count: i32, at: &str) -> Event {
        serde_json::from_value(json!({
            "metadata": {"name": "e"},
            "involvedObject": {"kind": kind, "name": name},
            "type": "Warning", "reason": reason, "message": format!("{reason} happened"),
            "count": count, "lastTimestamp": at
        }))
        .unwrap()
    }

    #[test]
    fn events_are_grouped_counted_and_attached_to_existing_findings() {
        let events = [
            event("Pod", "a-0", "BackOff", 3, "2026-11-30T10:00:00Z"),
            event("Pod", "a-0", "BackOff", 2, "2026-11-30T10:05:00Z"),
            event(
                "ReplicaSet",
                "web-5d9",
                "FailedCreate",
                1,
                "2026-11-30T10:05:00Z",
            ),
            event("Pod", "b-0", "FailedScheduling", 1, "2026-11-30T10:01:00Z"),
            event("Pod", "b-0", "Unhealthy", 1, "2026-11-30T08:00:00Z"),
            event("Pod", "other", "BackOff", 1, "2026-11-30T10:01:00Z"),
        ];
        let mut findings = vec![
            Finding::new(
                Check::Pods,
                Severity::Error,
                "Pod/a-0",
                "CrashLoopBackOff",
                "",
                "",
            ),
            Finding::new(
                Check::Pods,
                Severity::Warning,
                "Deployment/web",
                "NotReady",
                "",
                "",
            ),
        ];
        attach(
            &events,
            "2026-11-30T09:30:00Z".parse().unwrap(),
            |o| o != "Pod/other",
            |o| {
                o.strip_prefix("ReplicaSet/web-")
                    .map(|_| "Deployment/web".to_string())
            },
            &mut findings,
        );
        assert_eq!(
            findings[0].evidence,
            ["event of Pod/a-0: BackOff: BackOff happened (×5, last at 2026-11-30T10:05:00Z)"]
        );
        assert!(findings[1].evidence[0].starts_with("event of ReplicaSet/web-5d9: FailedCreate"));
        assert_eq!(findings.len(), 3, "{findings:?}");
        let own = &findings[2];
        assert_eq!(
            (own.object.as_str(), own.check, own.severity),
            ("Pod/b-0", Check::Events, Severity::Info)
        );
        assert_eq!(
            own.evidence.len(),
            1,
            "the 08:00 event is outside the window"
        );
    }
}
