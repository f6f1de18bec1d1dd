//! Realistic timings, switched on per namespace by a `simnode-timing` ConfigMap.
//!
//! The uniform delay (`--ready-delay`) stays the default: it keeps the test suite fast
//! and deterministic. A namespace whose `simnode-timing` ConfigMap says
//! `profile: realistic` gets instead what dominates an install on a real cluster:
//!
//! - **image pulls**: each node keeps an image cache; the first pull of an image takes
//!   its compressed size / the node's bandwidth, and pulls are serialized per node, as
//!   the kubelet does by default (`serializeImagePulls: true`);
//! - **start-up**: per image, the time from container start to its readiness endpoint
//!   answering, longer on an empty volume than on a restart;
//! - **probes**: a container turns ready at the first readiness-probe tick after its
//!   start-up time;
//! - **init containers and Jobs that wait for a host and port** (an `until …; do …;
//!   done` loop on `nc -z HOST PORT`, a URL or a client's `-h HOST -P PORT`, see
//!   [`wait_target`]) get past it only once that Service has a ready endpoint.
//!
//! Everything here is pure (the caller owns the clock and the API), so the model is
//! unit-tested without waiting.
//!
//! Keys of the ConfigMap (all optional except `profile`):
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `profile` | `realistic` or `uniform` | `uniform` |
//! | `bandwidthMBps` | image download rate per node, MB/s (10^6 bytes) | 50 |
//! | `unknownImageMB` | size of an image missing from the table | 100 |
//! | `defaultStartupSeconds` | start-up of an image missing from the table | 2 |
//! | `pullRecheckSeconds` | `imagePullPolicy: Always` on a present image: one registry round trip | 1 |
//! | `initSeconds` | run time of an init container that waits for nothing | 1 |
//! | `imageSizesMB` | YAML map, image (`repo` or `repo:tag`) → MB, overriding the table | |
//! | `startupSeconds` | YAML map, image → seconds on an empty volume | |
//! | `restartSeconds` | YAML map, image → seconds on a volume that was used before | |

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Endpoints, Namespace, PodSpec, Probe, Service,
};
use kube::{Api, Client};
use tracing::warn;

pub const CONFIGMAP_NAME: &str = "simnode-timing";

/// One row of the image table: compressed size (linux/amd64) and start-up times.
#[derive(Debug, Clone, Copy)]
pub struct ImageFacts {
    /// `repo` (registry host kept unless Docker Hub), without tag.
    pub repo: &'static str,
    /// The tag the stacks pin; the row applies to any tag of `repo`.
    pub tag: &'static str,
    pub size_mb: f64,
    /// Where `size_mb` comes from; "estimate: …" when no published figure was at hand.
    pub size_source: &'static str,
    /// Container start → readiness endpoint answering, on an empty volume.
    pub first_start: f64,
    /// The same on a volume that was used before (a restart, a rolling upgrade).
    pub restart: f64,
    pub startup_source: &'static str,
}

const EST_SIZE: &str = "estimate: no registry reachable from the test machine; \
    the image line's usual compressed size, to be replaced by the published figure";

/// The images both stacks use (src/stacks/*/defaults.yaml and profiles/), with sources.
/// Start-up times are estimates of a warm node with the requested resources; their
/// basis is named per row.
pub const IMAGES: &[ImageFacts] = &[
    ImageFacts {
        repo: "clickvisual/clickvisual",
        tag: "1.0.7",
        size_mb: 60.0,
        size_source: EST_SIZE,
        first_start: 2.0,
        restart: 2.0,
        startup_source: "estimate: one Go binary; connects to MySQL (awaited by its init containers) and listens",
    },
    ImageFacts {
        repo: "mysql",
        tag: "8.4",
        size_mb: 235.0,
        size_source: "estimate: Oracle Linux based image, ~35% larger since 8.4.4 \
            because of the MySQL Shell layer (docker-library/mysql issue 1110)",
        first_start: 20.0,
        restart: 5.0,
        startup_source: "estimate: docker-library/mysql docker-entrypoint.sh on an empty datadir runs \
            mysqld --initialize-insecure, a temporary server for the init scripts, a shutdown, \
            then the real server; on a used datadir only the last step",
    },
    ImageFacts {
        repo: "redis",
        tag: "7.4-alpine",
        size_mb: 17.0,
        size_source: EST_SIZE,
        first_start: 0.5,
        restart: 1.0,
        startup_source: "estimate: an empty dataset loads at once; a restart replays the append-only file",
    },
    ImageFacts {
        repo: "clickhouse/clickhouse-server",
        tag: "24.8",
        size_mb: 260.0,
        size_source: EST_SIZE,
        first_start: 6.0,
        restart: 4.0,
        startup_source: "estimate: entrypoint creates the database and users on an empty volume, \
            then the server loads its system tables",
    },
    ImageFacts {
        repo: "apache/kafka",
        tag: "3.9.1",
        size_mb: 180.0,
        size_source: EST_SIZE,
        first_start: 10.0,
        restart: 8.0,
        startup_source: "estimate: JVM start, KRaft storage format on an empty volume, controller election",
    },
    ImageFacts {
        repo: "zookeeper",
        tag: "3.9",
        size_mb: 112.08,
        size_source: "hub.docker.com/r/library/zookeeper/tags: zookeeper:3.9 (3.9.6) linux/amd64 112.08 MB",
        first_start: 4.0,
        restart: 4.0,
        startup_source: "estimate: JVM start of a standalone server",
    },
    ImageFacts {
        repo: "cr.fluentbit.io/fluent/fluent-bit",
        tag: "4.0.3",
        size_mb: 40.0,
        size_source: EST_SIZE,
        first_start: 1.0,
        restart: 1.0,
        startup_source: "estimate: a C binary; health endpoint up once the inputs are set up",
    },
    ImageFacts {
        repo: "prom/prometheus",
        tag: "v3.4.1",
        size_mb: 110.0,
        size_source: EST_SIZE,
        first_start: 3.0,
        restart: 6.0,
        startup_source: "estimate: /-/ready answers after the TSDB opens; a restart replays the WAL",
    },
    ImageFacts {
        repo: "curlimages/curl",
        tag: "8.14.1",
        size_mb: 10.0,
        size_source: EST_SIZE,
        first_start: 1.0,
        restart: 1.0,
        startup_source: "estimate: one curl call (probe Jobs)",
    },
    ImageFacts {
        repo: "traefik",
        tag: "v3.4.1",
        size_mb: 55.0,
        size_source: EST_SIZE,
        first_start: 2.0,
        restart: 2.0,
        startup_source: "estimate: a Go binary; /ping answers once the providers start",
    },
    ImageFacts {
        repo: "quay.io/prometheus/node-exporter",
        tag: "v1.9.1",
        size_mb: 12.0,
        size_source: EST_SIZE,
        first_start: 1.0,
        restart: 1.0,
        startup_source: "estimate: a Go binary",
    },
    ImageFacts {
        repo: "registry.k8s.io/kube-state-metrics/kube-state-metrics",
        tag: "v2.15.0",
        size_mb: 20.0,
        size_source: EST_SIZE,
        first_start: 3.0,
        restart: 3.0,
        startup_source: "estimate: ready after its informers' first list",
    },
    ImageFacts {
        repo: "prom/alertmanager",
        tag: "v0.28.1",
        size_mb: 30.0,
        size_source: EST_SIZE,
        first_start: 2.0,
        restart: 2.0,
        startup_source: "estimate: a Go binary",
    },
    ImageFacts {
        repo: "grafana/grafana",
        tag: "12.0.2",
        size_mb: 190.0,
        size_source: EST_SIZE,
        first_start: 15.0,
        restart: 5.0,
        startup_source: "estimate: an empty database runs every schema migration before /api/health answers",
    },
    ImageFacts {
        repo: "docker.elastic.co/elasticsearch/elasticsearch",
        tag: "8.19.2",
        size_mb: 650.0,
        size_source: EST_SIZE,
        first_start: 30.0,
        restart: 20.0,
        startup_source: "estimate: JVM start, security bootstrap and cluster formation; yellow health",
    },
    ImageFacts {
        repo: "docker.elastic.co/logstash/logstash",
        tag: "8.19.2",
        size_mb: 430.0,
        size_source: EST_SIZE,
        first_start: 40.0,
        restart: 35.0,
        startup_source: "estimate: JVM (JRuby) start and pipeline compilation before the API on 9600 answers",
    },
    ImageFacts {
        repo: "docker.elastic.co/kibana/kibana",
        tag: "8.19.2",
        size_mb: 420.0,
        size_source: EST_SIZE,
        first_start: 40.0,
        restart: 25.0,
        startup_source: "estimate: Node.js start, plugin setup and saved-object migrations in Elasticsearch",
    },
    ImageFacts {
        repo: "postgres",
        tag: "17",
        size_mb: 155.0,
        size_source: EST_SIZE,
        first_start: 6.0,
        restart: 2.0,
        startup_source: "estimate: docker-library/postgres docker-entrypoint.sh on an empty PGDATA runs \
            initdb, a temporary server for the init scripts, a shutdown, then the real server",
    },
    ImageFacts {
        repo: "quay.io/prometheuscommunity/postgres-exporter",
        tag: "v0.17.1",
        size_mb: 11.0,
        size_source: EST_SIZE,
        first_start: 1.0,
        restart: 1.0,
        startup_source: "estimate: a Go binary",
    },
];

