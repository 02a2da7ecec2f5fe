/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The mount-aware path walk shared by every backend.
 *
 * Walking dentries up to the superblock root gives the path inside the
 * filesystem, not the one a user types: on btrfs mounted with subvol=/root
 * that yields /root/home/... for /home/....  This walk follows the dentry
 * and the mount together, like the kernel's prepend_path(): at a mount's
 * root it jumps to the mountpoint in the parent mount, and it stops at the
 * task's root, so bind mounts, subvolumes, overlayfs, chroots and mount
 * namespaces all give the path the process itself sees.
 *
 * The path is built backwards into a per-CPU buffer: it ends at
 * buf[VIGIL_PATH_MAX] and starts at buf[pos].  A path that does not fit is
 * cut at a component boundary and flagged VIGIL_PATH_TRUNCATED; it never
 * starts with '/' then, so it cannot be mistaken for a whole path. Where
 * the caller visits dentries (FIM's tree check), the walk goes on to the
 * root past the cut, so a file deeper than PATH_MAX is still known to be
 * in its watched tree.
 *
 * Two loop drivers share one step function: bpf_loop() (5.17+) and, for
 * older kernels, a bounded loop over a global subprogram, which the
 * verifier checks once rather than once per iteration.
 */
#ifndef VIGIL_PATH_H
#define VIGIL_PATH_H

#include "abi.h"

/* Each component costs at least two bytes ("/x"); mount crossings are extra. */
#define VIGIL_WALK_MAX_STEPS (VIGIL_PATH_MAX / 2 + 64)

/*
 * Called with every dentry the walk passes, mount roots and the final root
 * included. FIM defines it to check each against its watched trees, so
 * the in-kernel filter costs no second walk.
 */
#ifndef VIGIL_WALK_VISIT
#define VIGIL_WALK_VISIT(w, d)
#define VIGIL_WALK_VISITS 0
#else
#define VIGIL_WALK_VISITS 1
#endif
#define VIGIL_WALK_LEGACY_STEPS 256

struct vigil_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 pos;
	__u32 flags;
	__u32 tree;     /* set by VIGIL_WALK_VISIT: the watched tree passed */
	__u32 tree_pos; /* pos when that tree's root was passed */
	/* NAME_MAX + 1 of slack lets the verifier bound a copy at any pos. */
	char buf[VIGIL_PATH_MAX + VIGIL_NAME_MAX + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_walk);
} vigil_walk_state SEC(".maps");

static __always_inline struct mount *vigil_real_mount(struct vfsmount *vfsmnt)
{
	return (struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
}

static __always_inline struct vfsmount *vigil_vfsmount(struct mount *mnt)
{
	return (struct vfsmount *)((void *)mnt + bpf_core_field_offset(struct mount, mnt));
}

/* One step up the tree.  Returns 1 when the walk is over. */
static __always_inline long vigil_walk_step(struct vigil_walk *w)
{
	struct dentry *d = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct dentry *mnt_root, *parent;
	const unsigned char *name;
	__u32 len, pos;

	if (!d)
		return 1;
	VIGIL_WALK_VISIT(w, d);
	if (d == w->root_dentry && vfsmnt == w->root_mnt)
		return 1;

	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	parent = BPF_CORE_READ(d, d_parent);
	if (d == mnt_root || d == parent) {
		struct mount *m = w->mnt;
		struct mount *mp = BPF_CORE_READ(m, mnt_parent);

		/* A filesystem root that is no mount root, or the top of the
		 * namespace without meeting the task's root: the path is not
		 * reachable from the task's root (lazy unmount, fd from outside
		 * a chroot).  Report what was walked, flagged. */
		if (d != mnt_root || m == mp || !mp) {
			w->flags |= VIGIL_PATH_DISCONNECTED;
			return 1;
		}
		w->dentry = BPF_CORE_READ(m, mnt_mountpoint);
		w->mnt = mp;
		w->vfsmnt = vigil_vfsmount(mp);
		return 0;
	}

	if (w->flags & VIGIL_PATH_TRUNCATED) {
		/* The buffer is full: only the visits still need the walk. */
		w->dentry = parent;
		return 0;
	}
	len = BPF_CORE_READ(d, d_name.len);
	name = BPF_CORE_READ(d, d_name.name);
	pos = w->pos;
	/* Keep at least one byte free so a full path is at most PATH_MAX-1. */
	if (len > VIGIL_NAME_MAX || len + 1 >= pos) {
		w->flags |= VIGIL_PATH_TRUNCATED;
		if (!VIGIL_WALK_VISITS)
			return 1;
		w->dentry = parent;
		return 0;
	}
	pos -= len;
	pos &= VIGIL_PATH_MAX - 1;
	barrier_var(pos);
	bpf_probe_read_kernel(&w->buf[pos], len & VIGIL_NAME_MAX, name);
	pos -= 1;
	pos &= VIGIL_PATH_MAX - 1;
	barrier_var(pos);
	w->buf[pos] = '/';
	w->pos = pos;
	w->dentry = parent;
	return 0;
}

static __always_inline struct vigil_walk *vigil_walk_state_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vigil_walk_state, &zero);
}

