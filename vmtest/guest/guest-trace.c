// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * guest-trace: a small static test harness for the VM matrix's guests on
 * architectures the Rust agent is not built for.  It drives the committed
 * BPF objects through libbpf the way crates/vigil-kernel does (flavour
 * choice, per-program fallback, exits attached before enters) and prints
 * the JSON fields and stderr lines the scenario checker reads.
 *
 *   guest-trace opens [--json] [-o FILE] [--path PREFIX]... [--obj DIR]
 *   guest-trace probe [--obj DIR]
 *
 * Records are decoded with the layout of bpf/include/vigil/abi.h itself.
 * GUEST_TRACE_DEBUG=1 in the environment echoes libbpf's messages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "vigil/abi.h"

_Static_assert(offsetof(struct vigil_open_event, data) == 104, "abi.h: open event layout");
_Static_assert(sizeof(struct vigil_opens_filter) == 40, "abi.h: filter layout");
_Static_assert(sizeof(struct vigil_counters) == 40, "abi.h: counters layout");

#if defined(__aarch64__)
#define ARCH "aarch64"
#elif defined(__x86_64__)
#define ARCH "x86_64"
#else
#error "unsupported architecture"
#endif

#define TRACEFS "/sys/kernel/tracing"
#define LEGACY "_legacy"
#define NAME_LEN 64
#define MAX_FAILED 128
#define MAX_PREFIXES 16
#define DETAIL_LEN 1024

static const char *const syscalls[] = { "open", "creat", "openat", "openat2" };
#define NSYSCALLS (sizeof(syscalls) / sizeof(syscalls[0]))

/* ---- libbpf's messages, kept so that a refusal can say why ---- */

static char logbuf[1 << 18];
static size_t loglen;

static void log_reset(void)
{
	loglen = 0;
	logbuf[0] = 0;
}

/* Keeps the tail when full: the verifier's verdict is at the end. */
static int capture(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *msg = NULL;
	size_t n, cap = sizeof(logbuf) - 1;
	va_list copy;

	if (getenv("GUEST_TRACE_DEBUG")) {
		va_copy(copy, ap);
		vfprintf(stderr, fmt, copy);
		va_end(copy);
	}
	if (level == LIBBPF_DEBUG || vasprintf(&msg, fmt, ap) < 0)
		return 0;
	n = strlen(msg);
	if (n > cap) {
		memcpy(logbuf, msg + n - cap, cap);
		loglen = cap;
	} else {
		if (loglen + n > cap) {
			memmove(logbuf, logbuf + (loglen + n - cap), cap - n);
			loglen = cap - n;
		}
		memcpy(logbuf + loglen, msg, n);
		loglen += n;
	}
	logbuf[loglen] = 0;
	free(msg);
	return 0;
}

/* Copies the line at `l` into `line`; returns where the next one starts. */
static const char *take_line(const char *l, char *line, size_t size)
{
	const char *eol = strchrnul(l, '\n');

	snprintf(line, size, "%.*s", (int)(eol - l), l);
	return *eol ? eol + 1 : eol;
}

/* The program libbpf names in "prog 'NAME': failed to load". */
static bool failed_program(char *name, size_t size)
{
	char line[512];

	for (const char *l = logbuf, *next; *l; l = next) {
		const char *s, *e;

		next = take_line(l, line, sizeof(line));
		if (!(s = strstr(line, "prog '")) || !(e = strchr(s += 6, '\'')))
			continue;
		if (strstr(e, "failed to load") || strstr(e, "failed to resolve CO-RE")) {
			snprintf(name, size, "%.*s", (int)(e - s), s);
			return true;
		}
	}
	return false;
}