/// The realistic model's parameters: the defaults below, overridden by the ConfigMap.
#[derive(Debug, Clone, PartialEq)]
pub struct Realistic {
    pub bandwidth_mb_s: f64,
    pub unknown_image_mb: f64,
    pub default_startup: Duration,
    pub pull_recheck: Duration,
    pub init_run: Duration,
    pub sizes_mb: BTreeMap<String, f64>,
    pub first_start: BTreeMap<String, f64>,
    pub restart: BTreeMap<String, f64>,
    /// Image → `host:port` of a Service its program waits for by itself before its
    /// start-up begins (Kibana retries Elasticsearch): no script shows it.
    pub startup_after: BTreeMap<String, String>,
}

impl Default for Realistic {
    fn default() -> Self {
        Self {
            bandwidth_mb_s: 50.0,
            unknown_image_mb: 100.0,
            default_startup: Duration::from_secs(2),
            pull_recheck: Duration::from_secs(1),
            init_run: Duration::from_secs(1),
            sizes_mb: BTreeMap::new(),
            first_start: BTreeMap::new(),
            restart: BTreeMap::new(),
            startup_after: BTreeMap::new(),
        }
    }
}

/// `repo` and `tag` of an image reference, the way the tables name them: Docker Hub's
/// `docker.io/` and `library/` dropped, a digest ignored, no tag meaning `latest`.
pub fn image_key(image: &str) -> (String, String) {
    let image = image.split('@').next().unwrap_or(image);
    let (repo, tag) = match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => (&image[..i], &image[i + 1..]),
        _ => (image, "latest"),
    };
    let repo = repo.strip_prefix("docker.io/").unwrap_or(repo);
    let repo = repo.strip_prefix("index.docker.io/").unwrap_or(repo);
    let repo = repo.strip_prefix("library/").unwrap_or(repo);
    (repo.to_owned(), tag.to_owned())
}

/// An override for `repo:tag` wins over one for `repo`.
fn lookup<'m>(map: &'m BTreeMap<String, f64>, repo: &str, tag: &str) -> Option<&'m f64> {
    map.get(&format!("{repo}:{tag}")).or_else(|| map.get(repo))
}

fn table(repo: &str) -> Option<&'static ImageFacts> {
    IMAGES.iter().find(|i| i.repo == repo)
}

