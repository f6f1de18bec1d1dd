use serde_json::json;

use super::*;

/// Deterministic noise for secrets and checksums, which is what keeps real
/// manifests from compressing to nothing.
struct Noise(u64);

impl Noise {
    fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..len)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                ALPHABET[(self.0 % ALPHABET.len() as u64) as usize] as char
            })
            .collect()
    }
}

fn labels(component: &str) -> Value {
    json!({
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/instance": "cv",
        "app.kubernetes.io/managed-by": "stackctl",
        "app.kubernetes.io/part-of": "clickvisual",
        "stackctl.dev/release": "cv",
    })
}

fn workload(kind: &str, component: &str, noise: &mut Noise) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {
            "name": format!("cv-{component}"), "namespace": "clickvisual",
            "labels": labels(component),
            "annotations": { "stackctl.dev/phase": "data", "stackctl.dev/config-hash": noise.token(64) },
        },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app.kubernetes.io/name": component, "app.kubernetes.io/instance": "cv" } },
            "template": {
                "metadata": { "labels": labels(component) },
                "spec": {
                    "securityContext": { "runAsNonRoot": true, "runAsUser": 1001, "fsGroup": 1001 },
                    "initContainers": [{
                        "name": "wait-for-mysql", "image": "busybox:1.36",
                        "command": ["sh", "-c", "until nc -z cv-mysql.clickvisual.svc 3306; do sleep 2; done"],
                    }],
                    "containers": [{
                        "name": component, "image": format!("docker.io/library/{component}:8.0.36"),
                        "ports": [{ "name": "main", "containerPort": 3306, "protocol": "TCP" }],
                        "env": [
                            { "name": "PASSWORD", "valueFrom": { "secretKeyRef": { "name": format!("cv-{component}"), "key": "password" } } },
                            { "name": "ROOT_PASSWORD", "valueFrom": { "secretKeyRef": { "name": format!("cv-{component}"), "key": "root-password" } } },
                            { "name": "DSN", "valueFrom": { "secretKeyRef": { "name": format!("cv-{component}"), "key": "dsn" } } },
                            { "name": "POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
                            { "name": "POD_IP", "valueFrom": { "fieldRef": { "fieldPath": "status.podIP" } } },
                            { "name": "USER", "value": "clickvisual" },
                            { "name": "TZ", "value": "UTC" },
                            { "name": "JAVA_OPTS", "value": "-Xms512m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20" },
                        ],
                        "resources": { "requests": { "cpu": "250m", "memory": "512Mi" }, "limits": { "cpu": "1", "memory": "1Gi" } },
                        "readinessProbe": { "tcpSocket": { "port": "main" }, "initialDelaySeconds": 5, "periodSeconds": 10 },
                        "livenessProbe": { "tcpSocket": { "port": "main" }, "initialDelaySeconds": 30, "periodSeconds": 20 },
                        "volumeMounts": [{ "name": "data", "mountPath": "/var/lib/data" }, { "name": "config", "mountPath": "/etc/config" }],
                        "securityContext": { "allowPrivilegeEscalation": false, "capabilities": { "drop": ["ALL"] } },
                    }],
                    "volumes": [{ "name": "config", "configMap": { "name": format!("cv-{component}") } }],
                },
            },
            "volumeClaimTemplates": [{
                "metadata": { "name": "data" },
                "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "8Gi" } } },
            }],
        },
    })
}

fn config_map(component: &str, noise: &mut Noise) -> Value {
    let mut config = String::new();
    for i in 0..150 {
        config.push_str(&format!(
            "{component}_setting_{i} = \"{}\"\n",
            noise.token(12)
        ));
    }
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": format!("cv-{component}"), "namespace": "clickvisual", "labels": labels(component) },
        "data": { "config.toml": config },
    })
}

