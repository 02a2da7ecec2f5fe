/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Changes to the kernel itself: module loads and unloads, and BPF
 * programs loaded by any process but the agent (BPF rootkits, tampering
 * with security agents).
 */
#ifndef VIGIL_SECURITY_KERNEL_H
#define VIGIL_SECURITY_KERNEL_H

/* A module syscall between its enter and exit, per thread. */
struct module_inflight {
	__u32 action;
	__s32 fd;
	char name[VIGIL_MODULE_NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct module_inflight);
} module_inflight SEC(".maps");

/* ------------------------------------------------------------ modules */

static __always_inline int module_enter(__u32 action, __s32 fd, const char *uname)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct module_inflight in = {};

	in.action = action;
	in.fd = fd;
	if (uname)
		bpf_probe_read_user_str(in.name, sizeof(in.name), uname);
	if (bpf_map_update_elem(&module_inflight, &tid, &in, BPF_ANY))
		vigil_count_state_drop(VIGIL_SLOT_SECURITY);
	return 0;
}

/* The module's own name, once the kernel has parsed it. */
SEC("tracepoint/module/module_load")
int sec_module_load(struct trace_event_raw_module_load *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct module_inflight *in = bpf_map_lookup_elem(&module_inflight, &tid);
	__u16 off = ctx->__data_loc_name & 0xFFFF;

	if (in)
		bpf_probe_read_kernel_str(in->name, sizeof(in->name), (const char *)ctx + off);
	return 0;
}

static __always_inline int module_exit(long ret, bool use_bpf_loop)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 result = ret < 0 ? VIGIL_RESULT_FAILURE : VIGIL_RESULT_SUCCESS;
	struct vigil_security_counters *c;
	struct vigil_sec_event *ev;
	struct module_inflight *in;
	__u32 action;

	in = bpf_map_lookup_elem(&module_inflight, &tid);
	if (!in)
		goto out;
	action = in->action;
	if (action >= VIGIL_MOD_ACTIONS)
		goto out;
	/* Keeps the checked value: the index below must be bounded. */
	barrier_var(action);
	c = counters();
	ev = completed(c ? &c->module[action][result] : NULL, VIGIL_SEC_MODULE, action, ret, false);
	if (!ev)
		goto out;
	if (action == VIGIL_MOD_LOAD_FILE) {
		struct file *f = vigil_fd_file(task, in->fd);

		if (f)
			event_path(ev, __builtin_preserve_access_index(&f->f_path), task,
				   use_bpf_loop);
	}
	event_arg_kernel(ev, in->name);
	event_send(ev);