/* The last lines of the verifier log, then libbpf's error lines about `prog`. */
static void excerpt(const char *prog, char *out, size_t size)
{
	char ring[3][512], tail[3][512], tag[NAME_LEN + 2], line[512];
	int nring = 0, ntail = 0, used = 0;
	size_t len = 0;

	snprintf(tag, sizeof(tag), "'%s'", prog ? prog : "");
	for (const char *l = logbuf, *next; *l; l = next) {
		next = take_line(l, line, sizeof(line));
		if (strstr(line, "-- BEGIN PROG LOAD LOG --")) {
			nring = 0;
		} else if (strstr(line, "-- END PROG LOAD LOG --")) {
			memcpy(tail, ring, sizeof(ring));
			ntail = nring;
		} else if (*line && strncmp(line, "libbpf: ", 8) && strncmp(line, "processed ", 10) &&
			   strncmp(line, "verification time", 17)) {
			if (nring == 3)
				memmove(ring, ring + 1, sizeof(ring[0]) * 2);
			strcpy(ring[nring < 3 ? nring++ : 2], line);
		}
	}
	out[0] = 0;
	for (int i = 0; i < ntail && len < size; i++)
		len += snprintf(out + len, size - len, "%sverifier: %s", used++ ? "; " : "", tail[i]);
	for (const char *l = logbuf, *next; *l && len < size && used < 6; l = next) {
		next = take_line(l, line, sizeof(line));
		if ((!prog || strstr(line, tag)) &&
		    (strstr(line, "relo") || strstr(line, "failed") || strstr(line, "error")))
			len += snprintf(out + len, size - len, "%s%s", used++ ? "; " : "",
					strncmp(line, "libbpf: ", 8) ? line : line + 8);
	}
}

/* ---- small helpers ---- */

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static bool tracepoint_exists(const char *kind, const char *sys)
{
	char p[256];

	snprintf(p, sizeof(p), TRACEFS "/events/syscalls/sys_%s_%s", kind, sys);
	return exists(p);
}

/* Mounts a pseudo filesystem if `marker` below `target` is missing. */
static bool ensure_mounted(const char *fstype, const char *target, const char *marker,
			   char *detail, size_t size)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", target, marker);
	if (exists(p)) {
		snprintf(detail, size, "mounted");
		return true;
	}
	if (mount(fstype, target, fstype, 0, NULL) == 0 && exists(p)) {
		snprintf(detail, size, "was not mounted; mounted it");
		return true;
	}
	snprintf(detail, size, "%s is not mounted at %s and mounting it failed: %s", fstype,
		 target, strerror(errno));
	return false;
}

static const char *errno_name(int e)
{
	static const struct { int n; const char *s; } names[] = {
		{ EPERM, "EPERM" },	{ ENOENT, "ENOENT" },	{ ESRCH, "ESRCH" },
		{ EINTR, "EINTR" },	{ EIO, "EIO" },		{ ENXIO, "ENXIO" },
		{ E2BIG, "E2BIG" },	{ EBADF, "EBADF" },	{ EAGAIN, "EAGAIN" },
		{ ENOMEM, "ENOMEM" },	{ EACCES, "EACCES" },	{ EFAULT, "EFAULT" },
		{ EBUSY, "EBUSY" },	{ EEXIST, "EEXIST" },	{ EXDEV, "EXDEV" },
		{ ENODEV, "ENODEV" },	{ ENOTDIR, "ENOTDIR" }, { EISDIR, "EISDIR" },
		{ EINVAL, "EINVAL" },	{ ENFILE, "ENFILE" },	{ EMFILE, "EMFILE" },
		{ ETXTBSY, "ETXTBSY" }, { EFBIG, "EFBIG" },	{ ENOSPC, "ENOSPC" },
		{ EROFS, "EROFS" },	{ EMLINK, "EMLINK" },	{ ENAMETOOLONG, "ENAMETOOLONG" },
		{ ENOSYS, "ENOSYS" },	{ ELOOP, "ELOOP" },	{ EOVERFLOW, "EOVERFLOW" },
		{ EOPNOTSUPP, "EOPNOTSUPP" }, { ESTALE, "ESTALE" }, { EDQUOT, "EDQUOT" },
		{ ENOMEDIUM, "ENOMEDIUM" },
	};
	static char other[16];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].n == e)
			return names[i].s;
	snprintf(other, sizeof(other), "E%d", e);
	return other;
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s, or 0 if s[0] starts none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* A JSON string; bytes that are not UTF-8 become the text \xNN, as in vigil. */
static bool json_str(FILE *f, const void *data, size_t n)
{
	const unsigned char *s = data;
	bool valid = true;

	fputc('"', f);
	for (size_t i = 0, len; i < n; i += len) {
		unsigned char c = s[i];

		len = utf8_seq(s + i, n - i);
		if (!len) {
			fprintf(f, "\\\\x%02x", c);
			valid = false;
			len = 1;
		} else if (c == '"' || c == '\\') {
			fprintf(f, "\\%c", c);
		} else if (c == '\n' || c == '\r' || c == '\t') {
			fprintf(f, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
		} else {
			fwrite(s + i, 1, len, f);
		}
	}
	fputc('"', f);
	return valid;
}

/* "key":"..." plus, for bytes that are not UTF-8, "key_base64" with the exact bytes. */
static void json_bytes(FILE *f, const char *key, const void *data, size_t n)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = data;

	fprintf(f, "\"%s\":", key);
	if (json_str(f, s, n))
		return;
	fprintf(f, ",\"%s_base64\":\"", key);
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = s[i] << 16 | (i + 1 < n ? s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);

		fputc(b64[v >> 18 & 63], f);
		fputc(b64[v >> 12 & 63], f);
		fputc(i + 1 < n ? b64[v >> 6 & 63] : '=', f);
		fputc(i + 2 < n ? b64[v & 63] : '=', f);
	}
	fputc('"', f);
}

