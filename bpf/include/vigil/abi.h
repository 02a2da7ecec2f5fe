/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The event ABI between Vigil's BPF programs and user space.
 *
 * This header is the single definition of every record that crosses the
 * ring buffer and of every map value user space reads or writes.  The Rust
 * mirror (crates/vigil-abi) is checked against the BTF of the compiled
 * objects, so any drift in size or offset fails the test suite.
 *
 * Rules that keep the layout identical on every architecture we build for
 * (including 32-bit arm and big-endian s390x):
 *   - only fixed-width types, no pointers, no bitfields, no enums as fields;
 *   - every field naturally aligned, explicit padding, sizes multiple of 8.
 */
#ifndef VIGIL_ABI_H
#define VIGIL_ABI_H

/*
 * Constants are enums, not #defines, so that they reach the objects' BTF
 * and the Rust side can be checked against them too. VIGIL_KEEP_BTF after
 * each type pulls it into every object's BTF (an unused reference), where
 * the Rust mirror's layout test finds it; outside BPF it declares nothing.
 */
#ifdef __bpf__
#define VIGIL_KEEP_BTF(type, name) const type *vigil_btf_##name __attribute__((unused))
#else
#define VIGIL_KEEP_BTF(type, name) struct vigil_btf_##name
#endif

enum vigil_limits {
	VIGIL_PATH_MAX = 4096,
	VIGIL_NAME_MAX = 255,
	VIGIL_COMM_LEN = 16,
	/* Room for a resolved path plus a user-supplied path string. */
	VIGIL_EVENT_DATA_MAX = 2 * 4096 + 256,
	VIGIL_CMDLINE_MAX = 256,
	VIGIL_XATTR_NAME_MAX = 256,
	/* See struct vigil_fim_event; a per-CPU value must stay under 32 KiB. */
	VIGIL_FIM_DATA_MAX = 7 * 4096,
	/* See struct vigil_sec_event: command line, path, then a string. */
	VIGIL_SEC_DATA_MAX = 3 * 4096,
	VIGIL_MODULE_NAME_LEN = 56,
};
VIGIL_KEEP_BTF(enum vigil_limits, limits);

/* The first field of every ring-buffer record. */
enum vigil_event_kind {
	VIGIL_EVENT_OPEN = 1,
	VIGIL_EVENT_FIM = 2,
	VIGIL_EVENT_SECURITY = 3,
};
VIGIL_KEEP_BTF(enum vigil_event_kind, event_kind);

/* Index into the per-CPU counters map: losses are attributed to the
 * feature that lost them. */
enum vigil_prog_slot {
	VIGIL_SLOT_OPENS = 0,
	VIGIL_SLOT_FIM = 1,
	VIGIL_SLOT_SECURITY = 2,
	VIGIL_SLOT_COUNT = 8,
};
VIGIL_KEEP_BTF(enum vigil_prog_slot, prog_slot);

enum vigil_open_syscall {
	VIGIL_SYS_OPEN = 1,
	VIGIL_SYS_OPENAT = 2,
	VIGIL_SYS_OPENAT2 = 3,
	VIGIL_SYS_CREAT = 4,
};
VIGIL_KEEP_BTF(enum vigil_open_syscall, open_syscall);

/* Path flags (bitmask), mostly set by the in-kernel path walk. */
enum vigil_path_flags {
	VIGIL_PATH_TRUNCATED = 1 << 0,     /* leading components did not fit */
	VIGIL_PATH_FROM_FILE = 1 << 1,     /* resolved from the opened file */
	VIGIL_PATH_BASE_CWD = 1 << 2,      /* path is the cwd; join the arg */
	VIGIL_PATH_BASE_DIRFD = 1 << 3,    /* path is the dirfd; join the arg */
	VIGIL_PATH_UNRESOLVED = 1 << 4,    /* no kernel path (e.g. bad dirfd) */
	VIGIL_PATH_DISCONNECTED = 1 << 5,  /* walk never met the task's root */
	VIGIL_PATH_ARG_TRUNCATED = 1 << 6, /* user string longer than PATH_MAX */
	VIGIL_PATH_DELETED = 1 << 7,       /* dentry already unlinked */
	VIGIL_PATH_DPATH = 1 << 8,         /* the kernel's own bpf_d_path() text */
};
VIGIL_KEEP_BTF(enum vigil_path_flags, path_flags);