impl Realistic {
    /// Parses the ConfigMap's data; `Ok(None)` means the uniform timings.
    pub fn parse(data: &BTreeMap<String, String>) -> Result<Option<Self>, String> {
        match data.get("profile").map(|p| p.trim()) {
            None | Some("uniform") => return Ok(None),
            Some("realistic") => {}
            Some(other) => {
                return Err(format!(
                    "unknown profile {other:?} (use realistic or uniform)"
                ));
            }
        }
        let mut r = Self::default();
        let number = |key: &str| -> Result<Option<f64>, String> {
            data.get(key)
                .map(|v| {
                    v.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite() && *n >= 0.0)
                        .ok_or_else(|| format!("{key}: {v:?} is not a non-negative number"))
                })
                .transpose()
        };
        let seconds = |key: &str| -> Result<Option<Duration>, String> {
            Ok(number(key)?.map(Duration::from_secs_f64))
        };
        let map = |key: &str| -> Result<BTreeMap<String, f64>, String> {
            data.get(key).map_or(Ok(BTreeMap::new()), |v| {
                let m: BTreeMap<String, f64> =
                    serde_saphyr::from_str(v).map_err(|e| format!("{key}: {e}"))?;
                m.into_iter()
                    .map(|(image, n)| {
                        if n.is_finite() && n >= 0.0 {
                            let (repo, tag) = image_key(&image);
                            // Keep what the user wrote apart from the registry prefix:
                            // `mysql` applies to every tag, `mysql:8.4` to one.
                            let k = if image.contains(':') && !image.ends_with(":latest") {
                                format!("{repo}:{tag}")
                            } else {
                                repo
                            };
                            Ok((k, n))
                        } else {
                            Err(format!("{key}: {image}: {n} is not a non-negative number"))
                        }
                    })
                    .collect()
            })
        };
        if let Some(n) = number("bandwidthMBps")? {
            if n == 0.0 {
                return Err("bandwidthMBps: must be more than 0".to_owned());
            }
            r.bandwidth_mb_s = n;
        }
        if let Some(n) = number("unknownImageMB")? {
            r.unknown_image_mb = n;
        }
        if let Some(d) = seconds("defaultStartupSeconds")? {
            r.default_startup = d;
        }
        if let Some(d) = seconds("pullRecheckSeconds")? {
            r.pull_recheck = d;
        }
        if let Some(d) = seconds("initSeconds")? {
            r.init_run = d;
        }
        r.sizes_mb = map("imageSizesMB")?;
        r.first_start = map("startupSeconds")?;
        r.restart = map("restartSeconds")?;
        if let Some(v) = data.get("startupAfter") {
            let m: BTreeMap<String, String> =
                serde_saphyr::from_str(v).map_err(|e| format!("startupAfter: {e}"))?;
            for (image, target) in m {
                if host_port(&target).is_none() {
                    return Err(format!(
                        "startupAfter: {image}: {target:?} is not host:port"
                    ));
                }
                let (repo, tag) = image_key(&image);
                let key = if image.contains(':') {
                    format!("{repo}:{tag}")
                } else {
                    repo
                };
                r.startup_after.insert(key, target);
            }
        }
        Ok(Some(r))
    }

    pub fn size_mb(&self, image: &str) -> f64 {
        let (repo, tag) = image_key(image);
        lookup(&self.sizes_mb, &repo, &tag)
            .copied()
            .or_else(|| table(&repo).map(|i| i.size_mb))
            .unwrap_or(self.unknown_image_mb)
    }

    /// A first pull: compressed size / bandwidth.
    pub fn pull_time(&self, image: &str) -> Duration {
        Duration::from_secs_f64(self.size_mb(image) / self.bandwidth_mb_s)
    }

    /// Container start → readiness endpoint answering. `fresh`: its volumes are empty.
    pub fn startup(&self, image: &str, fresh: bool) -> Duration {
        let (repo, tag) = image_key(image);
        let overrides = if fresh {
            &self.first_start
        } else {
            &self.restart
        };
        let row = table(&repo).map(|i| if fresh { i.first_start } else { i.restart });
        lookup(overrides, &repo, &tag)
            .copied()
            .or(row)
            .map_or(self.default_startup, Duration::from_secs_f64)
    }

    /// Every parameter and table row, one per line: what the benchmark prints, and what
    /// [`Realistic::fingerprint`] hashes.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "bandwidthMBps {}", self.bandwidth_mb_s);
        let _ = writeln!(out, "unknownImageMB {}", self.unknown_image_mb);
        let _ = writeln!(
            out,
            "defaultStartupSeconds {}",
            self.default_startup.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "pullRecheckSeconds {}",
            self.pull_recheck.as_secs_f64()
        );
        let _ = writeln!(out, "initSeconds {}", self.init_run.as_secs_f64());
        for (name, map) in [
            ("imageSizesMB", &self.sizes_mb),
            ("startupSeconds", &self.first_start),
            ("restartSeconds", &self.restart),
        ] {
            for (k, v) in map {
                let _ = writeln!(out, "{name} {k} {v}");
            }
        }
        for (k, v) in &self.startup_after {
            let _ = writeln!(out, "startupAfter {k} {v}");
        }
        for i in IMAGES {
            let image = format!("{}:{}", i.repo, i.tag);
            let _ = writeln!(
                out,
                "image {image} sizeMB {} pullSeconds {:.2} firstStart {} restart {}",
                self.size_mb(&image),
                self.pull_time(&image).as_secs_f64(),
                self.startup(&image, true).as_secs_f64(),
                self.startup(&image, false).as_secs_f64(),
            );
        }
        out
    }

    /// The Service an image's program waits for before its start-up begins.
    pub fn startup_after(&self, image: &str) -> Option<(String, u16)> {
        let (repo, tag) = image_key(image);
        let target = self
            .startup_after
            .get(&format!("{repo}:{tag}"))
            .or_else(|| self.startup_after.get(&repo))?;
        host_port(target)
    }

    /// FNV-1a of [`Realistic::describe`]: stable across builds and Rust releases, so
    /// two benchmark runs can tell whether they ran the same model.
    pub fn fingerprint(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.describe().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

/// A wait for a Service by an init container or a Job's container (see [`wait_target`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// It waits for nothing we recognise.
    No,
    /// The Service had no ready endpoint at the last poll.
    Pending,
    /// A poll found a ready endpoint at this offset from the pod's start.
    Done(Duration),
}

/// What the node decided for one container when it picked the pod up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prep {
    /// Offset from the pod's start at which its image is on the node.
    pub image_at: Duration,
    /// App container: start → ready endpoint (or a Job's run after its wait). Init
    /// container that waits for nothing: its run.
    pub startup: Duration,
    pub wait: Wait,
    /// How often a pending wait tries again.
    pub poll: Duration,
}

/// The realistic timings of one pod's init and app containers, in spec order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    pub init: Vec<Prep>,
    pub main: Vec<Prep>,
    /// Per app container, the `startupAfter` Service it waits for, if any.
    pub after: Vec<Option<(String, u16)>>,
}

impl Timeline {
    /// What a blocked container polls: its `startupAfter` Service, else its loop's.
    pub fn target(&self, init: bool, index: usize, c: &Container) -> Option<(String, u16)> {
        let after = if init {
            None
        } else {
            self.after.get(index).cloned().flatten()
        };
        after.or_else(|| wait_target(c).map(|w| (w.host, w.port)))
    }
}

/// `host:port` with a numeric port.
fn host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.trim().rsplit_once(':')?;
    if host.is_empty() {
        return None;
    }
    Some((host.to_owned(), port.parse().ok()?))
}

impl Timeline {
    /// `image_at` asks the node for each image, in the order the kubelet needs them
    /// (init containers, then app containers). Simplification: the kubelet pulls an app
    /// container's image only once the init containers are done; here every pull is
    /// queued when the pod is picked up. stackctl's init containers run the app's own
    /// image, so its pods pull the same way either way.
    ///
    /// A Job's containers run `defaultStartupSeconds` (after their wait, if any): the
    /// table's start-up times are those of servers, and a Job running a server's image
    /// (a MySQL client) is not one. A wait in a long-running app container is not
    /// modelled: its start-up counts from its start.
    pub fn new(
        spec: &PodSpec,
        model: &Realistic,
        fresh: bool,
        job: bool,
        mut image_at: impl FnMut(&Container) -> Duration,
    ) -> Self {
        let wait = |c: &Container, runs_once: bool| match wait_target(c) {
            Some(w) if runs_once => (Wait::Pending, w.poll),
            _ => (Wait::No, DEFAULT_POLL),
        };
        let init = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| {
                let (wait, poll) = wait(c, true);
                Prep {
                    image_at: image_at(c),
                    startup: model.init_run,
                    wait,
                    poll,
                }
            })
            .collect();
        let after: Vec<Option<(String, u16)>> = spec
            .containers
            .iter()
            .map(|c| {
                (!job)
                    .then(|| model.startup_after(c.image.as_deref().unwrap_or_default()))
                    .flatten()
            })
            .collect();
        let main = spec
            .containers
            .iter()
            .zip(&after)
            .map(|(c, after)| {
                let (wait, poll) = if after.is_some() {
                    (Wait::Pending, DEFAULT_POLL)
                } else {
                    wait(c, job)
                };
                Prep {
                    image_at: image_at(c),
                    startup: if job {
                        model.default_startup
                    } else {
                        model.startup(c.image.as_deref().unwrap_or_default(), fresh)
                    },
                    wait,
                    poll,
                }
            })
            .collect();
        Self { init, main, after }
    }
}

