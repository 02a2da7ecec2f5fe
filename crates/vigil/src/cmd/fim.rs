//! `vigil fim scan|status|diff`: one-shot use of the baseline.

use std::io::IsTerminal;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use anyhow::Result;
use vigil_agent::jobs::fim;
use vigil_fim::hash::Hashing;
use vigil_fim::reconcile::LAST_SCAN;
use vigil_fim::store::Store;
use vigil_sinks::fim_json::Trigger;
use vigil_sinks::output::Output;

use crate::cli::FimCommand;

pub fn run(cmd: &FimCommand) -> Result<ExitCode> {
    match cmd {
        FimCommand::Scan { target, events_out } => {
            let spec = crate::cmd::load(target)?.fim;
            let (trees, _) = spec.resolve_roots();
            let mut store = Store::open(&spec.baseline)?;
            let r = fim::pass(
                &mut store,
                &trees,
                std::io::stderr().is_terminal(),
                true,
                &Hashing::new(&trees, None),
            )?;
            let mut out = match events_out {
                Some(p) => Output::file(p).map_err(anyhow::Error::msg)?,
                None => Output::stdout(),
            };
            fim::emit(&mut out, &trees, &r, Trigger::Manual)?;
            if r.established {
                eprintln!(
                    "vigil: baseline established: {} files in {}",
                    r.files,
                    spec.baseline.display()
                );
            } else {
                eprintln!(
                    "vigil: {} files scanned, {} changes",
                    r.files,
                    r.changes.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        FimCommand::Diff { target } => {
            let spec = crate::cmd::load(target)?.fim;
            let store = existing(&spec.baseline)?;
            let (trees, _) = spec.resolve_roots();
            let mut store = store;
            let r = fim::pass(
                &mut store,
                &trees,
                std::io::stderr().is_terminal(),
                false,
                &Hashing::new(&trees, None),
            )?;
            fim::emit(&mut Output::stdout(), &trees, &r, Trigger::Manual)?;
            eprintln!(
                "vigil: {} changes since the baseline (baseline not updated)",
                r.changes.len()
            );
            // Like diff(1): 1 when something differs.
            Ok(if r.changes.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        FimCommand::Forget {
            path,
            config,
            baseline,
        } => {
            let target = crate::cli::FimTarget {
                config: config.clone(),
                watch: Vec::new(),
                baseline: baseline.clone(),
            };
            let spec = crate::cmd::load(&target)?.fim;
            let mut store = existing(&spec.baseline)?;
            let held = store.trees()?;
            // The root as the baseline keys it: symlinks resolved, if it is
            // still there.
            let root = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            let key = root.as_os_str().as_bytes();
            if !held.iter().any(|t| t == key) {
                let names: Vec<String> = held
                    .iter()
                    .map(|t| String::from_utf8_lossy(t).into_owned())
                    .collect();
                anyhow::bail!(
                    "{} is not a tree of the baseline {} (its trees: {})",
                    path.display(),
                    spec.baseline.display(),
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                );
            }
            let gone = store.forget_tree(key)?;
            eprintln!(
                "vigil: forgot {} ({gone} records) in {}",
                root.display(),
                spec.baseline.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        FimCommand::Status { target, json } => {
            let spec = crate::cmd::load(target)?.fim;
            let store = existing(&spec.baseline)?;
            let files = store.count()?;
            let last = store.meta(LAST_SCAN)?.and_then(|s| s.parse::<u64>().ok());
            let last_str = last
                .map(|s| {
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(s),
                    )
                    .to_string()
                })
                .unwrap_or_else(|| "never".into());
            let (trees, _) = spec.resolve_roots();
            let trees: Vec<String> = trees.iter().map(|t| t.path.display().to_string()).collect();
            let held: Vec<String> = store
                .trees()?
                .iter()
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .collect();
            if *json {
                let v = serde_json::json!({
                    "baseline": spec.baseline.display().to_string(),
                    "files": files,
                    "last_scan": last_str,
                    "trees": trees,
                    "baseline_trees": held,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("baseline:  {}", spec.baseline.display());
                println!("files:     {files}");
                println!("last scan: {last_str}");
                println!("trees:     {}", trees.join(" "));
                println!("in baseline: {}", held.join(" "));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The baseline at `path`, which must exist already.
fn existing(path: &std::path::Path) -> Result<Store> {
    if !path.exists() {
        anyhow::bail!(
            "no baseline at {}: run `vigil fim scan` first",
            path.display()
        );
    }
    Ok(Store::open(path)?)
}
