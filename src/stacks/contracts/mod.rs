//! Every image the stacks run, written down: what the image itself does (user, ports,
//! paths, health endpoints, environment), each fact with where it was read — the
//! upstream repository, revision and file — or an explicit "unverified" and why.
//!
//! The table is data the tests read: `check` holds every rendered workload and probe
//! Job to its image's contract (tests/contracts.rs renders every built-in profile),
//! and `markdown` renders `docs/images.md`. One contract per image repository and
//! tag, so bumping a tag without re-reading the image fails the tests.

mod aiops;
mod check;
mod clickvisual;
mod markdown;
mod shared;

pub use check::{Mismatch, check, pod_spec};
pub use markdown::markdown;

/// Where a fact comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Read in the upstream repository at `rev` (the pinned tag, or the commit of a
    /// repository that builds the tag from a directory, like docker-library's).
    Upstream {
        repo: &'static str,
        rev: &'static str,
        path: &'static str,
    },
    /// Not an image fact: stackctl configures it (a flag, a config file key).
    Stackctl { how: &'static str },
    /// Not read at the pinned tag; `why` says what is known and what is missing.
    Unverified { why: &'static str },
}

impl Source {
    pub fn is_verified(&self) -> bool {
        !matches!(self, Source::Unverified { .. })
    }
}

/// One fact and its source; `note` explains a value the source implies rather than
/// states (`USER nobody` is uid 65534 in the base image's passwd).
#[derive(Debug, Clone, Copy)]
pub struct Fact<T: 'static> {
    pub value: T,
    pub source: Source,
    pub note: &'static str,
}

pub const fn fact<T>(value: T, source: Source) -> Fact<T> {
    Fact {
        value,
        source,
        note: "",
    }
}

pub const fn up(repo: &'static str, rev: &'static str, path: &'static str) -> Source {
    Source::Upstream { repo, rev, path }
}

pub const fn unverified(why: &'static str) -> Source {
    Source::Unverified { why }
}

pub const fn by_stackctl(how: &'static str) -> Source {
    Source::Stackctl { how }
}

/// How a workload finds its image's contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Match {
    /// The image reference's repository (after any `global.imageRegistry` mirror
    /// prefix) and tag.
    Image,
    /// A user-supplied image: the workload's `app.kubernetes.io/component`.
    Component(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    pub number: i32,
    pub what: &'static str,
}

/// An HTTP endpoint that answers whether the process is healthy or ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub port: i32,
    /// Path below the configured base path, if any (see [`BasePath`]).
    pub path: &'static str,
    pub what: &'static str,
}

/// How an image is told to serve from a sub-path, so a probe's path is
/// `<prefix><health path>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasePath {
    /// A command-line flag `<flag><prefix>` (`--web.route-prefix=`).
    Flag(&'static str),
    /// The path of the URL in env `url`, when env `enabled_by` is `true`.
    EnvUrl {
        url: &'static str,
        enabled_by: &'static str,
    },
    /// Key `key` of the YAML file `file` mounted from a ConfigMap, when key
    /// `enabled_by` is `true`.
    ConfigKey {
        file: &'static str,
        key: &'static str,
        enabled_by: &'static str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: &'static str,
    pub format: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Env {
    pub name: &'static str,
    pub effect: &'static str,
}

/// Which check an [`Exception`] lifts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Uid,
    Gid,
    Port,
    Health,
    WritablePaths,
}

/// A rendered container that departs from its contract on purpose (`known_defect:
/// false`, with the reason it is safe) or by a known mistake not fixed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception {
    /// The container's name (`probe` for every connectivity probe Job), or a
    /// prefix ending in `*` (`backup-*` for every step of a backup pod).
    pub container: &'static str,
    pub rule: Rule,
    pub why: &'static str,
    pub known_defect: bool,
}

impl Exception {
    /// Whether it excuses the container `name`.
    pub fn covers(&self, name: &str) -> bool {
        match self.container.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => self.container == name,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ImageContract {
    /// Repository as the values name it (no mirror prefix).
    pub image: &'static str,
    pub tag: &'static str,
    pub matched_by: Match,
    /// Facts about the tag itself: is it published, what it is compatible with.
    pub about: &'static [Fact<&'static str>],
    /// The image's default user; `None`: not known.
    pub uid: Fact<Option<i64>>,
    pub gid: Fact<Option<i64>>,
    /// Paths the process writes to: under a read-only root each needs a volume.
    pub writable_paths: &'static [Fact<&'static str>],
    pub data_dir: Fact<Option<&'static str>>,
    pub config_files: &'static [Fact<ConfigFile>],
    pub entrypoint: Fact<&'static str>,
    pub command: Fact<&'static str>,
    /// Flags stackctl passes, and what they do.
    pub flags: &'static [Fact<&'static str>],
    pub ports: &'static [Fact<Port>],
    pub health: &'static [Fact<Health>],
    pub base_path: Option<Fact<BasePath>>,
    /// Variables the image (entrypoint or program) reads, and what it does with them.
    pub env: &'static [Fact<Env>],
    pub min_kubernetes: Fact<Option<&'static str>>,
    /// Whether the tests run the software itself on what stackctl renders.
    pub real_run: RealRun,
    pub exceptions: &'static [Exception],
}

