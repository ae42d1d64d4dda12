/* Latency histogram with log-linear buckets (in the manner of HdrHistogram):
 * values below 2^LAT_SUB_BITS nanoseconds get a bucket each; above, every
 * power of two is split into 2^(LAT_SUB_BITS-1) equal buckets, so a bucket
 * is at most 1/64 (1.6%) wide relative to its value. Fixed size, no
 * allocation, mergeable: each load-generator thread keeps its own. */
#ifndef CHATBENCH_LAT_H
#define CHATBENCH_LAT_H

#include <stdint.h>

#define LAT_SUB_BITS 7
#define LAT_MAX_BITS 40 /* values are clamped to 2^40 ns (about 18 minutes) */
#define LAT_BUCKETS ((1u << LAT_SUB_BITS) + (LAT_MAX_BITS - LAT_SUB_BITS + 1) * (1u << (LAT_SUB_BITS - 1)))

typedef struct lat_hist {
    uint64_t count;
    uint64_t max;
    uint64_t b[LAT_BUCKETS];
} lat_hist;

void lat_init(lat_hist *h);
void lat_add(lat_hist *h, uint64_t ns);
void lat_merge(lat_hist *into, const lat_hist *from);
/* The value at quantile q (0 < q <= 1): the upper edge of the bucket
 * holding the ceil(q * count)-th smallest value, never above the largest
 * value recorded. 0 when empty. */
uint64_t lat_quantile(const lat_hist *h, double q);

#endif
