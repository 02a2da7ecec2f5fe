/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The tracepoint backend: syscall tracepoints, available on every
 * kernel. fd-based writes are seen at entry; path-based operations are
 * resolved only once they have succeeded, at exit: each enter program
 * saves which operation it is, and one exit program serves them all
 * (user space attaches it to each exit tracepoint).
 */
#ifndef VIGIL_FIM_SYSCALLS_H
#define VIGIL_FIM_SYSCALLS_H

/* ---- fd-based content changes (at entry) ------------------------------ */

static __always_inline int fim_fd_op(long fd, __u32 op, bool use_loop)
{
	struct file *file = vigil_fd_file((struct task_struct *)bpf_get_current_task(), fd);

	return file ? fim_file_op(op, file, VIGIL_BACKEND_TRACEPOINT, use_loop, false, VIGIL_VIA_SYSCALL) : 0;
}

/*
 * Where a write lands, as far as it is certain at entry whatever runs
 * concurrently. VIGIL_FIM_APPEND: never inside the file's old bytes
 * (O_APPEND, whose clearing is itself reported, see fim_setfl; an explicit
 * position at or past the end, a truncate below it being reported on its
 * own; RWF_APPEND): user space hashes only the new bytes. The span: the
 * leaves an explicit position (and length) touch, for trees that rehash
 * leaves. The file position of a plain write() is never used: another
 * thread sharing the file can lseek() it after this runs.
 */
#define VIGIL_O_APPEND 02000
#define RWF_APPEND_ 0x10
#define F_SETFL_ 4

/*
 * pos < 0: no position of its own (write(), pwritev2 with -1: the file's).
 * len < 0: not known (vectored). O_APPEND or `append` (RWF_APPEND) win
 * over any position: the kernel writes at the end.
 */
static __always_inline int fim_write_at(long fd, __s64 pos, __s64 len, bool append, bool use_loop)
{
	struct file *file = vigil_fd_file((struct task_struct *)bpf_get_current_task(), fd);
	struct fim_span span = FIM_SPAN_UNKNOWN;
	__s64 size;

	if (!file)
		return 0;
	size = BPF_CORE_READ(file, f_inode, i_size);
	if (append || (BPF_CORE_READ(file, f_flags) & VIGIL_O_APPEND)) {
		span = fim_span_at(size, -1);
		append = true;
	} else if (pos >= 0) {
		/* 64-bit arguments: every architecture these objects are built for. */
		span = fim_span_at(pos, len);
		append = pos >= size;
	}
	return fim_file_op_at(append ? VIGIL_FIM_APPEND : VIGIL_FIM_WRITE, file, VIGIL_BACKEND_TRACEPOINT, use_loop,
			      false, VIGIL_VIA_SYSCALL, span);
}

/* Attached by user space to sys_enter_{write,writev}: at the file position. */
FIM_TP_FLAVOURS(fim_write, struct trace_event_raw_sys_enter, fim_write_at(ctx->args[0], -1, -1, false, loop))

/* Attached to sys_enter_pwrite64: args[2] bytes at args[3]. */
FIM_TP_FLAVOURS(fim_pwrite, struct trace_event_raw_sys_enter,
		fim_write_at(ctx->args[0], (__s64)ctx->args[3], (__s64)ctx->args[2], false, loop))

/* Attached to sys_enter_pwritev: at args[3], for a length in the iovecs. */
FIM_TP_FLAVOURS(fim_pwritev, struct trace_event_raw_sys_enter,
		fim_write_at(ctx->args[0], (__s64)ctx->args[3], -1, false, loop))

/* Attached to sys_enter_pwritev2: at args[3], or appending with RWF_APPEND. */
FIM_TP_FLAVOURS(fim_pwritev2, struct trace_event_raw_sys_enter,
		fim_write_at(ctx->args[0], (__s64)ctx->args[3], -1, ctx->args[5] & RWF_APPEND_, loop))

