//! The label and annotation names every rendered object carries and the engine reads
//! back: inventory, prune, rollback and the upgrade summary select on them.

/// Label carrying the release name; inventory and prune select on it.
pub const RELEASE_LABEL: &str = "stackctl.dev/release";
/// Annotation naming the phase an object is applied in.
pub const PHASE_ANNOTATION: &str = "stackctl.dev/phase";
pub const MANAGED_BY: &str = "stackctl";
/// On an object named for its revision (`<base>-<revision>`: a Job, whose template
/// cannot change, that runs once per revision): the base name. The upgrade summary
/// and `diff` compare it with the previous revision's counterpart, not with nothing.
pub const PER_REVISION_ANNOTATION: &str = "stackctl.dev/per-revision";
/// On a Job that creates or migrates a database schema: which schema, for people.
/// Rollback says that it re-runs such Jobs and does not undo what they did.
pub const SCHEMA_ANNOTATION: &str = "stackctl.dev/schema";
