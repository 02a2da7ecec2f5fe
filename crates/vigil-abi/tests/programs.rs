//! The FIM hook table (`vigil_abi::hooks`) against the programs the
//! committed objects carry, on every architecture: a hook the table names
//! must have its four programs, and every hook program must be named.

use std::path::PathBuf;

use libbpf_rs::ObjectBuilder;
use vigil_abi::hooks::{Need, FIM_HOOKS};

fn fim_objects() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bpf/obj");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("bpf/obj exists")
        .map(|e| e.unwrap().path().join("fim.bpf.o"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found
}

fn programs(path: &PathBuf) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let open = ObjectBuilder::default()
        .open_memory(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    open.progs()
        .map(|p| p.name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_hook_table_names_exactly_the_hook_programs() {
    let objs = fim_objects();
    assert!(objs.len() >= 2, "fim objects under bpf/obj: {objs:?}");
    for obj in &objs {
        let progs = programs(obj);
        let mut problems = Vec::new();
        for h in FIM_HOOKS {
            for p in ["fim_lsm_", "fim_fentry_"] {
                for suffix in ["", "_legacy"] {
                    let want = format!("{p}{}{suffix}", h.name);
                    if !progs.contains(&want) {
                        problems.push(format!("{want} missing"));
                    }
                }
            }
            if let Need::Optional { stand_ins } = h.need {
                for s in stand_ins {
                    if !progs.contains(&format!("fim_enter_{s}")) {
                        problems.push(format!("stand-in fim_enter_{s} missing"));
                    }
                }
            }
        }
        for p in &progs {
            let hook = p
                .strip_prefix("fim_lsm_")
                .or_else(|| p.strip_prefix("fim_fentry_"))
                .map(|h| h.trim_end_matches("_legacy"));
            if let Some(h) = hook {
                if !FIM_HOOKS.iter().any(|t| t.name == h) {
                    problems.push(format!("{p}: hook {h} is not in vigil_abi::hooks"));
                }
            }
        }
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            obj.display(),
            problems.join("\n")
        );
    }
}