/* Attached to sys_enter_sendfile64: the file written is args[0], at its position. */
FIM_TP_FLAVOURS(fim_write_any, struct trace_event_raw_sys_enter, fim_fd_op(ctx->args[0], VIGIL_FIM_WRITE, loop))

/*
 * Attached to sys_enter_fcntl: O_APPEND cleared on a watched file. Writes
 * after it may land anywhere, and one already past its entry hook may not
 * have landed yet: the path is reported as written, so user space hashes
 * it whole.
 */
static __always_inline int fim_setfl_op(struct trace_event_raw_sys_enter *ctx, bool use_loop)
{
	struct file *file;

	if (ctx->args[1] != F_SETFL_ || (ctx->args[2] & VIGIL_O_APPEND))
		return 0;
	file = vigil_fd_file((struct task_struct *)bpf_get_current_task(), ctx->args[0]);
	if (!file || !(BPF_CORE_READ(file, f_flags) & VIGIL_O_APPEND))
		return 0;
	return fim_file_op(VIGIL_FIM_WRITE, file, VIGIL_BACKEND_TRACEPOINT, use_loop, false, VIGIL_VIA_SYSCALL);
}

FIM_TP_FLAVOURS(fim_setfl, struct trace_event_raw_sys_enter, fim_setfl_op(ctx, loop))

/* Attached to sys_enter_{copy_file_range,splice}: the file written is args[2]. */
FIM_TP_FLAVOURS(fim_write_out, struct trace_event_raw_sys_enter, fim_fd_op(ctx->args[2], VIGIL_FIM_WRITE, loop))

/* Attached to sys_enter_ioctl: inode flags set (every other ioctl leaves). */
FIM_TP_FLAVOURS(fim_setflags, struct trace_event_raw_sys_enter,
		fim_setflags_cmd(ctx->args[1]) ? fim_fd_op(ctx->args[0], VIGIL_FIM_SETFLAGS, loop) : 0)

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
static __always_inline bool fim_open_wanted(__u64 flags)
{
	if (!fim_write_intent(flags) || fim_is_agent())
		return false;
	/* As in fim_save: a 32-bit open still to be reported is lost now. */
	if (vigil_open_taken((__u32)bpf_get_current_pid_tgid()))
		vigil_count_unreadable(VIGIL_SLOT_FIM);
	return true;
}

/* A 32-bit open has no exit to wait for: fim/compat.h reports its path. */
static __always_inline int fim_open_saved(void *ctx)
{
	return fim_compat_then(ctx, FIM_COMPAT_OPEN_NOW);
}

VIGIL_OPEN_ENTER_PROGRAMS(fim, fim_open_wanted, VIGIL_SLOT_FIM, fim_open_saved)

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

static __always_inline int fim_save(void *ctx, struct fim_args *a)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (fim_is_agent())
		return 0;
	/* A 32-bit syscall of this thread still to be reported (int 0x80
	 * from a 64-bit process, see fim/compat.h) is lost now. */
	if (bpf_map_lookup_elem(&fim_inflight, &tid))
		vigil_count_unreadable(VIGIL_SLOT_FIM);
	if (bpf_map_update_elem(&fim_inflight, &tid, a, BPF_ANY)) {
		vigil_count_state_drop(VIGIL_SLOT_FIM);
		return 0;
	}
	return fim_compat_then(ctx, FIM_COMPAT_PATH_NOW);
}

/* PATH_ARGS sets defaults first; each syscall then overrides some. */
#pragma clang diagnostic ignored "-Winitializer-overrides"
#define ARG(i) ((const char *)ctx->args[i])
#define ENTER(sys) \
	SEC("tracepoint/syscalls/sys_enter_" #sys) int fim_enter_##sys(struct trace_event_raw_sys_enter *ctx)
#define PATH_ARGS(...) \
	{ struct fim_args a = { .dfd1 = VIGIL_AT_FDCWD, .dfd2 = VIGIL_AT_FDCWD, .fd = -1, __VA_ARGS__ }; return fim_save(ctx, &a); }

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

#endif /* VIGIL_FIM_SYSCALLS_H */
