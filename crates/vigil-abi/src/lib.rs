//! The event ABI shared with Vigil's BPF programs.
//!
//! `bpf/include/vigil/abi.h` is the definition; this crate mirrors it. The
//! test `tests/matches_btf.rs` reads the BTF of every committed BPF object,
//! for every architecture, and fails on any difference in a struct's size,
//! a field's name or offset, or an enum constant's value.
//!
//! Every struct is `#[repr(C)]` with fixed-width fields and explicit padding,
//! so its layout is the same on every architecture the objects are built for.

#![no_std]

#[macro_use]
mod macros {
    macro_rules! fields {
    ($ty:ty { $($f:ident),* $(,)? }) => {
        &[$(Field { name: stringify!($f), offset: offset_of!($ty, $f) }),*]
    };
}

    macro_rules! consts {
    ($($enum:literal : $($name:ident = $val:expr),* ;)*) => {
        &[$($(AbiConst { c_enum: $enum, name: concat!("VIGIL_", stringify!($name)), value: $val as u64 }),*),*]
    };
}
}

pub mod hooks;
mod layout;
pub mod security;

pub use layout::{AbiConst, AbiStruct, Field};

/// Every ABI struct, as the BTF test compares it.
pub fn structs() -> impl Iterator<Item = &'static AbiStruct> {
    layout::CORE_STRUCTS.iter().chain(security::STRUCTS)
}

/// Every ABI constant, as the BTF test compares it.
pub fn constants() -> impl Iterator<Item = &'static AbiConst> {
    layout::CORE_CONSTANTS.iter().chain(security::CONSTANTS)
}

/// `enum vigil_limits`.
pub const PATH_MAX: usize = 4096;
pub const NAME_MAX: usize = 255;
pub const COMM_LEN: usize = 16;
pub const EVENT_DATA_MAX: usize = 2 * 4096 + 256;
pub const CMDLINE_MAX: usize = 256;
pub const XATTR_NAME_MAX: usize = 256;
pub const FIM_DATA_MAX: usize = 7 * 4096;

/// `enum vigil_event_kind`.
pub const EVENT_OPEN: u32 = 1;
pub const EVENT_FIM: u32 = 2;
pub const EVENT_SECURITY: u32 = 3;

/// `enum vigil_prog_slot`.
pub const SLOT_OPENS: u32 = 0;
pub const SLOT_FIM: u32 = 1;
pub const SLOT_SECURITY: u32 = 2;
pub const SLOT_COUNT: u32 = 8;

/// `enum vigil_open_syscall`.
pub const SYS_OPEN: u16 = 1;
pub const SYS_OPENAT: u16 = 2;
pub const SYS_OPENAT2: u16 = 3;
pub const SYS_CREAT: u16 = 4;

/// `enum vigil_path_flags`.
pub mod path_flags {
    pub const TRUNCATED: u16 = 1 << 0;
    pub const FROM_FILE: u16 = 1 << 1;
    pub const BASE_CWD: u16 = 1 << 2;
    pub const BASE_DIRFD: u16 = 1 << 3;
    pub const UNRESOLVED: u16 = 1 << 4;
    pub const DISCONNECTED: u16 = 1 << 5;
    pub const ARG_TRUNCATED: u16 = 1 << 6;
    pub const DELETED: u16 = 1 << 7;
    pub const DPATH: u16 = 1 << 8;
}

/// `struct vigil_event_header`: the start of every ring-buffer record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EventHeader {
    /// `bpf_ktime_get_ns()`, i.e. CLOCK_MONOTONIC.
    pub ts_ns: u64,
    pub kind: u32,
    /// The whole record, header included.
    pub size: u32,
    /// Thread-group id (the process id users see).
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    pub comm: [u8; COMM_LEN],
}

/// `struct vigil_open_event` without its trailing `data[]`; the decoder
/// reads the variable part from the record itself.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenEventFixed {
    pub hdr: EventHeader,
    /// The fd, or `-errno`.
    pub ret: i64,
    pub flags: u64,
    pub mode: u64,
    pub resolve: u64,
    pub ino: u64,
    /// `sb->s_dev`, kernel encoding (major << 20 | minor).
    pub dev: u32,
    pub dfd: i32,
    pub syscall: u16,
    pub path_flags: u16,
    pub path_len: u16,
    pub arg_len: u16,
}

/// `enum vigil_fim_op`.
pub mod fim_op {
    pub const OPEN_WRITE: u32 = 1;
    pub const WRITE: u32 = 2;
    pub const TRUNCATE: u32 = 3;
    pub const UNLINK: u32 = 4;
    pub const RMDIR: u32 = 5;
    pub const MKDIR: u32 = 6;
    pub const RENAME: u32 = 7;
    pub const LINK: u32 = 8;
    pub const SYMLINK: u32 = 9;
    pub const CHMOD: u32 = 10;
    pub const CHOWN: u32 = 11;
    pub const SETXATTR: u32 = 12;
    pub const REMOVEXATTR: u32 = 13;
    pub const MMAP_WRITE: u32 = 14;
    pub const APPEND: u32 = 15;
    pub const SETFLAGS: u32 = 16;
}

