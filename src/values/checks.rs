//! Reusable checks for a stack's [`Validate`](super::Validate) implementation.
//!
//! Each returns `Err(message)` describing what is wrong; record it with
//! [`Problems::check`](super::Problems::check), which adds the path:
//!
//! ```ignore
//! v.check("ingress.host", checks::ingress_host(&self.ingress.host));
//! if !self.mysql.enabled && checks::required(&self.mysql.external.host).is_err() {
//!     // Blame the switch: its origin is what the user needs to see.
//!     v.add("mysql.external.host", "required when mysql.enabled=false")
//!         .blame("mysql.enabled");
//! }
//! ```
//!
//! The same checks run during the schema walk for string fields that carry a
//! `format` (see [`format()`]); use `#[schemars(extend("format" = "dns1123-label"))]`
//! on a `String` field to get them without writing code. Images, ports, replica
//! counts and StorageClasses are checked only where their component is in use:
//! their types name the check with `x-stackctl-check` ([`fields`](super::fields)),
//! so no stack lists them.

use std::net::IpAddr;

/// At least one replica.
pub fn replicas(n: impl Into<i64>) -> Result<(), String> {
    let n = n.into();
    if n >= 1 {
        Ok(())
    } else {
        Err(format!("must be at least 1, got {n}"))
    }
}

/// A TCP/UDP port, 1 to 65535.
pub fn port(n: impl Into<i64>) -> Result<(), String> {
    let n = n.into();
    if (1..=65535).contains(&n) {
        Ok(())
    } else {
        Err(format!("must be a port number from 1 to 65535, got {n}"))
    }
}

/// Not empty (after trimming whitespace).
pub fn required(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(())
    }
}

fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(is_label_char)
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 label: a Kubernetes name for Services, Namespaces, ports…
pub fn dns1123_label(s: &str) -> Result<(), String> {
    if is_dns1123_label(s) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid DNS-1123 label (lowercase letters, digits and '-', \
             starting and ending with a letter or digit, at most 63 characters)",
            quoted(s)
        ))
    }
}

fn is_dns1123_subdomain(s: &str) -> bool {
    // Kubernetes limits the whole name, not each label, for subdomains.
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.chars().all(is_label_char)
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// A DNS-1123 subdomain: the name of most Kubernetes objects.
pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if is_dns1123_subdomain(s) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid DNS-1123 subdomain (lowercase letters, digits, '-' and '.', \
             each part starting and ending with a letter or digit, at most 253 characters)",
            quoted(s)
        ))
    }
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// An RFC 1123 host name (`mysql.example.com`, `db-1`).
pub fn hostname(s: &str) -> Result<(), String> {
    if is_hostname(s) {
        Ok(())
    } else {
        Err(format!("{} is not a valid host name", quoted(s)))
    }
}

/// A host name or an IP address: where an external service lives.
pub fn host(s: &str) -> Result<(), String> {
    let unbracketed = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    if is_hostname(s) || unbracketed.parse::<IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid host name or IP address",
            quoted(s)
        ))
    }
}

/// An Ingress rule host: a lowercase DNS-1123 subdomain, optionally with a
/// leading `*.` wildcard.
pub fn ingress_host(s: &str) -> Result<(), String> {
    let name = s.strip_prefix("*.").unwrap_or(s);
    if is_dns1123_subdomain(name) && name.split('.').all(|l| l.len() <= 63) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid Ingress host (a lowercase DNS name, optionally starting with `*.`)",
            quoted(s)
        ))
    }
}

/// A Kubernetes resource quantity: `8Gi`, `500m`, `1.5`, `2e3`.
pub fn quantity(s: &str) -> Result<(), String> {
    parse_quantity(s).map(|_| ())
}

