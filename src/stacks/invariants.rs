//! Rules every stack's rendering must keep, checked over every built-in profile
//! through the engine's view of a stack — so a new stack is held to them unasked.

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::testing::required_input;
use super::{STACKS, Stack, find};
use crate::model::{Capabilities, Manifest, PHASE_ANNOTATION, RELEASE_LABEL, Release};
use crate::profiles;
use crate::values::fields::declared_checks;
use crate::values::schema::Child;
use crate::values::{EXTERNAL_MARKER, FieldCheck, Layer, Path, SchemaTree, Seg, SetFlag};

/// Switches no built-in profile turns on, each rendered on top of a profile of
/// its stack so that the invariants cover the objects they add.
const OPTIONS: &[(&str, &str)] = &[("aiops-minimal", "elasticsearch.snapshots.enabled=true")];

/// Every built-in profile rendered for release `rel` in namespace `ns-a`, with the
/// values it was rendered from, and those of [`OPTIONS`]. Profiles that need
/// input get their examples.
fn rendered() -> Vec<(String, Vec<crate::model::Rendered>, super::ResolvedValues)> {
    let profiles = profiles::builtin();
    let options = OPTIONS.iter().map(|(profile, set)| {
        let p = profiles.iter().find(|p| p.name == *profile).unwrap();
        (p, Some(*set))
    });
    profiles
        .iter()
        .map(|p| (p, None))
        .chain(options)
        .map(|(p, option)| {
            let stack: &dyn Stack = find(&p.stack).unwrap();
            let layers = [
                Layer::defaults(stack.defaults_yaml()),
                Layer::profile(&p.name, &p.source, p.yaml.clone()),
            ];
            let mut flags = required_input(p);
            let mut name = p.name.clone();
            if let Some(set) = option {
                flags.push(crate::values::SetFlag::set(set));
                name = format!("{name} --set {set}");
            }
            let values = stack
                .resolve(&layers, &flags, &mut StdRng::seed_from_u64(7))
                .unwrap_or_else(|e| panic!("profile {name}: {e}"));
            let release = Release {
                name: "rel".into(),
                namespace: "ns-a".into(),
                stack: stack.name(),
                revision: 1,
            };
            let components = stack
                .render(&values, &release, Capabilities::latest())
                .unwrap();
            (name, components, values)
        })
        .collect()
}

#[test]
fn a_profile_refuses_values_without_what_it_requires() {
    let needy: Vec<_> = profiles::builtin()
        .into_iter()
        .filter(|p| !p.requires.is_empty())
        .collect();
    assert!(!needy.is_empty(), "no built-in profile requires anything?");
    for p in needy {
        let stack = find(&p.stack).unwrap();
        let problems = stack
            .resolve(
                &[
                    Layer::defaults(stack.defaults_yaml()),
                    Layer::profile(&p.name, &p.source, p.yaml.clone()),
                ],
                &[],
                &mut StdRng::seed_from_u64(7),
            )
            .expect_err(&p.name);
        let declared = format!("(from profile {}: {}:", p.name, p.source);
        for r in &p.requires {
            let key = Path::parse(&r.key);
            let problem = problems
                .iter()
                .find(|x| x.path == key)
                .unwrap_or_else(|| panic!("{}: {} not reported: {problems}", p.name, r.key));
            let text = problem.to_string();
            assert!(text.contains("required by the profile"), "{text}");
            assert!(text.contains(&declared), "{text}");
            assert!(text.contains(&format!("--set {}=", r.key)), "{text}");
        }
    }
}

#[test]
fn a_requirement_of_a_switched_off_component_lapses() {
    let p = profiles::load("aiops").unwrap();
    let stack = find(&p.stack).unwrap();
    let layers = [
        Layer::defaults(stack.defaults_yaml()),
        Layer::profile(&p.name, &p.source, p.yaml.clone()),
    ];
    let mut sets = required_input(&p);
    sets.retain(|s| !s.raw.starts_with("aiEngine."));
    sets.push(SetFlag::set("aiEngine.enabled=false"));
    stack
        .resolve(&layers, &sets, &mut StdRng::seed_from_u64(7))
        .unwrap_or_else(|e| panic!("{e}"));
}

