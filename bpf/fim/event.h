/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Event assembly, shared by every backend: the record, its paths (a
 * kernel-resolved base and the caller's string), who-data, and the ring
 * buffer. fim_file_op reports a file written or truncated, fim_path_emit
 * a path-based operation; each hook family only finds its arguments.
 * Repeated writes to one file by one process merge here, within
 * dedupe_ms (the count travels in `suppressed`).
 */
#ifndef VIGIL_FIM_EVENT_H
#define VIGIL_FIM_EVENT_H

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
	ev->leaf_lo = VIGIL_FIM_LEAF_NONE;
	ev->leaf_hi = VIGIL_FIM_LEAF_NONE;
	ev->_pad = 0;
	return ev;
}

static __always_inline __u32 fim_put_walk(struct vigil_fim_event *ev, __u32 off, struct vigil_walk *w)
{
	if (!w || !FIM_ROOM(off))
		return 0;
	return vigil_walk_copy(w, &ev->data[off]);
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
		/* The tree and its offset describe the first path: a second path
		 * in a tree only makes the event a candidate, placed by user space
		 * from its strings (a move into a tree). */
		if (w->tree && first && (!*tree || *tree == (__u32)-1)) {
			*tree = w->tree;
			ev->tree_off = blen - (VIGIL_PATH_MAX - w->tree_pos);
		} else if (w->tree && !*tree) {
			*tree = (__u32)-1;
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
	struct vigil_fim_config *c = fim_cfg();
	struct fim_who now = {
		.exe = (__u64)exe,
		.pwd_dentry = (__u64)BPF_CORE_READ(fs, pwd.dentry),
		.pwd_mnt = (__u64)BPF_CORE_READ(fs, pwd.mnt),
		.rename_gen = c ? c->rename_gen : 0,
	};
	__u32 tgid = ev->hdr.pid;
	struct fim_who *known;
	struct vigil_walk *w;
	__u32 len;
	int err;

	vigil_who_ids(ev, task);
	known = bpf_map_lookup_elem(&fim_who, &tgid);
	if (known && known->exe == now.exe && known->pwd_dentry == now.pwd_dentry &&
	    known->pwd_mnt == now.pwd_mnt && known->rename_gen == now.rename_gen) {
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

/* The leaves a write may touch (VIGIL_FIM_LEAF_NONE: not known). */
struct fim_span {
	__u32 lo;
	__u32 hi;
};

#define FIM_SPAN_UNKNOWN ((struct fim_span){ VIGIL_FIM_LEAF_NONE, VIGIL_FIM_LEAF_NONE })

/* From byte `pos` for `len` bytes; len < 0: to the end of the file. */
static __always_inline struct fim_span fim_span_at(__s64 pos, __s64 len)
{
	struct fim_span s = { (__u32)(pos >> VIGIL_FIM_LEAF_SHIFT), VIGIL_FIM_LEAF_NONE };

	if (len >= 0)
		s.hi = (__u32)((pos + (len > 0 ? len - 1 : 0)) >> VIGIL_FIM_LEAF_SHIFT);
	return s;
}

/*
 * Merges repeated writes of one file by one process. Returns -1 to drop
 * this one, else how many were merged into it. Runs before any event
 * assembly: on a write burst it is the whole cost.
 */
static __always_inline long fim_dedupe(struct file *file, __u32 op, const struct fim_span *span)
{
	struct vigil_fim_config *c = fim_cfg();
	struct fim_recent_key k = {
		.inode = (__u64)BPF_CORE_READ(file, f_inode),
		.tgid = bpf_get_current_pid_tgid() >> 32,
		.op = op,
		.leaf_lo = span->lo,
		.leaf_hi = span->hi,
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
 * the kernel allows the helper. `span`: where a write lands, when known.
 */
static __always_inline int fim_file_op_at(__u32 op, struct file *file, __u16 backend, bool use_loop, bool dpath,
					  __u16 via, struct fim_span span)
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
	if ((op == VIGIL_FIM_WRITE || op == VIGIL_FIM_APPEND) && (merged = fim_dedupe(file, op, &span)) < 0)
		return 0;
	ev = fim_begin(op);
	if (!ev)
		return 0;
	ev->suppressed = merged;
	ev->leaf_lo = span.lo;
	ev->leaf_hi = span.hi;
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

static __always_inline int fim_file_op(__u32 op, struct file *file, __u16 backend, bool use_loop, bool dpath,
				       __u16 via)
{
	return fim_file_op_at(op, file, backend, use_loop, dpath, via, FIM_SPAN_UNKNOWN);
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

/* Opened with intent to change the file. */
static __always_inline bool fim_write_intent(__u64 flags)
{
	return flags & (VIGIL_O_WRONLY | VIGIL_O_RDWR | VIGIL_O_TRUNC | VIGIL_O_CREAT);
}

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

	if (a->op == VIGIL_FIM_RENAME)
		fim_renamed_somewhere();
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

#endif /* VIGIL_FIM_EVENT_H */