/// The kubelet's default: `Always` for `:latest` or no tag, else `IfNotPresent`. The API
/// server fills it in, so this matters only for objects that skipped defaulting.
pub fn pull_policy(c: &Container) -> &str {
    match c.image_pull_policy.as_deref() {
        Some(p) => p,
        None if image_key(c.image.as_deref().unwrap_or_default()).1 == "latest" => "Always",
        None => "IfNotPresent",
    }
}

/// One node's images and its single pull lane. Times are offsets on the caller's
/// monotonic clock.
#[derive(Debug, Default)]
pub struct Puller {
    /// When the lane is free again.
    busy_until: Duration,
    /// Image (scoped by `scope`, see [`Puller::available_at`]) → when it is on the node.
    present: HashMap<(String, String), Duration>,
}

impl Puller {
    /// When `image` is on the node for a container whose pull is requested at `now`.
    ///
    /// Pulls are serialized (kubelet's `serialImagePuller`, the default): each waits for
    /// the lane. An image present (or already queued) costs nothing with `IfNotPresent`
    /// and `Never`; `Always` asks the registry again, one `recheck` in the lane. A
    /// request for an image another pod's pull is still bringing is served when that
    /// pull ends.
    ///
    /// `scope` keys the cache (the namespace): each namespace sees cold nodes, so that
    /// benchmark runs in fresh namespaces start from the same state. A real node shares
    /// its cache across namespaces.
    pub fn available_at(
        &mut self,
        scope: &str,
        image: &str,
        policy: &str,
        now: Duration,
        model: &Realistic,
    ) -> Duration {
        let key = (scope.to_owned(), image.to_owned());
        let cost = match self.present.get(&key) {
            Some(&at) if at <= now && policy != "Always" => return now,
            Some(&at) if policy != "Always" => return at,
            Some(_) => model.pull_recheck,
            None => model.pull_time(image),
        };
        let start = self.busy_until.max(now);
        let done = start + cost;
        self.busy_until = done;
        let entry = self.present.entry(key).or_insert(done);
        *entry = (*entry).min(done);
        done
    }
}

/// What a container waits for before doing its own work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitFor {
    pub host: String,
    pub port: u16,
    /// The loop's `sleep`: how often it tries again.
    pub poll: Duration,
}

/// How often a wait loop without a recognisable `sleep N` tries again.
const DEFAULT_POLL: Duration = Duration::from_secs(2);

/// The target of a wait loop in a container's script (command and args, one per line):
/// `until CONDITION; do …; [sleep N;] done`, where CONDITION, after inlining a shell
/// function it calls (`run() { … }`, one level) and expanding `$VAR`/`${VAR}` from the
/// container's literal `env`, names its target as
///
/// - `nc -z [-w N] [-v] HOST PORT` (BusyBox and OpenBSD netcat spell it alike): what
///   stackctl's `wait_for_tcp` init containers render;
/// - a URL `scheme://HOST:PORT/…` (`curl`, `wget`): the Kibana setup Job;
/// - a client's `-h HOST` with `-P PORT`, `-p PORT` or `--port=PORT` (`mysql`, `psql`,
///   `redis-cli`): the ClickVisual schema Job.
///
/// Any tool's pods written the same way are treated alike.
pub fn wait_target(c: &Container) -> Option<WaitFor> {
    let script: Vec<&str> = c
        .command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .map(String::as_str)
        .collect();
    let script = script.join("\n");
    let env: HashMap<&str, &str> = c
        .env
        .iter()
        .flatten()
        .filter_map(|e| Some((e.name.as_str(), e.value.as_deref()?)))
        .collect();
    let at = find_word(&script, "until")?;
    let rest = &script[at + "until".len()..];
    let do_at = find_word(rest, "do")?;
    let condition = rest[..do_at].trim_end().trim_end_matches(';');
    let body = &rest[do_at + 2..];
    let body = &body[..find_word(body, "done").unwrap_or(body.len())];
    let poll = body
        .split(|ch: char| ch.is_whitespace() || ch == ';')
        .skip_while(|w| *w != "sleep")
        .nth(1)
        .and_then(|n| n.parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map_or(DEFAULT_POLL, Duration::from_secs_f64);
    let called = condition.split_whitespace().next().unwrap_or_default();
    let condition = match function_body(&script, called) {
        Some(body) => format!("{body} {condition}"),
        None => condition.to_owned(),
    };
    let condition = expand(&condition, &env);
    let words: Vec<&str> = condition
        .split(|ch: char| ch.is_whitespace() || matches!(ch, ';' | '"' | '\''))
        .filter(|w| !w.is_empty())
        .collect();
    let (host, port) = netcat(&words)
        .or_else(|| url(&words))
        .or_else(|| client(&words))?;
    Some(WaitFor { host, port, poll })
}

/// Byte offset of `word` standing alone (between blanks, `;`, or the ends).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let boundary = |ch: Option<char>| ch.is_none_or(|ch| ch.is_whitespace() || ch == ';');
    text.match_indices(word).map(|(i, _)| i).find(|&i| {
        boundary(text[..i].chars().next_back()) && boundary(text[i + word.len()..].chars().next())
    })
}

/// The body of `name() { … }` in a script, up to the line holding only `}`.
fn function_body<'s>(script: &'s str, name: &str) -> Option<&'s str> {
    if name.is_empty() {
        return None;
    }
    let start = [format!("{name}() {{"), format!("{name} () {{")]
        .iter()
        .find_map(|head| script.find(head.as_str()).map(|i| i + head.len()))?;
    let body = &script[start..];
    let mut end = 0;
    for line in body.split_inclusive('\n') {
        if line.trim() == "}" {
            return Some(&body[..end]);
        }
        end += line.len();
    }
    None
}