fn secret(component: &str, noise: &mut Noise) -> Value {
    let dsn = format!(
        "root:{}@tcp(cv-mysql.clickvisual.svc:3306)/clickvisual?charset=utf8mb4",
        noise.token(24)
    );
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": { "name": format!("cv-{component}"), "namespace": "clickvisual", "labels": labels(component) },
        "stringData": { "password": noise.token(24), "root-password": noise.token(24), "dsn": dsn,
                        "config.toml": format!("[app]\nsecretKey = \"{}\"\nencryptionKey = \"{}\"\n", noise.token(32), noise.token(32)) },
    })
}

fn service(component: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": format!("cv-{component}"), "namespace": "clickvisual", "labels": labels(component) },
        "spec": { "selector": { "app.kubernetes.io/name": component, "app.kubernetes.io/instance": "cv" },
                  "ports": [{ "name": "main", "port": 3306, "targetPort": "main" }] },
    })
}

/// A record the size of a real ClickVisual release: 60 objects, with secrets,
/// config and checksums that do not compress away.
pub(super) fn realistic() -> Record {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut r = Record::new(
        "cv",
        "clickvisual",
        "clickvisual",
        "default",
        3,
        Operation::Upgrade,
        json!({}),
    );
    let components = [
        "mysql",
        "redis",
        "clickhouse",
        "kafka",
        "zookeeper",
        "clickvisual",
        "fluentbit",
        "prometheus",
        "ingress",
        "probes",
        "metrics",
        "exporter",
    ];
    for c in components {
        let objects = [
            workload(
                if c == "fluentbit" {
                    "DaemonSet"
                } else {
                    "StatefulSet"
                },
                c,
                &mut noise,
            ),
            config_map(c, &mut noise),
            secret(c, &mut noise),
            service(c),
            service(&format!("{c}-headless")),
        ];
        for o in objects {
            r.inventory.push(ObjectRef {
                api_version: o["apiVersion"].as_str().unwrap().into(),
                kind: o["kind"].as_str().unwrap().into(),
                namespace: Some("clickvisual".into()),
                name: o["metadata"]["name"].as_str().unwrap().into(),
                component: c.into(),
                phase: "data".into(),
            });
            r.manifests.push(o);
        }
    }
    let mut values = serde_json::Map::new();
    for c in components {
        values.insert(
            c.into(),
            json!({
                "enabled": true, "replicas": 1,
                "image": { "repository": format!("docker.io/library/{c}"), "tag": "8.0.36" },
                "auth": { "password": noise.token(24), "rootPassword": noise.token(24) },
                "resources": { "requests": { "cpu": "250m", "memory": "512Mi" }, "limits": { "cpu": "1", "memory": "1Gi" } },
                "persistence": { "enabled": true, "size": "8Gi", "storageClass": "" },
                "external": { "host": "", "port": 3306, "username": "", "password": "", "database": "" },
            }),
        );
        r.generated.push(format!("{c}.auth.password"));
    }
    r.values = Value::Object(values);
    for phase in ["preflight", "storage", "data", "apps", "probes"] {
        r.phases.push(PhaseResult {
            name: phase.into(),
            status: PhaseStatus::Succeeded,
            started_at: now(),
            duration_ms: 12_345,
            message: String::new(),
            diagnoses: Vec::new(),
            components: Vec::new(),
        });
    }
    r.finish(Status::Deployed, "Upgrade complete");
    r
}

#[test]
fn round_trip() {
    let r = realistic();
    let bytes = encode(&r).unwrap();
    assert_eq!(decode(&bytes).unwrap(), r);
    let summary = decode_summary(&bytes).unwrap();
    assert_eq!(summary, Summary::from(&r));
}

#[test]
fn realistic_record_is_far_below_a_secrets_limit() {
    let r = realistic();
    let manifests = serde_json::to_vec(&r.manifests).unwrap().len();
    let json = serde_json::to_vec(&r).unwrap().len();
    let gz = encode(&r).unwrap().len();
    println!(
        "{} objects, manifests {} bytes ({} per object), record JSON {json} bytes, gzip {gz} bytes ({:.1}% of 1 MiB)",
        r.manifests.len(),
        manifests,
        manifests / r.manifests.len(),
        gz as f64 * 100.0 / (1024.0 * 1024.0)
    );
    assert_eq!(r.manifests.len(), 60);
    assert!(manifests / 60 >= 1800, "manifests should be ~2 KB each");
    assert!(
        gz < 128 * 1024,
        "{gz} bytes is too close to the 1 MiB Secret limit"
    );
}

