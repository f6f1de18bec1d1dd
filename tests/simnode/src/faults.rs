//! Fault rules read from the `simnode-faults` ConfigMap of a pod's (or PVC's) namespace.
//!
//! Each data key holds one YAML rule: `{pods: <glob>, fault: <kind>, exitCode: n,
//! delaySeconds: n, containers: <glob>, messages: {container: text}, files: {path:
//! text}}`. A bad rule is skipped with a warning rather
//! than failing the pod: a typo in a test fixture should be visible in the log, not
//! turn into a second, unrelated fault.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use globset::{Glob, GlobMatcher};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client};
use serde::Deserialize;
use tracing::warn;

pub const CONFIGMAP_NAME: &str = "simnode-faults";

const DEFAULT_EXIT_CODE: i32 = 1;
const DEFAULT_SLOW_DELAY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    CrashLoop,
    NeverReady,
    ImagePull,
    ExitCode,
    Slow,
    PvcNeverBound,
    /// Not a fault: what a container that finishes writes as its termination
    /// message (`messages`, by container name), which no simulated container can.
    Message,
    /// Not a fault: what `cat PATH` prints in the pod's containers through exec
    /// (`files`, by path), which no simulated container has.
    Files,
}

impl FaultKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "crashloop" => Self::CrashLoop,
            "never-ready" => Self::NeverReady,
            "image-pull" => Self::ImagePull,
            "exit-code" => Self::ExitCode,
            "slow" => Self::Slow,
            "pvc-never-bound" => Self::PvcNeverBound,
            "message" => Self::Message,
            "files" => Self::Files,
            _ => return None,
        })
    }
}

/// One parsed rule. `pods` matches pod names, or PVC names for `pvc-never-bound`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub key: String,
    pub pattern: String,
    pods: GlobMatcher,
    containers: Option<GlobMatcher>,
    pub kind: FaultKind,
    pub exit_code: i32,
    pub delay: Duration,
    /// `message` rules: container name → termination message.
    pub messages: BTreeMap<String, String>,
    /// `files` rules: path → content.
    pub files: BTreeMap<String, String>,
}

impl Rule {
    pub fn matches_container(&self, name: &str) -> bool {
        self.containers.as_ref().is_none_or(|g| g.is_match(name))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRule {
    #[serde(alias = "pvcs")]
    pods: String,
    fault: String,
    exit_code: Option<i32>,
    delay_seconds: Option<u64>,
    containers: Option<String>,
    messages: Option<BTreeMap<String, String>>,
    files: Option<BTreeMap<String, String>>,
}

fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("bad glob {pattern:?}: {e}"))
}

pub fn parse_rule(key: &str, value: &str) -> Result<Rule, String> {
    let raw: RawRule = serde_saphyr::from_str(value).map_err(|e| format!("invalid YAML: {e}"))?;
    let kind = FaultKind::parse(raw.fault.trim())
        .ok_or_else(|| format!("unknown fault kind {:?}", raw.fault))?;
    Ok(Rule {
        key: key.to_owned(),
        pods: glob(&raw.pods)?,
        pattern: raw.pods,
        containers: raw.containers.as_deref().map(glob).transpose()?,
        kind,
        exit_code: raw.exit_code.unwrap_or(DEFAULT_EXIT_CODE),
        delay: raw
            .delay_seconds
            .map_or(DEFAULT_SLOW_DELAY, Duration::from_secs),
        messages: raw.messages.unwrap_or_default(),
        files: raw.files.unwrap_or_default(),
    })
}

/// The rules of one namespace, in key order (ConfigMap data is sorted), so that when
/// several rules match the same name the outcome is deterministic: the first key wins.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Vec<Rule>,
}

impl Faults {
    /// Parses every key; rules that do not parse are logged and dropped.
    pub fn parse(namespace: &str, data: &BTreeMap<String, String>) -> Self {
        let rules = data
            .iter()
            .filter_map(|(key, value)| match parse_rule(key, value) {
                Ok(rule) => Some(rule),
                Err(e) => {
                    if first_complaint(namespace, key, value) {
                        warn!(
                            namespace,
                            key, "ignoring fault rule in {CONFIGMAP_NAME}: {e}"
                        );
                    }
                    None
                }
            })
            .collect();
        Self { rules }
    }

    pub fn for_pod(&self, pod_name: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.kind != FaultKind::PvcNeverBound && r.pods.is_match(pod_name))
    }

    pub fn for_pvc(&self, pvc_name: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.kind == FaultKind::PvcNeverBound && r.pods.is_match(pvc_name))
    }
}

/// Rules are re-read for every pod; each bad rule is worth one warning, not one per pod.
fn first_complaint(namespace: &str, key: &str, value: &str) -> bool {
    static SEEN: Mutex<BTreeSet<(String, String, String)>> = Mutex::new(BTreeSet::new());
    let entry = (namespace.to_owned(), key.to_owned(), value.to_owned());
    SEEN.lock().map_or(true, |mut seen| seen.insert(entry))
}