/* ---- loading with per-program fallback (crates/vigil-kernel/src/loader.rs) ---- */

struct loader {
	bool has_loop;
	char failed[MAX_FAILED][NAME_LEN];
	char legacy[MAX_FAILED][NAME_LEN]; /* bases whose bpf_loop flavour failed */
	int nfailed, nlegacy;
};

static bool listed(char (*list)[NAME_LEN], int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(list[i], name))
			return true;
	return false;
}

/* The base name (without _legacy) and whether `name` has the other flavour. */
static bool flavour(struct bpf_object *obj, const char *name, char *base, bool *is_legacy)
{
	size_t n = strlen(name), s = strlen(LEGACY);
	char twin[NAME_LEN + 8];

	*is_legacy = n > s && !strcmp(name + n - s, LEGACY);
	snprintf(base, NAME_LEN, "%.*s", (int)(*is_legacy ? n - s : n), name);
	snprintf(twin, sizeof(twin), "%s%s", base, *is_legacy ? "" : LEGACY);
	return bpf_object__find_program_by_name(obj, twin) != NULL;
}

/*
 * "opens_exit_openat" -> kind "exit", syscall "openat"; only when the
 * tracepoint exists. FIM: "fim_enter_<syscall>" likewise; its other
 * programs are attached by hand to many tracepoints, so always wanted.
 */
static bool wanted(const char *base)
{
	char kind[NAME_LEN];
	const char *sys;

	if (!strncmp(base, "fim_enter_", 10))
		return tracepoint_exists("enter", base + 10);
	if (!strncmp(base, "fim_", 4))
		return true;
	/* The security object: syscall hooks where the syscall exists, the
	 * module tracepoint where the kernel has modules, the rest always. */
	if (!strncmp(base, "sec_enter_", 10))
		return tracepoint_exists("enter", base + 10);
	if (!strncmp(base, "sec_exit_", 9))
		return tracepoint_exists("exit", base + 9);
	if (!strcmp(base, "sec_module_load"))
		return exists(TRACEFS "/events/module/module_load");
	if (!strncmp(base, "sec_", 4))
		return true;
	if (strncmp(base, "opens_", 6) || !(sys = strchr(base + 6, '_')))
		return false;
	snprintf(kind, sizeof(kind), "%.*s", (int)(sys - base - 6), base + 6);
	return tracepoint_exists(kind, sys + 1);
}

static bool selected(struct loader *ld, struct bpf_object *obj, const char *name)
{
	char base[NAME_LEN];
	bool is_legacy, has_twin = flavour(obj, name, base, &is_legacy);
	bool use_legacy = !ld->has_loop || listed(ld->legacy, ld->nlegacy, base);

	if (listed(ld->failed, ld->nfailed, name) || !wanted(base))
		return false;
	return !has_twin || is_legacy == use_legacy;
}

