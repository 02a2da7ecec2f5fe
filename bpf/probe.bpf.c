// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Capability probes.  Each program is loaded alone, never attached: the
 * kernel's verdict on loading it is the answer.  Where a kernel offers no
 * other way to ask (is BPF LSM usable, do trampolines load here, may this
 * hook call bpf_d_path), trying is the only honest probe.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PROBE_BUF 64

static long probe_loop_cb(__u32 i, void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int probe_bpf_loop(void *ctx)
{
	bpf_loop(4, probe_loop_cb, NULL, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(probe_tp_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return 0;
}

SEC("fentry/security_file_open")
int BPF_PROG(probe_fentry, struct file *file)
{
	return 0;
}

SEC("fentry/security_file_open")
int BPF_PROG(probe_fentry_d_path_file_open, struct file *file)
{
	char buf[PROBE_BUF] = {};

	bpf_d_path(&file->f_path, buf, sizeof(buf));
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(probe_lsm, struct file *file)
{
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(probe_lsm_d_path_file_open, struct file *file)
{
	char buf[PROBE_BUF] = {};

	bpf_d_path(&file->f_path, buf, sizeof(buf));
	return 0;
}

SEC("lsm/path_unlink")
int BPF_PROG(probe_lsm_d_path_path_unlink, const struct path *dir, struct dentry *dentry)
{
	char buf[PROBE_BUF] = {};

	bpf_d_path((struct path *)dir, buf, sizeof(buf));
	return 0;
}
