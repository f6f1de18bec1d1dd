use std::process::ExitCode;

use stackctl::cli::Cli;

fn main() -> ExitCode {
    sigpipe::reset();
    let cli = Cli::parse_ordered();
    stackctl::logging::init(&cli.global);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(stackctl::commands::run(cli))
}
