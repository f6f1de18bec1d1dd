//! What the AIOps stack renders for Prometheus and Alertmanager, read by the real
//! programs: `promtool check rules` on the alert rules, `promtool check config` on
//! `prometheus.yml`, `amtool check-config` on `alertmanager.yml`, and `promtool test
//! rules` unit tests that feed the rules series shaped as kube-state-metrics and
//! Traefik export them and check which alerts fire, with which labels and
//! annotations.
//!
//! Versions: Debian bookworm packages Prometheus 2.42 (promtool) and Alertmanager
//! 0.25 (amtool); the stack runs prom/prometheus v3.4.1 and prom/alertmanager v0.28.1
//! (`src/stacks/aiops/defaults.yaml`). A pass proves the files parse and the rules
//! behave as intended under 2.42 and 0.25. It does not prove what 3.x changed:
//! range selectors are left-open there (one sample fewer per window; the rules here
//! use only ratios and quantiles of rates, which that does not move), classic
//! histograms' `le` values are normalised to floats at scrape time (`le="5"` becomes
//! `le="5.0"`; no rule here matches on `le`), metric and label names may be UTF-8,
//! and some configuration keys and defaults differ. Nor does it prove that 0.28
//! accepts every field 0.25 does not know.
//!
//! Needs `promtool` (Debian: prometheus) and `amtool` (prometheus-alertmanager);
//! `.ci/run` installs them. Without one, a test fails under CI (`CI=true`) and is
//! skipped with a printed reason elsewhere.

mod common;
mod local;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use stackctl::model::Manifest;
use stackctl::stacks::kit::prometheus::CONFIG_DIR;

use common::find;
use local::{have, stderr, stdout};

const AIOPS_PROFILES: [&str; 3] = ["aiops-minimal", "aiops", "aiops-production"];
const NAMESPACE: &str = "aiops";

/// Traefik's latency buckets when `--metrics.prometheus.buckets` is not given
/// (traefik/traefik v3.4.1, pkg/types/metrics.go, `Prometheus.SetDefaults`).
const TRAEFIK_DEFAULT_BUCKETS: [f64; 4] = [0.1, 0.3, 1.2, 5.0];

// ---------------------------------------------------------------------------
// rendering

fn render(profile: &str, sets: &[&str]) -> Vec<Manifest> {
    common::render(profile, NAMESPACE, sets)
}

/// The files of Prometheus' ConfigMap, mounted at `CONFIG_DIR`.
fn prometheus_files(ms: &[Manifest]) -> Vec<(String, String)> {
    find(ms, "ConfigMap", "-prometheus-config")["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

fn prometheus_file(ms: &[Manifest], name: &str) -> String {
    prometheus_files(ms)
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in the Prometheus ConfigMap"))
        .1
}

/// `alertmanager.yml` from its Secret.
fn alertmanager_config(ms: &[Manifest]) -> String {
    let data = &find(ms, "Secret", "-alertmanager-config")["data"]["alertmanager.yml"];
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.as_str().expect("base64 data"))
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("valid YAML")
}

fn alert_rule(rules: &Value, name: &str) -> Value {
    rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .find(|r| r["alert"] == name)
        .unwrap_or_else(|| panic!("no alert rule {name}"))
        .clone()
}

/// The number a rule's expression compares against (`... > N`).
fn threshold(rule: &Value) -> f64 {
    let expr = rule["expr"].as_str().unwrap();
    let (_, n) = expr
        .rsplit_once("> ")
        .unwrap_or_else(|| panic!("no threshold in {expr}"));
    n.trim().parse().unwrap()
}

/// Seconds of a Prometheus duration with one unit (`15m`, `5m`, `30s`, `1h`).
fn seconds(duration: &str) -> u64 {
    let (n, unit) = duration.split_at(duration.len() - 1);
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("duration {duration}"));
    match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => panic!("duration {duration}"),
    }
}

fn minutes(rule: &Value) -> u64 {
    seconds(rule["for"].as_str().unwrap()).div_ceil(60)
}

