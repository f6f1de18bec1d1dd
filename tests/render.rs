//! Rendering every profile: golden snapshots (deterministic with a seeded generator)
//! and acceptance by a real API server through server-side apply with dryRun=All,
//! which catches what a schema cannot (selector vs labels, name lengths, port names,
//! volume and mount names, env var names).

mod common;

use rand::SeedableRng;
use rand::rngs::StdRng;
use stackctl::apply::apply_all;
use stackctl::cluster::Resolver;
use stackctl::model::Capabilities;
use stackctl::operations::{Input, prepare_with_rng};
use stackctl::plan::Plan;
use stackctl::values::{SetFlag, SetKind};

const PROFILES: [&str; 7] = [
    "minimal",
    "default",
    "production",
    "external-services",
    "aiops-minimal",
    "aiops",
    "aiops-production",
];

/// The namespace a profile's golden snapshot is rendered for: its stack's default.
fn snapshot_namespace(profile: &str) -> &'static str {
    if profile.starts_with("aiops") {
        "aiops"
    } else {
        "clickvisual"
    }
}

/// Values a profile cannot default: the external profile's password, the images of
/// the AIOps in-house services (built by their users).
fn required_sets(profile: &str) -> Vec<SetFlag> {
    let raw: &[&str] = match profile {
        "external-services" => &["mysql.external.password=example"],
        "aiops" | "aiops-production" => &[
            "aiEngine.image.repository=registry.example.com/aiops/ai-engine",
            "aiEngine.image.tag=1.0.0",
            "apiGateway.image.repository=registry.example.com/aiops/api-gateway",
            "apiGateway.image.tag=1.0.0",
            "selfHealing.image.repository=registry.example.com/aiops/self-healing",
            "selfHealing.image.tag=1.0.0",
        ],
        _ => &[],
    };
    raw.iter()
        .map(|r| SetFlag {
            kind: SetKind::Set,
            raw: r.to_string(),
        })
        .collect()
}

fn plan(profile: &str, namespace: &str, caps: Capabilities) -> Plan {
    let input = Input {
        profile: Some(profile.to_string()),
        namespace: Some(namespace.to_string()),
        sets: required_sets(profile),
        ..Default::default()
    };
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
        let plan = plan(profile, &ns, caps);
        let manifests: Vec<_> = plan.manifests().cloned().collect();
        match apply_all(&resolver, &manifests, true).await {
            Ok(applied) => assert_eq!(applied.len(), manifests.len()),
            Err(errors) => failures.extend(errors.into_iter().map(|e| format!("{profile}: {e:#}"))),
        }
        common::drop_namespace(&client, &ns).await;
    }
    assert!(
        failures.is_empty(),
        "rejected by the API server:\n{}",
        failures.join("\n")
    );
}
