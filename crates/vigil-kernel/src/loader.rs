//! Loads an embedded object with per-program fallback, then attaches it.
//!
//! libbpf loads a whole object at once, so one program the kernel refuses
//! would take every other one down with it. Instead: on failure, find the
//! program libbpf names, keep the kernel's reason, switch that program off
//! (or to its `_legacy` flavour) and load again. What cannot load disables
//! only its own feature, and the reason stays visible.

use std::collections::{BTreeMap, BTreeSet};

use libbpf_rs::{Link, MapCore, Object, ObjectBuilder};
use serde::Serialize;

use crate::libbpf_log::{self, Capture};
use crate::objects::BpfObject;

/// Suffix of a program's flavour for kernels without `bpf_loop`.
pub const LEGACY_SUFFIX: &str = "_legacy";

/// What became of one program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum ProgramState {
    /// Loaded and attached.
    Attached,
    /// Loaded; attaching was not asked for yet.
    Loaded,
    /// Not loaded by choice: another flavour was used, or not wanted.
    NotSelected(String),
    /// The kernel refused it.
    LoadFailed(String),
    /// Loaded, but its hook could not be attached.
    AttachFailed(String),
}

impl ProgramState {
    /// Which of a program's flavours speaks for it: the one that runs, or
    /// else the one that came closest.
    pub fn rank(&self) -> u8 {
        match self {
            ProgramState::Attached => 0,
            ProgramState::Loaded => 1,
            ProgramState::AttachFailed(_) => 2,
            ProgramState::LoadFailed(_) => 3,
            ProgramState::NotSelected(_) => 4,
        }
    }

    /// Why the program does not run; `None` when it loaded.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ProgramState::Attached | ProgramState::Loaded => None,
            ProgramState::NotSelected(r)
            | ProgramState::LoadFailed(r)
            | ProgramState::AttachFailed(r) => Some(r),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ProgramStatus {
    pub object: &'static str,
    pub name: String,
    #[serde(flatten)]
    pub state: ProgramState,
}

/// Whether one syscall is traced (its programs attached to its
/// tracepoints), and if not, why.
#[derive(Clone, Debug, Serialize)]
pub struct SyscallStatus {
    pub syscall: &'static str,
    pub traced: bool,
    pub reason: String,
}

impl SyscallStatus {
    pub fn new(syscall: &'static str, attached: Result<(), String>) -> Self {
        match attached {
            Ok(()) => Self {
                syscall,
                traced: true,
                reason: "attached".into(),
            },
            Err(reason) => Self {
                syscall,
                traced: false,
                reason,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot load BPF object {object}: {reason}")]
    Object {
        object: &'static str,
        reason: String,
    },
}

/// How to load an object.
pub struct LoadOptions<'a> {
    pub object: BpfObject,
    /// Prefer `bpf_loop` flavours; otherwise the `_legacy` ones.
    pub has_bpf_loop: bool,
    /// Whether to load a program (by base name); `Err` says why not (e.g.
    /// a syscall this arch lacks).
    pub wanted: &'a dyn Fn(&str) -> Result<(), String>,
    /// Map sizes to set before load (e.g. the ring buffer).
    pub max_entries: &'a [(&'a str, u32)],
}

/// A loaded object and the fate of each of its programs.
pub struct LoadedObject {
    pub object: Object,
    pub programs: Vec<ProgramStatus>,
    /// Each link with the program it attaches.
    links: Vec<(String, Link)>,
}

impl Drop for LoadedObject {
    fn drop(&mut self) {
        release(std::mem::take(&mut self.links));
    }
}

/// Closes links all at once: each detach waits for an RCU grace period,
/// and waits that overlap share one. Closed one after another, the
/// hundred-odd tracepoint links of a full agent held its exit for seconds.
fn release(links: Vec<(String, Link)>) {
    std::thread::scope(|s| {
        for (name, link) in links {
            let spawned = std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn_scoped(s, move || drop(link));
            if let Err(e) = spawned {
                tracing::debug!("{name}: detached in turn ({e})");
            }
        }
    });
}

fn base_name(name: &str) -> &str {
    name.strip_suffix(LEGACY_SUFFIX).unwrap_or(name)
}

/// The state of `base`'s most relevant flavour among `programs`.
pub fn state_of<'a>(programs: &'a [ProgramStatus], base: &str) -> Option<&'a ProgramState> {
    programs
        .iter()
        .filter(|s| base_name(&s.name) == base)
        .map(|s| &s.state)
        .min_by_key(|s| s.rank())
}