/// Parses a quantity to its value in base units (`1Ki` = 1024, `500m` = 0.5).
///
/// Grammar (from `k8s.io/apimachinery/pkg/api/resource`):
/// an optional sign, digits with an optional `.` and fraction, then a binary
/// suffix (`Ki Mi Gi Ti Pi Ei`), a decimal suffix (`m k M G T P E`, or none),
/// or an exponent (`e3`, `E-2`).
pub fn parse_quantity(s: &str) -> Result<f64, String> {
    let bad = || {
        Err(format!(
            "{} is not a Kubernetes quantity (examples: 8Gi, 500m, 1.5, 2e3)",
            quoted(s)
        ))
    };
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let num_len = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(num_len);
    let digits = number.chars().filter(char::is_ascii_digit).count();
    if digits == 0 || number.matches('.').count() > 1 {
        return bad();
    }
    let Ok(base) = number.parse::<f64>() else {
        return bad();
    };
    let multiplier = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exp => {
            let Some(e) = exp.strip_prefix(['e', 'E']) else {
                return bad();
            };
            let e_digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if e_digits.is_empty() || !e_digits.chars().all(|c| c.is_ascii_digit()) {
                return bad();
            }
            let Ok(e) = e.parse::<i32>() else {
                return bad();
            };
            10f64.powi(e)
        }
    };
    let sign = if s.starts_with('-') { -1.0 } else { 1.0 };
    Ok(sign * base * multiplier)
}

/// `alpha-numeric (separator alpha-numeric)*` with separators `.`, `_`, `__`, `-+`.
fn is_path_component(s: &str) -> bool {
    let mut rest = s;
    loop {
        let end = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
            .unwrap_or(rest.len());
        if end == 0 {
            return false;
        }
        rest = &rest[end..];
        if rest.is_empty() {
            return true;
        }
        let sep_len = if rest.starts_with("__") {
            2
        } else if rest.starts_with(['.', '_']) {
            1
        } else if rest.starts_with('-') {
            rest.len() - rest.trim_start_matches('-').len()
        } else {
            return false;
        };
        rest = &rest[sep_len..];
        if !rest.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return false;
        }
    }
}

fn is_domain(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || s.starts_with('[') => (h, Some(p)),
        _ => (s, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn is_repository(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    let mut parts = name.split('/').peekable();
    let first = parts.next().unwrap_or_default();
    // Like Docker: the first component is a registry if it looks like one.
    let has_more = parts.peek().is_some();
    let first_is_domain = has_more
        && (first.contains(['.', ':'])
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase()));
    if first_is_domain {
        if !is_domain(first) {
            return false;
        }
    } else if !is_path_component(first) {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    if first_is_domain && rest.is_empty() {
        return false;
    }
    rest.iter().all(|p| is_path_component(p))
}

fn is_tag(s: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !s.is_empty()
        && s.len() <= 128
        && s.starts_with(word)
        && s.chars().all(|c| word(c) || c == '.' || c == '-')
}

fn is_digest(s: &str) -> bool {
    let Some((algo, hex)) = s.split_once(':') else {
        return false;
    };
    let algo_ok = algo.split(['-', '_', '+', '.']).all(|part| {
        part.starts_with(|c: char| c.is_ascii_alphabetic())
            && part.chars().all(|c| c.is_ascii_alphanumeric())
    });
    algo_ok && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// An image reference: `repository[:tag][@digest]`, e.g.
/// `docker.io/library/nginx:1.25`, `registry:5000/team/app@sha256:…`.
pub fn image(s: &str) -> Result<(), String> {
    let (name_tag, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (s, None),
    };
    // A tag's colon comes after the last slash; an earlier one is a registry port.
    let (name, tag) = match name_tag.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (name_tag, None),
    };
    let ok = is_repository(name) && tag.is_none_or(is_tag) && digest.is_none_or(is_digest);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid image reference (expected repository[:tag][@digest], \
             e.g. docker.io/library/nginx:1.25)",
            quoted(s)
        ))
    }
}

/// An image repository without tag or digest (`clickvisual/clickvisual`).
pub fn image_repository(s: &str) -> Result<(), String> {
    if is_repository(s) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid image repository (lowercase path like registry.example.com/team/app)",
            quoted(s)
        ))
    }
}

/// An image tag (`v1.2.0`, `latest`): letters, digits, `_`, `.`, `-`, at most 128.
pub fn image_tag(s: &str) -> Result<(), String> {
    if is_tag(s) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid image tag (letters, digits, '_', '.' and '-', \
             not starting with '.' or '-', at most 128 characters)",
            quoted(s)
        ))
    }
}

/// An image digest as registries compute them: `sha256:` and 64 lowercase hex
/// digits (what `docker buildx imagetools inspect` or `crane digest` print).
pub fn image_digest(s: &str) -> Result<(), String> {
    let ok = s.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not an image digest (sha256: and 64 lowercase hex digits)",
            quoted(s)
        ))
    }
}