fn manifests(components: &[crate::model::Rendered]) -> impl Iterator<Item = &Manifest> {
    components.iter().flat_map(|r| &r.manifests)
}

#[test]
fn rendering_is_deterministic() {
    let (a, b) = (rendered(), rendered());
    for ((profile, x, _), (_, y, _)) in a.iter().zip(&b) {
        let (x, y): (Vec<_>, Vec<_>) = (manifests(x).collect(), manifests(y).collect());
        assert_eq!(x, y, "profile {profile} renders differently twice");
    }
}

#[test]
fn every_object_is_labelled_annotated_and_named_for_the_release() {
    for (profile, components, _) in rendered() {
        for m in manifests(&components) {
            let meta = &m.body["metadata"];
            let at = format!("{profile}: {}", m.id());
            assert_eq!(meta["labels"][RELEASE_LABEL], "rel", "{at}");
            assert_eq!(
                meta["labels"]["app.kubernetes.io/managed-by"], "stackctl",
                "{at}"
            );
            assert_eq!(
                meta["annotations"][PHASE_ANNOTATION],
                m.phase.as_str(),
                "{at}"
            );
            match (m.kind.as_str(), &m.namespace) {
                ("Namespace", _) => assert_eq!(m.name, "ns-a", "{at}"),
                (_, Some(ns)) => {
                    assert_eq!(ns, "ns-a", "{at}");
                    assert!(m.name.starts_with("rel-"), "{at}");
                }
                // Cluster-scoped names carry the namespace: two releases never collide.
                (_, None) => assert!(m.name.starts_with("ns-a-rel-"), "{at}"),
            }
            if matches!(
                m.kind.as_str(),
                "Secret" | "ConfigMap" | "ServiceAccount" | "Role" | "ClusterRole"
            ) {
                assert_eq!(m.phase.as_str(), "storage", "{at}: pods must find it");
            }
        }
    }
}

#[test]
fn pods_get_no_service_links_and_a_seccomp_profile() {
    for (profile, components, _) in rendered() {
        for m in manifests(&components) {
            if let Some(spec) = m.body["spec"]["template"]["spec"].as_object() {
                let at = format!("{profile}: {}", m.id());
                assert_eq!(spec["enableServiceLinks"], false, "{at}");
                assert!(
                    spec["securityContext"]["seccompProfile"].is_object(),
                    "{at}"
                );
                // Volumes keep their owner; the kubelet only skips re-walking them.
                if m.kind == "StatefulSet" && spec["securityContext"]["fsGroup"].is_i64() {
                    assert_eq!(
                        spec["securityContext"]["fsGroupChangePolicy"], "OnRootMismatch",
                        "{at}"
                    );
                }
            }
        }
    }
}

/// Components whose pods call the Kubernetes API, and so get a service-account
/// token: Fluent Bit (its kubernetes filter reads pod metadata), Prometheus of
/// both stacks (service discovery), Traefik (Ingresses, Services, endpoints),
/// kube-state-metrics (everything it exports) and the self-healing executor (it
/// restarts and scales workloads). Every other pod runs without one.
const CALL_THE_API: [&str; 5] = [
    "fluentbit",
    "prometheus",
    "traefik",
    "kube-state-metrics",
    "self-healing",
];

