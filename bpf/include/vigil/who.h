/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Who-data: everything about the task behind an event that an auditor
 * asks for, read in the kernel at the moment of the event, so even a
 * process that exits at once is fully described.
 */
#ifndef VIGIL_WHO_H
#define VIGIL_WHO_H

#include "abi.h"

/* loginuid and sessionid exist only with CONFIG_AUDIT. */
struct task_struct___audit {
	kuid_t loginuid;
	unsigned int sessionid;
} __attribute__((preserve_access_index));

/* The fields every event with who-data shares (FIM, security). */
struct vigil_who_fields {
	__u32 *ppid, *euid, *egid, *auid, *sessionid;
	__u64 *cgroup_id, *mntns;
};

static __always_inline void vigil_who_fill(struct vigil_who_fields f, struct task_struct *task)
{
	struct task_struct___audit *t = (void *)task;

	*f.ppid = BPF_CORE_READ(task, real_parent, tgid);
	*f.euid = BPF_CORE_READ(task, cred, euid.val);
	*f.egid = BPF_CORE_READ(task, cred, egid.val);
	*f.auid = (__u32)-1;
	*f.sessionid = (__u32)-1;
	if (bpf_core_field_exists(t->loginuid)) {
		*f.auid = BPF_CORE_READ(t, loginuid.val);
		*f.sessionid = BPF_CORE_READ(t, sessionid);
	}
	*f.cgroup_id = bpf_get_current_cgroup_id();
	*f.mntns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

/* Fill who-data into any event struct that has the fields above. */
#define vigil_who_ids(ev, task)                                                          \
	vigil_who_fill((struct vigil_who_fields){ &(ev)->ppid, &(ev)->euid, &(ev)->egid,  \
						  &(ev)->auid, &(ev)->sessionid,          \
						  &(ev)->cgroup_id, &(ev)->mntns },       \
		       task)

/* The command line, NUL-separated, at most VIGIL_CMDLINE_MAX bytes. */
static __always_inline __u32 vigil_who_cmdline(struct task_struct *task, void *dst)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	unsigned long start, end;
	__u32 len;

	if (!mm)
		return 0;
	start = BPF_CORE_READ(mm, arg_start);
	end = BPF_CORE_READ(mm, arg_end);
	if (end <= start)
		return 0;
	len = end - start;
	if (len > VIGIL_CMDLINE_MAX)
		len = VIGIL_CMDLINE_MAX;
	len &= (VIGIL_CMDLINE_MAX * 2 - 1);
	if (bpf_probe_read_user(dst, len, (void *)start))
		return 0;
	return len;
}

#endif /* VIGIL_WHO_H */
