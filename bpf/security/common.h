/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every security signal shares: the settings user space writes, the
 * exact per-CPU counters, the sampler, the agent check, the event record
 * (who-data, command line, a path, a string) and the process category.
 */
#ifndef VIGIL_SECURITY_COMMON_H
#define VIGIL_SECURITY_COMMON_H

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_security_config);
} security_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_security_counters);
} security_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_sec_event);
} security_scratch SEC(".maps");

static __always_inline struct vigil_security_config *sec_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&security_config, &zero);
}

static __always_inline struct vigil_security_counters *counters(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&security_counters, &zero);
}

#define COUNT(field)                                                     \
	do {                                                             \
		struct vigil_security_counters *__c = counters();        \
		if (__c)                                                 \
			__sync_fetch_and_add(&__c->field, 1);            \
	} while (0)

static __always_inline bool is_agent(void)
{
	struct vigil_security_config *cfg = sec_config();

	return cfg && cfg->agent_tgid == bpf_get_current_pid_tgid() >> 32;
}

/* Whether a routine (sampleable) event is emitted; counts those that are not. */
static __always_inline bool sampled_in(void)
{
	struct vigil_security_config *cfg = sec_config();

	if (!cfg || !cfg->sample_mask || !(bpf_get_prandom_u32() & cfg->sample_mask))
		return true;
	COUNT(sampled_out);
	return false;
}

/* A zeroed scratch event for a signal, with no who-data yet. */
static __always_inline struct vigil_sec_event *event_scratch(__u32 signal)
{
	struct vigil_sec_event *ev;
	__u32 zero = 0;

	ev = bpf_map_lookup_elem(&security_scratch, &zero);
	if (!ev)
		return NULL;
	__builtin_memset(ev, 0, offsetof(struct vigil_sec_event, data));
	ev->signal = signal;
	return ev;
}

/* A zeroed scratch event with the current task's who-data. */
static __always_inline struct vigil_sec_event *event_begin(__u32 signal)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_sec_event *ev = event_scratch(signal);

	if (!ev)
		return NULL;
	vigil_fill_header(&ev->hdr, VIGIL_EVENT_SECURITY);
	vigil_who_ids(ev, task);
	ev->pidns_level = BPF_CORE_READ(task, thread_pid, level);
	BPF_CORE_READ_STR_INTO(&ev->pcomm, task, real_parent, comm);
	return ev;
}

static __always_inline void event_send(struct vigil_sec_event *ev)
{
	vigil_emit(ev, offsetof(struct vigil_sec_event, data) + ev->cmdline_len + ev->path_len +
			       ev->arg_len,
		   sizeof(*ev), VIGIL_SLOT_SECURITY, ev->path_flags);
}

/* The command line at data[0]; its length is the start of what follows. */
static __always_inline void event_cmdline(struct vigil_sec_event *ev, struct task_struct *task)
{
	ev->cmdline_len = vigil_who_cmdline(task, ev->data);
}

/* A resolved path after the command line. */
static __always_inline void event_path(struct vigil_sec_event *ev, const struct path *path,
				       struct task_struct *task, bool use_bpf_loop)
{
	struct vigil_walk *w = vigil_walk_path(path, task, use_bpf_loop);

	if (!w) {
		ev->path_flags |= VIGIL_PATH_UNRESOLVED;
		return;
	}
	ev->path_len = vigil_walk_copy(w, &ev->data[ev->cmdline_len & (VIGIL_CMDLINE_MAX * 2 - 1)]);
	ev->path_flags |= w->flags;
}

/* A kernel string after the path. */
static __always_inline void event_arg_kernel(struct vigil_sec_event *ev, const void *src)
{
	__u32 off = (ev->cmdline_len + ev->path_len) & (2 * VIGIL_PATH_MAX - 1);
	long n = bpf_probe_read_kernel_str(&ev->data[off], VIGIL_PATH_MAX, src);

	ev->arg_len = n > 0 ? n - 1 : 0;
}

static __always_inline __u32 classify(struct task_struct *task, __u32 suspicion, __u32 level)
{
	struct vigil_security_config *cfg = sec_config();
	struct task_struct___audit *t = (void *)task;
	__u32 uid = BPF_CORE_READ(task, cred, uid.val);
	__u32 auid = (__u32)-1;

	if (suspicion)
		return VIGIL_PROC_SUSPICIOUS;
	if (level > 0)
		return VIGIL_PROC_CONTAINER;
	if (bpf_core_field_exists(t->loginuid))
		auid = BPF_CORE_READ(t, loginuid.val);
	if (auid != (__u32)-1 || (cfg && uid >= cfg->uid_min))
		return VIGIL_PROC_USER;
	return VIGIL_PROC_SYSTEM;
}

/*
 * A signal whose syscall just returned: counted at `count` (which the
 * caller bounds), then its event begun with the outcome, the process
 * category and the command line (what follows it goes after). NULL when
 * there is no event to fill: the agent's own, with `skip_agent`, or no
 * scratch space.
 */
static __always_inline struct vigil_sec_event *completed(__u64 *count, __u32 signal, __u32 kind, long ret,
							 bool skip_agent)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_sec_event *ev;

	if (count)
		__sync_fetch_and_add(count, 1);
	if (skip_agent && is_agent())
		return NULL;
	ev = event_begin(signal);
	if (!ev)
		return NULL;
	ev->kind = kind;
	ev->result = ret < 0 ? VIGIL_RESULT_FAILURE : VIGIL_RESULT_SUCCESS;
	ev->ret = ret;
	ev->category = classify(task, 0, ev->pidns_level);
	event_cmdline(ev, task);
	return ev;
}

#endif /* VIGIL_SECURITY_COMMON_H */
