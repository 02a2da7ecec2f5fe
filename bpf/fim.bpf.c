// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * File-integrity events with who-data: fim.bpf.o, every FIM backend.
 *
 * Every change to a file under a watched tree is reported with the exact
 * path(s), and with who made it, read in the kernel at that moment. The
 * agent loads one backend's hooks (LSM, fentry or syscall tracepoints)
 * and the programs every backend shares.
 *
 * One hook family per file, in fim/:
 *  - common.h: settings, maps, the agent check;
 *  - trees.h: registration of the watched trees, and the tests of whether
 *    a path, a file or a string is under one;
 *  - event.h: the record, its paths, who-data and the ring buffer;
 *  - syscalls.h: the tracepoint backend (fd writes, opens, path syscalls);
 *  - compat.h: 32-bit syscalls, which syscall tracepoints skip;
 *  - io_uring.h: io_uring requests, for the tracepoint backend;
 *  - security_hooks.h: the LSM and fentry backends.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "vigil/abi.h"
#include "vigil/emit.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct vigil_walk;
static __always_inline void fim_visit(struct vigil_walk *w, struct dentry *d);
#define VIGIL_WALK_VISIT(w, d) fim_visit(w, d)

#include "vigil/path.h"
#include "vigil/sys_open.h"
#include "vigil/who.h"

#include "fim/common.h"
#include "fim/trees.h"
#include "fim/event.h"
#include "fim/syscalls.h"
#include "fim/compat.h"
#include "fim/io_uring.h"
#include "fim/security_hooks.h"
