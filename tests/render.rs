//! Rendering every profile: golden snapshots (deterministic with a seeded generator)
//! and acceptance by a real API server through server-side apply with dryRun=All,
//! which catches what a schema cannot (selector vs labels, name lengths, port names,
//! volume and mount names, env var names).

mod common;

use rand::SeedableRng;
use rand::rngs::StdRng;
use stackctl::apply::apply_all;
use stackctl::cluster::Resolver;
use stackctl::model::{Capabilities, MAX_RELEASE_NAME};
use stackctl::operations::{Input, prepare_with_rng};
use stackctl::plan::Plan;
use stackctl::profiles;

use common::PROFILES;

/// The namespace a profile's golden snapshot is rendered for: its stack's default.
fn snapshot_namespace(profile: &str) -> &'static str {
    if profile.starts_with("aiops") {
        "aiops"
    } else {
        "clickvisual"
    }
}

fn plan(profile: &str, namespace: &str, caps: Capabilities) -> Plan {
    plan_for(profile, None, namespace, caps)
}

fn plan_for(profile: &str, release: Option<String>, namespace: &str, caps: Capabilities) -> Plan {
    let input = common::profile_input(profile, release, Some(namespace.to_string()));
    let prepared = prepare_with_rng(&input, &mut StdRng::seed_from_u64(42))
        .unwrap_or_else(|e| panic!("profile {profile}: {e:#}"));
    prepared.plan(caps).unwrap()
}

#[test]
fn golden_manifests_for_every_profile() {
    for profile in PROFILES {
        let yaml = plan(profile, snapshot_namespace(profile), Capabilities::latest())
            .to_yaml()
            .unwrap();
        insta::assert_snapshot!(format!("template-{profile}"), yaml);
    }
}

#[test]
fn a_profile_names_what_it_requires_before_anything_is_rendered() {
    for profile in profiles::builtin()
        .into_iter()
        .filter(|p| !p.requires.is_empty())
    {
        let input = Input {
            profile: Some(profile.name.clone()),
            namespace: Some(snapshot_namespace(&profile.name).to_string()),
            ..Default::default()
        };
        let err = match prepare_with_rng(&input, &mut StdRng::seed_from_u64(42)) {
            Ok(_) => panic!("profile {} prepared without its requirements", profile.name),
            Err(e) => format!("{e:#}"),
        };
        for r in &profile.requires {
            assert!(
                err.contains(&format!("{}: required by the profile", r.key)),
                "{err}"
            );
        }
        assert!(err.contains(&profile.source), "{err}");
    }
}

#[test]
fn rendering_is_deterministic_for_a_seed() {
    let a = plan("production", "ns", Capabilities::latest())
        .to_yaml()
        .unwrap();
    let b = plan("production", "ns", Capabilities::latest())
        .to_yaml()
        .unwrap();
    assert_eq!(a, b);
}

#[tokio::test]
async fn every_profile_is_accepted_by_the_api_server() {
    let client = common::cluster().await;
    let (_, caps) = stackctl::cluster::capabilities(&client).await.unwrap();
    let resolver = Resolver::new(client.clone());
    let mut failures = Vec::new();
    for profile in PROFILES {
        let ns = common::namespace(&client, &format!("dry-{profile}")).await;
        // At the longest name the rule allows, so every derived name is tried at its
        // longest (see tests/release_names.rs for the limits controllers add).
        let longest = format!("r{}", "x".repeat(MAX_RELEASE_NAME - 1));
        let plan = plan_for(profile, Some(longest), &ns, caps);
        let manifests: Vec<_> = plan.manifests().cloned().collect();
        match apply_all(&resolver, &manifests, true).await {
            Ok(applied) => assert_eq!(applied.len(), manifests.len()),
            Err(errors) => {
                failures.extend(errors.into_iter().map(|(_, e)| format!("{profile}: {e:#}")));
            }
        }
        common::drop_namespace(&client, &ns).await;
    }
    assert!(
        failures.is_empty(),
        "rejected by the API server:\n{}",
        failures.join("\n")
    );
}

/// A namespaced object that names no namespace is refused before it is written,
/// never sent to the kubeconfig's default namespace (where a rendering bug
/// once put a release's claim).
#[tokio::test]
async fn a_namespaced_object_without_a_namespace_is_never_written() {
    let client = common::cluster().await;
    let resolver = Resolver::new(client.clone());
    let (_, caps) = stackctl::cluster::capabilities(&client).await.unwrap();
    let plan = plan_for("minimal", None, "anywhere", caps);
    let mut secret = plan
        .manifests()
        .find(|m| m.kind == "Secret")
        .cloned()
        .unwrap();
    secret.namespace = None;
    secret.body["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    let errors = apply_all(&resolver, &[secret], true).await.unwrap_err();
    let message = format!("{:#}", errors[0].1);
    assert!(message.contains("names no namespace"), "{message}");
}
