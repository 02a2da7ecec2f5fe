//! The security signals' part of the ABI (`struct vigil_sec_event` and its
//! maps), mirrored from `bpf/include/vigil/abi.h`.

use core::mem::{offset_of, size_of};

use crate::{AbiConst, AbiStruct, Field, Pod, COMM_LEN};

/// `VIGIL_SEC_DATA_MAX`, `VIGIL_MODULE_NAME_LEN`.
pub const SEC_DATA_MAX: usize = 3 * 4096;
pub const MODULE_NAME_LEN: usize = 56;
pub const BPF_OBJ_NAME_LEN: usize = 16;

/// `enum vigil_sec_signal`.
pub mod signal {
    pub const EXEC: u32 = 1;
    pub const EXIT: u32 = 2;
    pub const CONNECT: u32 = 3;
    pub const CONNECT_ERROR: u32 = 4;
    pub const FILE_ACCESS: u32 = 5;
    pub const PRIVILEGE: u32 = 6;
    pub const MODULE: u32 = 7;
    pub const PTRACE: u32 = 8;
    pub const BPF_LOAD: u32 = 9;
}

/// `enum vigil_proc_category`, in index order.
pub const PROC_CATEGORIES: usize = 4;
pub const PROC_CATEGORY_NAMES: [&str; PROC_CATEGORIES] =
    ["system", "user", "container", "suspicious"];
pub const PROC_SUSPICIOUS: u32 = 3;

/// `enum vigil_suspicion` (bitmask), with the names events report.
pub mod suspicion {
    pub const INLINE_CODE: u32 = 1 << 0;
    pub const DAEMON_CHILD: u32 = 1 << 1;
    pub const TMP_EXEC: u32 = 1 << 2;
    pub const MEMFD_EXEC: u32 = 1 << 3;
    pub const DELETED_EXEC: u32 = 1 << 4;
    pub const NAMES: [(u32, &str); 5] = [
        (INLINE_CODE, "interpreter_inline_code"),
        (DAEMON_CHILD, "interpreter_under_network_daemon"),
        (TMP_EXEC, "exec_from_world_writable_dir"),
        (MEMFD_EXEC, "exec_from_memfd"),
        (DELETED_EXEC, "exec_of_deleted_binary"),
    ];
}

/// `enum vigil_conn_direction`, `enum vigil_conn_protocol`, `enum vigil_conn_error`.
pub const CONN_DIRECTIONS: usize = 2;
pub const CONN_DIRECTION_NAMES: [&str; CONN_DIRECTIONS] = ["in", "out"];
pub const PROTOCOLS: usize = 2;
pub const PROTOCOL_NAMES: [&str; PROTOCOLS] = ["tcp", "udp"];
pub const CONN_ERRORS: usize = 5;
pub const CONN_ERROR_NAMES: [&str; CONN_ERRORS] =
    ["timeout", "refused", "reset", "unreachable", "other"];

/// `enum vigil_severity`, `enum vigil_access_op`.
pub const SEVERITIES: usize = 3;
pub const SEVERITY_NAMES: [&str; SEVERITIES] = ["critical", "warning", "info"];
pub const ACCESS_OPS: usize = 2;
pub const ACCESS_OP_NAMES: [&str; ACCESS_OPS] = ["read", "write"];

/// `enum vigil_priv_call`.
pub const PRIV_CALLS: usize = 7;
pub const PRIV_CALL_NAMES: [&str; PRIV_CALLS] = [
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "capset",
];
pub const PRIV_CAPSET: u32 = 6;

/// `enum vigil_module_action`, `enum vigil_result`.
pub const MODULE_ACTIONS: usize = 3;
pub const MODULE_ACTION_NAMES: [&str; MODULE_ACTIONS] = ["load", "load_file", "unload"];
pub const RESULTS: usize = 2;
pub const RESULT_NAMES: [&str; RESULTS] = ["success", "failure"];

/// `enum vigil_ptrace_request`.
pub const PTRACE_REQUESTS: usize = 3;
pub const PTRACE_REQUEST_NAMES: [&str; PTRACE_REQUESTS] = ["attach", "seize", "traceme"];

