//! The stack's JSON schema (from schemars) as the authority on values: which
//! keys exist, what type a `--set` value gets, and what is wrong with a tree.
//!
//! Only the parts of JSON Schema that schemars emits for serde types are
//! interpreted: `$ref` into `$defs`, `anyOf`/`oneOf` (Option and enums),
//! `allOf`, `type`, `properties`, `additionalProperties`, `required`, `items`,
//! `enum`/`const`, numeric bounds, `minLength`/`maxLength`,
//! `minItems`/`maxItems` and the string formats listed in
//! [`checks::format`](super::checks::format()). `pattern` is not checked (no regex
//! engine); use a semantic check instead.
//!
//! One deliberate departure from JSON Schema: an object schema with
//! `properties` but no `additionalProperties` is treated as closed. serde would
//! silently ignore unknown keys of such a struct, and a silently ignored typo is
//! exactly what this module exists to prevent.

use std::cell::OnceCell;

use serde_json::{Map, Value};

use super::checks;
use super::origin::Origins;
use super::path::{Path, Seg};
use super::problems::{Problem, Problems};
use super::secrets::{SECRET_MARKER, SecretKind};

static ANY: Value = Value::Bool(true);

/// How deep `$ref` chains and nested `anyOf`s are followed; schemars never
/// produces more than a few levels, so this only guards against cycles.
const MAX_SCHEMA_HOPS: usize = 32;

/// What the schema says about a child of a node.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Child<'a> {
    /// Described by this (unresolved) schema.
    Schema(&'a Value),
    /// Anything goes (`serde_json::Value` fields, open maps).
    Any,
    /// No such key: the schema forbids it.
    Unknown,
}

/// The JSON types a schema admits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Types {
    pub any: bool,
    pub null: bool,
    pub boolean: bool,
    pub integer: bool,
    pub number: bool,
    pub string: bool,
    pub array: bool,
    pub object: bool,
}

impl Types {
    fn add_name(&mut self, name: &str) {
        match name {
            "null" => self.null = true,
            "boolean" => self.boolean = true,
            "integer" => self.integer = true,
            "number" => self.number = true,
            "string" => self.string = true,
            "array" => self.array = true,
            "object" => self.object = true,
            _ => self.any = true,
        }
    }

    fn add_value(&mut self, v: &Value) {
        match v {
            Value::Null => self.null = true,
            Value::Bool(_) => self.boolean = true,
            Value::Number(n) if n.is_f64() => self.number = true,
            Value::Number(_) => self.integer = true,
            Value::String(_) => self.string = true,
            Value::Array(_) => self.array = true,
            Value::Object(_) => self.object = true,
        }
    }

    fn union(mut self, o: Types) -> Types {
        self.any |= o.any;
        self.null |= o.null;
        self.boolean |= o.boolean;
        self.integer |= o.integer;
        self.number |= o.number;
        self.string |= o.string;
        self.array |= o.array;
        self.object |= o.object;
        self
    }

    pub fn accepts(self, v: &Value) -> bool {
        self.any
            || match v {
                Value::Null => self.null,
                Value::Bool(_) => self.boolean,
                Value::Number(n) => self.number || (self.integer && (n.is_i64() || n.is_u64())),
                Value::String(_) => self.string,
                Value::Array(_) => self.array,
                Value::Object(_) => self.object,
            }
    }

    /// "an integer", "a string or null", …
    pub fn describe(self) -> String {
        let mut names = Vec::new();
        if self.string {
            names.push("a string");
        }
        if self.number {
            names.push("a number");
        } else if self.integer {
            names.push("an integer");
        }
        if self.boolean {
            names.push("a boolean (true or false)");
        }
        if self.array {
            names.push("a list");
        }
        if self.object {
            names.push("a map");
        }
        if self.null {
            names.push("null");
        }
        if names.is_empty() {
            return "nothing (this key cannot be set)".to_owned();
        }
        names.join(" or ")
    }
}

