/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Connections: TCP established (in and out), failed and reset, from the
 * socket state tracepoint; the first send of each UDP flow.
 */
#ifndef VIGIL_SECURITY_NETWORK_H
#define VIGIL_SECURITY_NETWORK_H

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define ETIMEDOUT 110
#define ECONNREFUSED 111
#define ECONNRESET 104
#define EHOSTUNREACH 113
#define ENETUNREACH 101

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
	struct vigil_sec_event *ev = event_scratch(signal);

	if (!ev)
		return NULL;
	/* Softirq context: the current task is not the owner. */
	ev->hdr.ts_ns = bpf_ktime_get_ns();
	ev->hdr.kind = VIGIL_EVENT_SECURITY;
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

#endif /* VIGIL_SECURITY_NETWORK_H */
