// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Security signals: process exec and exit, TCP and UDP connections,
 * sensitive-file access, privilege changes and kernel modules, from
 * tracepoints and raw tracepoints only, so they run on every kernel that
 * has BTF, this host included.
 *
 * Every signal is counted exactly in per-CPU counters (never sampled);
 * user space reads and sums them for the metrics.  Each signal is also an
 * event on the ring buffer.  Routine events (exec, exit, connects) are
 * sampled 1-in-N when user space asks, to bound the stream under load;
 * security alerts (suspicious execs, sensitive files, privilege changes,
 * modules) are never sampled.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "vigil/abi.h"
#include "vigil/emit.h"
#include "vigil/path.h"
#include "vigil/who.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define FMODE_WRITE 0x2
#define FMODE_PATH 0x4000
#define ETIMEDOUT 110
#define ECONNREFUSED 111
#define ECONNRESET 104
#define EHOSTUNREACH 113
#define ENETUNREACH 101

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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct vigil_sensitive_key);
	__type(value, struct vigil_sensitive_rule);
} sensitive_files SEC(".maps");

/* Who called connect() on a socket still in SYN_SENT. */
struct conn_owner {
	__u32 pid, tid, uid, gid;
	__u8 comm[VIGIL_COMM_LEN];
	__u64 cgroup_id;
	__u64 mntns;
	__u32 ppid, auid, sessionid, euid, egid, pidns_level;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct conn_owner);
} conn_owners SEC(".maps");

struct udp_flow {
	__u64 sk;
	__u8 daddr[16];
	__u16 dport;
	__u16 family;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct udp_flow);
	__type(value, __u8);
} udp_flows SEC(".maps");

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

/* A zeroed scratch event with the current task's who-data. */
static __always_inline struct vigil_sec_event *event_begin(__u32 signal)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_sec_event *ev;
	__u32 zero = 0;

	ev = bpf_map_lookup_elem(&security_scratch, &zero);
	if (!ev)
		return NULL;
	__builtin_memset(ev, 0, offsetof(struct vigil_sec_event, data));
	vigil_fill_header(&ev->hdr, VIGIL_EVENT_SECURITY);
	ev->signal = signal;
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

/* ------------------------------------------------------------- network */

static __always_inline __u32 connect_error(int err)
{
	switch (err) {
	case ETIMEDOUT:
		return VIGIL_CONNERR_TIMEOUT;
	case ECONNREFUSED:
		return VIGIL_CONNERR_REFUSED;
	case ECONNRESET:
		return VIGIL_CONNERR_RESET;
	case EHOSTUNREACH:
	case ENETUNREACH:
		return VIGIL_CONNERR_UNREACHABLE;
	default:
		return VIGIL_CONNERR_OTHER;
	}
}

/* An event for a connection: the owner's who-data, or none. */
static __always_inline struct vigil_sec_event *
conn_event(__u32 signal, struct trace_event_raw_inet_sock_set_state *ctx, struct conn_owner *o)
{
	struct vigil_sec_event *ev;
	__u32 zero = 0;

	ev = bpf_map_lookup_elem(&security_scratch, &zero);
	if (!ev)
		return NULL;
	__builtin_memset(ev, 0, offsetof(struct vigil_sec_event, data));
	ev->hdr.ts_ns = bpf_ktime_get_ns();
	ev->hdr.kind = VIGIL_EVENT_SECURITY;
	ev->signal = signal;
	ev->auid = (__u32)-1;
	ev->sessionid = (__u32)-1;
	if (o) {
		ev->hdr.pid = o->pid;
		ev->hdr.tid = o->tid;
		ev->hdr.uid = o->uid;
		ev->hdr.gid = o->gid;
		__builtin_memcpy(ev->hdr.comm, o->comm, sizeof(o->comm));
		ev->cgroup_id = o->cgroup_id;
		ev->mntns = o->mntns;
		ev->ppid = o->ppid;
		ev->auid = o->auid;
		ev->sessionid = o->sessionid;
		ev->euid = o->euid;
		ev->egid = o->egid;
		ev->pidns_level = o->pidns_level;
	}
	ev->protocol = VIGIL_PROTO_TCP;
	ev->family = ctx->family;
	ev->sport = ctx->sport;
	ev->dport = ctx->dport;
	/* Tracepoint context fields are read, not dereferenced at an offset. */
	if (ctx->family == AF_INET6) {
		bpf_probe_read_kernel(ev->saddr, 16, &ctx->saddr_v6);
		bpf_probe_read_kernel(ev->daddr, 16, &ctx->daddr_v6);
	} else {
		bpf_probe_read_kernel(ev->saddr, 4, &ctx->saddr);
		bpf_probe_read_kernel(ev->daddr, 4, &ctx->daddr);
	}
	return ev;
}

