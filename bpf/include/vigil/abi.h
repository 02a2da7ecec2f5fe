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
 * and the Rust side can be checked against them too.
 */
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
};

/* The first field of every ring-buffer record. */
enum vigil_event_kind {
	VIGIL_EVENT_OPEN = 1,
	VIGIL_EVENT_FIM = 2,
};

/* Index into the per-CPU counters map: losses are attributed to the
 * feature that lost them. */
enum vigil_prog_slot {
	VIGIL_SLOT_OPENS = 0,
	VIGIL_SLOT_FIM = 1,
	VIGIL_SLOT_COUNT = 8,
};

enum vigil_open_syscall {
	VIGIL_SYS_OPEN = 1,
	VIGIL_SYS_OPENAT = 2,
	VIGIL_SYS_OPENAT2 = 3,
	VIGIL_SYS_CREAT = 4,
};

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

/* What a file-integrity event reports. */
enum vigil_fim_op {
	VIGIL_FIM_OPEN_WRITE = 1, /* opened for writing (O_WRONLY/O_RDWR/O_TRUNC/O_CREAT) */
	VIGIL_FIM_WRITE = 2,      /* content written (write family, shared mmap) */
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
};

/* Which kernel hooks produced an event. */
enum vigil_fim_backend {
	VIGIL_BACKEND_TRACEPOINT = 1,
	VIGIL_BACKEND_FENTRY = 2,
	VIGIL_BACKEND_LSM = 3,
};

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

/*
 * One file-integrity event, with who-data.  data[] holds, in order:
 * path (base, then arg), path2 (base, then arg), exe, cwd, cmdline
 * (NUL-separated arguments) and the xattr name.  A "base" is a
 * kernel-resolved path and "arg" the user's string, assembled like an open
 * event's path (path_flags / path2_flags).  A segment that would start
 * past 6 * PATH_MAX is left out (length 0): only pathological paths get
 * there, and the main path always fits.
 */
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
	__u16 _pad[2];
	__u8 data[VIGIL_FIM_DATA_MAX]; /* at offset 160: 8-aligned */
};

/* FIM kernel settings, written by user space into fim_config[0]. */
struct vigil_fim_config {
	__u32 agent_tgid;    /* never reported; its registration opens are read */
	__u32 register_tree; /* nonzero: the agent's next openat registers this tree */
	__u32 verdict_gen;   /* bumped on renames: cached tree verdicts expire */
	__u32 dedupe_ms;     /* writes to one file by one process merge within this */
};

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

/* Per-CPU, per-slot counters (map vigil_counters). */
struct vigil_counters {
	__u64 emitted;        /* records written to the ring buffer */
	__u64 ringbuf_drops;  /* ring buffer full: record lost */
	__u64 state_drops;    /* in-flight state map full: record lost */
	__u64 truncated;      /* paths flagged VIGIL_PATH_TRUNCATED */
};

#endif /* VIGIL_ABI_H */
