//! `stackctl doctor`: the report, worst first, each finding with what was seen and
//! what to do; exit 1 when anything is at warning level or above.

use anyhow::Result;

use crate::cli::{DoctorArgs, GlobalArgs};
use crate::operations::doctor::{self, DoctorOptions, DoctorReport};

pub async fn run(global: &GlobalArgs, args: &DoctorArgs) -> Result<()> {
    let session = super::connect(global).await?;
    let report = doctor::doctor(
        &session,
        &DoctorOptions {
            release: args.release.release.clone(),
            namespace: global.namespace.clone(),
            window: args.since,
            probes: args.probes,
        },
    )
    .await?;
    super::print_health(global, &report, &report.release, report.healthy, |r| {
        print!("{}", render(r));
    })
}

fn render(r: &DoctorReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "RELEASE: {}   NAMESPACE: {}   STACK: {}   REVISION: {} ({})",
        r.release, r.namespace, r.stack, r.revision, r.status
    );
    let _ = writeln!(
        out,
        "CHECKED: {}   WINDOW: restarts and events of the last {}",
        r.checked_at,
        window(r.window_seconds)
    );
    let _ = writeln!(
        out,
        "FOUND: {} error{}, {} warning{}, {} info\n",
        r.counts.error,
        plural(r.counts.error),
        r.counts.warning,
        plural(r.counts.warning),
        r.counts.info
    );
    if r.findings.is_empty() {
        let _ = writeln!(out, "Nothing to report: every check passed.");
    }
    for f in &r.findings {
        let component = if f.component.is_empty() {
            String::new()
        } else {
            format!(" ({})", f.component)
        };
        let _ = writeln!(
            out,
            "{:<7}  {:<8}  {}{component}: {}",
            f.severity.as_str().to_uppercase(),
            f.check.as_str(),
            f.object,
            f.reason
        );
        let _ = writeln!(out, "  what: {}", f.summary);
        for (i, e) in f.evidence.iter().enumerate() {
            let _ = writeln!(out, "  {} {e}", if i == 0 { "seen:" } else { "     " });
        }
        let _ = writeln!(out, "  fix:  {}\n", f.remedy);
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(out, "NOT CHECKED");
        for s in &r.skipped {
            let _ = writeln!(out, "  {}: {}: {}", s.check.as_str(), s.what, s.reason);
        }
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn window(secs: u64) -> String {
    match secs {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
