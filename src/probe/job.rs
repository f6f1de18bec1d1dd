//! A [`ProbeSpec`] rendered as a Kubernetes Job, and the temporary credentials
//! Secret of preflight probes. Pure functions: everything here is unit-tested
//! without a cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, LocalObjectReference, PodSpec, PodTemplateSpec,
    Secret, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{CONTAINER, RUN_LABEL};
use crate::model::{Manifest, Release};
use crate::model::{PROBE_LABEL, ProbeSpec, probe_labels, secret_refs};
use crate::stacks::workload as w;

/// Longest Job name: the Job controller copies it into the `job-name` label of its
/// pods, and label values stop at 63 characters.
const MAX_NAME: usize = 63;
/// `nobody`: no probe needs any privilege, and every image used has this user id.
const PROBE_UID: i64 = 65534;
/// Jobs left behind by a stackctl that was killed are removed by the TTL controller
/// after this long (Kubernetes ≥ 1.21; 1.20 drops the field, and the next run deletes
/// them instead).
const TTL_AFTER_FINISHED: i32 = 3600;

/// `<release>-test-<component>`: the Job of a probe, for people and scripts.
pub fn job_name(release: &str, component: &str) -> String {
    fit(format!("{release}-test-{component}"))
}

/// `<release>-test-<component>-<n>`: the Job probing the `n`th pod of a fan-out.
pub fn fan_out_name(release: &str, component: &str, index: usize) -> String {
    fit(format!("{release}-test-{component}-{index}"))
}

/// Names over 63 characters keep as much of their start as fits, then a hash of the
/// whole name, so they stay unique (long release names with long component names
/// get there).
fn fit(name: String) -> String {
    if name.len() <= MAX_NAME {
        return name;
    }
    let hash = format!("{:08x}", w::stable_hash(name.as_bytes(), 0) as u32);
    let keep = &name[..MAX_NAME - hash.len() - 1];
    format!("{}-{hash}", keep.trim_end_matches('-'))
}

/// One Job of one run.
#[derive(Debug, Clone)]
pub struct JobParams<'a> {
    pub release: &'a Release,
    pub name: String,
    pub run_id: &'a str,
    pub timeout: Duration,
    /// Env added after the spec's own (a fan-out's target).
    pub extra_env: Vec<EnvVar>,
}

