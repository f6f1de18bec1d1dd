//! `backup upload DIR`: a backup that `backup download` wrote (its files, and
//! the `stackctl.json` that says what they are) into a release's backup volume,
//! through the API server, and a record of it: from then on a backup of that
//! release like any other (`backup list`, `restore`, `delete`). So a backup moves
//! to another namespace or cluster, where the release's own volume could never
//! be mounted. Under the release lock; everything that can refuse (a directory
//! that is no download, a file whose size or sha256 is not the manifest's,
//! another stack, a name the release has) does so before anything is written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{AttachParams, DeleteParams, PostParams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::download::{MANIFEST, hex, running};
use super::record::{self, Backup};
use super::run::{Deployed, all, await_gone, deployed, ensure_volume};
use crate::cluster::Session;
use crate::operations::failure::Refused;
use crate::operations::guard;
use crate::operations::progress::Reporter;
use crate::stacks::backup_jobs as job;

pub struct UploadOptions {
    pub release: Option<String>,
    pub namespace: Option<String>,
    /// The backup's directory, as `backup download` made it: `<dir>/<name>/`.
    pub dir: PathBuf,
    /// Bound on the pod's start and on its life.
    pub timeout: Duration,
}

/// The size and sha256 of the file at `path`.
async fn measure(path: &Path) -> Result<(u64, String)> {
    let mut f = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hex(hash.finish().as_ref())))
}

/// The backup `dir` holds, checked file by file against its manifest, as a
/// backup of `release` in `namespace` (not yet recorded).
async fn read_dir(dir: &Path, (namespace, release): (&str, &str)) -> Result<Backup> {
    let manifest = dir.join(MANIFEST);
    let text = match tokio::fs::read_to_string(&manifest).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Refused(format!(
                "{} has no {MANIFEST}: give the directory `stackctl backup download` made (DIR/NAME)",
                dir.display()
            ))
            .into());
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", manifest.display())),
    };
    let mut backup = record::from_manifest(&text, None, (namespace, release))
        .map_err(|e| Refused(format!("{}: {e:#}", manifest.display())))?;
    // Names become paths, here and in the pod: plain ones only.
    let plain = |n: &str| {
        !n.is_empty()
            && n.len() <= 253
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !n.starts_with('.')
    };
    let bad = std::iter::once(backup.name.as_str())
        .chain(backup.components.iter().map(|c| c.file.as_str()))
        .find(|n| !plain(n) || *n == MANIFEST || *n == "SHA256SUMS");
    if let Some(n) = bad {
        return Err(Refused(format!(
            "{}: {n:?} is no name of a backup or of one of its files",
            manifest.display()
        ))
        .into());
    }
    // Taken on request as far as this release goes: no schedule's retention
    // ever removes it.
    backup.scheduled = false;
    for c in &backup.components {
        let path = dir.join(&c.file);
        let (bytes, sha256) = measure(&path)
            .await
            .map_err(|e| Refused(format!("{e:#}")))?;
        if (bytes, sha256.as_str()) != (c.bytes, c.sha256.as_str()) {
            return Err(Refused(format!(
                "{} has {bytes} bytes and sha256 {sha256}; {MANIFEST} says {} bytes and sha256 {}: it is not the file that was backed up",
                path.display(),
                c.bytes,
                c.sha256
            ))
            .into());
        }
    }
    Ok(backup)
}

