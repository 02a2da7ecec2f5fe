/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Opens of sensitive files, matched in the kernel by (directory inode,
 * name hash) against the rules user space resolves from patterns.
 */
#ifndef VIGIL_SECURITY_FILES_H
#define VIGIL_SECURITY_FILES_H

#define FMODE_WRITE 0x2
#define FMODE_PATH 0x4000

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct vigil_sensitive_key);
	__type(value, struct vigil_sensitive_rule);
} sensitive_files SEC(".maps");

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

#endif /* VIGIL_SECURITY_FILES_H */
