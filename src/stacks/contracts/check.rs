//! Rendered workloads against their images' contracts. Works on object bodies (JSON),
//! so stack workloads, probe Jobs and hand-written objects are checked alike.

use std::fmt;

use serde_json::Value;

use super::{BasePath, Exception, ImageContract, Rule, find};

/// One way a rendered container departs from its image's contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub profile: String,
    /// `Kind/name` of the workload.
    pub workload: String,
    pub container: String,
    pub fact: &'static str,
    pub detail: String,
    /// The contract's exception that allows it, with the contract's image: an
    /// allowed departure still counts, so an exception nothing needs any more shows.
    pub excused: Option<(&'static str, &'static Exception)>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} container {}: {}: {}",
            self.profile, self.workload, self.container, self.fact, self.detail
        )
    }
}

/// The pod spec of a workload object, or `None` for anything that runs no pods.
pub fn pod_spec(obj: &Value) -> Option<&Value> {
    let spec = &obj["spec"];
    let template = match obj["kind"].as_str()? {
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "ReplicaSet" => &spec["template"],
        "CronJob" => &spec["jobTemplate"]["spec"]["template"],
        "Pod" => return Some(spec),
        _ => return None,
    };
    template.get("spec")
}

/// Every mismatch between the workloads among `objects` (one profile's rendering,
/// ConfigMaps included: a base path may live in a config file) and their contracts.
pub fn check(profile: &str, objects: &[Value]) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for obj in objects {
        let Some(pod) = pod_spec(obj) else { continue };
        let workload = format!(
            "{}/{}",
            obj["kind"].as_str().unwrap_or("?"),
            obj["metadata"]["name"].as_str().unwrap_or("?")
        );
        let component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
            .as_str()
            .unwrap_or_default();
        let containers = pod["initContainers"]
            .as_array()
            .into_iter()
            .chain(pod["containers"].as_array())
            .flatten();
        for container in containers {
            let name = container["name"].as_str().unwrap_or("?");
            let image = container["image"].as_str().unwrap_or_default();
            let contract = find(image, component);
            let mut report = |rule: Option<Rule>, fact: &'static str, detail: String| {
                let excused = contract.zip(rule).and_then(|(c, rule)| {
                    c.exceptions
                        .iter()
                        .find(|e| e.rule == rule && e.covers(name))
                        .map(|e| (c.image, e))
                });
                out.push(Mismatch {
                    profile: profile.to_string(),
                    workload: workload.clone(),
                    container: name.to_string(),
                    fact,
                    detail,
                    excused,
                });
            };
            let Some(contract) = contract else {
                report(
                    None,
                    "contract",
                    format!(
                        "no contract for image {image} (component {component}): add one in src/stacks/contracts/"
                    ),
                );
                continue;
            };
            let ctx = Container {
                contract,
                pod,
                spec: container,
                objects,
            };
            ctx.check(&mut report);
        }
    }
    out
}

struct Container<'a> {
    contract: &'static ImageContract,
    pod: &'a Value,
    spec: &'a Value,
    objects: &'a [Value],
}

