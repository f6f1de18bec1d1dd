//! Alertmanager: a StatefulSet (a gossip cluster when replicated) whose
//! configuration — receivers from values: webhook, email, Slack — is a Secret, since
//! it holds SMTP passwords and webhook URLs.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, ServicePort};
use serde_json::{Value, json};

use super::Ctx;
use super::common::{DATA_VOLUME, yaml};
use super::connections::ALERTMANAGER_PORT;
use super::prometheus::scrape_annotations;
use crate::model::{Phase, Rendered};
use crate::stacks::component::Builder;
use crate::stacks::workload::{self as w, Timing};

pub const COMPONENT: &str = "alertmanager";
pub const CLUSTER_PORT: u16 = 9094;
/// `nobody`, the user of the prom/alertmanager image.
const UID: i64 = 65534;
const CONFIG_DIR: &str = "/etc/alertmanager";
const CONFIG_KEY: &str = "alertmanager.yml";
const REDACTED: &str = "<secret>";

pub fn render(ctx: &Ctx<'_>) -> Option<Rendered> {
    let v = &ctx.values.alertmanager;
    if !v.enabled {
        return None;
    }
    let mut b = Builder::new(ctx.release, COMPONENT, Phase::Apps, &v.image.tag);
    let config_secret = ctx.release.object_name("alertmanager-config");
    let secret = w::secret(
        &b,
        config_secret.clone(),
        BTreeMap::from([(CONFIG_KEY.to_string(), yaml(&config(ctx, false)))]),
    );
    b.push_in(Phase::Storage, secret);
    // The checksum that rolls the pods is taken over the configuration with its
    // credentials masked: pod templates are readable by more people than Secrets,
    // and a hash of a short password can be searched. A change of a credential
    // alone therefore needs `kubectl rollout restart`.
    let mut annotations = w::checksum_annotation(&yaml(&config(ctx, true)));
    annotations.extend(scrape_annotations(ALERTMANAGER_PORT, "/metrics"));

    let mut ports = vec![w::service_port("http", i32::from(ALERTMANAGER_PORT))];
    b.push(w::client_service(&b, "ClusterIP", ports.clone()));
    if v.replicas > 1 {
        ports.push(w::service_port("cluster", i32::from(CLUSTER_PORT)));
        ports.push(ServicePort {
            protocol: Some("UDP".into()),
            ..w::service_port("cluster-udp", i32::from(CLUSTER_PORT))
        });
    }
    b.push(w::headless_service(&b, ports));
    let pod = PodSpec {
        containers: vec![container(ctx)],
        volumes: Some(vec![w::secret_volume("config", &config_secret)]),
        ..ctx.pod_spec(&b, v.replicas, w::pod_security(Some(UID), Some(UID)))
    };
    let sts = w::stateful_set(
        &b,
        w::StatefulSetParts {
            replicas: v.replicas,
            // Peers gossip; none waits for another to be ready.
            parallel: true,
            pod_annotations: annotations,
            pod,
            claims: vec![ctx.data_claim(&b, &v.persistence)],
        },
    );
    b.push(sts);
    w::push_pdb(&mut b, ctx.caps, &ctx.pod_globals(), v.replicas);
    Some(b.finish(vec![]))
}

fn container(ctx: &Ctx<'_>) -> Container {
    let v = &ctx.values.alertmanager;
    let mut args = vec![
        format!("--config.file={CONFIG_DIR}/{CONFIG_KEY}"),
        "--storage.path=/alertmanager".into(),
        format!("--web.listen-address=:{ALERTMANAGER_PORT}"),
        format!("--log.level={}", ctx.log_level().as_str()),
    ];
    if v.replicas > 1 {
        args.push(format!("--cluster.listen-address=0.0.0.0:{CLUSTER_PORT}"));
        args.push("--cluster.advertise-address=$(POD_IP):9094".into());
        for i in 0..v.replicas {
            args.push(format!(
                "--cluster.peer={}:{CLUSTER_PORT}",
                w::pod_host(ctx.release, COMPONENT, i)
            ));
        }
    } else {
        // A single instance: no gossip listener.
        args.push("--cluster.listen-address=".into());
    }
    let mut ports = vec![w::container_port("http", i32::from(ALERTMANAGER_PORT))];
    if v.replicas > 1 {
        ports.push(w::container_port("cluster", i32::from(CLUSTER_PORT)));
        ports.push(k8s_openapi::api::core::v1::ContainerPort {
            protocol: Some("UDP".into()),
            ..w::container_port("cluster-udp", i32::from(CLUSTER_PORT))
        });
    }
    Container {
        args: Some(args),
        env: (v.replicas > 1).then(|| vec![w::env_field("POD_IP", "status.podIP")]),
        ports: Some(ports),
        volume_mounts: Some(vec![
            w::mount("config", CONFIG_DIR, true),
            w::mount(DATA_VOLUME, "/alertmanager", false),
        ]),
        readiness_probe: Some(w::http_probe("/-/ready", "http", Timing::READINESS)),
        liveness_probe: Some(w::http_probe("/-/healthy", "http", Timing::LIVENESS)),
        // Writes only silences and notification log under /alertmanager (the
        // image's declared data directory, its contract), the volume above.
        ..w::read_only_root(ctx.container(COMPONENT, &v.image, &v.resources))
    }
}

