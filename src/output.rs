//! Output for people and scripts: kubectl-style tables, JSON and YAML on stdout.

use anyhow::Result;
use comfy_table::{ContentArrangement, Table, presets::NOTHING};
use serde::Serialize;

use crate::cli::OutputFormat;

/// A borderless table with upper-case headers, as kubectl prints them, fitted to
/// [`width`]: cells of the widest columns wrap (between words where they can) so no
/// line is longer; without a width nothing is wrapped.
pub fn table<R, C>(headers: &[&str], rows: R) -> String
where
    R: IntoIterator<Item = Vec<C>>,
    C: Into<comfy_table::Cell>,
{
    table_within(width(), headers, rows)
}

/// [`table`] with its width given: `None` for no limit.
pub fn table_within<R, C>(width: Option<u16>, headers: &[&str], rows: R) -> String
where
    R: IntoIterator<Item = Vec<C>>,
    C: Into<comfy_table::Cell>,
{
    let mut t = Table::new();
    t.load_style(NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers.to_vec());
    match width {
        // The first column's leading padding and the last one's trailing padding are
        // never printed (below), so comfy-table may count them beyond the width.
        Some(w) => {
            t.set_width(w.saturating_add(2));
        }
        // comfy-table would otherwise ask the terminal itself; the width is decided
        // once, in `width`, and none means none.
        None => {
            t.force_no_tty();
        }
    }
    for row in rows {
        t.add_row(row);
    }
    // comfy-table pads the first column with a leading space; kubectl does not.
    t.to_string()
        .lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// How wide tables may be, decided once per run: `COLUMNS` when it is set (to a
/// positive number), else the terminal's width when stdout is one, else no limit, so
/// output piped to a file or another program is never wrapped or cut.
pub fn width() -> Option<u16> {
    static WIDTH: std::sync::OnceLock<Option<u16>> = std::sync::OnceLock::new();
    *WIDTH.get_or_init(|| {
        use std::io::IsTerminal;
        let terminal = std::io::stdout().is_terminal();
        let columns = std::env::var("COLUMNS").ok();
        let size = || console::Term::stdout().size_checked().map(|(_, cols)| cols);
        decide_width(terminal, columns.as_deref(), size)
    })
}

/// The decision of [`width`], apart from the process's environment. The terminal's
/// size is asked only when it is used.
fn decide_width(
    is_terminal: bool,
    columns: Option<&str>,
    terminal_width: impl FnOnce() -> Option<u16>,
) -> Option<u16> {
    let columns = columns
        .and_then(|c| c.trim().parse::<u64>().ok())
        .filter(|&c| c > 0)
        .map(|c| u16::try_from(c).unwrap_or(u16::MAX));
    match columns {
        Some(c) => Some(c),
        None if is_terminal => terminal_width().filter(|&w| w > 0),
        None => None,
    }
}

/// Prints a value as JSON or YAML; `text` falls back to YAML for structured data.
pub fn print_structured<T: Serialize>(format: OutputFormat, value: &T) -> Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(value)?),
        OutputFormat::Yaml | OutputFormat::Text => print!("{}", serde_saphyr::to_string(value)?),
    }
    Ok(())
}