#[test]
fn only_pods_that_call_the_api_mount_a_service_account_token() {
    let mut mounting = std::collections::BTreeSet::new();
    for (profile, components, _) in rendered() {
        for m in manifests(&components) {
            let Some(spec) = m.body["spec"]["template"]["spec"].as_object() else {
                continue;
            };
            let at = format!("{profile}: {}", m.id());
            // Unset means mounted (unless the ServiceAccount says otherwise): say it.
            let mounts = spec["automountServiceAccountToken"]
                .as_bool()
                .unwrap_or_else(|| panic!("{at}: automountServiceAccountToken unset"));
            assert_eq!(
                mounts,
                CALL_THE_API.contains(&m.component.as_str()),
                "{at}: automountServiceAccountToken {mounts}"
            );
            if mounts {
                mounting.insert(m.component.clone());
            }
        }
    }
    // Each of them renders in some profile, so the rule above was met, not skipped.
    let mut all = CALL_THE_API.map(String::from).to_vec();
    all.sort_unstable();
    assert_eq!(mounting.into_iter().collect::<Vec<_>>(), all);
}

/// What keeps a pod from the `restricted` level of the Pod Security Standards
/// (Kubernetes' pod-security-admission policies, the version that 1.23 to 1.33
/// enforce; admission enforces them from 1.23, on 1.20 this test is the only
/// check): each rule broken, by container.
fn restricted_violations(spec: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    const VOLUMES: [&str; 8] = [
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ];
    const SAFE_SYSCTLS: [&str; 5] = [
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
    ];
    let mut out = Vec::new();
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec[host] == true {
            out.push(host.to_string());
        }
    }
    for v in spec["volumes"].as_array().into_iter().flatten() {
        let kinds: Vec<&String> = v
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys())
            .filter(|k| *k != "name")
            .collect();
        for k in kinds {
            if !VOLUMES.contains(&k.as_str()) {
                out.push(format!("volume {} is {k}", v["name"]));
            }
        }
    }
    let pod = &spec["securityContext"];
    for s in pod["sysctls"].as_array().into_iter().flatten() {
        let name = s["name"].as_str().unwrap_or_default();
        if !SAFE_SYSCTLS.contains(&name) {
            out.push(format!("sysctl {name}"));
        }
    }
    let seccomp_ok = |sc: &Value| {
        matches!(
            sc["seccompProfile"]["type"].as_str(),
            Some("RuntimeDefault" | "Localhost")
        )
    };
    let containers = ["initContainers", "containers"]
        .into_iter()
        .flat_map(|k| spec[k].as_array().into_iter().flatten());
    for c in containers {
        let name = c["name"].as_str().unwrap_or("?");
        let sc = &c["securityContext"];
        let mut bad = |rule: String| out.push(format!("container {name}: {rule}"));
        if sc["privileged"] == true {
            bad("privileged".into());
        }
        if sc["allowPrivilegeEscalation"] != false {
            bad("allowPrivilegeEscalation not false".into());
        }
        let non_root = match sc["runAsNonRoot"].as_bool() {
            Some(v) => v,
            None => pod["runAsNonRoot"] == true,
        };
        if !non_root {
            bad("runAsNonRoot not true".into());
        }
        if sc["runAsUser"] == 0 || (sc["runAsUser"].is_null() && pod["runAsUser"] == 0) {
            bad("runAsUser 0".into());
        }
        if sc["seccompProfile"].is_object() && !seccomp_ok(sc)
            || !sc["seccompProfile"].is_object() && !seccomp_ok(pod)
        {
            bad("no RuntimeDefault or Localhost seccomp profile".into());
        }
        let caps = &sc["capabilities"];
        let drops_all = caps["drop"]
            .as_array()
            .is_some_and(|d| d.iter().any(|c| c == "ALL"));
        if !drops_all {
            bad("capabilities not dropping ALL".into());
        }
        for cap in caps["add"].as_array().into_iter().flatten() {
            let cap = cap.as_str().unwrap_or_default();
            // Restricted allows adding this one only (baseline allows a few more).
            if cap != "NET_BIND_SERVICE" {
                bad(format!("adds capability {cap}"));
            }
        }
        for p in c["ports"].as_array().into_iter().flatten() {
            if p["hostPort"].as_i64().is_some_and(|p| p != 0) {
                bad(format!("hostPort {}", p["hostPort"]));
            }
        }
        if sc["procMount"].as_str().is_some_and(|m| m != "Default") {
            bad("procMount not Default".into());
        }
    }
    out
}

