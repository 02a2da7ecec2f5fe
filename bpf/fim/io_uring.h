/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * io_uring requests, for the tracepoint backend: they run file operations
 * without the syscalls it hooks.
 */
#ifndef VIGIL_FIM_IO_URING_H
#define VIGIL_FIM_IO_URING_H

/* ---- io_uring requests (the tracepoint backend) ------------------------- */
/*
 * io_uring runs file operations without the syscalls above, so this
 * backend also looks at each request as it is submitted: after its
 * preparation, which copied its path strings into the kernel, and before
 * it runs. Like the LSM hooks, that is before the outcome: user space
 * confirms every change on disk. LSM and fentry hooks sit below io_uring
 * and see its requests as they see syscalls.
 */

/* Where registered ("fixed") files live: an array of tagged pointers up
 * to 6.12, resource nodes since 6.13. */
struct io_fixed_file___old {
	unsigned long file_ptr;
} __attribute__((preserve_access_index));
struct io_file_table___old {
	struct io_fixed_file___old *files;
} __attribute__((preserve_access_index));
struct io_rsrc_node___new {
	unsigned long file_ptr;
} __attribute__((preserve_access_index));
struct io_rsrc_data___new {
	unsigned int nr;
	struct io_rsrc_node___new **nodes;
} __attribute__((preserve_access_index));
struct io_file_table___new {
	struct io_rsrc_data___new data;
} __attribute__((preserve_access_index));
struct io_ring_ctx___old {
	struct io_file_table___old file_table;
	unsigned int nr_user_files;
} __attribute__((preserve_access_index));
struct io_ring_ctx___new {
	struct io_file_table___new file_table;
} __attribute__((preserve_access_index));

#define IO_REQ_F_FIXED_FILE_ 1ULL   /* IOSQE_FIXED_FILE, mirrored in req->flags */
#define IO_FFS_MASK_ (~7UL)         /* low bits of a fixed file pointer are flags */

/*
 * The file a request names. Before 5.19 preparation looked it up already;
 * since, the request holds its fd, or its slot among registered files.
 */
static __always_inline struct file *fim_io_file(struct io_kiocb *req, struct task_struct *task)
{
	unsigned long ptr = 0;
	__u64 flags;
	void *ctx;
	__s32 fd;

	if (!bpf_core_field_exists(req->cqe))
		return BPF_CORE_READ(req, file);
	fd = BPF_CORE_READ(req, cqe.fd);
	flags = BPF_CORE_READ_BITFIELD_PROBED(req, flags);
	if (!(flags & IO_REQ_F_FIXED_FILE_))
		return vigil_fd_file(task, fd);
	if (fd < 0)
		return NULL;
	ctx = BPF_CORE_READ(req, ctx);
	if (bpf_core_field_exists(((struct io_file_table___new *)0)->data)) {
		struct io_ring_ctx___new *c = ctx;
		struct io_rsrc_node___new *node = NULL;
		struct io_rsrc_node___new **nodes = BPF_CORE_READ(c, file_table.data.nodes);

		if ((__u32)fd >= BPF_CORE_READ(c, file_table.data.nr) || !nodes)
			return NULL;
		bpf_probe_read_kernel(&node, sizeof(node), &nodes[fd]);
		if (node)
			ptr = BPF_CORE_READ(node, file_ptr);
	} else {
		struct io_ring_ctx___old *c = ctx;
		struct io_fixed_file___old *files = BPF_CORE_READ(c, file_table.files);

		if ((__u32)fd >= BPF_CORE_READ(c, nr_user_files) || !files)
			return NULL;
		bpf_probe_read_kernel(&ptr, sizeof(ptr), &files[fd].file_ptr);
	}
	return (struct file *)(ptr & IO_FFS_MASK_);
}

static __always_inline const char *fim_io_name(struct filename *f)
{
	return f ? BPF_CORE_READ(f, name) : NULL;
}

/*
 * The start of the submission tracepoint's record: io_uring_submit_req
 * (6.4 and later) and io_uring_submit_sqe (before it; Debian's 5.10 too)
 * begin with the ring and the request. User space attaches where the
 * kernel's format file says `req` is at this offset.
 */
struct fim_io_uring_record {
	__u8 common[8];
	void *ring;
	struct io_kiocb *req;
};

