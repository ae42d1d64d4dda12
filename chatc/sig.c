/* Signal flags and the self-pipe. See sig.h. */
#include "sig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t quit_sig;
static int pipe_fd[2] = {-1, -1};

static void on_quit(int sig)
{
    int saved = errno;
    quit_sig = sig;
    if (pipe_fd[1] >= 0) {
        char c = 1;
        ssize_t r = write(pipe_fd[1], &c, 1); /* full pipe: a wake-up is pending anyway */
        (void)r;
    }
    errno = saved;
}

int sig_setup(int catch_int)
{
    if (pipe(pipe_fd) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(pipe_fd[i], F_SETFL, fcntl(pipe_fd[i], F_GETFL) | O_NONBLOCK);
        fcntl(pipe_fd[i], F_SETFD, FD_CLOEXEC);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_quit;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (catch_int)
        sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    return 0;
}

int sig_fd(void)
{
    return pipe_fd[0];
}

int sig_take_quit(void)
{
    if (pipe_fd[0] >= 0) {
        char buf[64];
        while (read(pipe_fd[0], buf, sizeof buf) > 0)
            ;
    }
    int s = quit_sig;
    quit_sig = 0;
    return s;
}
