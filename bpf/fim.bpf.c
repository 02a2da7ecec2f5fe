// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * File-integrity events with who-data: the syscall-tracepoint backend.
 *
 * Every change to a file under a watched tree is reported with the exact
 * path(s), and with who made it, read in the kernel at that moment.
 *
 * Watched trees are identified by dentry, not by string: the agent opens
 * each tree root and the registration program records the dentry of what
 * it opened (fim_register). Every path walk checks each dentry it passes
 * against that set (VIGIL_WALK_VISIT), so the filter is exact through bind
 * mounts, subvolumes and mount namespaces, and costs no second walk.
 *
 * Cheap paths for activity outside the trees:
 *  - fd-based writes consult a per-(parent dentry, mount) verdict cache
 *    before any walk; renames expire the cache (verdict_gen);
 *  - repeated writes to one file by one process merge in the kernel
 *    within dedupe_ms (the count travels in `suppressed`);
 *  - path-based operations are resolved only once they have succeeded;
 *    an absolute path string is pre-filtered on its first component.
 *
 * One exit program serves every path-based syscall (user space attaches it
 * to each exit tracepoint): the enter programs save which operation it is.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "vigil/abi.h"
#include "vigil/emit.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct vigil_walk;
static __always_inline void fim_visit(struct vigil_walk *w, struct dentry *d);
#define VIGIL_WALK_VISIT(w, d) fim_visit(w, d)

#include "vigil/path.h"
#include "vigil/sys_open.h"
#include "vigil/who.h"

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
	__u32 _pad;
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

static __always_inline bool fim_is_agent(void)
{
	struct vigil_fim_config *c = fim_cfg();

	return !c || (bpf_get_current_pid_tgid() >> 32) == c->agent_tgid;
}

/* ---- registration ---------------------------------------------------- */

SEC("tracepoint/syscalls/sys_exit_openat")
int fim_register(struct trace_event_raw_sys_exit *ctx)
{
	struct vigil_fim_config *c = fim_cfg();
	struct task_struct *task;
	struct file *file;
	__u64 key;
	__u32 tree;

	if (!c || !c->register_tree || (bpf_get_current_pid_tgid() >> 32) != c->agent_tgid ||
	    ctx->ret < 0)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	file = vigil_fd_file(task, ctx->ret);
	if (!file)
		return 0;
	key = (__u64)BPF_CORE_READ(file, f_path.dentry);
	tree = c->register_tree;
	bpf_map_update_elem(&fim_watch, &key, &tree, BPF_ANY);
	return 0;
}

/* ---- event assembly -------------------------------------------------- */

static __always_inline struct vigil_fim_event *fim_begin(__u32 op)
{
	__u32 zero = 0;
	struct vigil_fim_event *ev = bpf_map_lookup_elem(&fim_scratch, &zero);

	if (!ev)
		return NULL;
	vigil_fill_header(&ev->hdr, VIGIL_EVENT_FIM);
	ev->op = op;
	ev->backend = VIGIL_BACKEND_TRACEPOINT;
	ev->ret = 0;
	ev->ino = 0;
	ev->dev = 0;
	ev->flags = 0;
	ev->mode = 0;
	ev->arg_uid = 0;
	ev->arg_gid = 0;
	ev->tree = 0;
	ev->suppressed = 0;
	ev->path_flags = 0;
	ev->path2_flags = 0;
	ev->tree_off = 0;
	ev->path_base_len = 0;
	ev->path_arg_len = 0;
	ev->path2_base_len = 0;
	ev->path2_arg_len = 0;
	ev->exe_len = 0;
	ev->cwd_len = 0;
	ev->cmdline_len = 0;
	ev->name_len = 0;
	ev->who_seq = 0;
	ev->via = VIGIL_VIA_SYSCALL;
	ev->_pad = 0;
	return ev;
}

static __always_inline __u32 fim_put_walk(struct vigil_fim_event *ev, __u32 off, struct vigil_walk *w)
{
	if (!w || !FIM_ROOM(off))
		return 0;
	return vigil_walk_copy(w, &ev->data[off]);
}

/* A string argument: user memory from a syscall, kernel memory from io_uring. */
static __always_inline long fim_read_str(void *dst, __u32 size, const char *s, bool kernel)
{
	return kernel ? bpf_probe_read_kernel_str(dst, size, s) : bpf_probe_read_user_str(dst, size, s);
}

static __always_inline __u32 fim_put_str(struct vigil_fim_event *ev, __u32 off, const char *s, bool kernel,
					 __u16 *flags)
{
	long n;

	if (!s || !FIM_ROOM(off))
		return 0;
	n = fim_read_str(&ev->data[off], VIGIL_PATH_MAX, s, kernel);
	if (n <= 0)
		return 0;
	if (n >= VIGIL_PATH_MAX)
		*flags |= VIGIL_PATH_ARG_TRUNCATED;
	return n - 1;
}

/*
 * The watched tree of a path, or 0. Cached per (dentry, mount); with
 * `by_parent`, per (parent dentry, mount), so every new file in a
 * directory shares one verdict. `*walked`: the walk state now holds `p`'s
 * whole path, which the event can take without a second walk.
 */
static __always_inline __u32 fim_tree_of(const struct path *p, bool by_parent, struct task_struct *task,
					 bool use_loop, bool *walked)
{
	struct vigil_fim_config *c = fim_cfg();
	struct dentry *d = BPF_CORE_READ(p, dentry);
	struct fim_verdict_key k = {
		.dentry = (__u64)(by_parent ? BPF_CORE_READ(d, d_parent) : d),
		.mnt = (__u64)BPF_CORE_READ(p, mnt),
	};
	struct fim_verdict v = {}, *cached;
	struct vigil_walk *w;
	__u64 self = (__u64)d;
	__u32 *root;

	if (!c)
		return 0;
	root = bpf_map_lookup_elem(&fim_watch, &self);
	if (root)
		return *root;
	cached = bpf_map_lookup_elem(&fim_verdicts, &k);
	if (cached && cached->gen == c->verdict_gen)
		return cached->tree;
	w = vigil_walk_path(p, task, use_loop);
	if (!w)
		return 0;
	*walked = true;
	v.gen = c->verdict_gen;
	v.tree = w->tree;
	bpf_map_update_elem(&fim_verdicts, &k, &v, BPF_ANY);
	return v.tree;
}

static __always_inline __u32 fim_path_tree(const struct path *p, struct task_struct *task, bool use_loop)
{
	bool walked = false;

	return fim_tree_of(p, false, task, use_loop, &walked);
}

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

