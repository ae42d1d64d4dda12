/* Harness: the conformance transcript parser (conformance/runner/parse.c,
 * docs/TRANSCRIPTS.md), which promises to be total: any bytes give a
 * transcript or a "file:line: message" error.
 *
 * Input: the bytes of a .chat file. Checked beyond "no crash":
 *   - the input is parsed twice, under two file names: both parses agree
 *     (same verdict; the same error after the file name; or transcripts
 *     whose canonical dumps are identical), so the parser keeps no state
 *     between calls and depends on the name only in its messages;
 *   - an error is "NAME:LINE: message" with LINE a line of the input;
 *   - a transcript is within the bounds transcript.h states: counts under
 *     their maxima, actor indexes and line numbers in range, known verbs,
 *     operators, value kinds and modifiers, values NUL-terminated and at
 *     most CF_MAX_VALUE bytes and all of them together at most
 *     CF_MAX_VALUES (plus bare hex), the source kept byte for byte;
 *   - freeing releases everything (LeakSanitizer, at the end of each input
 *     under libFuzzer and at exit in the replay driver). */
#include <stdio.h>
#include <string.h>

#include "chat/chat.h"
#include "fixture.h"
#include "fuzz.h"
#include "transcript.h"

/* ---- a canonical dump: every field, no pointers ---------------------------- */

static void dump_bytes(cf_buf *b, const void *p, size_t n)
{
    cf_buf_printf(b, "%zu:", n);
    if (n > 0)
        cf_buf_add(b, p, n);
    cf_buf_byte(b, ';');
}

static void dump_str(cf_buf *b, const char *s)
{
    if (s == NULL)
        cf_buf_printf(b, "-;");
    else
        dump_bytes(b, s, strlen(s));
}

static void dump_args(cf_buf *b, const cf_arg *a, size_t n)
{
    cf_buf_printf(b, "args %zu{", n);
    for (size_t i = 0; i < n; i++) {
        dump_str(b, a[i].key);
        cf_buf_printf(b, "%u %u ", a[i].op, a[i].v.kind);
        dump_bytes(b, a[i].v.p, a[i].v.n);
    }
    cf_buf_byte(b, '}');
}

static void dump_step(cf_buf *b, const cf_step *s)
{
    cf_buf_printf(b, "step %u %d %d-%d %s ", s->verb, s->actor, s->line, s->line_end,
                  s->m != NULL ? s->m->name : "-");
    dump_args(b, s->args, s->nargs);
    cf_buf_printf(b, "mods %zu{", s->nmods);
    for (size_t i = 0; i < s->nmods; i++) {
        cf_buf_printf(b, "%u %lld %u ", s->mods[i].kind, (long long)s->mods[i].a, s->mods[i].b);
        dump_str(b, s->mods[i].var);
    }
    cf_buf_printf(b, "}data %zu{", s->ndata);
    for (size_t i = 0; i < s->ndata; i++) {
        cf_buf_printf(b, "%u ", s->data[i].is_var);
        dump_bytes(b, s->data[i].p, s->data[i].n);
    }
    cf_buf_printf(b, "}%u %u %llu alts %zu{", s->dir, s->eof, (unsigned long long)s->ms, s->nalts);
    for (size_t i = 0; i < s->nalts; i++)
        dump_step(b, &s->alts[i]);
    cf_buf_byte(b, '}');
}