/* What a file-integrity event reports. */
enum vigil_fim_op {
	VIGIL_FIM_OPEN_WRITE = 1, /* opened for writing (O_WRONLY/O_RDWR/O_TRUNC/O_CREAT) */
	VIGIL_FIM_WRITE = 2,      /* content written (write family) */
	VIGIL_FIM_TRUNCATE = 3,   /* truncate, ftruncate, fallocate */
	VIGIL_FIM_UNLINK = 4,
	VIGIL_FIM_RMDIR = 5,
	VIGIL_FIM_MKDIR = 6,
	VIGIL_FIM_RENAME = 7,     /* path -> path2; flags: RENAME_* */
	VIGIL_FIM_LINK = 8,       /* hard link path2 to existing path */
	VIGIL_FIM_SYMLINK = 9,    /* symlink at path, pointing to path2 (verbatim) */
	VIGIL_FIM_CHMOD = 10,
	VIGIL_FIM_CHOWN = 11,
	VIGIL_FIM_SETXATTR = 12,
	VIGIL_FIM_REMOVEXATTR = 13,
	VIGIL_FIM_MMAP_WRITE = 14, /* mapped shared and writable: writes follow unseen */
	VIGIL_FIM_APPEND = 15,     /* written only past the old end of the file (see fim/syscalls.h) */
	VIGIL_FIM_SETFLAGS = 16,   /* inode flags set (chattr: immutable, append-only, ...) */
};
VIGIL_KEEP_BTF(enum vigil_fim_op, fim_op);

/* Where a write lands, in leaves of 1 MiB (user space keeps a BLAKE3
 * chaining value per leaf, and the in-kernel merge keeps writes to
 * different leaves apart). */
enum vigil_fim_leaf {
	VIGIL_FIM_LEAF_SHIFT = 20,
	VIGIL_FIM_LEAF_NONE = 0xffffffffu,
};
VIGIL_KEEP_BTF(enum vigil_fim_leaf, fim_leaf);

/* How a change was asked of the kernel. */
enum vigil_fim_via {
	VIGIL_VIA_SYSCALL = 0,  /* a syscall (LSM and fentry hooks cannot tell io_uring apart) */
	VIGIL_VIA_IO_URING = 1, /* an io_uring request, seen as it was submitted */
};
VIGIL_KEEP_BTF(enum vigil_fim_via, fim_via);

/* Which kernel hooks produced an event. */
enum vigil_fim_backend {
	VIGIL_BACKEND_TRACEPOINT = 1,
	VIGIL_BACKEND_FENTRY = 2,
	VIGIL_BACKEND_LSM = 3,
};
VIGIL_KEEP_BTF(enum vigil_fim_backend, fim_backend);

/* Which security signal a struct vigil_sec_event carries. */
enum vigil_sec_signal {
	VIGIL_SEC_EXEC = 1,
	VIGIL_SEC_EXIT = 2,
	VIGIL_SEC_CONNECT = 3,       /* TCP established (in or out), first UDP send of a flow */
	VIGIL_SEC_CONNECT_ERROR = 4, /* TCP connect failed or connection reset */
	VIGIL_SEC_FILE_ACCESS = 5,   /* open of a sensitive file */
	VIGIL_SEC_PRIVILEGE = 6,     /* set*id, capset */
	VIGIL_SEC_MODULE = 7,        /* init_module, finit_module, delete_module */
	VIGIL_SEC_PTRACE = 8,        /* ptrace attach: another process traced */
	VIGIL_SEC_BPF_LOAD = 9,      /* a BPF program loaded (by anyone but the agent) */
};
VIGIL_KEEP_BTF(enum vigil_sec_signal, sec_signal);

/* Process categories; the first that applies wins, in reverse order. */
enum vigil_proc_category {
	VIGIL_PROC_SYSTEM = 0,
	VIGIL_PROC_USER = 1,       /* a login session's (auid set) or uid >= UID_MIN */
	VIGIL_PROC_CONTAINER = 2,  /* in a child pid namespace */
	VIGIL_PROC_SUSPICIOUS = 3, /* any enum vigil_suspicion */
	VIGIL_PROC_CATEGORIES = 4,
};
VIGIL_KEEP_BTF(enum vigil_proc_category, proc_category);