struct fim_scan {
	const char *buf;
	__u64 hash;
	__u32 len;
	__u32 absolute;  /* the string starts with '/' */
	__u32 matched;   /* a prefix is a watched tree */
	__u32 slash;     /* the string has a '/' after its first byte */
	__u32 irregular; /* "//", "/./" or "/../": only user space can tell */
	char prev, prev2;
};

static long fim_scan_step(__u32 i, struct fim_scan *c)
{
	__u32 *known;
	char ch;

	if (i >= c->len)
		return 1;
	ch = c->buf[i & (VIGIL_PATH_MAX - 1)];
	if ((ch == '/' || !ch) && i > 0) {
		if (c->prev == '/' || (c->prev == '.' && (c->prev2 == '/' || c->prev2 == '.'))) {
			c->irregular = 1;
			return 1;
		}
		known = bpf_map_lookup_elem(&fim_prefixes, &c->hash);
		if (known && *known == VIGIL_FIM_PREFIX_TREE) {
			c->matched = 1;
			return 1;
		}
		/* No watched tree below this prefix: no longer one can match. */
		if (!known && c->absolute)
			return 1;
		if (!ch)
			return 1;
		c->slash = 1;
	}
	c->hash = (c->hash ^ (unsigned char)ch) * FNV_PRIME;
	c->prev2 = c->prev;
	c->prev = ch;
	return 0;
}

/*
 * Could an operation on string `s` (relative to `dfd`) touch a watched
 * tree? Cheap and conservative: only "no" drops the event.
 *  - absolute: some '/'-prefix of it is a watched tree's path;
 *  - relative, one component: its directory is in a watched tree (the
 *    cached verdict of cwd or dirfd);
 *  - anything else (a relative path with '/', "..", or a kernel without
 *    bpf_loop to scan with): yes, and user space decides.
 */
static __always_inline bool fim_may_touch(__s32 dfd, const char *s, bool kernel, struct task_struct *task,
					  bool use_loop)
{
	struct fim_scan c = { .hash = FNV_OFFSET };
	__u32 zero = 0;
	long n;

	if (!use_loop)
		return true;
	c.buf = bpf_map_lookup_elem(&fim_strbuf, &zero);
	if (!c.buf)
		return true;
	n = fim_read_str((void *)c.buf, VIGIL_PATH_MAX, s, kernel);
	if (n <= 1)
		return false;
	c.len = n;
	c.absolute = c.buf[0] == '/';
	bpf_loop(VIGIL_PATH_MAX, fim_scan_step, &c, 0);
	if (c.matched || c.irregular)
		return true;
	if (c.buf[0] == '/')
		return false;
	if (c.slash || c.buf[0] == '.')
		return true;
	if (dfd == VIGIL_AT_FDCWD) {
		struct fs_struct *fs = BPF_CORE_READ(task, fs);

		return fim_path_tree(__builtin_preserve_access_index(&fs->pwd), task, use_loop);
	}
	{
		struct file *dir = vigil_fd_file(task, dfd);

		return dir && fim_path_tree(__builtin_preserve_access_index(&dir->f_path), task, use_loop);
	}
}

/*
 * Puts one path, as (kernel-resolved base, user string), at data[off].
 * Sets *tree when the base lies in a watched tree, or to (u32)-1 when an
 * absolute string only passed the pre-filter (user space decides).
 */
static __always_inline __u32 fim_put_path(struct vigil_fim_event *ev, __u32 off, __s32 dfd,
					  const char *s, bool kernel, struct task_struct *task, bool use_loop,
					  __u16 *flags, __u16 *base_len, __u16 *arg_len, __u32 *tree,
					  bool first)
{
	struct vigil_walk *w = NULL;
	char c = 0;
	__u32 blen = 0, alen;

	if (kernel)
		bpf_probe_read_kernel(&c, 1, s);
	else
		bpf_probe_read_user(&c, 1, s);
	if (c == '/') {
		/* Past fim_may_touch: a candidate that user space checks. */
		if (!*tree)
			*tree = (__u32)-1;
	} else if (dfd == VIGIL_AT_FDCWD) {
		struct fs_struct *fs = BPF_CORE_READ(task, fs);

		w = vigil_walk_path(__builtin_preserve_access_index(&fs->pwd), task, use_loop);
		*flags |= VIGIL_PATH_BASE_CWD;
	} else {
		struct file *dir = vigil_fd_file(task, dfd);

		if (dir)
			w = vigil_walk_path(__builtin_preserve_access_index(&dir->f_path), task, use_loop);
		*flags |= VIGIL_PATH_BASE_DIRFD;
	}
	if (w) {
		blen = fim_put_walk(ev, off, w);
		*flags |= w->flags;
		if (w->tree && (!*tree || *tree == (__u32)-1)) {
			*tree = w->tree;
			if (first)
				ev->tree_off = blen - (VIGIL_PATH_MAX - w->tree_pos);
		}
	} else if (c != '/') {
		*flags |= VIGIL_PATH_UNRESOLVED;
	}
	alen = fim_put_str(ev, off + blen, s, kernel, flags);
	*base_len = blen;
	*arg_len = alen;
	return blen + alen;
}

/* Puts a whole path (of a file, or a struct path) as the event's path. */
static __always_inline __u32 fim_put_whole(struct vigil_fim_event *ev, const struct path *path,
					   struct task_struct *task, bool use_loop, bool walked)
{
	struct vigil_walk *w = walked ? vigil_walk_state_get() : vigil_walk_path(path, task, use_loop);
	__u32 len;

	if (!w)
		return 0;
	len = fim_put_walk(ev, 0, w);
	ev->path_flags = w->flags | VIGIL_PATH_FROM_FILE;
	ev->path_base_len = len;
	ev->tree = w->tree;
	if (w->tree)
		ev->tree_off = len - (VIGIL_PATH_MAX - w->tree_pos);
	return len;
}

static __always_inline __u32 fim_put_file(struct vigil_fim_event *ev, struct file *file,
					  struct task_struct *task, bool use_loop, bool walked)
{
	__u32 len = fim_put_whole(ev, __builtin_preserve_access_index(&file->f_path), task, use_loop,
				  walked);

	ev->ino = BPF_CORE_READ(file, f_inode, i_ino);
	ev->dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	return len;
}

