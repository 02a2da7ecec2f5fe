//! `vigil`: the command line. Each subcommand turns its arguments into
//! the agent's specs (`vigil-agent`) and runs them.
//!
//! - `vigil run`: the main job, on the embedded default config or a file.
//! - `vigil doctor`: what this kernel can do, what each feature will use,
//!   and what runs degraded.
//! - `vigil trace opens`: a live, filterable open tracer with exact paths.
//! - `vigil events`: the security signals live.

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        cli::Command::Doctor(args) => cmd::doctor::run(&args),
        cli::Command::Trace(cli::TraceCommand::Opens(args)) => cmd::trace_opens::run(&args),
        cli::Command::Run(args) => cmd::run::run(&args),
        cli::Command::Fim(cmd) => cmd::fim::run(&cmd),
        cli::Command::Events(args) => cmd::events::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            ExitCode::FAILURE
        }
    }
}
