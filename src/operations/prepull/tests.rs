use super::*;
use crate::model::Manifest;
use crate::plan::Unit;

fn workload(kind: &str, name: &str, phase: Phase, pod: &Value) -> Manifest {
    // Only workload kinds are read for a pod spec; the Secret's is never looked at.
    let api_version = if kind == "Secret" { "v1" } else { "apps/v1" };
    let body = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name},
                      "spec": {"template": {"spec": pod}}});
    Manifest {
        api_version: body["apiVersion"].as_str().unwrap().into(),
        kind: kind.into(),
        name: name.into(),
        namespace: Some("ns".into()),
        component: name.into(),
        phase,
        body,
    }
}

fn unit(m: Manifest, deps: &[&str]) -> Unit {
    Unit {
        name: m.component.clone(),
        depends_on: deps.iter().map(|d| (*d).to_string()).collect(),
        manifests: vec![m],
    }
}

/// A StatefulSet without dependencies in the data phase.
fn data_store(name: &str, images: &[&str]) -> Unit {
    let pod = json!({"containers": containers(images)});
    unit(workload("StatefulSet", name, Phase::Data, &pod), &[])
}

fn containers(images: &[&str]) -> Value {
    json!(images.iter().enumerate().map(|(i, im)| json!({"name": format!("c{i}"), "image": im, "imagePullPolicy": "IfNotPresent"})).collect::<Vec<_>>())
}

/// Storage without pods; data: MySQL and Redis first, a schema Job after MySQL;
/// apps: one pinned to labelled, tainted nodes with a pull secret, one anywhere.
fn stack() -> Plan {
    let pinned = json!({
        "nodeSelector": {"pool": "apps"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "apps", "effect": "NoSchedule"}],
        "imagePullSecrets": [{"name": "regcred"}],
        "initContainers": containers(&["app:1"]),
        "containers": containers(&["app:1", "sidecar:2"]),
    });
    Plan::from_units(&[
        unit(
            workload("Secret", "creds", Phase::Storage, &Value::Null),
            &[],
        ),
        data_store("mysql", &["mysql:8.4"]),
        data_store("redis", &["redis:7"]),
        unit(
            workload(
                "Job",
                "schema",
                Phase::Data,
                &json!({"containers": containers(&["mysql:8.4", "client:1"])}),
            ),
            &["mysql"],
        ),
        unit(
            workload("Deployment", "app", Phase::Apps, &pinned),
            &["mysql"],
        ),
        unit(
            workload(
                "Deployment",
                "web",
                Phase::Apps,
                &json!({"containers": containers(&["web:3", "client:1"])}),
            ),
            &[],
        ),
    ])
    .unwrap()
}

fn sets(p: &Prepull) -> Vec<&Value> {
    p.objects
        .iter()
        .filter(|o| o["kind"] == "DaemonSet")
        .collect()
}