/* Who-data, then the ring buffer. `off` is where data[] is filled to. */
static __always_inline int fim_finish(struct vigil_fim_event *ev, __u32 off,
				      struct task_struct *task, bool use_loop)
{
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	struct fim_who now = {
		.exe = (__u64)exe,
		.pwd_dentry = (__u64)BPF_CORE_READ(fs, pwd.dentry),
		.pwd_mnt = (__u64)BPF_CORE_READ(fs, pwd.mnt),
	};
	__u32 tgid = ev->hdr.pid;
	struct fim_who *known;
	struct vigil_walk *w;
	__u32 len;
	int err;

	vigil_who_ids(ev, task);
	known = bpf_map_lookup_elem(&fim_who, &tgid);
	if (known && known->exe == now.exe && known->pwd_dentry == now.pwd_dentry &&
	    known->pwd_mnt == now.pwd_mnt) {
		ev->who_seq = known->seq | VIGIL_WHO_CACHED;
	} else {
		if (exe) {
			w = vigil_walk_path(__builtin_preserve_access_index(&exe->f_path), task, use_loop);
			len = fim_put_walk(ev, off, w);
			ev->exe_len = len;
			off += len;
		}
		w = vigil_walk_path(__builtin_preserve_access_index(&fs->pwd), task, use_loop);
		len = fim_put_walk(ev, off, w);
		ev->cwd_len = len;
		off += len;
		/* The clock names the strings: one process's recent ones never
		 * share a value (an atomic counter needs fetch-add, 5.12+). */
		now.seq = (bpf_ktime_get_ns() & VIGIL_WHO_SEQ_MASK) | 1;
		ev->who_seq = now.seq;
	}
	if (FIM_ROOM(off)) {
		len = vigil_who_cmdline(task, &ev->data[off]);
		ev->cmdline_len = len;
		off += len;
	}
	err = vigil_emit(ev, offsetof(struct vigil_fim_event, data) + off, sizeof(*ev),
			 VIGIL_SLOT_FIM, ev->path_flags);
	/* Only strings user space has received may be referred to. */
	if (!err && !(ev->who_seq & VIGIL_WHO_CACHED))
		bpf_map_update_elem(&fim_who, &tgid, &now, BPF_ANY);
	return err;
}

/* The watched tree of `file`: cached per (parent dentry, mount). */
static __always_inline __u32 fim_file_tree(struct file *file, struct task_struct *task, bool use_loop,
					   bool *walked)
{
	return fim_tree_of(__builtin_preserve_access_index(&file->f_path), true, task, use_loop, walked);
}

/*
 * Merges repeated writes of one file by one process. Returns -1 to drop
 * this one, else how many were merged into it. Runs before any event
 * assembly: on a write burst it is the whole cost.
 */
static __always_inline long fim_dedupe(struct file *file, __u32 op)
{
	struct vigil_fim_config *c = fim_cfg();
	struct fim_recent_key k = {
		.inode = (__u64)BPF_CORE_READ(file, f_inode),
		.tgid = bpf_get_current_pid_tgid() >> 32,
		.op = op,
	};
	struct fim_recent fresh = {}, *r;
	__u64 now = bpf_ktime_get_ns();
	long merged = 0;

	if (!c || !c->dedupe_ms)
		return 0;
	r = bpf_map_lookup_elem(&fim_recent, &k);
	if (r && now - r->last_ns < (__u64)c->dedupe_ms * 1000000) {
		__sync_fetch_and_add(&r->suppressed, 1);
		return -1;
	}
	if (r)
		merged = r->suppressed;
	fresh.last_ns = now;
	bpf_map_update_elem(&fim_recent, &k, &fresh, BPF_ANY);
	return merged;
}

/*
 * A file opened for writing, written, or truncated, from any backend.
 * `dpath`: also record the kernel's own bpf_d_path() text (path2,
 * VIGIL_PATH_DPATH), which user space checks the walk against; only where
 * the kernel allows the helper.
 */
static __always_inline int fim_file_op(__u32 op, struct file *file, __u16 backend, bool use_loop, bool dpath,
				       __u16 via)
{
	struct task_struct *task;
	struct vigil_fim_event *ev;
	bool walked = false;
	long merged = 0;
	__u32 off;
	long n;

	if (fim_is_agent())
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	if (!fim_file_tree(file, task, use_loop, &walked))
		return 0;
	if (op == VIGIL_FIM_WRITE && (merged = fim_dedupe(file, op)) < 0)
		return 0;
	ev = fim_begin(op);
	if (!ev)
		return 0;
	ev->suppressed = merged;
	ev->backend = backend;
	ev->via = via;
	ev->flags = BPF_CORE_READ(file, f_flags);
	off = fim_put_file(ev, file, task, use_loop, walked);
	if (dpath && FIM_ROOM(off)) {
		n = bpf_d_path(&file->f_path, (char *)&ev->data[off], VIGIL_PATH_MAX);
		if (n > 0) {
			ev->path2_flags = VIGIL_PATH_DPATH;
			ev->path2_base_len = n - 1;
			off += n - 1;
		}
	}
	return fim_finish(ev, off, task, use_loop);
}

/*
 * Both flavours of a tracepoint program that user space attaches by hand:
 * NAME with bpf_loop, NAME_legacy without (the loader keeps one).
 */
#define FIM_TP_FLAVOURS(name, ctx_type, call)                                                    \
	SEC("tracepoint")                                                                        \
	int name(ctx_type *ctx)                                                                  \
	{                                                                                        \
		const bool loop = true;                                                          \
		return call;                                                                     \
	}                                                                                        \
	SEC("tracepoint")                                                                        \
	int name##_legacy(ctx_type *ctx)                                                         \
	{                                                                                        \
		const bool loop = false;                                                         \
		return call;                                                                     \
	}

/* ---- fd-based content changes (at entry) ------------------------------ */

static __always_inline int fim_fd_op(long fd, __u32 op, bool use_loop)
{
	struct file *file = vigil_fd_file((struct task_struct *)bpf_get_current_task(), fd);

	return file ? fim_file_op(op, file, VIGIL_BACKEND_TRACEPOINT, use_loop, false, VIGIL_VIA_SYSCALL) : 0;
}

/* Attached by user space to sys_enter_{write,pwrite64,writev,pwritev,pwritev2}. */
FIM_TP_FLAVOURS(fim_write, struct trace_event_raw_sys_enter, fim_fd_op(ctx->args[0], VIGIL_FIM_WRITE, loop))

