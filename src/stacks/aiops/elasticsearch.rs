//! Elasticsearch: a single node (`discovery.type: single-node`) or a cluster of
//! `elasticsearch.replicas` master-eligible data nodes (seed hosts through the
//! headless Service, `cluster.initial_master_nodes` naming every pod). Security is
//! on with the `elastic` password from a file of a Secret (`ELASTIC_PASSWORD_FILE`);
//! HTTP is plain
//! for in-cluster clients. A cluster must encrypt transport when security is on:
//! each node presents the certificate of `transportTlsSecret`, or one it makes for
//! itself at start (then peers are not verified). `vm.max_map_count` is raised by a
//! privileged init container, or mmap is turned off.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, SecurityContext};
use serde_json::{Value, json};

use super::Ctx;
use super::common::{DATA_VOLUME, jvm_heap_mib, yaml};
use super::connections::{ES_PORT, credentials_secret, keys};
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "elasticsearch";
pub const TRANSPORT_PORT: u16 = 9300;
/// The `elasticsearch` user of the official image.
const UID: i64 = 1000;
const HOME: &str = "/usr/share/elasticsearch";
/// What the sysctl init container raises `vm.max_map_count` to. Elastic recommends
/// 1048576 from 8.16 on ("If the default value is lower than 1048576, configure the
/// vm.max_map_count parameter to 1048576": elastic.co/guide/en/elasticsearch/reference/8.17/vm-max-map-count.html,
/// and the current elastic.co/docs/deploy-manage/deploy/self-managed/vm-max-map-count),
/// up from 262144, which the bootstrap check still enforces as the minimum
/// (`MaxMapCountCheck` in server/src/main/java/org/elasticsearch/bootstrap/BootstrapChecks.java).
const MAX_MAP_COUNT: u32 = 1_048_576;
/// The Secret's `elastic` password, mounted (file `password`): it follows the
/// Secret, and the readiness probe reads it.
const PASSWORD_DIR: &str = "/credentials/elastic";
/// The private copy the image reads (`ELASTIC_PASSWORD_FILE`), file `password`.
const PASSWORD_COPY_DIR: &str = "/credentials/elastic-copy";
/// The shared-filesystem snapshot repository (`path.repo`), where every node
/// mounts the snapshots volume, and the backup's pod too: the repository's
/// `location` is the same path in both.
pub const SNAPSHOTS_DIR: &str = "/usr/share/elasticsearch/snapshots";
/// Of the pod and of the snapshots volume's files (`fsGroup`).
pub const GID: i64 = UID;

/// The snapshots volume's claim (`elasticsearch.snapshots`).
pub fn snapshots_claim(release: &crate::model::Release) -> String {
    release.object_name("elasticsearch-snapshots")
}