pub async fn upload(
    session: &Session,
    reporter: &Reporter,
    opts: &UploadOptions,
) -> Result<Backup> {
    let Deployed {
        t,
        store,
        stack,
        release,
        values,
        ..
    } = deployed(
        session,
        (opts.release.as_deref(), opts.namespace.as_deref()),
        "upload into",
    )
    .await?;
    let mut backup = read_dir(&opts.dir, (&t.namespace, &t.name)).await?;
    if backup.stack != stack.name() {
        return Err(Refused(format!(
            "backup {} is of a {} release; release {} is {}",
            backup.name,
            backup.stack,
            t.name,
            stack.name()
        ))
        .into());
    }
    let settings = stack.backup_settings(&values)?;
    if let Some(s3) = &settings.s3 {
        return Err(Refused(format!(
            "release {} backs up to S3: copy the files of {} to {}{}/ with an S3 client, with an empty `.complete` last, and `stackctl backup restore {}` finds them",
            t.name,
            opts.dir.display(),
            s3.describe(&t.namespace, &t.name),
            backup.name,
            backup.name
        ))
        .into());
    }
    let specs = stack.backups(&values, &release)?;
    let Some(image_of) = specs.first() else {
        return Err(Refused(format!("release {} backs up nothing", t.name)).into());
    };
    let lock = guard::acquire(session, &store, reporter, &t.name, "backup upload").await?;
    let result = async {
        if all(&session.client, &store, &t.name)
            .await?
            .iter()
            .any(|b| b.name == backup.name)
        {
            return Err(Refused(format!(
                "release {} has a backup {} already; delete it first (`stackctl backup delete {}`) to replace it",
                t.name, backup.name, backup.name
            ))
            .into());
        }
        ensure_volume(&session.client, reporter, &release, &settings).await?;
        send(session, reporter, (&release, &backup), image_of, opts).await?;
        backup.created = crate::release::record::now().to_string();
        backup.message = format!("uploaded from {}", opts.dir.display());
        let secrets: Api<Secret> = Api::namespaced(session.client.clone(), &t.namespace);
        // The values it was taken at stay with the release it came from.
        secrets
            .create(
                &PostParams::default(),
                &record::to_secret(&backup, &serde_json::Value::Null)?,
            )
            .await
            .context("writing the backup record")?;
        Ok(backup)
    }
    .await;
    if let Err(e) = lock.release().await {
        reporter.warn(format!("could not release the lock: {e}"));
    }
    result
}

/// Every file of `backup` into the backup volume, through an exec in a pod
/// that holds it; a failure removes what arrived.
async fn send(
    session: &Session,
    reporter: &Reporter,
    (release, backup): (&crate::model::Release, &Backup),
    image_of: &crate::model::BackupSpec,
    opts: &UploadOptions,
) -> Result<()> {
    let pod = job::upload_pod(release, &backup.name, image_of, opts.timeout)?;
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), &release.namespace);
    let name = pod.metadata.name.clone().unwrap_or_default();
    match pods
        .delete(&name, &DeleteParams::default().grace_period(0))
        .await
    {
        Ok(_) => await_gone(&pods, &name).await?,
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(e).context("deleting the last upload's pod"),
    }
    pods.create(&PostParams::default(), &pod)
        .await
        .context("creating the pod that receives the backup's files")?;
    let dir = format!("{}/{}", job::MOUNT, backup.name);
    let sent = async {
        running(&pods, &name, opts.timeout).await?;
        reporter.info(format!("pod {name} receives backup {}", backup.name));
        for c in &backup.components {
            let path = format!("{dir}/{}", c.file);
            put(&pods, &name, &opts.dir.join(&c.file), (&path, c.bytes)).await?;
            let (out, _) = exec(&pods, &name, &["sha256sum", &path]).await?;
            let got = out.split_whitespace().next().unwrap_or_default();
            if got != c.sha256 {
                anyhow::bail!(
                    "{} arrived with sha256 {got:?}; it was sent with {}",
                    c.file,
                    c.sha256
                );
            }
            reporter.info(format!("{} ({} bytes, sha256 as sent)", c.file, c.bytes));
        }
        anyhow::Ok(())
    }
    .await;
    if sent.is_err() {
        let _ = exec(&pods, &name, &["rm", "-rf", &dir]).await;
    }
    let _ = pods.delete(&name, &DeleteParams::background()).await;
    sent
}

/// `file` to `path` in the pod: [`job::UPLOAD_SCRIPT`] reads exactly `bytes`
/// from stdin. The stream stays open until the command's status comes back:
/// before Kubernetes 1.29 closing stdin closes the whole exec.
async fn put(pods: &Api<Pod>, pod: &str, file: &Path, (path, bytes): (&str, u64)) -> Result<()> {
    let params = AttachParams::default()
        .container(job::UPLOAD_STEP)
        .stdin(true)
        .stdout(false)
        .stderr(true);
    let size = bytes.to_string();
    let command = ["sh", "-c", job::UPLOAD_SCRIPT, "upload", &size, path];
    let mut proc = pods
        .exec(pod, command, &params)
        .await
        .with_context(|| {
            format!(
                "writing {} through the API server (an exec in pod {pod}; the cluster must allow pods/exec)",
                file.display()
            )
        })?;
    let (Some(mut stdin), Some(mut stderr), Some(status)) =
        (proc.stdin(), proc.stderr(), proc.take_status())
    else {
        anyhow::bail!("the exec in pod {pod} gave no streams");
    };
    let mut from = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let mut said = Vec::new();
    let (copied, _) = tokio::join!(
        async {
            tokio::io::copy(&mut from, &mut stdin).await?;
            stdin.flush().await
        },
        stderr.read_to_end(&mut said)
    );
    let exit = status.await;
    drop(stdin);
    let _ = proc.join().await;
    // What the pod said first: a write that failed there breaks the stream too.
    if let Some(s) = exit.filter(|s| s.status.as_deref() != Some("Success")) {
        anyhow::bail!(
            "writing {path} in pod {pod} failed: {} {}",
            s.message.unwrap_or_default(),
            String::from_utf8_lossy(&said).trim()
        );
    }
    copied.with_context(|| format!("sending {}", file.display()))?;
    Ok(())
}