/* Attached to sys_enter_{copy_file_range,splice}: the file written is args[2]. */
FIM_TP_FLAVOURS(fim_write_out, struct trace_event_raw_sys_enter, fim_fd_op(ctx->args[2], VIGIL_FIM_WRITE, loop))

/* Attached to sys_enter_{ftruncate,fallocate}. */
FIM_TP_FLAVOURS(fim_ftruncate, struct trace_event_raw_sys_enter,
		fim_fd_op(ctx->args[0], VIGIL_FIM_TRUNCATE, loop))

/*
 * Attached to sys_enter_mmap: a file mapped shared and writable. Writes
 * through the mapping make no syscall; user space re-checks the file
 * while the mapping process lives, and once more when it is gone.
 */
#define PROT_WRITE_ 0x2
#define MAP_SHARED_ 0x1 /* also set in MAP_SHARED_VALIDATE */
#define MAP_ANONYMOUS_ 0x20

static __always_inline int fim_mmap_op(struct trace_event_raw_sys_enter *ctx, bool use_loop)
{
	if (!(ctx->args[2] & PROT_WRITE_) || !(ctx->args[3] & MAP_SHARED_) ||
	    (ctx->args[3] & MAP_ANONYMOUS_))
		return 0;
	return fim_fd_op((long)ctx->args[4], VIGIL_FIM_MMAP_WRITE, use_loop);
}

FIM_TP_FLAVOURS(fim_mmap, struct trace_event_raw_sys_enter, fim_mmap_op(ctx, loop))

/* ---- opens with write intent ------------------------------------------ */

static __always_inline bool fim_write_intent(__u64 flags)
{
	return flags & (VIGIL_O_WRONLY | VIGIL_O_RDWR | VIGIL_O_TRUNC | VIGIL_O_CREAT);
}

static __always_inline bool fim_open_wanted(__u64 flags)
{
	return fim_write_intent(flags) && !fim_is_agent();
}

VIGIL_OPEN_ENTER_PROGRAMS(fim, fim_open_wanted, VIGIL_SLOT_FIM)

static __always_inline int fim_open_exit(long ret, bool use_loop)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vigil_open_args *a = vigil_open_taken(tid);
	struct task_struct *task;
	struct vigil_fim_event *ev;
	bool walked = false;
	struct file *file;
	__u32 off;

	if (!a)
		return 0;
	if (ret < 0)
		goto out;
	task = (struct task_struct *)bpf_get_current_task();
	file = vigil_fd_file(task, ret);
	if (!file || !fim_file_tree(file, task, use_loop, &walked))
		goto out;
	ev = fim_begin(VIGIL_FIM_OPEN_WRITE);
	if (!ev)
		goto out;
	ev->ret = ret;
	ev->flags = a->flags;
	ev->mode = a->mode;
	off = fim_put_file(ev, file, task, use_loop, walked);
	fim_finish(ev, off, task, use_loop);
out:
	vigil_open_done(tid);
	return 0;
}

/* Attached to sys_exit_{open,creat,openat,openat2}. */
FIM_TP_FLAVOURS(fim_open_exit_all, struct trace_event_raw_sys_exit, fim_open_exit(ctx->ret, loop))

/* ---- path-based operations -------------------------------------------- */

static __always_inline int fim_save(struct fim_args *a)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (fim_is_agent())
		return 0;
	if (bpf_map_update_elem(&fim_inflight, &tid, a, BPF_ANY))
		vigil_count_state_drop(VIGIL_SLOT_FIM);
	return 0;
}