static struct bpf_object *load_object(struct loader *ld, const char *path)
{
	for (;;) {
		char name[NAME_LEN], base[NAME_LEN], why[DETAIL_LEN];
		struct bpf_program *prog;
		struct bpf_object *obj;
		bool is_legacy;
		int err;

		log_reset();
		obj = bpf_object__open_file(path, NULL);
		if (!obj) {
			fprintf(stderr, "guest-trace: cannot open %s: %s\n", path, strerror(errno));
			return NULL;
		}
		bpf_object__for_each_program(prog, obj)
			bpf_program__set_autoload(prog, selected(ld, obj, bpf_program__name(prog)));
		err = bpf_object__load(obj);
		if (!err)
			return obj;
		if (!failed_program(name, sizeof(name)) || listed(ld->failed, ld->nfailed, name) ||
		    ld->nfailed == MAX_FAILED) {
			excerpt(NULL, why, sizeof(why));
			fprintf(stderr, "guest-trace: cannot load %s: %s: %s\n", path, strerror(-err), why);
			bpf_object__close(obj);
			return NULL;
		}
		excerpt(name, why, sizeof(why));
		fprintf(stderr, "guest-trace: program %s failed to load: %s: %s\n", name,
			strerror(-err), why);
		if (flavour(obj, name, base, &is_legacy) && !is_legacy)
			strcpy(ld->legacy[ld->nlegacy++], base);
		strcpy(ld->failed[ld->nfailed++], name);
		bpf_object__close(obj);
	}
}

/* The loaded flavour of `base`, if any. */
static struct bpf_program *loaded(struct bpf_object *obj, const char *base)
{
	char name[NAME_LEN + 8];
	struct bpf_program *p = bpf_object__find_program_by_name(obj, base);

	if (p && bpf_program__autoload(p))
		return p;
	snprintf(name, sizeof(name), "%s%s", base, LEGACY);
	p = bpf_object__find_program_by_name(obj, name);
	return p && bpf_program__autoload(p) ? p : NULL;
}

/* ---- opens ---- */

static volatile sig_atomic_t stop;
static FILE *out;
static char prefixes[MAX_PREFIXES][VIGIL_PATH_MAX + 1];
static int nprefixes;
static struct { unsigned long long received, malformed, filtered, written; } totals;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static const char *syscall_name(unsigned id)
{
	return id >= VIGIL_SYS_OPEN && id <= VIGIL_SYS_CREAT
		       ? (const char *[]){ "open", "openat", "openat2", "creat" }[id - 1]
		       : NULL;
}

/* As assemble_path() in crates/vigil-kernel/src/decode.rs. */
static size_t assemble_path(const struct vigil_open_event *ev, unsigned char *p, const char **src)
{
	const __u8 *base = ev->data, *arg = ev->data + ev->path_len;
	unsigned flags = ev->path_flags;
	bool resolved = !(flags & VIGIL_PATH_UNRESOLVED);
	size_t n = 0;

	if ((flags & VIGIL_PATH_FROM_FILE) && resolved) {
		memcpy(p, base, ev->path_len);
		*src = "file";
		return ev->path_len;
	}
	if ((flags & (VIGIL_PATH_BASE_CWD | VIGIL_PATH_BASE_DIRFD)) && resolved) {
		memcpy(p, base, n = ev->path_len);
		if (!n || p[n - 1] != '/')
			p[n++] = '/';
		memcpy(p + n, arg, ev->arg_len);
		*src = flags & VIGIL_PATH_BASE_CWD ? "cwd+argument" : "dirfd+argument";
		return n + ev->arg_len;
	}
	memcpy(p, arg, ev->arg_len);
	*src = ev->arg_len && arg[0] == '/' ? "argument" : "unresolved";
	return ev->arg_len;
}

