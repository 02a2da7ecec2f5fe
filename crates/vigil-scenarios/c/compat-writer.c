/*
 * Changes files with 32-bit x86 syscalls (int 0x80), the way an intruder
 * gets past a monitor that hooks only 64-bit syscall tracepoints. Built
 * twice: as an i386 program, and as an x86_64 one that makes 32-bit
 * syscalls anyway. No libc: nothing but the compiler and binutils.
 *
 *   compat-writer APPEND UNLINK FROM TO CHMOD CREATE FLAG NAMEFILE [crash]
 *
 * appends a line to APPEND, unlinks UNLINK, renames FROM to TO, chmods
 * CHMOD 0600, creates CREATE and sets nodump on FLAG (chattr +d, with the
 * 32-bit ioctl; `-`: not, where the filesystem has no inode flags); then
 * unlinks the path NAMEFILE holds,
 * passed from a page mapped from that file and never touched, so not in
 * memory when the syscall starts (the kernel faults it in; a BPF program
 * cannot). Exits 0, or 1 + the failed step; with `crash`, dies of SIGILL
 * right after that last syscall instead.
 */

/* i386 syscall numbers. */
#define NR_exit 1
#define NR_write 4
#define NR_open 5
#define NR_close 6
#define NR_creat 8
#define NR_unlink 10
#define NR_chmod 15
#define NR_rename 38
#define NR_ioctl 54
#define NR_old_mmap 90

#define FS_IOC32_GETFLAGS 0x80046601
#define FS_IOC32_SETFLAGS 0x40046602
#define FS_NODUMP_FL 0x40

#define O_WRONLY 01
#define O_APPEND 02000

static long sys32(long nr, long a, long b, long c)
{
	long ret;

#if defined(__x86_64__)
	/* int 0x80 from 64-bit code clobbers r8-r11. */
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory", "r8", "r9", "r10", "r11");
#else
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
#endif
	return ret;
}

/* 32-bit syscalls see 32-bit pointers and structs: the arguments are copied below 4 GiB
 * (a static, non-PIE binary's data) from the 64-bit stack. */
static char args[8][4096];

static const char *arg(char **argv, int i)
{
	const char *s = argv[i];
	int n = 0;

	while (s[n] && n < 4095) {
		args[i - 1][n] = s[n];
		n++;
	}
	args[i - 1][n] = 0;
	return args[i - 1];
}

__attribute__((used)) void start_c(long *sp)
{
	char **argv = (char **)(sp + 1);
	static const char line[] = "written by a 32-bit syscall\n";
	long fd, code = 0;

	static unsigned int map[6] = {0, 4096, 1 /* PROT_READ */, 2 /* MAP_PRIVATE */, 0, 0};
	static int flags;
	long name;

	if (*sp != 9 && *sp != 10) {
		code = 100;
		goto out;
	}
	fd = sys32(NR_open, (long)arg(argv, 1), O_WRONLY | O_APPEND, 0);
	if (fd < 0 || sys32(NR_write, fd, (long)line, sizeof(line) - 1) < 0) {
		code = 1;
		goto out;
	}
	sys32(NR_close, fd, 0, 0);
	if (sys32(NR_unlink, (long)arg(argv, 2), 0, 0) < 0) {
		code = 2;
		goto out;
	}
	if (sys32(NR_rename, (long)arg(argv, 3), (long)arg(argv, 4), 0) < 0) {
		code = 3;
		goto out;
	}
	if (sys32(NR_chmod, (long)arg(argv, 5), 0600, 0) < 0) {
		code = 4;
		goto out;
	}
	fd = sys32(NR_creat, (long)arg(argv, 6), 0644, 0);
	if (fd < 0 || sys32(NR_write, fd, (long)line, sizeof(line) - 1) < 0) {
		code = 5;
		goto out;
	}
	sys32(NR_close, fd, 0, 0);
	if (argv[7][0] != '-' || argv[7][1]) {
		fd = sys32(NR_open, (long)arg(argv, 7), 0, 0);
		if (fd < 0 || sys32(NR_ioctl, fd, FS_IOC32_GETFLAGS, (long)&flags) < 0) {
			code = 6;
			goto out;
		}
		flags |= FS_NODUMP_FL;
		if (sys32(NR_ioctl, fd, FS_IOC32_SETFLAGS, (long)&flags) < 0) {
			code = 7;
			goto out;
		}
		sys32(NR_close, fd, 0, 0);
	}
	fd = sys32(NR_open, (long)arg(argv, 8), 0, 0);
	map[4] = fd;
	name = sys32(NR_old_mmap, (long)map, 0, 0);
	if (fd < 0 || (unsigned long)name > -4096UL) {
		code = 8;
		goto out;
	}
	if (sys32(NR_unlink, name, 0, 0) < 0) {
		code = 9;
		goto out;
	}
	if (*sp == 10)
		__asm__ volatile("ud2");
out:
	sys32(NR_exit, code, 0, 0);
	for (;;)
		;
}

#if defined(__x86_64__)
__asm__(".globl _start\n_start:\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall start_c\n");
#else
__asm__(".globl _start\n_start:\n\tmov %esp, %eax\n\tand $-16, %esp\n\tsub $12, %esp\n\tpush %eax\n\tcall start_c\n");
#endif