/// A value for a message: quoted and shortened, or only its kind when secret.
pub(crate) fn describe_value(v: &Value, secret: bool) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a map".to_owned(),
        Value::Bool(_) | Value::Number(_) | Value::String(_) if secret => match v {
            Value::String(_) => "a string (hidden, secret)".to_owned(),
            Value::Number(_) => "a number (hidden, secret)".to_owned(),
            _ => "a boolean (hidden, secret)".to_owned(),
        },
        Value::String(s) => {
            const MAX: usize = 60;
            if s.chars().count() > MAX {
                let short: String = s.chars().take(MAX).collect();
                format!("{}…", Value::String(short))
            } else {
                Value::String(s.clone()).to_string()
            }
        }
        other => other.to_string(),
    }
}

/// The schema of a stack's values type.
#[derive(Clone, Debug)]
pub struct SchemaTree {
    root: Value,
}

impl SchemaTree {
    pub fn of<T: schemars::JsonSchema>() -> Self {
        Self::from_value(schemars::schema_for!(T).to_value())
    }

    pub fn from_value(root: Value) -> Self {
        Self { root }
    }

    pub fn root(&self) -> &Value {
        &self.root
    }

    /// Follows `$ref`s. A reference that does not resolve admits anything: the
    /// schema is generated by our own build, so leniency cannot hide user errors.
    pub(crate) fn deref<'a>(&'a self, mut s: &'a Value) -> &'a Value {
        for _ in 0..MAX_SCHEMA_HOPS {
            let Some(r) = s.get("$ref").and_then(Value::as_str) else {
                return s;
            };
            match r.strip_prefix('#').and_then(|p| self.root.pointer(p)) {
                Some(target) => s = target,
                None => return &ANY,
            }
        }
        &ANY
    }

    /// The alternatives a value may match, with `$ref`, `anyOf`, `oneOf` and
    /// `allOf` flattened (`allOf` is approximated by its parts, which is exact
    /// for the single-element `allOf` schemars uses).
    pub(crate) fn alternatives<'a>(&'a self, s: &'a Value) -> Vec<&'a Value> {
        let mut out = Vec::new();
        self.collect_alternatives(s, &mut out, 0);
        out
    }