/* Whole components, as crates/vigil-trace/src/filter.rs. */
static bool path_matches(const unsigned char *p, size_t n)
{
	for (int i = 0; i < nprefixes; i++) {
		size_t l = strlen(prefixes[i]);

		if (!strcmp(prefixes[i], "/") ||
		    (n >= l && !memcmp(p, prefixes[i], l) && (n == l || p[l] == '/')))
			return true;
	}
	return nprefixes == 0;
}

static int on_record(void *ctx, void *data, size_t size)
{
	static unsigned char path[VIGIL_EVENT_DATA_MAX + 1];
	const size_t fixed = offsetof(struct vigil_open_event, data);
	const struct vigil_open_event *ev = data;
	const char *src, *action;
	unsigned flags;
	size_t n;

	(void)ctx;
	totals.received++;
	if (size < fixed || ev->hdr.kind != VIGIL_EVENT_OPEN ||
	    (size_t)ev->path_len + ev->arg_len > size - fixed || !(action = syscall_name(ev->syscall))) {
		totals.malformed++;
		return 0;
	}
	n = assemble_path(ev, path, &src);
	if (!path_matches(path, n)) {
		totals.filtered++;
		return 0;
	}
	flags = ev->path_flags;
	fprintf(out, "{\"event\":{\"action\":\"%s\",\"outcome\":\"%s\"},", action,
		ev->ret < 0 ? "failure" : "success");
	fprintf(out, "\"process\":{\"pid\":%u,\"thread\":{\"id\":%u},", ev->hdr.pid, ev->hdr.tid);
	json_bytes(out, "name", ev->hdr.comm, strnlen((const char *)ev->hdr.comm, VIGIL_COMM_LEN));
	fprintf(out, "},\"user\":{\"id\":\"%u\"},\"file\":{", ev->hdr.uid);
	json_bytes(out, "path", path, n);
	fputs("},", out);
	if (ev->ret < 0)
		fprintf(out, "\"error\":{\"code\":\"%s\"},", errno_name((int)-ev->ret));
	fprintf(out, "\"vigil\":{\"open\":{\"%s\":%lld},", ev->ret < 0 ? "errno" : "fd",
		(long long)(ev->ret < 0 ? -ev->ret : ev->ret));
	fprintf(out, "\"path\":{\"source\":\"%s\",\"truncated\":%s%s%s}}}\n", src,
		flags & (VIGIL_PATH_TRUNCATED | VIGIL_PATH_ARG_TRUNCATED) ? "true" : "false",
		flags & VIGIL_PATH_DELETED ? ",\"deleted\":true" : "",
		flags & VIGIL_PATH_DISCONNECTED ? ",\"disconnected\":true" : "");
	totals.written++;
	return 0;
}