/// Copies the password file for the image. The image's `elasticsearch-env-from-file`
/// refuses an `ELASTIC_PASSWORD_FILE` whose mode is not 400 or 600 (see the image
/// contract), and a Secret volume's files cannot be: with the pod's fsGroup the
/// kubelet makes them group-readable (0440), and without it they are root's and
/// unreadable to the `elasticsearch` user. The copy is the user's own, mode 0600,
/// in memory.
fn copy_password_script() -> String {
    format!("set -e; umask 077; cat {PASSWORD_DIR}/password > {PASSWORD_COPY_DIR}/password")
}

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.elasticsearch;
    let es = ctx.conn.elasticsearch.as_ref()?;
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Data, &v.image.tag);
    ctx.push_credentials(
        &mut b,
        COMPONENT,
        BTreeMap::from([(keys::ELASTIC_PASSWORD.to_string(), es.password.clone())]),
    );
    if !v.enabled {
        return Some(b.finish(vec![]));
    }

    let config = yaml(&config(ctx));
    let config_name = ctx.release.object_name("elasticsearch-config");
    let checksum = w::checksum_annotation(&config);
    b.push_in(
        Phase::Storage,
        w::config_map(
            &b,
            config_name.clone(),
            BTreeMap::from([("elasticsearch.yml".to_string(), config)]),
        ),
    );

    let http = w::service_port("http", i32::from(ES_PORT));
    let transport = w::service_port("transport", i32::from(TRANSPORT_PORT));
    b.push(w::headless_service(&b, vec![http.clone(), transport]));
    b.push(w::client_service(&b, "ClusterIP", vec![http]));

    let mut volumes = vec![
        w::config_map_volume("config", &config_name),
        w::secret_key_volume(
            "elastic-password",
            &credentials_secret(ctx.release, COMPONENT),
            keys::ELASTIC_PASSWORD,
        ),
        w::memory_dir("elastic-password-copy"),
    ];
    if v.snapshots.enabled {
        let claim = snapshots_claim(ctx.release);
        let mut pvc = w::volume_claim(
            &b,
            &claim,
            v.snapshots.persistence.size.as_str(),
            w::storage_class(
                &v.snapshots.persistence.storage_class,
                &ctx.values.global.storage_class,
            ),
        );
        pvc.metadata = b.meta(&claim);
        if let Some(spec) = pvc.spec.as_mut() {
            spec.access_modes = Some(vec![v.snapshots.access_mode.clone()]);
        }
        b.push_in(Phase::Storage, pvc);
        volumes.push(w::claim_volume("snapshots", &claim));
    }
    if v.replicas > 1 {
        volumes.push(if v.transport_tls_secret.is_empty() {
            w::empty_dir("transport")
        } else {
            w::secret_volume("transport", &v.transport_tls_secret)
        });
    }
    let pod = PodSpec {
        init_containers: Some(init_containers(ctx)).filter(|i| !i.is_empty()),
        containers: vec![container(ctx)],
        volumes: Some(volumes),
        // Time to hand shards over before the process is killed.
        termination_grace_period_seconds: Some(120),
        ..ctx.pod_spec(&b, v.replicas, w::pod_security(Some(UID), Some(UID)))
    };
    let sts = w::stateful_set(
        &b,
        w::StatefulSetParts {
            replicas: v.replicas,
            // Nodes must find each other to elect a master before any is ready.
            parallel: true,
            pod_annotations: checksum,
            pod,
            claims: vec![ctx.data_claim(&b, &v.persistence)],
        },
    );
    b.push(sts);
    w::push_pdb(&mut b, ctx.caps, &ctx.pod_globals(), v.replicas);
    Some(b.finish(vec![]))
}

/// Pod names, which are also node names.
pub fn node_names(ctx: &Ctx<'_>) -> Vec<String> {
    (0..ctx.values.elasticsearch.replicas)
        .map(|i| format!("{}-{i}", ctx.release.object_name(COMPONENT)))
        .collect()
}

/// `elasticsearch.yml`; `${NODE_NAME}` is expanded by Elasticsearch from the env.
fn config(ctx: &Ctx<'_>) -> Value {
    let v = &ctx.values.elasticsearch;
    let mut c = json!({
        "cluster.name": ctx.release.name,
        "node.name": "${NODE_NAME}",
        "network.host": "0.0.0.0",
        "http.port": ES_PORT,
        "transport.port": TRANSPORT_PORT,
        "path.data": format!("{HOME}/data"),
        "xpack.security.enabled": true,
        // Explicit security settings; no first-start auto-configuration.
        "xpack.security.enrollment.enabled": false,
        "xpack.security.http.ssl.enabled": false,
    });
    if v.replicas == 1 {
        c["discovery.type"] = json!("single-node");
        c["xpack.security.transport.ssl.enabled"] = json!(false);
    } else {
        c["discovery.seed_hosts"] = json!([w::headless_name(ctx.release, COMPONENT)]);
        c["cluster.initial_master_nodes"] = json!(node_names(ctx));
        let dir = format!("{HOME}/config/transport");
        c["xpack.security.transport.ssl.enabled"] = json!(true);
        c["xpack.security.transport.ssl.key"] = json!(format!("{dir}/tls.key"));
        c["xpack.security.transport.ssl.certificate"] = json!(format!("{dir}/tls.crt"));
        if v.transport_tls_secret.is_empty() {
            c["xpack.security.transport.ssl.verification_mode"] = json!("none");
        } else {
            c["xpack.security.transport.ssl.verification_mode"] = json!("certificate");
            c["xpack.security.transport.ssl.certificate_authorities"] =
                json!([format!("{dir}/ca.crt")]);
        }
    }
    if !v.sysctl_init_container {
        c["node.store.allow_mmap"] = json!(false);
    }
    if v.snapshots.enabled {
        c["path.repo"] = json!([SNAPSHOTS_DIR]);
    }
    c
}