impl Container<'_> {
    /// A security context field, the container's over the pod's.
    fn security(&self, field: &str) -> Option<i64> {
        self.spec["securityContext"][field]
            .as_i64()
            .or_else(|| self.pod["securityContext"][field].as_i64())
    }

    fn check(&self, report: &mut impl FnMut(Option<Rule>, &'static str, String)) {
        let c = self.contract;
        let image = format!("{}:{}", c.image, c.tag);
        if let (Some(want), Some(got)) = (c.uid.value, self.security("runAsUser"))
            && want != got
        {
            report(
                Some(Rule::Uid),
                "uid",
                format!("runAsUser {got}, but {image} runs as {want}"),
            );
        }
        {
            if let (Some(want), Some(got)) = (c.gid.value, self.security("runAsGroup"))
                && want != got
            {
                report(
                    Some(Rule::Gid),
                    "gid",
                    format!("runAsGroup {got}, but {image}'s group is {want}"),
                );
            }
            // fsGroup is what makes volumes writable for the containers that write
            // to them: it must be the image's group wherever one mounts a volume
            // read-write.
            let writes_volumes = self.mounts().any(|m| m["readOnly"] != Value::Bool(true));
            if writes_volumes
                && let (Some(want), Some(got)) =
                    (c.gid.value, self.pod["securityContext"]["fsGroup"].as_i64())
                && want != got
            {
                report(
                    Some(Rule::Gid),
                    "gid",
                    format!("fsGroup {got}, but {image}'s group is {want}"),
                );
            }
        }
        let ports: Vec<i32> = c.ports.iter().map(|p| p.value.number).collect();
        {
            for p in self.spec["ports"].as_array().into_iter().flatten() {
                let n = p["containerPort"].as_i64().unwrap_or_default() as i32;
                if !ports.contains(&n) {
                    report(
                        Some(Rule::Port),
                        "port",
                        format!("containerPort {n} is not a port of {image} ({ports:?})"),
                    );
                }
            }
        }
        self.check_probes(&image, &ports, &mut |fact, detail| {
            report(Some(Rule::Health), fact, detail);
        });
        if self.spec["securityContext"]["readOnlyRootFilesystem"] == Value::Bool(true) {
            let mounts: Vec<&str> = self
                .mounts()
                .filter_map(|m| m["mountPath"].as_str())
                .collect();
            for w in c.writable_paths {
                let covered = mounts.iter().any(|m| {
                    let m = m.trim_end_matches('/');
                    w.value == m || w.value.strip_prefix(m).is_some_and(|r| r.starts_with('/'))
                });
                if !covered {
                    report(
                        Some(Rule::WritablePaths),
                        "writable path",
                        format!(
                            "{} is written by {image} but has no volume under a read-only root",
                            w.value
                        ),
                    );
                }
            }
        }
    }

    fn mounts(&self) -> impl Iterator<Item = &Value> {
        self.spec["volumeMounts"].as_array().into_iter().flatten()
    }

    /// A probe's port, by number or by the name of one of the container's ports.
    fn resolve_port(&self, port: &Value) -> Option<i32> {
        if let Some(n) = port.as_i64() {
            return Some(n as i32);
        }
        let name = port.as_str()?;
        self.spec["ports"]
            .as_array()?
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["containerPort"].as_i64())
            .map(|n| n as i32)
    }

    fn check_probes(
        &self,
        image: &str,
        ports: &[i32],
        report: &mut impl FnMut(&'static str, String),
    ) {
        let prefix = self.base_path();
        for kind in ["readinessProbe", "livenessProbe", "startupProbe"] {
            let probe = &self.spec[kind];
            let (action, port) = if probe["httpGet"].is_object() {
                ("httpGet", &probe["httpGet"]["port"])
            } else if probe["tcpSocket"].is_object() {
                ("tcpSocket", &probe["tcpSocket"]["port"])
            } else {
                continue;
            };
            let Some(port) = self.resolve_port(port) else {
                report(
                    "health",
                    format!("{kind} port {port} is none of the container's ports"),
                );
                continue;
            };
            if !ports.contains(&port) {
                report(
                    "health",
                    format!("{kind} targets port {port}, not a port of {image}"),
                );
                continue;
            }
            if action != "httpGet" {
                continue;
            }
            let path = probe["httpGet"]["path"].as_str().unwrap_or("/");
            let path = path.split('?').next().unwrap_or(path);
            let listed = self
                .contract
                .health
                .iter()
                .any(|h| h.value.port == port && format!("{prefix}{}", h.value.path) == path);
            if !listed {
                let known: Vec<String> = self
                    .contract
                    .health
                    .iter()
                    .map(|h| format!("{prefix}{} on {}", h.value.path, h.value.port))
                    .collect();
                report(
                    "health",
                    format!(
                        "{kind} GET {path} on {port} is not a health endpoint of {image} ({})",
                        known.join(", ")
                    ),
                );
            }
        }
    }

    /// The sub-path the container is configured to serve from ("" for none), read
    /// the way the image reads it.
    fn base_path(&self) -> String {
        let Some(base) = self.contract.base_path else {
            return String::new();
        };
        let prefix = match base.value {
            BasePath::Flag(flag) => self.spec["command"]
                .as_array()
                .into_iter()
                .chain(self.spec["args"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .find_map(|a| a.strip_prefix(flag))
                .map(str::to_string),
            BasePath::EnvUrl { url, enabled_by } => {
                let env = |name: &str| {
                    self.spec["env"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|e| e["name"].as_str() == Some(name))
                        .and_then(|e| e["value"].as_str())
                };
                (env(enabled_by) == Some("true"))
                    .then(|| env(url))
                    .flatten()
                    .map(|u| url_path(u).to_string())
            }
            BasePath::ConfigKey {
                file,
                key,
                enabled_by,
            } => self.config_file(file).and_then(|cfg| {
                (yaml_key(&cfg, enabled_by) == Some(&Value::Bool(true)))
                    .then(|| {
                        yaml_key(&cfg, key)
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .flatten()
            }),
        };
        prefix.unwrap_or_default().trim_end_matches('/').to_string()
    }

    /// A YAML file the container mounts from a ConfigMap among the rendered objects.
    fn config_file(&self, file: &str) -> Option<Value> {
        let mount = self.mounts().find(|m| {
            m["subPath"].as_str() == Some(file)
                || m["mountPath"]
                    .as_str()
                    .is_some_and(|p| p.ends_with(&format!("/{file}")))
        })?;
        let volume = self.pod["volumes"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == mount["name"])?;
        let cm = volume["configMap"]["name"].as_str()?;
        let text =
            self.objects
                .iter()
                .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"].as_str() == Some(cm))?
                ["data"][file]
                .as_str()?;
        serde_saphyr::from_str(text).ok()
    }
}

/// `http://host:port/a/b` → `/a/b`; a URL without a path → "".
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("", |i| &rest[i..])
}

/// A dotted key of a YAML document, flat (`server.basePath: x`) or nested.
fn yaml_key<'v>(doc: &'v Value, key: &str) -> Option<&'v Value> {
    if let Some(v) = doc.get(key) {
        return Some(v);
    }
    let (head, rest) = key.split_once('.')?;
    yaml_key(doc.get(head)?, rest)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(pod: &Value) -> Value {
        json!({
            "kind": "Deployment",
            "metadata": {"name": "rel-prometheus", "labels": {"app.kubernetes.io/component": "prometheus"}},
            "spec": {"template": {"spec": pod}},
        })
    }

    fn prometheus(extra: &Value) -> Value {
        let mut c = json!({
            "name": "prometheus",
            "image": "prom/prometheus:v3.4.1",
            "args": ["--web.route-prefix=/prometheus"],
            "ports": [{"name": "http", "containerPort": 9090}],
            "readinessProbe": {"httpGet": {"path": "/prometheus/-/ready", "port": "http"}},
            "volumeMounts": [{"name": "data", "mountPath": "/prometheus"}],
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    #[test]
    fn a_workload_that_keeps_its_contract_passes() {
        let pod = json!({
            "securityContext": {"runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534},
            "containers": [prometheus(&json!({}))],
        });
        assert_eq!(check("p", &[deployment(&pod)]), []);
    }

    #[test]
    fn every_departure_is_reported_at_once_naming_where() {
        let pod = json!({
            "securityContext": {"runAsUser": 1000, "fsGroup": 1000},
            "containers": [prometheus(&json!({
                "args": [],
                "ports": [{"name": "http", "containerPort": 9091}],
                "readinessProbe": {"httpGet": {"path": "/prometheus/-/ready", "port": "http"}},
                "livenessProbe": {"tcpSocket": {"port": 9999}},
                "securityContext": {"readOnlyRootFilesystem": true},
                "volumeMounts": [{"name": "cfg", "mountPath": "/etc/prometheus"}],
            }))],
        });
        let found: Vec<String> = check("p", &[deployment(&pod)])
            .iter()
            .map(ToString::to_string)
            .collect();
        let want = [
            "p: Deployment/rel-prometheus container prometheus: uid: runAsUser 1000, but prom/prometheus:v3.4.1 runs as 65534",
            "p: Deployment/rel-prometheus container prometheus: gid: fsGroup 1000, but prom/prometheus:v3.4.1's group is 65534",
            "p: Deployment/rel-prometheus container prometheus: port: containerPort 9091 is not a port of prom/prometheus:v3.4.1 ([9090])",
            "p: Deployment/rel-prometheus container prometheus: health: readinessProbe targets port 9091, not a port of prom/prometheus:v3.4.1",
            "p: Deployment/rel-prometheus container prometheus: health: livenessProbe targets port 9999, not a port of prom/prometheus:v3.4.1",
            "p: Deployment/rel-prometheus container prometheus: writable path: /prometheus is written by prom/prometheus:v3.4.1 but has no volume under a read-only root",
        ];
        assert_eq!(found, want);
    }

    #[test]
    fn a_prefixed_path_needs_the_prefix_configured() {
        // The probe asks for /prometheus/-/ready, but nothing moved Prometheus there.
        let pod = json!({"containers": [prometheus(&json!({"args": []}))]});
        let found = check("p", &[deployment(&pod)]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .detail
                .contains("GET /prometheus/-/ready on 9090 is not a health endpoint"),
            "{}",
            found[0]
        );
    }

    #[test]
    fn an_image_without_a_contract_is_named() {
        let pod = json!({"containers": [{"name": "x", "image": "example/new:1"}]});
        let found = check("p", &[deployment(&pod)]);
        assert_eq!(found[0].fact, "contract");
        assert!(found[0].detail.contains("example/new:1"), "{}", found[0]);
    }

    #[test]
    fn a_base_path_from_a_mounted_config_file() {
        let cm = json!({
            "kind": "ConfigMap", "metadata": {"name": "rel-kibana"},
            "data": {"kibana.yml": "server.basePath: /kibana\nserver.rewriteBasePath: true\n"},
        });
        let pod = |path: &str| {
            json!({
                "kind": "Deployment",
                "metadata": {"name": "rel-kibana", "labels": {"app.kubernetes.io/component": "kibana"}},
                "spec": {"template": {"spec": {
                    "volumes": [{"name": "config", "configMap": {"name": "rel-kibana"}}],
                    "containers": [{
                        "name": "kibana",
                        "image": "docker.elastic.co/kibana/kibana:8.19.2",
                        "ports": [{"name": "http", "containerPort": 5601}],
                        "readinessProbe": {"httpGet": {"path": path, "port": "http"}},
                        "volumeMounts": [{"name": "config", "mountPath": "/usr/share/kibana/config/kibana.yml", "subPath": "kibana.yml"}],
                    }],
                }}},
            })
        };
        assert_eq!(check("p", &[cm.clone(), pod("/kibana/api/status")]), []);
        assert_eq!(check("p", &[cm, pod("/api/status")]).len(), 1);
    }

    #[test]
    fn url_paths() {
        assert_eq!(url_path("http://aiops.local/grafana/"), "/grafana/");
        assert_eq!(url_path("http://aiops.local"), "");
    }
}
