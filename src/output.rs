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
