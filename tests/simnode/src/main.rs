//! simnode: a simulated kubelet for stackctl's test control plane.
//!
//! It registers Nodes and keeps them Ready, drives pods bound to them through the
//! states a real kubelet would report (without running anything), provisions
//! PersistentVolumes for its StorageClasses, and injects faults described in a
//! `simnode-faults` ConfigMap.

mod events;
mod exec;
mod faults;
mod ipam;
mod lifecycle;
mod nodes;
mod pods;
mod timing;
mod volumes;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tracing::{error, info, warn};

use crate::nodes::{Capacity, SimNode};

/// Field manager for everything simnode applies.
pub const MANAGER: &str = "simnode";

#[derive(Parser, Debug)]
#[command(
    version,
    about = "A simulated kubelet: registers nodes and plays pods, volumes and faults"
)]
struct Args {
    /// Kubeconfig to use (default: $KUBECONFIG, ~/.kube/config or in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Number of nodes, named <prefix>-0..N-1.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=1000))]
    nodes: u16,
    /// Node name prefix; a second simnode with another prefix can share a cluster.
    #[arg(long, default_value = "simnode")]
    node_prefix: String,
    /// CPU capacity of each node (a Kubernetes quantity).
    #[arg(long, default_value = "4")]
    cpu: String,
    /// Memory capacity of each node (a Kubernetes quantity).
    #[arg(long, default_value = "8Gi")]
    memory: String,
    /// Pod capacity of each node.
    #[arg(long, default_value_t = 110)]
    max_pods: u32,
    /// Time for each simulated step: image pull and start, one init container, one Job run.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    ready_delay: Duration,
    /// Print the realistic timing model (parameters, image table with sources, and
    /// its fingerprint) and exit; see the `simnode-timing` ConfigMap.
    #[arg(long)]
    print_timing: bool,
    /// Serve the kubelet's exec endpoint on this port of loopback (see `exec`),
    /// with this certificate and key; the nodes then advertise it.
    #[arg(long, requires_all = ["kubelet_cert", "kubelet_key"])]
    kubelet_port: Option<u16>,
    #[arg(long)]
    kubelet_cert: Option<PathBuf>,
    #[arg(long)]
    kubelet_key: Option<PathBuf>,
}

/// Accepts `500ms`, `1s`, `2m`, `1h` or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?}"))?;
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?} (use ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// The HTTP status of an API error, if it is one.
pub fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

fn valid_quantity(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !digits.is_empty() && digits.parse::<f64>().is_ok()
}

async fn client(args: &Args) -> Result<Client> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

/// `up` may start us while the apiserver is still coming up: wait a little for it.
async fn wait_for_apiserver(client: &Client) -> Result<()> {
    let mut last = None;
    for _ in 0..30 {
        match client.apiserver_version().await {
            Ok(v) => {
                info!(version = v.git_version, "connected to the apiserver");
                return Ok(());
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!(
        "apiserver unreachable: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    )
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            warn!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received, stopping"),
        _ = tokio::signal::ctrl_c() => info!("interrupted, stopping"),
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    if args.print_timing {
        print_timing();
        return;
    }
    if let Err(e) = run(args).await {
        error!("{e:#}");
        std::process::exit(1);
    }
    // Nothing needs flushing; exiting here skips waiting for in-flight requests while
    // the runtime winds down, so `tests/cluster/down` sees us go at once.
    std::process::exit(0);
}

fn print_timing() {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let model = timing::Realistic::default();
    let mut out = format!("fingerprint {}\n{}", model.fingerprint(), model.describe());
    for i in timing::IMAGES {
        let _ = writeln!(
            out,
            "source {}:{} size: {}; start-up: {}",
            i.repo, i.tag, i.size_source, i.startup_source
        );
    }
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::stdout().write_all(out.as_bytes());
}

async fn run(args: Args) -> Result<()> {
    for (flag, value) in [("--cpu", &args.cpu), ("--memory", &args.memory)] {
        if !valid_quantity(value) {
            bail!("{flag} {value:?} is not a Kubernetes quantity");
        }
    }
    let client = client(&args)
        .await
        .context("building the Kubernetes client")?;
    wait_for_apiserver(&client).await?;

    let capacity = Capacity {
        cpu: args.cpu.clone(),
        memory: args.memory.clone(),
        max_pods: args.max_pods,
    };
    let mut sim_nodes: Vec<SimNode> = (0..usize::from(args.nodes))
        .map(|i| SimNode::new(&args.node_prefix, i, args.kubelet_port))
        .collect();
    for node in &mut sim_nodes {
        nodes::register(&client, node, &capacity).await?;
    }
    volumes::ensure_storage_classes(&client).await?;

    let recorder = events::Recorder::new(client.clone());
    let kubelet = Arc::new(pods::Kubelet {
        client: client.clone(),
        nodes: sim_nodes
            .iter()
            .map(|n| (n.name.clone(), n.ip.clone()))
            .collect(),
        step: args.ready_delay,
        recorder: recorder.clone(),
        ipam: Mutex::new(ipam::Ipam::default()),
        origin: Instant::now(),
        pullers: Mutex::new(HashMap::new()),
        used_claims: Mutex::new(HashSet::new()),
    });
    let node_names = sim_nodes.iter().map(|n| n.name.clone()).collect();
    info!(nodes = sim_nodes.len(), step = ?args.ready_delay, "simnode running");

    let exec = async {
        match (&args.kubelet_port, &args.kubelet_cert, &args.kubelet_key) {
            (Some(port), Some(cert), Some(key)) => {
                exec::run_server(client.clone(), *port, cert, key).await
            }
            _ => std::future::pending().await,
        }
    };
    tokio::select! {
        r = exec => r?,
        () = nodes::keep_alive(client.clone(), sim_nodes, capacity) => {}
        () = pods::run(kubelet) => {}
        () = volumes::run(client.clone(), recorder, node_names) => {}
        () = shutdown_signal() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_mins(2));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3d").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn quantities() {
        assert!(valid_quantity("4"));
        assert!(valid_quantity("8Gi"));
        assert!(valid_quantity("500m"));
        assert!(!valid_quantity("Gi"));
        assert!(!valid_quantity("lots"));
    }

    #[test]
    fn cli_defaults() {
        let a = Args::try_parse_from(["simnode"]).unwrap();
        assert_eq!(
            (a.nodes, a.cpu.as_str(), a.memory.as_str(), a.max_pods),
            (3, "4", "8Gi", 110)
        );
        assert_eq!(a.ready_delay, Duration::from_secs(1));
        let a = Args::try_parse_from([
            "simnode",
            "--kubeconfig",
            "/k",
            "--nodes",
            "5",
            "--ready-delay",
            "200ms",
        ])
        .unwrap();
        assert_eq!(a.nodes, 5);
        assert_eq!(a.ready_delay, Duration::from_millis(200));
        assert!(Args::try_parse_from(["simnode", "--nodes", "0"]).is_err());
    }
}