/// Reads the namespace's rules fresh on every call, so a ConfigMap written just before a
/// pod is created always applies to it (a watch cache could still lag behind).
pub async fn load(client: &Client, namespace: &str) -> Faults {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(CONFIGMAP_NAME).await {
        Ok(Some(cm)) => Faults::parse(namespace, &cm.data.unwrap_or_default()),
        Ok(None) => Faults::default(),
        Err(e) => {
            warn!(
                namespace,
                "cannot read {CONFIGMAP_NAME}, assuming no faults: {e}"
            );
            Faults::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_flow_and_block_yaml() {
        let r = parse_rule("a", "{pods: web-*, fault: crashloop, exitCode: 3}").unwrap();
        assert_eq!(r.kind, FaultKind::CrashLoop);
        assert_eq!(r.exit_code, 3);
        assert_eq!(r.pattern, "web-*");

        let r = parse_rule("b", "pods: \"db-0\"\nfault: slow\ndelaySeconds: 5\n").unwrap();
        assert_eq!(r.kind, FaultKind::Slow);
        assert_eq!(r.delay, Duration::from_secs(5));
        assert_eq!(r.exit_code, DEFAULT_EXIT_CODE);
    }

    #[test]
    fn defaults() {
        let r = parse_rule("a", "{pods: x, fault: slow}").unwrap();
        assert_eq!(r.delay, DEFAULT_SLOW_DELAY);
        assert_eq!(r.exit_code, 1);
        assert!(r.matches_container("anything"));
    }

    #[test]
    fn every_kind_parses() {
        for (s, k) in [
            ("crashloop", FaultKind::CrashLoop),
            ("never-ready", FaultKind::NeverReady),
            ("image-pull", FaultKind::ImagePull),
            ("exit-code", FaultKind::ExitCode),
            ("slow", FaultKind::Slow),
            ("pvc-never-bound", FaultKind::PvcNeverBound),
            ("message", FaultKind::Message),
            ("files", FaultKind::Files),
        ] {
            let r = parse_rule("k", &format!("{{pods: p, fault: {s}}}")).unwrap();
            assert_eq!(r.kind, k);
        }
    }

    #[test]
    fn rejects_bad_rules() {
        assert!(
            parse_rule("a", "{pods: x, fault: explode}")
                .unwrap_err()
                .contains("unknown fault")
        );
        assert!(parse_rule("a", "{pods: x").is_err());
        assert!(
            parse_rule("a", "fault: crashloop").is_err(),
            "pods is required"
        );
        assert!(
            parse_rule("a", "{pods: x, fault: slow, delay: 3}").is_err(),
            "typo'd key"
        );
        assert!(parse_rule("a", "{pods: x, fault: exit-code, exitCode: one}").is_err());
        assert!(
            parse_rule("a", "{pods: 'a[', fault: slow}").is_err(),
            "bad glob"
        );
        assert!(parse_rule("a", "just a string").is_err());
    }

    #[test]
    fn bad_rules_are_skipped_and_good_ones_kept() {
        let f = Faults::parse(
            "ns",
            &data(&[
                ("1-bad", "{pods: '*', fault: explode}"),
                ("2-broken", "{{{"),
                ("3-good", "{pods: 'api-*', fault: never-ready}"),
            ]),
        );
        assert_eq!(f.rules.len(), 1);
        assert!(
            !first_complaint("ns", "1-bad", "{pods: '*', fault: explode}"),
            "each bad rule is warned about once"
        );
        assert_eq!(f.for_pod("api-7d9f").unwrap().kind, FaultKind::NeverReady);
        assert!(f.for_pod("web-0").is_none());
    }

    #[test]
    fn globs_and_precedence() {
        let f = Faults::parse(
            "ns",
            &data(&[
                ("a", "{pods: 'mysql-0', fault: crashloop}"),
                ("b", "{pods: 'mysql-*', fault: slow}"),
                ("c", "{pods: 'data-*-mysql-0', fault: pvc-never-bound}"),
                (
                    "d",
                    "{pods: 'web-?', fault: image-pull, containers: 'side*'}",
                ),
            ]),
        );
        assert_eq!(f.for_pod("mysql-0").unwrap().kind, FaultKind::CrashLoop);
        assert_eq!(f.for_pod("mysql-1").unwrap().kind, FaultKind::Slow);
        assert!(
            f.for_pod("data-x-mysql-0").is_none(),
            "PVC rules never hit pods"
        );
        assert_eq!(
            f.for_pvc("data-x-mysql-0").unwrap().kind,
            FaultKind::PvcNeverBound
        );
        assert!(f.for_pvc("mysql-0").is_none(), "pod rules never hit PVCs");
        assert!(f.for_pvc("data-x-mysql-1").is_none());
        let web = f.for_pod("web-1").unwrap();
        assert!(f.for_pod("web-10").is_none());
        assert!(web.matches_container("sidecar"));
        assert!(!web.matches_container("app"));
    }
}