SEC("tracepoint/sock/inet_sock_set_state")
int sec_sock_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct vigil_security_counters *c = counters();
	__u64 sk = (__u64)ctx->skaddr;
	int old = ctx->oldstate, new = ctx->newstate;
	struct vigil_sec_event *ev;
	struct conn_owner *o;

	if (ctx->protocol != IPPROTO_TCP || !c)
		return 0;

	if (new == TCP_SYN_SENT) {
		/* connect() runs in the caller's context: remember who. */
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct conn_owner own = {};
		__u64 pid_tgid = bpf_get_current_pid_tgid();
		__u64 uid_gid = bpf_get_current_uid_gid();

		own.pid = pid_tgid >> 32;
		own.tid = (__u32)pid_tgid;
		own.uid = (__u32)uid_gid;
		own.gid = uid_gid >> 32;
		bpf_get_current_comm(own.comm, sizeof(own.comm));
		vigil_who_ids(&own, task);
		own.pidns_level = BPF_CORE_READ(task, thread_pid, level);
		bpf_map_update_elem(&conn_owners, &sk, &own, BPF_ANY);
		return 0;
	}

	if (new == TCP_ESTABLISHED) {
		__u32 dir = old == TCP_SYN_SENT ? VIGIL_CONN_OUT : VIGIL_CONN_IN;

		__sync_fetch_and_add(&c->established, 1);
		__sync_fetch_and_add(&c->connect[dir][VIGIL_PROTO_TCP], 1);
		o = bpf_map_lookup_elem(&conn_owners, &sk);
		if (sampled_in()) {
			ev = conn_event(VIGIL_SEC_CONNECT, ctx, o);
			if (ev) {
				ev->kind = dir;
				event_send(ev);
			}
		}
		bpf_map_delete_elem(&conn_owners, &sk);
		return 0;
	}

	if (old == TCP_ESTABLISHED)
		__sync_fetch_and_add(&c->closed, 1);

	if (new == TCP_CLOSE) {
		int err = BPF_CORE_READ((struct sock *)ctx->skaddr, sk_err);

		o = bpf_map_lookup_elem(&conn_owners, &sk);
		/* A failed connect, or a connection the peer reset. */
		if (err && (old == TCP_SYN_SENT || err == ECONNRESET || err == ETIMEDOUT)) {
			__u32 kind = connect_error(err);

			if (kind < VIGIL_CONN_ERRORS)
				__sync_fetch_and_add(&c->connect_error[kind], 1);
			if (sampled_in()) {
				ev = conn_event(VIGIL_SEC_CONNECT_ERROR, ctx, o);
				if (ev) {
					ev->kind = kind;
					ev->ret = -err;
					ev->result = VIGIL_RESULT_FAILURE;
					event_send(ev);
				}
			}
		}
		if (o)
			bpf_map_delete_elem(&conn_owners, &sk);
	}
	return 0;
}

/* The first send of each UDP flow (socket, destination). */
static __always_inline int udp_send(int fd, const void *uaddr)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_security_counters *c;
	struct vigil_sec_event *ev;
	struct udp_flow flow = {};
	struct file *file;
	struct socket *sock;
	struct sock *sk;
	__u8 one = 1;
	__u16 family;

	file = vigil_fd_file(task, fd);
	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (uaddr) {
		struct sockaddr_in6 sa = {};

		if (bpf_probe_read_user(&sa, sizeof(sa), uaddr) &&
		    bpf_probe_read_user(&sa, sizeof(struct sockaddr_in), uaddr))
			return 0;
		flow.family = sa.sin6_family;
		flow.dport = bpf_ntohs(sa.sin6_port);
		if (flow.family == AF_INET)
			__builtin_memcpy(flow.daddr, &((struct sockaddr_in *)&sa)->sin_addr, 4);
		else if (flow.family == AF_INET6)
			__builtin_memcpy(flow.daddr, &sa.sin6_addr, 16);
		else
			return 0;
	} else {
		flow.family = family;
		flow.dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (family == AF_INET)
			bpf_probe_read_kernel(flow.daddr, 4, __builtin_preserve_access_index(
								     &sk->__sk_common.skc_daddr));
		else
			bpf_probe_read_kernel(flow.daddr, 16, __builtin_preserve_access_index(
								      &sk->__sk_common.skc_v6_daddr));
	}
	if (!flow.dport)
		return 0;
	flow.sk = (__u64)sk;
	if (bpf_map_update_elem(&udp_flows, &flow, &one, BPF_NOEXIST))
		return 0; /* known flow (or the map refused: nothing new to say) */
	c = counters();
	if (c)
		__sync_fetch_and_add(&c->connect[VIGIL_CONN_OUT][VIGIL_PROTO_UDP], 1);
	if (!sampled_in())
		return 0;
	ev = event_begin(VIGIL_SEC_CONNECT);
	if (!ev)
		return 0;
	ev->kind = VIGIL_CONN_OUT;
	ev->protocol = VIGIL_PROTO_UDP;
	ev->family = flow.family;
	ev->dport = flow.dport;
	ev->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	__builtin_memcpy(ev->daddr, flow.daddr, 16);
	event_send(ev);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int sec_udp_sendto(struct trace_event_raw_sys_enter *ctx)
{
	if (is_agent())
		return 0;
	return udp_send((int)ctx->args[0], (const void *)ctx->args[4]);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int sec_udp_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	struct user_msghdr msg = {};

	if (is_agent())
		return 0;
	if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)ctx->args[1]))
		return 0;
	return udp_send((int)ctx->args[0], msg.msg_name);
}