/// `$NAME` and `${NAME}` replaced by the container's literal env values; others kept.
fn expand(text: &str, env: &HashMap<&str, &str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        // `used`: bytes after the `$` that belong to the reference.
        let (name, used) = if let Some(inner) = after.strip_prefix('{') {
            inner.find('}').map_or(("", 0), |j| (&inner[..j], j + 2))
        } else {
            let n = after
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(after.len());
            (&after[..n], n)
        };
        match env.get(name) {
            Some(value) if !name.is_empty() => out.push_str(value),
            _ => out.push_str(&rest[i..=i + used]),
        }
        rest = &rest[(i + 1 + used).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

fn netcat(words: &[&str]) -> Option<(String, u16)> {
    let at = words
        .windows(2)
        .position(|w| w[0] == "nc" && w[1].starts_with('-') && w[1].contains('z'))?;
    let mut rest = words[at + 2..].iter();
    let mut positional = Vec::new();
    while let Some(w) = rest.next() {
        if positional.len() == 2 {
            break;
        }
        match *w {
            // Options that take a value.
            "-w" | "-i" | "-s" | "-p" | "-q" => {
                rest.next();
            }
            w if w.starts_with('-') => {}
            w => positional.push(w),
        }
    }
    match positional[..] {
        [host, port] => Some((host.to_owned(), port.parse().ok()?)),
        _ => None,
    }
}

fn url(words: &[&str]) -> Option<(String, u16)> {
    words.iter().find_map(|w| {
        let (scheme, rest) = w.split_once("://")?;
        let authority = rest.split(['/', '?']).next()?;
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        if let Some((host, port)) = authority.rsplit_once(':') {
            return Some((host.to_owned(), port.parse().ok()?));
        }
        let port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        Some((authority.to_owned(), port))
    })
}

fn client(words: &[&str]) -> Option<(String, u16)> {
    let value = |flags: &[&str]| {
        words.iter().enumerate().find_map(|(i, w)| {
            flags.iter().find_map(|f| {
                if w == f {
                    words.get(i + 1).copied()
                } else {
                    w.strip_prefix(f).and_then(|v| v.strip_prefix('='))
                }
            })
        })
    };
    let host = value(&["-h", "--host"])?;
    let port = value(&["-P", "-p", "--port"])?.parse().ok()?;
    Some((host.to_owned(), port))
}

/// Which Service a host name means, seen from a pod in `namespace`: `svc`, `svc.ns`,
/// `svc.ns.svc` and `svc.ns.svc.<cluster domain>`. `None` for anything else (an IP
/// address, an external name): nothing in the cluster to wait for.
pub fn service_of(host: &str, namespace: &str) -> Option<(String, String)> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    match labels[..] {
        [svc] => Some((svc.to_owned(), namespace.to_owned())),
        [svc, ns] | [svc, ns, "svc", ..] => Some((svc.to_owned(), ns.to_owned())),
        _ => None,
    }
}

/// Whether `port` of the Service has a ready endpoint: what `nc -z` through the
/// Service's virtual IP (or a headless Service's DNS) needs to succeed.
pub fn has_ready_endpoint(service: &Service, endpoints: Option<&Endpoints>, port: u16) -> bool {
    let spec = service.spec.as_ref();
    let Some(port_name) = spec
        .and_then(|s| s.ports.as_ref())
        .and_then(|ps| ps.iter().find(|p| p.port == i32::from(port)))
        .map(|p| p.name.clone().unwrap_or_default())
    else {
        // A headless Service without ports resolves to the pods themselves.
        let headless = spec.and_then(|s| s.cluster_ip.as_deref()) == Some("None")
            && spec
                .and_then(|s| s.ports.as_ref())
                .is_none_or(Vec::is_empty);
        return headless
            && endpoints
                .and_then(|e| e.subsets.as_ref())
                .into_iter()
                .flatten()
                .any(|s| s.addresses.as_ref().is_some_and(|a| !a.is_empty()));
    };
    endpoints
        .and_then(|e| e.subsets.as_ref())
        .into_iter()
        .flatten()
        .filter(|s| s.addresses.as_ref().is_some_and(|a| !a.is_empty()))
        .any(|s| {
            s.ports
                .iter()
                .flatten()
                .any(|p| p.name.clone().unwrap_or_default() == port_name)
        })
}

/// When a container started at `started` (offsets from the pod's start) is ready, given
/// that its endpoint answers from `started + startup`.
///
/// As kubelet v1.20's prober (`pkg/kubelet/prober/worker.go`): each probe worker starts
/// with the pod and ticks every `periodSeconds` from then on (the first run at once);
/// a tick is skipped while the container has run less than `initialDelaySeconds`; the
/// readiness worker does nothing until the startup probe (if any) has succeeded. No
/// readiness probe: ready once started (and started once the startup probe passes).
pub fn ready_at(
    started: Duration,
    startup: Duration,
    readiness: Option<&Probe>,
    startup_probe: Option<&Probe>,
) -> Duration {
    let answering = started + startup;
    let passed = |probe: &Probe, not_before: Duration, strictly: bool| {
        let period = Duration::from_secs(probe.period_seconds.unwrap_or(10).max(1) as u64);
        let delay = Duration::from_secs(probe.initial_delay_seconds.unwrap_or(0).max(0) as u64);
        let earliest = answering.max(started + delay).max(not_before);
        // First tick k·period at or after `earliest` (after it, if `strictly`).
        let mut k = earliest.as_nanos().div_ceil(period.as_nanos());
        if strictly && period * k as u32 == earliest {
            k += 1;
        }
        period * k as u32
    };
    let startup_done = startup_probe.map(|p| passed(p, Duration::ZERO, false));
    match (readiness, startup_done) {
        // The readiness worker sees the startup result at its next tick.
        (Some(r), Some(s)) => passed(r, s, true),
        (Some(r), None) => passed(r, Duration::ZERO, false),
        (None, Some(s)) => s,
        (None, None) => started,
    }
}

// ---------------------------------------------------------------------------------
// Reading the cluster: the only I/O of the model.

/// Reads the namespace's `simnode-timing` fresh for every pod, like `simnode-faults`: a
/// ConfigMap written just before the pods always applies. A bad one is logged and the
/// namespace keeps the uniform timings, which a test notices at once.
pub async fn load(client: &Client, namespace: &str) -> Option<Realistic> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let data = match api.get_opt(CONFIGMAP_NAME).await {
        Ok(cm) => cm?.data.unwrap_or_default(),
        Err(e) => {
            warn!(
                namespace,
                "cannot read {CONFIGMAP_NAME}, using uniform timings: {e}"
            );
            return None;
        }
    };
    Realistic::parse(&data)
        .inspect_err(|e| warn!(namespace, "ignoring {CONFIGMAP_NAME}: {e}"))
        .ok()
        .flatten()
}

/// One poll of an init container's `nc -z host port`, seen from a pod in `namespace`:
/// true once the Service has a ready endpoint on that port. A host that names no
/// Service of the cluster (an external database, a namespace that does not exist)
/// counts as answering: the simulated node has nothing to wait for.
pub async fn answers(client: &Client, namespace: &str, host: &str, port: u16) -> bool {
    let Some((name, ns)) = service_of(host, namespace) else {
        return true;
    };
    if ns != namespace {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        if matches!(namespaces.get_opt(&ns).await, Ok(None)) {
            return true;
        }
    }
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), &ns);
    match services.get_opt(&name).await {
        Ok(Some(svc)) => {
            let eps = endpoints.get_opt(&name).await.ok().flatten();
            has_ready_endpoint(&svc, eps.as_ref(), port)
        }
        // Not yet created: `nc` fails to resolve the name and the loop goes on.
        Ok(None) => false,
        Err(e) => {
            warn!(namespace, host, "cannot read Service {ns}/{name}: {e}");
            false
        }
    }
}