fn init_containers(ctx: &Ctx<'_>) -> Vec<Container> {
    let v = &ctx.values.elasticsearch;
    let mut inits = Vec::new();
    if v.sysctl_init_container {
        // Raise, never lower: hosts tuned higher stay as they are.
        let script = format!(
            "current=$(sysctl -n vm.max_map_count); if [ \"$current\" -lt {MAX_MAP_COUNT} ]; then sysctl -w vm.max_map_count={MAX_MAP_COUNT}; fi"
        );
        inits.push(Container {
            command: Some(w::shell(script)),
            // A kernel setting of the node: needs privilege, and root.
            security_context: Some(SecurityContext {
                privileged: Some(true),
                run_as_user: Some(0),
                run_as_non_root: Some(false),
                ..Default::default()
            }),
            ..w::container(
                "sysctl",
                ctx.image(&v.image),
                v.image.pull_policy.as_str(),
                w::helper_resources(),
            )
        });
    }
    inits.push(Container {
        command: Some(w::shell(copy_password_script())),
        volume_mounts: Some(vec![
            w::mount("elastic-password", PASSWORD_DIR, true),
            w::mount("elastic-password-copy", PASSWORD_COPY_DIR, false),
        ]),
        ..w::read_only_root(w::container(
            "elastic-password",
            ctx.image(&v.image),
            v.image.pull_policy.as_str(),
            w::helper_resources(),
        ))
    });
    if v.replicas > 1 && v.transport_tls_secret.is_empty() {
        let script = format!(
            "set -e; rm -rf /tmp/node /tmp/node.zip; \
             {HOME}/bin/elasticsearch-certutil cert --self-signed --pem --silent --days 36500 --name node --out /tmp/node.zip; \
             unzip -o -q /tmp/node.zip -d /tmp; \
             cp /tmp/node/node.crt {HOME}/config/transport/tls.crt; \
             cp /tmp/node/node.key {HOME}/config/transport/tls.key; \
             rm -rf /tmp/node /tmp/node.zip"
        );
        inits.push(Container {
            command: Some(w::shell(script)),
            volume_mounts: Some(vec![w::mount(
                "transport",
                &format!("{HOME}/config/transport"),
                false,
            )]),
            ..w::container(
                "transport-certificate",
                ctx.image(&v.image),
                v.image.pull_policy.as_str(),
                w::resources(("100m", "256Mi"), ("500m", "512Mi")),
            )
        });
    }
    inits
}

/// Readiness: the first time, the cluster must be at least yellow (all primaries
/// assigned); after that, this node answering authenticated requests is enough, so
/// that a red index does not take every node out of its Service. Credentials go
/// through a `.netrc` written by the shell's `printf` builtin: no command line
/// carries them. The password is read from the Secret's file on every run.
fn readiness_script() -> String {
    format!(
        "printf 'machine 127.0.0.1 login elastic password %s\\n' \"$(cat {PASSWORD_DIR}/password)\" > /tmp/.probe.netrc; \
         if [ -f /tmp/.es-started ]; then \
         curl -sf -o /dev/null --max-time 4 --netrc-file /tmp/.probe.netrc http://127.0.0.1:{ES_PORT}/; \
         else \
         curl -sf -o /dev/null --max-time 4 --netrc-file /tmp/.probe.netrc 'http://127.0.0.1:{ES_PORT}/_cluster/health?wait_for_status=yellow&timeout=2s' && touch /tmp/.es-started; \
         fi"
    )
}