static int cmd_opens(const char *objdir, const char *outpath)
{
	struct vigil_opens_filter filter = { .uid = 0xffffffff, .self_tgid = (__u32)getpid() };
	struct loader ld = { 0 };
	struct bpf_link *links[2 * NSYSCALLS];
	struct vigil_counters *per_cpu, sum = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct ring_buffer *rb;
	struct bpf_object *obj;
	struct bpf_map *map;
	char path[1024], detail[DETAIL_LEN], traced[64] = "";
	bool exit_ok[NSYSCALLS] = { 0 };
	int nlinks = 0, ncpu, rc = 0, err = 0;
	__u32 key = 0;

	if (!ensure_mounted("tracefs", TRACEFS, "events", detail, sizeof(detail))) {
		fprintf(stderr, "guest-trace: cannot trace opens: tracefs: %s\n", detail);
		return 1;
	}
	out = outpath ? fopen(outpath, "a") : stdout;
	if (!out) {
		fprintf(stderr, "guest-trace: cannot open output file %s: %s\n", outpath, strerror(errno));
		return 1;
	}
	ld.has_loop = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_loop, NULL) == 1;
	fprintf(stderr, "guest-trace: bpf_loop %s; using the %s flavours\n",
		ld.has_loop ? "available" : "unavailable", ld.has_loop ? "bpf_loop" : "legacy");
	snprintf(path, sizeof(path), "%s/opens.bpf.o", objdir);
	if (!(obj = load_object(&ld, path)))
		return 1;
	map = bpf_object__find_map_by_name(obj, "opens_config");
	if (!map || (err = bpf_map__update_elem(map, &key, sizeof(key), &filter, sizeof(filter), BPF_ANY))) {
		fprintf(stderr, "guest-trace: set opens filter: %s\n", map ? strerror(-err) : "no map");
		return 1;
	}
	/* An enter without its exit would only fill the in-flight map. */
	for (int enter = 0; enter < 2; enter++) {
		for (size_t i = 0; i < NSYSCALLS; i++) {
			struct bpf_program *prog;
			char base[NAME_LEN];

			snprintf(base, sizeof(base), "opens_%s_%s", enter ? "enter" : "exit", syscalls[i]);
			if (!(prog = loaded(obj, base))) {
				if (!enter)
					fprintf(stderr, "guest-trace: %s not traced: %s\n", syscalls[i],
						tracepoint_exists("exit", syscalls[i])
							? "its exit program did not load"
							: "no tracepoint on this kernel/arch");
				continue;
			}
			if (enter && !exit_ok[i])
				continue;
			if (!(links[nlinks] = bpf_program__attach(prog))) {
				fprintf(stderr, "guest-trace: attach %s failed: %s\n",
					bpf_program__name(prog), strerror(errno));
				continue;
			}
			nlinks++;
			fprintf(stderr, "guest-trace: attached %s\n", bpf_program__name(prog));
			if (!enter)
				exit_ok[i] = true;
			else
				snprintf(traced + strlen(traced), sizeof(traced) - strlen(traced), "%s%s",
					 *traced ? ", " : "", syscalls[i]);
		}
	}
	if (!*traced) {
		fprintf(stderr, "guest-trace: no open syscall could be traced\n");
		return 1;
	}
	rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "vigil_events")),
			      on_record, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "guest-trace: ring buffer: %s\n", strerror(errno));
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "vigil: tracing %s\n", traced);

	while (!stop) {
		err = ring_buffer__poll(rb, 50);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "guest-trace: ring buffer poll: %s\n", strerror(-err));
			rc = 1;
			break;
		}
		if (fflush(out)) {
			fprintf(stderr, "guest-trace: writing events failed: %s\n", strerror(errno));
			rc = 1;
			break;
		}
	}
	/* Detach first so the kernel's count is final, then drain. */
	while (nlinks)
		bpf_link__destroy(links[--nlinks]);
	ring_buffer__consume(rb);
	if (fflush(out))
		rc = 1;

	ncpu = libbpf_num_possible_cpus();
	per_cpu = calloc(ncpu > 0 ? ncpu : 1, sizeof(*per_cpu));
	map = bpf_object__find_map_by_name(obj, "vigil_counters");
	key = VIGIL_SLOT_OPENS;
	if (ncpu <= 0 || !per_cpu || !map ||
	    bpf_map__lookup_elem(map, &key, sizeof(key), per_cpu, sizeof(*per_cpu) * ncpu, 0)) {
		fprintf(stderr, "guest-trace: read counters: %s\n", strerror(errno));
		rc = 1;
	} else {
		for (int c = 0; c < ncpu; c++) {
			sum.emitted += per_cpu[c].emitted;
			sum.ringbuf_drops += per_cpu[c].ringbuf_drops;
			sum.state_drops += per_cpu[c].state_drops;
			sum.truncated += per_cpu[c].truncated;
			sum.unreadable += per_cpu[c].unreadable;
		}
	}
	fprintf(stderr,
		"%llu events written (%llu received, %llu filtered out, %llu malformed); "
		"kernel emitted %llu, dropped %llu (ring buffer full: %llu, in-flight map full: "
		"%llu, unreadable: %llu); %llu paths truncated\n",
		totals.written, totals.received, totals.filtered, totals.malformed,
		(unsigned long long)sum.emitted,
		(unsigned long long)(sum.ringbuf_drops + sum.state_drops + sum.unreadable),
		(unsigned long long)sum.ringbuf_drops, (unsigned long long)sum.state_drops,
		(unsigned long long)sum.unreadable, (unsigned long long)sum.truncated);
	free(per_cpu);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	if (out != stdout)
		fclose(out);
	return rc;
}