/// The string formats the schema walk understands, by `format` name; `None`
/// for formats it does not check (schemars emits some for its own types).
pub fn format(name: &str, s: &str) -> Option<Result<(), String>> {
    Some(match name {
        "quantity" => quantity(s),
        "dns1123-label" => dns1123_label(s),
        "dns1123-subdomain" => dns1123_subdomain(s),
        "hostname" => hostname(s),
        "host" => host(s),
        "ingress-host" => ingress_host(s),
        "image" => image(s),
        "image-repository" => image_repository(s),
        "image-tag" => image_tag(s),
        "cron-schedule" => super::cron::schedule(s),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_and_ports() {
        assert!(replicas(1u32).is_ok());
        assert_eq!(replicas(0), Err("must be at least 1, got 0".into()));
        assert!(port(1u16).is_ok() && port(65535).is_ok());
        assert_eq!(
            port(0),
            Err("must be a port number from 1 to 65535, got 0".into())
        );
        assert!(port(65536).is_err());
        assert_eq!(required("  "), Err("must not be empty".into()));
    }

    #[test]
    fn quantities() {
        for (q, v) in [
            ("8Gi", 8.0 * 1024f64.powi(3)),
            ("500m", 0.5),
            ("1.5", 1.5),
            ("2e3", 2000.0),
            ("1E-2", 0.01),
            ("100M", 1e8),
            ("+1k", 1000.0),
            ("-1", -1.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("0", 0.0),
        ] {
            assert_eq!(parse_quantity(q), Ok(v), "{q}");
        }
        for q in [
            "8GB", "abc", "", "Gi", "1.2.3", "1e", "1 Gi", "1gi", "--1", "1e1.5", "1Ki2", "e3",
        ] {
            assert!(parse_quantity(q).is_err(), "{q}");
        }
        assert_eq!(
            quantity("8GB"),
            Err("\"8GB\" is not a Kubernetes quantity (examples: 8Gi, 500m, 1.5, 2e3)".into())
        );
    }

    #[test]
    fn dns_names_and_hosts() {
        for ok in ["a", "my-svc", "a1", &"a".repeat(63)] {
            assert!(dns1123_label(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a.b", "a_b", &"a".repeat(64)] {
            assert!(dns1123_label(bad).is_err(), "{bad}");
        }
        assert!(dns1123_subdomain("a.b-c.d").is_ok());
        for bad in ["a..b", ".a", "a.", "A.b", &"a".repeat(254)] {
            assert!(dns1123_subdomain(bad).is_err(), "{bad}");
        }
        assert!(hostname("MySQL.example.com").is_ok());
        assert!(hostname("my_sql").is_err());
        assert!(host("10.0.0.5").is_ok() && host("::1").is_ok() && host("[fe80::1]").is_ok());
        assert!(host("db.internal").is_ok() && host("db internal").is_err());
        assert!(ingress_host("*.example.com").is_ok() && ingress_host("Example.com").is_err());
    }

    #[test]
    fn image_references() {
        for ok in [
            "nginx",
            "nginx:1.25",
            "library/nginx:latest",
            "docker.io/library/nginx:1.25",
            "registry.example.com:5000/team/app:v1.2.0",
            "localhost/app",
            "clickvisual/clickvisual:v1.0.0-rc1",
            "a__b/c-d---e.f:tag_1",
            "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "reg:5000/app:1@sha256:0123456789abcdef0123456789abcdef",
        ] {
            assert!(image(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Nginx",
            "nginx:",
            "nginx::1",
            "nginx:-x",
            "nginx:1:2",
            "/nginx",
            "nginx/",
            "ngi nx",
            "a..b",
            "app@sha256:short",
            "app@md5",
            "registry.example.com/",
        ] {
            assert!(image(bad).is_err(), "{bad}");
        }
        assert!(image_repository("registry.example.com:5000/team/app").is_ok());
        assert!(image_repository("app:1.0").is_err());
        assert!(image_tag("v1.2.0").is_ok() && image_tag(".x").is_err());
        assert!(format("image-tag", "-x").is_some_and(|r| r.is_err()));
        assert!(format("uint16", "anything").is_none());
    }
}