fn container(ctx: &Ctx<'_>) -> Container {
    let v = &ctx.values.elasticsearch;
    let heap = jvm_heap_mib(&v.resources);
    let mut mounts = vec![
        w::mount(DATA_VOLUME, &format!("{HOME}/data"), false),
        w::mount_file(
            "config",
            &format!("{HOME}/config/elasticsearch.yml"),
            "elasticsearch.yml",
        ),
    ];
    mounts.extend([
        w::mount("elastic-password", PASSWORD_DIR, true),
        w::mount("elastic-password-copy", PASSWORD_COPY_DIR, true),
    ]);
    if v.snapshots.enabled {
        mounts.push(w::mount("snapshots", SNAPSHOTS_DIR, false));
    }
    if v.replicas > 1 {
        mounts.push(w::mount(
            "transport",
            &format!("{HOME}/config/transport"),
            true,
        ));
    }
    Container {
        env: Some(vec![
            w::env(
                "ELASTIC_PASSWORD_FILE",
                format!("{PASSWORD_COPY_DIR}/password"),
            ),
            w::env_field("NODE_NAME", "metadata.name"),
            w::env("ES_JAVA_OPTS", format!("-Xms{heap}m -Xmx{heap}m")),
        ]),
        ports: Some(vec![
            w::container_port("http", i32::from(ES_PORT)),
            w::container_port("transport", i32::from(TRANSPORT_PORT)),
        ]),
        volume_mounts: Some(mounts),
        readiness_probe: Some(w::exec_probe(&readiness_script(), Timing::READINESS)),
        liveness_probe: Some(w::tcp_probe("transport", Timing::LIVENESS)),
        startup_probe: Some(w::tcp_probe("http", Timing::STARTUP)),
        ..ctx.container(COMPONENT, &v.image, &v.resources)
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    fn config(v: &super::super::values::Values) -> serde_json::Value {
        let all = render_all(v);
        let cm = find(
            component(&all, "elasticsearch"),
            "ConfigMap",
            "ops-elasticsearch-config",
        );
        serde_saphyr::from_str(&config_value(cm, "elasticsearch.yml")).unwrap()
    }

    #[test]
    fn single_node_with_security_and_plain_http() {
        let v = values();
        let c = config(&v);
        assert_eq!(c["discovery.type"], "single-node");
        assert_eq!(c["xpack.security.enabled"], true);
        assert_eq!(c["xpack.security.http.ssl.enabled"], false);
        assert_eq!(c["xpack.security.transport.ssl.enabled"], false);
        assert!(c.get("cluster.initial_master_nodes").is_none());
        let all = render_all(&v);
        let r = component(&all, "elasticsearch");
        assert_eq!(
            secret_value(
                find(r, "Secret", "ops-elasticsearch-credentials"),
                "elastic-password"
            ),
            ELASTIC_PW
        );
        let sts = find(r, "StatefulSet", "ops-elasticsearch");
        assert_eq!(sts.phase.as_str(), "data");
        let c = container_of(sts, "elasticsearch");
        // The password as a file: the Secret's, mounted read-only, and the private
        // copy (mode 0600) the image reads, made by an init container.
        let pod = &sts.body["spec"]["template"]["spec"];
        assert_password_mount(
            pod,
            c,
            "/credentials/elastic",
            "ops-elasticsearch-credentials",
            "elastic-password",
        );
        assert_eq!(
            env(c, "ELASTIC_PASSWORD_FILE"),
            Some("/credentials/elastic-copy/password")
        );
        for e in c["env"].as_array().unwrap() {
            assert!(
                e.get("valueFrom")
                    .and_then(|f| f.get("secretKeyRef"))
                    .is_none(),
                "{e}"
            );
        }
        let copy = container_of(sts, "elastic-password");
        let script = copy["command"][2].as_str().unwrap();
        assert!(script.contains("umask 077"), "{script}");
        assert!(
            script.ends_with(
                "cat /credentials/elastic/password > /credentials/elastic-copy/password"
            ),
            "{script}"
        );
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "elastic-password-copy")
            .unwrap();
        assert_eq!(volume["emptyDir"]["medium"], "Memory", "{volume}");
        assert_eq!(env(c, "ES_JAVA_OPTS"), Some("-Xms2048m -Xmx2048m"));
        let ready = c["readinessProbe"]["exec"]["command"][2].as_str().unwrap();
        assert!(ready.contains("wait_for_status=yellow"), "{ready}");
        assert!(ready.contains("--netrc-file"), "{ready}");
        assert!(
            ready.contains(r#""$(cat /credentials/elastic/password)""#),
            "{ready}"
        );
        assert!(!ready.contains("-u "), "{ready}");
        assert_eq!(
            sts.body["spec"]["volumeClaimTemplates"][0]["metadata"]["name"],
            "data"
        );
    }

    #[test]
    fn n_nodes_discover_each_other_and_encrypt_transport() {
        let mut v = values();
        v.elasticsearch.replicas = 3;
        let c = config(&v);
        assert!(c.get("discovery.type").is_none());
        assert_eq!(
            c["discovery.seed_hosts"],
            serde_json::json!(["ops-elasticsearch-headless"])
        );
        assert_eq!(
            c["cluster.initial_master_nodes"],
            serde_json::json!([
                "ops-elasticsearch-0",
                "ops-elasticsearch-1",
                "ops-elasticsearch-2"
            ])
        );
        assert_eq!(c["node.name"], "${NODE_NAME}");
        assert_eq!(c["xpack.security.transport.ssl.enabled"], true);
        assert_eq!(c["xpack.security.transport.ssl.verification_mode"], "none");
        let all = render_all(&v);
        let sts = find(
            component(&all, "elasticsearch"),
            "StatefulSet",
            "ops-elasticsearch",
        );
        assert_eq!(sts.body["spec"]["replicas"], 3);
        assert_eq!(sts.body["spec"]["podManagementPolicy"], "Parallel");
        let init = container_of(sts, "transport-certificate");
        assert!(
            init["command"][2]
                .as_str()
                .unwrap()
                .contains("--self-signed")
        );
        let headless = find(
            component(&all, "elasticsearch"),
            "Service",
            "ops-elasticsearch-headless",
        );
        assert_eq!(headless.body["spec"]["publishNotReadyAddresses"], true);

        v.elasticsearch.transport_tls_secret = "es-transport".into();
        let c = config(&v);
        assert_eq!(
            c["xpack.security.transport.ssl.verification_mode"],
            "certificate"
        );
        let all = render_all(&v);
        let sts = find(
            component(&all, "elasticsearch"),
            "StatefulSet",
            "ops-elasticsearch",
        );
        let vols = sts.body["spec"]["template"]["spec"]["volumes"].to_string();
        assert!(vols.contains("es-transport"), "{vols}");
    }

    #[test]
    fn privileged_sysctl_init_container_or_no_mmap() {
        let mut v = values();
        let all = render_all(&v);
        let sts = find(
            component(&all, "elasticsearch"),
            "StatefulSet",
            "ops-elasticsearch",
        );
        let init = container_of(sts, "sysctl");
        assert_eq!(init["securityContext"]["privileged"], true);
        assert_eq!(init["securityContext"]["runAsUser"], 0);
        assert!(
            init["securityContext"]
                .get("allowPrivilegeEscalation")
                .is_none()
        );
        assert!(
            init["command"][2]
                .as_str()
                .unwrap()
                .contains("vm.max_map_count=1048576")
        );
        assert!(config(&v).get("node.store.allow_mmap").is_none());

        v.elasticsearch.sysctl_init_container = false;
        let all = render_all(&v);
        let sts = find(
            component(&all, "elasticsearch"),
            "StatefulSet",
            "ops-elasticsearch",
        );
        let inits = sts.body["spec"]["template"]["spec"]["initContainers"]
            .as_array()
            .unwrap();
        assert!(inits.iter().all(|c| c["name"] != "sysctl"), "{inits:?}");
        assert_eq!(config(&v)["node.store.allow_mmap"], false);
    }

    #[test]
    fn external_elasticsearch_renders_only_its_secret() {
        let mut v = values();
        v.elasticsearch.enabled = false;
        v.elasticsearch.external.url = "https://es.example.com:9243".into();
        v.elasticsearch.external.password = "ExternalEsPw".into();
        let all = render_all(&v);
        let r = component(&all, "elasticsearch");
        assert_eq!(r.manifests.len(), 1);
        assert_eq!(
            secret_value(&r.manifests[0], "elastic-password"),
            "ExternalEsPw"
        );
    }
}
