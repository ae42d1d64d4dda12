#define _GNU_SOURCE

#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t cf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void cf_sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

pid_t cf_spawn(char *const argv[], const int fds[3])
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* The child must not outlive a runner that dies without cleaning up. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    for (int i = 0; i < 3; i++) {
        if (fds[i] == i) {
            /* dup2 onto itself would keep close-on-exec. */
            int fl = fcntl(i, F_GETFD);
            if (fl < 0 || fcntl(i, F_SETFD, fl & ~FD_CLOEXEC) != 0)
                _exit(127);
        } else if (dup2(fds[i], i) != i) {
            _exit(127);
        }
    }
    execv(argv[0], argv);
    _exit(127);
}

int cf_reap(pid_t pid, unsigned timeout_ms)
{
    uint64_t end = cf_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0 && errno != EINTR)
            return -1;
        if (cf_now_ms() >= end) {
            (void)kill(pid, SIGKILL);
            (void)waitpid(pid, &st, 0);
            return -1;
        }
        cf_sleep_ms(5);
    }
}