/// Where Debian packages an image's software, the tests run that build on what
/// stackctl renders; this says which build, which tests, and what a pass leaves
/// unproven. Elsewhere it says why nothing runs.
#[derive(Debug, Clone, Copy)]
pub enum RealRun {
    Debian {
        /// The package and the version Debian bookworm has.
        package: &'static str,
        tests: &'static str,
        /// What a pass does not show, the version gap first.
        unproven: &'static str,
    },
    None {
        why: &'static str,
    },
}

/// Every contract, ClickVisual's images first.
pub fn all() -> Vec<&'static ImageContract> {
    clickvisual::CONTRACTS
        .iter()
        .chain(aiops::CONTRACTS)
        .chain(shared::CONTRACTS)
        .copied()
        .collect()
}

/// Repository and tag of an image reference (`mirror/repo:tag`, also with
/// `@digest`; `repo@digest` has no tag); the registry mirror prefix is left on the
/// repository.
pub fn split_reference(image: &str) -> (&str, &str) {
    let image = image.split_once('@').map_or(image, |(name, _digest)| name);
    // A ':' after the last '/' separates the tag; one before it is a registry port.
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => (&image[..i], &image[i + 1..]),
        _ => (image, ""),
    }
}

/// The contract of a container's image: by repository and tag (a mirror prefix is
/// allowed before the repository), else by the workload's component for user-supplied
/// images.
pub fn find(image: &str, component: &str) -> Option<&'static ImageContract> {
    let (repo, tag) = split_reference(image);
    all().into_iter().find(|c| match c.matched_by {
        Match::Image => {
            tag == c.tag
                && (repo == c.image
                    || repo
                        .strip_suffix(c.image)
                        .is_some_and(|prefix| prefix.ends_with('/')))
        }
        Match::Component(name) => name == component,
    })
}

/// Every source a contract cites, for the tests and the docs.
pub(crate) fn sources(c: &ImageContract) -> Vec<Source> {
    let mut out = vec![
        c.uid.source,
        c.gid.source,
        c.data_dir.source,
        c.entrypoint.source,
        c.command.source,
        c.min_kubernetes.source,
    ];
    out.extend(c.about.iter().map(|f| f.source));
    out.extend(c.writable_paths.iter().map(|f| f.source));
    out.extend(c.config_files.iter().map(|f| f.source));
    out.extend(c.flags.iter().map(|f| f.source));
    out.extend(c.ports.iter().map(|f| f.source));
    out.extend(c.health.iter().map(|f| f.source));
    out.extend(c.env.iter().map(|f| f.source));
    out.extend(c.base_path.iter().map(|f| f.source));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_repository_and_tag() {
        assert_eq!(split_reference("mysql:8.4"), ("mysql", "8.4"));
        assert_eq!(
            split_reference("registry.local:5000/prom/prometheus:v3.4.1"),
            ("registry.local:5000/prom/prometheus", "v3.4.1")
        );
        assert_eq!(
            split_reference("registry.local:5000/redis"),
            ("registry.local:5000/redis", "")
        );
        assert_eq!(split_reference("redis@sha256:ab"), ("redis", ""));
        assert_eq!(
            split_reference("mirror:5000/redis:7.4-alpine@sha256:ab"),
            ("mirror:5000/redis", "7.4-alpine")
        );
    }

    #[test]
    fn a_mirror_prefix_finds_the_contract_but_a_longer_name_does_not() {
        assert_eq!(
            find("mirror.local/redis:7.4-alpine", "x").unwrap().image,
            "redis"
        );
        assert!(find("myredis:7.4-alpine", "x").is_none());
        assert!(
            find("redis:7.2", "x").is_none(),
            "another tag needs its own contract"
        );
    }

    #[test]
    fn one_contract_per_repository_and_tag() {
        let mut seen = std::collections::BTreeSet::new();
        for c in all() {
            assert!(
                seen.insert((c.image, c.tag, c.matched_by)),
                "{}:{} twice",
                c.image,
                c.tag
            );
        }
    }

    #[test]
    fn every_real_run_names_test_files_that_exist() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for c in all() {
            let text = match c.real_run {
                RealRun::Debian { tests, .. } => tests,
                RealRun::None { why } => why,
            };
            let named: Vec<&str> = text
                .split(|ch: char| ch.is_whitespace() || "(),;:".contains(ch))
                .filter(|w| {
                    w.starts_with("tests/")
                        && std::path::Path::new(w)
                            .extension()
                            .is_some_and(|e| e == "rs")
                })
                .collect();
            if let RealRun::Debian { .. } = c.real_run {
                assert!(!named.is_empty(), "{}: which test runs it?", c.image);
            }
            for file in named {
                assert!(root.join(file).is_file(), "{}: no {file}", c.image);
            }
        }
    }

    #[test]
    fn every_unverified_mark_says_why_and_every_upstream_source_is_complete() {
        for c in all() {
            for s in sources(c) {
                match s {
                    Source::Unverified { why } => assert!(!why.is_empty(), "{}", c.image),
                    Source::Stackctl { how } => assert!(!how.is_empty(), "{}", c.image),
                    Source::Upstream { repo, rev, path } => {
                        assert!(repo.contains('/') && !rev.is_empty() && !path.is_empty());
                    }
                }
            }
            for e in c.exceptions {
                assert!(!e.why.is_empty(), "{}: exception without a reason", c.image);
            }
        }
    }
}
