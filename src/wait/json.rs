//! Lenient accessors over Kubernetes objects as JSON.
//!
//! The readiness rules read live objects from any server version from 1.20 on, so a
//! missing or oddly typed field must never panic: every accessor returns a default
//! or `None`, the way kstatus's `GetIntField` does.

use serde_json::Value;

/// The value at a `.`-separated path (`"status.readyReplicas"`).
pub fn at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(obj, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

pub fn str_at<'a>(obj: &'a Value, path: &str) -> Option<&'a str> {
    at(obj, path).and_then(Value::as_str)
}

/// An integer field, also accepting whole floats and numeric strings (some proxies
/// and older clients write `"3"`).
pub fn int_at(obj: &Value, path: &str) -> Option<i64> {
    let v = at(obj, path)?;
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

pub fn int_or(obj: &Value, path: &str, default: i64) -> i64 {
    int_at(obj, path).unwrap_or(default)
}

pub fn array_at<'a>(obj: &'a Value, path: &str) -> &'a [Value] {
    at(obj, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

pub fn bool_at(obj: &Value, path: &str) -> Option<bool> {
    at(obj, path).and_then(Value::as_bool)
}

/// The API group of an `apiVersion` (`"apps/v1"` → `"apps"`, `"v1"` → `""`).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

pub fn name(obj: &Value) -> &str {
    str_at(obj, "metadata.name").unwrap_or_default()
}

pub fn namespace(obj: &Value) -> Option<&str> {
    str_at(obj, "metadata.namespace")
}

pub fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("labels")?.get(key)?.as_str()
}

pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("annotations")?.get(key)?.as_str()
}

/// One entry of `status.conditions`.
#[derive(Debug, Clone, Copy)]
pub struct Condition<'a> {
    pub status: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
}

impl Condition<'_> {
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }

    pub fn is_false(&self) -> bool {
        self.status == "False"
    }
}

/// The condition of the given type, if the object reports it.
pub fn condition<'a>(obj: &'a Value, type_: &str) -> Option<Condition<'a>> {
    array_at(obj, "status.conditions")
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        .map(|c| Condition {
            status: str_at(c, "status").unwrap_or("Unknown"),
            reason: str_at(c, "reason").unwrap_or_default(),
            message: str_at(c, "message").unwrap_or_default(),
        })
}

/// `reason: message`, or whichever of the two is present.
pub fn reason_message(reason: &str, message: &str) -> String {
    match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("{reason}: {message}"),
        (false, true) => reason.to_string(),
        _ => message.to_string(),
    }
}

/// Clamps a count into the `u32` progress counters (negative counts become 0).
pub fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lenient_numbers() {
        let v = json!({"a": {"i": 3, "f": 2.0, "s": "4", "bad": "x", "frac": 1.5, "n": null}});
        assert_eq!(int_at(&v, "a.i"), Some(3));
        assert_eq!(int_at(&v, "a.f"), Some(2));
        assert_eq!(int_at(&v, "a.s"), Some(4));
        assert_eq!(int_at(&v, "a.bad"), None);
        assert_eq!(int_at(&v, "a.frac"), None);
        assert_eq!(int_at(&v, "a.n"), None);
        assert_eq!(int_or(&v, "a.missing.deep", 7), 7);
        assert_eq!(int_or(&json!("not an object"), "a.i", 1), 1);
    }

    #[test]
    fn conditions_and_groups() {
        let v = json!({"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "R", "message": "m"},
            {"type": "Odd"},
            "garbage"
        ]}});
        let c = condition(&v, "Ready").unwrap();
        assert!(c.is_false());
        assert_eq!(reason_message(c.reason, c.message), "R: m");
        assert_eq!(condition(&v, "Odd").unwrap().status, "Unknown");
        assert!(condition(&v, "Missing").is_none());
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("v1"), "");
        assert_eq!(count(-3), 0);
    }
}
