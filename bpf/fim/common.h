/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every FIM hook shares: the settings user space writes, the maps,
 * the check that the agent itself is acting, and the watched-tree test
 * the path walk runs on each dentry it passes (VIGIL_WALK_VISIT).
 */
#ifndef VIGIL_FIM_COMMON_H
#define VIGIL_FIM_COMMON_H

#define AT_REMOVEDIR_ 0x200
/* A segment starts at most here, so PATH_MAX more still fits data[]. */
#define FIM_OFF_MAX (VIGIL_FIM_DATA_MAX - VIGIL_PATH_MAX)
/*
 * Whether a segment can start at `off`. Checked right before every access
 * at a computed offset, behind a compiler barrier: some verifiers (6.1,
 * seen on arm64) otherwise lose the bound across register spills.
 */
#define FIM_ROOM(off)                                                                             \
	({                                                                                        \
		barrier_var(off);                                                                 \
		(off) <= FIM_OFF_MAX;                                                             \
	})

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_fim_config);
} fim_config SEC(".maps");

/* Registered tree roots: dentry address -> tree id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} fim_watch SEC(".maps");

/*
 * FNV-1a hashes of every watched tree's path string (and of the names it
 * is known by), VIGIL_FIM_PREFIX_TREE, and of each of their ancestors,
 * VIGIL_FIM_PREFIX_ANCESTOR: how the tracepoint backend filters absolute
 * path strings in the kernel, at each '/' of the string, stopping at the
 * first prefix that leads to no tree.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} fim_prefixes SEC(".maps");

/* A path string being scanned, copied out of user memory. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[VIGIL_PATH_MAX]);
} fim_strbuf SEC(".maps");

struct fim_verdict_key {
	__u64 dentry;
	__u64 mnt;
};

struct fim_verdict {
	__u32 gen;
	__u32 tree;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct fim_verdict_key);
	__type(value, struct fim_verdict);
} fim_verdicts SEC(".maps");

struct fim_recent_key {
	__u64 inode;
	__u32 tgid;
	__u32 op;
	/* Writes merge only with writes to the same leaves: user space
	 * rehashes the leaves the first one names. */
	__u32 leaf_lo;
	__u32 leaf_hi;
};

struct fim_recent {
	__u64 last_ns;
	__u32 suppressed;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct fim_recent_key);
	__type(value, struct fim_recent);
} fim_recent SEC(".maps");

/*
 * A path-based operation: between a syscall's enter and its exit, or an
 * io_uring request as it is submitted.
 */
struct fim_args {
	const char *p1;
	const char *p2;
	const char *name;
	struct file *file; /* fd-based operations whose file is known already */
	__s32 dfd1;
	__s32 dfd2;
	__s32 fd; /* fd-based attribute operations; -1 otherwise */
	__u32 op;
	__u32 flags;
	__u32 mode;
	__u32 uid;
	__u32 gid;
	__u16 p2_verbatim; /* symlink target: reported as written */
	__u16 kernel;      /* the strings are kernel memory (io_uring copied them) */
	__u16 via;         /* VIGIL_VIA_* */
	__u16 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct fim_args);
} fim_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_fim_event);
} fim_scratch SEC(".maps");

/*
 * The exe and cwd a process's last emitted event carried, by identity:
 * while they stay the same, events leave the strings out (two path walks
 * each) and user space takes them from that event (VIGIL_WHO_CACHED).
 */
struct fim_who {
	__u64 exe;
	__u64 pwd_dentry;
	__u64 pwd_mnt;
	__u32 seq;
	__u32 rename_gen; /* a rename since may have changed the strings' names */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct fim_who);
} fim_who SEC(".maps");

static __always_inline void fim_visit(struct vigil_walk *w, struct dentry *d)
{
	__u64 key = (__u64)d;
	__u32 *tree;

	if (w->tree)
		return;
	tree = bpf_map_lookup_elem(&fim_watch, &key);
	if (tree) {
		w->tree = *tree;
		w->tree_pos = w->pos;
	}
}

