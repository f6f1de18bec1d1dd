//! `backup download NAME DIR`: a backup's files to the user's machine through the
//! API server, as `kubectl cp` does: a pod holds them (the backup volume mounted
//! read-only, or fetched from S3 into its scratch directory), and each file comes
//! back from an exec of `cat` in it, checked against the size and sha256 its
//! record holds before it takes its name. No lock: nothing of the release
//! changes, and a backup deleted meanwhile only fails the download.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{AttachParams, DeleteParams, PostParams};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::record::{Backup, BackupStatus};
use super::run::{await_gone, find, s3_credentials};
use crate::cluster::Session;
use crate::operations::failure::Refused;
use crate::operations::progress::Reporter;
use crate::operations::{recorded_stack, target};
use crate::release::Store;
use crate::stacks::backup_jobs as job;

pub struct DownloadOptions {
    pub release: Option<String>,
    pub namespace: Option<String>,
    pub name: String,
    /// The backup lands in `<dir>/<name>/`.
    pub dir: PathBuf,
    /// Bound on the pod's start and on its life.
    pub timeout: Duration,
}

/// What `backup download` wrote.
#[derive(Debug, serde::Serialize)]
pub struct Downloaded {
    pub dir: PathBuf,
    pub files: Vec<DownloadedFile>,
}

#[derive(Debug, serde::Serialize)]
pub struct DownloadedFile {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What a downloaded backup is, beside its files (read by `backup upload`).
pub const MANIFEST: &str = "stackctl.json";

/// A file that did not arrive as recorded.
#[derive(Debug, thiserror::Error)]
#[error(
    "{file} arrived with {bytes} bytes and sha256 {sha256}; the backup recorded {want_bytes} bytes and sha256 {want_sha256}"
)]
pub struct Mismatch {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    pub want_bytes: u64,
    pub want_sha256: String,
}

pub async fn download(
    session: &Session,
    reporter: &Reporter,
    opts: &DownloadOptions,
) -> Result<Downloaded> {
    let t = target::find(
        &session.client,
        opts.release.as_deref(),
        opts.namespace.as_deref(),
    )
    .await?;
    let store = Store::new(session.client.clone(), &t.namespace);
    let backup = find(&session.client, &store, &t.name, &opts.name).await?;
    if backup.status != BackupStatus::Complete {
        return Err(Refused(format!(
            "backup {} failed ({}); it has nothing to download",
            backup.name, backup.message
        ))
        .into());
    }
    let Some(current) = store.latest(&t.name).await? else {
        return Err(Refused(format!("release {} has no revisions", t.name)).into());
    };
    let (stack, release, values) = recorded_stack(&current)?;
    let specs = stack.backups(&values, &release)?;
    let Some(image_of) = specs.first() else {
        return Err(Refused(format!("release {} backs up nothing", t.name)).into());
    };
    let settings = stack.backup_settings(&values)?;
    if let Some(s3) = &backup.s3 {
        s3_credentials(&session.client, &t.namespace, s3).await?;
    }
    // Nothing the user has is overwritten: a fresh directory of the backup's name.
    let dest = opts.dir.join(&backup.name);
    if dest.exists() {
        return Err(Refused(format!(
            "{} exists; nothing is overwritten: remove it or download into another directory",
            dest.display()
        ))
        .into());
    }
    tokio::fs::create_dir_all(&dest)
        .await
        .with_context(|| format!("creating {}", dest.display()))?;

    let files: Vec<&str> = backup.components.iter().map(|c| c.file.as_str()).collect();
    let place = backup.place(&settings);
    let pod = job::download_pod(
        &release,
        (&backup.name, &place),
        image_of,
        &files,
        opts.timeout,
    )?;
    let pods: Api<Pod> = Api::namespaced(session.client.clone(), &t.namespace);
    let name = pod.metadata.name.clone().unwrap_or_default();
    let result = async {
        // One left by an interrupted download ends at its deadline; this one
        // replaces it now.
        match pods
            .delete(&name, &DeleteParams::default().grace_period(0))
            .await
        {
            Ok(_) => await_gone(&pods, &name).await?,
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e).context("deleting the last download's pod"),
        }
        pods.create(&PostParams::default(), &pod)
            .await
            .context("creating the pod that holds the backup's files")?;
        reporter.info(format!("pod {name} holds backup {}", backup.name));
        running(&pods, &name, opts.timeout).await?;
        fetch_all(&pods, &name, &backup, &dest, reporter).await
    }
    .await;
    let _ = pods.delete(&name, &DeleteParams::background()).await;
    match result {
        Ok(files) => Ok(Downloaded { dir: dest, files }),
        Err(e) => {
            // Ours, made above: whatever arrived is incomplete.
            let _ = tokio::fs::remove_dir_all(&dest).await;
            Err(e)
        }
    }
}