// Sizes come straight from the table or an override, never from arithmetic: comparing
// them exactly is the point.
#[allow(clippy::float_cmp)]
#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        EndpointAddress, EndpointPort, EndpointSubset, EnvVar, ServicePort, ServiceSpec,
    };

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn probe(initial_delay: i32, period: i32) -> Probe {
        Probe {
            initial_delay_seconds: Some(initial_delay),
            period_seconds: Some(period),
            ..Default::default()
        }
    }

    #[test]
    fn uniform_unless_asked() {
        assert_eq!(Realistic::parse(&data(&[])), Ok(None));
        assert_eq!(Realistic::parse(&data(&[("profile", "uniform")])), Ok(None));
        let r = Realistic::parse(&data(&[("profile", "realistic")]))
            .unwrap()
            .unwrap();
        assert_eq!(r, Realistic::default());
        assert!(Realistic::parse(&data(&[("profile", "fast")])).is_err());
    }

    #[test]
    fn overrides() {
        let r = Realistic::parse(&data(&[
            ("profile", "realistic"),
            ("bandwidthMBps", "10"),
            ("unknownImageMB", "20"),
            ("defaultStartupSeconds", "0.5"),
            (
                "imageSizesMB",
                "{mysql: 100, 'docker.io/library/redis:7.4-alpine': 30}",
            ),
            ("startupSeconds", "{mysql: 60}"),
            ("restartSeconds", "{mysql: 7}"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(r.pull_time("mysql:8.4"), secs(10.0));
        assert_eq!(r.size_mb("redis:7.4-alpine"), 30.0);
        // The override names one tag; another tag keeps the table's figure.
        assert_eq!(r.size_mb("redis:8"), 17.0);
        assert_eq!(r.pull_time("example.com/unknown:1"), secs(2.0));
        assert_eq!(r.startup("mysql:8.4", true), secs(60.0));
        assert_eq!(r.startup("mysql:8.4", false), secs(7.0));
        assert_eq!(r.startup("example.com/unknown:1", true), secs(0.5));
        for bad in [
            ("bandwidthMBps", "0"),
            ("bandwidthMBps", "fast"),
            ("initSeconds", "-1"),
            ("imageSizesMB", "[1, 2]"),
            ("imageSizesMB", "{mysql: -3}"),
        ] {
            assert!(
                Realistic::parse(&data(&[("profile", "realistic"), bad])).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn table_lookups() {
        let r = Realistic::default();
        // Docker Hub spellings all find the same row; a digest is ignored.
        for image in [
            "mysql:8.4",
            "docker.io/library/mysql:8.4",
            "library/mysql:8.4@sha256:abc",
        ] {
            assert_eq!(r.size_mb(image), 235.0, "{image}");
        }
        assert_eq!(r.pull_time("mysql:8.4"), secs(4.7));
        assert_eq!(r.size_mb("registry.local:5000/app"), 100.0);
        assert_eq!(
            image_key("registry.local:5000/app"),
            ("registry.local:5000/app".to_owned(), "latest".to_owned())
        );
        assert!(r.startup("mysql:8.4", true) > r.startup("mysql:8.4", false));
        assert_eq!(r.startup("busybox:1", true), secs(2.0));
        // Every row names a source, and an estimate says so.
        for i in IMAGES {
            assert!(!i.size_source.is_empty() && !i.startup_source.is_empty());
            assert!(i.first_start >= 0.0 && i.restart >= 0.0 && i.size_mb > 0.0);
        }
    }

    #[test]
    fn fingerprint_follows_the_parameters() {
        let a = Realistic::default();
        let mut b = Realistic::default();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 16);
        b.bandwidth_mb_s = 51.0;
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert!(
            a.describe()
                .contains("image mysql:8.4 sizeMB 235 pullSeconds 4.70")
        );
    }

    /// Offsets computed through f64 seconds may differ from a literal by a nanosecond.
    fn close(a: Duration, b: Duration) -> bool {
        a.abs_diff(b) < Duration::from_micros(1)
    }

    #[test]
    fn pulls_are_serialized_per_node_and_cached() {
        let model = Realistic::default();
        let mut node = Puller::default();
        let ask = |node: &mut Puller, scope: &str, image: &str, policy: &str, at: f64| {
            node.available_at(scope, image, policy, secs(at), &model)
        };
        let ch = "clickhouse/clickhouse-server:24.8";
        // 235 MB and 260 MB at 50 MB/s, asked for together: one after the other.
        assert!(close(
            ask(&mut node, "ns", "mysql:8.4", "IfNotPresent", 0.0),
            secs(4.7)
        ));
        assert!(close(
            ask(&mut node, "ns", ch, "IfNotPresent", 0.0),
            secs(9.9)
        ));
        // A second pod asking while the pull is under way waits for it, no second download.
        assert!(close(
            ask(&mut node, "ns", "mysql:8.4", "IfNotPresent", 1.0),
            secs(4.7)
        ));
        // Once present: at once; `Always` rechecks through the lane.
        assert!(close(
            ask(&mut node, "ns", "mysql:8.4", "IfNotPresent", 20.0),
            secs(20.0)
        ));
        assert!(close(
            ask(&mut node, "ns", "mysql:8.4", "Always", 20.0),
            secs(21.0)
        ));
        // The lane is busy until 21: a pull asked for at 20.5 starts then.
        assert!(close(
            ask(&mut node, "ns", "redis:7.4-alpine", "IfNotPresent", 20.5),
            secs(21.34)
        ));
        // Another namespace starts cold; another node has its own lane.
        assert!(close(
            ask(&mut node, "other", "mysql:8.4", "IfNotPresent", 30.0),
            secs(34.7)
        ));
        let mut node2 = Puller::default();
        assert!(close(
            ask(&mut node2, "ns", ch, "IfNotPresent", 30.0),
            secs(35.2)
        ));
    }

    #[test]
    fn probe_ticks() {
        let zero = Duration::ZERO;
        // No probes: ready when started, whatever the start-up time.
        assert_eq!(ready_at(secs(3.0), secs(20.0), None, None), secs(3.0));
        // Ticks run from the pod's start every period; the first one at or after both
        // the initial delay and the start-up time wins.
        let p = probe(5, 10);
        assert_eq!(ready_at(zero, secs(2.0), Some(&p), None), secs(10.0));
        assert_eq!(ready_at(secs(3.0), secs(2.0), Some(&p), None), secs(10.0));
        assert_eq!(ready_at(secs(3.0), secs(7.5), Some(&p), None), secs(20.0));
        assert_eq!(
            ready_at(secs(12.0), secs(1.0), Some(&probe(0, 5)), None),
            secs(15.0)
        );
        // Exactly on a tick counts.
        assert_eq!(
            ready_at(secs(10.0), zero, Some(&probe(0, 10)), None),
            secs(10.0)
        );
        // A startup probe gates readiness; readiness sees it at its own next tick.
        let s = probe(0, 2);
        assert_eq!(
            ready_at(zero, secs(5.0), Some(&probe(0, 3)), Some(&s)),
            secs(9.0)
        );
        assert_eq!(ready_at(zero, secs(5.0), None, Some(&s)), secs(6.0));
        // Defaults: period 10, no delay.
        assert_eq!(
            ready_at(secs(1.0), secs(1.0), Some(&Probe::default()), None),
            secs(10.0)
        );
    }

    fn shell(script: &str) -> Container {
        Container {
            command: Some(vec!["sh".into(), "-c".into(), script.into()]),
            ..Default::default()
        }
    }

    #[test]
    fn recognises_waits() {
        let wait = |host: &str, port: u16, poll: f64| {
            Some(WaitFor {
                host: host.to_owned(),
                port,
                poll: secs(poll),
            })
        };
        // What stackctl's `wait_for_tcp` renders.
        let stackctl = shell(
            "until nc -z -w 2 rel-mysql.ns.svc 3306; do echo waiting for rel-mysql.ns.svc:3306; sleep 2; done",
        );
        assert_eq!(wait_target(&stackctl), wait("rel-mysql.ns.svc", 3306, 2.0));
        let split = Container {
            command: Some(vec!["sh".into(), "-c".into()]),
            args: Some(vec![
                "until nc -vz db.ns.svc.cluster.local 5432;do sleep 1;done".into(),
            ]),
            ..Default::default()
        };
        assert_eq!(
            wait_target(&split),
            wait("db.ns.svc.cluster.local", 5432, 1.0)
        );
        // The Kibana setup Job: a URL from the env, polled every 5 s.
        let mut kibana = shell(
            "set -eu\nuntil curl -sS -f -o /dev/null --max-time 15 \"$ES_URL/_cluster/health?wait_for_status=yellow\"; do\n  echo \"waiting\"; sleep 5\ndone\ncurl -X POST \"$ES_URL/_security\"",
        );
        kibana.env = Some(vec![EnvVar {
            name: "ES_URL".into(),
            value: Some("http://es.ns.svc:9200".into()),
            ..Default::default()
        }]);
        assert_eq!(wait_target(&kibana), wait("es.ns.svc", 9200, 5.0));
        // The ClickVisual schema Job: a client called through a shell function.
        let mut schema = shell(
            "run() {\n  \"$client\" --protocol=TCP -h \"$HOST\" -P \"${PORT}\" -u \"$USER\" \"$@\"\n}\nwaited=0\nuntil run -N -B -e 'SELECT 1' >/dev/null 2>\"$dir/err\"; do\n  case $(cat \"$dir/err\") in *) ;; esac\n  sleep 5\n  waited=$((waited + 5))\ndone\nrun < \"$SCHEMA_FILE\"",
        );
        schema.env = Some(vec![
            EnvVar {
                name: "HOST".into(),
                value: Some("db.ns.svc".into()),
                ..Default::default()
            },
            EnvVar {
                name: "PORT".into(),
                value: Some("3306".into()),
                ..Default::default()
            },
        ]);
        assert_eq!(wait_target(&schema), wait("db.ns.svc", 3306, 5.0));
        assert_eq!(
            wait_target(&shell(
                "until psql -h pg -p 5432 -c 'SELECT 1'; do sleep 3; done"
            )),
            wait("pg", 5432, 3.0)
        );
        assert_eq!(
            wait_target(&shell("until wget -q http://web/; do :; done")),
            wait("web", 80, 2.0)
        );
        for other in [
            "echo nc -z",
            "nc -l 8080",
            "sleep 5",
            "nc -z host 80",
            "until nc -z host; do sleep 1; done",
            "until nc -z host port; do sleep 1; done",
            // An env var the container does not set literally (from a Secret).
            "until curl \"$URL\"; do sleep 1; done",
            "until [ -f /tmp/ready ]; do sleep 1; done",
        ] {
            assert_eq!(wait_target(&shell(other)), None, "{other}");
        }
    }

    #[test]
    fn expansion() {
        let env: HashMap<&str, &str> = [("A", "x"), ("B_2", "y")].into_iter().collect();
        assert_eq!(
            expand("$A ${B_2} $C ${C} $ \"$A\"", &env),
            "x y $C ${C} $ \"x\""
        );
        assert_eq!(expand("${A", &env), "${A");
        assert_eq!(expand("end$", &env), "end$");
    }

    #[test]
    fn host_names() {
        let s = |svc: &str, ns: &str| Some((svc.to_owned(), ns.to_owned()));
        assert_eq!(service_of("mysql", "a"), s("mysql", "a"));
        assert_eq!(service_of("mysql.b", "a"), s("mysql", "b"));
        assert_eq!(service_of("mysql.b.svc", "a"), s("mysql", "b"));
        assert_eq!(
            service_of("mysql.b.svc.cluster.local", "a"),
            s("mysql", "b")
        );
        assert_eq!(service_of("db.example.com", "a"), None);
        assert_eq!(service_of("10.0.0.7", "a"), None);
    }

    #[test]
    fn ready_endpoints() {
        let service = |ports: Vec<(&str, i32)>| Service {
            spec: Some(ServiceSpec {
                ports: Some(
                    ports
                        .into_iter()
                        .map(|(n, p)| ServicePort {
                            name: (!n.is_empty()).then(|| n.to_owned()),
                            port: p,
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let endpoints = |ready: bool, port: &str| Endpoints {
            subsets: Some(vec![EndpointSubset {
                addresses: ready.then(|| {
                    vec![EndpointAddress {
                        ip: "10.1.0.5".into(),
                        ..Default::default()
                    }]
                }),
                not_ready_addresses: (!ready).then(|| {
                    vec![EndpointAddress {
                        ip: "10.1.0.5".into(),
                        ..Default::default()
                    }]
                }),
                ports: Some(vec![EndpointPort {
                    name: (!port.is_empty()).then(|| port.to_owned()),
                    port: 3306,
                    ..Default::default()
                }]),
            }]),
            ..Default::default()
        };
        let svc = service(vec![("mysql", 3306)]);
        assert!(has_ready_endpoint(
            &svc,
            Some(&endpoints(true, "mysql")),
            3306
        ));
        assert!(!has_ready_endpoint(
            &svc,
            Some(&endpoints(false, "mysql")),
            3306
        ));
        assert!(!has_ready_endpoint(&svc, None, 3306));
        // The Service has no such port: nothing ever answers there.
        assert!(!has_ready_endpoint(
            &svc,
            Some(&endpoints(true, "mysql")),
            3307
        ));
        let unnamed = service(vec![("", 6379)]);
        assert!(has_ready_endpoint(
            &unnamed,
            Some(&endpoints(true, "")),
            6379
        ));
        let headless = Service {
            spec: Some(ServiceSpec {
                cluster_ip: Some("None".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(has_ready_endpoint(
            &headless,
            Some(&endpoints(true, "")),
            9092
        ));
        assert!(!has_ready_endpoint(
            &headless,
            Some(&endpoints(false, "")),
            9092
        ));
    }

    // The model driven through the pod timeline (`lifecycle::Sim`).

    fn web_pod() -> k8s_openapi::api::core::v1::Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-0", "namespace": "ns", "uid": "u-1"},
            "spec": {
                "initContainers": [{
                    "name": "wait-for-mysql", "image": "clickvisual/clickvisual:1.0.7",
                    "command": ["sh", "-c", "until nc -z -w 2 db 3306; do sleep 2; done"],
                }],
                "containers": [{
                    "name": "app", "image": "clickvisual/clickvisual:1.0.7",
                    "readinessProbe": {"initialDelaySeconds": 5, "periodSeconds": 10},
                }],
            },
        }))
        .unwrap()
    }

    fn at(
        pod: &k8s_openapi::api::core::v1::Pod,
        t: &Timeline,
        now: f64,
    ) -> crate::lifecycle::Snapshot {
        let plan = crate::lifecycle::Plan::new(pod, None);
        crate::lifecycle::Sim {
            pod,
            plan: &plan,
            start: k8s_openapi::jiff::Timestamp::from_second(1_700_000_000).unwrap(),
            step: Duration::from_secs(1),
            host_ip: "10.0.0.10",
            pod_ip: "10.244.0.5",
            timing: Some(t),
        }
        .at(secs(now))
    }

    fn ready(s: &crate::lifecycle::Snapshot) -> bool {
        s.status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    }

    #[test]
    fn a_pod_waits_for_its_image_its_service_and_its_probe() {
        let pod = web_pod();
        let model = Realistic::default();
        let mut lane = Puller::default();
        // clickvisual: 60 MB at 50 MB/s, pulled once for both containers.
        let mut t = Timeline::new(pod.spec.as_ref().unwrap(), &model, true, false, |c| {
            let image = c.image.as_deref().unwrap();
            lane.available_at("ns", image, pull_policy(c), Duration::ZERO, &model)
        });
        assert!(close(t.init[0].image_at, secs(1.2)) && close(t.main[0].image_at, secs(1.2)));
        assert_eq!(t.init[0].wait, Wait::Pending);
        // Pulling: nothing started, nothing blocked.
        let s = at(&pod, &t, 1.0);
        assert_eq!(s.blocked_on, None);
        assert!(s.next.is_some_and(|n| close(n, secs(1.2))));
        // The init container runs and polls MySQL's Service: blocked however long it takes.
        let s = at(&pod, &t, 1.5);
        assert_eq!(s.blocked_on, Some((true, 0)));
        assert_eq!(s.status.phase.as_deref(), Some("Pending"));
        let s = at(&pod, &t, 600.0);
        assert_eq!(s.blocked_on, Some((true, 0)));
        assert!(!ready(&s));
        // A poll at 31 s found an endpoint: the app starts then (image present) and its
        // endpoint answers 2 s later, but readiness ticks at 10 s steps from the pod's
        // start and not before 5 s of running: ready at 40 s.
        t.init[0].wait = Wait::Done(secs(31.0));
        let s = at(&pod, &t, 35.0);
        assert_eq!(s.blocked_on, None);
        assert_eq!(s.status.phase.as_deref(), Some("Running"));
        assert!(!ready(&s));
        assert_eq!(s.next, Some(secs(40.0)));
        assert!(ready(&at(&pod, &t, 40.0)));
    }

    #[test]
    fn a_pod_without_waits_or_probes_is_ready_once_its_image_is_there() {
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "db-0", "namespace": "ns", "uid": "u-2"},
            "spec": {"containers": [{"name": "mysql", "image": "mysql:8.4"}]},
        }))
        .unwrap();
        let model = Realistic::default();
        let t = Timeline::new(pod.spec.as_ref().unwrap(), &model, true, false, |_| {
            secs(4.7)
        });
        assert_eq!(t.main[0].startup, secs(20.0));
        // The same image in a Job is a client: it runs the default time.
        let job = Timeline::new(pod.spec.as_ref().unwrap(), &model, true, true, |_| {
            secs(4.7)
        });
        assert_eq!(job.main[0].startup, secs(2.0));
        assert!(!ready(&at(&pod, &t, 4.6)));
        // No readiness probe: the kubelet reports ready as soon as it runs.
        assert!(ready(&at(&pod, &t, 4.7)));
    }

    #[test]
    fn a_job_waits_then_works() {
        let mut pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "schema-1-x", "namespace": "ns", "uid": "u-3",
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "schema-1", "uid": "j"}],
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [{
                    "name": "apply", "image": "mysql:8.4",
                    "command": ["sh", "-c", "until mysql -h db -P 3306 -e 'SELECT 1'; do sleep 5; done"],
                }],
            },
        }))
        .unwrap();
        let model = Realistic::default();
        let job = crate::lifecycle::is_job_pod(&pod);
        let mut t = Timeline::new(pod.spec.as_ref().unwrap(), &model, true, job, |_| secs(4.7));
        assert_eq!((t.main[0].wait, t.main[0].poll), (Wait::Pending, secs(5.0)));
        let s = at(&pod, &t, 100.0);
        assert_eq!(s.blocked_on, Some((false, 0)));
        assert_eq!(s.status.phase.as_deref(), Some("Running"));
        // Found MySQL answering at 30 s: the Job then runs its 2 s and succeeds.
        t.main[0].wait = Wait::Done(secs(30.0));
        let s = at(&pod, &t, 31.0);
        assert_eq!((s.blocked_on, s.next), (None, Some(secs(32.0))));
        assert_eq!(
            at(&pod, &t, 32.0).status.phase.as_deref(),
            Some("Succeeded")
        );
        // The same container in a long-running pod is not held by its loop.
        pod.metadata.owner_references = None;
        let t = Timeline::new(pod.spec.as_ref().unwrap(), &model, true, false, |_| {
            secs(4.7)
        });
        assert_eq!(t.main[0].wait, Wait::No);
    }

    #[test]
    fn a_program_that_waits_by_itself_starts_up_once_its_service_answers() {
        let model = Realistic::parse(&data(&[
            ("profile", "realistic"),
            (
                "startupAfter",
                "{docker.elastic.co/kibana/kibana: 'es:9200'}",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert!(
            model
                .describe()
                .contains("startupAfter docker.elastic.co/kibana/kibana es:9200")
        );
        for bad in ["{kibana: es}", "{kibana: ':9200'}", "[es]"] {
            let parsed =
                Realistic::parse(&data(&[("profile", "realistic"), ("startupAfter", bad)]));
            assert!(parsed.is_err(), "{bad}");
        }
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kibana-x", "namespace": "ns", "uid": "u-4"},
            "spec": {"containers": [{
                "name": "kibana", "image": "docker.elastic.co/kibana/kibana:8.19.2",
                "readinessProbe": {"initialDelaySeconds": 10, "periodSeconds": 10},
            }]},
        }))
        .unwrap();
        let c = &pod.spec.as_ref().unwrap().containers[0];
        let mut t = Timeline::new(pod.spec.as_ref().unwrap(), &model, true, false, |_| {
            secs(8.4)
        });
        assert_eq!(t.main[0].wait, Wait::Pending);
        assert_eq!(t.target(false, 0, c), Some(("es".to_owned(), 9200)));
        // Running, not ready, while Elasticsearch does not answer.
        let s = at(&pod, &t, 300.0);
        assert_eq!(s.blocked_on, Some((false, 0)));
        assert_eq!(s.status.phase.as_deref(), Some("Running"));
        assert!(!ready(&s));
        // It answers at 50 s: 40 s of start-up from then, ready at the 90 s tick.
        t.main[0].wait = Wait::Done(secs(50.0));
        assert!(!ready(&at(&pod, &t, 89.0)));
        assert!(ready(&at(&pod, &t, 90.0)));
        // Without the override, start-up counts from the start: ready at 50 s.
        let t = Timeline::new(
            pod.spec.as_ref().unwrap(),
            &Realistic::default(),
            true,
            false,
            |_| secs(8.4),
        );
        assert!(ready(&at(&pod, &t, 50.0)));
    }
}