/// The programs of an object, as they would be reported when it cannot be
/// loaded at all (no privileges, no BPF): each one not loaded, for `why`.
/// Opening an object parses the ELF only and needs no privileges.
pub fn not_loaded(object: BpfObject, why: &str) -> Vec<ProgramStatus> {
    let Ok(open) = ObjectBuilder::default().open_memory(object.bytes) else {
        return Vec::new();
    };
    let mut names: Vec<String> = open
        .progs()
        .map(|p| p.name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(LEGACY_SUFFIX))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| ProgramStatus {
            object: object.name,
            name,
            state: ProgramState::LoadFailed(why.to_string()),
        })
        .collect()
}

pub fn load(opts: &LoadOptions<'_>) -> Result<LoadedObject, LoadError> {
    let object = opts.object.name;
    let err = |reason: String| LoadError::Object { object, reason };
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    // Programs whose bpf_loop flavour failed: use their legacy flavour.
    let mut force_legacy: BTreeSet<String> = BTreeSet::new();

    loop {
        let capture = Capture::start();
        let mut open = ObjectBuilder::default()
            .open_memory(opts.object.bytes)
            .map_err(|e| err(e.to_string()))?;
        let names: BTreeSet<String> = open
            .progs()
            .map(|p| p.name().to_string_lossy().into_owned())
            .collect();
        let mut statuses = Vec::new();
        for mut prog in open.progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            let base = base_name(&name);
            let is_legacy = base != name;
            let has_twin = if is_legacy {
                names.contains(base)
            } else {
                names.contains(&format!("{name}{LEGACY_SUFFIX}"))
            };
            let use_legacy = !opts.has_bpf_loop || force_legacy.contains(base);
            let state = if let Some(reason) = failed.get(&name) {
                ProgramState::LoadFailed(reason.clone())
            } else if let Err(why) = (opts.wanted)(base) {
                ProgramState::NotSelected(why)
            } else if has_twin && is_legacy != use_legacy {
                ProgramState::NotSelected(if is_legacy {
                    "bpf_loop flavour used".into()
                } else {
                    "kernel lacks bpf_loop (or it failed); legacy flavour used".into()
                })
            } else {
                ProgramState::Loaded
            };
            prog.set_autoload(state == ProgramState::Loaded);
            statuses.push(ProgramStatus {
                object,
                name,
                state,
            });
        }
        for (map_name, n) in opts.max_entries {
            let mut map = open
                .maps_mut()
                .find(|m| m.name() == *map_name)
                .ok_or_else(|| err(format!("no map {map_name}")))?;
            map.set_max_entries(*n)
                .map_err(|e| err(format!("map {map_name}: {e}")))?;
        }
        match open.load() {
            Ok(object) => {
                return Ok(LoadedObject {
                    object,
                    programs: statuses,
                    links: Vec::new(),
                })
            }
            Err(e) => {
                let lines = capture.take();
                let Some(prog) = libbpf_log::failed_program(&lines) else {
                    return Err(err(format!("{e}: {}", libbpf_log::excerpt(&lines, None))));
                };
                if failed.contains_key(&prog) {
                    return Err(err(format!("{e}: {}", libbpf_log::excerpt(&lines, None))));
                }
                let reason = format!("{e}: {}", libbpf_log::excerpt(&lines, Some(&prog)));
                tracing::warn!(object, program = %prog, "program failed to load: {reason}");
                let base = base_name(&prog).to_string();
                if base == prog && names.contains(&format!("{prog}{LEGACY_SUFFIX}")) {
                    force_legacy.insert(base);
                }
                failed.insert(prog, reason);
            }
        }
    }
}