/// The error chain in one line, with API errors reduced to the server's message
/// (kube's own formatting repeats it inside a debug dump of the Status).
pub fn describe(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        if let Some(kube::Error::Api(status)) = cause.downcast_ref::<kube::Error>() {
            parts.push(format!("{} ({})", status.message, status.reason));
            break;
        }
        let text = cause.to_string();
        // anyhow's context chains repeat a cause's text when a layer formats it in.
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// Where warnings go while progress bars are drawn: above them, not through them.
static BARS: std::sync::Mutex<Option<indicatif::MultiProgress>> = std::sync::Mutex::new(None);

/// Routes [`warn`] above these bars (or back to plain stderr with `None`).
pub fn route_warnings_through(bars: Option<indicatif::MultiProgress>) {
    if let Ok(mut slot) = BARS.lock() {
        *slot = bars;
    }
}

/// A `warning: …` line for a person, shown by default and even with `--quiet`: the
/// one voice for things that went wrong but did not stop the command (a temporary
/// Secret that could not be deleted, a check that had to be skipped). Diagnostics
/// for developers are `tracing` records instead, shown only with `-v`.
pub fn warn(msg: impl AsRef<str>) {
    let line = format!("warning: {}", msg.as_ref());
    let bars = BARS.lock().ok().and_then(|b| b.clone());
    match bars {
        Some(m) => {
            let _ = m.println(line);
        }
        None => eprintln!("{line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 300 characters of words, each numbered so none can go missing unnoticed.
    fn long_text() -> String {
        let words: Vec<String> = (0..60).map(|i| format!("w{i:03}")).collect();
        let text = words.join(" ");
        assert!(text.len() >= 299, "{}", text.len());
        text
    }

    fn rows(text: &str) -> Vec<Vec<String>> {
        vec![
            vec!["first".into(), "short".into(), text.into()],
            vec!["second".into(), "also short".into(), "-".into()],
        ]
    }

    fn longest(text: &str) -> usize {
        text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
    }

    #[test]
    fn a_long_cell_wraps_within_the_width() {
        let text = long_text();
        let out = table_within(Some(80), &["NAME", "KIND", "DESCRIPTION"], rows(&text));
        assert!(longest(&out) <= 80, "{out}");
        // Wrapped, not cut: every word is there, in order.
        let words: Vec<&str> = out.split_whitespace().collect();
        let mut at = 0;
        for w in text.split(' ') {
            let found = words[at..].iter().position(|x| *x == w);
            assert!(found.is_some(), "{w} missing from\n{out}");
            at += found.unwrap() + 1;
        }
        // kubectl's style still: headers first, no leading or trailing spaces.
        assert!(out.starts_with("NAME"), "{out}");
        assert!(out.lines().any(|l| l.starts_with("first ")), "{out}");
        assert!(out.lines().any(|l| l.starts_with("second ")), "{out}");
        assert!(out.lines().all(|l| l == l.trim_end()), "{out}");
        assert!(out.lines().count() > 3, "{out}");
    }

    #[test]
    fn without_a_width_nothing_wraps() {
        let text = long_text();
        let out = table_within(None, &["NAME", "KIND", "DESCRIPTION"], rows(&text));
        assert_eq!(out.lines().count(), 3, "{out}");
        let first = out.lines().nth(1).unwrap();
        assert!(first.starts_with("first "), "{out}");
        assert!(first.ends_with(&text), "{out}");
    }

    #[test]
    fn a_table_that_fits_is_unchanged_by_the_width() {
        let r = || vec![vec!["a", "b"], vec!["ccc", "d"]];
        let out = table_within(Some(80), &["X", "Y"], r());
        assert_eq!(out, table_within(None, &["X", "Y"], r()));
        assert_eq!(out, "X    Y\na    b\nccc  d");
    }

    #[test]
    fn the_width_comes_from_columns_then_the_terminal() {
        let term = || Some(120);
        let no_size = || None;
        // A terminal with COLUMNS set: COLUMNS.
        assert_eq!(decide_width(true, Some("80"), term), Some(80));
        // A terminal only: its width.
        assert_eq!(decide_width(true, None, term), Some(120));
        assert_eq!(decide_width(true, None, no_size), None);
        // No terminal, COLUMNS set: COLUMNS.
        assert_eq!(decide_width(false, Some("80"), no_size), Some(80));
        // Neither: no limit (the terminal's size is not even asked).
        assert_eq!(
            decide_width(false, None, || -> Option<u16> { panic!("asked") }),
            None
        );
        // COLUMNS that is no positive number is as good as unset.
        for bad in ["", "0", "-3", "wide"] {
            assert_eq!(decide_width(true, Some(bad), term), Some(120), "{bad}");
            assert_eq!(decide_width(false, Some(bad), no_size), None, "{bad}");
        }
        assert_eq!(decide_width(false, Some("100000"), no_size), Some(u16::MAX));
    }
}
