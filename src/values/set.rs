//! `--set`, `--set-string`, `--set-json` and `--set-file`: a hand-written port
//! of Helm's `pkg/strvals` (`helm.sh/helm/v3/pkg/strvals/parser.go`). No crate
//! implements this syntax, so it is reimplemented here, with Helm's test table
//! ported in the tests below.
//!
//! Syntax, as in Helm: `a.b[0].c=v` pairs separated by `,`; `\` escapes the
//! next character (`\,` `\.` `\=` `\\`); `{x,y,z}` is a list; an empty value is
//! the empty string (`null` for `--set-json`); `null` deletes the key; indexes
//! up to 65536; at most 30 levels of nesting.
//!
//! Differences from Helm, all of them to turn silent surprises into errors or
//! to type values correctly:
//! - `--set` values are typed by the stack's schema, not guessed: a string field
//!   keeps `0123`, `true` and `1.5` as text, an integer field rejects `abc`.
//!   Helm's guessing (`0123` → string, `123` → number) applies only where the
//!   schema has no opinion, e.g. an unknown key, which validation then reports.
//!   Booleans are `true`/`false` in any letter case, as in Helm; `yes`, `1`
//!   and the like are rejected for a boolean field.
//! - A key without `=` is an error everywhere (Helm accepts `noval[0]` and a
//!   trailing `a.`); so is text after a `}` or after a JSON value.
//! - `{}` is an empty list (Helm makes it `[""]`).
//! - Nesting counts list indexes as well as dots (Helm recurses unboundedly on
//!   `a[0][0][0]…`).
//! - Writing below a key that holds a scalar replaces the scalar (Helm fails
//!   with "unable to parse key"); the later flag wins, as it does elsewhere.
//! - Flags are applied in the order typed, whatever their kind (Helm applies
//!   all `--set-json`, then `--set`, then `--set-string`, then `--set-file`).

use std::fmt;

use serde_json::Value;

use super::alias;
use super::limits;
use super::origin::{Origin, Origins};
use super::path::{Path, Seg};
use super::problems::{Problem, Problems};
use super::schema::SchemaTree;

/// Largest list index accepted, as in Helm.
pub const MAX_INDEX: usize = 65536;
/// Deepest nesting accepted, as in Helm.
pub const MAX_NESTING: usize = 30;

/// Which flag a set-value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetKind {
    /// `--set`: typed by the schema.
    Set,
    /// `--set-string`: always a string.
    String,
    /// `--set-json`: the value is JSON.
    Json,
    /// `--set-file`: the value is a path whose content becomes a string.
    File,
}

impl SetKind {
    pub fn flag(self) -> &'static str {
        match self {
            SetKind::Set => "--set",
            SetKind::String => "--set-string",
            SetKind::Json => "--set-json",
            SetKind::File => "--set-file",
        }
    }
}

/// One set-flag as typed on the command line (one occurrence, which may hold
/// several comma-separated pairs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetFlag {
    pub kind: SetKind,
    pub raw: String,
}

impl SetFlag {
    pub fn new(kind: SetKind, raw: impl Into<String>) -> Self {
        Self {
            kind,
            raw: raw.into(),
        }
    }

    pub fn set(raw: impl Into<String>) -> Self {
        Self::new(SetKind::Set, raw)
    }

    pub fn string(raw: impl Into<String>) -> Self {
        Self::new(SetKind::String, raw)
    }

    pub fn json(raw: impl Into<String>) -> Self {
        Self::new(SetKind::Json, raw)
    }

    pub fn file(raw: impl Into<String>) -> Self {
        Self::new(SetKind::File, raw)
    }
}

impl fmt::Display for SetFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.flag(), self.raw)
    }
}

/// Reads a `--set-file` path, or says why not in a sentence naming it (see
/// [`limits::read_file`]); injectable so tests need no files.
pub type FileReader<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Everything a flag needs besides its text.
pub(crate) struct SetContext<'a> {
    pub schema: &'a SchemaTree,
    pub read_file: FileReader<'a>,
    /// What the command was given so far; flags and file contents add to it.
    pub budget: &'a limits::Budget,
}