/* PATH_ARGS sets defaults first; each syscall then overrides some. */
#pragma clang diagnostic ignored "-Winitializer-overrides"
#define ARG(i) ((const char *)ctx->args[i])
#define ENTER(sys) \
	SEC("tracepoint/syscalls/sys_enter_" #sys) int fim_enter_##sys(struct trace_event_raw_sys_enter *ctx)
#define PATH_ARGS(...) \
	{ struct fim_args a = { .dfd1 = VIGIL_AT_FDCWD, .dfd2 = VIGIL_AT_FDCWD, .fd = -1, __VA_ARGS__ }; return fim_save(&a); }

ENTER(unlink) PATH_ARGS(.op = VIGIL_FIM_UNLINK, .p1 = ARG(0))
ENTER(unlinkat) PATH_ARGS(.op = (ctx->args[2] & AT_REMOVEDIR_) ? VIGIL_FIM_RMDIR : VIGIL_FIM_UNLINK,
			  .dfd1 = ctx->args[0], .p1 = ARG(1), .flags = ctx->args[2])
ENTER(rmdir) PATH_ARGS(.op = VIGIL_FIM_RMDIR, .p1 = ARG(0))
ENTER(mkdir) PATH_ARGS(.op = VIGIL_FIM_MKDIR, .p1 = ARG(0), .mode = ctx->args[1])
ENTER(mkdirat) PATH_ARGS(.op = VIGIL_FIM_MKDIR, .dfd1 = ctx->args[0], .p1 = ARG(1), .mode = ctx->args[2])
ENTER(rename) PATH_ARGS(.op = VIGIL_FIM_RENAME, .p1 = ARG(0), .p2 = ARG(1))
ENTER(renameat) PATH_ARGS(.op = VIGIL_FIM_RENAME, .dfd1 = ctx->args[0], .p1 = ARG(1),
			  .dfd2 = ctx->args[2], .p2 = ARG(3))
ENTER(renameat2) PATH_ARGS(.op = VIGIL_FIM_RENAME, .dfd1 = ctx->args[0], .p1 = ARG(1),
			   .dfd2 = ctx->args[2], .p2 = ARG(3), .flags = ctx->args[4])
ENTER(link) PATH_ARGS(.op = VIGIL_FIM_LINK, .p1 = ARG(0), .p2 = ARG(1))
ENTER(linkat) PATH_ARGS(.op = VIGIL_FIM_LINK, .dfd1 = ctx->args[0], .p1 = ARG(1),
			.dfd2 = ctx->args[2], .p2 = ARG(3), .flags = ctx->args[4])
ENTER(symlink) PATH_ARGS(.op = VIGIL_FIM_SYMLINK, .p1 = ARG(1), .p2 = ARG(0), .p2_verbatim = 1)
ENTER(symlinkat) PATH_ARGS(.op = VIGIL_FIM_SYMLINK, .p1 = ARG(2), .dfd1 = ctx->args[1],
			   .p2 = ARG(0), .p2_verbatim = 1)
ENTER(chmod) PATH_ARGS(.op = VIGIL_FIM_CHMOD, .p1 = ARG(0), .mode = ctx->args[1])
ENTER(fchmodat) PATH_ARGS(.op = VIGIL_FIM_CHMOD, .dfd1 = ctx->args[0], .p1 = ARG(1), .mode = ctx->args[2])
ENTER(fchmodat2) PATH_ARGS(.op = VIGIL_FIM_CHMOD, .dfd1 = ctx->args[0], .p1 = ARG(1),
			   .mode = ctx->args[2], .flags = ctx->args[3])
ENTER(fchmod) PATH_ARGS(.op = VIGIL_FIM_CHMOD, .fd = ctx->args[0], .mode = ctx->args[1])
ENTER(chown) PATH_ARGS(.op = VIGIL_FIM_CHOWN, .p1 = ARG(0), .uid = ctx->args[1], .gid = ctx->args[2])
ENTER(lchown) PATH_ARGS(.op = VIGIL_FIM_CHOWN, .p1 = ARG(0), .uid = ctx->args[1], .gid = ctx->args[2])
ENTER(fchownat) PATH_ARGS(.op = VIGIL_FIM_CHOWN, .dfd1 = ctx->args[0], .p1 = ARG(1),
			  .uid = ctx->args[2], .gid = ctx->args[3], .flags = ctx->args[4])
ENTER(fchown) PATH_ARGS(.op = VIGIL_FIM_CHOWN, .fd = ctx->args[0], .uid = ctx->args[1], .gid = ctx->args[2])
ENTER(truncate) PATH_ARGS(.op = VIGIL_FIM_TRUNCATE, .p1 = ARG(0))
ENTER(setxattr) PATH_ARGS(.op = VIGIL_FIM_SETXATTR, .p1 = ARG(0), .name = ARG(1))
ENTER(lsetxattr) PATH_ARGS(.op = VIGIL_FIM_SETXATTR, .p1 = ARG(0), .name = ARG(1))
ENTER(fsetxattr) PATH_ARGS(.op = VIGIL_FIM_SETXATTR, .fd = ctx->args[0], .name = ARG(1))
ENTER(removexattr) PATH_ARGS(.op = VIGIL_FIM_REMOVEXATTR, .p1 = ARG(0), .name = ARG(1))
ENTER(lremovexattr) PATH_ARGS(.op = VIGIL_FIM_REMOVEXATTR, .p1 = ARG(0), .name = ARG(1))
ENTER(fremovexattr) PATH_ARGS(.op = VIGIL_FIM_REMOVEXATTR, .fd = ctx->args[0], .name = ARG(1))

/*
 * Reports a path-based operation that succeeded (a syscall's exit) or is
 * about to run (an io_uring submission): the filters, the paths, then
 * who-data.
 */
static __always_inline int fim_path_emit(const struct fim_args *a, long ret, bool use_loop)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	bool kernel = a->kernel;
	struct vigil_fim_event *ev;
	__u32 off = 0, tree = 0;
	long n;

	/* Decide cheaply before any walk or who-data. */
	if (a->fd < 0 && !a->file && !fim_may_touch(a->dfd1, a->p1, kernel, task, use_loop) &&
	    !(a->p2 && !a->p2_verbatim && fim_may_touch(a->dfd2, a->p2, kernel, task, use_loop)))
		return 0;
	ev = fim_begin(a->op);
	if (!ev)
		return 0;
	ev->ret = ret;
	ev->flags = a->flags;
	ev->mode = a->mode;
	ev->arg_uid = a->uid;
	ev->arg_gid = a->gid;
	ev->via = a->via;

	if (a->fd >= 0 || a->file) {
		struct file *file = a->file ? a->file : vigil_fd_file(task, a->fd);
		bool walked = false;

		if (!file || !fim_file_tree(file, task, use_loop, &walked))
			return 0;
		off = fim_put_file(ev, file, task, use_loop, walked);
		tree = ev->tree;
	} else {
		off = fim_put_path(ev, 0, a->dfd1, a->p1, kernel, task, use_loop, &ev->path_flags,
				   &ev->path_base_len, &ev->path_arg_len, &tree, true);
	}
	if (a->p2) {
		if (a->p2_verbatim) {
			__u16 len = fim_put_str(ev, off, a->p2, kernel, &ev->path2_flags);

			ev->path2_arg_len = len;
			off += len;
		} else {
			off += fim_put_path(ev, off, a->dfd2, a->p2, kernel, task, use_loop, &ev->path2_flags,
					    &ev->path2_base_len, &ev->path2_arg_len, &tree, false);
		}
	}
	if (!tree)
		return 0;
	ev->tree = tree;
	if (a->name && FIM_ROOM(off)) {
		n = fim_read_str(&ev->data[off], VIGIL_XATTR_NAME_MAX, a->name, kernel);
		if (n > 0) {
			ev->name_len = n - 1;
			off += n - 1;
		}
	}
	/* A rename can move a subtree in or out of a watched tree. */
	if (a->op == VIGIL_FIM_RENAME) {
		struct vigil_fim_config *c = fim_cfg();

		if (c)
			__sync_fetch_and_add(&c->verdict_gen, 1);
	}
	return fim_finish(ev, off, task, use_loop);
}

static __always_inline int fim_path_exit(long ret, bool use_loop)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct fim_args *a = bpf_map_lookup_elem(&fim_inflight, &tid);

	if (!a)
		return 0;
	if (ret == 0)
		fim_path_emit(a, ret, use_loop);
	bpf_map_delete_elem(&fim_inflight, &tid);
	return 0;
}

/* Attached to the exit tracepoint of every syscall with an enter above. */
FIM_TP_FLAVOURS(fim_path_exit_all, struct trace_event_raw_sys_exit, fim_path_exit(ctx->ret, loop))

/* ---- io_uring requests (the tracepoint backend) ------------------------- */
/*
 * io_uring runs file operations without the syscalls above, so this
 * backend also looks at each request as it is submitted: after its
 * preparation, which copied its path strings into the kernel, and before
 * it runs. Like the LSM hooks, that is before the outcome: user space
 * confirms every change on disk. LSM and fentry hooks sit below io_uring
 * and see its requests as they see syscalls.
 */

/* Where registered ("fixed") files live: an array of tagged pointers up
 * to 6.12, resource nodes since 6.13. */
