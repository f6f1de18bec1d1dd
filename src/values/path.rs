//! Paths into a values tree: `mysql.auth.rootPassword`, `ingress.hosts[0].host`.
//!
//! The textual form is the one users type after `--set`, so a key that itself
//! contains a `.`, `[` or `\` is written with a backslash escape (`a.b\.c`).

use std::fmt;

/// One step of a [`Path`]: a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A location in a values tree. Displays in `--set` syntax.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path(Vec<Seg>);

impl Path {
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Parses the `--set` form leniently: this is for paths written by stack
    /// authors in code (`"mysql.external.host"`), not for user input, so
    /// malformed brackets are taken as part of the key rather than rejected.
    pub fn parse(text: &str) -> Self {
        let mut segs = Vec::new();
        let mut key = String::new();
        let mut chars = text.chars().peekable();
        let mut pending_key = true;
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        key.push(next);
                    }
                }
                '.' => {
                    if pending_key {
                        segs.push(Seg::Key(std::mem::take(&mut key)));
                    }
                    pending_key = true;
                }
                '[' => {
                    let mut digits = String::new();
                    let mut closed = false;
                    for d in chars.by_ref() {
                        if d == ']' {
                            closed = true;
                            break;
                        }
                        digits.push(d);
                    }
                    if let (true, Ok(i)) = (closed, digits.parse::<usize>()) {
                        if pending_key && !key.is_empty() {
                            segs.push(Seg::Key(std::mem::take(&mut key)));
                        }
                        segs.push(Seg::Index(i));
                        pending_key = false;
                    } else {
                        key.push('[');
                        key.push_str(&digits);
                        if closed {
                            key.push(']');
                        }
                        pending_key = true;
                    }
                }
                c => {
                    key.push(c);
                    pending_key = true;
                }
            }
        }
        if pending_key && (!key.is_empty() || !segs.is_empty()) {
            segs.push(Seg::Key(key));
        }
        Self(segs)
    }

    pub fn segs(&self) -> &[Seg] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn push(&mut self, seg: Seg) {
        self.0.push(seg);
    }

    pub fn push_key(&mut self, key: &str) {
        self.0.push(Seg::Key(key.to_owned()));
    }

    pub fn pop(&mut self) -> Option<Seg> {
        self.0.pop()
    }

    /// A new path one step further down.
    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.push_key(key);
        p
    }

    /// A new path one list element further down.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.push(Seg::Index(i));
        p
    }

    pub fn parent(&self) -> Option<Self> {
        let (_, rest) = self.0.split_last()?;
        Some(Self(rest.to_vec()))
    }

    /// The last map key, if the path ends in one.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }

    pub fn starts_with(&self, prefix: &Path) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// Number of leading segments shared with `other`.
    pub fn common_prefix_len(&self, other: &Path) -> usize {
        self.0
            .iter()
            .zip(&other.0)
            .take_while(|(a, b)| a == b)
            .count()
    }

    /// Looks the path up in a JSON value.
    pub fn get<'v>(&self, mut value: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        for seg in &self.0 {
            value = match seg {
                Seg::Key(k) => value.as_object()?.get(k)?,
                Seg::Index(i) => value.as_array()?.get(*i)?,
            };
        }
        Some(value)
    }

    /// Writes `value` at the path in `root`, creating maps and lists on the way
    /// (lists are padded with `null`, as in Helm).
    pub fn set(&self, root: &mut serde_json::Value, value: serde_json::Value) {
        assign(root, &self.0, value);
    }
}

/// Writes `value` at `segs` under `slot`, creating maps and lists on the way
/// (lists are padded with `null`, as in Helm).
fn assign(slot: &mut serde_json::Value, segs: &[Seg], value: serde_json::Value) {
    let Some((first, rest)) = segs.split_first() else {
        *slot = value;
        return;
    };
    match first {
        Seg::Key(k) => {
            if !slot.is_object() {
                *slot = serde_json::Value::Object(serde_json::Map::new());
            }
            if let serde_json::Value::Object(map) = slot {
                assign(
                    map.entry(k.as_str()).or_insert(serde_json::Value::Null),
                    rest,
                    value,
                );
            }
        }
        Seg::Index(i) => {
            if !slot.is_array() {
                *slot = serde_json::Value::Array(Vec::new());
            }
            if let serde_json::Value::Array(list) = slot {
                if list.len() <= *i {
                    list.resize(*i + 1, serde_json::Value::Null);
                }
                assign(&mut list[*i], rest, value);
            }
        }
    }
}

impl From<String> for Path {
    fn from(text: String) -> Self {
        Self::parse(&text)
    }
}

impl From<&str> for Path {
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl From<&Path> for Path {
    fn from(p: &Path) -> Self {
        p.clone()
    }
}

impl From<Vec<Seg>> for Path {
    fn from(segs: Vec<Seg>) -> Self {
        Self(segs)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    for c in k.chars() {
                        if matches!(c, '.' | '[' | '\\' | ',' | '=') {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for text in ["a", "a.b.c", "a.list[0].c", "n[1][2]", r"a.b\.c", ""] {
            assert_eq!(Path::parse(text).to_string(), text, "{text}");
        }
        assert_eq!(
            Path::parse("a.list[3].c").segs(),
            &[
                Seg::Key("a".into()),
                Seg::Key("list".into()),
                Seg::Index(3),
                Seg::Key("c".into())
            ]
        );
        // Not an index: kept as part of the key instead of failing.
        assert_eq!(Path::parse("a[x]").segs(), &[Seg::Key("a[x]".into())]);
    }

    #[test]
    fn get_follows_keys_and_indexes() {
        let v = serde_json::json!({"a": {"l": [1, {"b": true}]}});
        assert_eq!(
            Path::parse("a.l[1].b").get(&v),
            Some(&serde_json::json!(true))
        );
        assert_eq!(Path::parse("a.l[5]").get(&v), None);
        assert_eq!(Path::parse("a.x").get(&v), None);
    }
}
