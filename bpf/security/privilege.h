/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Privilege changes: set*id and capset, with the ids and capabilities
 * before and after, and what was asked for.
 */
#ifndef VIGIL_SECURITY_PRIVILEGE_H
#define VIGIL_SECURITY_PRIVILEGE_H

/* A privilege syscall between its enter and exit, per thread. */
struct priv_inflight {
	__u32 call;
	__u32 ids[4];
	__u64 caps;
	__u64 args[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct priv_inflight);
} priv_inflight SEC(".maps");

/* ---------------------------------------------------------- privilege */

static __always_inline bool is_gid_call(__u32 call)
{
	return call == VIGIL_PRIV_SETGID || call == VIGIL_PRIV_SETREGID ||
	       call == VIGIL_PRIV_SETRESGID;
}

/* Real, effective, saved and fs uid (or gid) of the current task. */
static __always_inline void read_ids(__u32 call, __u32 *ids)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	const struct cred *cred = BPF_CORE_READ(task, cred);

	if (is_gid_call(call)) {
		ids[0] = BPF_CORE_READ(cred, gid.val);
		ids[1] = BPF_CORE_READ(cred, egid.val);
		ids[2] = BPF_CORE_READ(cred, sgid.val);
		ids[3] = BPF_CORE_READ(cred, fsgid.val);
	} else {
		ids[0] = BPF_CORE_READ(cred, uid.val);
		ids[1] = BPF_CORE_READ(cred, euid.val);
		ids[2] = BPF_CORE_READ(cred, suid.val);
		ids[3] = BPF_CORE_READ(cred, fsuid.val);
	}
}

/* Effective capabilities; kernel_cap_t is a u64 from 6.3, two u32 before. */
static __always_inline __u64 read_caps(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	const struct cred *cred = BPF_CORE_READ(task, cred);
	__u64 caps = 0;

	bpf_probe_read_kernel(&caps, sizeof(caps), __builtin_preserve_access_index(&cred->cap_effective));
	return caps;
}

static __always_inline int priv_enter(__u32 call, __u64 a0, __u64 a1, __u64 a2)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct priv_inflight in = {};

	in.call = call;
	read_ids(call, in.ids);
	in.caps = read_caps();
	in.args[0] = a0;
	in.args[1] = a1;
	in.args[2] = a2;
	if (bpf_map_update_elem(&priv_inflight, &tid, &in, BPF_ANY))
		vigil_count_state_drop(VIGIL_SLOT_SECURITY);
	return 0;
}

static __always_inline int priv_exit(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct vigil_security_counters *c;
	struct vigil_sec_event *ev;
	struct priv_inflight *in;
	__u32 result = ret < 0 ? VIGIL_RESULT_FAILURE : VIGIL_RESULT_SUCCESS;
	__u32 call;

	in = bpf_map_lookup_elem(&priv_inflight, &tid);
	if (!in)
		goto out;
	/* One load, bounded once: the verifier tracks the local, not the map. */
	call = in->call;
	if (call >= VIGIL_PRIV_CALLS)
		goto out;
	/* Keeps the checked value: the index below must be bounded. */
	barrier_var(call);
	c = counters();
	ev = completed(c ? &c->privilege[call][result] : NULL, VIGIL_SEC_PRIVILEGE, call, ret, true);
	if (!ev)
		goto out;
	ev->ids[0] = in->ids[0];
	ev->ids[1] = in->ids[1];
	ev->ids[2] = in->ids[2];
	ev->ids[3] = in->ids[3];
	read_ids(call, &ev->ids[4]);
	ev->caps[0] = in->caps;
	ev->caps[1] = read_caps();
	ev->args[0] = in->args[0];
	ev->args[1] = in->args[1];
	ev->args[2] = in->args[2];
	event_send(ev);
out:
	bpf_map_delete_elem(&priv_inflight, &tid);
	return 0;
}

#define PRIV_PROGRAMS(sys, call, A0, A1, A2)                                     \
	SEC("tracepoint/syscalls/sys_enter_" #sys)                                \
	int sec_enter_##sys(struct trace_event_raw_sys_enter *ctx)               \
	{                                                                        \
		return priv_enter(call, A0, A1, A2);                              \
	}                                                                        \
	SEC("tracepoint/syscalls/sys_exit_" #sys)                                 \
	int sec_exit_##sys(struct trace_event_raw_sys_exit *ctx)                 \
	{                                                                        \
		return priv_exit(ctx->ret);                                      \
	}

PRIV_PROGRAMS(setuid, VIGIL_PRIV_SETUID, ctx->args[0], 0, 0)
PRIV_PROGRAMS(setgid, VIGIL_PRIV_SETGID, ctx->args[0], 0, 0)
PRIV_PROGRAMS(setreuid, VIGIL_PRIV_SETREUID, ctx->args[0], ctx->args[1], 0)
PRIV_PROGRAMS(setregid, VIGIL_PRIV_SETREGID, ctx->args[0], ctx->args[1], 0)
PRIV_PROGRAMS(setresuid, VIGIL_PRIV_SETRESUID, ctx->args[0], ctx->args[1], ctx->args[2])
PRIV_PROGRAMS(setresgid, VIGIL_PRIV_SETRESGID, ctx->args[0], ctx->args[1], ctx->args[2])

/* capset(header, data): the sets asked for, as 64-bit masks. */
SEC("tracepoint/syscalls/sys_enter_capset")
int sec_enter_capset(struct trace_event_raw_sys_enter *ctx)
{
	struct {
		__u32 effective, permitted, inheritable;
	} d[2] = {};

	if (ctx->args[1])
		bpf_probe_read_user(d, sizeof(d), (const void *)ctx->args[1]);
	return priv_enter(VIGIL_PRIV_CAPSET, d[0].effective | (__u64)d[1].effective << 32,
			  d[0].permitted | (__u64)d[1].permitted << 32,
			  d[0].inheritable | (__u64)d[1].inheritable << 32);
}

SEC("tracepoint/syscalls/sys_exit_capset")
int sec_exit_capset(struct trace_event_raw_sys_exit *ctx)
{
	return priv_exit(ctx->ret);
}

#endif /* VIGIL_SECURITY_PRIVILEGE_H */
