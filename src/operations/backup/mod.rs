//! `stackctl backup`: each data service saved with its own tooling, to a volume
//! the release owns, one record per backup.

pub mod job;
pub mod record;
pub mod restore;
mod run;

pub use run::{CreateOptions, Volume, create, delete, list, purge, select};