    fn collect_alternatives<'a>(&'a self, s: &'a Value, out: &mut Vec<&'a Value>, depth: usize) {
        let s = self.deref(s);
        if depth >= MAX_SCHEMA_HOPS {
            out.push(s);
            return;
        }
        let branches = ["anyOf", "oneOf", "allOf"]
            .iter()
            .find_map(|k| s.get(*k).and_then(Value::as_array));
        match branches {
            Some(bs) => {
                for b in bs {
                    self.collect_alternatives(b, out, depth + 1);
                }
            }
            None => out.push(s),
        }
    }

    /// True for `true`, `{}` and schemas that constrain nothing we check.
    pub(crate) fn is_any(alt: &Value) -> bool {
        match alt {
            Value::Bool(b) => *b,
            Value::Object(o) => ![
                "type",
                "enum",
                "const",
                "properties",
                "additionalProperties",
                "items",
                "prefixItems",
                "not",
                "anyOf",
                "oneOf",
                "allOf",
                "$ref",
            ]
            .iter()
            .any(|k| o.contains_key(*k)),
            _ => true,
        }
    }

    /// Types admitted by one alternative (already flattened).
    pub(crate) fn types_of(alt: &Value) -> Types {
        let mut t = Types::default();
        if Self::is_any(alt) {
            t.any = true;
            return t;
        }
        let Value::Object(o) = alt else {
            return t; // `false`
        };
        match o.get("type") {
            Some(Value::String(name)) => t.add_name(name),
            Some(Value::Array(names)) => names
                .iter()
                .filter_map(Value::as_str)
                .for_each(|n| t.add_name(n)),
            _ => {
                if let Some(vals) = o.get("enum").and_then(Value::as_array) {
                    for v in vals {
                        t.add_value(v);
                    }
                } else if let Some(c) = o.get("const") {
                    t.add_value(c);
                } else if o.contains_key("properties") || o.contains_key("additionalProperties") {
                    t.object = true;
                } else if o.contains_key("items") || o.contains_key("prefixItems") {
                    t.array = true;
                } else {
                    t.any = true;
                }
            }
        }
        t
    }

    /// Union of the types of all alternatives of `s`.
    pub(crate) fn types(&self, s: &Value) -> Types {
        self.alternatives(s)
            .into_iter()
            .map(Self::types_of)
            .fold(Types::default(), Types::union)
    }

    /// What the schema says about key `key` of an object described by `s`.
    pub(crate) fn child_key<'a>(&'a self, s: &'a Value, key: &str) -> Child<'a> {
        let mut extra = Child::Unknown;
        for alt in self.alternatives(s) {
            if Self::is_any(alt) {
                return Child::Any;
            }
            let t = Self::types_of(alt);
            if !(t.object || t.any) {
                continue;
            }
            if let Some(p) = alt.get("properties").and_then(|p| p.get(key)) {
                return Child::Schema(p);
            }
            if matches!(extra, Child::Unknown) {
                extra = Self::additional(alt);
            }
        }
        extra
    }

    /// The schema for keys not listed in `properties` of one alternative.
    pub(crate) fn additional(alt: &Value) -> Child<'_> {
        match alt.get("additionalProperties") {
            Some(Value::Bool(false)) => Child::Unknown,
            Some(Value::Bool(true)) => Child::Any,
            Some(s) => Child::Schema(s),
            None if alt.get("properties").is_some() => Child::Unknown,
            None => Child::Any,
        }
    }

    /// What the schema says about the elements of a list described by `s`.
    pub(crate) fn child_index<'a>(&'a self, s: &'a Value, i: usize) -> Child<'a> {
        for alt in self.alternatives(s) {
            if Self::is_any(alt) {
                return Child::Any;
            }
            if !Self::types_of(alt).array {
                continue;
            }
            if let Some(prefix) = alt.get("prefixItems").and_then(Value::as_array) {
                return match prefix.get(i) {
                    Some(p) => Child::Schema(p),
                    None => match alt.get("items") {
                        Some(Value::Bool(false)) => Child::Unknown,
                        Some(items) => Child::Schema(items),
                        None => Child::Any,
                    },
                };
            }
            return match alt.get("items") {
                Some(items) => Child::Schema(items),
                None => Child::Any,
            };
        }
        Child::Unknown
    }

    /// The schema at `path` from the root. `Any` as soon as the schema stops
    /// constraining (a free-form subtree).
    pub(crate) fn lookup(&self, path: &Path) -> Child<'_> {
        let mut cur = Child::Schema(&self.root);
        for seg in path.segs() {
            let Child::Schema(s) = cur else {
                return cur;
            };
            cur = match seg {
                Seg::Key(k) => self.child_key(s, k),
                Seg::Index(i) => self.child_index(s, *i),
            };
        }
        cur
    }

    /// The secret marker on a schema, looked for on the schema as written (where
    /// a field-level `#[schemars(extend(...))]` lands) and on what it refers to
    /// (a type-level marker).
    pub(crate) fn secret_kind(&self, s: &Value) -> Option<SecretKind> {
        let mut kind = SecretKind::from_marker(s.get(SECRET_MARKER));
        for alt in std::iter::once(self.deref(s)).chain(self.alternatives(s)) {
            kind = match (kind, SecretKind::from_marker(alt.get(SECRET_MARKER))) {
                (Some(SecretKind::Generate), _) | (_, Some(SecretKind::Generate)) => {
                    Some(SecretKind::Generate)
                }
                (a, b) => a.or(b),
            };
        }
        kind
    }

    /// Whether the value at `path`, or anything containing it, is a secret.
    pub fn is_secret(&self, path: &Path) -> bool {
        let mut cur: &Value = &self.root;
        for seg in path.segs() {
            let child = match seg {
                Seg::Key(k) => self.child_key(cur, k),
                Seg::Index(i) => self.child_index(cur, *i),
            };
            match child {
                Child::Schema(s) => {
                    if self.secret_kind(s).is_some() {
                        return true;
                    }
                    cur = s;
                }
                Child::Any | Child::Unknown => return false,
            }
        }
        false
    }

    /// Properties declared by any object alternative of `s`, in schema order.
    pub(crate) fn properties<'a>(&'a self, s: &'a Value) -> Vec<(&'a str, &'a Value)> {
        let mut out: Vec<(&str, &Value)> = Vec::new();
        for alt in self.alternatives(s) {
            if let Some(props) = alt.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    if !out.iter().any(|(seen, _)| *seen == k.as_str()) {
                        out.push((k.as_str(), v));
                    }
                }
            }
        }
        out
    }

    /// Every key path the schema declares (through nested objects, not into
    /// lists or free-form maps): the candidates for "did you mean".
    pub(crate) fn all_paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        let mut prefix = Path::root();
        self.collect_paths(&self.root, &mut prefix, &mut out, 0);
        out
    }

    fn collect_paths(&self, s: &Value, prefix: &mut Path, out: &mut Vec<Path>, depth: usize) {
        // Recursive types would otherwise be enumerated forever.
        const MAX_DEPTH: usize = 12;
        const MAX_PATHS: usize = 20_000;
        if depth >= MAX_DEPTH || out.len() >= MAX_PATHS {
            return;
        }
        for (k, sub) in self.properties(s) {
            prefix.push_key(k);
            out.push(prefix.clone());
            self.collect_paths(sub, prefix, out, depth + 1);
            prefix.pop();
        }
    }

    /// Types a `--set` value by the schema of its target (see the module docs of
    /// [`set`](super::set)). Where the schema has no opinion Helm's rules apply,
    /// so an unknown key still gets a value and is reported as unknown later.
    pub(crate) fn type_set_value(&self, path: &Path, raw: &str) -> Result<Value, String> {
        if raw.eq_ignore_ascii_case("null") {
            return Ok(Value::Null);
        }
        let s = match self.lookup(path) {
            Child::Schema(s) => s,
            Child::Any | Child::Unknown => return Ok(helm_typed(raw)),
        };
        let t = self.types(s);
        if t.any {
            return Ok(helm_typed(raw));
        }
        if t.string {
            // Mixed types (int-or-string, quantities): numbers only in Helm's
            // canonical integer form, so "0123" and "1.5" stay text.
            if (t.integer || t.number)
                && let Some(n) = helm_int(raw)
            {
                return Ok(n);
            }
            if t.boolean
                && let Some(b) = parse_bool(raw)
            {
                return Ok(Value::Bool(b));
            }
            return Ok(Value::String(raw.to_owned()));
        }
        if t.integer || t.number {
            if let Ok(i) = raw.parse::<i64>() {
                return Ok(i.into());
            }
            if let Ok(u) = raw.parse::<u64>() {
                return Ok(u.into());
            }
            if t.number
                && let Some(n) = raw
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .and_then(serde_json::Number::from_f64)
            {
                return Ok(Value::Number(n));
            }
        }
        if t.boolean
            && let Some(b) = parse_bool(raw)
        {
            return Ok(Value::Bool(b));
        }
        let secret = self.is_secret(path);
        Err(format!(
            "expected {}, got {}",
            t.describe(),
            describe_value(&Value::String(raw.to_owned()), secret)
        ))
    }

    /// Checks `value` against the schema; appends every problem found.
    pub(crate) fn validate(&self, value: &Value, origins: &Origins, problems: &mut Problems) {
        let mut cx = Walk {
            tree: self,
            origins,
            problems,
            all_paths: OnceCell::new(),
        };
        let mut path = Path::root();
        cx.check(&self.root, value, &mut path, false);
    }
}

