//! Probe results: the serde shape `stackctl test -o json`, the release record
//! (`Record.probes`) and `status` share, and the table people read.

use std::fmt;

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::output::{self, table_within};

/// How one probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The check's script exited 0: the service answered as expected.
    Passed,
    /// The script exited non-zero, or the Job failed otherwise (its deadline).
    Failed,
    /// The Job did not finish within the wait (the cluster never ran it).
    TimedOut,
    /// The probe could not be run: creating its Job was refused, no pod to aim at…
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed-out",
            Outcome::Error => "error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeResult {
    pub component: String,
    pub target: String,
    pub check: String,
    /// The Job that ran it; empty when none was created.
    #[serde(default)]
    pub job: String,
    pub result: Outcome,
    pub duration_ms: u64,
    /// Why it did not pass ("exit code 3", "deadline of 60s exceeded"); empty if it did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The probe pod's output, when asked for (`--logs`) or when it failed. Not kept
    /// in the release record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// Where `log` came from: `pod log`, or the container's `termination message`
    /// when the logs API could not give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_source: Option<String>,
    /// Why there is no log, in the cluster's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_unavailable: Option<String>,
}

impl ProbeResult {
    pub fn passed(&self) -> bool {
        self.result == Outcome::Passed
    }

    /// The RESULT column: the outcome, and why when it is not a pass.
    pub fn result_text(&self) -> String {
        if self.message.is_empty() {
            self.result.to_string()
        } else {
            format!("{}: {}", self.result, self.message)
        }
    }
}

/// One run of probes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    pub ran_at: Timestamp,
    /// `--filter` of the run: only some probes ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Every probe passed.
    pub passed: bool,
    pub results: Vec<ProbeResult>,
}

impl ProbeReport {
    pub fn new(ran_at: Timestamp, filter: Option<String>, results: Vec<ProbeResult>) -> Self {
        ProbeReport {
            ran_at,
            filter,
            passed: results.iter().all(ProbeResult::passed),
            results,
        }
    }

    /// Every probe passed (also when there were none).
    pub fn passed(&self) -> bool {
        self.passed
    }

    pub fn failed(&self) -> impl Iterator<Item = &ProbeResult> {
        self.results.iter().filter(|r| !r.passed())
    }

    /// One line: "5 probes passed", or which failed and how.
    pub fn summary(&self) -> String {
        let n = self.results.len();
        let failed: Vec<String> = self
            .failed()
            .map(|r| format!("{} ({})", r.component, r.result_text()))
            .collect();
        if failed.is_empty() {
            format!("{n} {} passed", plural(n, "probe", "probes"))
        } else {
            format!(
                "{} of {n} {} failed: {}",
                failed.len(),
                plural(n, "probe", "probes"),
                failed.join(", ")
            )
        }
    }

    /// COMPONENT, TARGET, CHECK, RESULT, DURATION, fitted to the output's width.
    pub fn table(&self) -> String {
        self.table_within(output::width())
    }

    /// The whole report for stdout (the table, then the logs), the table fitted to the
    /// output's width; `Display` gives it at no width.
    pub fn fitted(&self) -> String {
        Rendered {
            report: self,
            width: output::width(),
        }
        .to_string()
    }

    fn table_within(&self, width: Option<u16>) -> String {
        table_within(
            width,
            &["COMPONENT", "TARGET", "CHECK", "RESULT", "DURATION"],
            self.results.iter().map(|r| {
                vec![
                    r.component.clone(),
                    target_cell(&r.target),
                    r.check.clone(),
                    r.result_text(),
                    format!("{:.1}s", r.duration_ms as f64 / 1000.0),
                ]
            }),
        )
    }

    /// What `Record.probes` keeps: everything but the logs, which belong to the run
    /// (and would make every record larger for no later use).
    pub fn for_record(&self) -> Value {
        let mut kept = self.clone();
        for r in &mut kept.results {
            r.log = None;
            r.log_source = None;
            r.log_unavailable = None;
        }
        serde_json::to_value(kept).expect("probe reports serialize")
    }