/* Why an exec is suspicious (bitmask). */
enum vigil_suspicion {
	VIGIL_SUSP_INLINE_CODE = 1 << 0,  /* interpreter given code: sh -c, python -c, perl -e */
	VIGIL_SUSP_DAEMON_CHILD = 1 << 1, /* interpreter whose parent is a network daemon */
	VIGIL_SUSP_TMP_EXEC = 1 << 2,     /* binary or script under /tmp, /var/tmp, /dev/shm */
	VIGIL_SUSP_MEMFD_EXEC = 1 << 3,   /* binary is a memfd */
	VIGIL_SUSP_DELETED_EXEC = 1 << 4, /* binary already unlinked */
};
VIGIL_KEEP_BTF(enum vigil_suspicion, suspicion);

enum vigil_conn_direction {
	VIGIL_CONN_IN = 0,
	VIGIL_CONN_OUT = 1,
	VIGIL_CONN_DIRECTIONS = 2,
};
VIGIL_KEEP_BTF(enum vigil_conn_direction, conn_direction);

enum vigil_conn_protocol {
	VIGIL_PROTO_TCP = 0,
	VIGIL_PROTO_UDP = 1,
	VIGIL_PROTOCOLS = 2,
};
VIGIL_KEEP_BTF(enum vigil_conn_protocol, conn_protocol);

enum vigil_conn_error {
	VIGIL_CONNERR_TIMEOUT = 0,
	VIGIL_CONNERR_REFUSED = 1,
	VIGIL_CONNERR_RESET = 2,
	VIGIL_CONNERR_UNREACHABLE = 3,
	VIGIL_CONNERR_OTHER = 4,
	VIGIL_CONN_ERRORS = 5,
};
VIGIL_KEEP_BTF(enum vigil_conn_error, conn_error);

enum vigil_severity {
	VIGIL_SEV_CRITICAL = 0,
	VIGIL_SEV_WARNING = 1,
	VIGIL_SEV_INFO = 2,
	VIGIL_SEVERITIES = 3,
};
VIGIL_KEEP_BTF(enum vigil_severity, severity);

enum vigil_access_op {
	VIGIL_ACCESS_READ = 0,
	VIGIL_ACCESS_WRITE = 1,
	VIGIL_ACCESS_OPS = 2,
};
VIGIL_KEEP_BTF(enum vigil_access_op, access_op);

enum vigil_priv_call {
	VIGIL_PRIV_SETUID = 0,
	VIGIL_PRIV_SETGID = 1,
	VIGIL_PRIV_SETREUID = 2,
	VIGIL_PRIV_SETREGID = 3,
	VIGIL_PRIV_SETRESUID = 4,
	VIGIL_PRIV_SETRESGID = 5,
	VIGIL_PRIV_CAPSET = 6,
	VIGIL_PRIV_CALLS = 7,
};
VIGIL_KEEP_BTF(enum vigil_priv_call, priv_call);

enum vigil_module_action {
	VIGIL_MOD_LOAD = 0,      /* init_module */
	VIGIL_MOD_LOAD_FILE = 1, /* finit_module */
	VIGIL_MOD_UNLOAD = 2,    /* delete_module */
	VIGIL_MOD_ACTIONS = 3,
};
VIGIL_KEEP_BTF(enum vigil_module_action, module_action);

enum vigil_result {
	VIGIL_RESULT_SUCCESS = 0,
	VIGIL_RESULT_FAILURE = 1,
	VIGIL_RESULTS = 2,
};
VIGIL_KEEP_BTF(enum vigil_result, result);

/* The BPF load signal's sizes. */
enum vigil_bpf_limits {
	/* Program types counted apart (the kernel's BPF_PROG_TYPE_*, up to
	 * NETFILTER = 32); any newer type counts in the last one. */
	VIGIL_BPF_PROG_TYPES = 34,
	VIGIL_BPF_OBJ_NAME_LEN = 16,
};
VIGIL_KEEP_BTF(enum vigil_bpf_limits, bpf_limits);

/* What a ptrace signal asked for. */
enum vigil_ptrace_request {
	VIGIL_PTRACE_ATTACH = 0,  /* PTRACE_ATTACH */
	VIGIL_PTRACE_SEIZE = 1,   /* PTRACE_SEIZE */
	VIGIL_PTRACE_TRACEME = 2, /* PTRACE_TRACEME: to be traced by the parent */
	VIGIL_PTRACE_REQUESTS = 3,
};
VIGIL_KEEP_BTF(enum vigil_ptrace_request, ptrace_request);