/// Labels the `pods` scrape job attaches (its relabelling's target labels, and
/// `instance`), with made-up values for one target: the input series of the unit
/// tests look as they would in the TSDB.
fn scrape_labels(prometheus_yml: &Value, job: &str) -> Vec<(String, String)> {
    let pods = prometheus_yml["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "pods")
        .expect("pods job");
    let mut labels = vec![("instance".to_string(), "10.244.1.7:8080".to_string())];
    for r in pods["relabel_configs"].as_array().unwrap() {
        let Some(target) = r["target_label"].as_str() else {
            continue;
        };
        if target.starts_with("__") {
            continue;
        }
        let value = if target == "job" {
            job.to_string()
        } else {
            format!("{job}-{target}")
        };
        labels.push((target.to_string(), value));
    }
    labels
}

// ---------------------------------------------------------------------------
// running the programs

fn run(program: &str, args: &[&str], dir: &Path) -> Output {
    let started = Instant::now();
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    eprintln!(
        "--- {program} {} ({:?})\n--- stdout\n{}--- stderr\n{}--- exit {:?}",
        args.join(" "),
        started.elapsed(),
        stdout(&out),
        stderr(&out),
        out.status.code()
    );
    out
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        stdout(out),
        stderr(out)
    );
}

/// `prometheus.yml` without its `kubernetes_sd_configs` blocks (each becomes
/// `static_configs: []`), and how many there were. Debian builds Prometheus without
/// Kubernetes discovery ("Kubernetes support has been completely removed, due to
/// the insane amount of dependencies in their client library",
/// /usr/share/doc/prometheus/NEWS.Debian.gz, 1.5.0+ds-1), so its promtool rejects
/// the key. Line-based, so every other line stays as rendered: a block is its key's
/// line and the lines below it that are indented deeper, or as deep and list items.
fn without_kubernetes_sd(config: &str) -> (String, usize) {
    let mut out = Vec::new();
    let mut removed = 0;
    let mut block: Option<usize> = None;
    for line in config.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(depth) = block {
            let inside = indent > depth || (indent == depth && line.trim_start().starts_with("- "));
            if inside && !line.trim().is_empty() {
                continue;
            }
            block = None;
        }
        if line.trim_start() == "kubernetes_sd_configs:" {
            block = Some(indent);
            removed += 1;
            out.push(format!("{}static_configs: []", &line[..indent]));
            continue;
        }
        out.push(line.to_string());
    }
    (out.join("\n") + "\n", removed)
}

