//! The Rust side's view of the ABI, as data: what the BTF test compares.
//! (The security signals' part stands beside its structs, in security.rs.)

use core::mem::{offset_of, size_of};

use crate::security::{MODULE_NAME_LEN, SEC_DATA_MAX};

use crate::*;

/// One field of an ABI struct.
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
}

/// One ABI struct: its C name, its size and its fields in order.
pub struct AbiStruct {
    pub c_name: &'static str,
    pub size: usize,
    /// The trailing C array the mirror leaves out, and its size (it stays
    /// in the record and the decoder reads it from there); it starts at
    /// `size_of` the mirror.
    pub tail: Option<(&'static str, usize)>,
    pub fields: &'static [Field],
}

/// One ABI constant: its C enum, enumerator name and value.
pub struct AbiConst {
    pub c_enum: &'static str,
    pub name: &'static str,
    pub value: u64,
}

/// The structs outside the security signals' part.
pub(crate) static CORE_STRUCTS: &[AbiStruct] = &[
    AbiStruct {
        c_name: "vigil_event_header",
        size: size_of::<EventHeader>(),
        tail: None,
        fields: fields!(EventHeader {
            ts_ns,
            kind,
            size,
            pid,
            tid,
            uid,
            gid,
            comm
        }),
    },
    AbiStruct {
        c_name: "vigil_open_event",
        size: size_of::<OpenEventFixed>() + EVENT_DATA_MAX,
        tail: Some(("data", EVENT_DATA_MAX)),
        fields: fields!(OpenEventFixed {
            hdr,
            ret,
            flags,
            mode,
            resolve,
            ino,
            dev,
            dfd,
            syscall,
            path_flags,
            path_len,
            arg_len
        }),
    },
    AbiStruct {
        c_name: "vigil_opens_filter",
        size: size_of::<OpensFilter>(),
        tail: None,
        fields: fields!(OpensFilter {
            tgid,
            tid,
            uid,
            self_tgid,
            comm,
            failed_only,
            _pad
        }),
    },
    AbiStruct {
        c_name: "vigil_fim_event",
        size: size_of::<FimEventFixed>() + FIM_DATA_MAX,
        tail: Some(("data", FIM_DATA_MAX)),
        fields: fields!(FimEventFixed {
            hdr,
            cgroup_id,
            mntns,
            ino,
            ret,
            ppid,
            auid,
            sessionid,
            euid,
            egid,
            op,
            flags,
            mode,
            arg_uid,
            arg_gid,
            dev,
            tree,
            suppressed,
            backend,
            path_flags,
            path2_flags,
            tree_off,
            path_base_len,
            path_arg_len,
            path2_base_len,
            path2_arg_len,
            exe_len,
            cwd_len,
            cmdline_len,
            name_len,
            who_seq,
            via,
            leaf_lo,
            leaf_hi,
            _pad
        }),
    },
    AbiStruct {
        c_name: "vigil_fim_config",
        size: size_of::<FimConfig>(),
        tail: None,
        fields: fields!(FimConfig {
            agent_tgid,
            register_tree,
            verdict_gen,
            dedupe_ms,
            selftest_tid,
            rename_gen
        }),
    },
    AbiStruct {
        c_name: "vigil_counters",
        size: size_of::<Counters>(),
        tail: None,
        fields: fields!(Counters {
            emitted,
            ringbuf_drops,
            state_drops,
            truncated,
            unreadable
        }),
    },
];

/// The constants outside the security signals' part.
pub(crate) static CORE_CONSTANTS: &[AbiConst] = consts! {
    "vigil_limits": PATH_MAX = PATH_MAX, NAME_MAX = NAME_MAX, COMM_LEN = COMM_LEN,
        EVENT_DATA_MAX = EVENT_DATA_MAX, CMDLINE_MAX = CMDLINE_MAX,
        XATTR_NAME_MAX = XATTR_NAME_MAX, FIM_DATA_MAX = FIM_DATA_MAX,
        SEC_DATA_MAX = SEC_DATA_MAX, MODULE_NAME_LEN = MODULE_NAME_LEN;
    "vigil_event_kind": EVENT_OPEN = EVENT_OPEN, EVENT_FIM = EVENT_FIM,
        EVENT_SECURITY = EVENT_SECURITY;
    "vigil_prog_slot": SLOT_OPENS = SLOT_OPENS, SLOT_FIM = SLOT_FIM,
        SLOT_SECURITY = SLOT_SECURITY, SLOT_COUNT = SLOT_COUNT;
    "vigil_fim_op": FIM_OPEN_WRITE = fim_op::OPEN_WRITE, FIM_WRITE = fim_op::WRITE,
        FIM_TRUNCATE = fim_op::TRUNCATE, FIM_UNLINK = fim_op::UNLINK, FIM_RMDIR = fim_op::RMDIR,
        FIM_MKDIR = fim_op::MKDIR, FIM_RENAME = fim_op::RENAME, FIM_LINK = fim_op::LINK,
        FIM_SYMLINK = fim_op::SYMLINK, FIM_CHMOD = fim_op::CHMOD, FIM_CHOWN = fim_op::CHOWN,
        FIM_SETXATTR = fim_op::SETXATTR, FIM_REMOVEXATTR = fim_op::REMOVEXATTR,
        FIM_MMAP_WRITE = fim_op::MMAP_WRITE, FIM_APPEND = fim_op::APPEND,
        FIM_SETFLAGS = fim_op::SETFLAGS;
    "vigil_fim_via": VIA_SYSCALL = via::SYSCALL, VIA_IO_URING = via::IO_URING;
    "vigil_fim_leaf": FIM_LEAF_SHIFT = FIM_LEAF_SHIFT, FIM_LEAF_NONE = FIM_LEAF_NONE;
    "vigil_fim_prefix": FIM_PREFIX_TREE = FIM_PREFIX_TREE, FIM_PREFIX_ANCESTOR = FIM_PREFIX_ANCESTOR;
    "vigil_who_seq": WHO_SEQ_MASK = WHO_SEQ_MASK, WHO_CACHED = WHO_CACHED;
    "vigil_fim_backend": BACKEND_TRACEPOINT = backend::TRACEPOINT, BACKEND_FENTRY = backend::FENTRY,
        BACKEND_LSM = backend::LSM;
    "vigil_open_syscall": SYS_OPEN = SYS_OPEN, SYS_OPENAT = SYS_OPENAT,
        SYS_OPENAT2 = SYS_OPENAT2, SYS_CREAT = SYS_CREAT;
    "vigil_path_flags": PATH_TRUNCATED = path_flags::TRUNCATED,
        PATH_FROM_FILE = path_flags::FROM_FILE, PATH_BASE_CWD = path_flags::BASE_CWD,
        PATH_BASE_DIRFD = path_flags::BASE_DIRFD, PATH_UNRESOLVED = path_flags::UNRESOLVED,
        PATH_DISCONNECTED = path_flags::DISCONNECTED,
        PATH_ARG_TRUNCATED = path_flags::ARG_TRUNCATED, PATH_DELETED = path_flags::DELETED,
        PATH_DPATH = path_flags::DPATH;
};
