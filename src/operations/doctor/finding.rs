//! What `doctor` reports: findings, each with its object, evidence, severity and
//! what to do, and the checks it could not run (with why), so a partial report is
//! never mistaken for a clean one.

use serde::Serialize;

/// Ordered: the report sorts the worst first, and the exit status is 1 from
/// [`Severity::Warning`] up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing to fix now.
    Info,
    /// Degraded or about to be: fix it before it becomes an outage.
    Warning,
    /// Something of the release does not work.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// The areas the charts' troubleshooting sections go through, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    Release,
    Pods,
    Volumes,
    Network,
    Capacity,
    Events,
    Probes,
    Backups,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Release => "release",
            Check::Pods => "pods",
            Check::Volumes => "volumes",
            Check::Network => "network",
            Check::Capacity => "capacity",
            Check::Events => "events",
            Check::Probes => "probes",
            Check::Backups => "backups",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub check: Check,
    pub severity: Severity,
    /// `Kind/name` as kubectl prints it (`Pod/cv-mysql-0`, `Node/worker-1`).
    pub object: String,
    /// The release's component it belongs to; empty for cluster objects.
    pub component: String,
    /// Short and stable enough to match on: `CrashLoopBackOff`, `Drifted`,
    /// `NoEndpoints`…
    pub reason: String,
    /// One sentence saying what is wrong.
    pub summary: String,
    /// What was seen: statuses, event lines, log lines, diff lines.
    pub evidence: Vec<String>,
    /// What to do about it.
    pub remedy: String,
}

impl Finding {
    pub fn new(
        check: Check,
        severity: Severity,
        object: impl Into<String>,
        reason: impl Into<String>,
        summary: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Self {
        Finding {
            check,
            severity,
            object: object.into(),
            component: String::new(),
            reason: reason.into(),
            summary: summary.into(),
            evidence: Vec::new(),
            remedy: remedy.into(),
        }
    }

    #[must_use]
    pub fn component(mut self, component: impl Into<String>) -> Self {
        self.component = component.into();
        self
    }

    #[must_use]
    pub fn evidence(mut self, lines: impl IntoIterator<Item = String>) -> Self {
        self.evidence.extend(lines);
        self
    }
}

/// A check, or part of one, that did not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    pub check: Check,
    /// What was not checked: "drift", "node capacity", "volume usage"…
    pub what: String,
    pub reason: String,
}

impl Skipped {
    pub fn new(check: Check, what: impl Into<String>, reason: impl Into<String>) -> Self {
        Skipped {
            check,
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// What one check found and what it could not look at.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skipped>,
}

impl Outcome {
    pub fn add(&mut self, f: Finding) {
        self.findings.push(f);
    }

    pub fn skip(&mut self, s: Skipped) {
        self.skipped.push(s);
    }

    pub fn extend(&mut self, other: Outcome) {
        self.findings.extend(other.findings);
        self.skipped.extend(other.skipped);
    }
}