/// Waits until the pod runs (its files are there); a pod that ended first says
/// why, from its steps' termination messages.
pub(super) async fn running(pods: &Api<Pod>, name: &str, timeout: Duration) -> Result<()> {
    let phase = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default()
    };
    let settled = |p: Option<&Pod>| p.is_some_and(|p| phase(p) != "Pending");
    let pod = tokio::time::timeout(
        timeout,
        kube::runtime::wait::await_condition(pods.clone(), name, settled),
    )
    .await
    .with_context(|| format!("pod {name} did not start within {}s", timeout.as_secs()))?
    .with_context(|| format!("waiting for pod {name}"))?;
    let Some(pod) = pod else {
        anyhow::bail!("pod {name} went away before it served the backup");
    };
    if phase(&pod) == "Running" {
        return Ok(());
    }
    let said: Vec<String> = pod
        .status
        .iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .filter_map(|c| {
            let t = c.state.as_ref()?.terminated.as_ref()?;
            (t.exit_code != 0)
                .then(|| format!("{}: {}", c.name, t.message.as_deref().unwrap_or("").trim()))
        })
        .collect();
    anyhow::bail!(
        "pod {name} ended ({}) before serving the backup{}",
        phase(&pod),
        if said.is_empty() {
            String::new()
        } else {
            format!(": {}", said.join("; "))
        }
    )
}

/// Each file of the backup, by an exec of `cat` in the pod.
async fn fetch_all(
    pods: &Api<Pod>,
    pod: &str,
    backup: &Backup,
    dest: &Path,
    reporter: &Reporter,
) -> Result<Vec<DownloadedFile>> {
    let mut got = Vec::new();
    let mut sums = String::new();
    for c in &backup.components {
        let path = format!("{}/{}/{}", job::MOUNT, backup.name, c.file);
        let params = AttachParams::default()
            .container(job::DOWNLOAD_STEP)
            .stdin(false)
            .stdout(true)
            .stderr(true);
        let mut cat = pods
            .exec(pod, ["cat", path.as_str()], &params)
            .await
            .with_context(|| {
                format!(
                    "reading {} through the API server (an exec in pod {pod}, as `kubectl cp` does; the cluster must allow pods/exec)",
                    c.file
                )
            })?;
        let (Some(stdout), Some(mut stderr), Some(status)) =
            (cat.stdout(), cat.stderr(), cat.take_status())
        else {
            anyhow::bail!("the exec in pod {pod} gave no output streams");
        };
        let file = dest.join(&c.file);
        let mut said = Vec::new();
        let (copied, _) = tokio::join!(
            copy_verified(stdout, &file, (&c.file, c.bytes, &c.sha256)),
            stderr.read_to_end(&mut said)
        );
        let exit = status.await;
        let _ = cat.join().await;
        if let Some(s) = exit.filter(|s| s.status.as_deref() != Some("Success")) {
            let _ = tokio::fs::remove_file(&file).await;
            anyhow::bail!(
                "cat {path} in pod {pod} failed: {} {}",
                s.message.unwrap_or_default(),
                String::from_utf8_lossy(&said).trim()
            );
        }
        let bytes = copied?;
        reporter.info(format!("{} ({bytes} bytes, sha256 as recorded)", c.file));
        sums.push_str(&format!("{}  {}\n", c.sha256, c.file));
        got.push(DownloadedFile {
            file: c.file.clone(),
            bytes,
            sha256: c.sha256.clone(),
        });
    }
    // As the backup has them in S3: for `sha256sum -c` by hand, and what
    // `backup upload` makes a record of.
    tokio::fs::write(dest.join("SHA256SUMS"), sums)
        .await
        .context("writing SHA256SUMS")?;
    tokio::fs::write(dest.join(MANIFEST), super::record::to_manifest(backup))
        .await
        .with_context(|| format!("writing {MANIFEST}"))?;
    Ok(got)
}