/// The components that do not meet `restricted`, and why they cannot (their image
/// contracts, `docs/images.md`, have the facts).
const NOT_RESTRICTED: [(&str, &str); 3] = [
    (
        "fluentbit",
        "reads the nodes' container logs through hostPath volumes, as root (the log files are root's)",
    ),
    (
        "node-exporter",
        "reads the host's /proc, /sys and root filesystem through hostPath volumes, in the host's network and PID namespaces",
    ),
    (
        "elasticsearch",
        "its init container raises vm.max_map_count on the node: privileged, as root",
    ),
];

#[test]
fn every_pod_meets_the_restricted_level_or_says_why_not() {
    let mut seen_exceptions = std::collections::BTreeSet::new();
    let mut checked = 0;
    for (profile, components, _) in rendered() {
        for m in manifests(&components) {
            let spec = &m.body["spec"]["template"]["spec"];
            if !spec.is_object() {
                continue;
            }
            checked += 1;
            let found = restricted_violations(spec);
            let exception = NOT_RESTRICTED.iter().find(|(c, _)| *c == m.component);
            match exception {
                Some((c, _)) => {
                    seen_exceptions.insert(*c);
                    assert!(
                        !found.is_empty(),
                        "{profile}: {} meets restricted now: drop its exception",
                        m.id()
                    );
                }
                None => assert!(
                    found.is_empty(),
                    "{profile}: {} breaks the restricted level: {found:#?}",
                    m.id()
                ),
            }
        }
    }
    assert!(checked > 30, "{checked} pod templates");
    assert_eq!(
        seen_exceptions.len(),
        NOT_RESTRICTED.len(),
        "{seen_exceptions:?}"
    );
}

