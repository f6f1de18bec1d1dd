//! Every rendered workload and connectivity probe Job of every built-in profile
//! against its image's contract (src/stacks/contracts/), and `docs/images.md`
//! against the contracts. Renders only: no cluster is needed.

mod common;

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use stackctl::model::Capabilities;
use stackctl::operations::prepare_with_rng;
use stackctl::probe::job::{JobParams, render};
use stackctl::stacks::contracts;

use common::PROFILES;

/// One profile's objects: the plan's manifests and a Job per probe.
fn objects(profile: &str) -> Vec<serde_json::Value> {
    let input = common::profile_input(profile, None, Some("ns".into()));
    let prepared = prepare_with_rng(&input, &mut StdRng::seed_from_u64(42))
        .unwrap_or_else(|e| panic!("profile {profile}: {e:#}"));
    let mut out: Vec<_> = prepared
        .plan(Capabilities::latest())
        .unwrap()
        .manifests()
        .map(|m| m.body.clone())
        .collect();
    let specs = prepared
        .stack
        .probes(&prepared.values, &prepared.release)
        .unwrap();
    for spec in &specs {
        let job = render(
            spec,
            &JobParams {
                release: &prepared.release,
                name: format!("test-{}", spec.component),
                run_id: "r",
                timeout: Duration::from_secs(60),
                extra_env: Vec::new(),
            },
        );
        out.push(serde_json::to_value(job).unwrap());
    }
    out
}

#[test]
fn every_container_of_every_profile_keeps_its_image_contract() {
    let mut mismatches = Vec::new();
    for profile in PROFILES {
        mismatches.extend(
            contracts::check(profile, &objects(profile))
                .into_iter()
                .filter(|m| m.excused.is_none()),
        );
    }
    assert!(
        mismatches.is_empty(),
        "{} departures from the image contracts (fix the rendering, or the contract with its source):\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_probe_job_is_checked_too() {
    // A probe Job is only checked if the profile renders one: make sure they are there.
    let objs = objects("default");
    let probes = objs
        .iter()
        .filter(|o| {
            o["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("test-"))
        })
        .count();
    assert!(probes >= 5, "only {probes} probe Jobs rendered");
}

#[test]
fn docs_images_md_is_generated_from_the_contracts() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images.md");
    let want = contracts::markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/images.md is stale: run `UPDATE_DOCS=1 cargo test --test contracts` and commit it"
    );
}

#[test]
fn every_exception_still_excuses_something() {
    let mut used = std::collections::BTreeSet::new();
    for profile in PROFILES {
        for m in contracts::check(profile, &objects(profile)) {
            if let Some((image, e)) = m.excused {
                used.insert((image, e.container, format!("{:?}", e.rule)));
            }
        }
    }
    let stale: Vec<String> = contracts::all()
        .into_iter()
        .flat_map(|c| c.exceptions.iter().map(move |e| (c.image, e)))
        // The probe policy (a client as nobody, writing only /tmp) holds for every
        // image a probe runs, whether or not that image's own user differs today.
        .filter(|(_, e)| e.container != "probe")
        .filter(|(image, e)| !used.contains(&(*image, e.container, format!("{:?}", e.rule))))
        .map(|(image, e)| format!("{image}: container {} {:?}: {}", e.container, e.rule, e.why))
        .collect();
    assert!(
        stale.is_empty(),
        "exceptions no rendered container needs any more (remove them):\n{}",
        stale.join("\n")
    );
}

/// Preflight refuses a cluster older than a component needs (`kube_requirements`):
/// every image whose contract names a minimum Kubernetes must be covered there, at
/// that minimum or above, wherever a profile runs it.
#[test]
fn preflight_knows_every_minimum_kubernetes_the_contracts_name() {
    let mut missing = Vec::new();
    for profile in PROFILES {
        let input = common::profile_input(profile, None, Some("ns".into()));
        let prepared = prepare_with_rng(&input, &mut StdRng::seed_from_u64(42)).unwrap();
        let requirements = prepared.stack.kube_requirements(&prepared.values).unwrap();
        let plan = prepared.plan(Capabilities::latest()).unwrap();
        for m in plan.manifests() {
            let Some(pod) = contracts::pod_spec(&m.body) else {
                continue;
            };
            for c in pod["containers"].as_array().into_iter().flatten() {
                let image = c["image"].as_str().unwrap_or_default();
                let Some(contract) = contracts::find(image, &m.component) else {
                    continue;
                };
                let Some(min) = contract.min_kubernetes.value else {
                    continue;
                };
                let minor: u32 = min.trim_start_matches("1.").parse().unwrap();
                if !requirements
                    .iter()
                    .any(|r| r.component == m.component && r.min_minor >= minor)
                {
                    missing.push(format!(
                        "{profile}: {} runs {image}, which needs Kubernetes {min}",
                        m.component
                    ));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}