/// Applies one flag to the accumulated set-values `acc` (an object), recording
/// the origin of each pair and adding a problem for each error. A syntax error
/// stops the flag, like Helm; a value that does not fit its field is reported
/// and the rest of the flag still applies, so all problems show at once.
pub(crate) fn apply_flag(
    flag: &SetFlag,
    acc: &mut Value,
    origins: &mut Origins,
    cx: &SetContext<'_>,
    problems: &mut Problems,
) {
    let flag_name = flag.kind.flag();
    let size = limits::check_flag(flag_name, &flag.raw).and_then(|()| {
        cx.budget.spend(
            &format!("{flag_name} {}", limits::key_of(&flag.raw)),
            flag.raw.len(),
        )
    });
    if let Err(e) = size {
        problems.add(Path::root(), e.to_string());
        return;
    }
    let mut p = Scanner::new(&flag.raw);
    // What this flag's pairs set, with the old key names each went through: one
    // flag may not use both names of a key.
    let mut written: Vec<(Path, Vec<alias::Renamed>)> = Vec::new();
    while !p.at_end() {
        let start = p.pos;
        let path = match p.path() {
            Ok(path) => path,
            Err(msg) => {
                let text = p.text(start, p.pos);
                let text = text.strip_suffix(',').unwrap_or(&text);
                problems
                    .push(Problem::new(Path::root(), msg))
                    .origin(Origin::Flag(format!("{} {text}", flag.kind.flag())));
                return;
            }
        };
        let key_end = p.pos.saturating_sub(1); // the '='
        // Old key names (see `alias`): typed, checked and stored under the new name.
        let (path, renamed) = cx.schema.canonical_path(&path);
        if let Some(conflict) = name_clash(&path, &renamed, &written) {
            problems
                .push(Problem::new(conflict.canonical.clone(), conflict.message()))
                .origin(Origin::Flag(format!(
                    "{} {}",
                    flag.kind.flag(),
                    p.text(start, key_end)
                )));
            return;
        }
        written.push((path.clone(), renamed));
        let secret = flag.kind != SetKind::File && cx.schema.is_secret(&path);
        let origin_text = |p: &Scanner, end: usize| {
            if secret {
                format!("{} {}=<redacted>", flag.kind.flag(), p.text(start, key_end))
            } else {
                format!("{} {}", flag.kind.flag(), p.text(start, end))
            }
        };
        let parsed = match flag.kind {
            SetKind::Json => p.json_value().map(|(v, end)| (Ok(v), end)),
            kind => p
                .value()
                .map(|(raw, end)| (typed(kind, &path, raw, cx), end)),
        };
        match parsed {
            Ok((Ok(value), end)) => {
                path.set(acc, value);
                let origin = Origin::Flag(origin_text(&p, end));
                origins.clear_subtree(&path);
                // Maps and lists this pair created (and null padding in them)
                // came from it too, unless an earlier pair made them.
                let mut prefix = path.clone();
                while prefix.pop().is_some() && !prefix.is_root() {
                    origins.set_if_absent(&prefix, origin.clone());
                }
                origins.set(path, origin);
            }
            Ok((Err(msg), end)) => {
                problems
                    .push(Problem::new(path, msg))
                    .origin(Origin::Flag(origin_text(&p, end)));
            }
            Err(msg) => {
                problems
                    .push(Problem::new(path, msg))
                    .origin(Origin::Flag(origin_text(&p, p.pos)));
                return;
            }
        }
    }
}

/// A key that this pair reaches by one name and an earlier pair of the same flag
/// by the other (each pair comes with the old names it went through).
fn name_clash(
    path: &Path,
    renamed: &[alias::Renamed],
    written: &[(Path, Vec<alias::Renamed>)],
) -> Option<alias::Conflict> {
    // `via_old` reached a key through its old name; the pair at `path` set
    // something under that key without doing so.
    let clash = |via_old: &[alias::Renamed], path: &Path, its_renames: &[alias::Renamed]| {
        via_old
            .iter()
            .find(|r| path.starts_with(&r.to) && !its_renames.iter().any(|x| x.to == r.to))
            .map(|r| alias::Conflict {
                alias: r.from.clone(),
                canonical: r.to.clone(),
            })
    };
    written.iter().find_map(|(other, other_renamed)| {
        clash(renamed, other, other_renamed).or_else(|| clash(other_renamed, path, renamed))
    })
}

