//! `stackctl profiles`: the built-in profiles.

use anyhow::Result;
use serde_json::json;

use crate::cli::{GlobalArgs, OutputFormat};
use crate::output::{print_structured, table};
use crate::profiles;

pub fn run(global: &GlobalArgs) -> Result<()> {
    let list = profiles::builtin();
    if global.output != OutputFormat::Text {
        let rows: Vec<serde_json::Value> = list
            .iter()
            .map(|p| json!({ "name": p.name, "stack": p.stack, "description": p.description }))
            .collect();
        return print_structured(global.output, &rows);
    }
    let rows = list
        .iter()
        .map(|p| vec![p.name.clone(), p.stack.clone(), p.description.clone()]);
    println!("{}", table(&["NAME", "STACK", "DESCRIPTION"], rows));
    Ok(())
}
