//! stackctl: installs whole multi-service stacks onto Kubernetes in phases.
//!
//! The pipeline is visible in the module layout:
//! cli → values → stacks/components → plan → apply → wait → probe → release.

pub mod apply;
pub mod cli;
pub mod cluster;
pub mod commands;

pub mod logging;
pub mod model;
pub mod netpol;
pub mod operations;
pub mod output;
pub mod plan;
pub mod probe;
pub mod profiles;
pub mod release;
pub mod stacks;
pub mod values;
pub mod wait;
