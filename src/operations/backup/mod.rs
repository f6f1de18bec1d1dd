//! `stackctl backup`: each data service saved with its own tooling, to a volume
//! the release owns, one record per backup.

pub mod record;
pub mod restore;
mod run;
pub mod scheduled;

pub use run::{
    CreateOptions, Summary, create, delete, ensure_volume, list, purge, select, summary,
};