/* Sensitive-file rule flags (struct vigil_sensitive_rule). */
enum vigil_sensitive_flags {
	VIGIL_SENS_WHOLE_DIR = 1 << 0, /* every file directly in the directory */
	VIGIL_SENS_HAS_NAMES = 1 << 1, /* some names in it have rules of their own */
};
VIGIL_KEEP_BTF(enum vigil_sensitive_flags, sensitive_flags);

/* Common header of every ring-buffer record. */
struct vigil_event_header {
	__u64 ts_ns;  /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 kind;   /* VIGIL_EVENT_* */
	__u32 size;   /* whole record, header included */
	__u32 pid;    /* tgid */
	__u32 tid;
	__u32 uid;
	__u32 gid;
	__u8 comm[VIGIL_COMM_LEN];
};
VIGIL_KEEP_BTF(struct vigil_event_header, event_header);

/*
 * One open/openat/openat2/creat, emitted at syscall exit.
 * data[] holds path_len bytes of kernel-resolved path, then arg_len bytes of
 * the user's string; neither is NUL-terminated.
 */
struct vigil_open_event {
	struct vigil_event_header hdr;
	__s64 ret;      /* fd, or -errno */
	__u64 flags;    /* open flags as passed (O_*) */
	__u64 mode;
	__u64 resolve;  /* openat2 RESOLVE_* */
	__u64 ino;      /* of the opened file; 0 on failure */
	__u32 dev;      /* sb->s_dev of the opened file (kernel encoding) */
	__s32 dfd;
	__u16 syscall;  /* VIGIL_SYS_* */
	__u16 path_flags;
	__u16 path_len;
	__u16 arg_len;
	__u8 data[VIGIL_EVENT_DATA_MAX]; /* at offset 104: 8-aligned */
};
VIGIL_KEEP_BTF(struct vigil_open_event, open_event);

/*
 * One file-integrity event, with who-data.  data[] holds, in order:
 * path (base, then arg), path2 (base, then arg), exe, cwd, cmdline
 * (NUL-separated arguments) and the xattr name.  A "base" is a
 * kernel-resolved path and "arg" the user's string, assembled like an open
 * event's path (path_flags / path2_flags).  A segment that would start
 * past 6 * PATH_MAX is left out (length 0): only pathological paths get
 * there, and the main path always fits.
 */
/* Values of the fim_prefixes map. */
enum vigil_fim_prefix {
	VIGIL_FIM_PREFIX_TREE = 1,     /* a watched tree's path */
	VIGIL_FIM_PREFIX_ANCESTOR = 2, /* an ancestor of one */
};
VIGIL_KEEP_BTF(enum vigil_fim_prefix, fim_prefix);

/* vigil_fim_event.who_seq */
enum vigil_who_seq {
	VIGIL_WHO_SEQ_MASK = 0x7fffffffu,
	VIGIL_WHO_CACHED = 0x80000000u,
};
VIGIL_KEEP_BTF(enum vigil_who_seq, who_seq);

struct vigil_fim_event {
	struct vigil_event_header hdr;
	__u64 cgroup_id;
	__u64 mntns;    /* mount namespace inode number */
	__u64 ino;      /* of the file, when the hook had it */
	__s64 ret;      /* syscall result (tracepoints); 0 for pre-op hooks */
	__u32 ppid;
	__u32 auid;     /* login uid; (u32)-1 when unset */
	__u32 sessionid;
	__u32 euid;
	__u32 egid;
	__u32 op;       /* VIGIL_FIM_* */
	__u32 flags;    /* open flags, RENAME_*, AT_* as passed */
	__u32 mode;     /* chmod/mkdir/open mode */
	__u32 arg_uid;  /* chown */
	__u32 arg_gid;
	__u32 dev;      /* sb->s_dev, when the hook had the file */
	__u32 tree;     /* watched tree id the kernel matched; 0: not verified */
	__u32 suppressed; /* writes merged into this one by the in-kernel dedupe */
	__u16 backend;  /* VIGIL_BACKEND_* */
	__u16 path_flags;
	__u16 path2_flags;
	__u16 tree_off; /* offset in path's base where the path below the tree starts */
	__u16 path_base_len;
	__u16 path_arg_len;
	__u16 path2_base_len;
	__u16 path2_arg_len;
	__u16 exe_len;
	__u16 cwd_len;
	__u16 cmdline_len;
	__u16 name_len;
	/* Which exe and cwd strings are this process's (VIGIL_WHO_SEQ_MASK).
	 * With VIGIL_WHO_CACHED, exe_len and cwd_len are 0: the strings are
	 * those of this tgid's earlier event with the same sequence. */
	__u32 who_seq;
	__u32 via;      /* VIGIL_VIA_* */
	/* Writes: the leaves (1 << VIGIL_FIM_LEAF_SHIFT bytes each) the write
	 * may touch, leaf_hi VIGIL_FIM_LEAF_NONE for "to the end"; both
	 * VIGIL_FIM_LEAF_NONE when where it lands is not known. */
	__u32 leaf_lo;
	__u32 leaf_hi;
	__u32 _pad;
	__u8 data[VIGIL_FIM_DATA_MAX]; /* at offset 176: 8-aligned */
};
VIGIL_KEEP_BTF(struct vigil_fim_event, fim_event);

