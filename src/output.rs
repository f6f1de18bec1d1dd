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