static __always_inline struct vigil_fim_config *fim_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&fim_config, &zero);
}

/* Any rename on the host: cached exe and cwd strings may name it wrong now
 * (the binary, the working directory or a directory above either renamed). */
static __always_inline void fim_renamed_somewhere(void)
{
	struct vigil_fim_config *c = fim_cfg();

	if (c)
		__sync_fetch_and_add(&c->rename_gen, 1);
}

/* The agent's own changes are not reported, but for its self-test thread's. */
static __always_inline bool fim_is_agent(void)
{
	struct vigil_fim_config *c = fim_cfg();
	__u64 id = bpf_get_current_pid_tgid();

	return !c || ((id >> 32) == c->agent_tgid && (__u32)id != c->selftest_tid);
}

/*
 * Inode flags set through an open file (chattr +i, +a): the ioctls that
 * set them. _IOW's encoding: powerpc puts the direction elsewhere.
 */
#if defined(__TARGET_ARCH_powerpc)
#define FIM_IOW(type, nr, size) ((4u << 29) | ((size) << 16) | ((type) << 8) | (nr))
#else
#define FIM_IOW(type, nr, size) ((1u << 30) | ((size) << 16) | ((type) << 8) | (nr))
#endif

static __always_inline bool fim_setflags_cmd(__u32 cmd)
{
	return cmd == FIM_IOW('f', 2, 8)        /* FS_IOC_SETFLAGS */
	       || cmd == FIM_IOW('f', 2, 4)     /* FS_IOC32_SETFLAGS, from 32-bit code */
	       || cmd == FIM_IOW('X', 32, 28);  /* FS_IOC_FSSETXATTR */
}

/* A string argument: user memory from a syscall, kernel memory from io_uring. */
static __always_inline long fim_read_str(void *dst, __u32 size, const char *s, bool kernel)
{
	return kernel ? bpf_probe_read_kernel_str(dst, size, s) : bpf_probe_read_user_str(dst, size, s);
}

/*
 * 32-bit syscalls: an i386 program on x86_64, or int 0x80 from a 64-bit
 * one. The syscalls:* tracepoints skip them, so fim/compat.h hooks them
 * all on raw_syscalls/sys_enter and calls, by their 32-bit number, the
 * program user space put in this array (the 64-bit syscall's own enter
 * program: the argument registers line up). Past the syscall numbers,
 * the slots of what runs next where a 64-bit syscall waits for its exit.
 */
#define FIM_COMPAT_SYSCALLS 512
#define FIM_COMPAT_PATH_NOW FIM_COMPAT_SYSCALLS
#define FIM_COMPAT_OPEN_NOW (FIM_COMPAT_SYSCALLS + 1)
#define FIM_COMPAT_PATH_RETRY (FIM_COMPAT_SYSCALLS + 2)
#define FIM_COMPAT_OPEN_RETRY (FIM_COMPAT_SYSCALLS + 3)

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, FIM_COMPAT_SYSCALLS + 4);
	__type(key, __u32);
	__type(value, __u32);
} fim_compat_calls SEC(".maps");

/* Whether the current syscall is a 32-bit one (x86's TS_COMPAT). */
static __always_inline bool fim_in_compat_syscall(void)
{
#if defined(__TARGET_ARCH_x86)
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, thread_info.status) & 0x0002;
#else
	return false;
#endif
}

/*
 * A 32-bit syscall has no exit tracepoint to wait for: go on at once with
 * what the exit would do (`slot`). User space confirms every change on
 * disk, as it does for the LSM hooks, which also run before the change.
 */
static __always_inline int fim_compat_then(void *ctx, __u32 slot)
{
	if (fim_in_compat_syscall())
		bpf_tail_call(ctx, &fim_compat_calls, slot);
	return 0;
}

#endif /* VIGIL_FIM_COMMON_H */
