//! Output for people and scripts: kubectl-style tables, JSON and YAML on stdout.

use anyhow::Result;
use comfy_table::{ContentArrangement, Table, presets::NOTHING};
use serde::Serialize;

use crate::cli::OutputFormat;

/// A borderless table with upper-case headers, as kubectl prints them.
pub fn table<R, C>(headers: &[&str], rows: R) -> String
where
    R: IntoIterator<Item = Vec<C>>,
    C: Into<comfy_table::Cell>,
{
    let mut t = Table::new();
    t.load_style(NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers.to_vec());
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
