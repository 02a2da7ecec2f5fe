//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use vigil_agent::config::values::{parse_duration, parse_listen, parse_ringbuf_mib};

#[derive(Parser, Debug)]
#[command(
    name = "vigil",
    version,
    about = "eBPF host security sensor: who changed what, and when"
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug). VIGIL_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the main job (embedded default config unless --config is given).
    Run(RunArgs),
    /// Probe the kernel and explain which backend each feature uses, and why.
    Doctor(DoctorArgs),
    /// Live tracers.
    #[command(subcommand)]
    Trace(TraceCommand),
    /// One-shot file-integrity commands against the baseline.
    #[command(subcommand)]
    Fim(FimCommand),
    /// Live security signals as ECS JSON lines: execs, exits, connections,
    /// sensitive-file access, privilege changes, kernel modules.
    Events(EventsArgs),
}

/// Where the FIM trees and baseline come from: the config, overridden by
/// flags.
#[derive(Args, Debug, Clone)]
pub struct FimTarget {
    /// TOML config file; without it the embedded default is used.
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    /// Watch this tree instead of the config's (repeatable).
    #[arg(long = "watch", value_name = "PATH")]
    pub watch: Vec<PathBuf>,
    /// The baseline database (default: the config's).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum FimCommand {
    /// Scan the trees, report every change against the baseline, and
    /// update it (the first scan establishes it).
    Scan {
        #[command(flatten)]
        target: FimTarget,
        /// Write the change events to this file instead of stdout.
        #[arg(long)]
        events_out: Option<PathBuf>,
    },
    /// Show the baseline: where it is, what it holds, when it was scanned.
    Status {
        #[command(flatten)]
        target: FimTarget,
        #[arg(long)]
        json: bool,
    },
    /// Report what changed since the baseline, without updating it.
    Diff {
        #[command(flatten)]
        target: FimTarget,
    },
    /// Drop a tree from the baseline: its records go (but those another
    /// tree in the baseline still holds), and a later run that watches it
    /// establishes it afresh. Runs that do not watch a tree never touch
    /// its records; this is the only way they go.
    Forget {
        /// The tree's root, as the baseline holds it (see `vigil fim status`).
        path: PathBuf,
        /// TOML config file naming the baseline; default: the embedded one.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// The baseline database (default: the config's).
        #[arg(long)]
        baseline: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: FimTarget,
    /// Write events to this file instead of the config's output.
    #[arg(long)]
    pub events_out: Option<PathBuf>,
    /// FIM kernel hooks: auto (the best this kernel supports), lsm,
    /// fentry, tracepoint, or fanotify (no BPF; who-data from /proc).
    #[arg(long, value_parser = ["auto", "lsm", "fentry", "tracepoint", "fanotify"])]
    pub fim_backend: Option<String>,
    /// Print the embedded default config and exit.
    #[arg(long)]
    pub print_default_config: bool,
    /// Stop after this long (e.g. 30s, 5m); default: until SIGINT/SIGTERM.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Serve Prometheus metrics here (HOST:PORT or :PORT) instead of the
    /// config's address.
    #[arg(long, value_parser = parse_listen)]
    pub metrics_listen: Option<String>,
    /// Exporter web config (TLS, basic auth) for the metrics endpoint.
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// TOML config for the security settings; default: the embedded one.
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    /// Only these signals (repeatable).
    #[arg(long = "signal", value_parser = signal_names())]
    pub signals: Vec<String>,
    /// Only alerts (suspicious execs, sensitive files, privilege changes,
    /// kernel modules).
    #[arg(long)]
    pub alerts_only: bool,
    /// Stop after this long (e.g. 10s, 2m, or plain seconds).
    #[arg(short, long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Write events to this file (appending) instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Emit every routine event: turn the adaptive sampler off.
    #[arg(long)]
    pub no_sampling: bool,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// TOML config naming the baseline, beside which the running agent
    /// records its FIM self-test; default: the embedded one.
    #[arg(short, long)]
    pub config: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// Trace open, openat, openat2 and creat with absolute, user-visible paths.
    Opens(TraceOpensArgs),
}

#[derive(Args, Debug, Clone)]
pub struct TraceOpensArgs {
    /// Only this process (all of its threads).
    #[arg(short, long)]
    pub pid: Option<u32>,
    /// Only this thread.
    #[arg(long)]
    pub tid: Option<u32>,
    /// Only this user id.
    #[arg(short, long)]
    pub uid: Option<u32>,
    /// Only tasks with this command name (the kernel keeps 15 bytes).
    #[arg(short, long)]
    pub comm: Option<String>,
    /// Only failed opens.
    #[arg(short = 'x', long)]
    pub failed: bool,
    /// Only paths under this prefix (whole components; repeatable).
    #[arg(long = "path", value_name = "PREFIX")]
    pub paths: Vec<PathBuf>,
    /// Stop after this long (e.g. 10s, 2m, or plain seconds).
    #[arg(short, long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// JSON lines (ECS field names) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write events to this file (appending) instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Ring-buffer size in MiB (a power of two).
    #[arg(long, default_value_t = 16, value_parser = parse_ringbuf_mib)]
    pub ringbuf_mib: u32,
}

/// The names `--signal` takes, from the signal catalog.
fn signal_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(vigil_event::security::SIGNALS.iter().map(|s| s.cli))
}
