/* probe: a tiny static helper the security system tests copy into busybox
 * containers, for the few things busybox cannot do. Built by the tests with
 * `cc -static -O2` (tests/tests/support/mod.rs); not part of sprout.
 *
 *   probe ptrace PID          PTRACE_ATTACH (then detach); prints "ok" or the errno
 *   probe swap A B            renameat2(A, B, RENAME_EXCHANGE) in a loop, forever
 *   probe sc NR [ARG...]      raw syscall NR; an ARG is a number (0x.. ok) or
 *                             s:TEXT (a pointer to TEXT); prints "ret N" or "errno N"
 *   probe caps                prints this process's CapInh/CapPrm/CapEff lines
 *   probe linger SECS         the main thread exits (pthread_exit) while a second
 *                             thread sleeps SECS: the leader is a zombie, the
 *                             thread group lives on
 *
 * Exit status: 0 when the operation succeeded, 1 when it failed, 2 on usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <pthread.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static void *linger(void *secs) {
    sleep((unsigned)(long)secs);
    return NULL;
}

static long arg(const char *s) {
    if (strncmp(s, "s:", 2) == 0) return (long)(s + 2);
    return strtol(s, NULL, 0);
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "ptrace") == 0) {
        pid_t pid = (pid_t)atoi(argv[2]);
        if (ptrace(PTRACE_ATTACH, pid, 0, 0) != 0) {
            printf("ptrace %d: errno %d (%s)\n", pid, errno, strerror(errno));
            return 1;
        }
        waitpid(pid, NULL, __WALL);
        ptrace(PTRACE_DETACH, pid, 0, 0);
        printf("ptrace %d: ok\n", pid);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "swap") == 0) {
        for (;;) {
            if (syscall(SYS_renameat2, AT_FDCWD, argv[2], AT_FDCWD, argv[3], RENAME_EXCHANGE) != 0) {
                printf("swap: errno %d (%s)\n", errno, strerror(errno));
                return 1;
            }
        }
    }
    if (argc >= 3 && strcmp(argv[1], "sc") == 0) {
        long a[6] = {0};
        for (int i = 3; i < argc && i < 9; i++) a[i - 3] = arg(argv[i]);
        errno = 0;
        long r = syscall(arg(argv[2]), a[0], a[1], a[2], a[3], a[4], a[5]);
        if (r == -1 && errno != 0) {
            printf("errno %d\n", errno);
            return 1;
        }
        printf("ret %ld\n", r);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "caps") == 0) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        if (!f) return 1;
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "Cap", 3) == 0) fputs(line, stdout);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "linger") == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, linger, (void *)(long)atoi(argv[2])) != 0) return 1;
        pthread_exit(NULL);
    }
    fprintf(stderr, "usage: probe ptrace PID | swap A B | sc NR [ARG...] | caps | linger SECS\n");
    return 2;
}