/*
 * One security signal, with who-data.  Which fields a signal fills:
 *   exec:    category, suspicion, ino, dev; data = cmdline, binary, exec filename
 *   exit:    category, ret = exit status (wait(2) encoding)
 *   connect: kind = direction, protocol, family, addresses, ports
 *   connect error: kind = VIGIL_CONNERR_*, ret = -errno, addresses, ports
 *   file access: kind = severity, op, ino, dev, ret = fd; data = cmdline, path
 *   privilege: kind = VIGIL_PRIV_*, result, ret, ids[] before (0-3) and after
 *              (4-7): real, effective, saved, fs uid (or gid for *gid calls),
 *              caps[] effective before/after, args[] what was asked for
 *   module:  kind = VIGIL_MOD_*, result, ret; data = cmdline, file, name
 *   ptrace:  kind = VIGIL_PTRACE_*, result, ret, args[0] = the pid asked for
 *            (in the caller's pid namespace); on success, ids[0] and
 *            ids[1] = the traced process's tgid and tid (the kernel's);
 *            data = cmdline, the traced process's executable, its comm
 *   bpf load: kind = the program type (VIGIL_BPF_PROG_TYPES - 1 for newer
 *            ones), result, ret = fd or -errno, args[] = the program type
 *            as asked, its instruction count, and on success its id;
 *            ids[0] = the expected attach type; caps[0] = on success, the
 *            program's tag (8 bytes, as the kernel shows it);
 *            data = cmdline, the name the loader gave it
 * Connections are completed in softirq context, where "current" is not the
 * owner: their who-data is the task that called connect(), or none (pid 0)
 * for an inbound connection not yet accepted.
 */
struct vigil_sec_event {
	struct vigil_event_header hdr;
	__u64 cgroup_id;
	__u64 mntns;
	__u64 ino;
	__s64 ret;
	__u64 caps[2];
	__u64 args[3];
	__u32 signal;      /* VIGIL_SEC_* */
	__u32 ppid;
	__u32 auid;        /* login uid; (u32)-1 when unset */
	__u32 sessionid;
	__u32 euid;
	__u32 egid;
	__u32 category;    /* VIGIL_PROC_* */
	__u32 suspicion;   /* VIGIL_SUSP_* bits */
	__u32 kind;        /* per signal, see above */
	__u32 result;      /* VIGIL_RESULT_* */
	__u32 ids[8];
	__u32 dev;         /* sb->s_dev, kernel encoding */
	__u32 pidns_level; /* 0: the host's pid namespace */
	__u16 family;      /* AF_INET, AF_INET6 */
	__u16 protocol;    /* VIGIL_PROTO_* */
	__u16 sport;       /* host byte order */
	__u16 dport;
	__u8 saddr[16];    /* IPv4 in the first four bytes */
	__u8 daddr[16];
	__u8 pcomm[VIGIL_COMM_LEN]; /* the parent's comm */
	__u16 op;          /* file access: VIGIL_ACCESS_* */
	__u16 path_flags;
	__u16 cmdline_len;
	__u16 path_len;
	__u16 arg_len;
	__u16 _pad[3];
	__u8 data[VIGIL_SEC_DATA_MAX]; /* at offset 272: 8-aligned */
};
VIGIL_KEEP_BTF(struct vigil_sec_event, sec_event);

