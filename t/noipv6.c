/*
 * noipv6: runs a program as if the kernel had been booted with
 * ipv6.disable=1, where socket(AF_INET6, ...) fails with EAFNOSUPPORT.
 * A namespace with net.ipv6.conf.all.disable_ipv6=1 still has the family
 * (binding [::] works there), so only a seccomp filter reproduces this case.
 * Built and used by t/test_ipv6.py: noipv6 PROGRAM [ARGS...]
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NOIPV6_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NOIPV6_ARCH AUDIT_ARCH_AARCH64
#else
#error "noipv6: add this architecture's AUDIT_ARCH"
#endif

int main(int argc, char **argv)
{
	struct sock_filter filter[] = {
		/* Another ABI's syscall numbers mean other calls: let them be. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NOIPV6_ARCH, 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 2),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EAFNOSUPPORT),
	};
	struct sock_fprog program = { .len = sizeof filter / sizeof filter[0], .filter = filter };

	if (argc < 2) {
		fprintf(stderr, "usage: noipv6 PROGRAM [ARGS...]\n");
		return 2;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) < 0) {
		perror("noipv6: seccomp");
		return 1;
	}
	execv(argv[1], argv + 1);
	perror("noipv6: exec");
	return 1;
}