/// A value as written: one scalar or a `{…}` list of scalars.
enum RawValue {
    Scalar(String),
    List(Vec<String>),
}

fn typed(kind: SetKind, path: &Path, raw: RawValue, cx: &SetContext<'_>) -> Result<Value, String> {
    let one = |path: &Path, text: String| -> Result<Value, String> {
        match kind {
            SetKind::Set => cx.schema.type_set_value(path, &text),
            SetKind::File => read_set_file(&text, cx).map(Value::String),
            SetKind::String | SetKind::Json => Ok(Value::String(text)),
        }
    };
    match raw {
        RawValue::Scalar(text) => one(path, text),
        RawValue::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut errors = Vec::new();
            for (i, text) in items.into_iter().enumerate() {
                match one(&path.index(i), text) {
                    Ok(v) => out.push(v),
                    Err(e) => errors.push(format!("item {i}: {e}")),
                }
            }
            if errors.is_empty() {
                Ok(Value::Array(out))
            } else {
                Err(errors.join("; "))
            }
        }
    }
}

/// A `--set-file`'s content, counted against the command's total; once that is
/// spent, nothing more is read.
fn read_set_file(path: &str, cx: &SetContext<'_>) -> Result<String, String> {
    let input = format!("file {path:?}");
    if cx.budget.exhausted() {
        return Err(format!(
            "{input} not read: what was given is already more than {} in all",
            limits::Human(limits::TOTAL)
        ));
    }
    let text = (cx.read_file)(path)?;
    cx.budget
        .spend(&input, text.len())
        .map_err(|e| e.to_string())?;
    Ok(text)
}

/// Character scanner over one flag's text.
struct Scanner {
    chars: Vec<char>,
    pos: usize,
}

impl Scanner {
    fn new(text: &str) -> Self {
        Self {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn text(&self, from: usize, to: usize) -> String {
        let to = to.min(self.chars.len());
        self.chars[from.min(to)..to].iter().collect()
    }

    /// Reads up to an unescaped character in `stops` (consumed and returned)
    /// or the end (`None`). `\x` stands for `x`.
    fn until(&mut self, stops: &[char]) -> Result<(String, Option<char>), String> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            if stops.contains(&c) {
                return Ok((out, Some(c)));
            }
            if c == '\\' {
                match self.peek() {
                    Some(next) => {
                        self.pos += 1;
                        out.push(next);
                    }
                    None => {
                        return Err(
                            "a trailing backslash escapes nothing (write \\\\ for a backslash)"
                                .into(),
                        );
                    }
                }
            } else {
                out.push(c);
            }
        }
        Ok((out, None))
    }

