//! The Ingress layout: one host, each app under its own path. An app routed below
//! `/` is configured to serve from that sub-path (Traefik forwards paths unchanged),
//! so its probes and in-cluster URLs carry the prefix too.

use super::values::Values;

pub const GRAFANA: &str = "/grafana";
pub const PROMETHEUS: &str = "/prometheus";
pub const KIBANA: &str = "/kibana";
pub const AI: &str = "/ai";
pub const ROOT: &str = "/";

/// The prefix an app serves from: its path when the Ingress routes to it, else none.
fn prefix(v: &Values, enabled: bool, path: &'static str) -> &'static str {
    if v.ingress.enabled && enabled {
        path
    } else {
        ""
    }
}

pub fn prometheus_prefix(v: &Values) -> &'static str {
    prefix(v, v.prometheus.enabled, PROMETHEUS)
}

pub fn grafana_prefix(v: &Values) -> &'static str {
    prefix(v, v.grafana.enabled, GRAFANA)
}

pub fn kibana_prefix(v: &Values) -> &'static str {
    prefix(v, v.kibana.enabled, KIBANA)
}

pub fn ai_prefix(v: &Values) -> &'static str {
    prefix(v, v.ai_engine.enabled, AI)
}

/// `http(s)://<ingress host><path>`, or `None` without an Ingress.
pub fn external_url(v: &Values, path: &str) -> Option<String> {
    if !v.ingress.enabled {
        return None;
    }
    let scheme = if v.ingress.tls.enabled {
        "https"
    } else {
        "http"
    };
    Some(format!("{scheme}://{}{path}", v.ingress.host))
}
