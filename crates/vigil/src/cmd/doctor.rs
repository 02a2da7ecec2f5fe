//! `vigil doctor`: every probe, every feature's backend and why, and what
//! is degraded. Exit status 0 when at least one feature can run.

use std::process::ExitCode;

use anyhow::Result;
use vigil_agent::report::Report;

use crate::cli::DoctorArgs;

pub fn run(args: &DoctorArgs) -> Result<ExitCode> {
    let report = Report::doctor();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(if report.can_run {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
