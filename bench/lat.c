#include "lat.h"

#include <math.h>
#include <string.h>

#define SUB (1u << LAT_SUB_BITS)
#define HALF (SUB / 2)

void lat_init(lat_hist *h)
{
    memset(h, 0, sizeof *h);
}

static unsigned bucket_of(uint64_t v)
{
    if (v < SUB)
        return (unsigned)v;
    if (v >= (UINT64_C(1) << LAT_MAX_BITS))
        v = (UINT64_C(1) << LAT_MAX_BITS) - 1;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - LAT_SUB_BITS + 1; /* >= 1: v >> shift is in [HALF, SUB) */
    return SUB + (shift - 1) * HALF + (unsigned)((v >> shift) - HALF);
}

/* Largest value that falls into bucket i. */
static uint64_t bucket_top(unsigned i)
{
    if (i < SUB)
        return i;
    unsigned shift = (i - SUB) / HALF + 1;
    uint64_t m = (i - SUB) % HALF + HALF;
    return ((m + 1) << shift) - 1;
}

void lat_add(lat_hist *h, uint64_t ns)
{
    h->b[bucket_of(ns)]++;
    h->count++;
    if (ns > h->max)
        h->max = ns;
}

void lat_merge(lat_hist *into, const lat_hist *from)
{
    for (unsigned i = 0; i < LAT_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->count += from->count;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t lat_quantile(const lat_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    double want = ceil(q * (double)h->count);
    uint64_t rank = want < 1.0 ? 1 : (uint64_t)want;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LAT_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t top = bucket_top(i);
            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}
