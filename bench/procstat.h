/* The server's resource use, read from /proc/PID: resident memory
 * (VmRSS of /proc/PID/status) and CPU time (utime + stime of
 * /proc/PID/stat, in clock ticks, usually 10 ms). */
#ifndef CHATBENCH_PROCSTAT_H
#define CHATBENCH_PROCSTAT_H

#include <stdint.h>

/* VmRSS in KiB, or -1 (no such process, not readable). */
long long proc_rss_kib(int pid);
/* utime + stime in seconds, or -1. */
double proc_cpu_s(int pid);

#endif