#[test]
fn the_restricted_check_finds_what_breaks_the_level() {
    let good = serde_json::json!({
        "securityContext": {"runAsNonRoot": true, "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "d", "emptyDir": {}}],
        "containers": [{"name": "a", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
    });
    assert!(restricted_violations(&good).is_empty());
    let mut bad = good.clone();
    bad["hostNetwork"] = true.into();
    bad["volumes"][0] = serde_json::json!({"name": "logs", "hostPath": {"path": "/var/log"}});
    bad["containers"][0]["securityContext"]["privileged"] = true.into();
    bad["containers"][0]["securityContext"]["runAsUser"] = 0.into();
    bad["containers"][0]["securityContext"]["capabilities"]["add"] =
        serde_json::json!(["SYS_ADMIN"]);
    let found = restricted_violations(&bad);
    assert_eq!(found.len(), 5, "{found:#?}");
    let mut bad = good;
    bad["securityContext"] = serde_json::json!({});
    let found = restricted_violations(&bad);
    assert!(
        found.iter().any(|f| f.contains("runAsNonRoot")),
        "{found:#?}"
    );
    assert!(found.iter().any(|f| f.contains("seccomp")), "{found:#?}");
}

#[test]
fn dependencies_name_rendered_components() {
    for (profile, components, _) in rendered() {
        for r in &components {
            for d in &r.depends_on {
                assert!(
                    components.iter().any(|o| o.name == *d),
                    "{profile}: {} depends on {d}, which is not rendered",
                    r.name
                );
            }
        }
    }
}

#[test]
fn generated_secrets_appear_only_in_secrets() {
    for (profile, components, values) in rendered() {
        assert!(
            !values.generated.is_empty(),
            "{profile} generates no secret?"
        );
        let secrets: Vec<String> = values
            .generated
            .iter()
            .filter_map(|p| {
                Path::parse(p)
                    .get(&values.tree)?
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        for m in manifests(&components).filter(|m| m.kind != "Secret") {
            let text = serde_json::to_string(&m.body).unwrap();
            for s in &secrets {
                assert!(
                    !text.contains(s.as_str()),
                    "{profile}: a generated secret in {}",
                    m.id()
                );
            }
        }
    }
}

/// Every stack with the schema of its values: the engine's view of a stack hides it.
fn schemas() -> Vec<(&'static dyn Stack, SchemaTree)> {
    let all: Vec<(&'static dyn Stack, SchemaTree)> = vec![
        (
            &super::clickvisual::STACK,
            SchemaTree::of::<super::clickvisual::values::Values>(),
        ),
        (
            &super::aiops::STACK,
            SchemaTree::of::<super::aiops::values::Values>(),
        ),
    ];
    let names: Vec<&str> = all.iter().map(|(s, _)| s.name()).collect();
    let stacks: Vec<&str> = STACKS.iter().map(|s| s.name()).collect();
    assert_eq!(names, stacks, "add the new stack's values type here");
    all
}

/// A value each check refuses; typed so that it passes the schema walk.
fn refused(check: FieldCheck) -> &'static str {
    match check {
        FieldCheck::Port | FieldCheck::Replicas => "0",
        FieldCheck::ImageRepository => "Not A Repository",
        FieldCheck::ImageTag => "-not-a-tag",
        FieldCheck::ImageDigest => "sha256:not-hex",
        FieldCheck::StorageClass => "Not_A_Class",
    }
}

#[test]
fn every_field_carrying_a_check_is_checked_with_its_key_and_origin() {
    for (stack, schema) in schemas() {
        let declared = declared_checks(&schema);
        assert!(!declared.is_empty(), "{}: no field checks", stack.name());
        for (key, check) in declared {
            let check = check.unwrap_or_else(|name| {
                panic!("{}: {key} names an unknown check {name:?}", stack.name())
            });
            if key.contains("[]") || key.contains(".*") {
                continue;
            }
            let path = Path::parse(&key);
            let flag = format!("{key}={}", refused(check));
            let mut sets = live(&schema, &path);
            sets.push(SetFlag::set(&flag));
            let problems = stack
                .resolve(
                    &[Layer::defaults(stack.defaults_yaml())],
                    &sets,
                    &mut StdRng::seed_from_u64(7),
                )
                .expect_err(&flag);
            let at_key: Vec<String> = problems
                .iter()
                .filter(|p| p.path == path)
                .map(ToString::to_string)
                .collect();
            assert_eq!(
                at_key.len(),
                1,
                "{}: --set {flag}: {problems}",
                stack.name()
            );
            assert!(
                at_key[0].contains(&format!("(from --set {flag})")),
                "{}: {}",
                stack.name(),
                at_key[0]
            );
        }
    }
}

/// Flags that put `path` in use: every component above it enabled, except the one
/// an external service stands in for, which is disabled.
fn live(schema: &SchemaTree, path: &Path) -> Vec<SetFlag> {
    let at = |p: &Path| match schema.lookup(p) {
        Child::Schema(s) => Some(s),
        _ => None,
    };
    let mut flags = Vec::new();
    let mut component = Path::root();
    for seg in path.segs() {
        let Seg::Key(key) = seg else { break };
        let child = component.key(key);
        let switch = component.key("enabled");
        if child != *path && at(&switch).is_some_and(|s| schema.types(s).boolean) {
            let external = at(&child).is_some_and(|s| schema.marker(s, EXTERNAL_MARKER).is_some());
            flags.push(SetFlag::set(format!("{switch}={}", !external)));
        }
        component = child;
    }
    flags
}

#[test]
fn every_port_and_replica_count_carries_its_check() {
    // Integers are plain `u16`/`u32` in the values types; a new one named like a
    // port or a count must say so, or it would escape the walk.
    for (stack, schema) in schemas() {
        let checked: Vec<String> = declared_checks(&schema)
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        for key in integer_keys(&schema, schema.root(), "") {
            let last = key.rsplit('.').next().unwrap_or_default();
            let named_like_one =
                last == "port" || last.ends_with("Port") || last == "replicas" || last == "shards";
            assert!(
                !named_like_one || checked.contains(&key),
                "{}: {key} has no x-stackctl-check",
                stack.name()
            );
        }
    }
}

fn integer_keys(schema: &SchemaTree, s: &serde_json::Value, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (k, sub) in schema.properties(s) {
        let key = if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        };
        if schema.types(sub).integer {
            out.push(key.clone());
        }
        out.extend(integer_keys(schema, sub, &key));
    }
    out
}

/// Pod templates of a component's workloads: the specs that name a ServiceAccount.
fn pod_specs<'a>(
    components: &'a [crate::model::Rendered],
    component: &'a str,
) -> impl Iterator<Item = &'a serde_json::Value> {
    manifests(components)
        .filter(move |m| m.component == component)
        .map(|m| &m.body["spec"]["template"]["spec"])
        .filter(|spec| spec.is_object())
}

#[test]
fn an_rbac_switch_hands_the_components_rbac_to_an_admin() {
    let mut checked = 0;
    for (profile, components, _) in rendered() {
        if profile.contains(" --set ") {
            // An option's render: the switches are its profile's.
            continue;
        }
        let stack = find(&values_stack(&profile)).unwrap();
        for switch in stack.rbac_switches() {
            // A switch names a component that, where rendered, has RBAC of its own.
            if !components.iter().any(|r| r.name == switch.component) {
                continue;
            }
            assert!(
                manifests(&components)
                    .any(|m| m.component == switch.component && m.kind == "ClusterRole"),
                "{profile}: {} has no ClusterRole to hand over",
                switch.component
            );
            let p = profiles::builtin()
                .into_iter()
                .find(|p| p.name == profile)
                .unwrap();
            let mut sets = required_input(&p);
            sets.push(SetFlag::set(format!(
                "{0}.rbac.create=false,{0}.serviceAccount.name=admins",
                switch.key
            )));
            let without = stack
                .resolve(
                    &[
                        Layer::defaults(stack.defaults_yaml()),
                        Layer::profile(&p.name, &p.source, p.yaml.clone()),
                    ],
                    &sets,
                    &mut StdRng::seed_from_u64(7),
                )
                .unwrap_or_else(|e| panic!("{profile}, {}: {e}", switch.key));
            let release = Release {
                name: "rel".into(),
                namespace: "ns-a".into(),
                stack: stack.name(),
                revision: 1,
            };
            let after = stack
                .render(&without, &release, Capabilities::latest())
                .unwrap();
            let left: Vec<String> = manifests(&after)
                .filter(|m| {
                    m.component == switch.component
                        && crate::stacks::RBAC_KINDS.contains(&m.kind.as_str())
                })
                .map(Manifest::id)
                .collect();
            assert!(left.is_empty(), "{profile}, {}: {left:?}", switch.key);
            let specs: Vec<_> = pod_specs(&after, switch.component).collect();
            assert!(!specs.is_empty(), "{profile}: {}", switch.component);
            for spec in specs {
                assert_eq!(spec["serviceAccountName"], "admins", "{profile}");
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "only {checked} switches were rendered by any profile"
    );
}

fn values_stack(profile: &str) -> String {
    let profile = profile.split(" --set ").next().unwrap_or(profile);
    profiles::builtin()
        .into_iter()
        .find(|p| p.name == profile)
        .map(|p| p.stack)
        .unwrap()
}

#[test]
fn flows_name_only_components_that_run_pods() {
    for p in profiles::builtin() {
        let r = super::testing::resolve(&p.name, &[]);
        let with_pods = super::testing::pod_components(&r.render());
        let flows = r.stack.flows(&r.values, &r.release).unwrap();
        assert!(!flows.is_empty(), "{}: no flows", p.name);
        for f in &flows {
            for peer in [&f.from, &f.to] {
                if let crate::model::Peer::Pods(c) = peer {
                    assert!(
                        with_pods.contains(*c),
                        "{}: {f} names {c}, which has no pods",
                        p.name
                    );
                }
            }
        }
    }
}