    /// The report stored in a release record, if any (and if readable: a record
    /// written by a later stackctl may hold a shape this one does not know).
    pub fn from_record(value: Option<&Value>) -> Option<ProbeReport> {
        serde_json::from_value(value?.clone()).ok()
    }
}

/// The TARGET cell: a list of addresses (Kafka's brokers, `a:9092,b:9092,c:9092`, as
/// the clients take them) gets a space after each comma, so a narrow table wraps it
/// between addresses (comfy-table breaks inside a word only when the word alone is
/// wider than its column, as the in-cluster names of a long release can be). Every
/// address is still shown, not a shortened "3 brokers: a:9092, …": a probe of
/// brokers is a probe of each, and without a width nothing wraps anyway. The report
/// itself (`-o json`, the release record) keeps the target as it was given. Anything
/// else (URLs, `host (http 8123, native 9000)`) is left alone.
fn target_cell(target: &str) -> String {
    let parts: Vec<&str> = target.split(',').map(str::trim).collect();
    let a_list = parts.len() > 1
        && parts
            .iter()
            .all(|p| !p.is_empty() && !p.contains(char::is_whitespace) && !p.contains('/'));
    if a_list {
        parts.join(", ")
    } else {
        target.to_string()
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// The whole report at no width: what a release record's phase message keeps, so it
/// does not depend on the terminal of whoever ran the install.
impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Rendered {
            report: self,
            width: None,
        }
        .fmt(f)
    }
}

