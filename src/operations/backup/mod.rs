//! `stackctl backup`: each data service saved with its own tooling, to a volume
//! the release owns, one record per backup.

pub mod job;
pub mod record;