/// `enum vigil_fim_via`: how a change was asked of the kernel.
pub mod via {
    pub const SYSCALL: u32 = 0;
    pub const IO_URING: u32 = 1;
}

/// `enum vigil_fim_backend`.
pub mod backend {
    pub const TRACEPOINT: u16 = 1;
    pub const FENTRY: u16 = 2;
    pub const LSM: u16 = 3;
}

/// `struct vigil_fim_event` without its trailing `data[]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FimEventFixed {
    pub hdr: EventHeader,
    pub cgroup_id: u64,
    pub mntns: u64,
    pub ino: u64,
    pub ret: i64,
    pub ppid: u32,
    pub auid: u32,
    pub sessionid: u32,
    pub euid: u32,
    pub egid: u32,
    pub op: u32,
    pub flags: u32,
    pub mode: u32,
    pub arg_uid: u32,
    pub arg_gid: u32,
    pub dev: u32,
    pub tree: u32,
    pub suppressed: u32,
    pub backend: u16,
    pub path_flags: u16,
    pub path2_flags: u16,
    pub tree_off: u16,
    pub path_base_len: u16,
    pub path_arg_len: u16,
    pub path2_base_len: u16,
    pub path2_arg_len: u16,
    pub exe_len: u16,
    pub cwd_len: u16,
    pub cmdline_len: u16,
    pub name_len: u16,
    pub who_seq: u32,
    /// `enum vigil_fim_via`.
    pub via: u32,
    /// Writes: the leaves ([`FIM_LEAF_SHIFT`]) the write may touch;
    /// [`FIM_LEAF_NONE`] for "to the end" (hi) or "not known" (both).
    pub leaf_lo: u32,
    pub leaf_hi: u32,
    pub _pad: u32,
}

/// `enum vigil_fim_leaf`: writes are placed in leaves of 1 MiB.
pub const FIM_LEAF_SHIFT: u32 = 20;
pub const FIM_LEAF_NONE: u32 = 0xffff_ffff;

/// `fim_prefixes` values: a watched tree's path, or one of its ancestors.
pub const FIM_PREFIX_TREE: u32 = 1;
pub const FIM_PREFIX_ANCESTOR: u32 = 2;

/// `vigil_fim_event.who_seq`: the exe and cwd strings are left out, being
/// those of this tgid's earlier event with the same sequence.
pub const WHO_CACHED: u32 = 0x8000_0000;
pub const WHO_SEQ_MASK: u32 = 0x7fff_ffff;

/// `struct vigil_fim_config`: `fim_config[0]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FimConfig {
    pub agent_tgid: u32,
    pub register_tree: u32,
    pub verdict_gen: u32,
    pub dedupe_ms: u32,
    /// The agent's self-test thread: its changes are reported, so the
    /// agent can see its own canary come back through the hooks.
    pub selftest_tid: u32,
    /// Bumped by the kernel side on every rename on the host: exe and cwd
    /// strings cached before it are sent again.
    pub rename_gen: u32,
}

/// `struct vigil_opens_filter`: `opens_config[0]`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OpensFilter {
    pub tgid: u32,
    pub tid: u32,
    /// `u32::MAX` matches any uid.
    pub uid: u32,
    pub self_tgid: u32,
    pub comm: [u8; COMM_LEN],
    pub failed_only: u8,
    pub _pad: [u8; 7],
}

impl Default for OpensFilter {
    fn default() -> Self {
        Self {
            tgid: 0,
            tid: 0,
            uid: u32::MAX,
            self_tgid: 0,
            comm: [0; COMM_LEN],
            failed_only: 0,
            _pad: [0; 7],
        }
    }
}

/// `struct vigil_counters`, one per CPU and per program slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub emitted: u64,
    pub ringbuf_drops: u64,
    pub state_drops: u64,
    pub truncated: u64,
    pub unreadable: u64,
}

/// FNV-1a, 64 bit: how the BPF programs hash path prefixes (FIM) and file
/// names (sensitive files).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Views a plain-old-data ABI struct as bytes, to write it into a map.
pub fn as_bytes<T: Pod>(v: &T) -> &[u8] {
    // SAFETY: `Pod` types are repr(C), padding-free by construction (padding
    // is explicit fields), and valid for any bit pattern.
    unsafe { core::slice::from_raw_parts((v as *const T).cast::<u8>(), core::mem::size_of::<T>()) }
}

/// Reads a plain-old-data ABI struct from the start of `bytes`.
pub fn from_bytes<T: Pod>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < core::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: length checked; `Pod` types are valid for any bit pattern and
    // the read is unaligned-safe.
    Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// Marker for the ABI structs above: repr(C), no implicit padding, any bit
/// pattern valid.
///
/// # Safety
/// Implement only for such types.
pub unsafe trait Pod: Copy {}

// SAFETY: see the trait; each is repr(C) with explicit padding.
unsafe impl Pod for EventHeader {}
unsafe impl Pod for OpenEventFixed {}
unsafe impl Pod for OpensFilter {}
unsafe impl Pod for Counters {}
unsafe impl Pod for FimEventFixed {}
unsafe impl Pod for FimConfig {}
