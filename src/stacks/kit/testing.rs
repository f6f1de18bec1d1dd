//! Looking into rendered objects, for the stacks' tests.

use crate::model::{Manifest, Rendered};

pub fn component<'a>(all: &'a [Rendered], name: &str) -> &'a Rendered {
    all.iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("component {name} not rendered"))
}

pub fn has(all: &[Rendered], name: &str) -> bool {
    all.iter().any(|r| r.name == name)
}

pub fn find<'a>(r: &'a Rendered, kind: &str, name: &str) -> &'a Manifest {
    r.manifests
        .iter()
        .find(|m| m.kind == kind && m.name == name)
        .unwrap_or_else(|| panic!("{kind}/{name} not in {}", r.name))
}

/// The only object of a kind in a component.
pub fn only<'a>(r: &'a Rendered, kind: &str) -> &'a Manifest {
    let found: Vec<_> = r.manifests.iter().filter(|m| m.kind == kind).collect();
    assert_eq!(found.len(), 1, "{kind} in {}", r.name);
    found[0]
}

/// The container named `name` in a workload's pod template (or init containers).
pub fn container_of<'a>(m: &'a Manifest, name: &str) -> &'a serde_json::Value {
    let spec = &m.body["spec"]["template"]["spec"];
    ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec[*k].as_array())
        .flatten()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("container {name} not in {}", m.id()))
}

/// Value of a literal env var of a container; `None` when absent or from a ref.
pub fn env<'a>(container: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["value"]
        .as_str()
}

/// `(secret, key)` an env var of a container is read from.
pub fn env_ref(container: &serde_json::Value, name: &str) -> Option<(String, String)> {
    let e = container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?;
    let r = &e["valueFrom"]["secretKeyRef"];
    Some((r["name"].as_str()?.into(), r["key"].as_str()?.into()))
}

/// The pod field (`fieldRef.fieldPath`) an env var of a container is read from.
pub fn env_field<'a>(container: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["valueFrom"]["fieldRef"]["fieldPath"]
        .as_str()
}

/// Decoded value of a key of a Secret manifest.
pub fn secret_value(m: &Manifest, key: &str) -> String {
    use base64::Engine;
    let encoded = m.body["data"][key].as_str().expect("secret key present");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    String::from_utf8(bytes).expect("utf-8")
}

/// A data key of a ConfigMap manifest.
pub fn config_value(m: &Manifest, key: &str) -> String {
    m.body["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} not in {}", m.id()))
        .to_string()
}

/// Asserts that `var` of `container` names the file `<dir>/password`, and that `dir` is
/// a read-only mount of key `key` of Secret `secret`, in `pod` (a pod spec): a
/// credential passed as a file, not as an env var.
pub fn assert_password_file(
    pod: &serde_json::Value,
    container: &serde_json::Value,
    var: &str,
    dir: &str,
    secret: &str,
    key: &str,
) {
    assert_eq!(
        env(container, var),
        Some(format!("{dir}/password").as_str())
    );
    assert_password_mount(pod, container, dir, secret, key);
}

/// Asserts that `dir` is a read-only mount, in `container` of `pod` (a pod spec), of
/// key `key` of Secret `secret` as the file `password`: for a file that the
/// software is told about otherwise than by an env var (a config file's reference).
pub fn assert_password_mount(
    pod: &serde_json::Value,
    container: &serde_json::Value,
    dir: &str,
    secret: &str,
    key: &str,
) {
    let mount = container["volumeMounts"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["mountPath"] == dir))
        .unwrap_or_else(|| panic!("nothing mounted at {dir}: {container}"));
    assert_eq!(mount["readOnly"], true, "{mount}");
    let volume = pod["volumes"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == mount["name"]))
        .unwrap_or_else(|| panic!("no volume {} in the pod", mount["name"]));
    assert_eq!(volume["secret"]["secretName"], secret, "{volume}");
    assert_eq!(volume["secret"]["items"][0]["key"], key, "{volume}");
    assert_eq!(volume["secret"]["items"][0]["path"], "password", "{volume}");
}

/// Asserts that container `name` of workload `m` runs under a read-only root and that
/// each of `writable` (the paths its image contract lists, less any on a claim) is
/// mounted read-write from an emptyDir of the pod.
pub fn assert_read_only_root(m: &Manifest, name: &str, writable: &[&str]) {
    let c = container_of(m, name);
    assert_eq!(
        c["securityContext"]["readOnlyRootFilesystem"],
        true,
        "{}: {c}",
        m.id()
    );
    let volumes = m.body["spec"]["template"]["spec"]["volumes"].as_array();
    for path in writable {
        let mount = c["volumeMounts"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["mountPath"] == *path))
            .unwrap_or_else(|| panic!("{}: nothing mounted at {path}: {c}", m.id()));
        assert_ne!(mount["readOnly"], true, "{}: {mount}", m.id());
        let volume = volumes
            .and_then(|vs| vs.iter().find(|v| v["name"] == mount["name"]))
            .unwrap_or_else(|| panic!("{}: no volume {} in the pod", m.id(), mount["name"]));
        assert!(volume["emptyDir"].is_object(), "{}: {volume}", m.id());
    }
}

/// No environment variable of `container` is read from a Secret: its credentials
/// come as files (see [`assert_password_file`]).
pub fn assert_no_secret_env(container: &serde_json::Value) {
    for e in container["env"].as_array().into_iter().flatten() {
        assert!(e.get("valueFrom").is_none(), "{e}");
    }
}
