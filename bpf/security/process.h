/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Processes: exec (with why it is suspicious: inline code given to an
 * interpreter, an interpreter under a network daemon, a binary in a
 * world-writable directory, a memfd or deleted binary), fork and exit;
 * and one process taking control of another through ptrace.
 */
#ifndef VIGIL_SECURITY_PROCESS_H
#define VIGIL_SECURITY_PROCESS_H

/* tgid -> the category its exec had, so its exit counts under the same. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, __u32);
	__type(value, __u32);
} proc_category SEC(".maps");

/* Processes without a category (started before the agent) whose exit was
 * counted: threads exiting together can all see the group dead. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} exit_counted SEC(".maps");

/* Interpreter comms (value: bitmask of the option letters that take
 * inline code, bit 0 = 'a' .. bit 25 = 'z', bit 26 = 'E'), and
 * network-facing daemon comms; both written by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[VIGIL_COMM_LEN]);
	__type(value, __u32);
} interpreters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[VIGIL_COMM_LEN]);
	__type(value, __u32);
} daemons SEC(".maps");

/* ---------------------------------------------------------------- exec */

/* Bit of an option letter in an interpreters map value. */
static __always_inline __u32 letter_bit(__u8 c)
{
	if (c >= 'a' && c <= 'z')
		return 1u << (c - 'a');
	if (c == 'E')
		return 1u << 26;
	return 0;
}

/*
 * Does any argument after argv[0] hold an option cluster ("-c", "-ec")
 * with one of `letters`?  One step per command-line byte; the state is a
 * few saturating values: the argument index (0, 1, more), the position in
 * the argument (0, 1, more), and whether it is an option cluster.
 */
struct inline_scan {
	__u32 len, letters, arg, pos, opt, found;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct inline_scan);
} inline_state SEC(".maps");

static __always_inline long inline_step_at(__u32 i)
{
	struct vigil_sec_event *ev;
	struct inline_scan *st;
	__u32 zero = 0;
	__u8 c;

	st = bpf_map_lookup_elem(&inline_state, &zero);
	ev = bpf_map_lookup_elem(&security_scratch, &zero);
	if (!st || !ev || i >= st->len)
		return 1;
	c = ev->data[i & (VIGIL_CMDLINE_MAX - 1)];
	if (c == 0) {
		if (st->arg < 2)
			st->arg++;
		st->pos = 0;
		st->opt = 0;
		return 0;
	}
	if (st->pos == 0)
		st->opt = st->arg > 0 && c == '-';
	else if (st->pos == 1 && c == '-')
		st->opt = 0; /* "--long" options are not clusters */
	else if (st->opt && (letter_bit(c) & st->letters)) {
		st->found = 1;
		return 1;
	}
	if (st->pos < 2)
		st->pos++;
	return 0;
}

static long inline_step(__u32 i, void *ctx)
{
	return inline_step_at(i);
}

/* Global: verified once, so the legacy loop stays cheap to verify. */
__noinline long vigil_inline_step_global(__u32 i)
{
	return inline_step_at(i);
}

static __always_inline bool inline_code(__u32 len, __u32 letters, bool use_bpf_loop)
{
	struct inline_scan *st;
	__u32 zero = 0;
	int i;

	st = bpf_map_lookup_elem(&inline_state, &zero);
	if (!st)
		return false;
	*st = (struct inline_scan){ .len = len, .letters = letters };
	if (use_bpf_loop) {
		bpf_loop(VIGIL_CMDLINE_MAX, inline_step, NULL, 0);
	} else {
		for (i = 0; i < VIGIL_CMDLINE_MAX; i++)
			if (vigil_inline_step_global(i))
				break;
	}
	return st->found;
}

