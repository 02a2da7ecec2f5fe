//! `vigil doctor`: every probe, every feature's backend and why, what is
//! degraded, and what the running agent's FIM self-test last found. Exit
//! status 0 when at least one feature can run and the self-test (if an
//! agent recorded one) is not failing.

use std::process::ExitCode;

use anyhow::Result;
use vigil_agent::jobs::fim_selftest::{read_status, status_path, Status};
use vigil_agent::report::Report;

use crate::cli::DoctorArgs;

/// The self-test's line: passing, failing and why, or no result.
fn selftest_line(s: Option<&Status>, agent_alive: bool) -> String {
    let when = |t: u64| {
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t))
            .to_string()
    };
    let alive = if agent_alive {
        ""
    } else {
        " (that agent is no longer running)"
    };
    match s {
        None => "no result recorded (no agent has run the self-test with this baseline)".into(),
        Some(s) if s.up => format!("passing: last at {}{alive}", when(s.at)),
        Some(s) => format!(
            "FAILING since {}: {}{alive}",
            when(s.at),
            s.why.as_deref().unwrap_or("unknown")
        ),
    }
}

pub fn run(args: &DoctorArgs) -> Result<ExitCode> {
    let report = Report::doctor();
    let baseline = vigil_agent::config::load(args.config.as_deref())
        .map_err(anyhow::Error::msg)?
        .fim
        .baseline;
    let status = read_status(&baseline);
    let alive = status
        .as_ref()
        .is_some_and(|s| std::path::Path::new(&format!("/proc/{}", s.pid)).exists());
    let failing = status.as_ref().is_some_and(|s| !s.up && alive);
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["fim_selftest"] = serde_json::json!({
            "status_file": status_path(&baseline).display().to_string(),
            "agent_running": alive,
            "last": status,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", report.render());
        println!(
            "\nFIM self-test ({}):\n  {}",
            status_path(&baseline).display(),
            selftest_line(status.as_ref(), alive)
        );
    }
    Ok(if report.can_run && !failing {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
