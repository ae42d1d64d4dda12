#include "procstat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long long proc_rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long long kib = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtoll(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

double proc_cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: the
     * fields we want are counted from the last ')'. After it come state
     * (field 3) ... utime (14) and stime (15). */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    p++;
    unsigned long long utime = 0, stime = 0;
    for (int field = 3; field <= 15; field++) {
        char *end = NULL;
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return -1;
        if (field == 14 || field == 15) {
            unsigned long long v = strtoull(p, &end, 10);
            if (field == 14)
                utime = v;
            else
                stime = v;
            p = end;
        } else {
            while (*p != ' ' && *p != '\0')
                p++;
        }
    }
    long tck = sysconf(_SC_CLK_TCK);
    if (tck <= 0)
        tck = 100;
    return (double)(utime + stime) / (double)tck;
}
