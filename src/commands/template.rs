//! `stackctl template` and `stackctl lint`.

use anyhow::Result;

use super::print_warnings;
use crate::cli::{GlobalArgs, OutputFormat, TemplateArgs, ValuesArgs};
use crate::cluster;
use crate::model::Capabilities;
use crate::operations::Refused;
use crate::operations::prepare;

pub fn run(global: &GlobalArgs, args: &TemplateArgs) -> Result<()> {
    let prepared = prepare(&super::values_input(global, &args.values))?;
    print_warnings(global, &prepared);
    let caps = cluster::capabilities_for_version(&args.kube_version)
        .map_err(|e| Refused(e.to_string()))?;
    let plan = prepared.plan(caps)?;
    match global.output {
        OutputFormat::Text | OutputFormat::Yaml => print!("{}", plan.to_yaml()?),
        OutputFormat::Json => {
            let items: Vec<&serde_json::Value> = plan.manifests().map(|m| &m.body).collect();
            let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items });
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
    }
    Ok(())
}

/// Validates values and renders every component (so rendering problems surface too)
/// for both API generations; prints a one-line verdict.
pub fn lint(global: &GlobalArgs, args: &ValuesArgs) -> Result<()> {
    let prepared = prepare(&super::values_input(global, args))?;
    print_warnings(global, &prepared);
    let mut objects = 0;
    for caps in [Capabilities::for_minor(20), Capabilities::latest()] {
        objects = prepared.plan(caps)?.manifests().count();
    }
    if !global.quiet {
        println!(
            "{}: values valid, {objects} objects for release {} in namespace {} (stack {})",
            prepared.profile.source,
            prepared.release.name,
            prepared.release.namespace,
            prepared.stack.name()
        );
    }
    Ok(())
}
