//! Layer merging with origin tracking.
//!
//! The semantics are RFC 7396 JSON merge patch, i.e. `json_patch::merge` (the
//! tests check we agree with it): maps merge recursively, lists and scalars
//! replace, `null` deletes. This is how Helm combines values files and
//! `--set`s. It is reimplemented rather than called so that the same walk can
//! move origins along with values.

use serde_json::{Map, Value};

use super::origin::{Origin, Origins};
use super::path::Path;

/// Merges `patch` into `target`. `origin_of` tells where each node of the
/// patch came from (`None`: nothing specific, e.g. a map created implicitly by
/// `--set a.b=c`, which then keeps the origin it had).
pub(crate) fn merge(
    target: &mut Value,
    patch: Value,
    origins: &mut Origins,
    origin_of: &dyn Fn(&Path) -> Option<Origin>,
) {
    let mut path = Path::root();
    merge_at(target, patch, &mut path, origins, origin_of);
}

fn merge_at(
    target: &mut Value,
    patch: Value,
    path: &mut Path,
    origins: &mut Origins,
    origin_of: &dyn Fn(&Path) -> Option<Origin>,
) {
    let Value::Object(patch) = patch else {
        origins.clear_subtree(path);
        origins.set_tree(path, &patch, origin_of);
        *target = patch;
        return;
    };
    if !target.is_object() {
        origins.clear_subtree(path);
        *target = Value::Object(Map::new());
    }
    if !path.is_root()
        && let Some(o) = origin_of(path)
    {
        origins.set_if_absent(path, o);
    }
    let Value::Object(map) = target else { return };
    for (key, value) in patch {
        path.push_key(&key);
        if value.is_null() {
            // shift_remove keeps the order of the remaining keys stable for diffs.
            map.shift_remove(&key);
            match origin_of(path) {
                Some(o) => origins.mark_removed(path, o),
                None => origins.clear_subtree(path),
            }
        } else {
            merge_at(
                map.entry(key).or_insert(Value::Null),
                value,
                path,
                origins,
                origin_of,
            );
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flag(text: &str) -> impl Fn(&Path) -> Option<Origin> + '_ {
        move |_| Some(Origin::Flag(text.to_owned()))
    }

    #[test]
    fn agrees_with_json_patch_merge() {
        let cases = [
            (
                json!({"a": {"b": 1, "c": [1, 2]}, "d": 1}),
                json!({"a": {"c": [3], "e": null}, "d": null}),
            ),
            (json!({"a": 1}), json!({"a": {"b": {"c": null, "d": 2}}})),
            (json!({"a": {"b": 1}}), json!({"a": "scalar"})),
            (json!({"l": [{"a": 1}]}), json!({"l": [{"b": 2}]})),
            (json!({}), json!({"x": {"y": null}})),
        ];
        for (base, patch) in cases {
            let mut ours = base.clone();
            merge(&mut ours, patch.clone(), &mut Origins::default(), &|_| None);
            let mut theirs = base.clone();
            json_patch::merge(&mut theirs, &patch);
            assert_eq!(ours, theirs, "{base} <- {patch}");
        }
    }

    #[test]
    fn origins_follow_the_values() {
        let mut v = json!({});
        let mut o = Origins::default();
        merge(
            &mut v,
            json!({"a": {"b": 1, "c": {"d": 2}}, "keep": 1}),
            &mut o,
            &flag("defaults"),
        );
        merge(
            &mut v,
            json!({"a": {"c": "flat", "e": 3}}),
            &mut o,
            &flag("-f x"),
        );
        merge(
            &mut v,
            json!({"keep": null}),
            &mut o,
            &flag("--set keep=null"),
        );
        let at = |s: &str| o.get(&Path::parse(s)).map(ToString::to_string);
        assert_eq!(at("a.b").as_deref(), Some("defaults"));
        assert_eq!(at("a.c").as_deref(), Some("-f x"));
        // The old subtree's origins are gone with it.
        assert_eq!(o.exact(&Path::parse("a.c.d")), None);
        assert_eq!(at("a.e").as_deref(), Some("-f x"));
        // A map merged into keeps the origin of whoever created it.
        assert_eq!(at("a").as_deref(), Some("defaults"));
        assert_eq!(v, json!({"a": {"b": 1, "c": "flat", "e": 3}}));
        assert_eq!(
            o.removed_by(&Path::parse("keep"))
                .map(ToString::to_string)
                .as_deref(),
            Some("--set keep=null")
        );
    }
}
