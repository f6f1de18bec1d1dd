//! `stackctl backup`: each data service saved with its own tooling, to a volume
//! the release owns or to S3 (`backup.s3`), one record per backup; and back to
//! the user's machine (`download`).

pub mod download;
mod pause;
pub mod record;
pub mod restore;
mod run;
pub mod scheduled;

pub use run::{
    CreateOptions, Purged, Summary, check_purge, create, delete, ensure_volume, list, purge,
    s3_credentials, select, summary,
};
