//! `stackctl backup create|list|delete|restore|download|upload`: backups of a release's
//! data services.

use anyhow::Result;
use serde::Serialize;

use super::Verdict;
use super::confirm::{Stakes, confirm};
use crate::cli::{BackupCommand, BackupRestoreArgs, GlobalArgs, OutputFormat};
use crate::operations::backup::record::{Backup, BackupStatus};
use crate::operations::backup::{self, CreateOptions};
use crate::operations::progress::Reporter;
use crate::output::print_structured;

pub async fn run(global: &GlobalArgs, command: &BackupCommand) -> Result<()> {
    let session = super::connect(global).await?;
    match command {
        BackupCommand::Create(args) => {
            let reporter = Reporter::new(global.quiet, true);
            let opts = CreateOptions {
                release: args.release.release.clone(),
                namespace: global.namespace.clone(),
                components: args.components.clone(),
                timeout: args.timeout,
            };
            let b = backup::create(&session, &reporter, &opts).await?;
            print_backup(global, &b)?;
            if b.status == BackupStatus::Failed {
                anyhow::bail!("backup {} failed: {}", b.name, b.message);
            }
            Ok(())
        }
        BackupCommand::List(args) => {
            let all = backup::list(
                &session,
                args.release.as_deref(),
                global.namespace.as_deref(),
            )
            .await?;
            if global.output == OutputFormat::Text {
                print!("{}", table(&all));
            } else {
                #[derive(Serialize)]
                struct Listed<'a> {
                    backups: &'a [Backup],
                }
                print_structured(global.output, &Listed { backups: &all })?;
            }
            Ok(())
        }
        BackupCommand::Restore(args) => restore(global, &session, args).await,
        BackupCommand::Download(args) => {
            use crate::operations::backup::download::{DownloadOptions, download};
            let reporter = Reporter::new(global.quiet, true);
            let opts = DownloadOptions {
                release: args.release.clone(),
                namespace: global.namespace.clone(),
                name: args.name.clone(),
                dir: args.dir.clone(),
                timeout: args.timeout,
            };
            let got = download(&session, &reporter, &opts).await?;
            if global.output == OutputFormat::Text {
                for f in &got.files {
                    println!("{:>10}  {}", size(f.bytes), got.dir.join(&f.file).display());
                }
            } else {
                print_structured(global.output, &got)?;
            }
            Ok(())
        }
        BackupCommand::Upload(args) => {
            use crate::operations::backup::upload::{UploadOptions, upload};
            let reporter = Reporter::new(global.quiet, true);
            let opts = UploadOptions {
                release: args.release.clone(),
                namespace: global.namespace.clone(),
                dir: args.dir.clone(),
                timeout: args.timeout,
            };
            let b = upload(&session, &reporter, &opts).await?;
            print_backup(global, &b)
        }
        BackupCommand::Delete(args) => {
            let reporter = Reporter::new(global.quiet, true);
            backup::delete(
                &session,
                &reporter,
                args.release.as_deref(),
                global.namespace.as_deref(),
                &args.name,
                args.timeout,
            )
            .await?;
            if !global.quiet {
                eprintln!("deleted backup {}", args.name);
            }
            Ok(())
        }
    }
}

/// A backup as `create` and `upload` print it: its row, each file, where it is.
fn print_backup(global: &GlobalArgs, b: &Backup) -> Result<()> {
    if global.output != OutputFormat::Text {
        return print_structured(global.output, b);
    }
    print!("{}", table(std::slice::from_ref(b)));
    for c in &b.components {
        println!(
            "  {:<12} {:>10}  sha256 {}",
            c.component,
            size(c.bytes),
            c.sha256
        );
    }
    println!("  in {}", b.location());
    Ok(())
}

