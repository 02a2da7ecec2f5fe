// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Security signals: process exec and exit, TCP and UDP connections,
 * sensitive-file access, privilege changes and kernel modules, from
 * tracepoints and raw tracepoints only, so they run on every kernel that
 * has BTF, this host included. One concern per file, in security/.
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

#include "security/common.h"
#include "security/process.h"
#include "security/network.h"
#include "security/files.h"
#include "security/privilege.h"
#include "security/kernel.h"
