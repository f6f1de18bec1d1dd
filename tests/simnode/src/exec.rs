//! The kubelet's exec endpoint, as far as a node that runs nothing can serve it:
//! `cat PATH` in a pod prints what a `files` fault rule of its namespace gives for
//! PATH, or what an upload wrote there. An upload is the one command with stdin
//! it knows, by its shape (`sh -c SCRIPT upload BYTES PATH`, stackctl's
//! `UPLOAD_SCRIPT`): it takes exactly BYTES bytes of stdin and keeps them as the
//! file PATH of the volume mounted there, the claim the pod names (so another
//! pod of that claim reads them, as on a real volume). `sha256sum PATH` and
//! `rm -rf PATH` work on those files. Everything else fails as a command would
//! (exit code 126, on stderr), and paths other than exec get 404, as from a
//! kubelet without that handler.
//!
//! The API server reaches it on loopback (the nodes' `InternalDNS` address, first
//! of `--kubelet-preferred-address-types` in `tests/cluster/up`) over TLS, and
//! passes the client's WebSocket upgrade through unchanged (kubernetes v1.20.2,
//! `pkg/registry/core/pod/rest/subresources.go`: `ExecREST.Connect` hands the
//! request to an upgrade-aware proxy to `/exec/{namespace}/{pod}/{container}`). So
//! this speaks what a kubelet speaks to WebSocket clients: the
//! `v4.channel.k8s.io` subprotocol, each binary message's first byte its stream
//! (0 stdin, 1 stdout, 2 stderr, 3 the final `Status`), as in
//! `staging/src/k8s.io/apiserver/pkg/util/wsstream/conn.go` and
//! `pkg/kubelet/cri/streaming/remotecommand/websocket.go` of that tag.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::Message;
use tracing::{info, warn};

use crate::faults::{self, FaultKind};

const PROTOCOL: &str = "v4.channel.k8s.io";
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
/// WebSocket messages of stdout at most this big, as a kubelet's copy buffer.
const CHUNK: usize = 32 * 1024;

/// What one exec asked for.
#[derive(Debug, PartialEq, Eq)]
struct Exec {
    namespace: String,
    pod: String,
    container: String,
    command: Vec<String>,
}

/// `/exec/{namespace}/{pod}/{container}?command=…&command=…&output=1…`.
fn parse(uri: &str) -> Option<Exec> {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut parts = path.trim_start_matches('/').split('/');
    if parts.next()? != "exec" {
        return None;
    }
    let (namespace, pod, container) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let command = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.into_owned())
        .collect();
    Some(Exec {
        namespace: namespace.to_owned(),
        pod: pod.to_owned(),
        container: container.to_owned(),
        command,
    })
}

/// A volume's files: path within it → content.
type Files = BTreeMap<String, Vec<u8>>;

/// Files uploads wrote: by (namespace, claim).
#[derive(Clone, Default)]
pub struct Volumes(Arc<Mutex<HashMap<(String, String), Files>>>);

/// Where `path` is in the pod's container: the claim of the volume mounted at
/// the longest prefix of it, and the path within that volume.
async fn on_volume(client: &Client, exec: &Exec, path: &str) -> Option<(String, String)> {
    let pod = Api::<Pod>::namespaced(client.clone(), &exec.namespace)
        .get(&exec.pod)
        .await
        .ok()?;
    let spec = pod.spec?;
    let container = spec.containers.iter().find(|c| c.name == exec.container)?;
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| {
            path.strip_prefix(m.mount_path.trim_end_matches('/'))
                .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|m| m.mount_path.len())?;
    let claim = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)?
        .persistent_volume_claim
        .as_ref()?
        .claim_name
        .clone();
    let within = path[mount.mount_path.trim_end_matches('/').len()..].to_owned();
    Some((claim, within))
}

fn failed(message: String, code: i32) -> (Vec<u8>, Vec<u8>, i32) {
    (Vec::new(), message.into_bytes(), code)
}

