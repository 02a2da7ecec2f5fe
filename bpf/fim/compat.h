/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * 32-bit syscalls, for every backend that uses syscall tracepoints (all
 * of them, for the syscalls no security hook covers). The kernel does not
 * fire syscalls:* tracepoints for them: without this, a static i386
 * binary, or a 64-bit one using int 0x80, changes watched files unseen.
 *
 * One program on raw_syscalls/sys_enter, which fires for every syscall,
 * leaves at once unless the syscall is a 32-bit one; then it jumps to the
 * program user space put at its 32-bit number in fim_compat_calls (see
 * fim/common.h): the 64-bit syscall's own enter program. Enter programs
 * that would wait for an exit go on to the `_now` programs here instead.
 *
 * At entry a string argument may sit in a page not yet in memory: the
 * kernel faults it in when it reads it, a BPF program cannot. Such a
 * syscall is reported at the thread's next 32-bit syscall, before that
 * one runs, when the kernel has read the string; if it cannot be read
 * even then (or the thread dies first), the event is counted lost, and
 * user space rescans.
 */
#ifndef VIGIL_FIM_COMPAT_H
#define VIGIL_FIM_COMPAT_H

SEC("tracepoint")
int fim_compat_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (ctx->id < 0 || ctx->id >= FIM_COMPAT_SYSCALLS || !fim_in_compat_syscall())
		return 0;
	/* The thread's previous syscall, if it is still to be reported. */
	if (bpf_map_lookup_elem(&fim_inflight, &tid))
		bpf_tail_call(ctx, &fim_compat_calls, FIM_COMPAT_PATH_RETRY);
	else if (vigil_open_taken(tid))
		bpf_tail_call(ctx, &fim_compat_calls, FIM_COMPAT_OPEN_RETRY);
	bpf_tail_call(ctx, &fim_compat_calls, (__u32)ctx->id);
	return 0;
}

/* Whether a user string can be read now (NULL: there is none to read). */
static __always_inline bool fim_user_str_readable(const char *s)
{
	__u32 zero = 0;
	char *buf;

	if (!s)
		return true;
	buf = bpf_map_lookup_elem(&fim_strbuf, &zero);
	return !buf || bpf_probe_read_user_str(buf, VIGIL_PATH_MAX, s) >= 0;
}

/*
 * Reports the thread's saved path syscall if its strings can be read.
 * `retry`: it is the previous syscall's (it is reported or counted lost,
 * then the current syscall goes on to its own program).
 */
static __always_inline int fim_compat_path(struct trace_event_raw_sys_enter *ctx, bool retry, bool use_loop)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct fim_args *a = bpf_map_lookup_elem(&fim_inflight, &tid);

	if (!a)
		return 0;
	if (fim_user_str_readable(a->p1) && fim_user_str_readable(a->p2) && fim_user_str_readable(a->name)) {
		fim_path_exit(0, use_loop);
	} else if (retry) {
		vigil_count_unreadable(VIGIL_SLOT_FIM);
		bpf_map_delete_elem(&fim_inflight, &tid);
	}
	if (retry)
		bpf_tail_call(ctx, &fim_compat_calls, (__u32)ctx->id);
	return 0;
}

FIM_TP_FLAVOURS(fim_compat_path_now, struct trace_event_raw_sys_enter, fim_compat_path(ctx, false, loop))
FIM_TP_FLAVOURS(fim_compat_path_retry, struct trace_event_raw_sys_enter, fim_compat_path(ctx, true, loop))

/* An open with write intent, by its path (there is no fd yet); as above. */
static __always_inline int fim_compat_open(struct trace_event_raw_sys_enter *ctx, bool retry, bool use_loop)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vigil_open_args *o = vigil_open_taken(tid);
	struct fim_args a = {
		.op = VIGIL_FIM_OPEN_WRITE,
		.dfd2 = VIGIL_AT_FDCWD,
		.fd = -1,
		.via = VIGIL_VIA_SYSCALL,
	};

	if (!o)
		return 0;
	if (fim_user_str_readable(o->filename)) {
		a.dfd1 = o->dfd;
		a.p1 = o->filename;
		a.flags = o->flags;
		a.mode = o->mode;
		vigil_open_done(tid);
		fim_path_emit(&a, 0, use_loop);
	} else if (retry) {
		vigil_count_unreadable(VIGIL_SLOT_FIM);
		vigil_open_done(tid);
	}
	if (retry)
		bpf_tail_call(ctx, &fim_compat_calls, (__u32)ctx->id);
	return 0;
}

FIM_TP_FLAVOURS(fim_compat_open_now, struct trace_event_raw_sys_enter, fim_compat_open(ctx, false, loop))
FIM_TP_FLAVOURS(fim_compat_open_retry, struct trace_event_raw_sys_enter, fim_compat_open(ctx, true, loop))

/*
 * A thread that dies (a signal, a crash) right after a 32-bit syscall
 * still to be reported: its memory is gone, the event is counted lost.
 * Attached to sched/sched_process_exit.
 */
SEC("tracepoint")
int fim_compat_thread_exit(void *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (!bpf_map_delete_elem(&fim_inflight, &tid))
		vigil_count_unreadable(VIGIL_SLOT_FIM);
	if (vigil_open_taken(tid)) {
		vigil_count_unreadable(VIGIL_SLOT_FIM);
		vigil_open_done(tid);
	}
	return 0;
}

/*
 * i386's first mmap takes its six arguments in a struct in user memory
 * (mmap2 passes them as the 64-bit mmap does, and uses fim_mmap).
 */
static __always_inline int fim_old_mmap_op(struct trace_event_raw_sys_enter *ctx, bool use_loop)
{
	__u32 arg[6] = {}; /* addr, len, prot, flags, fd, offset */

	if (bpf_probe_read_user(arg, sizeof(arg), (const void *)ctx->args[0])) {
		/* Not in memory yet: whether it maps a watched file is not known. */
		vigil_count_unreadable(VIGIL_SLOT_FIM);
		return 0;
	}
	if (!(arg[2] & PROT_WRITE_) || !(arg[3] & MAP_SHARED_) || (arg[3] & MAP_ANONYMOUS_))
		return 0;
	return fim_fd_op((__s32)arg[4], VIGIL_FIM_MMAP_WRITE, use_loop);
}

FIM_TP_FLAVOURS(fim_compat_old_mmap, struct trace_event_raw_sys_enter, fim_old_mmap_op(ctx, loop))

#endif /* VIGIL_FIM_COMPAT_H */
