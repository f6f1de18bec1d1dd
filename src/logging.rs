//! Diagnostics for developers (`-v`, `-vv`, `STACKCTL_LOG`) on stderr, so they never
//! mix with YAML or JSON on stdout. What a person must see is not logged but printed
//! (`output::warn`, the progress reporter, the command's own lines).

use tracing_subscriber::EnvFilter;

use crate::cli::GlobalArgs;

pub fn init(global: &GlobalArgs) {
    let level = match (global.quiet, global.verbose) {
        // kube-client logs every 5xx answer as an error of its own; callers report
        // failures in their words (a probe pod's log the node cannot serve is an
        // expected "no log available", not an error).
        // People read `warning:` lines (crate::output::warn) and errors; log records
        // are for `-v`, so none interleave with those lines by default.
        (_, 0) | (true, _) => "off",
        (false, 1) => "info,kube=warn,kube_client::client::builder=off",
        (false, 2) => "debug,kube=info,hyper=warn",
        (false, _) => "trace",
    };
    // STACKCTL_LOG overrides, e.g. STACKCTL_LOG=kube=debug.
    let filter = EnvFilter::try_from_env("STACKCTL_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let color = !global.no_color && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
