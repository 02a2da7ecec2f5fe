//! The kernel hooks of FIM's LSM and fentry backends, as `fim.bpf.o`
//! names its programs: `fim_lsm_<hook>` and `fim_fentry_<hook>`, each
//! with a `_legacy` flavour for kernels without `bpf_loop`. The test
//! `tests/programs.rs` checks this table against the objects.

/// Whether a backend can do without a hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A backend whose program for it does not load gives way to the next.
    Essential,
    /// Some kernels lack it (or cannot attach it); the syscall tracepoints
    /// `fim_enter_<stand_in>` then stand in (none: another hook covers it).
    Optional { stand_ins: &'static [&'static str] },
}

#[derive(Clone, Copy, Debug)]
pub struct Hook {
    pub name: &'static str,
    pub need: Need,
}

/// Chown syscalls: the stand-ins for `path_chown`, which 5.10 trampolines
/// cannot attach (they take no struct arguments such as `kuid_t`).
pub const CHOWN_SYSCALLS: &[&str] = &["chown", "lchown", "fchownat", "fchown"];

const fn essential(name: &'static str) -> Hook {
    Hook {
        name,
        need: Need::Essential,
    }
}

pub const FIM_HOOKS: &[Hook] = &[
    essential("file_open"),
    essential("file_permission"),
    // ftruncate's own hook since 6.2; before, it goes through path_truncate.
    Hook {
        name: "file_truncate",
        need: Need::Optional { stand_ins: &[] },
    },
    essential("path_truncate"),
    essential("path_unlink"),
    essential("path_rmdir"),
    essential("path_mkdir"),
    essential("path_rename"),
    essential("path_link"),
    essential("path_symlink"),
    essential("path_chmod"),
    // Inode flags (chattr).
    essential("file_ioctl"),
    // 32-bit ioctls' own hook since 6.8; before, they go through file_ioctl.
    Hook {
        name: "file_ioctl_compat",
        need: Need::Optional { stand_ins: &[] },
    },
    Hook {
        name: "path_chown",
        need: Need::Optional {
            stand_ins: CHOWN_SYSCALLS,
        },
    },
];

/// The hooks a kernel may lack without failing its backend.
pub fn optional_hooks() -> impl Iterator<Item = &'static Hook> {
    FIM_HOOKS
        .iter()
        .filter(|h| matches!(h.need, Need::Optional { .. }))
}
