//! Command-line surface: global flags every command shares, and the subcommands.

use std::path::PathBuf;

use clap::{ArgMatches, Args, Parser, Subcommand, ValueEnum};

use crate::values::{SetFlag, SetKind};

#[derive(Debug, Parser)]
#[command(
    name = "stackctl",
    version,
    about = "Install whole multi-service stacks onto Kubernetes, phase by phase, and keep them healthy",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "KUBECONFIG",
        hide_env = true
    )]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace of the release (default: the stack's own, e.g. `clickvisual`)
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Output format
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More detail on stderr (repeat for more)
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// No colours (also when NO_COLOR is set or stdout is not a terminal)
    #[arg(long, global = true)]
    pub no_color: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every object a release would apply, as multi-document YAML in apply order
    Template(TemplateArgs),
    /// Validate values and print every problem found
    Lint(ValuesArgs),
    /// Print the effective values (secrets redacted unless --show-secrets)
    Values(ShowValuesArgs),
    /// List the built-in profiles
    Profiles,
    /// Install a release: preflight, then storage, data and apps phases, each applied and waited for
    Install(InstallArgs),
    /// Upgrade a release: previous values plus -f/--set, phase by phase, pruning what is gone
    Upgrade(UpgradeArgs),
    /// Re-apply an earlier revision as a new revision (default: the previous deployed one)
    Rollback(RollbackArgs),
    /// Show a release: revision, state, components, endpoints and where credentials are
    Status(ReleaseArg),
    /// List a release's revisions
    History(ReleaseArg),
    /// Remove a release in reverse phase order; PersistentVolumeClaims are kept unless --purge-volumes
    Uninstall(UninstallArgs),
    /// Show what an upgrade would change (server-side dry run, secrets redacted)
    Diff(DiffArgs),
    /// Remove a release's operation lock left by a process that is gone
    Unlock(UnlockArgs),
    /// Run the connectivity probes: in-cluster Jobs proving each service answers with the apps' credentials
    Test(TestArgs),
    /// Check a release and everything around it (pods, volumes, network, nodes, events, drift); exit 1 on any warning
    Doctor(DoctorArgs),
    /// Back up a release's data services, each with its own tooling, to a volume the release owns
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Print a shell completion script
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// How the values of a release are chosen; shared by every command that renders.
#[derive(Debug, Args, Clone, Default)]
pub struct ValuesArgs {
    /// Release name (default: the stack's name)
    #[arg(value_name = "RELEASE")]
    pub release: Option<String>,
    /// Built-in profile name (see `stackctl profiles`) or path to a profile file
    /// [default: `default`; for upgrade, the release's own]
    #[arg(short = 'p', long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// Values file layered over the profile (repeatable, later wins)
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Set a value, Helm syntax: a.b=c,x[0].y=z (typed by the schema)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Set a value that is always a string
    #[arg(long = "set-string", value_name = "KEY=VALUE")]
    pub set_string: Vec<String>,
    /// Set a value given as JSON
    #[arg(long = "set-json", value_name = "KEY=JSON")]
    pub set_json: Vec<String>,
    /// Set a value to the contents of a file
    #[arg(long = "set-file", value_name = "KEY=PATH")]
    pub set_file: Vec<String>,
    /// The set-flags in the order they were typed (filled from the raw matches)
    #[arg(skip)]
    pub ordered_sets: Vec<SetFlag>,
}

#[derive(Debug, Args, Clone)]
pub struct TemplateArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    /// Kubernetes version to render for (API versions that moved, e.g. PodDisruptionBudget)
    #[arg(long, value_name = "1.MINOR", default_value = "latest")]
    pub kube_version: String,
}

#[derive(Debug, Args, Clone)]
pub struct ShowValuesArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    /// Print passwords and keys instead of <redacted>
    #[arg(long)]
    pub show_secrets: bool,
}

impl Cli {
    /// Parses the command line, keeping the typed order of interleaved set-flags,
    /// which clap's derive loses.
    pub fn parse_ordered() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().get_matches();
        let mut cli = match Cli::from_arg_matches(&matches) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        };
        if let (Some((_, sub)), Some(v)) = (matches.subcommand(), cli.command.values_args_mut()) {
            v.ordered_sets = ordered_sets(sub);
        }
        cli
    }
}

impl Command {
    fn values_args_mut(&mut self) -> Option<&mut ValuesArgs> {
        match self {
            Command::Template(t) => Some(&mut t.values),
            Command::Lint(v) => Some(v),
            Command::Values(s) => Some(&mut s.values),
            Command::Install(i) => Some(&mut i.values),
            Command::Upgrade(u) => Some(&mut u.values),
            Command::Diff(d) => Some(&mut d.upgrade.values),
            Command::Profiles
            | Command::Completion { .. }
            | Command::Rollback(_)
            | Command::Status(_)
            | Command::History(_)
            | Command::Uninstall(_)
            | Command::Unlock(_)
            | Command::Test(_)
            | Command::Doctor(_)
            | Command::Backup(_) => None,
        }
    }
}

