//! The ClickVisual log platform: ClickVisual, MySQL, Redis, ClickHouse, Kafka
//! (+ ZooKeeper), Fluent Bit, optional Prometheus, Ingress and NetworkPolicies.

pub mod connections;
mod validate;
pub mod values;

/// The stack as the engine sees it.
pub static STACK: crate::stacks::Definition<Values> = crate::stacks::Definition {
    name: NAME,
    default_namespace: DEFAULT_NAMESPACE,
    defaults_yaml: DEFAULTS_YAML,
    earlier_defaults_yaml: include_str!("earlier.yaml"),
    render,
    probes,
    backups: |v, release| backups::backups(&Ctx::for_jobs(release, v)),
    backup_settings: crate::stacks::kit::backup::settings,
    flows: flows::flows,
    notes,
    warnings: |v| {
        let mut w = schema::warnings(&v.clickvisual);
        w.extend(app::unused_redis(v));
        w.extend(v.network_policy.warnings(validate::outside_peers(v)));
        w
    },
    rbac_switches: &[crate::stacks::RbacSwitch {
        component: fluentbit::COMPONENT,
        key: "fluentbit",
    }],
    init_only_changes: |old, new, _| credentials::init_only_changes(old, new),
    rotation_jobs: credentials::rotation_jobs,
    // Objects whose API version moved follow the cluster's (`Capabilities`: Ingress
    // v1beta1 below 1.19, PodDisruptionBudget v1beta1 below 1.21); no component
    // needs a newer cluster.
    kube_requirements: |_| Vec::new(),
};

mod app;
mod backups;
mod clickhouse;
mod common;
pub mod credentials;
mod flows;
mod fluentbit;
mod kafka;
mod mysql;
mod probes;
mod prometheus;
mod redis;
pub mod schema;
mod zookeeper;

use crate::model::{Capabilities, Release, Rendered};
use connections::Connections;
use values::Values;

pub const NAME: &str = "clickvisual";
pub const DEFAULT_NAMESPACE: &str = "clickvisual";
pub const DEFAULTS_YAML: &str = include_str!("defaults.yaml");

/// Everything a component needs to render itself.
pub type Ctx<'a> = crate::stacks::kit::Ctx<'a, Values, Connections>;

/// All enabled components' objects, in declaration order (the plan sorts by phase and
/// dependency).
pub fn render(values: &Values, release: &Release, caps: Capabilities) -> Vec<Rendered> {
    let ctx = Ctx::new(release, values, caps);
    let mut out: Vec<Rendered> = [
        mysql::render(&ctx),
        redis::render(&ctx),
        zookeeper::render(&ctx),
        kafka::render(&ctx),
        clickhouse::render(&ctx),
        schema::render(&ctx),
        app::render(&ctx),
        fluentbit::render(&ctx),
        prometheus::render(&ctx),
        crate::stacks::kit::backup::schedule(&ctx, &backups::backups(&ctx)),
    ]
    .into_iter()
    .flatten()
    .collect();
    // Last: the policies follow from which components have pods.
    if let Some(policies) = flows::policies(&ctx, &out) {
        out.push(policies);
    }
    out
}

/// The connectivity probes of every component in use (see `probes.rs`).
pub fn probes(values: &Values, release: &Release) -> Vec<crate::model::ProbeSpec> {
    let ctx = Ctx::for_jobs(release, values);
    probes::probes(&ctx)
}

/// The summary after install or upgrade: URLs, login, where credentials live.
pub fn notes(v: &Values, release: &Release) -> Vec<String> {
    let ns = &release.namespace;
    let app = release.object_name("clickvisual");
    let mut out = vec![String::new(), "ClickVisual".to_string()];
    if v.ingress.enabled {
        let scheme = if v.ingress.tls.enabled {
            "https"
        } else {
            "http"
        };
        out.push(format!(
            "  URL:    {scheme}://{}{}",
            v.ingress.host, v.ingress.path
        ));
    }
    // The URL ClickVisual's rootURL is without an Ingress host (`app::root_url`).
    out.push(format!(
        "  local:  kubectl -n {ns} port-forward svc/{app} {port}:{port}   then open {url}",
        port = v.clickvisual.service.port,
        url = app::local_url(v),
    ));
    out.push(
        "  login:  clickvisual / clickvisual (change the password at first login)".to_string(),
    );
    out.push(String::new());
    out.push("Credentials (Secrets in the release namespace)".to_string());
    let conn = connections::Connections::new(v, release);
    let mut secret_line = |what: &str, r: &connections::SecretKey| {
        out.push(format!(
            "  {what:<11} {}",
            crate::stacks::kit::read_secret_command(ns, &r.secret, r.key)
        ));
    };
    secret_line("MySQL", &conn.mysql.password_ref);
    if let Some(r) = &conn.redis {
        secret_line("Redis", &r.password_ref);
    }
    if let Some(c) = &conn.clickhouse {
        secret_line("ClickHouse", &c.password_ref);
    }
    // The first login asks for a ClickHouse instance's DSN; nothing else tells the
    // user the in-cluster address, account and database.
    if let Some(c) = &conn.clickhouse {
        out.push(String::new());
        out.push("ClickHouse instance (the DSN ClickVisual asks for)".to_string());
        out.push(format!("  DSN:    {}", c.dsn_without_password()));
    }
    if let Some(k) = &conn.kafka {
        out.push(format!("  Kafka       brokers {}", k.brokers_csv()));
    }
    let ctx = Ctx::for_jobs(release, v);
    out.extend(crate::stacks::kit::backup::notes(
        v,
        release,
        &backups::backups(&ctx),
    ));
    out
}