struct io_fixed_file___old {
	unsigned long file_ptr;
} __attribute__((preserve_access_index));
struct io_file_table___old {
	struct io_fixed_file___old *files;
} __attribute__((preserve_access_index));
struct io_rsrc_node___new {
	unsigned long file_ptr;
} __attribute__((preserve_access_index));
struct io_rsrc_data___new {
	unsigned int nr;
	struct io_rsrc_node___new **nodes;
} __attribute__((preserve_access_index));
struct io_file_table___new {
	struct io_rsrc_data___new data;
} __attribute__((preserve_access_index));
struct io_ring_ctx___old {
	struct io_file_table___old file_table;
	unsigned int nr_user_files;
} __attribute__((preserve_access_index));
struct io_ring_ctx___new {
	struct io_file_table___new file_table;
} __attribute__((preserve_access_index));

#define IO_REQ_F_FIXED_FILE_ 1ULL   /* IOSQE_FIXED_FILE, mirrored in req->flags */
#define IO_FFS_MASK_ (~7UL)         /* low bits of a fixed file pointer are flags */

/*
 * The file a request names. Before 5.19 preparation looked it up already;
 * since, the request holds its fd, or its slot among registered files.
 */
static __always_inline struct file *fim_io_file(struct io_kiocb *req, struct task_struct *task)
{
	unsigned long ptr = 0;
	__u64 flags;
	void *ctx;
	__s32 fd;

	if (!bpf_core_field_exists(req->cqe))
		return BPF_CORE_READ(req, file);
	fd = BPF_CORE_READ(req, cqe.fd);
	flags = BPF_CORE_READ_BITFIELD_PROBED(req, flags);
	if (!(flags & IO_REQ_F_FIXED_FILE_))
		return vigil_fd_file(task, fd);
	if (fd < 0)
		return NULL;
	ctx = BPF_CORE_READ(req, ctx);
	if (bpf_core_field_exists(((struct io_file_table___new *)0)->data)) {
		struct io_ring_ctx___new *c = ctx;
		struct io_rsrc_node___new *node = NULL;
		struct io_rsrc_node___new **nodes = BPF_CORE_READ(c, file_table.data.nodes);

		if ((__u32)fd >= BPF_CORE_READ(c, file_table.data.nr) || !nodes)
			return NULL;
		bpf_probe_read_kernel(&node, sizeof(node), &nodes[fd]);
		if (node)
			ptr = BPF_CORE_READ(node, file_ptr);
	} else {
		struct io_ring_ctx___old *c = ctx;
		struct io_fixed_file___old *files = BPF_CORE_READ(c, file_table.files);

		if ((__u32)fd >= BPF_CORE_READ(c, nr_user_files) || !files)
			return NULL;
		bpf_probe_read_kernel(&ptr, sizeof(ptr), &files[fd].file_ptr);
	}
	return (struct file *)(ptr & IO_FFS_MASK_);
}

static __always_inline const char *fim_io_name(struct filename *f)
{
	return f ? BPF_CORE_READ(f, name) : NULL;
}

/*
 * The start of the submission tracepoint's record: io_uring_submit_req
 * (6.4 and later) and io_uring_submit_sqe (before it; Debian's 5.10 too)
 * begin with the ring and the request. User space attaches where the
 * kernel's format file says `req` is at this offset.
 */
struct fim_io_uring_record {
	__u8 common[8];
	void *ring;
	struct io_kiocb *req;
};

static __always_inline int fim_io_uring_op(struct fim_io_uring_record *ctx, bool use_loop)
{
	struct io_kiocb *req = ctx->req;
	struct task_struct *task;
	struct fim_args a = {
		.dfd1 = VIGIL_AT_FDCWD,
		.dfd2 = VIGIL_AT_FDCWD,
		.fd = -1,
		.kernel = 1,
		.via = VIGIL_VIA_IO_URING,
	};
	/* The request's own data is its first member: `cmd` since 6.0, a
	 * union of per-operation structs before. */
	void *cmd = req;
	struct file *file;
	__u32 op = 0;
	__u8 opcode;

	if (!req)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	opcode = BPF_CORE_READ(req, opcode);
	if (opcode == IORING_OP_WRITE || opcode == IORING_OP_WRITEV || opcode == IORING_OP_WRITE_FIXED)
		op = VIGIL_FIM_WRITE;
	else if (opcode == IORING_OP_FALLOCATE || opcode == IORING_OP_FTRUNCATE)
		op = VIGIL_FIM_TRUNCATE;
	if (op) {
		file = fim_io_file(req, task);
		return file ? fim_file_op(op, file, VIGIL_BACKEND_TRACEPOINT, use_loop, false, VIGIL_VIA_IO_URING)
			    : 0;
	}
	/* fim_file_op checks this itself; path operations check it here. */
	if (fim_is_agent())
		return 0;
	switch (opcode) {
	case IORING_OP_OPENAT:
	case IORING_OP_OPENAT2: {
		struct io_open *o = cmd;

		/* Kernels without the operation lack its type too. */
		if (!bpf_core_type_exists(struct io_open))
			return 0;

		a.flags = BPF_CORE_READ(o, how.flags);
		if (!fim_write_intent(a.flags))
			return 0;
		a.op = VIGIL_FIM_OPEN_WRITE;
		a.mode = BPF_CORE_READ(o, how.mode);
		a.dfd1 = BPF_CORE_READ(o, dfd);
		a.p1 = fim_io_name(BPF_CORE_READ(o, filename));
		break;
	}
	case IORING_OP_RENAMEAT: {
		struct io_rename *r = cmd;

		if (!bpf_core_type_exists(struct io_rename))
			return 0;

		a.op = VIGIL_FIM_RENAME;
		a.dfd1 = BPF_CORE_READ(r, old_dfd);
		a.p1 = fim_io_name(BPF_CORE_READ(r, oldpath));
		a.dfd2 = BPF_CORE_READ(r, new_dfd);
		a.p2 = fim_io_name(BPF_CORE_READ(r, newpath));
		a.flags = BPF_CORE_READ(r, flags);
		break;
	}
	case IORING_OP_UNLINKAT: {
		struct io_unlink *u = cmd;

		if (!bpf_core_type_exists(struct io_unlink))
			return 0;

		a.flags = BPF_CORE_READ(u, flags);
		a.op = (a.flags & AT_REMOVEDIR_) ? VIGIL_FIM_RMDIR : VIGIL_FIM_UNLINK;
		a.dfd1 = BPF_CORE_READ(u, dfd);
		a.p1 = fim_io_name(BPF_CORE_READ(u, filename));
		break;
	}
	case IORING_OP_MKDIRAT: {
		struct io_mkdir *m = cmd;

		if (!bpf_core_type_exists(struct io_mkdir))
			return 0;

		a.op = VIGIL_FIM_MKDIR;
		a.mode = BPF_CORE_READ(m, mode);
		a.dfd1 = BPF_CORE_READ(m, dfd);
		a.p1 = fim_io_name(BPF_CORE_READ(m, filename));
		break;
	}
	case IORING_OP_SYMLINKAT: {
		struct io_link *l = cmd;

		if (!bpf_core_type_exists(struct io_link))
			return 0;

		a.op = VIGIL_FIM_SYMLINK;
		a.dfd1 = BPF_CORE_READ(l, new_dfd);
		a.p1 = fim_io_name(BPF_CORE_READ(l, newpath));
		a.p2 = fim_io_name(BPF_CORE_READ(l, oldpath));
		a.p2_verbatim = 1;
		break;
	}
	case IORING_OP_LINKAT: {
		struct io_link *l = cmd;

		if (!bpf_core_type_exists(struct io_link))
			return 0;

		a.op = VIGIL_FIM_LINK;
		a.dfd1 = BPF_CORE_READ(l, old_dfd);
		a.p1 = fim_io_name(BPF_CORE_READ(l, oldpath));
		a.dfd2 = BPF_CORE_READ(l, new_dfd);
		a.p2 = fim_io_name(BPF_CORE_READ(l, newpath));
		a.flags = BPF_CORE_READ(l, flags);
		break;
	}
	case IORING_OP_FSETXATTR:
	case IORING_OP_SETXATTR: {
		struct io_xattr *x = cmd;

		if (!bpf_core_type_exists(struct io_xattr))
			return 0;
		struct xattr_name *kname = BPF_CORE_READ(x, ctx.kname);

		a.op = VIGIL_FIM_SETXATTR;
		if (kname)
			a.name = __builtin_preserve_access_index(&kname->name[0]);
		if (opcode == IORING_OP_SETXATTR) {
			a.p1 = fim_io_name(BPF_CORE_READ(x, filename));
		} else {
			a.file = fim_io_file(req, task);
			if (!a.file)
				return 0;
		}
		break;
	}
	default:
		return 0;
	}
	if (!a.p1 && !a.file)
		return 0;
	return fim_path_emit(&a, 0, use_loop);
}

