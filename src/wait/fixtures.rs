//! Test fixtures: realistic objects as a v1.20 API server returns them, in
//! `src/wait/testdata/`, and helpers to vary one field at a time.

use serde_json::Value;

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/src/wait/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Sets the field at a JSON pointer (`~1` escapes a `/` in a key), creating objects
/// on the way; an array index one past the end appends.
pub fn set(mut v: Value, pointer: &str, value: Value) -> Value {
    let mut cur = &mut v;
    for raw in pointer.trim_start_matches('/').split('/') {
        let key = unescape(raw);
        if let Value::Array(items) = cur {
            let i: usize = key.parse().expect("array index");
            if i == items.len() {
                items.push(Value::Null);
            }
            cur = &mut items[i];
            continue;
        }
        if !cur.is_object() {
            *cur = Value::Object(serde_json::Map::new());
        }
        cur = cur
            .as_object_mut()
            .unwrap()
            .entry(key)
            .or_insert(Value::Null);
    }
    *cur = value;
    v
}

/// Removes the field at a JSON pointer, if present.
pub fn remove(mut v: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    if let Some(Value::Object(map)) = v.pointer_mut(parent) {
        map.remove(&unescape(key));
    }
    v
}

fn unescape(key: &str) -> String {
    key.replace("~1", "/").replace("~0", "~")
}
