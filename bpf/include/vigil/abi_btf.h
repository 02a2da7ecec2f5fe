/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Unused references that pull every ABI type into each object's BTF, where
 * the Rust mirror's layout test finds and checks them.
 */
#ifndef VIGIL_ABI_BTF_H
#define VIGIL_ABI_BTF_H

#include "abi.h"

#define VIGIL_KEEP_BTF(type, name) const type *vigil_btf_##name __attribute__((unused))

VIGIL_KEEP_BTF(struct vigil_event_header, event_header);
VIGIL_KEEP_BTF(struct vigil_open_event, open_event);
VIGIL_KEEP_BTF(struct vigil_opens_filter, opens_filter);
VIGIL_KEEP_BTF(struct vigil_counters, counters);
VIGIL_KEEP_BTF(struct vigil_fim_event, fim_event);
VIGIL_KEEP_BTF(struct vigil_fim_config, fim_config);
VIGIL_KEEP_BTF(struct vigil_sec_event, sec_event);
VIGIL_KEEP_BTF(struct vigil_security_config, security_config);
VIGIL_KEEP_BTF(struct vigil_sensitive_key, sensitive_key);
VIGIL_KEEP_BTF(struct vigil_sensitive_rule, sensitive_rule);
VIGIL_KEEP_BTF(struct vigil_security_counters, security_counters);
VIGIL_KEEP_BTF(enum vigil_limits, limits);
VIGIL_KEEP_BTF(enum vigil_event_kind, event_kind);
VIGIL_KEEP_BTF(enum vigil_prog_slot, prog_slot);
VIGIL_KEEP_BTF(enum vigil_open_syscall, open_syscall);
VIGIL_KEEP_BTF(enum vigil_path_flags, path_flags);
VIGIL_KEEP_BTF(enum vigil_fim_op, fim_op);
VIGIL_KEEP_BTF(enum vigil_fim_via, fim_via);
VIGIL_KEEP_BTF(enum vigil_fim_backend, fim_backend);
VIGIL_KEEP_BTF(enum vigil_sec_signal, sec_signal);
VIGIL_KEEP_BTF(enum vigil_proc_category, proc_category);
VIGIL_KEEP_BTF(enum vigil_suspicion, suspicion);
VIGIL_KEEP_BTF(enum vigil_conn_direction, conn_direction);
VIGIL_KEEP_BTF(enum vigil_conn_protocol, conn_protocol);
VIGIL_KEEP_BTF(enum vigil_conn_error, conn_error);
VIGIL_KEEP_BTF(enum vigil_severity, severity);
VIGIL_KEEP_BTF(enum vigil_access_op, access_op);
VIGIL_KEEP_BTF(enum vigil_priv_call, priv_call);
VIGIL_KEEP_BTF(enum vigil_module_action, module_action);
VIGIL_KEEP_BTF(enum vigil_result, result);
VIGIL_KEEP_BTF(enum vigil_sensitive_flags, sensitive_flags);

#endif /* VIGIL_ABI_BTF_H */
