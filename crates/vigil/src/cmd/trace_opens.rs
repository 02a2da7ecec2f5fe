//! `vigil trace opens`: the tracer's arguments, checked, into a trace.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use vigil_abi::{OpensFilter, COMM_LEN};
use vigil_agent::jobs::trace::{self, TraceSpec};
use vigil_agent::output::OutputSpec;
use vigil_trace::filter::PathFilter;
use vigil_trace::summary;

use crate::cli::TraceOpensArgs;

pub fn run(args: &TraceOpensArgs) -> Result<ExitCode> {
    let spec = spec_from_args(args)?;
    let stop = vigil_agent::stop::on_signals()?;
    let (totals, kernel) = trace::trace(&spec, &stop)?;
    eprintln!("{}", summary::render(&totals, &kernel));
    Ok(ExitCode::SUCCESS)
}

/// Validates the arguments; each error names the bad input.
fn spec_from_args(args: &TraceOpensArgs) -> Result<TraceSpec> {
    let mut filter = OpensFilter {
        self_tgid: std::process::id(),
        ..Default::default()
    };
    if let Some(pid) = args.pid {
        if pid == 0 || !Path::new(&format!("/proc/{pid}")).exists() {
            bail!("--pid {pid}: no such process");
        }
        filter.tgid = pid;
    }
    if let Some(tid) = args.tid {
        // /proc/TID resolves for any thread id, even if not listed.
        if tid == 0 || !Path::new(&format!("/proc/{tid}/status")).exists() {
            bail!("--tid {tid}: no such thread");
        }
        filter.tid = tid;
    }
    if let Some(uid) = args.uid {
        if uid == u32::MAX {
            bail!("--uid {uid}: not a valid user id");
        }
        filter.uid = uid;
    }
    if let Some(comm) = &args.comm {
        let bytes = comm.as_bytes();
        if bytes.is_empty() || bytes.contains(&0) {
            bail!("--comm {comm:?}: must be a non-empty name without NUL bytes");
        }
        // The kernel keeps COMM_LEN - 1 bytes; match what it keeps.
        let n = bytes.len().min(COMM_LEN - 1);
        if bytes.len() > n {
            tracing::warn!(
                "--comm {comm:?} is longer than the kernel keeps; matching its first {n} bytes"
            );
        }
        filter.comm[..n].copy_from_slice(&bytes[..n]);
    }
    filter.failed_only = args.failed as u8;
    let mut prefixes = Vec::new();
    for p in &args.paths {
        if !p.is_absolute() {
            bail!("--path {}: must be an absolute path", p.display());
        }
        prefixes.push(p.as_os_str().as_encoded_bytes().to_vec());
    }
    Ok(TraceSpec {
        filter,
        paths: PathFilter::new(prefixes),
        json: args.json,
        output: match &args.output {
            Some(p) => OutputSpec::File {
                path: p.clone(),
                rotation: None,
            },
            None => OutputSpec::Stdout,
        },
        duration: args.duration,
        ringbuf_mib: args.ringbuf_mib,
    })
}