/* ---- probe (crates/vigil-kernel/src/probe.rs) ---- */

static bool try_load(const char *path, const char *prog, char *detail, size_t size)
{
	struct bpf_object *obj;
	struct bpf_program *p;
	bool found = false;
	char why[DETAIL_LEN];
	int err;

	log_reset();
	if (!(obj = bpf_object__open_file(path, NULL))) {
		snprintf(detail, size, "cannot open %s: %s", path, strerror(errno));
		return false;
	}
	bpf_object__for_each_program(p, obj) {
		bool me = !strcmp(bpf_program__name(p), prog);

		found |= me;
		bpf_program__set_autoload(p, me);
	}
	err = found ? bpf_object__load(obj) : -ENOENT;
	if (!found)
		snprintf(detail, size, "no program %s in %s", prog, path);
	else if (!err)
		snprintf(detail, size, "program %s loaded", prog);
	else {
		excerpt(prog, why, sizeof(why));
		snprintf(detail, size, "%s%s%s", strerror(-err), *why ? ": " : "", why);
	}
	bpf_object__close(obj);
	return !err;
}

static void probe_line(const char *name, bool available, const char *detail)
{
	static int n;

	printf("%s{\"name\":\"%s\",\"available\":%s,\"detail\":", n++ ? "," : "", name,
	       available ? "true" : "false");
	json_str(stdout, detail, strlen(detail));
	putchar('}');
}

static int cmd_probe(const char *objdir)
{
	static const char *const loads[][2] = {
		{ "bpf_loop", "probe_bpf_loop" },
		{ "tp_btf", "probe_tp_btf" },
		{ "fentry", "probe_fentry" },
		{ "lsm_programs", "probe_lsm" },
		{ "d_path:fentry/security_file_open", "probe_fentry_d_path_file_open" },
		{ "d_path:lsm/file_open", "probe_lsm_d_path_file_open" },
		{ "d_path:lsm/path_unlink", "probe_lsm_d_path_path_unlink" },
	};
	char path[1024], detail[2 * DETAIL_LEN], list[512] = "";
	struct utsname u;
	bool ok;
	int rb;
	FILE *f;

	uname(&u);
	printf("{\"arch\":\"" ARCH "\",\"kernel_release\":");
	json_str(stdout, u.release, strlen(u.release));
	printf(",\"probes\":[");

	ok = exists("/sys/kernel/btf/vmlinux");
	probe_line("btf", ok, ok ? "/sys/kernel/btf/vmlinux present"
				 : "no /sys/kernel/btf/vmlinux: kernel built without CONFIG_DEBUG_INFO_BTF");
	ok = ensure_mounted("tracefs", TRACEFS, "events", detail, sizeof(detail));
	probe_line("tracefs", ok, detail);
	ok = tracepoint_exists("enter", "openat");
	probe_line("syscall_tracepoints", ok,
		   ok ? TRACEFS "/events/syscalls present" : TRACEFS "/events/syscalls missing");
	rb = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL);
	snprintf(detail, sizeof(detail), "%s",
		 rb == 1 ? "BPF_MAP_TYPE_RINGBUF supported"
		 : rb == 0 ? "BPF_MAP_TYPE_RINGBUF unsupported (kernel older than 5.8)"
			   : strerror(-rb));
	probe_line("ringbuf", rb == 1, detail);

	snprintf(path, sizeof(path), "%s/probe.bpf.o", objdir);
	for (size_t i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) {
		if (!strcmp(loads[i][0], "lsm_programs")) {
			ok = ensure_mounted("securityfs", "/sys/kernel/security", "lsm", detail,
					    sizeof(detail));
			if ((f = fopen("/sys/kernel/security/lsm", "r"))) {
				char padded[sizeof(list) + 2];

				if (!fgets(list, sizeof(list), f))
					list[0] = 0;
				fclose(f);
				list[strcspn(list, "\n")] = 0;
				snprintf(padded, sizeof(padded), ",%s,", list);
				ok = strstr(padded, ",bpf,") != NULL;
				snprintf(detail, sizeof(detail), "active LSMs: %s%s", list,
					 ok ? "" : " (boot with lsm=...,bpf to enable BPF LSM)");
			} else if (ok) {
				snprintf(detail, sizeof(detail),
					 "cannot read /sys/kernel/security/lsm: %s", strerror(errno));
				ok = false;
			}
			probe_line("bpf_lsm_active", ok, detail);
		}
		ok = try_load(path, loads[i][1], detail, sizeof(detail));
		probe_line(loads[i][0], ok, detail);
	}
	printf("]}\n");
	return 0;
}