impl LoadedObject {
    /// Attaches every loaded program whose base name `wanted` accepts.
    /// A failure is recorded on that program and the rest go on.
    pub fn attach(&mut self, wanted: &dyn Fn(&str) -> bool) {
        for status in &mut self.programs {
            if status.state != ProgramState::Loaded || !wanted(base_name(&status.name)) {
                continue;
            }
            let Some(prog) = self
                .object
                .progs_mut()
                .find(|p| p.name() == status.name.as_str())
            else {
                continue;
            };
            match prog.attach() {
                Ok(link) => {
                    self.links.push((status.name.clone(), link));
                    status.state = ProgramState::Attached;
                }
                Err(e) => {
                    tracing::warn!(program = %status.name, "attach failed: {e}");
                    status.state = ProgramState::AttachFailed(e.to_string());
                }
            }
        }
    }

    /// The state of `base`'s most relevant flavour: the one that runs, or
    /// else the reason none does.
    pub fn state_of(&self, base: &str) -> Option<&ProgramState> {
        state_of(&self.programs, base)
    }

    /// Attaches a loaded program to one more syscall tracepoint (one program
    /// can serve many: FIM's exit handlers). Records the program attached.
    pub fn attach_syscall_tracepoint(
        &mut self,
        program: &str,
        tracepoint: &str,
    ) -> Result<(), String> {
        self.attach_tracepoint(program, libbpf_rs::TracepointCategory::Syscalls, tracepoint)
    }

    /// Attaches a loaded program to the tracepoint `category/name`.
    pub fn attach_tracepoint(
        &mut self,
        program: &str,
        category: libbpf_rs::TracepointCategory,
        tracepoint: &str,
    ) -> Result<(), String> {
        let status = self
            .programs
            .iter_mut()
            .find(|s| s.name == program)
            .ok_or_else(|| format!("no program {program}"))?;
        if !matches!(status.state, ProgramState::Loaded | ProgramState::Attached) {
            return Err(format!("program {program} is not loaded"));
        }
        let prog = self
            .object
            .progs_mut()
            .find(|p| p.name() == program)
            .ok_or_else(|| format!("no program {program}"))?;
        let what = format!("{}/{tracepoint}", category.as_ref());
        let link = prog
            .attach_tracepoint(category, tracepoint)
            .map_err(|e| format!("attach {program} to {what}: {e}"))?;
        self.links.push((program.to_string(), link));
        status.state = ProgramState::Attached;
        Ok(())
    }

    /// The loaded flavour of `base` (itself or its `_legacy` twin).
    pub fn loaded_flavour(&self, base: &str) -> Option<&str> {
        self.programs
            .iter()
            .find(|s| {
                base_name(&s.name) == base
                    && matches!(s.state, ProgramState::Loaded | ProgramState::Attached)
            })
            .map(|s| s.name.as_str())
    }

    /// Detaches every program; maps stay readable.
    pub fn detach(&mut self) {
        release(std::mem::take(&mut self.links));
    }

    /// Detaches `base` (a program needed only for a while); it stays
    /// loaded.
    pub fn detach_program(&mut self, base: &str) {
        let (gone, kept) = std::mem::take(&mut self.links)
            .into_iter()
            .partition(|(name, _)| base_name(name) == base);
        self.links = kept;
        release(gone);
        for s in &mut self.programs {
            if base_name(&s.name) == base && s.state == ProgramState::Attached {
                s.state = ProgramState::Loaded;
            }
        }
    }

    pub fn map(&self, name: &str) -> Option<libbpf_rs::Map<'_>> {
        self.object.maps().find(|m| m.name() == name)
    }
}
