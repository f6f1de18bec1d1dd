//! MySQL scripts as statements: split where the `mysql` client would split them,
//! classified by what they do to a database that may already hold data, and
//! rewritten so that running them again changes nothing.
//!
//! Written by hand rather than with a SQL parser: what is rewritten is a handful of
//! upstream files this crate ships (tested statement by statement; a user's own
//! script is only checked for holding a statement, and applied as given), the split
//! only has to respect quotes and comments, and a classification needs the leading
//! keywords alone. A general parser would also have to accept every MySQL table
//! option and comment these files use, and a statement it could not parse would
//! stop a release for no reason.

/// One statement of a script, without its terminating `;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement's text, trimmed, comments before it removed.
    pub text: &'a str,
    /// 1-based line of the file where the statement starts.
    pub line: usize,
}

/// What a statement does, for deciding whether it may run on a database stackctl
/// does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `CREATE DATABASE …`: the database is configured, not taken from a file.
    CreateDatabase,
    /// `USE …`: likewise.
    Use,
    /// `CREATE TABLE IF NOT EXISTS`: adds what is missing, leaves the rest alone.
    CreateTableIfNotExists,
    /// `INSERT IGNORE`: adds rows whose keys are free, skips the others.
    InsertIgnore,
    /// `INSERT` that fails on a key already there.
    Insert,
    /// Anything else (`ALTER`, `DROP`, `UPDATE`, `CREATE TABLE` without `IF NOT
    /// EXISTS`, …): may change or remove what exists.
    Other,
}

impl Kind {
    /// Statements that only add and can run any number of times.
    pub fn is_additive(self) -> bool {
        matches!(self, Kind::CreateTableIfNotExists | Kind::InsertIgnore)
    }
}

/// Splits a script at the `;` that end statements: outside `'…'`, `"…"` and
/// `` `…` `` (with `\` and doubled-quote escapes), and outside `-- `, `#` and
/// `/* */` comments. Empty statements are dropped; a last statement without `;`
/// is kept.
pub fn split(script: &str) -> Vec<Statement<'_>> {
    let bytes = script.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(end) = comment_end(bytes, i) {
            i = end;
            continue;
        }
        match bytes[i] {
            quote @ (b'\'' | b'"' | b'`') => i = skip_quoted(bytes, i, quote),
            b';' => {
                push(script, start, i, &mut out);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    push(script, start, bytes.len(), &mut out);
    out
}

fn push<'a>(script: &'a str, start: usize, end: usize, out: &mut Vec<Statement<'a>>) {
    let body = &script[start..end];
    let skipped = leading_comments(body);
    let text = body[skipped..].trim();
    if text.is_empty() {
        return;
    }
    let offset = start + skipped + (body[skipped..].len() - body[skipped..].trim_start().len());
    let line = script[..offset].matches('\n').count() + 1;
    out.push(Statement { text, line });
}

/// Length of the whitespace and comments a statement starts with.
fn leading_comments(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match comment_end(bytes, i) {
            Some(end) => i = end,
            None => return i,
        }
    }
}

/// Where the comment starting at `i` ends, if one starts there: `-- ` (MySQL wants
/// whitespace after the dashes) and `#` to the end of the line, `/* */` blocks.
/// MySQL's executable `/*! */` comments count as comments: the shipped files have
/// none.
fn comment_end(bytes: &[u8], i: usize) -> Option<usize> {
    let rest = bytes.get(i..)?;
    let dashes = rest.starts_with(b"--") && rest.get(2).is_none_or(u8::is_ascii_whitespace);
    if dashes || rest.starts_with(b"#") {
        Some(skip_line(bytes, i))
    } else if rest.starts_with(b"/*") {
        Some(find(bytes, i + 2, b"*/").map_or(bytes.len(), |end| end + 2))
    } else {
        None
    }
}

/// Index just past the quote that closes the one at `open`.
fn skip_quoted(bytes: &[u8], open: usize, quote: u8) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote != b'`' => i += 2,
            c if c == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return i + 1;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Index of the newline ending the line at `i` (or the end).