/// `VIGIL_BPF_PROG_TYPES`: the kernel's `enum bpf_prog_type` by name, the
/// last slot for any type newer than this table.
pub const BPF_PROG_TYPES: usize = 34;
pub const BPF_PROG_TYPE_NAMES: [&str; BPF_PROG_TYPES] = [
    "unspec",
    "socket_filter",
    "kprobe",
    "sched_cls",
    "sched_act",
    "tracepoint",
    "xdp",
    "perf_event",
    "cgroup_skb",
    "cgroup_sock",
    "lwt_in",
    "lwt_out",
    "lwt_xmit",
    "sock_ops",
    "sk_skb",
    "cgroup_device",
    "sk_msg",
    "raw_tracepoint",
    "cgroup_sock_addr",
    "lwt_seg6local",
    "lirc_mode2",
    "sk_reuseport",
    "flow_dissector",
    "cgroup_sysctl",
    "raw_tracepoint_writable",
    "cgroup_sockopt",
    "tracing",
    "struct_ops",
    "ext",
    "lsm",
    "sk_lookup",
    "syscall",
    "netfilter",
    "newer",
];

/// `enum vigil_sensitive_flags`.
pub mod sensitive {
    pub const WHOLE_DIR: u32 = 1 << 0;
    pub const HAS_NAMES: u32 = 1 << 1;
}

/// `struct vigil_sec_event` without its trailing `data[]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SecEventFixed {
    pub hdr: crate::EventHeader,
    pub cgroup_id: u64,
    pub mntns: u64,
    pub ino: u64,
    pub ret: i64,
    pub caps: [u64; 2],
    pub args: [u64; 3],
    pub signal: u32,
    pub ppid: u32,
    pub auid: u32,
    pub sessionid: u32,
    pub euid: u32,
    pub egid: u32,
    pub category: u32,
    pub suspicion: u32,
    pub kind: u32,
    pub result: u32,
    pub ids: [u32; 8],
    pub dev: u32,
    pub pidns_level: u32,
    pub family: u16,
    pub protocol: u16,
    pub sport: u16,
    pub dport: u16,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub pcomm: [u8; COMM_LEN],
    pub op: u16,
    pub path_flags: u16,
    pub cmdline_len: u16,
    pub path_len: u16,
    pub arg_len: u16,
    pub _pad: [u16; 3],
}

/// `struct vigil_security_config`: `security_config[0]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SecurityConfig {
    pub agent_tgid: u32,
    pub sample_mask: u32,
    pub uid_min: u32,
    pub _pad: u32,
}

/// `struct vigil_sensitive_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SensitiveKey {
    pub dir_ino: u64,
    pub name_hash: u64,
    pub dev: u32,
    pub _pad: u32,
}

/// `struct vigil_sensitive_rule`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SensitiveRule {
    pub severity: u32,
    pub flags: u32,
}

/// `struct vigil_security_counters`, one per CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecurityCounters {
    pub exec: [u64; PROC_CATEGORIES],
    pub exit: [u64; PROC_CATEGORIES],
    pub forks: u64,
    pub established: u64,
    pub closed: u64,
    pub sampled_out: u64,
    pub connect: [[u64; PROTOCOLS]; CONN_DIRECTIONS],
    pub connect_error: [u64; CONN_ERRORS],
    pub _pad0: [u64; 3],
    pub file_access: [[u64; ACCESS_OPS]; SEVERITIES],
    pub privilege: [[u64; RESULTS]; PRIV_CALLS],
    pub module: [[u64; RESULTS]; MODULE_ACTIONS],
    pub ptrace: [[u64; RESULTS]; PTRACE_REQUESTS],
    pub bpf_load: [[u64; RESULTS]; BPF_PROG_TYPES],
}

impl Default for SecurityCounters {
    fn default() -> Self {
        // SAFETY: plain old data: all zeroes is every count at 0.
        unsafe { core::mem::zeroed() }
    }
}

// SAFETY: repr(C), explicit padding, any bit pattern valid.
unsafe impl Pod for SecEventFixed {}
unsafe impl Pod for SecurityConfig {}
unsafe impl Pod for SensitiveKey {}
unsafe impl Pod for SensitiveRule {}
unsafe impl Pod for SecurityCounters {}