/// Copies `from` into a new file `to`, hashing as it goes; a file whose size
/// or sha256 is not `want`'s is removed and is an error.
pub async fn copy_verified<R: AsyncRead + Unpin>(
    mut from: R,
    to: &Path,
    (file, want_bytes, want_sha256): (&str, u64, &str),
) -> Result<u64> {
    let mut out = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .await
        .with_context(|| format!("creating {}", to.display()))?;
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    let copied: Result<()> = async {
        loop {
            let n = from.read(&mut buf).await.context("reading the stream")?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            out.write_all(&buf[..n])
                .await
                .with_context(|| format!("writing {}", to.display()))?;
            bytes += n as u64;
        }
        out.sync_all()
            .await
            .with_context(|| format!("writing {}", to.display()))?;
        Ok(())
    }
    .await;
    let sha256 = hex(hash.finish().as_ref());
    let result = copied.and_then(|()| {
        if bytes == want_bytes && sha256 == want_sha256 {
            Ok(bytes)
        } else {
            Err(Mismatch {
                file: file.to_string(),
                bytes,
                sha256,
                want_bytes,
                want_sha256: want_sha256.to_string(),
            }
            .into())
        }
    });
    if result.is_err() {
        drop(out);
        let _ = tokio::fs::remove_file(to).await;
    }
    result
}

pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_SHA: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[tokio::test]
    async fn a_file_is_kept_only_as_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("mysql.sql.gz");
        let n = copy_verified(&b"hello"[..], &ok, ("mysql.sql.gz", 5, HELLO_SHA))
            .await
            .unwrap();
        assert_eq!(n, 5);
        assert_eq!(std::fs::read(&ok).unwrap(), b"hello");

        // Cut short (the pod ended mid-stream) or changed: removed, and said.
        for (body, name) in [(&b"hell"[..], "short"), (&b"jello"[..], "changed")] {
            let path = dir.path().join(name);
            let e = copy_verified(body, &path, (name, 5, HELLO_SHA))
                .await
                .unwrap_err();
            let m = e.downcast_ref::<Mismatch>().expect("a mismatch");
            assert_eq!(m.want_sha256, HELLO_SHA);
            assert!(e.to_string().contains("the backup recorded 5 bytes"), "{e}");
            assert!(!path.exists(), "{name} was left behind");
        }

        // Never over a file that is there.
        let e = copy_verified(&b"hello"[..], &ok, ("mysql.sql.gz", 5, HELLO_SHA))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("creating"), "{e}");
        assert_eq!(std::fs::read(&ok).unwrap(), b"hello");
    }

    #[tokio::test]
    async fn a_large_stream_is_hashed_whole() {
        let body: Vec<u8> = (0..1_000_000u32).flat_map(u32::to_le_bytes).collect();
        let want = hex(ring::digest::digest(&ring::digest::SHA256, &body).as_ref());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let n = copy_verified(&body[..], &path, ("big", body.len() as u64, &want))
            .await
            .unwrap();
        assert_eq!(n, 4_000_000);
    }
}