static __always_inline int fim_io_uring_op(struct fim_io_uring_record *ctx, bool use_loop)
{
	struct io_kiocb *req = ctx->req;
	struct task_struct *task;
	struct fim_args a = {
		.dfd1 = VIGIL_AT_FDCWD,
		.dfd2 = VIGIL_AT_FDCWD,
		.fd = -1,
		.kernel = 1,
		.via = VIGIL_VIA_IO_URING,
	};
	/* The request's own data is its first member: `cmd` since 6.0, a
	 * union of per-operation structs before. */
	void *cmd = req;
	struct file *file;
	__u32 op = 0;
	__u8 opcode;

	if (!req)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	opcode = BPF_CORE_READ(req, opcode);
	if (opcode == IORING_OP_WRITE || opcode == IORING_OP_WRITEV || opcode == IORING_OP_WRITE_FIXED)
		op = VIGIL_FIM_WRITE;
	else if (opcode == IORING_OP_FALLOCATE || opcode == IORING_OP_FTRUNCATE)
		op = VIGIL_FIM_TRUNCATE;
	if (op) {
		file = fim_io_file(req, task);
		return file ? fim_file_op(op, file, VIGIL_BACKEND_TRACEPOINT, use_loop, false, VIGIL_VIA_IO_URING)
			    : 0;
	}
	/* fim_file_op checks this itself; path operations check it here. */
	if (fim_is_agent())
		return 0;
	switch (opcode) {
	case IORING_OP_OPENAT:
	case IORING_OP_OPENAT2: {
		struct io_open *o = cmd;

		/* Kernels without the operation lack its type too. */
		if (!bpf_core_type_exists(struct io_open))
			return 0;

		a.flags = BPF_CORE_READ(o, how.flags);
		if (!fim_write_intent(a.flags))
			return 0;
		a.op = VIGIL_FIM_OPEN_WRITE;
		a.mode = BPF_CORE_READ(o, how.mode);
		a.dfd1 = BPF_CORE_READ(o, dfd);
		a.p1 = fim_io_name(BPF_CORE_READ(o, filename));
		break;
	}
	case IORING_OP_RENAMEAT: {
		struct io_rename *r = cmd;

		if (!bpf_core_type_exists(struct io_rename))
			return 0;

		a.op = VIGIL_FIM_RENAME;
		a.dfd1 = BPF_CORE_READ(r, old_dfd);
		a.p1 = fim_io_name(BPF_CORE_READ(r, oldpath));
		a.dfd2 = BPF_CORE_READ(r, new_dfd);
		a.p2 = fim_io_name(BPF_CORE_READ(r, newpath));
		a.flags = BPF_CORE_READ(r, flags);
		break;
	}
	case IORING_OP_UNLINKAT: {
		struct io_unlink *u = cmd;

		if (!bpf_core_type_exists(struct io_unlink))
			return 0;

		a.flags = BPF_CORE_READ(u, flags);
		a.op = (a.flags & AT_REMOVEDIR_) ? VIGIL_FIM_RMDIR : VIGIL_FIM_UNLINK;
		a.dfd1 = BPF_CORE_READ(u, dfd);
		a.p1 = fim_io_name(BPF_CORE_READ(u, filename));
		break;
	}
	case IORING_OP_MKDIRAT: {
		struct io_mkdir *m = cmd;

		if (!bpf_core_type_exists(struct io_mkdir))
			return 0;

		a.op = VIGIL_FIM_MKDIR;
		a.mode = BPF_CORE_READ(m, mode);
		a.dfd1 = BPF_CORE_READ(m, dfd);
		a.p1 = fim_io_name(BPF_CORE_READ(m, filename));
		break;
	}
	case IORING_OP_SYMLINKAT: {
		struct io_link *l = cmd;

		if (!bpf_core_type_exists(struct io_link))
			return 0;

		a.op = VIGIL_FIM_SYMLINK;
		a.dfd1 = BPF_CORE_READ(l, new_dfd);
		a.p1 = fim_io_name(BPF_CORE_READ(l, newpath));
		a.p2 = fim_io_name(BPF_CORE_READ(l, oldpath));
		a.p2_verbatim = 1;
		break;
	}
	case IORING_OP_LINKAT: {
		struct io_link *l = cmd;

		if (!bpf_core_type_exists(struct io_link))
			return 0;

		a.op = VIGIL_FIM_LINK;
		a.dfd1 = BPF_CORE_READ(l, old_dfd);
		a.p1 = fim_io_name(BPF_CORE_READ(l, oldpath));
		a.dfd2 = BPF_CORE_READ(l, new_dfd);
		a.p2 = fim_io_name(BPF_CORE_READ(l, newpath));
		a.flags = BPF_CORE_READ(l, flags);
		break;
	}
	case IORING_OP_FSETXATTR:
	case IORING_OP_SETXATTR: {
		struct io_xattr *x = cmd;

		if (!bpf_core_type_exists(struct io_xattr))
			return 0;
		struct xattr_name *kname = BPF_CORE_READ(x, ctx.kname);

		a.op = VIGIL_FIM_SETXATTR;
		if (kname)
			a.name = __builtin_preserve_access_index(&kname->name[0]);
		if (opcode == IORING_OP_SETXATTR) {
			a.p1 = fim_io_name(BPF_CORE_READ(x, filename));
		} else {
			a.file = fim_io_file(req, task);
			if (!a.file)
				return 0;
		}
		break;
	}
	default:
		return 0;
	}
	if (!a.p1 && !a.file)
		return 0;
	return fim_path_emit(&a, 0, use_loop);
}

/* Attached to io_uring/io_uring_submit_req or io_uring/io_uring_submit_sqe. */
FIM_TP_FLAVOURS(fim_io_uring, struct fim_io_uring_record, fim_io_uring_op(ctx, loop))

#endif /* VIGIL_FIM_IO_URING_H */
