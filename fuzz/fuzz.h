/* The libFuzzer interface every harness in fuzz/ implements, and a small
 * cursor for reading structured values out of the fuzzer's input.
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput (and, where it has
 * expensive one-time setup, LLVMFuzzerInitialize). With -DCHAT_FUZZ=ON and
 * clang they are linked to libFuzzer; otherwise to replay_main.c, which
 * runs files and directories of inputs once each (ctest's corpus replay). */
#ifndef CHAT_FUZZ_FUZZ_H
#define CHAT_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A read cursor over the input. Reading past the end yields zeros (and
 * fin_take yields fewer bytes), so a harness never needs to bounds-check:
 * it just stops when fin_left() is 0. */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
} fuzz_in;

static inline fuzz_in fin_make(const uint8_t *data, size_t size)
{
    fuzz_in in;
    in.p = data;
    in.n = size;
    return in;
}

static inline size_t fin_left(const fuzz_in *in)
{
    return in->n;
}

static inline uint8_t fin_u8(fuzz_in *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fin_u16(fuzz_in *in)
{
    uint16_t hi = fin_u8(in);
    return (uint16_t)(hi << 8 | fin_u8(in));
}

/* Up to `want` bytes: *out points at them; returns how many there were. */
static inline size_t fin_take(fuzz_in *in, size_t want, const uint8_t **out)
{
    size_t n = want < in->n ? want : in->n;
    *out = in->p;
    in->p += n;
    in->n -= n;
    return n;
}

#endif
