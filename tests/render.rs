//! Rendering every profile: golden snapshots (deterministic with a seeded generator)
//! and acceptance by a real API server through server-side apply with dryRun=All,
//! which catches what a schema cannot (selector vs labels, name lengths, port names,
//! volume and mount names, env var names).

mod common;

use rand::SeedableRng;
use rand::rngs::StdRng;
use stackctl::apply::{Resolver, apply_all};
use stackctl::cli::{GlobalArgs, OutputFormat, ValuesArgs};
use stackctl::commands::prepare_with_rng;
use stackctl::plan::Plan;
use stackctl::stacks::component::Capabilities;
use stackctl::values::{SetFlag, SetKind};

const PROFILES: [&str; 4] = ["minimal", "default", "production", "external-services"];

fn global(namespace: &str) -> GlobalArgs {
    GlobalArgs {
        kubeconfig: None,
        context: None,
        namespace: Some(namespace.to_string()),
        output: OutputFormat::Text,
        verbose: 0,
        quiet: true,
        no_color: true,
    }
}

fn plan(profile: &str, namespace: &str, caps: Capabilities) -> Plan {
    let args = ValuesArgs {
        profile: Some(profile.to_string()),
        // The external profile needs the one value it cannot default.
        ordered_sets: if profile == "external-services" {
            vec![SetFlag {
                kind: SetKind::Set,
                raw: "mysql.external.password=example".into(),
            }]
        } else {
            Vec::new()
        },
        ..Default::default()
    };
    let prepared = prepare_with_rng(&global(namespace), &args, &mut StdRng::seed_from_u64(42))
        .unwrap_or_else(|e| panic!("profile {profile}: {e:#}"));
    prepared.plan(caps).unwrap()
}

#[test]
fn golden_manifests_for_every_profile() {
    for profile in PROFILES {
        let yaml = plan(profile, "clickvisual", Capabilities::latest())
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
