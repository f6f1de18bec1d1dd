//! Old key names. A stack renames a key without breaking values written for the old
//! name by marking the new one's schema with `x-stackctl-alias: "<old name>"`
//! (on the field, or on its type to cover every field of that type). Every source of
//! values — defaults, profiles, `-f` files, a previous release's record, `--set`
//! flags — is rewritten to the new name as it is read, so the rest of the engine
//! (merge, schema walk, typing, stored records) only ever sees the new one.
//!
//! A source that writes both names at once is ambiguous: it is rejected, with both
//! keys and the source named, rather than letting one silently win.

use serde_json::Value;

use super::path::{Path, Seg};
use super::schema::{Child, SchemaTree};

/// Schema extension naming the old key a property may also be written as.
pub const ALIAS_MARKER: &str = "x-stackctl-alias";

/// An old key rewritten to its new name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Renamed {
    pub from: Path,
    pub to: Path,
}

/// Both names of one key set in one source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Conflict {
    pub alias: Path,
    pub canonical: Path,
}

impl Conflict {
    pub fn message(&self) -> String {
        format!(
            "set twice, as `{}` and under its old name `{}`; keep only `{}`",
            self.canonical, self.alias, self.canonical
        )
    }
}

impl SchemaTree {
    /// The old name of the property described by `s`, looked for where
    /// `#[schemars(extend(...))]` lands: on the field and on the type it refers to.
    fn alias_of<'a>(&'a self, s: &'a Value) -> Option<&'a str> {
        std::iter::once(s)
            .chain(self.alternatives(s))
            .find_map(|alt| alt.get(ALIAS_MARKER).and_then(Value::as_str))
    }

    /// The properties of `s` that have an old name: `(new, old)`.
    fn aliased_properties(&self, s: &Value) -> Vec<(String, String)> {
        self.properties(s)
            .into_iter()
            .filter_map(|(k, ps)| self.alias_of(ps).map(|a| (k.to_owned(), a.to_owned())))
            .collect()
    }

    /// `path` with every old key replaced by its new name, and where each
    /// replacement happened (the new name's path); the schema decides, segment by
    /// segment, so an old name is only recognised where it was used.
    pub(crate) fn canonical_path(&self, path: &Path) -> (Path, Vec<Renamed>) {
        let mut out = Path::root();
        let mut renamed = Vec::new();
        let mut cur = Child::Schema(self.root());
        for seg in path.segs() {
            let Child::Schema(s) = cur else {
                out.push(seg.clone());
                continue;
            };
            match seg {
                Seg::Key(k) => {
                    let key = match self.child_key(s, k) {
                        Child::Unknown => self
                            .aliased_properties(s)
                            .into_iter()
                            .find(|(_, old)| old == k)
                            .map(|(new, _)| new),
                        _ => None,
                    };
                    if let Some(new) = key {
                        let from = out.key(k);
                        out.push_key(&new);
                        renamed.push(Renamed {
                            from,
                            to: out.clone(),
                        });
                        cur = self.child_key(s, &new);
                    } else {
                        out.push_key(k);
                        cur = self.child_key(s, k);
                    }
                }
                Seg::Index(i) => {
                    out.push(seg.clone());
                    cur = self.child_index(s, *i);
                }
            }
        }
        (out, renamed)
    }

    /// Rewrites old keys in one source's values to their new names. Returns what
    /// was renamed (so line numbers can follow) and, where both names were set,
    /// the conflicts; of a conflicting pair only the new name is kept.
    pub(crate) fn normalise_aliases(&self, value: &mut Value) -> (Vec<Renamed>, Vec<Conflict>) {
        let mut renamed = Vec::new();
        let mut conflicts = Vec::new();
        self.normalise_at(
            self.root(),
            value,
            &mut Path::root(),
            &mut renamed,
            &mut conflicts,
        );
        (renamed, conflicts)
    }

    fn normalise_at(
        &self,
        s: &Value,
        value: &mut Value,
        at: &mut Path,
        renamed: &mut Vec<Renamed>,
        conflicts: &mut Vec<Conflict>,
    ) {
        match value {
            Value::Object(map) => {
                for (new, old) in self.aliased_properties(s) {
                    // An old name that is also a real key here is that key, as in
                    // `canonical_path`.
                    if !map.contains_key(&old) || !matches!(self.child_key(s, &old), Child::Unknown)
                    {
                        continue;
                    }
                    if map.contains_key(&new) {
                        // Reported once, as the conflict, not again as an unknown key.
                        map.shift_remove(&old);
                        conflicts.push(Conflict {
                            alias: at.key(&old),
                            canonical: at.key(&new),
                        });
                        continue;
                    }
                    if let Some(v) = map.shift_remove(&old) {
                        map.insert(new.clone(), v);
                        renamed.push(Renamed {
                            from: at.key(&old),
                            to: at.key(&new),
                        });
                    }
                }
                for (k, v) in map.iter_mut() {
                    if let Child::Schema(cs) = self.child_key(s, k) {
                        at.push_key(k);
                        self.normalise_at(cs, v, at, renamed, conflicts);
                        at.pop();
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    if let Child::Schema(cs) = self.child_index(s, i) {
                        at.push(Seg::Index(i));
                        self.normalise_at(cs, v, at, renamed, conflicts);
                        at.pop();
                    }
                }
            }
            _ => {}
        }
    }
}

/// `path` with the prefix `from` replaced by `to`, if it starts with `from`.
pub(crate) fn reroot(path: &Path, from: &Path, to: &Path) -> Option<Path> {
    if !path.starts_with(from) {
        return None;
    }
    let mut out = to.clone();
    for seg in &path.segs()[from.len()..] {
        out.push(seg.clone());
    }
    Some(out)
}
