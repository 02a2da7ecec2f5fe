//! `vigil run`: the main job, on the embedded default config or a file,
//! with the command line's overrides.

use std::process::ExitCode;

use anyhow::Result;
use vigil_agent::config;

use crate::cli::RunArgs;

pub fn run(args: &RunArgs) -> Result<ExitCode> {
    if args.print_default_config {
        print!("{}", config::DEFAULT);
        return Ok(ExitCode::SUCCESS);
    }
    let mut spec = crate::cmd::load(&args.target)?;
    if let Some(b) = &args.fim_backend {
        spec.fim.backend = vigil_event::Backend::parse(b);
    }
    if let Some(p) = &args.events_out {
        spec.events_out(p);
    }
    if let Some(l) = &args.metrics_listen {
        spec.metrics.enabled = true;
        spec.metrics.listen = l.clone();
    }
    if let Some(w) = &args.web_config {
        spec.metrics.web_config = Some(w.clone());
    }
    vigil_agent::run::run(&spec, args.duration)?;
    Ok(ExitCode::SUCCESS)
}