/* The interpreters entry for a comm, also as "python3.11" -> "python". */
static __always_inline __u32 *interpreter_of(char comm[VIGIL_COMM_LEN])
{
	__u32 *v = bpf_map_lookup_elem(&interpreters, comm);
	int i, cut = -1;

	if (v)
		return v;
	for (i = VIGIL_COMM_LEN - 1; i > 0; i--) {
		char c = comm[i];

		if (c == 0)
			continue;
		if ((c >= '0' && c <= '9') || c == '.') {
			cut = i;
			continue;
		}
		break;
	}
	if (cut <= 0)
		return NULL;
	for (i = 0; i < VIGIL_COMM_LEN; i++)
		if (i >= cut)
			comm[i] = 0;
	return bpf_map_lookup_elem(&interpreters, comm);
}

/*
 * argv[0] as a comm, when it is a bare name: how a multi-call binary
 * (busybox) is told which tool to be.  A path in argv[0] gives nothing
 * here; the kernel already took its basename for the comm.
 */
static __always_inline bool argv0_name(const __u8 *cmd, __u32 len, char out[VIGIL_COMM_LEN])
{
	int i;

	if (!len || bpf_probe_read_kernel_str(out, VIGIL_COMM_LEN, cmd) <= 1)
		return false;
#pragma unroll
	for (i = 0; i < VIGIL_COMM_LEN; i++)
		if (out[i] == '/')
			return false;
	return true;
}

static __always_inline bool has_prefix(const char *s, const char *p, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (s[i] != p[i])
			return false;
	return true;
}

/* Whether a path (its first 10 bytes) is under a world-writable scratch dir. */
static __always_inline bool in_tmp(const char *p)
{
	return has_prefix(p, "/tmp/", 5) || has_prefix(p, "/var/tmp/", 9) ||
	       has_prefix(p, "/dev/shm/", 9);
}

/* The first bytes of the walked path, or of a cwd-relative name's cwd. */
static __always_inline bool walked_in_tmp(struct vigil_walk *w)
{
	char head[16] = {};

	if (!w || w->pos >= VIGIL_PATH_MAX)
		return false;
	bpf_probe_read_kernel(head, 10, &w->buf[w->pos & (VIGIL_PATH_MAX - 1)]);
	/* The cwd itself, "/tmp" without a slash, counts too. */
	if (w->pos == VIGIL_PATH_MAX - 4 && has_prefix(head, "/tmp", 4))
		return true;
	return in_tmp(head);
}