/* Security kernel settings, written by user space into security_config[0]. */
struct vigil_security_config {
	__u32 agent_tgid;  /* never reported */
	__u32 sample_mask; /* sampled signals are emitted when (random & mask) == 0 */
	__u32 uid_min;     /* login.defs UID_MIN: first uid of a person */
	__u32 _pad;
};
VIGIL_KEEP_BTF(struct vigil_security_config, security_config);

/* Key of the sensitive-files map: a directory, and a name in it (0: any). */
struct vigil_sensitive_key {
	__u64 dir_ino;
	__u64 name_hash;   /* FNV-1a 64 of the name's bytes; 0 for the directory rule */
	__u32 dev;         /* sb->s_dev, kernel encoding */
	__u32 _pad;
};
VIGIL_KEEP_BTF(struct vigil_sensitive_key, sensitive_key);

struct vigil_sensitive_rule {
	__u32 severity;    /* VIGIL_SEV_* */
	__u32 flags;       /* VIGIL_SENS_* */
};
VIGIL_KEEP_BTF(struct vigil_sensitive_rule, sensitive_rule);

/*
 * Exact per-CPU counts of every signal (security_counters[0]); they are
 * never sampled.  Arrays are indexed by the enums above.
 */
struct vigil_security_counters {
	__u64 exec[VIGIL_PROC_CATEGORIES];
	__u64 exit[VIGIL_PROC_CATEGORIES];
	__u64 forks;        /* new processes (not threads) */
	__u64 established;  /* TCP connections that entered ESTABLISHED */
	__u64 closed;       /* ... and that left it */
	__u64 sampled_out;  /* sampled signals not emitted */
	__u64 connect[VIGIL_CONN_DIRECTIONS][VIGIL_PROTOCOLS];
	__u64 connect_error[VIGIL_CONN_ERRORS];
	__u64 _pad0[3];
	__u64 file_access[VIGIL_SEVERITIES][VIGIL_ACCESS_OPS];
	__u64 privilege[VIGIL_PRIV_CALLS][VIGIL_RESULTS];
	__u64 module[VIGIL_MOD_ACTIONS][VIGIL_RESULTS];
	__u64 ptrace[VIGIL_PTRACE_REQUESTS][VIGIL_RESULTS];
	__u64 bpf_load[VIGIL_BPF_PROG_TYPES][VIGIL_RESULTS];
};
VIGIL_KEEP_BTF(struct vigil_security_counters, security_counters);

/* FIM kernel settings, written by user space into fim_config[0]. */
struct vigil_fim_config {
	__u32 agent_tgid;    /* never reported; its registration opens are read */
	__u32 register_tree; /* nonzero: the agent's next openat registers this tree */
	__u32 verdict_gen;   /* bumped on renames: cached tree verdicts expire */
	__u32 dedupe_ms;     /* writes to one file by one process merge within this */
	__u32 selftest_tid;  /* the agent's self-test thread: reported like anyone */
	__u32 rename_gen;    /* bumped on every rename: cached who strings expire */
};
VIGIL_KEEP_BTF(struct vigil_fim_config, fim_config);

/* Filter for the open tracer, written by user space into opens_config[0]. */
struct vigil_opens_filter {
	__u32 tgid;      /* 0: any */
	__u32 tid;       /* 0: any */
	__u32 uid;       /* (u32)-1: any */
	__u32 self_tgid; /* never trace the agent itself */
	__u8 comm[VIGIL_COMM_LEN]; /* empty: any */
	__u8 failed_only;
	__u8 _pad[7];
};
VIGIL_KEEP_BTF(struct vigil_opens_filter, opens_filter);

/* Per-CPU, per-slot counters (map vigil_counters). */
struct vigil_counters {
	__u64 emitted;        /* records written to the ring buffer */
	__u64 ringbuf_drops;  /* ring buffer full: record lost */
	__u64 state_drops;    /* in-flight state map full: record lost */
	__u64 truncated;      /* paths flagged VIGIL_PATH_TRUNCATED */
	__u64 unreadable;     /* an argument never readable (a 32-bit syscall's): record lost */
};
VIGIL_KEEP_BTF(struct vigil_counters, counters);

#endif /* VIGIL_ABI_H */