fn skip_line(bytes: &[u8], i: usize) -> usize {
    bytes[i..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |n| i + n)
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|n| from + n)
}

/// The first `n` words of a statement, upper-cased.
fn leading_words(text: &str, n: usize) -> Vec<String> {
    text.split(|c: char| c.is_ascii_whitespace() || c == '(' || c == '`')
        .filter(|w| !w.is_empty())
        .take(n)
        .map(str::to_ascii_uppercase)
        .collect()
}

/// `INSERT` modifiers that may stand before `IGNORE`.
const INSERT_PRIORITY: [&str; 3] = ["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY"];

pub fn classify(text: &str) -> Kind {
    let words = leading_words(text, 6);
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["CREATE", "DATABASE" | "SCHEMA", ..] => Kind::CreateDatabase,
        ["USE", ..] => Kind::Use,
        ["CREATE", "TABLE", "IF", "NOT", "EXISTS", ..] => Kind::CreateTableIfNotExists,
        // Updates the rows it collides with: not additive.
        ["INSERT", ..] if updates_on_duplicate(text) => Kind::Other,
        ["INSERT", "IGNORE", ..] => Kind::InsertIgnore,
        ["INSERT", p, "IGNORE", ..] if INSERT_PRIORITY.contains(p) => Kind::InsertIgnore,
        ["INSERT", ..] => Kind::Insert,
        _ => Kind::Other,
    }
}

/// `… ON DUPLICATE KEY UPDATE …`, outside quotes and comments.
fn updates_on_duplicate(text: &str) -> bool {
    let words: Vec<String> = bare_words(text)
        .into_iter()
        .map(str::to_ascii_uppercase)
        .collect();
    words
        .windows(4)
        .any(|w| w == ["ON", "DUPLICATE", "KEY", "UPDATE"])
}

/// A statement as it is run again and again: `INSERT` becomes `INSERT IGNORE`, so a
/// seed row already there (or changed since, like the admin's password) is kept,
/// which is what upstream's `clickvisual init` does by looking the rows up first.
/// `CREATE DATABASE` and `USE` are dropped: the client is connected to the
/// configured database, whatever name the file was written for.
pub fn rerunnable(text: &str) -> Option<(Kind, String)> {
    match classify(text) {
        Kind::CreateDatabase | Kind::Use => None,
        Kind::Insert => {
            let mut rest = text["INSERT".len()..].trim_start();
            let mut head = "INSERT".to_string();
            if let Some(p) = INSERT_PRIORITY.iter().find(|p| {
                rest.get(..p.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(p))
                    && rest[p.len()..].starts_with(|c: char| c.is_ascii_whitespace())
            }) {
                head = format!("INSERT {}", &rest[..p.len()]);
                rest = rest[p.len()..].trim_start();
            }
            Some((Kind::InsertIgnore, format!("{head} IGNORE {rest}")))
        }
        kind => Some((kind, text.to_string())),
    }
}