static __always_inline int handle_exec(struct trace_event_raw_sched_process_exec *ctx,
				       bool use_bpf_loop)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_security_counters *c;
	struct vigil_sec_event *ev;
	struct file *exe;
	struct dentry *dentry;
	char comm[VIGIL_COMM_LEN] = {};
	char name[8] = {};
	__u32 *letters, *daemon;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 suspicion = 0, category;
	__u16 fname_off = ctx->__data_loc_filename & 0xFFFF;
	const char *fname = (const char *)ctx + fname_off;
	char fhead[16] = {};

	if (is_agent())
		return 0;
	ev = event_begin(VIGIL_SEC_EXEC);
	if (!ev)
		return 0;
	event_cmdline(ev, task);

	/* The binary the kernel runs (for a script, its interpreter). */
	exe = BPF_CORE_READ(task, mm, exe_file);
	if (exe) {
		dentry = BPF_CORE_READ(exe, f_path.dentry);
		BPF_CORE_READ_STR_INTO(&name, dentry, d_name.name);
		ev->ino = BPF_CORE_READ(exe, f_inode, i_ino);
		ev->dev = BPF_CORE_READ(exe, f_inode, i_sb, s_dev);
		if (has_prefix(name, "memfd:", 6))
			suspicion |= VIGIL_SUSP_MEMFD_EXEC;
		else if (!BPF_CORE_READ(exe, f_inode, i_nlink))
			suspicion |= VIGIL_SUSP_DELETED_EXEC;
		event_path(ev, __builtin_preserve_access_index(&exe->f_path), task, use_bpf_loop);
		if (ev->path_len >= 5) {
			char head[16] = {};

			bpf_probe_read_kernel(head, 10, &ev->data[ev->cmdline_len & 511]);
			if (in_tmp(head))
				suspicion |= VIGIL_SUSP_TMP_EXEC;
		}
	} else {
		ev->path_flags |= VIGIL_PATH_UNRESOLVED;
	}

	/* The name exec was given: a script's own path. */
	event_arg_kernel(ev, fname);
	bpf_probe_read_kernel(fhead, 10, fname);
	if (fhead[0] == '/') {
		if (in_tmp(fhead))
			suspicion |= VIGIL_SUSP_TMP_EXEC;
	} else if (!(suspicion & VIGIL_SUSP_TMP_EXEC)) {
		/* Relative: it runs from the cwd. */
		struct fs_struct *fs = BPF_CORE_READ(task, fs);

		if (walked_in_tmp(vigil_walk_path(__builtin_preserve_access_index(&fs->pwd), task,
						  use_bpf_loop)))
			suspicion |= VIGIL_SUSP_TMP_EXEC;
	}

	bpf_get_current_comm(comm, sizeof(comm));
	letters = interpreter_of(comm);
	if (!letters) {
		/* A multi-call binary run through a link keeps its own comm
		 * ("exe" for busybox's /proc/self/exe): argv[0] names the tool. */
		char name0[VIGIL_COMM_LEN] = {};

		if (argv0_name(ev->data, ev->cmdline_len, name0))
			letters = interpreter_of(name0);
	}
	if (letters) {
		if (inline_code(ev->cmdline_len, *letters, use_bpf_loop))
			suspicion |= VIGIL_SUSP_INLINE_CODE;
		daemon = bpf_map_lookup_elem(&daemons, ev->pcomm);
		if (daemon)
			suspicion |= VIGIL_SUSP_DAEMON_CHILD;
	}

	category = classify(task, suspicion, ev->pidns_level);
	ev->category = category;
	ev->suspicion = suspicion;
	bpf_map_update_elem(&proc_category, &tgid, &category, BPF_ANY);
	c = counters();
	if (c && category < VIGIL_PROC_CATEGORIES)
		__sync_fetch_and_add(&c->exec[category], 1);
	if (category == VIGIL_PROC_SUSPICIOUS || sampled_in())
		event_send(ev);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int sec_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	return handle_exec(ctx, true);
}

SEC("tracepoint/sched/sched_process_exec")
int sec_exec_legacy(struct trace_event_raw_sched_process_exec *ctx)
{
	return handle_exec(ctx, false);
}

/* A new process inherits its parent's category until it execs. */
SEC("raw_tp/sched_process_fork")
int sec_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 ptgid, ctgid, *cat;

	ctgid = BPF_CORE_READ(child, tgid);
	if (BPF_CORE_READ(child, pid) != ctgid)
		return 0;
	COUNT(forks);
	/* A new process with a reused pid: its exit is yet to be counted. */
	bpf_map_delete_elem(&exit_counted, &ctgid);
	ptgid = BPF_CORE_READ(parent, tgid);
	cat = bpf_map_lookup_elem(&proc_category, &ptgid);
	if (cat)
		bpf_map_update_elem(&proc_category, &ctgid, cat, BPF_ANY);
	return 0;
}

/* Counted when the last thread of a process exits. */
SEC("raw_tp/sched_process_exit")
int sec_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_security_counters *c;
	struct vigil_sec_event *ev;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, category, *cat;

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	cat = bpf_map_lookup_elem(&proc_category, &tgid);
	if (cat) {
		category = *cat;
		/* Only the thread that removes the entry counts the exit. */
		if (bpf_map_delete_elem(&proc_category, &tgid))
			return 0;
	} else {
		__u8 one = 1;

		if (bpf_map_update_elem(&exit_counted, &tgid, &one, BPF_NOEXIST))
			return 0;
		/* Started before the agent: classify what can still be seen. */
		category = classify(task, 0, BPF_CORE_READ(task, thread_pid, level));
	}
	c = counters();
	if (c && category < VIGIL_PROC_CATEGORIES)
		__sync_fetch_and_add(&c->exit[category], 1);
	if (is_agent() || !sampled_in())
		return 0;
	ev = event_begin(VIGIL_SEC_EXIT);
	if (!ev)
		return 0;
	ev->category = category;
	ev->ret = BPF_CORE_READ(task, exit_code);
	event_send(ev);
	return 0;
}