#[test]
fn status_and_operation_serialize_as_kebab_case() {
    let names: Vec<Value> = Status::ALL
        .iter()
        .map(|s| serde_json::to_value(s).unwrap())
        .collect();
    assert_eq!(
        names,
        json!([
            "pending-install",
            "pending-upgrade",
            "pending-rollback",
            "deployed",
            "superseded",
            "failed",
            "uninstalling"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    for s in Status::ALL {
        assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        assert_eq!(serde_json::to_value(s).unwrap(), json!(s.to_string()));
    }
    assert!("pending".parse::<Status>().is_err());
    assert_eq!(
        serde_json::to_value(Operation::Rollback).unwrap(),
        json!("rollback")
    );
    assert_eq!(Operation::Upgrade.pending_status(), Status::PendingUpgrade);
}

#[test]
fn json_field_names_are_camel_case_and_times_rfc3339() {
    let mut r = Record::new(
        "cv",
        "ns",
        "clickvisual",
        "minimal",
        1,
        Operation::Install,
        json!({"a": 1}),
    );
    r.started_at = "2026-11-22T03:04:05Z".parse().unwrap();
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["stackctlVersion"], json!(env!("CARGO_PKG_VERSION")));
    assert_eq!(v["status"], json!("pending-install"));
    assert_eq!(v["startedAt"], json!("2026-11-22T03:04:05Z"));
    assert!(v.get("finishedAt").is_none() && v.get("resourceVersion").is_none());
}

#[test]
fn foreign_and_corrupt_data_is_rejected_clearly() {
    let err = decode(b"{\"not\":\"gzip\"}").unwrap_err();
    assert!(matches!(err, RecordError::NotGzip), "{err}");
    assert!(err.to_string().contains("not a stackctl release record"));

    let mut truncated = encode(&realistic()).unwrap();
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(
        decode(&truncated).unwrap_err(),
        RecordError::Corrupt(_)
    ));

    // Helm's payload shape: gzip'd JSON of a different document.
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(br#"{"name":"cv","info":{"status":"deployed"},"version":1}"#)
        .unwrap();
    let err = decode(&gz.finish().unwrap()).unwrap_err();
    assert!(matches!(err, RecordError::Json(_)), "{err}");
    assert!(err.to_string().contains("missing field"), "{err}");
}

#[test]
fn oversized_records_are_refused_before_the_api_does() {
    let mut r = realistic();
    let mut noise = Noise(7);
    r.values = json!({ "blob": noise.token(2 * 1024 * 1024) });
    match encode(&r).unwrap_err() {
        RecordError::TooLarge { size, max } => assert!(size > max),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn phase_results_without_component_outcomes_still_parse() {
    // As the previous version wrote a failed phase: no `components`.
    let old = json!({
        "name": "data",
        "status": "failed",
        "startedAt": "2026-11-22T03:04:05Z",
        "durationMs": 1200,
        "message": "1 object cannot become ready",
        "diagnoses": [{"object": "StatefulSet/cv-kafka"}]
    });
    let p: PhaseResult = serde_json::from_value(old).unwrap();
    assert!(p.components.is_empty());

    let with = PhaseResult {
        components: vec![ComponentOutcome {
            component: "kafka".into(),
            phase: "data".into(),
            outcome: Outcome::NotWaitedFor,
        }],
        ..p
    };
    let v = serde_json::to_value(&with).unwrap();
    assert_eq!(
        v["components"],
        json!([{"component": "kafka", "phase": "data", "outcome": "notWaitedFor"}])
    );
    assert_eq!(serde_json::from_value::<PhaseResult>(v).unwrap(), with);
}