/* Attached to io_uring/io_uring_submit_req or io_uring/io_uring_submit_sqe. */
FIM_TP_FLAVOURS(fim_io_uring, struct fim_io_uring_record, fim_io_uring_op(ctx, loop))

/* ---- LSM and fentry backends ------------------------------------------- */
/*
 * The same hooks serve both: BPF LSM attaches to the security hook itself,
 * fentry to the security_*() function that calls it. They see kernel
 * objects (struct path, dentry, file) rather than strings, so the watched
 * filter is exact for every operation, and they run before the operation:
 * user space confirms on disk before it reports anything.
 */

#define MAY_WRITE_ 2
#define FMODE_WRITE_ 0x2

/* Puts "directory + entry name" (the name as the base's argument). */
static __always_inline __u32 fim_put_entry(struct vigil_fim_event *ev, __u32 off, const struct path *dir,
					   struct dentry *dentry, struct task_struct *task, bool use_loop,
					   __u16 *flags, __u16 *base_len, __u16 *arg_len, bool first)
{
	struct vigil_walk *w = vigil_walk_path(dir, task, use_loop);
	const unsigned char *name;
	__u32 blen = 0, nlen;

	if (w) {
		blen = fim_put_walk(ev, off, w);
		*flags |= w->flags | VIGIL_PATH_BASE_DIRFD;
		if (w->tree && !ev->tree) {
			ev->tree = w->tree;
			if (first)
				ev->tree_off = blen - (VIGIL_PATH_MAX - w->tree_pos);
		}
	} else {
		*flags |= VIGIL_PATH_UNRESOLVED;
	}
	off += blen;
	nlen = BPF_CORE_READ(dentry, d_name.len);
	name = BPF_CORE_READ(dentry, d_name.name);
	if (!FIM_ROOM(off) || nlen > VIGIL_NAME_MAX)
		nlen = 0;
	else
		bpf_probe_read_kernel(&ev->data[off], nlen & VIGIL_NAME_MAX, name);
	*base_len = blen;
	*arg_len = nlen;
	return blen + nlen;
}

/* unlink, rmdir, mkdir: one entry of a directory. */
static __always_inline int fim_entry_op(__u32 op, const struct path *dir, struct dentry *dentry, __u32 mode,
					__u16 backend, bool use_loop)
{
	struct task_struct *task;
	struct vigil_fim_event *ev;
	__u32 off;

	if (fim_is_agent())
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	if (!fim_path_tree(dir, task, use_loop))
		return 0;
	ev = fim_begin(op);
	if (!ev)
		return 0;
	ev->backend = backend;
	ev->mode = mode;
	off = fim_put_entry(ev, 0, dir, dentry, task, use_loop, &ev->path_flags, &ev->path_base_len,
			    &ev->path_arg_len, true);
	return fim_finish(ev, off, task, use_loop);
}

static __always_inline int fim_rename_op(const struct path *old_dir, struct dentry *old_dentry,
					 const struct path *new_dir, struct dentry *new_dentry, __u32 flags,
					 __u16 backend, bool use_loop)
{
	struct vigil_fim_config *c;
	struct task_struct *task;
	struct vigil_fim_event *ev;
	__u32 off;

	if (fim_is_agent())
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	/* Either side in a tree: a file moving out is a deletion there. */
	if (!fim_path_tree(old_dir, task, use_loop) && !fim_path_tree(new_dir, task, use_loop))
		return 0;
	c = fim_cfg();
	if (c)
		__sync_fetch_and_add(&c->verdict_gen, 1);
	ev = fim_begin(VIGIL_FIM_RENAME);
	if (!ev)
		return 0;
	ev->backend = backend;
	ev->flags = flags;
	off = fim_put_entry(ev, 0, old_dir, old_dentry, task, use_loop, &ev->path_flags, &ev->path_base_len,
			    &ev->path_arg_len, true);
	off += fim_put_entry(ev, off, new_dir, new_dentry, task, use_loop, &ev->path2_flags,
			     &ev->path2_base_len, &ev->path2_arg_len, false);
	return fim_finish(ev, off, task, use_loop);
}

/* A hard link: path is the existing file, path2 the new name. */
static __always_inline int fim_link_op(struct dentry *old_dentry, const struct path *new_dir,
				       struct dentry *new_dentry, __u16 backend, bool use_loop)
{
	struct task_struct *task;
	struct vigil_fim_event *ev;
	struct path existing = {};
	__u32 off;