/* ----------------------------------------------------- sensitive files */

/* FNV-1a 64 of a NUL-terminated name; user space hashes the same way. */
static __always_inline __u64 name_hash(const char *name)
{
	__u64 h = 0xcbf29ce484222325ULL;
	int i;

	for (i = 0; i < VIGIL_NAME_MAX; i++) {
		if (!name[i])
			break;
		h ^= (__u8)name[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[VIGIL_NAME_MAX + 1]);
} name_scratch SEC(".maps");

static __always_inline int handle_open_exit(long ret, bool use_bpf_loop)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_sensitive_key key = {};
	struct vigil_sensitive_rule *dir_rule, *rule = NULL;
	struct vigil_security_counters *c;
	struct vigil_sec_event *ev;
	struct dentry *dentry;
	struct file *file;
	__u32 zero = 0, sev, op;
	unsigned int mode;
	char *name;

	if (ret < 0 || is_agent())
		return 0;
	file = vigil_fd_file(task, ret);
	if (!file)
		return 0;
	dentry = BPF_CORE_READ(file, f_path.dentry);
	key.dir_ino = BPF_CORE_READ(dentry, d_parent, d_inode, i_ino);
	/* The path's own superblock: on overlayfs f_inode is the layer's. */
	key.dev = BPF_CORE_READ(dentry, d_sb, s_dev);
	dir_rule = bpf_map_lookup_elem(&sensitive_files, &key);
	if (!dir_rule)
		return 0;
	if (dir_rule->flags & VIGIL_SENS_HAS_NAMES) {
		name = bpf_map_lookup_elem(&name_scratch, &zero);
		if (!name)
			return 0;
		bpf_probe_read_kernel_str(name, VIGIL_NAME_MAX + 1, BPF_CORE_READ(dentry, d_name.name));
		key.name_hash = name_hash(name);
		rule = bpf_map_lookup_elem(&sensitive_files, &key);
	}
	if (!rule && !(dir_rule->flags & VIGIL_SENS_WHOLE_DIR))
		return 0;
	sev = rule ? rule->severity : dir_rule->severity;
	mode = BPF_CORE_READ(file, f_mode);
	if (mode & FMODE_PATH)
		return 0;
	op = (mode & FMODE_WRITE) ? VIGIL_ACCESS_WRITE : VIGIL_ACCESS_READ;
	c = counters();
	if (c && sev < VIGIL_SEVERITIES)
		__sync_fetch_and_add(&c->file_access[sev][op], 1);

	ev = event_begin(VIGIL_SEC_FILE_ACCESS);
	if (!ev)
		return 0;
	ev->kind = sev;
	ev->op = op;
	ev->ret = ret;
	ev->ino = BPF_CORE_READ(file, f_inode, i_ino);
	ev->dev = key.dev;
	ev->category = classify(task, 0, ev->pidns_level);
	event_cmdline(ev, task);
	event_path(ev, __builtin_preserve_access_index(&file->f_path), task, use_bpf_loop);
	event_send(ev);
	return 0;
}

/* One program serves every open syscall's exit (attached by user space). */
SEC("tracepoint/syscalls/sys_exit_openat")
int sec_open_exit(struct trace_event_raw_sys_exit *ctx)
{
	return handle_open_exit(ctx->ret, true);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int sec_open_exit_legacy(struct trace_event_raw_sys_exit *ctx)
{
	return handle_open_exit(ctx->ret, false);
}

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
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
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
	c = counters();
	if (c)
		__sync_fetch_and_add(&c->privilege[call][result], 1);
	if (is_agent())
		goto out;
	ev = event_begin(VIGIL_SEC_PRIVILEGE);
	if (!ev)
		goto out;
	ev->kind = call;
	ev->result = result;
	ev->ret = ret;
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
	ev->category = classify(task, 0, ev->pidns_level);
	event_cmdline(ev, task);
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
