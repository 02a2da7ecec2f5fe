// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The open tracer: open, openat, openat2 and creat, from syscall
 * tracepoints.
 *
 * Enter programs save the arguments per thread; exit programs emit one
 * record with the result.  A successful open is resolved from the file the
 * kernel actually opened (fd -> file -> path, mount-aware), so symlinks,
 * "..", bind mounts and subvolumes cannot fool it.  A failed open has no
 * file: the record then carries the user's string plus the resolved cwd or
 * dirfd, and user space joins them.
 *
 * The enter programs and the argument capture are shared with FIM
 * (vigil/sys_open.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "vigil/abi.h"
#include "vigil/emit.h"
#include "vigil/path.h"
#include "vigil/sys_open.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_opens_filter);
} opens_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_open_event);
} opens_scratch SEC(".maps");

static __always_inline bool comm_matches(const __u8 *want)
{
	__u64 have[2] = {};
	const __u64 *w = (const __u64 *)want;

	if (!w[0] && !w[1])
		return true;
	bpf_get_current_comm(have, sizeof(have));
	return have[0] == w[0] && have[1] == w[1];
}

/* Filters that need only the current task run at enter, before any work. */
static __always_inline bool task_wanted(__u64 flags)
{
	__u32 zero = 0;
	struct vigil_opens_filter *f = bpf_map_lookup_elem(&opens_config, &zero);
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid;

	if (!f || tgid == f->self_tgid)
		return false;
	if (f->tgid && f->tgid != tgid)
		return false;
	if (f->tid && f->tid != tid)
		return false;
	if (f->uid != (__u32)-1 && f->uid != (__u32)bpf_get_current_uid_gid())
		return false;
	return comm_matches(f->comm);
}

VIGIL_OPEN_ENTER_PROGRAMS(opens, task_wanted, VIGIL_SLOT_OPENS, vigil_open_saved)

static __always_inline int handle_exit(long ret, bool use_bpf_loop)
{
	__u32 zero = 0, tid = (__u32)bpf_get_current_pid_tgid();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_opens_filter *f;
	struct vigil_open_event *ev;
	struct vigil_open_args *a;
	struct vigil_walk *w = NULL;
	__u32 path_len = 0, arg_len = 0;
	__u16 path_flags = 0;
	long n;

	a = vigil_open_taken(tid);
	if (!a)
		return 0;
	f = bpf_map_lookup_elem(&opens_config, &zero);
	ev = bpf_map_lookup_elem(&opens_scratch, &zero);
	if (!f || !ev || (f->failed_only && ret >= 0))
		goto out;

	vigil_fill_header(&ev->hdr, VIGIL_EVENT_OPEN);
	ev->ret = ret;
	ev->flags = a->flags;
	ev->mode = a->mode;
	ev->resolve = a->resolve;
	ev->dfd = a->dfd;
	ev->syscall = a->syscall;
	ev->ino = 0;
	ev->dev = 0;

	if (ret >= 0) {
		struct file *file = vigil_fd_file(task, ret);

		if (file) {
			w = vigil_walk_path(__builtin_preserve_access_index(&file->f_path), task,
					    use_bpf_loop);
			ev->ino = BPF_CORE_READ(file, f_inode, i_ino);
			ev->dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
		}
		path_flags |= VIGIL_PATH_FROM_FILE;
	} else {
		char first = 0;

		/* A relative string needs the cwd or the dirfd as its base. */
		bpf_probe_read_user(&first, 1, a->filename);
		if (first != '/') {
			if (a->dfd == VIGIL_AT_FDCWD) {
				struct fs_struct *fs = BPF_CORE_READ(task, fs);

				w = vigil_walk_path(__builtin_preserve_access_index(&fs->pwd), task,
						    use_bpf_loop);
				path_flags |= VIGIL_PATH_BASE_CWD;
			} else {
				struct file *dir = vigil_fd_file(task, a->dfd);

				if (dir)
					w = vigil_walk_path(
						__builtin_preserve_access_index(&dir->f_path), task,
						use_bpf_loop);
				path_flags |= VIGIL_PATH_BASE_DIRFD;
			}
		}
	}

	if (w) {
		path_len = vigil_walk_copy(w, ev->data);
		path_flags |= w->flags;
	} else if (path_flags & (VIGIL_PATH_FROM_FILE | VIGIL_PATH_BASE_CWD | VIGIL_PATH_BASE_DIRFD)) {
		path_flags |= VIGIL_PATH_UNRESOLVED;
	}
	/* The user's string goes right behind the path.  Reading one byte more
	 * than PATH_MAX tells a string the kernel rejected as too long. */
	if (ret < 0) {
		n = bpf_probe_read_user_str(&ev->data[path_len & (VIGIL_PATH_MAX - 1)],
					    VIGIL_PATH_MAX + 1, a->filename);
		if (n > 0) {
			arg_len = n - 1;
			if (n > VIGIL_PATH_MAX)
				path_flags |= VIGIL_PATH_ARG_TRUNCATED;
		}
	}
	ev->path_len = path_len;
	ev->arg_len = arg_len;
	ev->path_flags = path_flags;
	vigil_emit(ev, offsetof(struct vigil_open_event, data) + path_len + arg_len,
		   sizeof(*ev), VIGIL_SLOT_OPENS, path_flags);
out:
	vigil_open_done(tid);
	return 0;
}

/* One exit program per syscall and per loop flavour; see vigil_walk_path(). */
#define OPENS_EXIT(sys)                                                                   \
	SEC("tracepoint/syscalls/sys_exit_" #sys)                                         \
	int opens_exit_##sys(struct trace_event_raw_sys_exit *ctx)                        \
	{                                                                                 \
		return handle_exit(ctx->ret, true);                                       \
	}                                                                                 \
	SEC("tracepoint/syscalls/sys_exit_" #sys)                                         \
	int opens_exit_##sys##_legacy(struct trace_event_raw_sys_exit *ctx)               \
	{                                                                                 \
		return handle_exit(ctx->ret, false);                                      \
	}

OPENS_EXIT(open)
OPENS_EXIT(creat)
OPENS_EXIT(openat)
OPENS_EXIT(openat2)
