/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Event emission shared by every program: the ring buffer, the per-CPU
 * loss counters, and the common record header.  A record that cannot be
 * written is never lost silently: it is counted against its program slot.
 */
#ifndef VIGIL_EMIT_H
#define VIGIL_EMIT_H

#include "abi.h"

/*
 * Waking the consumer for every record costs more than the record itself
 * at high rates.  Records are written without a wakeup until this much
 * is pending; the consumer's poll timeout bounds the latency otherwise.
 */
#define VIGIL_WAKEUP_BYTES (128 * 1024)

/* User space resizes this before load (set_max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} vigil_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_SLOT_COUNT);
	__type(key, __u32);
	__type(value, struct vigil_counters);
} vigil_counters SEC(".maps");

static __always_inline struct vigil_counters *vigil_counters_of(__u32 slot)
{
	return bpf_map_lookup_elem(&vigil_counters, &slot);
}

static __always_inline void vigil_count_state_drop(__u32 slot)
{
	struct vigil_counters *c = vigil_counters_of(slot);

	if (c)
		__sync_fetch_and_add(&c->state_drops, 1);
}

static __always_inline void vigil_count_unreadable(__u32 slot)
{
	struct vigil_counters *c = vigil_counters_of(slot);

	if (c)
		__sync_fetch_and_add(&c->unreadable, 1);
}

/* include/linux/sched.h: an io_uring worker or SQPOLL thread. */
#define VIGIL_PF_IO_WORKER 0x00000010

/*
 * Fill the header fields that come from the current task. An io_uring
 * worker or SQPOLL thread ("iou-sqp-1234") acts for its process: the
 * command name is the process's, the thread id stays the worker's.
 */
static __always_inline void vigil_fill_header(struct vigil_event_header *h, __u32 kind)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	h->ts_ns = bpf_ktime_get_ns();
	h->kind = kind;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->uid = (__u32)uid_gid;
	h->gid = uid_gid >> 32;
	if (BPF_CORE_READ(task, flags) & VIGIL_PF_IO_WORKER)
		BPF_CORE_READ_STR_INTO(&h->comm, task, group_leader, comm);
	else
		bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/*
 * Copy a record of `size` bytes (header included) to the ring buffer.
 * `size` is clamped to `max` so the verifier can bound the copy.
 */
static __always_inline int vigil_emit(void *rec, __u64 size, __u64 max, __u32 slot,
				      __u16 path_flags)
{
	struct vigil_counters *c = vigil_counters_of(slot);
	long err;

	if (size > max)
		size = max;
	((struct vigil_event_header *)rec)->size = size;
	err = bpf_ringbuf_output(&vigil_events, rec, size,
				 bpf_ringbuf_query(&vigil_events, BPF_RB_AVAIL_DATA) >= VIGIL_WAKEUP_BYTES
					 ? BPF_RB_FORCE_WAKEUP
					 : BPF_RB_NO_WAKEUP);
	if (!c)
		return err;
	if (err) {
		__sync_fetch_and_add(&c->ringbuf_drops, 1);
		return err;
	}
	__sync_fetch_and_add(&c->emitted, 1);
	if (path_flags & VIGIL_PATH_TRUNCATED)
		__sync_fetch_and_add(&c->truncated, 1);
	return 0;
}

#endif /* VIGIL_EMIT_H */