/* Everything but the file name, in a form two parses can be compared by. */
static void dump(cf_buf *b, const cf_transcript *t)
{
    dump_str(b, t->id);
    dump_str(b, t->desc);
    cf_buf_printf(b, "%u %u %llu %llu %llu %u\n", t->kind, t->roles,
                  (unsigned long long)t->seed, (unsigned long long)t->mono0,
                  (unsigned long long)t->wall0, t->has_time);
    for (size_t i = 0; i < t->ncovers; i++)
        dump_str(b, t->covers[i]);
    for (size_t i = 0; i < t->nrequires; i++)
        dump_str(b, t->requires[i]);
    for (size_t i = 0; i < t->nactors; i++) {
        const cf_actor *a = &t->actors[i];
        cf_buf_printf(b, "\nactor %d %u ", a->line, a->is_server);
        dump_str(b, a->name);
        dump_str(b, a->user);
        if (a->pass != NULL)
            dump_bytes(b, a->pass, a->pass_len);
        cf_buf_printf(b, "%u %u %u %u %u %u %u %u ", a->auto_login, a->trust, a->addr, a->vmin,
                      a->vmax, a->max_opslimit, a->max_memlimit_kib, a->has_key);
        dump_bytes(b, a->key, sizeof a->key);
    }
    for (size_t i = 0; i < t->naccounts; i++) {
        const cf_account *a = &t->accounts[i];
        cf_buf_printf(b, "\naccount %d ", a->line);
        dump_str(b, a->name);
        if (a->pass != NULL)
            dump_bytes(b, a->pass, a->pass_len);
        cf_buf_printf(b, "%u %u %u %u %u ", a->role, a->opslimit, a->memlimit_kib, a->has_salt,
                      a->has_pk);
        dump_bytes(b, a->salt, sizeof a->salt);
        dump_bytes(b, a->pk, sizeof a->pk);
    }
    cf_buf_printf(b, "\nserver key %u ", t->has_server_key);
    dump_bytes(b, t->server_key, sizeof t->server_key);
    for (size_t i = 0; i < t->nrandoms; i++) {
        const cf_random *r = &t->randoms[i];
        cf_buf_printf(b, "\nrandom %d ", r->line);
        dump_str(b, r->actor);
        dump_str(b, r->purpose);
        dump_bytes(b, r->p, r->n);
    }
    cf_buf_printf(b, "\nserver ");
    dump_args(b, t->server_cfg, t->nserver_cfg);
    for (size_t i = 0; i < t->nsteps; i++) {
        cf_buf_byte(b, '\n');
        dump_step(b, &t->steps[i]);
    }
    cf_buf_printf(b, "\nlast header %d lines %d ", t->last_header_line, t->nlines);
    dump_bytes(b, t->line_hdr + 1, (size_t)t->nlines);
    dump_bytes(b, t->src, t->srclen);
}

/* ---- bounds ------------------------------------------------------------------------ */

/* Bytes of every value and byte string of the transcript being checked:
 * at most CF_MAX_VALUES from values (repetition), plus bare hex, which
 * cannot be longer than half the source. */
static size_t value_total;

/* A string the arena holds: non-NULL, of at most max bytes. */
static void check_str(const char *s, size_t max)
{
    FX_CHECK(s != NULL);
    FX_CHECK(strlen(s) <= max);
}

/* A value: its bytes NUL-terminated (transcript.h promises a copy), bounded. */
static void check_value(const cf_value *v)
{
    FX_CHECK(v->kind <= CF_V_ANY);
    FX_CHECK(v->n <= CF_MAX_VALUE);
    value_total += v->n;
    if (v->kind == CF_V_NONE)
        return;
    FX_CHECK(v->p != NULL && v->p[v->n] == '\0');
}

static void check_args(const cf_arg *a, size_t n)
{
    FX_CHECK(n == 0 || a != NULL);
    for (size_t i = 0; i < n; i++) {
        check_str(a[i].key, 64);
        FX_CHECK(a[i].key[0] != '\0');
        FX_CHECK(a[i].op >= CF_OP_EQ && a[i].op <= CF_OP_HAS);
        check_value(&a[i].v);
        /* cf_arg_find finds the first argument with a key. */
        const cf_arg *f = cf_arg_find(a, n, a[i].key);
        FX_CHECK(f != NULL && f <= &a[i] && strcmp(f->key, a[i].key) == 0);
    }
}

static int is_expectation(unsigned verb)
{
    return verb == CF_VERB_EXPECT || verb == CF_VERB_AWAIT || verb == CF_VERB_EXPECT_CLOSE ||
           verb == CF_VERB_EXPECT_NOTHING;
}