fn parse_bool(raw: &str) -> Option<bool> {
    if raw.eq_ignore_ascii_case("true") {
        Some(true)
    } else if raw.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Helm's integer rule: `0`, or digits not starting with `0` that fit an i64.
fn helm_int(raw: &str) -> Option<Value> {
    if raw == "0" {
        return Some(0.into());
    }
    if raw.starts_with('0') {
        return None;
    }
    raw.parse::<i64>().ok().map(Value::from)
}

/// Helm's `typedVal`: true/false/null (any case), integers without a leading
/// zero; everything else, including `1.5` and `v1.2.0`, stays a string.
pub(crate) fn helm_typed(raw: &str) -> Value {
    if let Some(b) = parse_bool(raw) {
        return Value::Bool(b);
    }
    if raw.eq_ignore_ascii_case("null") {
        return Value::Null;
    }
    helm_int(raw).unwrap_or_else(|| Value::String(raw.to_owned()))
}

/// Closeness of two keys for "did you mean", as an edit distance, if close enough.
pub(crate) fn closeness(typed: &str, candidate: &str) -> Option<usize> {
    let (a, b) = (typed.to_lowercase(), candidate.to_lowercase());
    if a == b {
        return Some(0);
    }
    let d = strsim::damerau_levenshtein(&a, &b);
    let longest = a.chars().count().max(b.chars().count());
    let allowed = (longest / 3).clamp(1, 3);
    // Case-only differences rank ahead of real typos.
    (d <= allowed).then_some(d + 1)
}

/// Closest candidate by [`closeness`], if any.
pub(crate) fn closest<'c>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    candidates
        .into_iter()
        .filter_map(|c| closeness(typed, c).map(|d| (d, c)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

struct Walk<'a> {
    tree: &'a SchemaTree,
    origins: &'a Origins,
    problems: &'a mut Problems,
    all_paths: OnceCell<Vec<Path>>,
}

impl Walk<'_> {
    fn check(&mut self, schema: &Value, value: &Value, path: &mut Path, secret: bool) {
        let tree = self.tree;
        let alts = tree.alternatives(schema);
        if alts.iter().any(|a| SchemaTree::is_any(a)) {
            return;
        }
        let secret = secret || tree.secret_kind(schema).is_some();
        // Enum variants come as one `enum` or as one `const` per alternative
        // (when variants have doc comments); either way they form one choice.
        let (choice_alts, other_alts): (Vec<&Value>, Vec<&Value>) = alts
            .iter()
            .partition(|a| a.get("enum").is_some() || a.get("const").is_some());
        let choices: Vec<Value> = choice_alts
            .iter()
            .flat_map(|a| match (a.get("enum"), a.get("const")) {
                (Some(Value::Array(vals)), _) => vals.clone(),
                (_, Some(c)) => vec![c.clone()],
                _ => Vec::new(),
            })
            .collect();
        if choices.contains(value) {
            return;
        }
        let matching: Vec<&Value> = other_alts
            .into_iter()
            .filter(|a| SchemaTree::types_of(a).accepts(value))
            .collect();
        match matching.as_slice() {
            [] if choices.iter().any(|c| same_kind(c, value)) => {
                self.bad_choice(&choices, value, path, secret);
            }
            [] => {
                let expected = tree.types(schema);
                let p = self.problems.add(
                    path.clone(),
                    format!(
                        "expected {}, got {}",
                        expected.describe(),
                        describe_value(value, secret)
                    ),
                );
                if expected.string && matches!(value, Value::Number(_) | Value::Bool(_)) {
                    p.hint("quote the value in YAML files to keep it as text");
                }
            }
            [one] => self.check_one(one, value, path, secret),
            several => {
                // Several alternatives take this JSON type (untagged enums): it is
                // valid if any of them accepts it; otherwise report the closest.
                let mut best: Option<Problems> = None;
                for alt in several {
                    let mut trial = Problems::new();
                    let mut sub = Walk {
                        tree,
                        origins: self.origins,
                        problems: &mut trial,
                        all_paths: OnceCell::new(),
                    };
                    sub.check_one(alt, value, path, secret);
                    if trial.is_empty() {
                        return;
                    }
                    if best.as_ref().is_none_or(|b| trial.len() < b.len()) {
                        best = Some(trial);
                    }
                }
                if let Some(best) = best {
                    self.problems.extend(best);
                }
            }
        }
    }

    fn check_one(&mut self, alt: &Value, value: &Value, path: &mut Path, secret: bool) {
        match value {
            Value::Number(n) => self.check_number(alt, n, path, secret),
            Value::String(s) => self.check_string(alt, s, path, secret),
            Value::Object(map) => self.check_object(alt, map, path, secret),
            Value::Array(items) => self.check_array(alt, items, path, secret),
            Value::Null | Value::Bool(_) => {}
        }
    }

    fn bad_choice(&mut self, allowed: &[Value], value: &Value, path: &Path, secret: bool) {
        let list: Vec<String> = allowed.iter().map(|v| format!("`{}`", plain(v))).collect();
        let p = self.problems.add(
            path.clone(),
            format!(
                "expected one of {}, got {}",
                list.join(", "),
                describe_value(value, secret)
            ),
        );
        if let Value::String(s) = value {
            let names = allowed.iter().filter_map(Value::as_str);
            if let Some(best) = closest(s, names) {
                p.hint(format!("did you mean `{best}`?"));
            }
        }
    }

    fn check_number(&mut self, alt: &Value, n: &serde_json::Number, path: &Path, secret: bool) {
        let Some(v) = n.as_f64() else { return };
        let bound = |k: &str| alt.get(k).and_then(Value::as_f64);
        let msg = if let Some(min) = bound("minimum").filter(|m| v < *m) {
            format!("must be at least {}", fmt_num(min))
        } else if let Some(max) = bound("maximum").filter(|m| v > *m) {
            format!("must be at most {}", fmt_num(max))
        } else if let Some(min) = bound("exclusiveMinimum").filter(|m| v <= *m) {
            format!("must be greater than {}", fmt_num(min))
        } else if let Some(max) = bound("exclusiveMaximum").filter(|m| v >= *m) {
            format!("must be less than {}", fmt_num(max))
        } else {
            return;
        };
        let msg = if secret {
            msg
        } else {
            format!("{msg}, got {n}")
        };
        self.problems.add(path.clone(), msg);
    }

    fn check_string(&mut self, alt: &Value, s: &str, path: &Path, secret: bool) {
        let len = s.chars().count() as u64;
        if let Some(min) = alt
            .get("minLength")
            .and_then(Value::as_u64)
            .filter(|m| len < *m)
        {
            let msg = if min == 1 {
                "must not be empty".to_owned()
            } else {
                format!("must be at least {min} characters long")
            };
            self.problems.add(path.clone(), msg);
        } else if let Some(max) = alt
            .get("maxLength")
            .and_then(Value::as_u64)
            .filter(|m| len > *m)
        {
            self.problems.add(
                path.clone(),
                format!("must be at most {max} characters long, got {len}"),
            );
        }
        if let Some(format) = alt.get("format").and_then(Value::as_str)
            && let Some(Err(msg)) = checks::format(format, s)
        {
            // A format message quotes the value; a secret's must not leak.
            let msg = if secret {
                format!("not a valid {format}")
            } else {
                msg
            };
            self.problems.add(path.clone(), msg);
        }
    }

    fn check_object(
        &mut self,
        alt: &Value,
        map: &Map<String, Value>,
        path: &mut Path,
        secret: bool,
    ) {
        let tree = self.tree;
        let props = alt.get("properties").and_then(Value::as_object);
        for (k, v) in map {
            path.push_key(k);
            match props.and_then(|p| p.get(k)) {
                Some(sub) => self.check(sub, v, path, secret),
                None => match SchemaTree::additional(alt) {
                    Child::Schema(sub) => self.check(sub, v, path, secret),
                    Child::Any => {}
                    Child::Unknown => {
                        let siblings: Vec<&str> = props
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        let hint = self.suggest(path, &siblings);
                        let p = self.problems.add(path.clone(), "unknown key");
                        if let Some(h) = hint {
                            p.hint(format!("did you mean `{h}`?"));
                        }
                    }
                },
            }
            path.pop();
        }
        let required = alt.get("required").and_then(Value::as_array);
        for r in required.into_iter().flatten().filter_map(Value::as_str) {
            if map.contains_key(r) {
                continue;
            }
            let at = path.key(r);
            let mut problem = match self.origins.removed_by(&at) {
                Some(by) => {
                    let mut p = Problem::new(at.clone(), "is required and cannot be removed");
                    p.origin(by.clone());
                    p
                }
                None => Problem::new(at.clone(), "required key is missing"),
            };
            if let Some(sub) = props.and_then(|p| p.get(r)) {
                let t = tree.types(sub);
                if !t.any && !problem.message.contains("removed") {
                    problem.message =
                        format!("required key is missing (expected {})", t.describe());
                }
            }
            self.problems.push(problem);
        }
    }

    fn check_array(&mut self, alt: &Value, items: &[Value], path: &mut Path, secret: bool) {
        let n = items.len() as u64;
        if let Some(min) = alt
            .get("minItems")
            .and_then(Value::as_u64)
            .filter(|m| n < *m)
        {
            self.problems.add(
                path.clone(),
                format!("needs at least {min} item(s), got {n}"),
            );
        }
        if let Some(max) = alt
            .get("maxItems")
            .and_then(Value::as_u64)
            .filter(|m| n > *m)
        {
            self.problems.add(
                path.clone(),
                format!("takes at most {max} item(s), got {n}"),
            );
        }
        let tree = self.tree;
        for (i, item) in items.iter().enumerate() {
            path.push(Seg::Index(i));
            // `alt` is a single flattened alternative, so ask it directly rather
            // than re-resolving the whole union.
            match tree.child_index(alt, i) {
                Child::Schema(sub) => self.check(sub, item, path, secret),
                Child::Any => {}
                Child::Unknown => {
                    self.problems.add(path.clone(), "unexpected extra item");
                }
            }
            path.pop();
        }
    }

    /// "Did you mean": a close sibling first; failing that, a key of that name
    /// elsewhere in the tree, preferring the one nearest to where it was written
    /// (`mysql.rootPassword` → `mysql.auth.rootPassword`).
    fn suggest(&self, path: &Path, siblings: &[&str]) -> Option<String> {
        let typed = path.last_key()?;
        let parent = path.parent().unwrap_or_default();
        if let Some(best) = closest(typed, siblings.iter().copied()) {
            return Some(parent.key(best).to_string());
        }
        let all = self.all_paths.get_or_init(|| self.tree.all_paths());
        all.iter()
            .filter(|c| *c != path)
            .filter_map(|c| {
                let d = closeness(typed, c.last_key()?)?;
                Some((d, std::cmp::Reverse(c.common_prefix_len(path)), c.len(), c))
            })
            .min_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)))
            .map(|(.., c)| c.to_string())
    }
}

fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn fmt_num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::testing::TestValues;
    use serde_json::json;

    fn tree() -> SchemaTree {
        SchemaTree::of::<TestValues>()
    }

    fn problems(value: &Value) -> Vec<String> {
        let mut ps = Problems::new();
        tree().validate(value, &Origins::default(), &mut ps);
        ps.iter().map(std::string::ToString::to_string).collect()
    }

    fn valid() -> Value {
        crate::values::testing::defaults_value()
    }

    #[test]
    fn set_values_are_typed_by_the_schema() {
        let t = tree();
        let ty = |p: &str, raw: &str| t.type_set_value(&Path::parse(p), raw);
        // String fields keep what Helm would turn into numbers or booleans.
        assert_eq!(ty("mysql.auth.rootPassword", "0123"), Ok(json!("0123")));
        assert_eq!(ty("mysql.auth.username", "true"), Ok(json!("true")));
        assert_eq!(ty("app.image.tag", "1.5"), Ok(json!("1.5")));
        assert_eq!(ty("app.image.tag", "12"), Ok(json!("12")));
        // Integer fields parse integers and nothing else.
        assert_eq!(ty("app.replicas", "3"), Ok(json!(3)));
        assert_eq!(
            ty("app.replicas", "abc"),
            Err("expected an integer, got \"abc\"".to_owned())
        );
        assert_eq!(
            ty("app.replicas", "1.5"),
            Err("expected an integer, got \"1.5\"".to_owned())
        );
        assert_eq!(ty("app.ratio", "0.25"), Ok(json!(0.25)));
        // Booleans: true/false only.
        assert_eq!(ty("mysql.enabled", "true"), Ok(json!(true)));
        assert_eq!(ty("mysql.enabled", "False"), Ok(json!(false)));
        assert_eq!(
            ty("mysql.enabled", "yes"),
            Err("expected a boolean (true or false), got \"yes\"".to_owned())
        );
        // null deletes, whatever the type.
        assert_eq!(ty("app.replicas", "null"), Ok(Value::Null));
        // Option<u16> and map values.
        assert_eq!(ty("app.metricsPort", "9090"), Ok(json!(9090)));
        assert_eq!(ty("app.labels.team", "007"), Ok(json!("007")));
        // Inside lists of structs.
        assert_eq!(ty("app.env[3].value", "0123"), Ok(json!("0123")));
        // Quantities are strings or numbers.
        assert_eq!(ty("app.resources.memory", "8Gi"), Ok(json!("8Gi")));
        assert_eq!(ty("app.resources.cpu", "2"), Ok(json!(2)));
        // Unknown paths and free-form values fall back to Helm's rules.
        assert_eq!(ty("mysql.rootPassword", "0123"), Ok(json!("0123")));
        assert_eq!(ty("mysql.nosuch", "12"), Ok(json!(12)));
        assert_eq!(ty("app.extra.anything", "true"), Ok(json!(true)));
        // A secret is never echoed in a typing error.
        assert_eq!(
            ty("mysql.auth.pin", "hunter2"),
            Err("expected an integer or null, got a string (hidden, secret)".to_owned())
        );
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(problems(&valid()), Vec::<String>::new());
    }

    #[test]
    fn unknown_keys_get_suggestions() {
        let mut v = valid();
        v["mysql"]["auth"]["rootPasword"] = json!("x");
        v["mysql"]["rootPassword"] = json!("x");
        v["mysql"]["Port"] = json!(1);
        v["app"]["zzz"] = json!(1);
        assert_eq!(
            problems(&v),
            vec![
                "app.zzz: unknown key",
                "mysql.auth.rootPasword: unknown key; did you mean `mysql.auth.rootPassword`?",
                "mysql.rootPassword: unknown key; did you mean `mysql.auth.rootPassword`?",
                "mysql.Port: unknown key; did you mean `mysql.port`?",
            ]
        );
    }

    #[test]
    fn wrong_types_bounds_and_enums() {
        let mut v = valid();
        v["app"]["replicas"] = json!("abc");
        v["app"]["image"]["tag"] = json!(1.5);
        v["mysql"]["port"] = json!(70000);
        v["app"]["mode"] = json!("fsat");
        v["app"]["strategy"] = json!("Rolling");
        v["app"]["env"] = json!([{"name": "A", "value": 1}]);
        v["mysql"]["auth"]["rootPassword"] = json!(1234);
        v["app"]["resources"]["memory"] = json!("8GB");
        v["app"]["hosts"] = json!("not-a-list");
        assert_eq!(
            problems(&v),
            vec![
                "app.replicas: expected an integer, got \"abc\"",
                "app.image.tag: expected a string, got 1.5; quote the value in YAML files to keep it as text",
                "app.mode: expected one of `fast`, `safe`, got \"fsat\"; did you mean `fast`?",
                "app.env[0].value: expected a string, got 1; quote the value in YAML files to keep it as text",
                "app.resources.memory: \"8GB\" is not a Kubernetes quantity (examples: 8Gi, 500m, 1.5, 2e3)",
                "app.hosts: expected a list, got \"not-a-list\"",
                "app.strategy: expected one of `rolling`, `recreate`, got \"Rolling\"; did you mean `rolling`?",
                "mysql.port: must be at most 65535, got 70000",
                "mysql.auth.rootPassword: expected a string, got a number (hidden, secret); quote the value in YAML files to keep it as text",
            ]
        );
    }

    #[test]
    fn missing_required_keys() {
        let mut v = valid();
        v["mysql"].as_object_mut().unwrap().shift_remove("port");
        let mut origins = Origins::default();
        origins.mark_removed(
            &Path::parse("mysql.port"),
            crate::values::Origin::Flag("--set mysql.port=null".into()),
        );
        let mut ps = Problems::new();
        tree().validate(&v, &origins, &mut ps);
        assert_eq!(
            ps.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["mysql.port: is required and cannot be removed (from --set mysql.port=null)"]
        );
        v["app"].as_object_mut().unwrap().shift_remove("replicas");
        assert_eq!(
            problems(&v),
            vec![
                "app.replicas: required key is missing (expected an integer)",
                "mysql.port: required key is missing (expected an integer)",
            ]
        );
    }

    #[test]
    fn odd_shapes_do_not_panic() {
        for v in [
            json!(null),
            json!([]),
            json!("x"),
            json!({"app": null}),
            json!({"app": [1, {"a": []}]}),
        ] {
            let _ = problems(&v);
        }
        assert_eq!(problems(&json!(3)), vec!["expected a map, got 3"]);
    }

    #[test]
    fn closeness_is_case_insensitive_and_bounded() {
        assert_eq!(closeness("rootpassword", "rootPassword"), Some(0));
        assert_eq!(closeness("rootPasword", "rootPassword"), Some(2));
        assert_eq!(closeness("port", "host"), None);
        assert_eq!(
            closest("replica", ["replicas", "resources"]),
            Some("replicas")
        );
    }
}