/// The security part of the ABI, as the BTF test compares it.
pub(crate) static STRUCTS: &[AbiStruct] = &[
    AbiStruct {
        c_name: "vigil_sec_event",
        size: size_of::<SecEventFixed>() + SEC_DATA_MAX,
        tail: Some(("data", SEC_DATA_MAX)),
        fields: fields!(SecEventFixed {
            hdr,
            cgroup_id,
            mntns,
            ino,
            ret,
            caps,
            args,
            signal,
            ppid,
            auid,
            sessionid,
            euid,
            egid,
            category,
            suspicion,
            kind,
            result,
            ids,
            dev,
            pidns_level,
            family,
            protocol,
            sport,
            dport,
            saddr,
            daddr,
            pcomm,
            op,
            path_flags,
            cmdline_len,
            path_len,
            arg_len,
            _pad
        }),
    },
    AbiStruct {
        c_name: "vigil_security_config",
        size: size_of::<SecurityConfig>(),
        tail: None,
        fields: fields!(SecurityConfig {
            agent_tgid,
            sample_mask,
            uid_min,
            _pad
        }),
    },
    AbiStruct {
        c_name: "vigil_sensitive_key",
        size: size_of::<SensitiveKey>(),
        tail: None,
        fields: fields!(SensitiveKey {
            dir_ino,
            name_hash,
            dev,
            _pad
        }),
    },
    AbiStruct {
        c_name: "vigil_sensitive_rule",
        size: size_of::<SensitiveRule>(),
        tail: None,
        fields: fields!(SensitiveRule { severity, flags }),
    },
    AbiStruct {
        c_name: "vigil_security_counters",
        size: size_of::<SecurityCounters>(),
        tail: None,
        fields: fields!(SecurityCounters {
            exec,
            exit,
            forks,
            established,
            closed,
            sampled_out,
            connect,
            connect_error,
            _pad0,
            file_access,
            privilege,
            module,
            ptrace,
            bpf_load
        }),
    },
];

pub(crate) static CONSTANTS: &[AbiConst] = consts! {
    "vigil_sec_signal": SEC_EXEC = signal::EXEC, SEC_EXIT = signal::EXIT,
        SEC_CONNECT = signal::CONNECT, SEC_CONNECT_ERROR = signal::CONNECT_ERROR,
        SEC_FILE_ACCESS = signal::FILE_ACCESS, SEC_PRIVILEGE = signal::PRIVILEGE,
        SEC_MODULE = signal::MODULE, SEC_PTRACE = signal::PTRACE,
        SEC_BPF_LOAD = signal::BPF_LOAD;
    "vigil_bpf_limits": BPF_PROG_TYPES = BPF_PROG_TYPES, BPF_OBJ_NAME_LEN = BPF_OBJ_NAME_LEN;
    "vigil_ptrace_request": PTRACE_ATTACH = 0, PTRACE_SEIZE = 1, PTRACE_TRACEME = 2,
        PTRACE_REQUESTS = PTRACE_REQUESTS;
    "vigil_proc_category": PROC_SYSTEM = 0, PROC_USER = 1, PROC_CONTAINER = 2,
        PROC_SUSPICIOUS = PROC_SUSPICIOUS, PROC_CATEGORIES = PROC_CATEGORIES;
    "vigil_suspicion": SUSP_INLINE_CODE = suspicion::INLINE_CODE,
        SUSP_DAEMON_CHILD = suspicion::DAEMON_CHILD, SUSP_TMP_EXEC = suspicion::TMP_EXEC,
        SUSP_MEMFD_EXEC = suspicion::MEMFD_EXEC, SUSP_DELETED_EXEC = suspicion::DELETED_EXEC;
    "vigil_conn_direction": CONN_IN = 0, CONN_OUT = 1, CONN_DIRECTIONS = CONN_DIRECTIONS;
    "vigil_conn_protocol": PROTO_TCP = 0, PROTO_UDP = 1, PROTOCOLS = PROTOCOLS;
    "vigil_conn_error": CONNERR_TIMEOUT = 0, CONNERR_REFUSED = 1, CONNERR_RESET = 2,
        CONNERR_UNREACHABLE = 3, CONNERR_OTHER = 4, CONN_ERRORS = CONN_ERRORS;
    "vigil_severity": SEV_CRITICAL = 0, SEV_WARNING = 1, SEV_INFO = 2,
        SEVERITIES = SEVERITIES;
    "vigil_access_op": ACCESS_READ = 0, ACCESS_WRITE = 1, ACCESS_OPS = ACCESS_OPS;
    "vigil_priv_call": PRIV_SETUID = 0, PRIV_SETGID = 1, PRIV_SETREUID = 2,
        PRIV_SETREGID = 3, PRIV_SETRESUID = 4, PRIV_SETRESGID = 5,
        PRIV_CAPSET = PRIV_CAPSET, PRIV_CALLS = PRIV_CALLS;
    "vigil_module_action": MOD_LOAD = 0, MOD_LOAD_FILE = 1, MOD_UNLOAD = 2,
        MOD_ACTIONS = MODULE_ACTIONS;
    "vigil_result": RESULT_SUCCESS = 0, RESULT_FAILURE = 1, RESULTS = RESULTS;
    "vigil_sensitive_flags": SENS_WHOLE_DIR = sensitive::WHOLE_DIR,
        SENS_HAS_NAMES = sensitive::HAS_NAMES;
};
