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

mod layout;

pub use layout::{AbiConst, AbiStruct, Field, CONSTANTS, STRUCTS};

/// `enum vigil_limits`.
pub const PATH_MAX: usize = 4096;
pub const NAME_MAX: usize = 255;
pub const COMM_LEN: usize = 16;
pub const EVENT_DATA_MAX: usize = 2 * 4096 + 256;

/// `enum vigil_event_kind`.
pub const EVENT_OPEN: u32 = 1;

/// `enum vigil_prog_slot`.
pub const SLOT_OPENS: u32 = 0;
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