fn init_images(ds: &Value) -> Vec<&str> {
    ds["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["image"].as_str().unwrap())
        .collect()
}

#[test]
fn later_images_are_pulled_per_placement_once_the_first_pods_are_applied() {
    let p = plan(&stack(), &[], "cv", "ns").unwrap();
    // Storage runs no pod: the data phase's first wave (MySQL, Redis) starts the pull.
    assert_eq!((p.phase, p.after), (Phase::Data, 2));
    // Redis' image is needed by nothing later; MySQL's is (the schema Job, which
    // may run on another node). Each image once.
    assert_eq!(p.images, 5, "mysql, client, web, app, sidecar");
    assert_eq!(p.objects[0]["kind"], "ConfigMap");
    let sets = sets(&p);
    assert_eq!(sets.len(), 4, "two placements, two architectures each");
    let anywhere: Vec<&&Value> = sets
        .iter()
        .filter(|d| d["spec"]["template"]["spec"]["nodeSelector"]["pool"].is_null())
        .collect();
    let pinned: Vec<&&Value> = sets
        .iter()
        .filter(|d| d["spec"]["template"]["spec"]["nodeSelector"]["pool"] == "apps")
        .collect();
    assert_eq!((anywhere.len(), pinned.len()), (2, 2));
    // Needed first, pulled first: the schema Job's client before the apps' images.
    assert_eq!(init_images(anywhere[0]), ["mysql:8.4", "client:1", "web:3"]);
    assert_eq!(init_images(pinned[0]), ["app:1", "sidecar:2"]);
    let spec = &pinned[0]["spec"]["template"]["spec"];
    assert_eq!(spec["tolerations"][0]["key"], "dedicated");
    assert_eq!(spec["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert!(
        anywhere[0]["spec"]["template"]["spec"]["imagePullSecrets"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let arches: BTreeSet<&str> = pinned
        .iter()
        .map(|d| {
            d["spec"]["template"]["spec"]["nodeSelector"][ARCH_LABEL]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(arches, BTreeSet::from(["amd64", "arm64"]));
}

#[test]
fn the_pods_never_run_the_application_and_meet_restricted() {
    let p = plan(&stack(), &[], "cv", "ns").unwrap();
    for ds in sets(&p) {
        let spec = &ds["spec"]["template"]["spec"];
        let arch = spec["nodeSelector"][ARCH_LABEL].as_str().unwrap();
        for c in spec["initContainers"].as_array().unwrap() {
            assert_eq!(
                c["command"],
                json!([format!("/stackctl-prepull/noop-{arch}")])
            );
        }
        let main = &spec["containers"][0];
        assert_eq!(
            main["command"],
            json!([format!("/stackctl-prepull/sleep-{arch}")])
        );
        assert_eq!(
            main["image"],
            spec["initContainers"].as_array().unwrap().last().unwrap()["image"]
        );
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
        assert_eq!(spec["securityContext"]["runAsUser"], 65534);
        assert_eq!(
            spec["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        for c in spec["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .chain(spec["containers"].as_array().unwrap())
        {
            assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
            assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
            assert!(c["resources"]["limits"]["memory"].is_string());
        }
        assert_eq!(spec["volumes"][0]["configMap"]["name"], "cv-prepull");
        // Not part of the release: nothing that selects the release's objects sees them.
        assert!(ds["metadata"]["labels"][crate::model::RELEASE_LABEL].is_null());
        assert_eq!(ds["metadata"]["labels"][PREPULL_LABEL], "cv");
        assert_eq!(
            ds["spec"]["selector"]["matchLabels"]["stackctl.dev/prepull-set"],
            ds["metadata"]["name"]
        );
    }
}

#[test]
fn probes_are_pulled_too_and_nothing_later_means_no_prepull() {
    let only_data = Plan::from_units(&[data_store("mysql", &["mysql:8.4"])]).unwrap();
    assert_eq!(plan(&only_data, &[], "cv", "ns"), None);
    let probe = ProbeSpec {
        image: "curl:8".into(),
        pull_policy: "IfNotPresent".into(),
        ..ProbeSpec::default()
    };
    let p = plan(&only_data, &[probe], "cv", "ns").unwrap();
    assert_eq!(init_images(sets(&p)[0]), ["curl:8"]);
}

#[test]
fn a_placement_pinned_to_an_architecture_gets_only_that_one() {
    let pod = |arch: &str| json!({"nodeSelector": {ARCH_LABEL: arch}, "containers": containers(&["x:1"])});
    for (arch, sets_made, skipped) in [("arm64", 1, 0), ("s390x", 0, 1)] {
        let p = Plan::from_units(&[
            data_store("db", &["db:1"]),
            unit(workload("Deployment", "app", Phase::Apps, &pod(arch)), &[]),
        ])
        .unwrap();
        let p = plan(&p, &[], "cv", "ns").unwrap();
        assert_eq!(
            (sets(&p).len(), p.skipped.len()),
            (sets_made, skipped),
            "{arch}"
        );
        // Linux only, whatever the architecture.
        for ds in sets(&p) {
            assert_eq!(
                ds["spec"]["template"]["spec"]["nodeSelector"][OS_LABEL],
                "linux"
            );
        }
    }
}

#[test]
fn windows_nodes_are_left_out() {
    let pod = json!({"nodeSelector": {OS_LABEL: "windows"}, "containers": containers(&["x:1"])});
    let p = Plan::from_units(&[
        data_store("db", &["db:1"]),
        unit(workload("Deployment", "app", Phase::Apps, &pod), &[]),
    ])
    .unwrap();
    let p = plan(&p, &[], "cv", "ns").unwrap();
    assert!(p.objects.is_empty(), "not even the ConfigMap");
    assert_eq!(p.images, 0);
    assert_eq!(p.skipped, ["nodes labelled kubernetes.io/os=windows"]);
}

#[test]
fn the_permissions_cover_create_and_cleanup() {
    let p = permissions("ns");
    for verb in ["create", "patch", "deletecollection", "list"] {
        assert!(
            p.iter()
                .any(|x| x.verb == verb && x.resource == "daemonsets" && x.group == "apps")
        );
        assert!(
            p.iter()
                .any(|x| x.verb == verb && x.resource == "configmaps")
        );
    }
}

/// The header fields the kernel reads before it runs an executable.
#[test]
fn the_executables_are_well_formed_for_their_architecture() {
    for (arch, machine) in [("amd64", EM_X86_64), ("arm64", EM_AARCH64)] {
        for bin in [noop(arch), sleeper(arch)] {
            assert_eq!(&bin[..4], b"\x7fELF");
            assert_eq!(u16::from_le_bytes([bin[18], bin[19]]), machine);
            let entry = u64::from_le_bytes(bin[24..32].try_into().unwrap());
            assert_eq!(entry, 0x40_0000 + 120, "code right after the headers");
            let filesz = u64::from_le_bytes(bin[64 + 32..64 + 40].try_into().unwrap());
            assert_eq!(filesz, bin.len() as u64);
        }
    }
    // arm64 cannot run here: its encodings are checked against the A64 forms instead
    // (MOVZ Xd, #imm: 0xd2800000 | imm << 5 | d; SVC #0; B back by n: 0x14000000 | -n).
    let movz = |d: u32, imm: u32| 0xd280_0000 | (imm << 5) | d;
    let code = |bin: &[u8]| -> Vec<u32> {
        bin[120..]
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    assert_eq!(code(&noop("arm64")), [movz(0, 0), movz(8, 93), 0xd400_0001]);
    let back = 0x1400_0000 | ((-6i32 as u32) & 0x03ff_ffff);
    assert_eq!(
        code(&sleeper("arm64")),
        [
            movz(0, 0),
            movz(1, 0),
            movz(2, 0),
            movz(3, 0),
            movz(8, 73),
            0xd400_0001,
            back
        ]
    );
}

/// The amd64 pair runs here: the no-op exits 0 at once, the sleeper keeps running.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn the_amd64_executables_run() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o555)).unwrap();
        path
    };
    let status = std::process::Command::new(write("noop", noop("amd64")))
        .status()
        .unwrap();
    assert!(status.success(), "{status:?}");
    let mut child = std::process::Command::new(write("sleep", sleeper("amd64")))
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the sleeper exited");
    child.kill().unwrap();
    child.wait().unwrap();
}
