/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Is it under a watched tree? Trees are identified by dentry, not by
 * string: the agent opens each tree root and fim_register records the
 * dentry it opened. A path walk checks each dentry it passes against that
 * set, so the filter is exact through bind mounts, subvolumes and mount
 * namespaces. Cheap paths for activity outside the trees: a verdict cache
 * per (parent dentry, mount), expired by renames; and, for a path string
 * not yet resolved, a prefix filter on the string itself.
 */
#ifndef VIGIL_FIM_TREES_H
#define VIGIL_FIM_TREES_H

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

/* The watched tree of `file`: cached per (parent dentry, mount). */
static __always_inline __u32 fim_file_tree(struct file *file, struct task_struct *task, bool use_loop,
					   bool *walked)
{
	return fim_tree_of(__builtin_preserve_access_index(&file->f_path), true, task, use_loop, walked);
}

#endif /* VIGIL_FIM_TREES_H */