/// Expands the templates of an alert's annotations as Prometheus does for the
/// ones the rules use: `{{ $labels.NAME }}` and `{{ $value | printf "%.2f" }}`.
/// Anything else is a template this test does not know, and fails it.
fn expand(template: &str, labels: &Map<String, Value>, value: f64) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed template") + start;
        let inner = rest[start + 2..end].trim();
        if let Some(name) = inner.strip_prefix("$labels.") {
            out.push_str(labels[name].as_str().unwrap());
        } else if inner == "$value | printf \"%.2f\"" {
            out.push_str(&format!("{value:.2}"));
        } else {
            panic!("unknown template {inner:?} in {template:?}");
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// One alert `promtool test rules` must see firing: the rule's own labels plus
/// `labels`, its annotations expanded for them and `value`.
fn expected_alert(rule: &Value, labels: &[(&str, &str)], value: f64) -> Value {
    let mut all: Map<String, Value> = rule["labels"].as_object().cloned().unwrap_or_default();
    for (k, v) in labels {
        all.insert((*k).to_string(), json!(v));
    }
    let annotations: Map<String, Value> = rule["annotations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, t)| (k.clone(), json!(expand(t.as_str().unwrap(), &all, value))))
        .collect();
    json!({"exp_labels": all, "exp_annotations": annotations})
}

fn series(name: &str, labels: &[(String, String)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// Writes the rendered rules and a unit test file next to each other and runs
/// `promtool test rules` on them.
fn promtool_test(alerts_yml: &str, tests: &Value) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alerts.yml"), alerts_yml).unwrap();
    let file = json!({
        "rule_files": ["alerts.yml"],
        "evaluation_interval": "1m",
        "tests": tests,
    });
    // JSON is YAML: no quoting of the series selectors to get wrong.
    std::fs::write(
        dir.path().join("test.yml"),
        serde_json::to_string_pretty(&file).unwrap(),
    )
    .unwrap();
    run("promtool", &["test", "rules", "test.yml"], dir.path())
}

// ---------------------------------------------------------------------------
// the files as a whole

#[test]
fn promtool_and_amtool_accept_what_every_aiops_profile_renders() {
    if !have(&["promtool", "amtool"]) {
        return;
    }
    // Every receiver on, so amtool reads each kind of receiver stackctl writes.
    let receivers = [
        "alertmanager.receivers.webhook.enabled=true",
        "alertmanager.receivers.webhook.url=http://hooks.example.com/alerts",
        "alertmanager.receivers.email.enabled=true",
        "alertmanager.receivers.email.to=ops@example.com",
        "alertmanager.receivers.email.from=alerts@example.com",
        "alertmanager.receivers.email.smarthost=smtp.example.com:587",
        "alertmanager.receivers.email.username=alerts",
        "alertmanager.receivers.email.password=Secret1",
        "alertmanager.receivers.slack.enabled=true",
        "alertmanager.receivers.slack.apiUrl=https://hooks.slack.com/services/T0/B0/X",
    ];
    let variants = AIOPS_PROFILES
        .iter()
        .map(|p| (*p, &[][..]))
        .chain([("aiops", &receivers[..])]);
    for (profile, sets) in variants {
        eprintln!("=== {profile} {sets:?}");
        let ms = render(profile, sets);
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name).to_str().unwrap().to_string();

        // The rules file, and every rule of it counted.
        let alerts = prometheus_file(&ms, "alerts.yml");
        let rules: usize = yaml(&alerts)["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["rules"].as_array().unwrap().len())
            .sum();
        assert!(rules > 0, "{profile}: no alert rules rendered");
        for (name, text) in prometheus_files(&ms) {
            std::fs::write(at(&name), text).unwrap();
        }
        let out = run(
            "promtool",
            &["check", "rules", &at("alerts.yml")],
            dir.path(),
        );
        assert_ok(&out, &format!("{profile}: promtool check rules"));
        assert!(
            stdout(&out).contains(&format!("SUCCESS: {rules} rules found")),
            "{profile}: {}",
            stdout(&out)
        );

        // prometheus.yml, in a copy with two changes: the files it names where the
        // pod has them (the ConfigMap at CONFIG_DIR) are where this test wrote
        // them, and each `kubernetes_sd_configs` block is gone (see
        // `without_kubernetes_sd`). A pass proves the rest parses (globals, every
        // scrape job with its relabelling: actions, regexes, target labels) and
        // the rule files check. It does not prove that Kubernetes discovery is
        // written right (the unit tests check its fields), that it finds the pods
        // (that needs the API and the RBAC), which labels the relabelling gives a
        // real target, or that the StatefulSet's flags are right.
        let config = prometheus_file(&ms, "prometheus.yml");
        let moved = config.replace(
            &format!("{CONFIG_DIR}/"),
            &format!("{}/", dir.path().display()),
        );
        assert_ne!(
            moved, config,
            "{profile}: prometheus.yml names no file of its ConfigMap"
        );
        let discovering = yaml(&config)["scrape_configs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j.get("kubernetes_sd_configs").is_some())
            .count();
        let (moved, removed) = without_kubernetes_sd(&moved);
        assert_eq!(removed, discovering, "{profile}: {moved}");
        std::fs::write(at("prometheus.yml"), &moved).unwrap();
        let out = run(
            "promtool",
            &["check", "config", &at("prometheus.yml")],
            dir.path(),
        );
        assert_ok(&out, &format!("{profile}: promtool check config"));
        assert!(
            stdout(&out).contains(&format!("SUCCESS: {rules} rules found")),
            "{profile}: the rule file was not checked: {}",
            stdout(&out)
        );

        // alertmanager.yml, every receiver counted.
        let am = alertmanager_config(&ms);
        let receivers = yaml(&am)["receivers"].as_array().unwrap().len();
        std::fs::write(at("alertmanager.yml"), &am).unwrap();
        let out = run(
            "amtool",
            &["check-config", &at("alertmanager.yml")],
            dir.path(),
        );
        assert_ok(&out, &format!("{profile}: amtool check-config"));
        let said = stdout(&out);
        assert!(said.contains("SUCCESS"), "{profile}: {said}");
        assert!(
            said.contains(&format!("- {receivers} receivers")),
            "{profile}: {said}"
        );
    }
}

// ---------------------------------------------------------------------------
// the rules, fed series

/// One pod as kube-state-metrics reports it (v2.15.0, internal/store/pod.go): a
/// `kube_pod_status_phase` series per phase (1 for the current one) and a
/// `kube_pod_status_ready` series per condition status, all with `namespace`,
/// `pod` and `uid`, plus the scrape's labels.
fn pod_series(
    scrape: &[(String, String)],
    pod: &str,
    phase: &str,
    ready: bool,
    samples: u64,
) -> Vec<Value> {
    let mut out = Vec::new();
    let base = |extra: (&str, &str)| {
        let mut labels = vec![
            ("namespace".to_string(), NAMESPACE.to_string()),
            ("pod".to_string(), pod.to_string()),
            ("uid".to_string(), format!("uid-{pod}")),
            (extra.0.to_string(), extra.1.to_string()),
        ];
        labels.extend(scrape.iter().cloned());
        labels
    };
    for p in ["Pending", "Succeeded", "Failed", "Unknown", "Running"] {
        out.push(json!({
            "series": series("kube_pod_status_phase", &base(("phase", p))),
            "values": format!("{}x{samples}", u8::from(p == phase)),
        }));
    }
    for (condition, on) in [("true", ready), ("false", !ready), ("unknown", false)] {
        out.push(json!({
            "series": series("kube_pod_status_ready", &base(("condition", condition))),
            "values": format!("{}x{samples}", u8::from(on)),
        }));
    }
    out
}

#[test]
fn pod_not_ready_fires_for_unready_live_pods_only() {
    if !have(&["promtool"]) {
        return;
    }
    let ms = render("aiops", &[]);
    let alerts = prometheus_file(&ms, "alerts.yml");
    let rule = alert_rule(&yaml(&alerts), "PodNotReady");
    let scrape = scrape_labels(
        &yaml(&prometheus_file(&ms, "prometheus.yml")),
        "kube-state-metrics",
    );
    let wait = minutes(&rule);
    let samples = wait + 10;
    let mut input = Vec::new();
    for (pod, phase, ready) in [
        ("stuck", "Running", false),
        ("starting", "Pending", false),
        ("healthy", "Running", true),
        // Finished pods are never ready again: a Job's pod, a probe's pod, a
        // Job's failed try kept for its log.
        ("job-done", "Succeeded", false),
        ("probe-done", "Succeeded", false),
        ("job-try-1", "Failed", false),
    ] {
        input.extend(pod_series(&scrape, pod, phase, ready, samples));
    }
    let firing = |pod: &str| expected_alert(&rule, &[("namespace", NAMESPACE), ("pod", pod)], 1.0);
    let tests = json!([{
        "interval": "1m",
        "input_series": input,
        "alert_rule_test": [
            // Not yet: the condition has not held for `for:`.
            {"eval_time": format!("{}m", wait - 1), "alertname": "PodNotReady", "exp_alerts": []},
            {"eval_time": format!("{}m", wait + 1), "alertname": "PodNotReady",
             "exp_alerts": [firing("stuck"), firing("starting")]},
            {"eval_time": format!("{}m", wait + 9), "alertname": "PodNotReady",
             "exp_alerts": [firing("stuck"), firing("starting")]},
        ],
    }]);
    let out = promtool_test(&alerts, &tests);
    assert_ok(&out, "promtool test rules (PodNotReady)");
}

/// Durations of the requests the edge tests send, and how many per minute.
const FAST_SECONDS: f64 = 0.05;
const REQUESTS_PER_MINUTE: u32 = 1000;

/// `histogram_quantile(q, ...)` of requests with durations `observed` as Prometheus
/// computes it from cumulative buckets with upper `bounds` (plus `+Inf`): linear
/// inside the bucket the rank falls in, and the highest finite bound when it falls
/// in `+Inf` (prometheus/prometheus promql/quantile.go: `bucketQuantile` at
/// v2.42.0, `BucketQuantile` at v3.4.1, the same on these points).
fn histogram_quantile(q: f64, bounds: &[f64], observed: &[(f64, u32)]) -> f64 {
    let count_le = |b: f64| -> f64 {
        observed
            .iter()
            .filter(|(d, _)| *d <= b)
            .map(|(_, n)| f64::from(*n))
            .sum()
    };
    let total: f64 = observed.iter().map(|(_, n)| f64::from(*n)).sum();
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &b in bounds {
        let count = count_le(b);
        if count >= rank {
            let (lo, below) = lower;
            return lo + (b - lo) * (rank - below) / (count - below);
        }
        lower = (b, count);
    }
    *bounds.last().unwrap()
}

#[test]
fn edge_alerts_fire_on_series_shaped_like_traefiks() {
    if !have(&["promtool"]) {
        return;
    }
    let ms = render("aiops", &[]);
    let alerts = prometheus_file(&ms, "alerts.yml");
    let rules = yaml(&alerts);
    let slow_rule = alert_rule(&rules, "HighResponseTime");
    let error_rule = alert_rule(&rules, "HighErrorRate");
    let scrape = scrape_labels(&yaml(&prometheus_file(&ms, "prometheus.yml")), "traefik");

    // The buckets Traefik exports: its flag, else its defaults.
    let traefik = find(&ms, "Deployment", "-traefik");
    let bounds: Vec<f64> = traefik["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|a| {
            a.as_str()
                .unwrap()
                .strip_prefix("--metrics.prometheus.buckets=")
        })
        .map_or_else(
            || TRAEFIK_DEFAULT_BUCKETS.to_vec(),
            |list| list.split(',').map(|b| b.parse().unwrap()).collect(),
        );

    // Three services behind Traefik, REQUESTS_PER_MINUTE each: `fast` answers
    // everything at once; `slow` takes twice the threshold for 10% of its requests
    // (so its 95th percentile is above it); `failing` answers 5xx to twice the
    // allowed share.
    let limit = threshold(&slow_rule);
    let slow_share = REQUESTS_PER_MINUTE / 10;
    let slow: Vec<(f64, u32)> = vec![
        (FAST_SECONDS, REQUESTS_PER_MINUTE - slow_share),
        (2.0 * limit, slow_share),
    ];
    let fast = vec![(FAST_SECONDS, REQUESTS_PER_MINUTE)];
    let p95 = histogram_quantile(0.95, &bounds, &slow);
    assert!(
        p95 > limit,
        "with buckets {bounds:?} the 95th percentile reads {p95}s when 10% of requests \
         take {}s: HighResponseTime (> {limit}) can never fire",
        2.0 * limit
    );
    let error_percent = threshold(&error_rule);
    let errors = (2.0 * error_percent / 100.0 * f64::from(REQUESTS_PER_MINUTE)).round() as u32;
    assert!(errors < REQUESTS_PER_MINUTE, "threshold {error_percent}%");

    let samples = minutes(&slow_rule).max(minutes(&error_rule)) + 12;
    let labels = |service: &str, code: &str| {
        let mut l = vec![
            ("code".to_string(), code.to_string()),
            ("method".to_string(), "GET".to_string()),
            ("protocol".to_string(), "http".to_string()),
            ("service".to_string(), service.to_string()),
        ];
        l.extend(scrape.iter().cloned());
        l
    };
    // Counters growing by the same amount every minute.
    let counter = |per_minute: f64| format!("0+{per_minute}x{samples}");
    let mut input = Vec::new();
    for (service, observed) in [("slow@kubernetes", &slow), ("fast@kubernetes", &fast)] {
        let count_le = |b: f64| -> f64 {
            observed
                .iter()
                .filter(|(d, _)| *d <= b)
                .map(|(_, n)| f64::from(*n))
                .sum()
        };
        let total = count_le(f64::INFINITY);
        for b in bounds.iter().copied().chain([f64::INFINITY]) {
            let le = if b.is_infinite() {
                "+Inf".to_string()
            } else {
                b.to_string()
            };
            let mut l = labels(service, "200");
            l.push(("le".into(), le));
            input.push(json!({
                "series": series("traefik_service_request_duration_seconds_bucket", &l),
                "values": counter(count_le(b)),
            }));
        }
        input.push(json!({
            "series": series("traefik_service_request_duration_seconds_count", &labels(service, "200")),
            "values": counter(total),
        }));
        input.push(json!({
            "series": series("traefik_service_requests_total", &labels(service, "200")),
            "values": counter(total),
        }));
    }
    input.push(json!({
        "series": series("traefik_service_requests_total", &labels("failing@kubernetes", "200")),
        "values": counter(f64::from(REQUESTS_PER_MINUTE - errors)),
    }));
    input.push(json!({
        "series": series("traefik_service_requests_total", &labels("failing@kubernetes", "502")),
        "values": counter(f64::from(errors)),
    }));

    // Rates need two samples: conditions hold from 1m on.
    let slow_at = minutes(&slow_rule) + 6;
    let error_at = minutes(&error_rule) + 6;
    let error_value = 100.0 * f64::from(errors) / f64::from(REQUESTS_PER_MINUTE);
    let tests = json!([{
        "interval": "1m",
        "input_series": input,
        "alert_rule_test": [
            {"eval_time": format!("{slow_at}m"), "alertname": "HighResponseTime",
             "exp_alerts": [expected_alert(&slow_rule, &[("service", "slow@kubernetes")], p95)]},
            {"eval_time": format!("{error_at}m"), "alertname": "HighErrorRate",
             "exp_alerts": [expected_alert(&error_rule, &[("service", "failing@kubernetes")], error_value)]},
        ],
    }]);
    let out = promtool_test(&alerts, &tests);
    assert_ok(&out, "promtool test rules (edge)");
}