/// Set-flags sorted by their position on the command line.
pub fn ordered_sets(m: &ArgMatches) -> Vec<SetFlag> {
    let mut flags: Vec<(usize, SetFlag)> = Vec::new();
    for (id, kind) in [
        ("set", SetKind::Set),
        ("set_string", SetKind::String),
        ("set_json", SetKind::Json),
        ("set_file", SetKind::File),
    ] {
        let (Some(values), Some(indices)) = (m.get_many::<String>(id), m.indices_of(id)) else {
            continue;
        };
        for (raw, index) in values.zip(indices) {
            flags.push((
                index,
                SetFlag {
                    kind,
                    raw: raw.clone(),
                },
            ));
        }
    }
    flags.sort_by_key(|(i, _)| *i);
    flags.into_iter().map(|(_, f)| f).collect()
}

/// Flags shared by operations that change the cluster.
#[derive(Debug, Args, Clone)]
pub struct OperationArgs {
    /// Bound on the whole operation, e.g. 10m, 300s [default: fits the plan, 5m to 20m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// On failure, roll back to the previous revision (or uninstall a first install)
    #[arg(long)]
    pub atomic: bool,
    /// Validate and show what would be applied: `client` renders only, `server` asks the
    /// API server (server-side apply with dryRun=All); nothing is changed
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, default_missing_value = "client")]
    pub dry_run: Option<DryRun>,
    /// Answer yes to confirmations (for automation)
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Plain timestamped lines instead of progress bars
    #[arg(long)]
    pub no_progress: bool,
    /// Skip the connectivity probes (the last phase of install and upgrade, and the
    /// preflight probes of external services)
    #[arg(long)]
    pub skip_tests: bool,
    /// Release revisions to keep (the last deployed one is always kept)
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub history_max: usize,
    /// After applying each component, delete the release's pods stuck in CrashLoopBackOff or
    /// ImagePullBackOff so their controllers start them afresh; their last state and log
    /// lines are kept in the release record [default: true when install retries a
    /// failed or interrupted revision, false otherwise]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub restart_failed: Option<bool>,
    /// Pull the images of later phases on every node that may run them while the
    /// earlier phases start (a DaemonSet per node group, deleted when done): faster
    /// on a cold cluster, at the cost of pulls on every such node [default: the
    /// values' global.prepull]
    #[arg(long)]
    pub prepull: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRun {
    Client,
    Server,
}

#[derive(Debug, Args, Clone)]
pub struct InstallArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    #[command(flatten)]
    pub op: OperationArgs,
    /// Create the namespace when it does not exist
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub create_namespace: bool,
    /// Install even if the cluster's Kubernetes is older than a component needs
    /// (preflight otherwise refuses, naming the component and the ways out); the
    /// component may install and then not work
    #[arg(long)]
    pub allow_unsupported_kubernetes: bool,
}

#[derive(Debug, Args, Clone)]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub values: ValuesArgs,
    #[command(flatten)]
    pub op: OperationArgs,
    /// Start from the profile instead of the release's values (generated secrets are kept)
    #[arg(long)]
    pub reset_values: bool,
    /// Show the full diff of every changed object (secrets redacted)
    #[arg(long)]
    pub diff: bool,
    /// Apply changes to immutable fields by deleting the object with orphan propagation
    /// (pods and PVCs survive) and re-creating it
    #[arg(long)]
    pub recreate: bool,
    /// A credential the service applies only at first start (a refusal names it) that
    /// you already changed in the service yourself: the upgrade then only updates its
    /// Secret and the apps. Repeatable
    #[arg(long, value_name = "KEY")]
    pub rotated: Vec<String>,
    /// Upgrade even if the cluster's Kubernetes is older than a component needs
    /// (preflight otherwise refuses, naming the component and the ways out); the
    /// component may install and then not work
    #[arg(long)]
    pub allow_unsupported_kubernetes: bool,
}

#[derive(Debug, Args, Clone)]
pub struct RollbackArgs {
    /// [RELEASE] [REVISION]: release name and/or revision number (default: the previous
    /// deployed revision of the only release visible)
    #[arg(value_name = "RELEASE|REVISION", num_args = 0..=2)]
    pub args: Vec<String>,
    #[command(flatten)]
    pub op: OperationArgs,
    /// A credential the service applies only at first start (a refusal names it) that
    /// you already changed back in the service yourself: the rollback then only puts
    /// back its Secret and the apps. Repeatable
    #[arg(long, value_name = "KEY")]
    pub rotated: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ReleaseArg {
    /// Release name (default: the only release visible)
    #[arg(value_name = "RELEASE")]
    pub release: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub release: ReleaseArg,
    /// Also delete the release's PersistentVolumeClaims (their data is lost; asks first)
    #[arg(long)]
    pub purge_volumes: bool,
    /// Also delete the release's backups: their volume and records (never done by
    /// --purge-volumes; asks first)
    #[arg(long)]
    pub purge_backups: bool,
    /// Keep the release records (history) after removing the objects
    #[arg(long)]
    pub keep_history: bool,
    /// Answer yes to confirmations
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Plain timestamped lines instead of progress bars
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args, Clone)]
pub struct DiffArgs {
    #[command(flatten)]
    pub upgrade: UpgradeArgs,
}