    /// `name(.name|[index])*=`, consuming the `=`.
    fn path(&mut self) -> Result<Path, String> {
        const KEY_STOPS: &[char] = &['=', '[', ',', '.'];
        let (name, mut stop) = self.until(KEY_STOPS)?;
        if name.is_empty() {
            return Err(match stop {
                Some(',') => "empty key (two commas in a row?)".to_owned(),
                Some(c) => format!("a key is missing before '{c}'"),
                None => "empty key".to_owned(),
            });
        }
        let mut path = Path::root();
        path.push_key(&name);
        let mut depth = 0;
        loop {
            match stop {
                Some('=') => return Ok(path),
                Some(',') | None => {
                    return Err(format!(
                        "key {:?} has no value (expected {path}=value)",
                        path.to_string()
                    ));
                }
                Some(c) => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(format!(
                            "key nesting deeper than {MAX_NESTING} levels is not supported"
                        ));
                    }
                    if c == '.' {
                        let (name, s) = self.until(KEY_STOPS)?;
                        if name.is_empty() {
                            return Err(format!("empty key after \"{path}.\""));
                        }
                        path.push_key(&name);
                        stop = s;
                    } else {
                        path.push(Seg::Index(self.index()?));
                        stop = match self.peek() {
                            Some(c @ ('.' | '[' | '=')) => {
                                self.pos += 1;
                                Some(c)
                            }
                            None | Some(',') => None,
                            Some(_) => {
                                let (junk, _) = self.until(&['=', ','])?;
                                return Err(format!(
                                    "unexpected {junk:?} after the list index in \"{path}\""
                                ));
                            }
                        };
                    }
                }
            }
        }
    }

    /// The index after a `[`, consuming the `]`.
    fn index(&mut self) -> Result<usize, String> {
        let (text, stop) = self.until(&[']'])?;
        if stop.is_none() {
            return Err(format!("list index [{text} is missing its ']'"));
        }
        let digits = text.strip_prefix('+').unwrap_or(&text);
        if let Some(neg) = digits.strip_prefix('-')
            && !neg.is_empty()
            && neg.chars().all(|c| c.is_ascii_digit())
        {
            return Err(format!("negative list index [{text}] is not allowed"));
        }
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("list index [{text}] is not a number"));
        }
        match digits.parse::<usize>() {
            Ok(i) if i <= MAX_INDEX => Ok(i),
            _ => Err(format!(
                "list index [{text}] is greater than the maximum supported index of {MAX_INDEX}"
            )),
        }
    }

    /// A `--set`/`--set-string`/`--set-file` value, consuming the `,` after it.
    /// Returns the value and where it ends (before the `,`).
    fn value(&mut self) -> Result<(RawValue, usize), String> {
        if self.peek() != Some('{') {
            let (text, stop) = self.until(&[','])?;
            let end = if stop.is_some() {
                self.pos - 1
            } else {
                self.pos
            };
            return Ok((RawValue::Scalar(text), end));
        }
        self.pos += 1;
        let mut items = Vec::new();
        if self.peek() == Some('}') {
            self.pos += 1;
        } else {
            loop {
                let (item, stop) = self.until(&[',', '}'])?;
                items.push(item);
                match stop {
                    Some('}') => break,
                    Some(_) => {}
                    None => return Err("list must end with '}'".into()),
                }
            }
        }
        let end = self.pos;
        self.separator("'}'")?;
        Ok((RawValue::List(items), end))
    }

    /// A `--set-json` value: one JSON document; empty means `null`.
    fn json_value(&mut self) -> Result<(Value, usize), String> {
        self.skip_spaces();
        if matches!(self.peek(), None | Some(',')) {
            let end = self.pos;
            self.separator("the value")?;
            return Ok((Value::Null, end));
        }
        let rest: String = self.chars[self.pos..].iter().collect();
        let mut stream = serde_json::Deserializer::from_str(&rest).into_iter::<Value>();
        let value = match stream.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => return Err(format!("invalid JSON: {e}")),
            None => Value::Null,
        };
        let used = rest.get(..stream.byte_offset()).unwrap_or(&rest);
        self.pos += used.chars().count();
        let end = self.pos;
        self.skip_spaces();
        self.separator("the JSON value")?;
        Ok((value, end))
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// After a self-delimited value only `,` or the end may follow.
    fn separator(&mut self, after: &str) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(',') => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => {
                let junk = self.text(self.pos, self.pos + 20);
                Err(format!(
                    "unexpected {junk:?} after {after} (separate pairs with ',')"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_files(path: &str) -> Result<String, String> {
        match path {
            "path1" => Ok("value1".into()),
            "cert.pem" => Ok("-----BEGIN-----\n".into()),
            _ => Err(format!(
                "cannot read file {path:?}: No such file or directory"
            )),
        }
    }

    /// Applies flags over `start` with a schema that constrains nothing, so
    /// Helm's own typing rules are in force.
    fn run_on(
        start: Value,
        flags: &[SetFlag],
        schema: &SchemaTree,
    ) -> (Value, Vec<String>, Origins) {
        let mut acc = start;
        let mut origins = Origins::default();
        let mut problems = Problems::new();
        let budget = limits::Budget::default();
        let cx = SetContext {
            schema,
            read_file: &no_files,
            budget: &budget,
        };
        for f in flags {
            apply_flag(f, &mut acc, &mut origins, &cx, &mut problems);
        }
        (
            acc,
            problems.iter().map(ToString::to_string).collect(),
            origins,
        )
    }

    fn helm(kind: SetKind, raw: &str) -> Result<Value, Vec<String>> {
        let any = SchemaTree::from_value(json!(true));
        let (v, problems, _) = run_on(json!({}), &[SetFlag::new(kind, raw)], &any);
        if problems.is_empty() {
            Ok(v)
        } else {
            Err(problems)
        }
    }

    /// Helm's `TestParseSet` and `TestParseSet` string cases, where they apply.
    #[test]
    fn helm_parse_set_table() {
        let ok: &[(&str, Value)] = &[
            (
                "name1=null,f=false,t=true",
                json!({"name1": null, "f": false, "t": true}),
            ),
            ("name1=value1", json!({"name1": "value1"})),
            (
                "name1=value1,name2=value2",
                json!({"name1": "value1", "name2": "value2"}),
            ),
            (
                "name1=value1,name2=value2,",
                json!({"name1": "value1", "name2": "value2"}),
            ),
            (
                "name1=,name2=value2",
                json!({"name1": "", "name2": "value2"}),
            ),
            ("leading_zeros=00009", json!({"leading_zeros": "00009"})),
            ("zero_int=0", json!({"zero_int": 0})),
            ("long_int=1234567890", json!({"long_int": 1_234_567_890})),
            ("boolean=true", json!({"boolean": true})),
            ("is_null=null", json!({"is_null": null})),
            (
                "name1=one\\,two,name2=three\\,four",
                json!({"name1": "one,two", "name2": "three,four"}),
            ),
            (
                "name1=one\\=two,name2=three\\=four",
                json!({"name1": "one=two", "name2": "three=four"}),
            ),
            (
                "name1=one two three,name2=three two one",
                json!({"name1": "one two three", "name2": "three two one"}),
            ),
            ("outer.inner=value", json!({"outer": {"inner": "value"}})),
            (
                "outer.middle.inner=value",
                json!({"outer": {"middle": {"inner": "value"}}}),
            ),
            (
                "outer.inner1=value,outer.inner2=value2",
                json!({"outer": {"inner1": "value", "inner2": "value2"}}),
            ),
            (
                "outer.inner1=value,outer.middle.inner=value",
                json!({"outer": {"inner1": "value", "middle": {"inner": "value"}}}),
            ),
            ("name1.name2=", json!({"name1": {"name2": ""}})),
            (
                "name1={value1,value2}",
                json!({"name1": ["value1", "value2"]}),
            ),
            (
                "name1={value1,value2},name2={value1,value2}",
                json!({"name1": ["value1", "value2"], "name2": ["value1", "value2"]}),
            ),
            ("name1={1021,902}", json!({"name1": [1021, 902]})),
            (
                "name1.name2={value1,value2}",
                json!({"name1": {"name2": ["value1", "value2"]}}),
            ),
            ("list[0]=foo", json!({"list": ["foo"]})),
            ("list[0].foo=bar", json!({"list": [{"foo": "bar"}]})),
            (
                "list[0].foo=bar,list[0].hello=world",
                json!({"list": [{"foo": "bar", "hello": "world"}]}),
            ),
            ("list[0]=foo,list[1]=bar", json!({"list": ["foo", "bar"]})),
            ("list[0]=foo,list[1]=bar,", json!({"list": ["foo", "bar"]})),
            (
                "list[0]=foo,list[3]=bar",
                json!({"list": ["foo", null, null, "bar"]}),
            ),
            ("noval[0]=", json!({"noval": [""]})),
            ("nested[0][0]=1", json!({"nested": [[1]]})),
            ("nested[1][1]=1", json!({"nested": [null, [null, 1]]})),
            (
                "name1.name2[0].foo=bar,name1.name2[1].foo=bar",
                json!({"name1": {"name2": [{"foo": "bar"}, {"foo": "bar"}]}}),
            ),
            (
                "name1.name2[1].foo=bar,name1.name2[0].foo=bar",
                json!({"name1": {"name2": [{"foo": "bar"}, {"foo": "bar"}]}}),
            ),
            (
                "name1.name2[1].foo=bar",
                json!({"name1": {"name2": [null, {"foo": "bar"}]}}),
            ),
            // Beyond Helm's table: the escapes the docs promise.
            ("a.b\\.c=d", json!({"a": {"b.c": "d"}})),
            ("a=b\\,c", json!({"a": "b,c"})),
            ("a=back\\\\slash", json!({"a": "back\\slash"})),
            ("a=x=y", json!({"a": "x=y"})),
            (
                "a=TRUE,b=-5,c=1.5,d=v1.2.0",
                json!({"a": true, "b": -5, "c": "1.5", "d": "v1.2.0"}),
            ),
            (
                "big=99999999999999999999",
                json!({"big": "99999999999999999999"}),
            ),
            ("list[65536]=x", {
                let mut l = vec![Value::Null; 65537];
                l[65536] = json!("x");
                json!({ "list": l })
            }),
            ("empty={}", json!({"empty": []})),
            ("", json!({})),
        ];
        for (raw, want) in ok {
            assert_eq!(helm(SetKind::Set, raw).as_ref(), Ok(want), "{raw}");
        }
        let bad = [
            "name1=value1,,,,name2=value2,",
            "name1,name2=",
            "name1,name2=value2",
            "name1,name2=value2\\",
            "name1,name2",
            "name1.name2",
            "name1.name2,name1.name3",
            "name1.=name2",
            "name1.,name2",
            "name1={1021,902",
            "list[0].foo=bar,list[-30].hello=world",
            "list[0]=foo,list[-20]=bar",
            "illegal[0]name.foo=bar",
            "]={}].",
            // Stricter than Helm (see the module docs).
            "noval[0]",
            "a.",
            "=value",
            "list[65537]=x",
            "list[99999999999999999999999]=x",
            "list[x]=1",
            "list[1=x",
            "a={b}c",
            "a=trailing\\",
        ];
        for raw in bad {
            assert!(helm(SetKind::Set, raw).is_err(), "{raw} should fail");
        }
    }

    #[test]
    fn error_messages() {
        let err = |raw: &str| helm(SetKind::Set, raw).unwrap_err().join("\n");
        assert_eq!(
            err("name1,name2=x"),
            "key \"name1\" has no value (expected name1=value) (from --set name1)"
        );
        assert_eq!(err("=value"), "a key is missing before '=' (from --set =)");
        assert_eq!(
            err("list[65537]=x"),
            "list index [65537] is greater than the maximum supported index of 65536 (from --set list[65537])"
        );
        assert_eq!(
            err("a[-1]=x"),
            "negative list index [-1] is not allowed (from --set a[-1])"
        );
        assert_eq!(
            err("a={x,y"),
            "a: list must end with '}' (from --set a={x,y)"
        );
        let deep = (0..32)
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join(".");
        let upto = deep.rsplit_once('.').unwrap().0;
        assert_eq!(
            err(&format!("{deep}=1")),
            format!("key nesting deeper than 30 levels is not supported (from --set {upto}.)")
        );
    }

    #[test]
    fn nesting_limit_is_thirty() {
        let ok = (0..31)
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join(".");
        assert!(helm(SetKind::Set, &format!("{ok}=1")).is_ok());
        assert!(helm(SetKind::Set, &format!("{ok}.x=1")).is_err());
        assert!(helm(SetKind::Set, &format!("a{}=1", "[0]".repeat(31))).is_err());
        assert!(helm(SetKind::Set, &format!("a{}=1", "[0]".repeat(30))).is_ok());
        // Absurdly deep input is refused, not recursed into.
        assert!(helm(SetKind::Set, &format!("{}=1", "a.".repeat(100_000))).is_err());
    }

    /// Helm's `TestParseInto`: flags accumulate into one tree.
    #[test]
    fn helm_parse_into() {
        let any = SchemaTree::from_value(json!(true));
        let (v, p, _) = run_on(
            json!({"outer": {"inner1": "overwrite", "inner2": "value2"}}),
            &[SetFlag::set(
                "outer.inner1=value1,outer.inner3=value3,outer.inner4=4",
            )],
            &any,
        );
        assert!(p.is_empty());
        assert_eq!(
            v,
            json!({"outer": {"inner1": "value1", "inner2": "value2", "inner3": "value3", "inner4": 4}})
        );
        let (v, _, _) = run_on(
            json!({}),
            &[
                SetFlag::set("listOuter[0][0].type=listValue"),
                SetFlag::set("listOuter[0][0].status=alive"),
            ],
            &any,
        );
        assert_eq!(
            v,
            json!({"listOuter": [[{"type": "listValue", "status": "alive"}]]})
        );
        let (v, _, _) = run_on(
            json!({"listOuter": [[[{"exited": "old"}]]]}),
            &[
                SetFlag::set("listOuter[0][1][0].type=listValue"),
                SetFlag::set("listOuter[0][0][1].status=alive"),
            ],
            &any,
        );
        assert_eq!(
            v,
            json!({"listOuter": [[[{"exited": "old"}, {"status": "alive"}], [{"type": "listValue"}]]]})
        );
        // A later flag may write below what an earlier one set to a scalar.
        let (v, p, _) = run_on(
            json!({}),
            &[SetFlag::set("a=1"), SetFlag::set("a.b=2")],
            &any,
        );
        assert!(p.is_empty());
        assert_eq!(v, json!({"a": {"b": 2}}));
    }

    #[test]
    fn set_string_keeps_text() {
        assert_eq!(
            helm(
                SetKind::String,
                "long_int_string=1234567890,boolean=true,is_null=null,zero=0"
            ),
            Ok(
                json!({"long_int_string": "1234567890", "boolean": "true", "is_null": "null", "zero": "0"})
            )
        );
        assert_eq!(
            helm(SetKind::String, "l={1,2}"),
            Ok(json!({"l": ["1", "2"]}))
        );
    }

    /// Helm's `TestParseJSON`.
    #[test]
    fn set_json() {
        let any = SchemaTree::from_value(json!(true));
        let run = |start: Value, raw: &str| run_on(start, &[SetFlag::json(raw)], &any);
        let (v, p, _) = run(
            json!({"outer": {"inner1": "overwrite", "inner2": "value2"}}),
            r#"outer.inner1="1",outer.inner3=3,outer.inner4=true,outer.inner5="true""#,
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            v,
            json!({"outer": {"inner1": "1", "inner2": "value2", "inner3": 3, "inner4": true, "inner5": "true"}})
        );
        let (v, p, _) = run(
            json!({"outer": {"inner1": {"x": "overwrite"}, "inner2": "value2", "inner3": ["overwrite"]}}),
            r#"outer.inner1={"a":"1","b":2,"c":[1,2,3]},outer.inner3=["new value 1","new value 2"],outer.inner4={"aa":"1","bb":2,"cc":[1,2,3]},outer.inner5=[{"A":"1","B":2,"C":[1,2,3]}]"#,
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            v,
            json!({"outer": {
                "inner1": {"a": "1", "b": 2, "c": [1, 2, 3]},
                "inner2": "value2",
                "inner3": ["new value 1", "new value 2"],
                "inner4": {"aa": "1", "bb": 2, "cc": [1, 2, 3]},
                "inner5": [{"A": "1", "B": 2, "C": [1, 2, 3]}]
            }})
        );
        let (v, p, _) = run(
            json!({"outer": {"inner1": {"x": "overwrite"}, "inner2": "value2"}}),
            r#"outer.inner1=,outer.inner3={"aa":"1","bb":2,"cc":[1,2,3]},outer.inner3.cc[1]=null"#,
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(
            v,
            json!({"outer": {"inner1": null, "inner2": "value2", "inner3": {"aa": "1", "bb": 2, "cc": [1, null, 3]}}})
        );
        let (_, p, _) = run(json!({}), r#"outer.inner5={"A":"1","B":2,"C":[1,2,3]}]"#);
        assert_eq!(p.len(), 1, "{p:?}");
        let (_, p, _) = run(json!({}), r#"a={"unterminated":"#);
        assert!(p[0].starts_with("a: invalid JSON:"), "{p:?}");
        let (v, p, _) = run(json!({}), r#"a= [1, 2] ,b="x,y""#);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(v, json!({"a": [1, 2], "b": "x,y"}));
    }

    #[test]
    fn set_file_reads_content_and_names_unreadable_paths() {
        assert_eq!(
            helm(SetKind::File, "name1=path1"),
            Ok(json!({"name1": "value1"}))
        );
        assert_eq!(
            helm(SetKind::File, "tls.cert=cert.pem"),
            Ok(json!({"tls": {"cert": "-----BEGIN-----\n"}}))
        );
        assert_eq!(
            helm(SetKind::File, "tls.key=missing.pem"),
            Err(vec![
                "tls.key: cannot read file \"missing.pem\": No such file or directory (from --set-file tls.key=missing.pem)"
                    .to_owned()
            ])
        );
    }

    #[test]
    fn origins_are_per_pair_and_secrets_are_redacted() {
        let schema = SchemaTree::of::<crate::values::testing::TestValues>();
        let (_, p, o) = run_on(
            json!({}),
            &[
                SetFlag::set("app.replicas=2,mysql.auth.rootPassword=hunter2"),
                SetFlag::json(r#"app.labels={"a":"b"}"#),
                SetFlag::set("app.labels.c=d"),
            ],
            &schema,
        );
        assert!(p.is_empty(), "{p:?}");
        let at = |s: &str| o.get(&Path::parse(s)).map(ToString::to_string);
        assert_eq!(at("app.replicas").as_deref(), Some("--set app.replicas=2"));
        assert_eq!(
            at("mysql.auth.rootPassword").as_deref(),
            Some("--set mysql.auth.rootPassword=<redacted>")
        );
        assert_eq!(
            at("app.labels.a").as_deref(),
            Some(r#"--set-json app.labels={"a":"b"}"#)
        );
        assert_eq!(at("app.labels.c").as_deref(), Some("--set app.labels.c=d"));
        // Containers are attributed to the first pair that created them.
        assert_eq!(at("app").as_deref(), Some("--set app.replicas=2"));
    }

    #[test]
    fn typing_errors_do_not_stop_the_flag() {
        let schema = SchemaTree::of::<crate::values::testing::TestValues>();
        let (v, p, _) = run_on(
            json!({}),
            &[SetFlag::set(
                "app.replicas=abc,mysql.port=abc,mysql.auth.username=0123,app.hosts={a,b}",
            )],
            &schema,
        );
        assert_eq!(
            p,
            vec![
                "app.replicas: expected an integer, got \"abc\" (from --set app.replicas=abc)",
                "mysql.port: expected an integer, got \"abc\" (from --set mysql.port=abc)",
            ]
        );
        assert_eq!(
            v,
            json!({"mysql": {"auth": {"username": "0123"}}, "app": {"hosts": ["a", "b"]}})
        );
    }

    /// A cheap deterministic fuzz: random strings over the syntax characters,
    /// through every flag kind, against a real schema.
    #[test]
    fn random_input_never_panics() {
        use rand::{RngExt, SeedableRng};
        let schema = SchemaTree::of::<crate::values::testing::TestValues>();
        let alphabet: Vec<char> = "ab.[]{},=\\0123456789-\" :null".chars().collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5e7);
        for _ in 0..3000 {
            let len = rng.random_range(0..24);
            let raw: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            for kind in [SetKind::Set, SetKind::String, SetKind::Json, SetKind::File] {
                let _ = run_on(json!({}), &[SetFlag::new(kind, raw.as_str())], &schema);
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            "\\",
            "[",
            "]",
            "=",
            ",",
            ".",
            "{",
            "}",
            "a[",
            "a[]",
            "a[0",
            "a[0]]",
            "a[0]x",
            "a=\\",
            "a={",
            "a={\\",
            "a={x\\}",
            "é.ü[0]=ß",
            "a[0][",
            "a..b=1",
            "a.[0]=1",
            "a=1,,",
            ",a=1",
            "a\\",
            "\u{0}=\u{0}",
        ];
        for raw in inputs {
            for kind in [SetKind::Set, SetKind::String, SetKind::Json, SetKind::File] {
                let _ = helm(kind, raw);
            }
        }
    }
}
