/* Randomness for a transcript run (docs/TRANSCRIPTS.md §7):
 *  - seeded: a deterministic ChaCha20 stream (scenarios);
 *  - scripted: every draw is taken from the transcript's @random lines by
 *    actor and purpose (known-answer transcripts), and a draw with no line
 *    left fails the run;
 *  - recording: scripted where a line exists, otherwise a value derived
 *    from a label, and every draw is logged for the recorder.
 * The purpose of a draw is known from its size: 32 bytes is an ephemeral
 * key, 16 bytes a verifier salt (static keys are never drawn: the runner
 * always supplies them). */
#ifndef CF_RNG_H
#define CF_RNG_H

#include "chat/chat.h"

#include "transcript.h"

/* CF_RNG_REMOTE: every draw is asked of a callback (a shim asks the
 * runner for its randomness, docs/SHIM.md). */
enum { CF_RNG_SEEDED = 1, CF_RNG_SCRIPTED, CF_RNG_RECORD, CF_RNG_REMOTE };

typedef void (*cf_rng_remote_fn)(void *arg, const char *actor, uint8_t *buf, size_t len);

typedef struct cf_draw {
    char actor[64];
    char purpose[16];
    uint8_t v[32];
    size_t n;
} cf_draw;

typedef struct cf_rngsrc {
    int mode;
    const cf_transcript *t;
    uint8_t key[32];
    uint64_t calls;
    uint8_t *used; /* per @random line */
    cf_draw *log;
    size_t nlog, caplog;
    int failed;
    char err[256];
    cf_rng_remote_fn remote; /* CF_RNG_REMOTE */
    void *remote_arg;
} cf_rngsrc;

/* One per object that draws (the hub, each client): names the actor. */
typedef struct cf_rngctx {
    cf_rngsrc *src;
    char actor[64];
} cf_rngctx;

void cf_rngsrc_init(cf_rngsrc *s, const cf_transcript *t, int mode);
void cf_rngsrc_free(cf_rngsrc *s);
void cf_rngctx_init(cf_rngctx *c, cf_rngsrc *s, const char *actor);
chat_rng cf_rng_of(cf_rngctx *c);
/* Draw for a purpose explicitly (the runner's own salts). */
void cf_rng_draw(cf_rngctx *c, uint8_t *buf, size_t len);

/* The static private key of an actor ("server" for the server under
 * test): its @key line, else SHA-256("chat conformance ID ACTOR static"). */
void cf_static_key(const cf_transcript *t, const char *actor, uint8_t out[32]);
/* A value derived from a label: SHA-256 of the NUL-free string. */
void cf_label_bytes(const char *label, uint8_t *out, size_t n);



/* The stored form of an @account: its salt (given, or derived from
 * "chat conformance account salt NAME") and public key (given, or derived
 * from the password with Argon2id). 0, or a chat_err. */
int cf_account_build(const cf_account *a, chat_account *out);
/* The account of a folded name, or NULL. */
const cf_account *cf_account_find(const cf_transcript *t, const char *name);
#endif
