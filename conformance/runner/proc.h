/* Child processes and real time for the adapters that run the
 * implementation as a separate program (TCP with --chatd, shim). Children
 * are started with PR_SET_PDEATHSIG, so they die with the runner, and are
 * only ever ended by their PID. */
#ifndef CF_PROC_H
#define CF_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* Monotonic milliseconds. */
uint64_t cf_now_ms(void);
void cf_sleep_ms(unsigned ms);

/* Start argv[0] with fds[0..2] as its stdin, stdout and stderr (each a
 * descriptor of this process, left open here). The child's other
 * descriptors should be close-on-exec. The PID, or -1. */
pid_t cf_spawn(char *const argv[], const int fds[3]);

/* Wait for pid: its exit status (128+signal), or -1 after timeout_ms (it
 * is then killed and reaped). */
int cf_reap(pid_t pid, unsigned timeout_ms);

#endif
