//! `stackctl values`: the effective values of a release.

use anyhow::Result;

use crate::cli::{GlobalArgs, ShowValuesArgs};
use crate::operations::prepare;
use crate::output::print_structured;

pub fn run(global: &GlobalArgs, args: &ShowValuesArgs) -> Result<()> {
    let prepared = prepare(&super::values_input(global, &args.values))?;
    let tree = if args.show_secrets {
        prepared.values.tree.clone()
    } else {
        prepared.stack.redact(&prepared.values.tree)
    };
    print_structured(global.output, &tree)
}