out:
	bpf_map_delete_elem(&module_inflight, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_init_module")
int sec_enter_init_module(struct trace_event_raw_sys_enter *ctx)
{
	return module_enter(VIGIL_MOD_LOAD, -1, NULL);
}

SEC("tracepoint/syscalls/sys_enter_finit_module")
int sec_enter_finit_module(struct trace_event_raw_sys_enter *ctx)
{
	return module_enter(VIGIL_MOD_LOAD_FILE, (__s32)ctx->args[0], NULL);
}

SEC("tracepoint/syscalls/sys_enter_delete_module")
int sec_enter_delete_module(struct trace_event_raw_sys_enter *ctx)
{
	return module_enter(VIGIL_MOD_UNLOAD, -1, (const char *)ctx->args[0]);
}

#define MODULE_EXIT(sys)                                                          \
	SEC("tracepoint/syscalls/sys_exit_" #sys)                                 \
	int sec_exit_##sys(struct trace_event_raw_sys_exit *ctx)                  \
	{                                                                         \
		return module_exit(ctx->ret, true);                               \
	}                                                                         \
	SEC("tracepoint/syscalls/sys_exit_" #sys)                                 \
	int sec_exit_##sys##_legacy(struct trace_event_raw_sys_exit *ctx)         \
	{                                                                         \
		return module_exit(ctx->ret, false);                              \
	}

MODULE_EXIT(init_module)
MODULE_EXIT(finit_module)
MODULE_EXIT(delete_module)

/* ------------------------------------------------------------ bpf loads */

#define BPF_PROG_LOAD_ 5

/* The start of union bpf_attr for BPF_PROG_LOAD (UAPI, stable). */
struct prog_load_attr {
	__u32 prog_type;
	__u32 insn_cnt;
	__u64 insns;
	__u64 license;
	__u32 log_level;
	__u32 log_size;
	__u64 log_buf;
	__u32 kern_version;
	__u32 prog_flags;
	char prog_name[VIGIL_BPF_OBJ_NAME_LEN];
	__u32 prog_ifindex;
	__u32 expected_attach_type;
};

/* A BPF_PROG_LOAD between its enter and exit, per thread. */
struct bpf_load_inflight {
	__u32 prog_type;
	__u32 insn_cnt;
	__u32 attach_type;
	__u32 _pad;
	char name[VIGIL_BPF_OBJ_NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct bpf_load_inflight);
} bpf_load_inflight SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_bpf")
int sec_enter_bpf(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct bpf_load_inflight in = {};
	struct prog_load_attr attr = {};
	const void *uattr = (const void *)ctx->args[1];

	/* Every bpf() call passes here: anything but a program load, and the
	 * agent's own loads, leave at once. */
	if (ctx->args[0] != BPF_PROG_LOAD_ || is_agent())
		return 0;
	/* A loader passes a shorter attr when it names no program: then the
	 * type and size are all there is to read. */
	if (ctx->args[2] >= sizeof(attr))
		bpf_probe_read_user(&attr, sizeof(attr), uattr);
	else
		bpf_probe_read_user(&attr, 8, uattr);
	in.prog_type = attr.prog_type;
	in.insn_cnt = attr.insn_cnt;
	in.attach_type = attr.expected_attach_type;
	__builtin_memcpy(in.name, attr.prog_name, sizeof(in.name));
	in.name[sizeof(in.name) - 1] = 0;
	if (bpf_map_update_elem(&bpf_load_inflight, &tid, &in, BPF_ANY))
		vigil_count_state_drop(VIGIL_SLOT_SECURITY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bpf")
int sec_exit_bpf(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 result = ctx->ret < 0 ? VIGIL_RESULT_FAILURE : VIGIL_RESULT_SUCCESS;
	struct vigil_security_counters *c;
	struct bpf_load_inflight *in;
	struct vigil_sec_event *ev;
	struct bpf_prog *prog;
	struct file *file;
	__u32 type;

	in = bpf_map_lookup_elem(&bpf_load_inflight, &tid);
	if (!in)
		return 0;
	/* One load, bounded right before the access: older verifiers lose a
	 * bound that a clamp computes. */
	type = in->prog_type;
	if (type >= VIGIL_BPF_PROG_TYPES)
		type = VIGIL_BPF_PROG_TYPES - 1;
	barrier_var(type);
	c = counters();
	ev = completed(c && type < VIGIL_BPF_PROG_TYPES ? &c->bpf_load[type][result] : NULL,
		       VIGIL_SEC_BPF_LOAD, type, ctx->ret, false);
	if (!ev)
		goto out;
	ev->args[0] = in->prog_type;
	ev->args[1] = in->insn_cnt;
	ev->ids[0] = in->attach_type;
	if (result == VIGIL_RESULT_SUCCESS) {
		file = vigil_fd_file(task, ctx->ret);
		prog = file ? BPF_CORE_READ(file, private_data) : NULL;
		if (prog) {
			ev->args[2] = BPF_CORE_READ(prog, aux, id);
			bpf_probe_read_kernel(&ev->caps[0], 8, __builtin_preserve_access_index(&prog->tag));
		}
	}
	event_arg_kernel(ev, in->name);
	event_send(ev);
out:
	bpf_map_delete_elem(&bpf_load_inflight, &tid);
	return 0;
}

#endif /* VIGIL_SECURITY_KERNEL_H */