/// The table, then each probe's log that was fetched (failed ones, or all with
/// `--logs`), or why there is none.
struct Rendered<'a> {
    report: &'a ProbeReport,
    width: Option<u16>,
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.report;
        if report.results.is_empty() {
            return f.write_str("no probes ran");
        }
        f.write_str(&report.table_within(self.width))?;
        for r in &report.results {
            let name = if r.job.is_empty() {
                &r.component
            } else {
                &r.job
            };
            match (&r.log, &r.log_unavailable) {
                (Some(log), _) => {
                    let source = r.log_source.as_deref().unwrap_or("pod log");
                    write!(f, "\n\n--- {name} ({}, {source}):\n", r.result_text())?;
                    f.write_str(log.trim_end())?;
                }
                (None, Some(why)) => {
                    write!(
                        f,
                        "\n\n--- {name} ({}): no log available: {why}",
                        r.result_text()
                    )?;
                }
                (None, None) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(component: &str, outcome: Outcome) -> ProbeResult {
        ProbeResult {
            component: component.into(),
            target: format!("cv-{component}.logs.svc:1"),
            check: "SELECT 1".into(),
            job: format!("cv-test-{component}"),
            result: outcome,
            duration_ms: 1234,
            message: if outcome == Outcome::Passed {
                String::new()
            } else {
                "exit code 3".into()
            },
            exit_code: (outcome == Outcome::Failed).then_some(3),
            log: None,
            log_source: None,
            log_unavailable: None,
        }
    }

    #[test]
    fn table_summary_and_logs() {
        let mut failed = result("mysql", Outcome::Failed);
        failed.log_unavailable = Some("the server could not find the requested resource".into());
        let mut passed = result("kafka", Outcome::Passed);
        passed.log = Some("API versions from 1 broker(s)\n".into());
        let report = ProbeReport::new(Timestamp::UNIX_EPOCH, None, vec![failed, passed]);
        assert!(!report.passed());
        assert_eq!(
            report.summary(),
            "1 of 2 probes failed: mysql (failed: exit code 3)"
        );
        let text = report.to_string();
        assert!(text.starts_with("COMPONENT"), "{text}");
        assert!(text.contains("failed: exit code 3"), "{text}");
        assert!(text.contains("1.2s"), "{text}");
        assert!(
            text.contains("--- cv-test-mysql (failed: exit code 3): no log available: the server could not find the requested resource"),
            "{text}"
        );
        assert!(
            text.contains("--- cv-test-kafka (passed, pod log):\nAPI versions from 1 broker(s)"),
            "{text}"
        );
    }

    #[test]
    fn the_record_keeps_results_without_logs() {
        let mut r = result("mysql", Outcome::Failed);
        r.log = Some("secret-free but long output".into());
        let report = ProbeReport::new(Timestamp::UNIX_EPOCH, Some("mysql".into()), vec![r]);
        let stored = report.for_record();
        assert!(stored["results"][0].get("log").is_none());
        assert_eq!(stored["results"][0]["result"], "failed");
        assert_eq!(stored["results"][0]["exitCode"], 3);
        assert_eq!(stored["passed"], false);
        assert_eq!(stored["filter"], "mysql");
        let back = ProbeReport::from_record(Some(&stored)).unwrap();
        assert_eq!(back.results[0].log, None);
        assert_eq!(back.results[0].component, "mysql");
        assert!(ProbeReport::from_record(Some(&serde_json::json!({"x": 1}))).is_none());
        assert!(ProbeReport::from_record(None).is_none());
    }

    /// The production profile's probes, from a release `clickvisual` in `logging`:
    /// three Kafka brokers, with long Service names.
    fn production() -> ProbeReport {
        let brokers: Vec<String> = (0..3)
            .map(|i| format!("clickvisual-kafka-{i}.clickvisual-kafka-headless.logging.svc:9092"))
            .collect();
        let mut kafka = result("kafka", Outcome::Passed);
        kafka.target = brokers.join(",");
        kafka.check = "broker API versions; metadata of topic clickvisual-logs".into();
        let mut mysql = result("mysql", Outcome::Failed);
        mysql.target = "clickvisual-mysql.logging.svc:3306".into();
        mysql.check = "SELECT 1 as clickvisual in clickvisual".into();
        mysql.message =
            "exit code 1: ERROR 1045 (28000): Access denied for user 'clickvisual'".into();
        let mut clickhouse = result("clickhouse", Outcome::Passed);
        clickhouse.target = "clickvisual-clickhouse.logging.svc (http 8123, native 9000)".into();
        ProbeReport::new(Timestamp::UNIX_EPOCH, None, vec![mysql, clickhouse, kafka])
    }

    #[test]
    fn a_production_table_fits_80_columns() {
        let report = production();
        let text = report.table_within(Some(80));
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        // Wrapped, not shortened: the TARGET column, read down, holds every broker.
        let header = text.lines().next().unwrap();
        let (from, to) = (
            header.find("TARGET").unwrap(),
            header.find("CHECK").unwrap(),
        );
        let column: String = text
            .lines()
            .map(|l| l.get(from..to.min(l.len())).unwrap_or(""))
            .collect::<String>()
            .replace(' ', "");
        assert!(
            column.contains(&report.results[2].target),
            "{column}\n{text}"
        );
        assert!(text.contains("Access") && text.contains("denied"), "{text}");
        // Without a width, one line a probe, in full.
        let wide = report.table_within(None);
        assert_eq!(wide.lines().count(), 4, "{wide}");
        assert!(wide.contains(
            "clickvisual-kafka-0.clickvisual-kafka-headless.logging.svc:9092, clickvisual-kafka-1"
        ), "{wide}");
        // Nor is the text a release record keeps, whatever the terminal.
        assert_eq!(report.to_string(), wide);
        // The report keeps the brokers as given.
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["results"][2]["target"], report.results[2].target);
        assert!(!report.results[2].target.contains(' '));
    }

    #[test]
    fn only_lists_of_addresses_get_spaces() {
        assert_eq!(
            target_cell("a:9092,b:9092, c:9092"),
            "a:9092, b:9092, c:9092"
        );
        assert_eq!(target_cell("a:9092"), "a:9092");
        for kept in [
            "ch.svc (http 8123, native 9000)",
            "http://es:9200/_cluster/health?level=indices,shards",
            "each cv-fluentbit pod",
            "a:1,,b:2",
        ] {
            assert_eq!(target_cell(kept), kept);
        }
    }

    #[test]
    fn no_probes_is_a_pass() {
        let report = ProbeReport::new(Timestamp::UNIX_EPOCH, None, vec![]);
        assert!(report.passed());
        assert_eq!(report.summary(), "0 probes passed");
    }
}