/// The Job: one pod, never retried (`backoffLimit: 0`: a probe that fails once has
/// answered), bounded by `activeDeadlineSeconds`; unprivileged, read-only root with a
/// small scratch `/tmp`, no API token, no Service links (the Kafka image would turn
/// `KAFKA_*` link variables into settings).
pub fn render(spec: &ProbeSpec, p: &JobParams<'_>) -> Job {
    let mut job_labels = probe_labels(p.release, &spec.component);
    job_labels.insert(RUN_LABEL.to_string(), p.run_id.to_string());
    let mut env = spec.env.clone();
    // Java and the MySQL client want a writable home.
    env.push(w::env("HOME", "/tmp"));
    env.extend(p.extra_env.iter().cloned());

    let mut security = w::container_security();
    security.read_only_root_filesystem = Some(true);
    let container = Container {
        command: Some(w::shell(spec.script)),
        env: Some(env),
        security_context: Some(security),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..Default::default()
        }]),
        ..w::container(
            CONTAINER,
            spec.image.clone(),
            &spec.pull_policy,
            spec.resources.clone(),
        )
    };
    let pod = PodSpec {
        restart_policy: Some("Never".into()),
        enable_service_links: Some(false),
        automount_service_account_token: Some(false),
        image_pull_secrets: (!spec.image_pull_secrets.is_empty()).then(|| {
            spec.image_pull_secrets
                .iter()
                .map(|name| LocalObjectReference { name: name.clone() })
                .collect()
        }),
        node_selector: (!spec.node_selector.is_empty()).then(|| spec.node_selector.clone()),
        security_context: Some(w::pod_security(Some(PROBE_UID), Some(PROBE_UID))),
        containers: vec![container],
        volumes: Some(vec![Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity("64Mi".into())),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ..Default::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(p.name.clone()),
            namespace: Some(p.release.namespace.clone()),
            labels: Some(job_labels),
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(p.timeout.as_secs().max(1) as i64),
            ttl_seconds_after_finished: Some(TTL_AFTER_FINISHED),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(probe_labels(p.release, &spec.component)),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Key of `(secret, key)` in the preflight Secret, `<secret>.<key>`: keys of
/// different Secrets never collide, and `kubectl describe` shows where each came from.
fn preflight_key(secret: &str, key: &str) -> String {
    format!("{secret}.{key}")
}

/// For preflight, before the release's credentials Secrets exist: a Secret holding
/// exactly the keys the probes read, taken from the rendered (not yet applied)
/// Secrets in `manifests`, and the probes re-pointed at it. The Secret has no owner
/// and is deleted after the probes; it carries the release label so that a leftover
/// is recognisable.
pub fn preflight_secret(
    release: &Release,
    name: &str,
    probes: &[ProbeSpec],
    manifests: &[Manifest],
) -> Result<(Secret, Vec<ProbeSpec>), String> {
    let mut data = BTreeMap::new();
    for (secret, key) in secret_refs(probes) {
        let value = rendered_secret_value(manifests, &secret, &key).ok_or_else(|| {
            format!("the plan has no Secret {secret} with key {key}, which a probe reads (a bug)")
        })?;
        data.insert(preflight_key(&secret, &key), ByteString(value));
    }
    let secret = temporary_secret(release, name, "preflight", data);
    let retargeted = probes
        .iter()
        .cloned()
        .map(|mut p| {
            for e in &mut p.env {
                if let Some(r) = e
                    .value_from
                    .as_mut()
                    .and_then(|v| v.secret_key_ref.as_mut())
                {
                    r.key = preflight_key(&r.name, &r.key);
                    r.name = name.to_string();
                }
            }
            p
        })
        .collect();
    Ok((secret, retargeted))
}

/// A Secret of credentials that probe-like Jobs read while it exists: no owner,
/// deleted by whoever created it; it carries the release's labels so that a
/// leftover is recognisable. `purpose` goes where a probe's component would.
pub fn temporary_secret(
    release: &Release,
    name: &str,
    purpose: &str,
    data: BTreeMap<String, ByteString>,
) -> Secret {
    let mut labels = probe_labels(release, purpose);
    labels.remove(PROBE_LABEL);
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(release.namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    }
}

/// The bytes of `key` in the rendered Secret `name` (`data` is base64, `stringData`
/// plain).
fn rendered_secret_value(manifests: &[Manifest], name: &str, key: &str) -> Option<Vec<u8>> {
    let m = manifests
        .iter()
        .find(|m| m.kind == "Secret" && m.name == name)?;
    if let Some(s) = m.body["stringData"][key].as_str() {
        return Some(s.as_bytes().to_vec());
    }
    let encoded = m.body["data"][key].as_str()?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RELEASE_LABEL;
    use crate::stacks::workload::{env, env_secret};

    fn release() -> Release {
        Release {
            name: "cv".into(),
            namespace: "logs".into(),
            stack: "clickvisual",
            revision: 1,
        }
    }

    fn spec() -> ProbeSpec {
        ProbeSpec {
            component: "mysql".into(),
            image: "mysql:8.4".into(),
            pull_policy: "IfNotPresent".into(),
            script: crate::stacks::probe_scripts::MYSQL,
            env: vec![
                env("HOST", "db"),
                env_secret("MYSQL_PASSWORD", "cv-mysql-credentials", "mysql-password"),
            ],
            timeout: Duration::from_secs(60),
            ..Default::default()
        }
    }

    #[test]
    fn names_fit_in_a_label() {
        assert_eq!(job_name("cv", "mysql"), "cv-test-mysql");
        assert_eq!(fan_out_name("cv", "fluentbit", 2), "cv-test-fluentbit-2");
        let long = "r".repeat(53);
        let a = job_name(&long, "clickvisual");
        let b = job_name(&long, "clickhouse");
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
        assert!(a.starts_with(&long), "{a}");
    }

    #[test]
    fn job_is_bounded_unprivileged_and_never_retried() {
        let r = release();
        let job = render(
            &spec(),
            &JobParams {
                release: &r,
                name: "cv-test-mysql".into(),
                run_id: "abc",
                timeout: Duration::from_secs(45),
                extra_env: vec![env("EXTRA", "1")],
            },
        );
        let v = serde_json::to_value(&job).unwrap();
        assert_eq!(v["metadata"]["name"], "cv-test-mysql");
        assert_eq!(v["metadata"]["labels"][RUN_LABEL], "abc");
        assert_eq!(v["metadata"]["labels"][PROBE_LABEL], "mysql");
        assert_eq!(v["metadata"]["labels"][RELEASE_LABEL], "cv");
        assert_eq!(v["spec"]["backoffLimit"], 0);
        assert_eq!(v["spec"]["activeDeadlineSeconds"], 45);
        let pod = &v["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["enableServiceLinks"], false);
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        // Never the probed component's selector labels.
        let pod_labels = &v["spec"]["template"]["metadata"]["labels"];
        assert_eq!(pod_labels["app.kubernetes.io/name"], "stackctl-probe");
        assert!(pod_labels.get("app.kubernetes.io/component").is_none());
        let c = &pod["containers"][0];
        assert_eq!(c["name"], CONTAINER);
        assert_eq!(c["command"][0], "sh");
        assert_eq!(c["command"][2], crate::stacks::probe_scripts::MYSQL);
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        let names: Vec<&str> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["HOST", "MYSQL_PASSWORD", "HOME", "EXTRA"]);
    }

    #[test]
    fn preflight_secret_copies_only_the_read_keys_and_retargets() {
        use crate::model::Phase;
        use crate::stacks::component::Builder;
        let r = release();
        let b = Builder::new(&r, "mysql", Phase::Storage, "8.4");
        let rendered = w::secret(
            &b,
            "cv-mysql-credentials".into(),
            BTreeMap::from([
                ("mysql-password".to_string(), "s3cret\"#".to_string()),
                ("mysql-root-password".to_string(), "root".to_string()),
            ]),
        );
        let manifest = Manifest {
            api_version: "v1".into(),
            kind: "Secret".into(),
            name: "cv-mysql-credentials".into(),
            namespace: Some("logs".into()),
            component: "mysql".into(),
            phase: Phase::Storage,
            body: serde_json::to_value(&rendered).unwrap(),
        };
        let (secret, probes) =
            preflight_secret(&r, "cv-preflight-credentials", &[spec()], &[manifest]).unwrap();
        let data = secret.data.unwrap();
        assert_eq!(data.len(), 1);
        assert_eq!(
            data["cv-mysql-credentials.mysql-password"].0,
            b"s3cret\"#".to_vec()
        );
        assert!(secret.metadata.owner_references.is_none());
        let r = probes[0].env[1]
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(r.name, "cv-preflight-credentials");
        assert_eq!(r.key, "cv-mysql-credentials.mysql-password");

        let err = preflight_secret(&release(), "x", &[spec()], &[]).unwrap_err();
        assert!(err.contains("cv-mysql-credentials"), "{err}");
    }
}
