/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The LSM and fentry backends: the kernel's security hooks, with kernel
 * objects instead of strings, before the operation runs.
 */
#ifndef VIGIL_FIM_SECURITY_HOOKS_H
#define VIGIL_FIM_SECURITY_HOOKS_H

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
		/* As for syscall paths: the tree describes the first path; a
		 * second in a tree only makes the event a candidate. */
		if (w->tree && first && !ev->tree) {
			ev->tree = w->tree;
			ev->tree_off = blen - (VIGIL_PATH_MAX - w->tree_pos);
		} else if (w->tree && !ev->tree) {
			ev->tree = (__u32)-1;
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

	fim_renamed_somewhere();
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
FIM_HOOK(file_ioctl,
	 if (fim_setflags_cmd(cmd))
		 fim_file_op(VIGIL_FIM_SETFLAGS, file, be, loop, false, VIGIL_VIA_SYSCALL),
	 struct file *file, unsigned int cmd, unsigned long arg)
/* 32-bit ioctls since 6.8 (and stable kernels with the backport). */
FIM_HOOK(file_ioctl_compat,
	 if (fim_setflags_cmd(cmd))
		 fim_file_op(VIGIL_FIM_SETFLAGS, file, be, loop, false, VIGIL_VIA_SYSCALL),
	 struct file *file, unsigned int cmd, unsigned long arg)
FIM_HOOK(path_chown, fim_path_op(VIGIL_FIM_CHOWN, path, 0, uid, gid, be, loop), const struct path *path,
	 __u32 uid, __u32 gid)

#endif /* VIGIL_FIM_SECURITY_HOOKS_H */
