//! `stackctl status` and `stackctl history`.

use anyhow::Result;

use crate::cli::{GlobalArgs, OutputFormat, ReleaseArg};
use crate::operations::status::{self, StatusReport};
use crate::output::{print_structured, table};
use crate::wait::status::State;

pub async fn status(global: &GlobalArgs, args: &ReleaseArg) -> Result<()> {
    let session = super::connect(global).await?;
    let report = status::status(
        &session,
        args.release.as_deref(),
        global.namespace.as_deref(),
    )
    .await?;
    super::print_health(
        global,
        &report,
        &report.release,
        report.healthy,
        print_status,
    )
}

fn print_status(r: &StatusReport) {
    println!(
        "RELEASE: {}   NAMESPACE: {}   STACK: {}   PROFILE: {}",
        r.release, r.namespace, r.stack, r.profile
    );
    println!(
        "REVISION: {}   STATUS: {}   UPDATED: {}",
        r.revision, r.status, r.updated
    );
    println!("LAST OPERATION: {} — {}", r.last_operation, r.description);
    if let Some(f) = r.failure.as_ref().filter(|f| !f.components.is_empty()) {
        println!("FAILED IN PHASE {}; components:", f.phase);
        for line in crate::operations::outcome::summary(&f.components) {
            println!("  {line}");
        }
    }
    if let Some(h) = &r.locked_by {
        let gone = if r.lock_holder_dead {
            " (process gone; the next operation takes the lock over)"
        } else {
            ""
        };
        println!("LOCKED BY: {h}{gone}");
    }
    println!("HEALTHY: {}\n", if r.healthy { "yes" } else { "no" });
    let rows = r
        .components
        .iter()
        .filter(|c| {
            !matches!(
                c.kind.as_str(),
                "ConfigMap"
                    | "Secret"
                    | "ServiceAccount"
                    | "Role"
                    | "RoleBinding"
                    | "ClusterRole"
                    | "ClusterRoleBinding"
            ) || c.state != State::Current
        })
        .map(|c| {
            let ready = match (c.ready, c.desired) {
                (Some(a), Some(b)) => format!("{a}/{b}"),
                _ => "-".into(),
            };
            vec![
                c.component.clone(),
                c.phase.clone(),
                c.kind.clone(),
                c.name.clone(),
                ready,
                c.state.to_string(),
                c.reason.clone(),
            ]
        });
    println!(
        "{}",
        table(
            &[
                "COMPONENT",
                "PHASE",
                "KIND",
                "NAME",
                "READY",
                "STATE",
                "REASON"
            ],
            rows
        )
    );
    if !r.problems.is_empty() {
        println!(
            "\nPROBLEMS (`stackctl doctor {} -n {}` adds drift, network, nodes and events)",
            r.release, r.namespace
        );
        for p in &r.problems {
            println!(
                "  {:<7}  {}: {}\n           fix: {}",
                p.severity.as_str().to_uppercase(),
                p.object,
                p.summary,
                p.remedy
            );
        }
    }
    if !r.endpoints.is_empty() {
        println!("\nENDPOINTS");
        println!(
            "{}",
            table(
                &["COMPONENT", "KIND", "NAME", "ADDRESS"],
                r.endpoints.iter().map(|e| vec![
                    e.component.clone(),
                    e.kind.clone(),
                    e.name.clone(),
                    e.address.clone()
                ])
            )
        );
    }
    if let Some(p) = &r.probes {
        let filter = p
            .filter
            .as_deref()
            .map(|f| format!(", --filter {f}"))
            .unwrap_or_default();
        println!(
            "\nPROBES (last run {}{filter}): {}",
            p.ran_at
                .round(k8s_openapi::jiff::Unit::Second)
                .unwrap_or(p.ran_at),
            p.summary()
        );
        if !p.results.is_empty() {
            println!("{}", p.table());
        }
    }
    if let Some(b) = &r.backups {
        print_backups(b);
    }
    if !r.credentials.is_empty() {
        println!("\nCREDENTIALS (values never printed; read them with the command shown)");
        for c in &r.credentials {
            println!("  {} [{}]\n    {}", c.secret, c.keys.join(", "), c.read);
        }
    }
}

pub async fn history(global: &GlobalArgs, args: &ReleaseArg) -> Result<()> {
    let session = super::connect(global).await?;
    let revisions = status::history(
        &session,
        args.release.as_deref(),
        global.namespace.as_deref(),
    )
    .await?;
    if global.output != OutputFormat::Text {
        let rows: Vec<serde_json::Value> = revisions
            .iter()
            .map(|r| {
                serde_json::json!({
                    "revision": r.revision,
                    "status": r.status.to_string(),
                    "operation": r.operation.to_string(),
                    "profile": r.profile,
                    "started": r.started_at.to_string(),
                    "finished": r.finished_at.map(|t| t.to_string()),
                    "description": r.description,
                })
            })
            .collect();
        return print_structured(global.output, &rows);
    }
    let rows = revisions.iter().map(|r| {
        vec![
            r.revision.to_string(),
            r.finished_at.unwrap_or(r.started_at).to_string(),
            r.status.to_string(),
            r.operation.to_string(),
            r.profile.clone(),
            r.description.clone(),
        ]
    });
    println!(
        "{}",
        table(
            &[
                "REVISION",
                "UPDATED",
                "STATUS",
                "OPERATION",
                "PROFILE",
                "DESCRIPTION"
            ],
            rows
        )
    );
    Ok(())
}

/// BACKUPS: the schedule, how many, the newest and how it went.
fn print_backups(b: &crate::operations::backup::Summary) {
    let schedule = if b.schedule.is_empty() {
        "on demand only (backup.schedule is empty)".to_string()
    } else {
        format!("scheduled {:?}", b.schedule)
    };
    println!("\nBACKUPS: {} ({schedule})", b.count);
    if let Some(last) = &b.last {
        let how = match last.status {
            crate::operations::backup::record::BackupStatus::Complete => "complete".to_string(),
            crate::operations::backup::record::BackupStatus::Failed => {
                format!("FAILED: {}", last.message)
            }
        };
        println!(
            "  last: {} ({}, taken {}) {how}",
            last.name,
            if last.scheduled {
                "scheduled"
            } else {
                "on demand"
            },
            last.created
        );
    }
    if let Some(job) = &b.running {
        println!("  running now: Job {job}");
    }
}