	if (fim_is_agent())
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	if (!fim_path_tree(new_dir, task, use_loop))
		return 0;
	ev = fim_begin(VIGIL_FIM_LINK);
	if (!ev)
		return 0;
	ev->backend = backend;
	/* Links never cross mounts: the existing file is on new_dir's. */
	existing.mnt = BPF_CORE_READ(new_dir, mnt);
	existing.dentry = old_dentry;
	off = fim_put_whole(ev, &existing, task, use_loop, false);
	off += fim_put_entry(ev, off, new_dir, new_dentry, task, use_loop, &ev->path2_flags,
			     &ev->path2_base_len, &ev->path2_arg_len, false);
	return fim_finish(ev, off, task, use_loop);
}

static __always_inline int fim_symlink_op(const struct path *dir, struct dentry *dentry, const char *target,
					  __u16 backend, bool use_loop)
{
	struct task_struct *task;
	struct vigil_fim_event *ev;
	__u32 off;
	long n;

	if (fim_is_agent())
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	if (!fim_path_tree(dir, task, use_loop))
		return 0;
	ev = fim_begin(VIGIL_FIM_SYMLINK);
	if (!ev)
		return 0;
	ev->backend = backend;
	off = fim_put_entry(ev, 0, dir, dentry, task, use_loop, &ev->path_flags, &ev->path_base_len,
			    &ev->path_arg_len, true);
	if (FIM_ROOM(off)) {
		n = bpf_probe_read_kernel_str(&ev->data[off], VIGIL_PATH_MAX, target);
		if (n > 0) {
			ev->path2_arg_len = n - 1;
			off += n - 1;
		}
	}
	return fim_finish(ev, off, task, use_loop);
}

/* chmod, chown, truncate: a whole path. */
static __always_inline int fim_path_op(__u32 op, const struct path *path, __u32 mode, __u32 uid, __u32 gid,
				       __u16 backend, bool use_loop)
{
	struct task_struct *task;
	struct vigil_fim_event *ev;
	__u32 off;

	if (fim_is_agent())
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	if (!fim_path_tree(path, task, use_loop))
		return 0;
	ev = fim_begin(op);
	if (!ev)
		return 0;
	ev->backend = backend;
	ev->mode = mode;
	ev->arg_uid = uid;
	ev->arg_gid = gid;
	off = fim_put_whole(ev, path, task, use_loop, false);
	return fim_finish(ev, off, task, use_loop);
}

/* One program: `be` and `loop` are what `call` sees. */
#define FIM_HOOK_ONE(sec, name, backend, use_loop, call, ...)                                    \
	SEC(sec)                                                                                 \
	int BPF_PROG(name, __VA_ARGS__)                                                          \
	{                                                                                        \
		const __u16 be = backend;                                                        \
		const bool loop = use_loop;                                                      \
		call;                                                                            \
		return 0;                                                                        \
	}

/*
 * Four programs per hook: LSM and fentry, each with a bpf_loop flavour
 * and a `_legacy` one (the loader keeps what the kernel supports).
 */
#define FIM_HOOK(hook, call, ...)                                                                \
	FIM_HOOK_ONE("lsm/" #hook, fim_lsm_##hook, VIGIL_BACKEND_LSM, true, call, __VA_ARGS__)   \
	FIM_HOOK_ONE("lsm/" #hook, fim_lsm_##hook##_legacy, VIGIL_BACKEND_LSM, false, call,      \
		     __VA_ARGS__)                                                                \
	FIM_HOOK_ONE("fentry/security_" #hook, fim_fentry_##hook, VIGIL_BACKEND_FENTRY, true,    \
		     call, __VA_ARGS__)                                                          \
	FIM_HOOK_ONE("fentry/security_" #hook, fim_fentry_##hook##_legacy, VIGIL_BACKEND_FENTRY, \
		     false, call, __VA_ARGS__)

FIM_HOOK(file_open,
	 if (BPF_CORE_READ(file, f_mode) & FMODE_WRITE_)
		 fim_file_op(VIGIL_FIM_OPEN_WRITE, file, be, loop, loop, VIGIL_VIA_SYSCALL),
	 struct file *file)
FIM_HOOK(file_permission,
	 if (mask & MAY_WRITE_)
		 fim_file_op(VIGIL_FIM_WRITE, file, be, loop, false, VIGIL_VIA_SYSCALL),
	 struct file *file, int mask)
FIM_HOOK(file_truncate, fim_file_op(VIGIL_FIM_TRUNCATE, file, be, loop, false, VIGIL_VIA_SYSCALL),
	 struct file *file)
FIM_HOOK(path_truncate, fim_path_op(VIGIL_FIM_TRUNCATE, path, 0, 0, 0, be, loop), const struct path *path)
FIM_HOOK(path_unlink, fim_entry_op(VIGIL_FIM_UNLINK, dir, dentry, 0, be, loop), const struct path *dir,
	 struct dentry *dentry)
FIM_HOOK(path_rmdir, fim_entry_op(VIGIL_FIM_RMDIR, dir, dentry, 0, be, loop), const struct path *dir,
	 struct dentry *dentry)
FIM_HOOK(path_mkdir, fim_entry_op(VIGIL_FIM_MKDIR, dir, dentry, mode, be, loop), const struct path *dir,
	 struct dentry *dentry, umode_t mode)
FIM_HOOK(path_rename, fim_rename_op(old_dir, old_dentry, new_dir, new_dentry, flags, be, loop),
	 const struct path *old_dir, struct dentry *old_dentry, const struct path *new_dir,
	 struct dentry *new_dentry, unsigned int flags)
FIM_HOOK(path_link, fim_link_op(old_dentry, new_dir, new_dentry, be, loop), struct dentry *old_dentry,
	 const struct path *new_dir, struct dentry *new_dentry)
FIM_HOOK(path_symlink, fim_symlink_op(dir, dentry, old_name, be, loop), const struct path *dir,
	 struct dentry *dentry, const char *old_name)
FIM_HOOK(path_chmod, fim_path_op(VIGIL_FIM_CHMOD, path, mode, 0, 0, be, loop), const struct path *path,
	 umode_t mode)
FIM_HOOK(path_chown, fim_path_op(VIGIL_FIM_CHOWN, path, 0, uid, gid, be, loop), const struct path *path,
	 __u32 uid, __u32 gid)