static long vigil_walk_loop_cb(__u32 i, void *ctx)
{
	struct vigil_walk *w = vigil_walk_state_get();

	if (!w)
		return 1;
	return vigil_walk_step(w);
}

/* Global: verified once, so the bounded loop below stays cheap to verify. */
__noinline long vigil_walk_step_global(void)
{
	struct vigil_walk *w = vigil_walk_state_get();

	if (!w)
		return 1;
	return vigil_walk_step(w);
}

/*
 * Resolve `path` (a kernel struct path *) as seen from `task`.  On return,
 * the path is w->buf[w->pos .. VIGIL_PATH_MAX).  `use_bpf_loop` must be a
 * compile-time constant: each program is built in both flavours and the
 * loader keeps the one the running kernel supports.
 */
static __always_inline struct vigil_walk *
vigil_walk_path(const struct path *path, struct task_struct *task, bool use_bpf_loop)
{
	struct vigil_walk *w = vigil_walk_state_get();
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	int i;

	if (!w)
		return NULL;
	dentry = BPF_CORE_READ(path, dentry);
	vfsmnt = BPF_CORE_READ(path, mnt);
	w->dentry = dentry;
	w->vfsmnt = vfsmnt;
	w->mnt = vigil_real_mount(vfsmnt);
	w->root_dentry = BPF_CORE_READ(task, fs, root.dentry);
	w->root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	w->pos = VIGIL_PATH_MAX;
	w->flags = 0;
	w->tree = 0;
	w->tree_pos = VIGIL_PATH_MAX;
	if (!dentry || !vfsmnt) {
		w->flags |= VIGIL_PATH_UNRESOLVED;
		return w;
	}
	/* d_unhashed() on a non-root dentry: the file was unlinked. */
	if (!BPF_CORE_READ(dentry, d_hash.pprev) && BPF_CORE_READ(dentry, d_parent) != dentry)
		w->flags |= VIGIL_PATH_DELETED;

	if (use_bpf_loop) {
		if (bpf_loop(VIGIL_WALK_MAX_STEPS, vigil_walk_loop_cb, NULL, 0) ==
		    VIGIL_WALK_MAX_STEPS)
			w->flags |= VIGIL_PATH_TRUNCATED;
	} else {
		for (i = 0; i < VIGIL_WALK_LEGACY_STEPS; i++)
			if (vigil_walk_step_global())
				break;
		if (i == VIGIL_WALK_LEGACY_STEPS)
			w->flags |= VIGIL_PATH_TRUNCATED;
	}
	/* A cut path starts at a component, never at '/'. */
	if ((w->flags & VIGIL_PATH_TRUNCATED) && w->pos < VIGIL_PATH_MAX)
		w->pos += 1;
	/* Nothing prepended: the path is the root itself. */
	if (w->pos == VIGIL_PATH_MAX && !(w->flags & VIGIL_PATH_TRUNCATED)) {
		w->pos = VIGIL_PATH_MAX - 1;
		w->buf[VIGIL_PATH_MAX - 1] = '/';
	}
	return w;
}

/* The struct file * behind descriptor `fd` of `task`, or NULL. */
static __always_inline struct file *vigil_fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/*
 * Copy the walked path into `dst` (room for VIGIL_PATH_MAX bytes).
 * Returns the number of bytes copied.
 */
static __always_inline __u32 vigil_walk_copy(struct vigil_walk *w, void *dst)
{
	__u32 pos = w->pos;
	__u32 len;

	if (pos >= VIGIL_PATH_MAX)
		return 0;
	len = VIGIL_PATH_MAX - pos;
	pos &= VIGIL_PATH_MAX - 1;
	barrier_var(pos);
	len &= VIGIL_PATH_MAX - 1;
	bpf_probe_read_kernel(dst, len, &w->buf[pos]);
	return len;
}

#endif /* VIGIL_PATH_H */