/// What the command prints, and its exit code; an upload reads its stdin from
/// `ws` first.
async fn run<S>(
    client: &Client,
    volumes: &Volumes,
    exec: &Exec,
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
) -> (Vec<u8>, Vec<u8>, i32)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let rules = faults::load(client, &exec.namespace).await;
    let files = rules
        .for_pod(&exec.pod)
        .filter(|r| r.kind == FaultKind::Files && r.matches_container(&exec.container))
        .map(|r| r.files.clone())
        .unwrap_or_default();
    // A file an upload wrote on the volume at `path`, else a `files` rule's.
    let read = async |path: &str| -> Option<Vec<u8>> {
        if let Some(key) = on_volume(client, exec, path).await {
            let written = volumes
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(bytes) = written
                .get(&(exec.namespace.clone(), key.0))
                .and_then(|f| f.get(&key.1))
            {
                return Some(bytes.clone());
            }
        }
        files.get(path).map(|c| c.clone().into_bytes())
    };
    match exec.command.as_slice() {
        [cat, path] if cat == "cat" => match read(path).await {
            Some(content) => (content, Vec::new(), 0),
            None => failed(
                format!("cat: can't open '{path}': No such file or directory\n"),
                1,
            ),
        },
        [sum, path] if sum == "sha256sum" => match read(path).await {
            Some(content) => {
                let digest = ring::digest::digest(&ring::digest::SHA256, &content);
                let hex = digest.as_ref().iter().fold(String::new(), |mut s, b| {
                    use std::fmt::Write;
                    let _ = write!(s, "{b:02x}");
                    s
                });
                (format!("{hex}  {path}\n").into_bytes(), Vec::new(), 0)
            }
            None => failed(format!("sha256sum: {path}: No such file or directory\n"), 1),
        },
        [rm, flags, path] if rm == "rm" && flags == "-rf" => {
            if let Some((claim, within)) = on_volume(client, exec, path).await {
                let mut written = volumes
                    .0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(f) = written.get_mut(&(exec.namespace.clone(), claim)) {
                    f.retain(|p, _| p != &within && !p.starts_with(&format!("{within}/")));
                }
            }
            (Vec::new(), Vec::new(), 0)
        }
        [sh, c, _, upload, bytes, path] if sh == "sh" && c == "-c" && upload == "upload" => {
            let Ok(want) = bytes.parse::<usize>() else {
                return failed(format!("head: invalid number '{bytes}'\n"), 1);
            };
            let Some((claim, within)) = on_volume(client, exec, path).await else {
                return failed(format!("{path} is on no volume of a claim here\n"), 1);
            };
            let mut got = Vec::with_capacity(want);
            while got.len() < want {
                match ws.next().await {
                    Some(Ok(Message::Binary(frame))) if frame.first() == Some(&STDIN) => {
                        got.extend_from_slice(&frame[1..]);
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
            // `head -c` takes what it was told, and leaves the rest unread.
            if got.len() < want {
                return failed(
                    format!("only {} of {want} bytes of {path} arrived\n", got.len()),
                    1,
                );
            }
            got.truncate(want);
            volumes
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry((exec.namespace.clone(), claim))
                .or_default()
                .insert(within, got);
            (Vec::new(), Vec::new(), 0)
        }
        other => failed(
            format!(
                "simnode runs no command but `cat`, `sha256sum`, `rm -rf` and an upload (asked: {other:?})\n"
            ),
            126,
        ),
    }
}

/// The final `Status` a kubelet sends on stream 3.
fn status(code: i32) -> serde_json::Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command, exit status {code}"),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

fn framed(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::binary(v)
}

async fn serve(
    stream: TcpStream,
    tls: TlsAcceptor,
    client: Client,
    volumes: Volumes,
) -> Result<()> {
    let stream = tls.accept(stream).await.context("TLS handshake")?;
    let mut asked = None;
    // The callback's type is tungstenite's (`handshake::server::Callback`).
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let uri = req.uri().to_string();
        let Some(exec) = parse(&uri) else {
            let mut not_found =
                ErrorResponse::new(Some(format!("simnode serves only exec, not {uri}")));
            *not_found.status_mut() = StatusCode::NOT_FOUND;
            return Err(not_found);
        };
        let offered = req
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == PROTOCOL);
        if !offered {
            let mut bad = ErrorResponse::new(Some(format!("simnode speaks only {PROTOCOL}")));
            *bad.status_mut() = StatusCode::BAD_REQUEST;
            return Err(bad);
        }
        resp.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(PROTOCOL));
        asked = Some(exec);
        Ok(resp)
    };
    let mut ws = tokio_tungstenite::accept_hdr_async(stream, callback)
        .await
        .context("WebSocket handshake")?;
    let Some(exec) = asked else {
        return Ok(());
    };
    let (stdout, stderr, code) = run(&client, &volumes, &exec, &mut ws).await;
    info!(
        namespace = exec.namespace,
        pod = exec.pod,
        container = exec.container,
        command = ?exec.command,
        bytes = stdout.len(),
        code,
        "exec"
    );
    for chunk in stdout.chunks(CHUNK) {
        ws.send(framed(STDOUT, chunk)).await?;
    }
    if !stderr.is_empty() {
        ws.send(framed(STDERR, &stderr)).await?;
    }
    ws.send(framed(STATUS, status(code).to_string().as_bytes()))
        .await?;
    ws.close(None).await.ok();
    Ok(())
}

/// Serves exec on `port` of loopback until the process ends.
pub async fn run_server(client: Client, port: u16, cert: &Path, key: &Path) -> Result<()> {
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading {}", cert.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    let tls = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    info!(port, "serving exec");
    let volumes = Volumes::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let (tls, client, volumes) = (tls.clone(), client.clone(), volumes.clone());
        tokio::spawn(async move {
            if let Err(e) = serve(stream, tls, client, volumes).await {
                warn!("exec: {e:#}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_request_names_the_pod_and_the_command() {
        let e = parse(
            "/exec/ns/cv-backup-download-1/backup-serve?command=cat&command=%2Fbackups%2F1%2Fmysql.sql.gz&error=1&output=1",
        )
        .unwrap();
        assert_eq!(e.namespace, "ns");
        assert_eq!(e.pod, "cv-backup-download-1");
        assert_eq!(e.container, "backup-serve");
        assert_eq!(e.command, ["cat", "/backups/1/mysql.sql.gz"]);
        assert!(parse("/containerLogs/ns/p/c").is_none());
        assert!(parse("/exec/ns/p").is_none());
    }

    #[test]
    fn a_failed_command_ends_with_its_exit_code() {
        assert_eq!(status(0)["status"], "Success");
        let s = status(1);
        assert_eq!(s["status"], "Failure");
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "1");
    }
}
