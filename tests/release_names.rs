//! The one release-name rule (`model::check_release_name`) against what the stacks
//! derive from it: rendered at the longest allowed name, every name Kubernetes
//! limits must still fit. (`render.rs` has the API server dry-run every profile at
//! this length; this test covers the limits that only controllers enforce later.)

use rand::{SeedableRng, rngs::StdRng};
use stackctl::model::{Capabilities, MAX_RELEASE_NAME, check_release_name};
use stackctl::operations::{Input, prepare_with_rng};

mod common;

/// Revisions only grow: a release upgraded ten million times still fits.
const LARGEST_REVISION: u32 = 9_999_999;

fn longest_name() -> String {
    let name = format!("r{}", "x".repeat(MAX_RELEASE_NAME - 1));
    check_release_name(&name).unwrap();
    name
}

#[test]
fn a_longer_name_is_refused() {
    let too_long = format!("{}x", longest_name());
    let err = check_release_name(&too_long).unwrap_err().to_string();
    assert!(
        err.contains(&format!("longer than {MAX_RELEASE_NAME}")),
        "{err}"
    );
}

/// Names a controller turns into label values (63 characters at most): a Job's
/// `job-name` label on its pods; a StatefulSet's `controller-revision-hash`
/// (`<name>-<10-character hash>`) and `statefulset.kubernetes.io/pod-name`; a
/// CronJob's Jobs (`<name>-<11-digit time>`). Services are DNS-1035 labels.
fn limit(kind: &str) -> usize {
    match kind {
        "StatefulSet" | "CronJob" => 52,
        "Service" | "Job" => 63,
        _ => 253,
    }
}

#[test]
fn every_profile_fits_at_the_longest_release_name() {
    let release = longest_name();
    let mut problems = Vec::new();
    for profile in common::PROFILES {
        let input = common::profile_input(profile, Some(release.clone()), Some("n".repeat(63)));
        let mut prepared = prepare_with_rng(&input, &mut StdRng::seed_from_u64(1)).unwrap();
        prepared.release.revision = LARGEST_REVISION;
        let plan = prepared.plan(Capabilities::latest()).unwrap();
        for m in plan.manifests() {
            if m.name.len() > limit(&m.kind) {
                problems.push(format!(
                    "{profile}: {} is {} characters (limit {})",
                    m.id(),
                    m.name.len(),
                    limit(&m.kind)
                ));
            }
            let labels = m.body["metadata"]["labels"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let template = m.body["spec"]["template"]["metadata"]["labels"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for (k, v) in labels.iter().chain(template.iter()) {
                let v = v.as_str().unwrap_or_default();
                if v.len() > 63 {
                    problems.push(format!("{profile}: {} label {k}={v} is over 63", m.id()));
                }
            }
            if m.kind == "Service" && m.name.contains('.') {
                problems.push(format!("{profile}: {} is no DNS-1035 label", m.id()));
            }
        }
        // The longest name must also be the one the limit was chosen for: a shorter
        // rule than needed would refuse names that work.
        let tightest = plan
            .manifests()
            .map(|m| limit(&m.kind) as i64 - m.name.len() as i64)
            .min()
            .unwrap();
        assert!(tightest >= 0, "{profile}: {tightest}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_limit_is_not_stricter_than_the_stacks_need() {
    // One character more breaks some profile: the rule is the strictest the derived
    // names need, not an arbitrary smaller number.
    let release = format!("r{}", "x".repeat(MAX_RELEASE_NAME));
    let mut tightest = i64::MAX;
    for profile in common::PROFILES {
        let input = common::profile_input(profile, Some(release.clone()), None);
        // The name is over the rule, so prepare refuses it; render with the rule's
        // name and measure what one more character would do.
        assert!(prepare_with_rng(&input, &mut StdRng::seed_from_u64(1)).is_err());
        let input = Input {
            release: Some(longest_name()),
            ..input
        };
        let mut prepared = prepare_with_rng(&input, &mut StdRng::seed_from_u64(1)).unwrap();
        prepared.release.revision = LARGEST_REVISION;
        for m in prepared.plan(Capabilities::latest()).unwrap().manifests() {
            tightest = tightest.min(limit(&m.kind) as i64 - m.name.len() as i64);
        }
    }
    assert_eq!(
        tightest, 0,
        "the longest derived name has {tightest} characters to spare"
    );
}
