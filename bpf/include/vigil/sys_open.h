/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The open family's arguments, captured at syscall entry and taken back
 * at exit, shared by every object that watches opens (the open tracer,
 * FIM's tracepoint backend).
 *
 * open_how is read from user memory with its UAPI layout (three u64,
 * stable by contract), never through a CO-RE relocation of the kernel's
 * type, so a kernel without struct open_how cannot fail the load; it
 * simply has no openat2 tracepoint to attach to.
 */
#ifndef VIGIL_SYS_OPEN_H
#define VIGIL_SYS_OPEN_H

#include "abi.h"
#include "emit.h"

#define VIGIL_AT_FDCWD -100
#define VIGIL_O_WRONLY 01
#define VIGIL_O_RDWR 02
#define VIGIL_O_CREAT 0100
#define VIGIL_O_TRUNC 01000

struct vigil_open_args {
	const char *filename;
	__u64 flags;
	__u64 mode;
	__u64 resolve;
	__s32 dfd;
	__u16 syscall;
	__u16 _pad;
};

/* The UAPI struct open_how. */
struct vigil_open_how {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct vigil_open_args);
} vigil_open_inflight SEC(".maps");

static __always_inline int vigil_open_save(const char *filename, __s32 dfd, __u64 flags,
					   __u64 mode, __u64 resolve, __u16 syscall, __u32 slot)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vigil_open_args a = {
		.filename = filename,
		.flags = flags,
		.mode = mode,
		.resolve = resolve,
		.dfd = dfd,
		.syscall = syscall,
	};

	if (bpf_map_update_elem(&vigil_open_inflight, &tid, &a, BPF_ANY)) {
		vigil_count_state_drop(slot);
		return -1;
	}
	return 0;
}

/* THEN(ctx), once the arguments are stored: nothing more to do. */
static __always_inline int vigil_open_saved(void *ctx)
{
	return 0;
}

/*
 * The four enter programs, named PREFIX_enter_<syscall>. WANTED(flags) is
 * a cheap filter run before anything is stored; THEN(ctx) runs after.
 */
#define VIGIL_OPEN_ENTER_PROGRAMS(prefix, WANTED, slot, THEN)                                 \
	SEC("tracepoint/syscalls/sys_enter_open")                                                \
	int prefix##_enter_open(struct trace_event_raw_sys_enter *ctx)                           \
	{                                                                                        \
		if (!WANTED(ctx->args[1]))                                                       \
			return 0;                                                                \
		if (vigil_open_save((const char *)ctx->args[0], VIGIL_AT_FDCWD, ctx->args[1],    \
				    ctx->args[2], 0, VIGIL_SYS_OPEN, slot))                      \
			return 0;                                                                \
		return THEN(ctx);                                                                \
	}                                                                                        \
	SEC("tracepoint/syscalls/sys_enter_creat")                                               \
	int prefix##_enter_creat(struct trace_event_raw_sys_enter *ctx)                          \
	{                                                                                        \
		__u64 flags = VIGIL_O_CREAT | VIGIL_O_WRONLY | VIGIL_O_TRUNC;                    \
		if (!WANTED(flags))                                                              \
			return 0;                                                                \
		if (vigil_open_save((const char *)ctx->args[0], VIGIL_AT_FDCWD, flags,           \
				    ctx->args[1], 0, VIGIL_SYS_CREAT, slot))                     \
			return 0;                                                                \
		return THEN(ctx);                                                                \
	}                                                                                        \
	SEC("tracepoint/syscalls/sys_enter_openat")                                              \
	int prefix##_enter_openat(struct trace_event_raw_sys_enter *ctx)                         \
	{                                                                                        \
		if (!WANTED(ctx->args[2]))                                                       \
			return 0;                                                                \
		if (vigil_open_save((const char *)ctx->args[1], (__s32)ctx->args[0],             \
				    ctx->args[2], ctx->args[3], 0, VIGIL_SYS_OPENAT, slot))      \
			return 0;                                                                \
		return THEN(ctx);                                                                \
	}                                                                                        \
	SEC("tracepoint/syscalls/sys_enter_openat2")                                             \
	int prefix##_enter_openat2(struct trace_event_raw_sys_enter *ctx)                        \
	{                                                                                        \
		struct vigil_open_how how = {};                                                  \
		/* A short or unreadable struct leaves zeros; the syscall fails anyway. */       \
		if (ctx->args[3] >= sizeof(how))                                                 \
			bpf_probe_read_user(&how, sizeof(how), (const void *)ctx->args[2]);      \
		if (!WANTED(how.flags))                                                          \
			return 0;                                                                \
		if (vigil_open_save((const char *)ctx->args[1], (__s32)ctx->args[0],             \
				    how.flags, how.mode, how.resolve, VIGIL_SYS_OPENAT2, slot))  \
			return 0;                                                                \
		return THEN(ctx);                                                                \
	}

/* The saved arguments of the current thread, or NULL. */
static __always_inline struct vigil_open_args *vigil_open_taken(__u32 tid)
{
	return bpf_map_lookup_elem(&vigil_open_inflight, &tid);
}

static __always_inline void vigil_open_done(__u32 tid)
{
	bpf_map_delete_elem(&vigil_open_inflight, &tid);
}

#endif /* VIGIL_SYS_OPEN_H */
