//! Credentials a service applies only when it initialises its data: changing one in
//! the values changes the Secret, not the service. A stack lists each such change
//! between two revisions ([`InitOnlyChange`]) with how it is carried out — a Job
//! that logs in with the current credential and changes it, or by hand — and the
//! upgrade either runs the Jobs before anything else is written or refuses.

use std::collections::BTreeMap;

use super::ProbeSpec;

/// `<release>-credential-rotation`: the temporary Secret a rotation Job reads the
/// current and the new credentials from, created before the Job and deleted after;
/// the release's own Secrets still hold the current ones at that point.
pub const ROTATION_SECRET_SUFFIX: &str = "credential-rotation";

/// One init-only credential whose value differs between two revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOnlyChange {
    /// The values key, as in `--set mysql.auth.password=…`.
    pub key: &'static str,
    /// The component whose service holds the credential.
    pub component: &'static str,
    pub rotation: Rotation,
}

/// How a changed init-only credential reaches the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// A Job of the stack's [`RotationJob`]s changes it in the service.
    Job,
    /// stackctl cannot change it safely: what a person does instead, before the
    /// upgrade that sets the new value.
    Manual(String),
}

/// A Job that changes init-only credentials in the running service: `probe` is run
/// like a connectivity probe (one pod, never retried, its log shown on failure);
/// its credential env reads the temporary Secret [`ROTATION_SECRET_SUFFIX`], whose
/// keys and values are `secret`.
#[derive(Debug, Clone, PartialEq)]
pub struct RotationJob {
    pub probe: ProbeSpec,
    /// The values keys this Job rotates, for messages.
    pub keys: Vec<&'static str>,
    pub secret: BTreeMap<String, String>,
}