/// `alertmanager.yml`: every alert goes to every enabled receiver; with none, to a
/// receiver that drops them (Alertmanager needs one).
fn config(ctx: &Ctx<'_>, redact: bool) -> Value {
    let r = &ctx.values.alertmanager.receivers;
    let secret = |s: &str| {
        if redact {
            REDACTED.to_string()
        } else {
            s.to_string()
        }
    };
    let mut receivers = vec![json!({"name": "null"})];
    if r.webhook.enabled {
        receivers.push(json!({"name": "webhook", "webhook_configs": [
            {"url": secret(&r.webhook.url), "send_resolved": true}
        ]}));
    }
    if r.email.enabled {
        let mut email = json!({
            "to": r.email.to,
            "from": r.email.from,
            "smarthost": r.email.smarthost,
            "require_tls": r.email.require_tls,
            "send_resolved": true,
        });
        if !r.email.username.is_empty() {
            email["auth_username"] = json!(r.email.username);
            email["auth_password"] = json!(secret(&r.email.password));
        }
        receivers.push(json!({"name": "email", "email_configs": [email]}));
    }
    if r.slack.enabled {
        receivers.push(json!({"name": "slack", "slack_configs": [
            {"api_url": secret(&r.slack.api_url), "channel": r.slack.channel, "send_resolved": true}
        ]}));
    }
    let routes: Vec<Value> = receivers
        .iter()
        .skip(1)
        .map(|rcv| json!({"receiver": rcv["name"], "continue": true}))
        .collect();
    json!({
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "null",
            "group_by": ["alertname", "namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "receivers": receivers,
    })
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::*;

    fn parsed(v: &super::super::values::Values) -> serde_json::Value {
        let all = render_all(v);
        let s = find(
            component(&all, "alertmanager"),
            "Secret",
            "ops-alertmanager-config",
        );
        assert_eq!(s.phase.as_str(), "storage");
        serde_saphyr::from_str(&secret_value(s, "alertmanager.yml")).expect("valid YAML")
    }

    #[test]
    fn receivers_from_values_in_a_secret() {
        let mut v = production();
        v.alertmanager.receivers.webhook.enabled = true;
        v.alertmanager.receivers.webhook.url = "http://hooks.example.com/alerts".into();
        let c = parsed(&v);
        let names: Vec<&str> = c["receivers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["null", "webhook", "email", "slack"]);
        assert_eq!(c["route"]["routes"].as_array().unwrap().len(), 3);
        assert_eq!(c["route"]["routes"][0]["continue"], true);
        assert_eq!(
            c["receivers"][2]["email_configs"][0]["auth_password"],
            SMTP_PW
        );
        assert_eq!(
            c["receivers"][2]["email_configs"][0]["smarthost"],
            "smtp.example.com:587"
        );
        assert_eq!(c["receivers"][3]["slack_configs"][0]["api_url"], SLACK_URL);
        assert_eq!(
            c["receivers"][1]["webhook_configs"][0]["url"],
            "http://hooks.example.com/alerts"
        );
    }

    #[test]
    fn no_receiver_drops_alerts() {
        let c = parsed(&values());
        assert_eq!(c["route"]["receiver"], "null");
        assert_eq!(c["receivers"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn replicas_gossip_with_each_other() {
        let all = render_all(&production());
        let sts = find(
            component(&all, "alertmanager"),
            "StatefulSet",
            "ops-alertmanager",
        );
        assert_eq!(sts.body["spec"]["replicas"], 3);
        assert_eq!(sts.body["spec"]["podManagementPolicy"], "Parallel");
        let c = container_of(sts, "alertmanager");
        let peers = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a.as_str().unwrap().starts_with("--cluster.peer="))
            .count();
        assert_eq!(peers, 3);
        let all = render_all(&values());
        let sts = find(
            component(&all, "alertmanager"),
            "StatefulSet",
            "ops-alertmanager",
        );
        let c = container_of(sts, "alertmanager");
        assert!(
            c["args"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "--cluster.listen-address=")
        );
    }

    #[test]
    fn a_credential_is_not_hashed_into_the_pod_template() {
        let checksum = |v: &super::super::values::Values| {
            let all = render_all(v);
            let sts = find(
                component(&all, "alertmanager"),
                "StatefulSet",
                "ops-alertmanager",
            );
            sts.body["spec"]["template"]["metadata"]["annotations"]["stackctl.dev/config-checksum"]
                .clone()
        };
        let mut v = production();
        let before = checksum(&v);
        v.alertmanager.receivers.email.password = "other".into();
        assert_eq!(before, checksum(&v));
        v.alertmanager.receivers.email.to = "other@example.com".into();
        assert_ne!(before, checksum(&v));
    }
}