/// `command` in the pod's receiving container: its stdout and stderr, or why
/// it failed.
async fn exec(pods: &Api<Pod>, pod: &str, command: &[&str]) -> Result<(String, String)> {
    let params = AttachParams::default()
        .container(job::UPLOAD_STEP)
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let mut proc = pods
        .exec(pod, command.iter().copied(), &params)
        .await
        .with_context(|| format!("{} in pod {pod}", command.join(" ")))?;
    let (Some(mut stdout), Some(mut stderr), Some(status)) =
        (proc.stdout(), proc.stderr(), proc.take_status())
    else {
        anyhow::bail!("the exec in pod {pod} gave no streams");
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let _ = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
    let exit = status.await;
    let _ = proc.join().await;
    let (out, err) = (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    );
    if let Some(s) = exit.filter(|s| s.status.as_deref() != Some("Success")) {
        anyhow::bail!(
            "{} in pod {pod} failed: {} {}",
            command.join(" "),
            s.message.unwrap_or_default(),
            err.trim()
        );
    }
    Ok((out, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup_dir() -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("20261201-030000");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("mysql.sql.gz"), b"hello").unwrap();
        let b = Backup {
            name: "20261201-030000".into(),
            release: "cv".into(),
            namespace: "logs".into(),
            stack: "clickvisual".into(),
            revision: 3,
            created: String::new(),
            status: record::BackupStatus::Complete,
            message: String::new(),
            components: vec![record::Saved {
                component: "mysql".into(),
                file: "mysql.sql.gz".into(),
                bytes: 5,
                sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".into(),
                version: "8.4".into(),
                layout: String::new(),
                restorable: true,
            }],
            scheduled: true,
            s3: None,
        };
        std::fs::write(dir.join(MANIFEST), record::to_manifest(&b)).unwrap();
        (root, dir)
    }

    #[tokio::test]
    async fn a_download_reads_back_as_a_backup_of_the_release_it_goes_to() {
        let (_root, dir) = backup_dir();
        let b = read_dir(&dir, ("new", "cv2")).await.unwrap();
        assert_eq!((b.namespace.as_str(), b.release.as_str()), ("new", "cv2"));
        assert_eq!(b.components[0].bytes, 5);
        assert!(!b.scheduled, "never taken by a schedule's retention");
    }

    #[tokio::test]
    async fn a_changed_file_or_no_manifest_is_refused() {
        let (_root, dir) = backup_dir();
        std::fs::write(dir.join("mysql.sql.gz"), b"jello").unwrap();
        let e = read_dir(&dir, ("new", "cv2")).await.unwrap_err();
        assert!(e.is::<Refused>(), "{e}");
        assert!(
            e.to_string().contains("is not the file that was backed up"),
            "{e}"
        );
        std::fs::remove_file(dir.join("mysql.sql.gz")).unwrap();
        let e = read_dir(&dir, ("new", "cv2")).await.unwrap_err();
        assert!(e.to_string().contains("opening"), "{e}");
        std::fs::remove_file(dir.join(MANIFEST)).unwrap();
        let e = read_dir(&dir, ("new", "cv2")).await.unwrap_err();
        assert!(e.to_string().contains("has no stackctl.json"), "{e}");
    }

    #[tokio::test]
    async fn a_manifest_naming_paths_is_refused() {
        let (_root, dir) = backup_dir();
        let text = std::fs::read_to_string(dir.join(MANIFEST)).unwrap();
        for evil in [
            "../other/mysql.sql.gz",
            "/etc/passwd",
            "stackctl.json",
            ".hidden",
        ] {
            std::fs::write(
                dir.join(MANIFEST),
                text.replace("\"mysql.sql.gz\"", &format!("{evil:?}")),
            )
            .unwrap();
            let e = read_dir(&dir, ("new", "cv2")).await.unwrap_err();
            assert!(
                e.to_string().contains("is no name of a backup"),
                "{evil}: {e}"
            );
        }
    }
}
