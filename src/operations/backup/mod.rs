//! `stackctl backup`: each data service saved with its own tooling, to a volume
//! the release owns or to S3 (`backup.s3`), one record per backup; to the
//! user's machine (`download`) and from it into any release (`upload`).

pub mod download;
mod pause;
pub mod record;
pub mod restore;
mod run;
pub mod scheduled;
pub mod upload;

pub use run::{
    CreateOptions, Purged, Summary, check_purge, create, delete, ensure_volume, list, purge,
    s3_credentials, select, summary,
};