static void check_step(const cf_transcript *t, const cf_step *s, int nested)
{
    FX_CHECK(s->verb >= CF_VERB_CONNECT && s->verb <= CF_VERB_FAULT);
    FX_CHECK(strcmp(cf_verb_name(s->verb), "?") != 0);
    FX_CHECK(s->actor >= -1 && s->actor < (int)t->nactors);
    /* Steps follow the headers, within the source. */
    FX_CHECK(s->line > t->last_header_line && s->line <= s->line_end &&
             s->line_end <= t->nlines);
    int typed = s->verb == CF_VERB_SEND || s->verb == CF_VERB_QUEUE ||
                s->verb == CF_VERB_EXPECT || s->verb == CF_VERB_AWAIT;
    FX_CHECK(typed == (s->m != NULL));
    /* Global steps have no actor; wire (global or not) always has one. */
    if (s->verb == CF_VERB_TIME || s->verb == CF_VERB_ANY || s->verb == CF_VERB_FAULT)
        FX_CHECK(s->actor == -1);
    else
        FX_CHECK(s->actor >= 0);
    check_args(s->args, s->nargs);

    FX_CHECK(s->nmods == 0 || s->mods != NULL);
    for (size_t i = 0; i < s->nmods; i++) {
        const cf_mod *m = &s->mods[i];
        FX_CHECK(m->kind >= CF_MOD_XOR && m->kind <= CF_MOD_TYPE);
        FX_CHECK((m->kind == CF_MOD_CAPTURE) == (m->var != NULL));
        if (m->var != NULL)
            check_str(m->var, 64);
        FX_CHECK(m->a >= -1000000 && m->a <= 1000000);
        if (m->kind == CF_MOD_XOR)
            FX_CHECK(m->b != 0);
        if (m->kind == CF_MOD_LENGTH)
            FX_CHECK(m->a >= 0 && m->a <= 65535);
        if (m->kind == CF_MOD_TYPE)
            FX_CHECK(m->a >= 0 && m->a <= 255);
    }
    FX_CHECK(s->nmods == 0 || s->verb == CF_VERB_SEND || s->verb == CF_VERB_FLUSH ||
             s->verb == CF_VERB_SEND_FRAME || s->verb == CF_VERB_SEND_PLAIN);

    size_t total = 0;
    FX_CHECK(s->ndata == 0 || s->data != NULL);
    for (size_t i = 0; i < s->ndata; i++) {
        FX_CHECK(s->data[i].is_var <= 1);
        FX_CHECK(s->data[i].p != NULL || s->data[i].n == 0);
        total += s->data[i].n;
        value_total += s->data[i].n;
    }
    FX_CHECK(total <= 4 * (size_t)CF_MAX_VALUE);

    if (s->verb == CF_VERB_WIRE) {
        FX_CHECK(t->kind == CF_KIND_KAT);
        FX_CHECK(s->dir == CF_DIR_C2S || s->dir == CF_DIR_S2C);
        FX_CHECK(s->eof ? s->ndata == 0 : total > 0);
    } else {
        FX_CHECK(s->dir == 0 && s->eof == 0);
    }
    if (s->verb == CF_VERB_SEND_PLAIN || s->verb == CF_VERB_RAW)
        FX_CHECK(s->ndata > 0);

    if (s->verb == CF_VERB_ANY) {
        FX_CHECK(!nested && s->nalts >= 2 && s->alts != NULL);
        for (size_t i = 0; i < s->nalts; i++) {
            FX_CHECK(is_expectation(s->alts[i].verb));
            check_step(t, &s->alts[i], 1);
        }
    } else {
        FX_CHECK(s->nalts == 0);
    }
}

