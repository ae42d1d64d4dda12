#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

void cf_label_bytes(const char *label, uint8_t *out, size_t n)
{
    uint8_t h[32];
    crypto_hash_sha256(h, (const uint8_t *)label, strlen(label));
    memcpy(out, h, n < 32 ? n : 32);
    if (n > 32)
        memset(out + 32, 0, n - 32);
}

void cf_rngsrc_init(cf_rngsrc *s, const cf_transcript *t, int mode)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->t = t;
    char label[256];
    cf_fmt(label, sizeof label, "chat conformance seed %s %llu", t->id,
           (unsigned long long)t->seed);
    cf_label_bytes(label, s->key, 32);
    s->used = cf_xcalloc(t->nrandoms + 1, 1);
}

void cf_rngsrc_free(cf_rngsrc *s)
{
    free(s->used);
    free(s->log);
    sodium_memzero(s, sizeof *s);
}

void cf_rngctx_init(cf_rngctx *c, cf_rngsrc *s, const char *actor)
{
    c->src = s;
    cf_fmt(c->actor, sizeof c->actor, "%s", actor);
}

static void stream(cf_rngsrc *s, uint8_t *buf, size_t len)
{
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
    uint64_t n = s->calls++;
    for (size_t i = 0; i < sizeof n; i++)
        nonce[i] = (uint8_t)(n >> (8 * i));
    crypto_stream_chacha20(buf, len, nonce, s->key);
}

static void log_draw(cf_rngsrc *s, const char *actor, const char *purpose, const uint8_t *v,
                     size_t n)
{
    if (s->nlog == s->caplog) {
        s->caplog = s->caplog ? s->caplog * 2 : 16;
        s->log = cf_xrealloc(s->log, s->caplog * sizeof *s->log);
    }
    cf_draw *d = &s->log[s->nlog++];
    memset(d, 0, sizeof *d);
    cf_fmt(d->actor, sizeof d->actor, "%s", actor);
    cf_fmt(d->purpose, sizeof d->purpose, "%s", purpose);
    memcpy(d->v, v, n > 32 ? 32 : n);
    d->n = n;
}

void cf_rng_draw(cf_rngctx *c, uint8_t *buf, size_t len)
{
    cf_rngsrc *s = c->src;
    const char *purpose = len == 16 ? "salt" : len == 32 ? "ephemeral" : "other";
    if (s->mode == CF_RNG_SEEDED) {
        stream(s, buf, len);
        return;
    }
    if (s->mode == CF_RNG_REMOTE) {
        s->remote(s->remote_arg, c->actor, buf, len);
        return;
    }
    const cf_transcript *t = s->t;
    for (size_t i = 0; i < t->nrandoms; i++) {
        const cf_random *r = &t->randoms[i];
        if (s->used[i] || strcmp(r->actor, c->actor) != 0 || strcmp(r->purpose, purpose) != 0)
            continue;
        if (r->n != len)
            continue;
        s->used[i] = 1;
        memcpy(buf, r->p, len);
        if (s->mode == CF_RNG_RECORD)
            log_draw(s, c->actor, purpose, buf, len);
        return;
    }
    if (s->mode == CF_RNG_SCRIPTED) {
        if (!s->failed) {
            s->failed = 1;
            cf_fmt(s->err, sizeof s->err,
                   "random draw of %zu bytes (%s) by %s has no @random line left", len, purpose,
                   c->actor);
        }
        memset(buf, 0, len);
        return;
    }
    /* Recording: derive it from a label, so a re-recording is stable. */
    size_t k = 0;
    for (size_t i = 0; i < s->nlog; i++)
        k += strcmp(s->log[i].actor, c->actor) == 0 && strcmp(s->log[i].purpose, purpose) == 0;
    char label[256];
    cf_fmt(label, sizeof label, "chat conformance %s %s %s %zu", t->id, c->actor, purpose, k + 1);
    cf_label_bytes(label, buf, len);
    log_draw(s, c->actor, purpose, buf, len);
}

static void fill(void *ctx, uint8_t *buf, size_t len)
{
    cf_rng_draw(ctx, buf, len);
}

chat_rng cf_rng_of(cf_rngctx *c)
{
    chat_rng r = {fill, c};
    return r;
}

void cf_static_key(const cf_transcript *t, const char *actor, uint8_t out[32])
{
    int ai = cf_actor_index(t, actor);
    if (ai >= 0 && t->actors[ai].has_key) {
        memcpy(out, t->actors[ai].key, 32);
        return;
    }
    if (strcmp(actor, "server") == 0 && t->has_server_key) {
        memcpy(out, t->server_key, 32);
        return;
    }
    char label[256];
    cf_fmt(label, sizeof label, "chat conformance %s %s static", t->id, actor);
    cf_label_bytes(label, out, 32);
}

int cf_account_build(const cf_account *a, chat_account *out)
{
    memset(out, 0, sizeof *out);
    cf_fmt(out->name, sizeof out->name, "%s", a->name);
    out->role = a->role;
    out->verifier.opslimit = a->opslimit;
    out->verifier.memlimit_kib = a->memlimit_kib;
    if (a->has_salt) {
        memcpy(out->verifier.salt, a->salt, 16);
    } else {
        char label[128];
        cf_fmt(label, sizeof label, "chat conformance account salt %s", a->name);
        cf_label_bytes(label, out->verifier.salt, 16);
    }
    if (a->has_pk) {
        memcpy(out->verifier.pk, a->pk, 32);
        return CHAT_OK;
    }
    uint8_t seed[CHAT_SEED_LEN];
    int rc = chat_seed_derive(seed, a->pass, a->pass_len, out->verifier.salt, a->opslimit,
                              a->memlimit_kib);
    if (rc == CHAT_OK)
        chat_seed_public(out->verifier.pk, seed);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

const cf_account *cf_account_find(const cf_transcript *t, const char *name)
{
    for (size_t i = 0; i < t->naccounts; i++)
        if (strcmp(t->accounts[i].name, name) == 0)
            return &t->accounts[i];
    return NULL;
}