/* ---- FIM and security: the aarch64 objects must verify on the guest kernel ---- */


static int cmd_load(const char *objdir, const char *name)
{
	struct loader ld = {};
	struct bpf_program *prog;
	struct bpf_object *obj;
	char path[4096], detail[DETAIL_LEN];
	int nloaded = 0, skipped = 0, unloaded = 0;

	if (!ensure_mounted("tracefs", TRACEFS, "events", detail, sizeof(detail))) {
		fprintf(stderr, "guest-trace: %s\n", detail);
		return 1;
	}
	ld.has_loop = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_loop, NULL) == 1;
	snprintf(path, sizeof(path), "%s/%s.bpf.o", objdir, name);
	obj = load_object(&ld, path);
	if (!obj) {
		printf("{\"object\":\"%s\",\"loaded\":false,\"failed\":%d}\n", name, ld.nfailed);
		return 1;
	}
	/* A program "did not load" only if no flavour of it did. */
	printf("{\"object\":\"%s\",\"loaded\":true,\"bpf_loop\":%s,\"failed_flavours\":%d,\"unloaded\":[",
	       name, ld.has_loop ? "true" : "false", ld.nfailed);
	bpf_object__for_each_program(prog, obj) {
		char base[NAME_LEN];
		bool is_legacy;
		const char *name = bpf_program__name(prog);

		flavour(obj, name, base, &is_legacy);
		if (bpf_program__autoload(prog)) {
			nloaded++;
			continue;
		}
		skipped++;
		if (is_legacy || !wanted(base) || loaded(obj, base))
			continue;
		printf("%s\"%s\"", unloaded++ ? "," : "", base);
	}
	printf("],\"programs\":%d,\"not_loaded\":%d}\n", nloaded, skipped);
	bpf_object__close(obj);
	return 0;
}

static int usage(void)
{
	fputs("usage: guest-trace opens [--json] [-o FILE] [--path PREFIX]... [--obj DIR]\n"
	      "       guest-trace probe [--obj DIR]\n"
	      "       guest-trace load-fim|load-security [--obj DIR]\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	const char *objdir = "/lib/vigil", *outpath = NULL;

	if (argc < 2)
		return usage();
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			continue;
		if (i + 1 >= argc)
			return usage();
		if (!strcmp(argv[i], "--obj")) {
			objdir = argv[++i];
		} else if (!strcmp(argv[i], "-o")) {
			outpath = argv[++i];
		} else if (!strcmp(argv[i], "--path") && nprefixes < MAX_PREFIXES &&
			   strlen(argv[i + 1]) <= VIGIL_PATH_MAX) {
			char *p = strcpy(prefixes[nprefixes++], argv[++i]);
			size_t n = strlen(p);

			while (n > 1 && p[n - 1] == '/') /* "/etc/" is "/etc" */
				p[--n] = 0;
		} else {
			return usage();
		}
	}
	libbpf_set_print(capture);
	if (!strcmp(argv[1], "opens"))
		return cmd_opens(objdir, outpath);
	if (!strcmp(argv[1], "probe"))
		return cmd_probe(objdir);
	if (!strcmp(argv[1], "load-fim"))
		return cmd_load(objdir, "fim");
	if (!strcmp(argv[1], "load-security"))
		return cmd_load(objdir, "security");
	return usage();
}