async fn restore(
    global: &GlobalArgs,
    session: &crate::cluster::Session,
    args: &BackupRestoreArgs,
) -> Result<()> {
    use crate::operations::backup::restore::{self, RestoreOptions};
    let opts = RestoreOptions {
        release: args.release.clone(),
        namespace: global.namespace.clone(),
        name: args.name.clone(),
        from: args.from.clone(),
        components: args.components.clone(),
        timeout: args.timeout,
    };
    let plan = restore::plan(session, &opts).await?;
    let parts: Vec<String> = plan
        .parts
        .iter()
        .map(|(s, _)| s.component.clone())
        .collect();
    let apps: Vec<String> = plan.apps.iter().map(|m| m.component.clone()).collect();
    let of = if plan.backup.release == plan.release.name {
        String::new()
    } else {
        format!(" of release {}", plan.backup.release)
    };
    let question = format!(
        "Restore backup {}{of} (taken {} at revision {}) into release {}? It replaces the data of {} with the backup's; a safety backup is taken first, and the apps ({}) are stopped meanwhile.",
        plan.backup.name,
        plan.backup.created,
        plan.backup.revision,
        plan.release.name,
        parts.join(", "),
        if apps.is_empty() {
            "none".to_string()
        } else {
            apps.join(", ")
        }
    );
    confirm(&question, args.yes, Stakes::Destructive)?;
    let reporter = Reporter::new(global.quiet, true);
    let done = restore::run(session, &reporter, plan, &opts).await?;
    if !global.quiet {
        eprintln!(
            "restored {} from {}; safety backup {}; the apps were stopped for {:.1}s",
            parts.join(", "),
            args.name,
            done.safety.name,
            done.stopped.as_secs_f64()
        );
    }
    if global.output == OutputFormat::Text {
        println!("{}", done.probes.fitted());
    } else {
        print_structured(global.output, &done.probes)?;
    }
    if done.probes.passed() {
        Ok(())
    } else {
        Err(Verdict::ProbesFailed(done.probes.summary()).into())
    }
}

fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// NAME TAKEN WHERE REVISION CREATED STATUS SIZE COMPONENTS, one line per backup.
fn table(backups: &[Backup]) -> String {
    let mut out = format!(
        "{:<17} {:<9} {:<6} {:>8}  {:<20} {:<8} {:>10}  {}\n",
        "NAME", "TAKEN", "WHERE", "REVISION", "CREATED", "STATUS", "SIZE", "COMPONENTS"
    );
    for b in backups {
        let components: Vec<&str> = b.components.iter().map(|c| c.component.as_str()).collect();
        let what = if b.status == BackupStatus::Failed {
            b.message.clone()
        } else {
            components.join(", ")
        };
        out.push_str(&format!(
            "{:<17} {:<9} {:<6} {:>8}  {:<20} {:<8} {:>10}  {what}\n",
            b.name,
            if b.scheduled {
                "scheduled"
            } else {
                "on demand"
            },
            if b.s3.is_some() { "s3" } else { "volume" },
            b.revision,
            b.created,
            b.status.as_str(),
            size(b.bytes())
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operations::backup::record::Saved;

    #[test]
    fn sizes_read_like_kubectl_top() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 * 1024 * 1024), "3.0 MiB");
    }

    #[test]
    fn a_failed_backup_shows_why() {
        let b = Backup {
            name: "20261130-203000".into(),
            release: "cv".into(),
            namespace: "logs".into(),
            stack: "clickvisual".into(),
            revision: 2,
            created: "2026-11-30T20:30:00Z".into(),
            status: BackupStatus::Failed,
            message: "the backup of mysql ended without its result line".into(),
            components: vec![Saved {
                component: "mysql".into(),
                file: "mysql.sql.gz".into(),
                bytes: 0,
                sha256: String::new(),
                version: "8.4".into(),
                layout: String::new(),
                restorable: true,
            }],
            scheduled: false,
            s3: None,
        };
        let t = table(&[b]);
        assert!(t.contains("on demand"), "{t}");
        assert!(t.contains("failed"), "{t}");
        assert!(t.contains("without its result line"), "{t}");
    }
}