static void check_transcript(const cf_transcript *t, const uint8_t *data, size_t size)
{
    value_total = 0;
    check_str(t->file, 64);
    check_str(t->id, 128);
    FX_CHECK(t->id[0] != '\0');
    check_str(t->desc, 4096);
    FX_CHECK(t->kind == CF_KIND_SCENARIO || t->kind == CF_KIND_KAT);
    FX_CHECK(t->roles >= CF_ROLE_SERVER && t->roles <= (CF_ROLE_SERVER | CF_ROLE_CLIENT));
    FX_CHECK(t->roles != (CF_ROLE_SERVER | CF_ROLE_CLIENT) || t->kind == CF_KIND_KAT);
    for (size_t i = 0; i < t->ncovers; i++)
        check_str(t->covers[i], size);
    for (size_t i = 0; i < t->nrequires; i++)
        check_str(t->requires[i], 64);

    /* The source, kept byte for byte, and one header class per line. */
    FX_CHECK(t->srclen == size && t->src != NULL && t->src[size] == '\0');
    FX_CHECK(size == 0 || memcmp(t->src, data, size) == 0);
    int lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    FX_CHECK(t->nlines == lines && t->line_hdr != NULL);
    for (int l = 1; l <= t->nlines; l++)
        FX_CHECK(t->line_hdr[l] <= CF_HDR_TIME);
    FX_CHECK(t->last_header_line >= 0 && t->last_header_line <= t->nlines);

    FX_CHECK(t->nactors <= CF_MAX_ACTORS);
    size_t servers = 0;
    for (size_t i = 0; i < t->nactors; i++) {
        const cf_actor *a = &t->actors[i];
        check_str(a->name, 64);
        FX_CHECK(cf_actor_index(t, a->name) == (int)i); /* names are distinct */
        FX_CHECK(a->line >= 1 && a->line <= t->last_header_line);
        FX_CHECK(a->is_server <= 1 && a->auto_login <= 1 && a->trust <= 1 && a->has_key <= 1);
        FX_CHECK(a->pass != NULL || a->pass_len == 0);
        servers += a->is_server;
    }
    FX_CHECK(servers <= 1);
    FX_CHECK(servers == 0 || t->roles == CF_ROLE_CLIENT);

    FX_CHECK(t->naccounts == 0 || t->accounts != NULL);
    for (size_t i = 0; i < t->naccounts; i++) {
        const cf_account *a = &t->accounts[i];
        check_str(a->name, CHAT_NAME_MAX);
        FX_CHECK(chat_valid_name((const uint8_t *)a->name, strlen(a->name)));
        for (size_t k = 0; k < i; k++)
            FX_CHECK(strcmp(t->accounts[k].name, a->name) != 0);
        FX_CHECK(a->line >= 1 && a->line <= t->last_header_line);
        FX_CHECK(a->pass != NULL || a->has_pk);
        FX_CHECK(a->pass == NULL || (a->pass_len >= 1 && a->pass_len <= CHAT_PASSWORD_MAX));
        FX_CHECK(a->role <= 1);
        FX_CHECK(a->opslimit >= 1 && a->opslimit <= 64);
        FX_CHECK(a->memlimit_kib >= 8 && a->memlimit_kib <= 1u << 20);
    }

    for (size_t i = 0; i < t->nrandoms; i++) {
        const cf_random *r = &t->randoms[i];
        check_str(r->actor, 64);
        check_str(r->purpose, 16);
        FX_CHECK(strcmp(r->actor, "server") == 0 || cf_actor_index(t, r->actor) >= 0);
        FX_CHECK(r->n == (strcmp(r->purpose, "salt") == 0 ? 16u : 32u) && r->p != NULL);
        FX_CHECK(r->line >= 1 && r->line <= t->last_header_line);
    }
    check_args(t->server_cfg, t->nserver_cfg);

    FX_CHECK(t->nsteps >= 1 && t->nsteps <= CF_MAX_STEPS && t->steps != NULL);
    for (size_t i = 0; i < t->nsteps; i++) {
        check_step(t, &t->steps[i], 0);
        if (i > 0)
            FX_CHECK(t->steps[i].line > t->steps[i - 1].line_end); /* in source order */
    }
    FX_CHECK(value_total <= CF_MAX_VALUES + size / 2);
}

/* ---- the two parses ------------------------------------------------------------------- */

/* An error names the file and a line of the input: "NAME:LINE: ...".
 * Returns the message after the prefix. */
static const char *check_error(const char *err, const char *name, const uint8_t *data,
                               size_t size)
{
    size_t nl = strlen(name);
    FX_CHECK(strncmp(err, name, nl) == 0 && err[nl] == ':');
    const char *p = err + nl + 1;
    long line = 0;
    while (*p >= '0' && *p <= '9' && line < 100000000)
        line = line * 10 + (*p++ - '0');
    FX_CHECK(p[0] == ':' && p[1] == ' ' && p[2] != '\0');
    long lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    FX_CHECK(line >= 1 && line <= lines);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[2] = {"a.chat", "second/b.chat"};
    cf_transcript *t[2] = {NULL, NULL};
    char err[2][600];
    int rc[2];
    for (int k = 0; k < 2; k++) {
        rc[k] = cf_transcript_parse(names[k], data, size, &t[k], err[k], sizeof err[k]);
        FX_CHECK(rc[k] == 0 || rc[k] == -1);
        FX_CHECK((rc[k] == 0) == (t[k] != NULL));
    }
    FX_CHECK(rc[0] == rc[1]);
    if (rc[0] != 0) {
        const char *m0 = check_error(err[0], names[0], data, size);
        const char *m1 = check_error(err[1], names[1], data, size);
        FX_CHECK(strcmp(m0, m1) == 0);
        return 0;
    }
    cf_buf d[2] = {{0}, {0}};
    for (int k = 0; k < 2; k++) {
        FX_CHECK(strcmp(t[k]->file, names[k]) == 0);
        check_transcript(t[k], data, size);
        dump(&d[k], t[k]);
        cf_transcript_free(t[k]);
    }
    FX_CHECK(d[0].len == d[1].len && memcmp(d[0].p, d[1].p, d[0].len) == 0);
    cf_buf_free(&d[0]);
    cf_buf_free(&d[1]);
    return 0;
}