/// Words outside quotes, backticks and comments: keywords, and identifiers that
/// were left unquoted.
pub fn bare_words(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(end) = comment_end(bytes, i) {
            i = end;
            continue;
        }
        match bytes[i] {
            quote @ (b'\'' | b'"' | b'`') => i = skip_quoted(bytes, i, quote),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                out.push(&text[start..i]);
            }
            c if c.is_ascii_digit() => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(script: &str) -> Vec<&str> {
        split(script).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn splits_at_semicolons_outside_quotes_and_comments() {
        let script = "-- a comment; not a statement\n\
            CREATE TABLE IF NOT EXISTS `a;b` (`c` varchar(8) DEFAULT 'x;y' COMMENT \"q;\") ;\n\
            # another; comment\n\
            /* block; */ INSERT INTO t VALUES ('it''s; fine', 'back\\'slash;');\n\
            USE db";
        assert_eq!(
            texts(script),
            [
                "CREATE TABLE IF NOT EXISTS `a;b` (`c` varchar(8) DEFAULT 'x;y' COMMENT \"q;\")",
                "INSERT INTO t VALUES ('it''s; fine', 'back\\'slash;')",
                "USE db",
            ]
        );
        let lines: Vec<usize> = split(script).iter().map(|s| s.line).collect();
        assert_eq!(lines, [2, 4, 5]);
    }

    #[test]
    fn any_text_splits_without_panicking() {
        // A custom schema is user input: unterminated quotes and comments, multi-byte
        // text next to every special character.
        let pieces = [
            "'", "\"", "`", "\\", ";", "--", "-- ", "#", "/*", "*/", "\n", " ", "中文", "é",
            "INSERT", "x",
        ];
        let mut seed = 7u64;
        for _ in 0..2000 {
            let mut text = String::new();
            for _ in 0..12 {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                text.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            for stmt in split(&text) {
                let _ = rerunnable(stmt.text);
                let _ = bare_words(stmt.text);
            }
        }
    }

    #[test]
    fn a_double_dash_without_a_space_is_an_operator_not_a_comment() {
        assert_eq!(texts("SELECT 1--1; SELECT 2"), ["SELECT 1--1", "SELECT 2"]);
    }

    #[test]
    fn classifies_by_leading_keywords() {
        let cases = [
            (
                "create database if not exists clickvisual default charset utf8mb4",
                Kind::CreateDatabase,
            ),
            ("USE clickvisual", Kind::Use),
            (
                "CREATE TABLE IF NOT EXISTS `cv_user` (\n `id` int)",
                Kind::CreateTableIfNotExists,
            ),
            (
                "create table if not exists x(id int)",
                Kind::CreateTableIfNotExists,
            ),
            ("CREATE TABLE `cv_user` (`id` int)", Kind::Other),
            ("INSERT IGNORE INTO t VALUES (1)", Kind::InsertIgnore),
            ("insert into t values (1)", Kind::Insert),
            ("ALTER TABLE t ADD COLUMN c int", Kind::Other),
            ("DROP TABLE IF EXISTS t", Kind::Other),
            ("UPDATE t SET a = 1", Kind::Other),
            ("REPLACE INTO t VALUES (1)", Kind::Other),
        ];
        for (text, kind) in cases {
            assert_eq!(classify(text), kind, "{text}");
        }
        assert!(Kind::CreateTableIfNotExists.is_additive());
        assert!(Kind::InsertIgnore.is_additive());
        assert!(!Kind::Insert.is_additive());
        assert!(!Kind::Other.is_additive());
    }

    #[test]
    fn rerunnable_statements_ignore_existing_rows_and_leave_the_database_alone() {
        assert_eq!(rerunnable("CREATE DATABASE clickvisual"), None);
        assert_eq!(rerunnable("use clickvisual"), None);
        assert_eq!(
            rerunnable("INSERT INTO `cv_pms_casbin_rule` VALUES (1,'p')"),
            Some((
                Kind::InsertIgnore,
                "INSERT IGNORE INTO `cv_pms_casbin_rule` VALUES (1,'p')".to_string()
            ))
        );
        assert_eq!(
            rerunnable("ALTER TABLE t DROP c"),
            Some((Kind::Other, "ALTER TABLE t DROP c".to_string()))
        );
        assert_eq!(
            rerunnable("insert low_priority into t values (1)"),
            Some((
                Kind::InsertIgnore,
                "INSERT low_priority IGNORE into t values (1)".to_string()
            ))
        );
        assert_eq!(
            classify("INSERT DELAYED IGNORE INTO t VALUES (1)"),
            Kind::InsertIgnore
        );
        // Changes the rows it collides with; the words inside a string do not count.
        let upsert = "INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = 2";
        assert_eq!(classify(upsert), Kind::Other);
        assert_eq!(rerunnable(upsert).unwrap().0, Kind::Other);
        assert_eq!(
            classify("INSERT INTO t VALUES ('on duplicate key update')"),
            Kind::Insert
        );
    }
}