#[derive(Debug, Args, Clone)]
pub struct UnlockArgs {
    #[command(flatten)]
    pub release: ReleaseArg,
    /// Answer yes to the confirmation
    #[arg(short = 'y', long)]
    pub yes: bool,
}

#[derive(Debug, Args, Clone)]
pub struct TestArgs {
    #[command(flatten)]
    pub release: ReleaseArg,
    /// Run only the probes of matching components: a name (`mysql`) or a glob (`click*`)
    #[arg(long, value_name = "GLOB")]
    pub filter: Option<String>,
    /// Deadline of each probe Job, replacing the probes' own (120s; Kafka 180s)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Show every probe's log, not only the failing ones'
    #[arg(long)]
    pub logs: bool,
}

#[derive(Debug, Subcommand, Clone)]
pub enum BackupCommand {
    /// Take a backup now: the metadata stores by default (MySQL, PostgreSQL, Redis)
    Create(BackupCreateArgs),
    /// List the release's backups, oldest first
    List(ReleaseArg),
    /// Delete a backup: its files on the backup volume, then its record
    Delete(BackupDeleteArgs),
    /// Restore a backup into its release: a safety backup first, the apps stopped
    /// meanwhile, then the connectivity probes
    Restore(BackupRestoreArgs),
    /// Copy a backup's files to this machine through the API server (as `kubectl
    /// cp`), each checked against its recorded sha256
    Download(BackupDownloadArgs),
    /// Copy a downloaded backup into a release's backup volume through the API
    /// server, and record it: another namespace's or cluster's backup, restorable
    /// here
    Upload(BackupUploadArgs),
}

#[derive(Debug, Args, Clone)]
pub struct BackupUploadArgs {
    /// The backup's directory, as `stackctl backup download` made it (DIR/NAME,
    /// with its stackctl.json)
    pub dir: std::path::PathBuf,
    /// Release name (default: the only release visible)
    #[arg(long, value_name = "RELEASE")]
    pub release: Option<String>,
    /// Bound on the pod that receives the files: its start and its whole life
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30m")]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct BackupDownloadArgs {
    /// The backup's name (see `stackctl backup list`)
    pub name: String,
    /// Where to put it: the files land in DIR/NAME/, which must not exist yet
    pub dir: std::path::PathBuf,
    /// Release name (default: the only release visible)
    #[arg(long, value_name = "RELEASE")]
    pub release: Option<String>,
    /// Bound on the pod that holds the files: its start and its whole life
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30m")]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct BackupRestoreArgs {
    /// The backup's name (see `stackctl backup list`)
    pub name: String,
    /// Release name (default: the only release visible)
    #[arg(long, value_name = "RELEASE")]
    pub release: Option<String>,
    /// Restore a backup of this other release (an old release's, into a new
    /// one); its backup volume is read, the safety backup goes to this
    /// release's own. NAMESPACE/RELEASE, or a backup whose record is gone (another
    /// cluster): read from the S3 bucket of this release's backup.s3
    #[arg(long, value_name = "[NAMESPACE/]RELEASE")]
    pub from: Option<String>,
    /// Restore only this component (repeatable) [default: every one the backup can restore]
    #[arg(long = "component", value_name = "NAME")]
    pub components: Vec<String>,
    /// Answer yes: a restore replaces data, so without a terminal it needs this
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Bound on each step (the safety backup, stopping the apps, the restore Job, their return)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30m")]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct BackupCreateArgs {
    #[command(flatten)]
    pub release: ReleaseArg,
    /// Back up only this component (repeatable); also the opt-in ones, such as
    /// ClickVisual's `clickhouse`. A name the release does not back up is refused
    /// with the list of those it does
    #[arg(long = "component", value_name = "NAME")]
    pub components: Vec<String>,
    /// Bound on the backup Job, e.g. 30m
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30m")]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct BackupDeleteArgs {
    /// The backup's name (see `stackctl backup list`)
    pub name: String,
    /// Release name (default: the only release visible)
    #[arg(long, value_name = "RELEASE")]
    pub release: Option<String>,
    /// Bound on the Job that removes the files
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub release: ReleaseArg,
    /// Count restarts and events within this window only: one restart last week is no finding today
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1h")]
    pub since: std::time::Duration,
    /// Also run the connectivity probes (creates probe Jobs; results are not recorded)
    #[arg(long)]
    pub probes: bool,
}

/// `90s`, `10m`, `1h30m`, `300` (seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let err = || format!("{s:?} is not a duration; use e.g. 300s, 10m or 1h30m");
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    let (mut total, mut number) = (0u64, String::new());
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().map_err(|_| err())?;
        number.clear();
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(err()),
        };
    }
    if !number.is_empty() || total == 0 {
        return Err(err());
    }
    Ok(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("300").unwrap().as_secs(), 300);
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5m3").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
