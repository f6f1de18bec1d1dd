//! The `storage` → `persistence` rename, through the stacks' own resolve path:
//! every kind of layer, `--set`, and a release record written before the rename.

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

use crate::stacks::{ResolvedValues, Stack, aiops, clickvisual};
use crate::values::{Layer, Problems, SetFlag};

/// The in-house services need images the user builds; off, the defaults are valid.
const NO_INHOUSE: [&str; 3] = [
    "aiEngine.enabled=false",
    "apiGateway.enabled=false",
    "selfHealing.enabled=false",
];

fn resolve_aiops(extra: &[Layer], sets: &[&str]) -> Result<ResolvedValues, Problems> {
    let mut layers = vec![Layer::defaults(aiops::DEFAULTS_YAML)];
    layers.extend_from_slice(extra);
    let flags: Vec<SetFlag> = NO_INHOUSE
        .iter()
        .chain(sets)
        .map(|s| SetFlag::set(*s))
        .collect();
    aiops::STACK.resolve(&layers, &flags, &mut StdRng::seed_from_u64(7))
}

fn at<'v>(tree: &'v Value, path: &str) -> &'v Value {
    path.split('.').fold(tree, |v, k| &v[k])
}

#[test]
fn an_old_storage_key_in_a_file_lands_under_persistence() {
    let file = Layer::file("old.yaml", "redis:\n  storage:\n    size: 3Gi\n");
    let r = resolve_aiops(&[file], &[]).unwrap();
    assert_eq!(at(&r.tree, "redis.persistence.size"), "3Gi");
    // The default storageClass is kept: renamed keys merge like any other.
    assert_eq!(at(&r.tree, "redis.persistence.storageClass"), "");
    assert!(at(&r.tree, "redis").get("storage").is_none());
    let rendered = aiops::STACK
        .render(&r, &release(), crate::model::Capabilities::latest())
        .unwrap();
    let claim = rendered
        .iter()
        .flat_map(|r| &r.manifests)
        .find(|m| m.kind == "StatefulSet" && m.name == "ops-redis")
        .unwrap();
    assert_eq!(
        claim.body["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "3Gi"
    );
}

#[test]
fn an_old_storage_key_in_a_set_flag_lands_under_persistence() {
    let r = resolve_aiops(&[], &["grafana.storage.size=2Gi"]).unwrap();
    assert_eq!(at(&r.tree, "grafana.persistence.size"), "2Gi");
    // Checks still name the key by its new name, with the flag as written.
    let err = resolve_aiops(&[], &["grafana.storage.storageClass=Bad_Name"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("grafana.persistence.storageClass: "), "{err}");
    assert!(
        err.contains("(from --set grafana.storage.storageClass=Bad_Name)"),
        "{err}"
    );
}

#[test]
fn a_file_setting_both_names_is_rejected_naming_both_and_the_file() {
    let file = Layer::file(
        "both.yaml",
        "prometheus:\n  persistence:\n    size: 5Gi\n  storage:\n    size: 4Gi\n",
    );
    let err = resolve_aiops(&[file], &[]).unwrap_err();
    assert_eq!(err.len(), 1, "{err}");
    let text = err.to_string();
    for needle in [
        "`prometheus.persistence`",
        "`prometheus.storage`",
        "-f both.yaml:4",
    ] {
        assert!(text.contains(needle), "{needle} not in {text}");
    }
}

#[test]
fn a_flag_setting_both_names_is_rejected_naming_both_and_the_flag() {
    let err = resolve_aiops(
        &[],
        &["prometheus.persistence.size=5Gi,prometheus.storage.storageClass=fast"],
    )
    .unwrap_err()
    .to_string();
    for needle in [
        "`prometheus.persistence`",
        "`prometheus.storage`",
        "--set prometheus.storage.storageClass",
    ] {
        assert!(err.contains(needle), "{needle} not in {err}");
    }
}

#[test]
fn separate_flags_are_separate_layers() {
    // Like two -f files: the later one overrides, nothing is ambiguous.
    let r = resolve_aiops(
        &[],
        &["redis.storage.size=3Gi", "redis.persistence.size=4Gi"],
    )
    .unwrap();
    assert_eq!(at(&r.tree, "redis.persistence.size"), "4Gi");
}

#[test]
fn a_release_recorded_with_storage_keys_still_resolves() {
    let current = resolve_aiops(&[], &["elasticsearch.persistence.size=77Gi"]).unwrap();
    // What a release stored before the rename: the same values, `storage` keys.
    let mut old = current.tree.clone();
    let mut renamed = 0;
    for component in old.as_object_mut().unwrap().values_mut() {
        if let Some(map) = component.as_object_mut()
            && let Some(p) = map.shift_remove("persistence")
        {
            map.insert("storage".into(), p);
            renamed += 1;
        }
    }
    assert_eq!(renamed, 7, "six data services and the backup volume");
    let record = Layer::tree("values of revision 1", old);
    let upgraded = resolve_aiops(&[record], &[]).unwrap();
    assert_eq!(at(&upgraded.tree, "elasticsearch.persistence.size"), "77Gi");
    assert_eq!(upgraded.tree, current.tree);
    assert!(upgraded.generated.is_empty(), "{:?}", upgraded.generated);
}

#[test]
fn a_record_with_storage_keys_renders_and_probes_as_stored() {
    // `stackctl test` and rollbacks use a record's values without resolving them.
    let current = resolve_aiops(&[], &["redis.persistence.size=6Gi"]).unwrap();
    let mut old = current.clone();
    let redis = old.tree["redis"].as_object_mut().unwrap();
    let p = redis.shift_remove("persistence").unwrap();
    redis.insert("storage".into(), p);
    let caps = crate::model::Capabilities::latest();
    let render = |v: &ResolvedValues| {
        serde_json::to_value(
            aiops::STACK
                .render(v, &release(), caps)
                .unwrap()
                .iter()
                .flat_map(|r| r.manifests.iter().map(|m| m.body.clone()))
                .collect::<Vec<_>>(),
        )
        .unwrap()
    };
    assert_eq!(render(&old), render(&current));
    assert_eq!(
        aiops::STACK.probes(&old, &release()).unwrap().len(),
        aiops::STACK.probes(&current, &release()).unwrap().len()
    );
}

#[test]
fn clickvisual_accepts_the_old_name_too() {
    let r = clickvisual::STACK
        .resolve(
            &[
                Layer::defaults(clickvisual::DEFAULTS_YAML),
                Layer::file("old.yaml", "mysql:\n  storage:\n    size: 9Gi\n"),
            ],
            &[],
            &mut StdRng::seed_from_u64(7),
        )
        .unwrap();
    assert_eq!(at(&r.tree, "mysql.persistence.size"), "9Gi");
}

fn release() -> crate::model::Release {
    crate::model::Release {
        name: "ops".into(),
        namespace: "aiops".into(),
        stack: "aiops",
        revision: 1,
    }
}

fn resolve_clickvisual(sets: &[&str]) -> Result<ResolvedValues, Problems> {
    let flags: Vec<SetFlag> = sets.iter().map(|s| SetFlag::set(*s)).collect();
    clickvisual::STACK.resolve(
        &[Layer::defaults(clickvisual::DEFAULTS_YAML)],
        &flags,
        &mut StdRng::seed_from_u64(7),
    )
}

#[test]
fn a_stacks_own_global_and_ingress_keys_are_its_own() {
    // Shared keys and each stack's own sit in one map, yet stay closed per stack.
    let r = resolve_aiops(
        &[],
        &["global.development=false", "global.storageClass=fast"],
    )
    .unwrap();
    assert_eq!(r.tree["global"]["development"], false);
    assert_eq!(r.tree["global"]["storageClass"], "fast");
    let err = resolve_aiops(&[], &["ingress.path=/x", "global.bogus=1"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("ingress.path: unknown key"), "{err}");
    assert!(err.contains("global.bogus: unknown key"), "{err}");

    let r = resolve_clickvisual(&[
        "ingress.enabled=true",
        "ingress.path=/cv",
        "clickvisual.subPathBuild=true",
    ])
    .unwrap();
    assert_eq!(r.tree["ingress"]["path"], "/cv");
    let err = resolve_clickvisual(&["global.development=true"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("global.development: unknown key"), "{err}");
}

#[test]
fn without_its_own_rbac_a_component_must_be_told_whose_account_to_use() {
    let err = resolve_clickvisual(&["fluentbit.rbac.create=false"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "fluentbit.serviceAccount.name: required when fluentbit.rbac.create is false (from --set fluentbit.rbac.create=false)"
        ),
        "{err}"
    );
    let err = resolve_aiops(
        &[],
        &[
            "traefik.rbac.create=false",
            "kubeStateMetrics.rbac.create=false",
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("traefik.serviceAccount.name: required"),
        "{err}"
    );
    assert!(
        err.contains("kubeStateMetrics.serviceAccount.name: required"),
        "{err}"
    );
    // A component that is off needs no account; a name must be a valid one.
    resolve_clickvisual(&["fluentbit.rbac.create=false", "fluentbit.enabled=false"]).unwrap();
    resolve_aiops(
        &[],
        &[
            "kubeStateMetrics.rbac.create=false",
            "prometheus.enabled=false",
        ],
    )
    .unwrap();
    let err = resolve_clickvisual(&["fluentbit.serviceAccount.name=Not_A_Name"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("fluentbit.serviceAccount.name: "), "{err}");
    let err = resolve_clickvisual(&["fluentbit.rbac.bogus=1"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("fluentbit.rbac.bogus: unknown key"), "{err}");
    resolve_clickvisual(&[
        "fluentbit.rbac.create=false",
        "fluentbit.serviceAccount.name=logs-reader",
    ])
    .unwrap();
}

#[test]
fn records_from_before_the_rbac_keys_still_read() {
    // Values stored by releases installed before `rbac` and `serviceAccount` existed
    // are typed as they are (`stackctl test` does), without the defaults layer.
    let mut r = resolve_clickvisual(&[]).unwrap();
    let fb = r.tree["fluentbit"].as_object_mut().unwrap();
    fb.remove("rbac");
    fb.remove("serviceAccount");
    let rendered = clickvisual::STACK
        .render(&r, &cv_release(), crate::model::Capabilities::latest())
        .unwrap();
    assert!(
        rendered
            .iter()
            .flat_map(|r| &r.manifests)
            .any(|m| m.kind == "ClusterRole" && m.component == "fluentbit")
    );
}

fn cv_release() -> crate::model::Release {
    crate::model::Release {
        name: "cv".into(),
        namespace: "clickvisual".into(),
        stack: "clickvisual",
        revision: 1,
    }
}
