/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Changes to the kernel itself: module loads and unloads.
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
	c = counters();
	if (c)
		__sync_fetch_and_add(&c->module[action][result], 1);
	ev = event_begin(VIGIL_SEC_MODULE);
	if (!ev)
		goto out;
	ev->kind = action;
	ev->result = result;
	ev->ret = ret;
	ev->category = classify(task, 0, ev->pidns_level);
	event_cmdline(ev, task);
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

#endif /* VIGIL_SECURITY_KERNEL_H */