/* ---------------------------------------------------------------- ptrace */
/*
 * A process attaching to another with ptrace (process injection, MITRE
 * T1055.008), or asking its parent to trace it. Peeks, pokes and register
 * writes need an attach first: the attach is what is reported. Always an
 * alert, never sampled.
 */

#define PTRACE_TRACEME_ 0
#define PTRACE_ATTACH_ 16
#define PTRACE_SEIZE_ 0x4206

/* A ptrace request between its enter and exit, per thread. */
struct ptrace_inflight {
	__u32 request; /* VIGIL_PTRACE_* */
	__s32 pid;     /* as the caller named it */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct ptrace_inflight);
} ptrace_inflight SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_ptrace")
int sec_enter_ptrace(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ptrace_inflight in = { .pid = (__s32)ctx->args[1] };

	switch (ctx->args[0]) {
	case PTRACE_ATTACH_:
		in.request = VIGIL_PTRACE_ATTACH;
		break;
	case PTRACE_SEIZE_:
		in.request = VIGIL_PTRACE_SEIZE;
		break;
	case PTRACE_TRACEME_:
		in.request = VIGIL_PTRACE_TRACEME;
		break;
	default:
		return 0;
	}
	if (bpf_map_update_elem(&ptrace_inflight, &tid, &in, BPF_ANY))
		vigil_count_state_drop(VIGIL_SLOT_SECURITY);
	return 0;
}

/*
 * The process now traced. An attach links the tracee at the head of the
 * tracer thread's `ptraced` list; PTRACE_TRACEME makes the caller itself
 * the tracee (its parent the tracer).
 */
static __always_inline struct task_struct *ptrace_target(struct task_struct *task, __u32 request)
{
	struct list_head *first;

	if (request == VIGIL_PTRACE_TRACEME)
		return task;
	first = BPF_CORE_READ(task, ptraced.next);
	if (!first || first == __builtin_preserve_access_index(&task->ptraced))
		return NULL;
	return (void *)first - bpf_core_field_offset(struct task_struct, ptrace_entry);
}

static __always_inline int ptrace_exit(long ret, bool use_bpf_loop)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 result = ret < 0 ? VIGIL_RESULT_FAILURE : VIGIL_RESULT_SUCCESS;
	struct vigil_security_counters *c;
	struct ptrace_inflight *in;
	struct vigil_sec_event *ev;
	struct task_struct *target;
	struct file *exe;
	__u32 request;

	in = bpf_map_lookup_elem(&ptrace_inflight, &tid);
	if (!in)
		return 0;
	request = in->request;
	if (request >= VIGIL_PTRACE_REQUESTS)
		goto out;
	/* Keeps the checked value: the index below must be bounded. */
	barrier_var(request);
	c = counters();
	ev = completed(c ? &c->ptrace[request][result] : NULL, VIGIL_SEC_PTRACE, request, ret, true);
	if (!ev)
		goto out;
	ev->args[0] = (__u64)(__s64)in->pid;
	target = result == VIGIL_RESULT_SUCCESS ? ptrace_target(task, request) : NULL;
	if (target) {
		ev->ids[0] = BPF_CORE_READ(target, tgid);
		ev->ids[1] = BPF_CORE_READ(target, pid);
		exe = BPF_CORE_READ(target, mm, exe_file);
		if (exe)
			event_path(ev, __builtin_preserve_access_index(&exe->f_path), task, use_bpf_loop);
		event_arg_kernel(ev, __builtin_preserve_access_index(&target->comm));
	}
	event_send(ev);
out:
	bpf_map_delete_elem(&ptrace_inflight, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_ptrace")
int sec_exit_ptrace(struct trace_event_raw_sys_exit *ctx)
{
	return ptrace_exit(ctx->ret, true);
}

SEC("tracepoint/syscalls/sys_exit_ptrace")
int sec_exit_ptrace_legacy(struct trace_event_raw_sys_exit *ctx)
{
	return ptrace_exit(ctx->ret, false);
}

#endif /* VIGIL_SECURITY_PROCESS_H */
