/* The executor: runs a transcript's steps through an adapter, playing the
 * other side of every connection itself (docs/TRANSCRIPTS.md §5-§7).
 *
 * Delivery: in a scenario, whatever a step produces is delivered at once
 * and every step ends by settling (moving bytes both ways until nothing
 * moves). In a known-answer transcript nothing moves by itself: `wire`
 * steps take exactly the bytes they show, check them byte for byte and
 * deliver them, so both the implementation's output and its acceptance of
 * the other side's bytes are checked. */
#include "exec.h"
#include "proc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "chat/chat.h"
#include "wpeer.h"

/* Milliseconds of a real clock (bounded waits only). */
static uint64_t wall_ms(void)
{
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) != TIME_UTC)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The runner's end of one connection. */
typedef struct endpoint {
    cf_conn *conn;
    int open;      /* opened and not closed by us */
    int eof;       /* the implementation closed its end */
    int closing;   /* close once the outbox is delivered */
    int paused;    /* do not read (a slow reader) */
    int has_w;
    cf_wpeer w;    /* the runner's protocol endpoint, when it plays one */
    cf_rngctx rctx;
    cf_buf outbox; /* bytes for the implementation */
    cf_buf held;   /* a frame held back by `| reorder` */
    int has_held;
    cf_buf rx;     /* bytes read, not yet consumed (wire s>c) */
    /* Descriptions of frames sealed recently (for the recorder). */
    struct {
        uint8_t *p;
        size_t n;
        char desc[160];
    } sealed[8];
    size_t nsealed;
} endpoint;

typedef struct actor_rt {
    endpoint *ep;
    cf_evq iut;     /* a client under test: its reports */
    char user[CHAT_NAME_MAX * 4 + 1];
    cf_buf pass;
    int has_pass;
    size_t scanned; /* events of ep->w looked at by the automatic login */
} actor_rt;

typedef struct var {
    char *name;
    int isnum;
    uint64_t num;
    cf_buf b;
} var;

typedef struct run {
    const cf_transcript *t;
    cf_adapter *ad;
    const cf_run_opts *o;
    unsigned role;
    int kat;
    int instant;
    int realtime;      /* the adapter has no clock of ours: time is real */
    uint64_t real0;    /* wall_ms() at the start */
    /* A scaled real clock (CF_CAP_SCALED): time steps are waited out,
     * `scale` times faster, from mono_real0 (cf_now_ms() once set up). */
    uint32_t scale;
    uint64_t mono_real0;
    uint64_t owed; /* cf_now_ms() a time step stopped short of (0: none) */
    /* Per instant of the transcript's clock in which the runner acted
     * (opened, sent, closed): that instant and the cf_now_ms() of its last
     * action. */
    struct {
        uint64_t mono, real;
    } acts[64];
    size_t nacts;
    cf_rngsrc rng;
    actor_rt rt[CF_MAX_ACTORS];
    endpoint eps[CF_MAX_ACTORS];
    int srv;   /* the server actor (client role), or -1 */
    int cli;   /* the client actor (client role), or -1 */
    var *vars;
    size_t nvars;
    uint64_t mono, wall;
    const cf_step *cur;
    size_t step_index;
    int failed;
    int quiet;  /* inside any { }: failures are collected, not final */
    char why[3000];
    cf_recording *rec;
} run;

/* ---- failures and tracing ------------------------------------------------------------ */

/* The first physical line of a step, trimmed, for messages. */
static void step_text(const cf_transcript *t, int line, char *out, size_t cap)
{
    const char *s = t->src;
    int l = 1;
    size_t i = 0;
    while (i < t->srclen && l < line) {
        if (s[i] == '\n')
            l++;
        i++;
    }
    while (i < t->srclen && (s[i] == ' ' || s[i] == '\t'))
        i++;
    size_t e = i;
    while (e < t->srclen && s[e] != '\n' && s[e] != '\r')
        e++;
    while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\\'))
        e--;
    size_t n = e - i;
    if (n > 160)
        n = 160;
    cf_fmt(out, cap, "%.*s%s", (int)n, s + i, e - i > 160 ? "..." : "");
}

static int fail(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(run *r, const char *fmt, ...)
{
    if (r->failed)
        return -1;
    r->failed = 1;
    char msg[2500];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = r->cur != NULL ? r->cur->line : 1;
    cf_fmt(r->why, sizeof r->why, "%s:%d: %s", r->t->file, line, msg);
    return -1;
}

static void trace(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void trace(run *r, const char *fmt, ...)
{
    if (r->o->trace == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(r->o->trace, fmt, ap);
    va_end(ap);
}

static const char *actor_name(const run *r, int i)
{
    return i >= 0 ? r->t->actors[i].name : "-";
}

/* ---- variables ---------------------------------------------------------------------- */

static var *var_find(run *r, const char *name)
{
    for (size_t i = 0; i < r->nvars; i++)
        if (strcmp(r->vars[i].name, name) == 0)
            return &r->vars[i];
    return NULL;
}

static var *var_set(run *r, const char *name)
{
    var *v = var_find(r, name);
    if (v == NULL) {
        r->vars = cf_xrealloc(r->vars, (r->nvars + 1) * sizeof *r->vars);
        v = &r->vars[r->nvars++];
        memset(v, 0, sizeof *v);
        v->name = cf_xstrdup(name);
    }
    cf_buf_reset(&v->b);
    v->isnum = 0;
    v->num = 0;
    return v;
}

/* Bytes of a value (strings, hex, words, bound byte variables). */
static int value_bytes(run *r, const cf_value *v, cf_buf *out)
{
    switch (v->kind) {
    case CF_V_STR:
    case CF_V_HEX:
    case CF_V_WORD:
        cf_buf_add(out, v->p, v->n);
        return 0;
    case CF_V_VAR: {
        var *x = var_find(r, (const char *)v->p);
        if (x == NULL)
            return fail(r, "variable $%s is not bound", (const char *)v->p);
        if (x->isnum)
            cf_buf_printf(out, "%llu", (unsigned long long)x->num);
        else
            cf_buf_add(out, x->b.p, x->b.len);
        return 0;
    }
    default:
        return fail(r, "a value is needed here");
    }
}

static int value_num(run *r, const cf_value *v, uint8_t en, uint64_t *out)
{
    if (v->kind == CF_V_VAR) {
        var *x = var_find(r, (const char *)v->p);
        if (x == NULL)
            return fail(r, "variable $%s is not bound", (const char *)v->p);
        if (!x->isnum)
            return fail(r, "variable $%s holds bytes, not a number", (const char *)v->p);
        *out = x->num;
        return 0;
    }
    if (v->kind != CF_V_WORD || cf_parse_num((const char *)v->p, v->n, en, out) != 0)
        return fail(r, "'%.*s' is not a number%s", (int)(v->n > 40 ? 40 : v->n),
                    (const char *)v->p, en == FE_CODE ? " or a code name" : "");
    return 0;
}

static int pieces(run *r, const cf_piece *pc, size_t n, cf_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (!pc[i].is_var) {
            cf_buf_add(out, pc[i].p, pc[i].n);
            continue;
        }
        var *x = var_find(r, (const char *)pc[i].p);
        if (x == NULL)
            return fail(r, "variable $%s is not bound", (const char *)pc[i].p);
        if (x->isnum)
            return fail(r, "variable $%s holds a number, not bytes", (const char *)pc[i].p);
        cf_buf_add(out, x->b.p, x->b.len);
    }
    return 0;
}

/* ---- the recorder's log --------------------------------------------------------------- */

static void describe_frame(const uint8_t *p, size_t n, char *out, size_t cap)
{
    if (n < 3) {
        cf_fmt(out, cap, "partial frame");
        return;
    }
    size_t len = (size_t)p[0] << 8 | p[1];
    const char *names[] = {"?", "HS1", "HS2", "HS3", "REJECT", "TRANSPORT"};
    const char *nm = p[2] <= 5 ? names[p[2]] : "unknown type";
    if (len + 2 != n)
        cf_fmt(out, cap, "%s (%zu of %zu bytes)", nm, n, len + 2);
    else
        cf_fmt(out, cap, "%s", nm);
}

static void record(run *r, endpoint *ep, uint8_t dir, const uint8_t *p, size_t n, int eof,
                   const char *desc)
{
    if (r->rec == NULL)
        return;
    cf_recording *rc = r->rec;
    if (rc->n == rc->cap) {
        rc->cap = rc->cap ? rc->cap * 2 : 64;
        rc->items = cf_xrealloc(rc->items, rc->cap * sizeof *rc->items);
    }
    cf_wire_item *it = &rc->items[rc->n++];
    memset(it, 0, sizeof *it);
    it->step = r->step_index;
    it->actor = (int)(ep - r->eps);
    it->dir = dir;
    it->eof = (uint8_t)eof;
    if (n > 0) {
        it->p = cf_xmalloc(n);
        memcpy(it->p, p, n);
    }
    it->n = n;
    if (desc != NULL)
        cf_fmt(it->desc, sizeof it->desc, "%s", desc);
}

void cf_recording_free(cf_recording *rec)
{
    for (size_t i = 0; i < rec->n; i++)
        free(rec->items[i].p);
    free(rec->items);
    free(rec->draws);
    memset(rec, 0, sizeof *rec);
}

static void remember_sealed(endpoint *ep, const uint8_t *p, size_t n, const char *desc)
{
    if (ep->nsealed == sizeof ep->sealed / sizeof ep->sealed[0]) {
        free(ep->sealed[0].p);
        memmove(&ep->sealed[0], &ep->sealed[1], (ep->nsealed - 1) * sizeof ep->sealed[0]);
        ep->nsealed--;
    }
    ep->sealed[ep->nsealed].p = cf_xmalloc(n);
    memcpy(ep->sealed[ep->nsealed].p, p, n);
    ep->sealed[ep->nsealed].n = n;
    cf_fmt(ep->sealed[ep->nsealed].desc, sizeof ep->sealed[0].desc, "%s", desc);
    ep->nsealed++;
}

/* Record one c>s delivery, frame by frame where it is whole frames. */
static void record_c2s(run *r, endpoint *ep, const uint8_t *p, size_t n)
{
    if (r->rec == NULL)
        return;
    size_t off = 0;
    while (off < n) {
        size_t len = n - off >= 2 ? ((size_t)p[off] << 8 | p[off + 1]) + 2 : 0;
        if (len < 3 || len > n - off) {
            char d[160];
            describe_frame(p + off, n - off, d, sizeof d);
            record(r, ep, CF_DIR_C2S, p + off, n - off, 0, d);
            return;
        }
        char d[160];
        describe_frame(p + off, len, d, sizeof d);
        for (size_t i = 0; i < ep->nsealed; i++)
            if (ep->sealed[i].n == len && memcmp(ep->sealed[i].p, p + off, len) == 0)
                cf_fmt(d, sizeof d, "%s", ep->sealed[i].desc);
        record(r, ep, CF_DIR_C2S, p + off, len, 0, d);
        off += len;
    }
}

/* ---- encoding (lenient: transcripts may send what a codec would refuse) -------------- */

static void put_be(cf_buf *b, uint64_t v, size_t w)
{
    for (size_t i = w; i-- > 0;)
        cf_buf_byte(b, (uint8_t)(v >> (8 * i)));
}

static int put_entries(run *r, cf_buf *b, int type, const cf_value *v, uint64_t *count)
{
    cf_buf s = {0};
    if (value_bytes(r, v, &s) != 0)
        return -1;
    *count = 0;
    size_t i = 0;
    while (i < s.len) {
        size_t e = i;
        while (e < s.len && s.p[e] != ',')
            e++;
        const uint8_t *item = s.p + i;
        size_t n = e - i;
        /* name[:x[:y]] */
        size_t c1 = 0;
        while (c1 < n && item[c1] != ':')
            c1++;
        if (c1 > 255) {
            cf_buf_free(&s);
            return fail(r, "list entry name too long");
        }
        cf_buf_byte(b, (uint8_t)c1);
        cf_buf_add(b, item, c1);
        const uint8_t *rest = c1 < n ? item + c1 + 1 : item + n;
        size_t rn = c1 < n ? n - c1 - 1 : 0;
        size_t c2 = 0;
        while (c2 < rn && rest[c2] != ':')
            c2++;
        if (type == CHAT_MSG_USER_LIST) {
            int admin = c2 == 5 && memcmp(rest, "admin", 5) == 0;
            int online = rn == c2 + 7 && memcmp(rest + c2 + 1, "online", 6) == 0;
            cf_buf_byte(b, (uint8_t)admin);
            cf_buf_byte(b, (uint8_t)online);
        } else if (type == CHAT_MSG_ROOM_LIST) {
            uint64_t members = 0;
            if (c2 > 0 && cf_parse_num((const char *)rest, c2, FE_NUM, &members) != 0)
                members = 0;
            put_be(b, members, 4);
            size_t tn = rn > c2 ? rn - c2 - 1 : 0;
            put_be(b, tn, 2);
            cf_buf_add(b, rest + c2 + 1, tn);
        }
        (*count)++;
        i = e + 1;
    }
    cf_buf_free(&s);
    return 0;
}

/* Defaults for fields a `send` leaves out (TRANSCRIPTS.md §5.3). */
typedef struct enc_ctx {
    actor_rt *rt;
    endpoint *ep;
    int is_server;     /* the runner plays a server */
    const char *login; /* user of the last LOGIN on this connection */
} enc_ctx;

static const cf_account *ctx_account(run *r, const enc_ctx *c)
{
    return c->login != NULL && c->login[0] ? cf_account_find(r->t, c->login) : NULL;
}

/* Encode message or frame payload m from args into out (no framing).
 * Messages get their [u16 len] prefix; frame payloads (HS1/HS2/REJECT)
 * do not. */
static int encode(run *r, const enc_ctx *c, const cf_mdef *m, const cf_arg *args, size_t nargs,
                  cf_buf *out)
{
    const cf_arg *payload = cf_arg_find(args, nargs, "payload");
    if (payload != NULL)
        return value_bytes(r, &payload->v, out);
    if (m->type == CF_T_HS3) {
        /* The payload is one LOGIN message, with its length. */
        const cf_mdef *login = cf_mdef_by_type(CHAT_MSG_LOGIN);
        const cf_arg *u = cf_arg_find(args, nargs, "user");
        return encode(r, c, login, u, u != NULL ? 1 : 0, out);
    }
    int is_msg = m->type < 0x100;
    cf_buf body = {0};
    const cf_account *acct = ctx_account(r, c);
    chat_account built;
    memset(&built, 0, sizeof built);
    if (acct != NULL && cf_account_build(acct, &built) != CHAT_OK)
        acct = NULL;
    uint8_t salt[16] = {0};
    int have_salt = 0;
    uint64_t ops = 1, mem = 8;
    const cf_arg *pw = cf_arg_find(args, nargs, "password");
    const cf_arg *ent = cf_arg_find(args, nargs, "entries");
    uint64_t list_count = 0;
    size_t count_at = SIZE_MAX;
    int rc = 0;
    if (is_msg)
        cf_buf_byte(&body, (uint8_t)m->type);
    for (const cf_fdef *f = m->f; f->name != NULL && rc == 0; f++) {
        const cf_arg *a = cf_arg_find(args, nargs, f->name);
        if (f->kind <= FK_U64) {
            size_t w = f->kind == FK_U8 ? 1 : f->kind == FK_U16 ? 2 : f->kind == FK_U32 ? 4 : 8;
            uint64_t v = 0;
            if (a != NULL) {
                if (value_num(r, &a->v, f->en, &v) != 0) {
                    rc = -1;
                    break;
                }
                if (w < 8 && v >> (8 * w) != 0) {
                    rc = fail(r, "%s=%llu does not fit the field", f->name, (unsigned long long)v);
                    break;
                }
            } else if (strcmp(f->name, "req") == 0) {
                if (!c->is_server && c->ep->has_w)
                    v = c->ep->w.next_req++;
            } else if (strcmp(f->name, "version_min") == 0) {
                v = r->t->actors[c->rt - r->rt].vmin;
            } else if (strcmp(f->name, "version_max") == 0) {
                v = r->t->actors[c->rt - r->rt].vmax;
            } else if (strcmp(f->name, "version") == 0) {
                v = 1;
            } else if (strcmp(f->name, "opslimit") == 0) {
                v = m->type == CHAT_MSG_CHALLENGE && acct != NULL ? built.verifier.opslimit : 1;
            } else if (strcmp(f->name, "memlimit_kib") == 0) {
                v = m->type == CHAT_MSG_CHALLENGE && acct != NULL ? built.verifier.memlimit_kib : 8;
            } else if (strcmp(f->name, "role") == 0 && m->type == CHAT_MSG_WELCOME) {
                v = acct != NULL ? acct->role : 0;
            } else if (strcmp(f->name, "time_ms") == 0) {
                v = r->wall;
            } else if (strcmp(f->name, "count") == 0) {
                count_at = body.len;
            }
            if (strcmp(f->name, "opslimit") == 0)
                ops = v;
            if (strcmp(f->name, "memlimit_kib") == 0)
                mem = v;
            put_be(&body, v, w);
            continue;
        }
        cf_buf val = {0};
        if (a != NULL && f->kind != FK_ENTRIES) {
            if (value_bytes(r, &a->v, &val) != 0) {
                cf_buf_free(&val);
                rc = -1;
                break;
            }
        } else if (f->kind == FK_ENTRIES) {
            if (a != NULL)
                rc = put_entries(r, &val, m->type, &a->v, &list_count);
            else if (ent != NULL)
                rc = value_bytes(r, &ent->v, &val);
        } else if (strcmp(f->name, "magic") == 0) {
            cf_buf_add(&val, CHAT_MAGIC, CHAT_MAGIC_LEN);
        } else if (strcmp(f->name, "user") == 0 &&
                   (m->type == CHAT_MSG_LOGIN || m->type == CHAT_MSG_WELCOME)) {
            const char *u = m->type == CHAT_MSG_LOGIN ? c->rt->user : c->login;
            cf_buf_add(&val, u != NULL ? u : "", u != NULL ? strlen(u) : 0);
        } else if (strcmp(f->name, "salt") == 0) {
            if (m->type == CHAT_MSG_CHALLENGE && acct != NULL) {
                cf_buf_add(&val, built.verifier.salt, 16);
            } else if (m->type == CHAT_MSG_PASSWD || m->type == CHAT_MSG_ADD_USER) {
                cf_rng_draw(&c->ep->rctx, salt, 16);
                cf_buf_add(&val, salt, 16);
            } else {
                uint8_t z[16] = {0};
                cf_buf_add(&val, z, 16);
            }
        } else if (strcmp(f->name, "pk") == 0) {
            uint8_t pk[32] = {0};
            if (pw != NULL) {
                cf_buf p = {0};
                uint8_t seed[CHAT_SEED_LEN];
                rc = value_bytes(r, &pw->v, &p);
                if (rc == 0 && !have_salt)
                    rc = fail(r, "password= needs a 16-byte salt");
                if (rc == 0 && (ops > UINT32_MAX || mem > UINT32_MAX ||
                                chat_seed_derive(seed, p.p, p.len, salt, (uint32_t)ops,
                                                 (uint32_t)mem) != CHAT_OK))
                    rc = fail(r, "cannot derive a verifier from this password and limits");
                if (rc == 0)
                    chat_seed_public(pk, seed);
                sodium_memzero(seed, sizeof seed);
                cf_buf_free(&p);
            }
            cf_buf_add(&val, pk, 32);
        } else if (strcmp(f->name, "signature") == 0) {
            /* PROOF: sign with the password for the pending challenge. */
            uint8_t sig[64] = {0};
            const cf_wpeer *w = &c->ep->w;
            if (c->ep->has_w && w->have_chal && c->rt->has_pass) {
                uint8_t seed[CHAT_SEED_LEN];
                if (chat_seed_derive(seed, c->rt->pass.p, c->rt->pass.len, w->chal_salt,
                                     w->chal_ops, w->chal_mem) != CHAT_OK ||
                    chat_proof_sign(sig, seed, w->h, (const uint8_t *)w->login_user,
                                    strlen(w->login_user)) != CHAT_OK)
                    rc = fail(r, "cannot compute the proof");
                sodium_memzero(seed, sizeof seed);
            }
            cf_buf_add(&val, sig, 64);
        } else if (f->kind == FK_B4 || f->kind == FK_B16 || f->kind == FK_B32 ||
                   f->kind == FK_B64) {
            size_t w = f->kind == FK_B4 ? 4 : f->kind == FK_B16 ? 16 : f->kind == FK_B32 ? 32 : 64;
            uint8_t z[64] = {0};
            cf_buf_add(&val, z, w);
        }
        if (strcmp(f->name, "salt") == 0 && val.len == 16) {
            memcpy(salt, val.p, 16);
            have_salt = 1;
        }
        if (rc == 0) {
            if (f->kind == FK_STR8) {
                if (val.len > 255)
                    rc = fail(r, "%s: %zu bytes do not fit a str8", f->name, val.len);
                else
                    cf_buf_byte(&body, (uint8_t)val.len);
            } else if (f->kind == FK_STR16) {
                if (val.len > 65535)
                    rc = fail(r, "%s: %zu bytes do not fit a str16", f->name, val.len);
                else
                    put_be(&body, val.len, 2);
            }
            if (rc == 0 && f->kind == FK_ENTRIES && count_at != SIZE_MAX &&
                cf_arg_find(args, nargs, "count") == NULL) {
                body.p[count_at] = (uint8_t)(list_count >> 8);
                body.p[count_at + 1] = (uint8_t)list_count;
            }
            if (rc == 0)
                cf_buf_add(&body, val.p, val.len);
        }
        cf_buf_free(&val);
    }
    sodium_memzero(&built, sizeof built);
    const cf_arg *tr = cf_arg_find(args, nargs, "trailer");
    if (rc == 0 && tr != NULL)
        rc = value_bytes(r, &tr->v, &body);
    if (rc == 0 && is_msg) {
        if (body.len > 65535)
            rc = fail(r, "the message is %zu bytes: over a u16 length", body.len);
        else
            put_be(out, body.len, 2);
    }
    if (rc == 0)
        cf_buf_add(out, body.p, body.len);
    cf_buf_free(&body);
    return rc;
}

/* ---- delivery ------------------------------------------------------------------------ */

static int ep_is_live(const endpoint *ep)
{
    return ep->open && ep->conn != NULL;
}

static void ep_reset(endpoint *ep)
{
    if (ep->has_w)
        cf_wpeer_free(&ep->w);
    ep->has_w = 0;
    cf_buf_free(&ep->outbox);
    cf_buf_free(&ep->held);
    cf_buf_free(&ep->rx);
    for (size_t i = 0; i < ep->nsealed; i++)
        free(ep->sealed[i].p);
    cf_rngctx saved = ep->rctx;
    memset(ep, 0, sizeof *ep);
    ep->rctx = saved;
}

/* The runner acted on the implementation now (a scaled clock counts the
 * implementation's timeouts from its last action in each instant). */
static void acted(run *r)
{
    if (r->scale == 0)
        return;
    if (r->nacts == 0 || r->acts[r->nacts - 1].mono != r->mono) {
        if (r->nacts == sizeof r->acts / sizeof r->acts[0]) {
            /* Keep the latest instants: the older ones rarely decide. */
            memmove(r->acts, r->acts + 1, (r->nacts - 1) * sizeof r->acts[0]);
            r->nacts--;
        }
        r->acts[r->nacts++].mono = r->mono;
    }
    r->acts[r->nacts - 1].real = cf_now_ms();
}

static void close_ep(run *r, endpoint *ep)
{
    if (!ep_is_live(ep))
        return;
    acted(r);
    r->ad->ops->close(r->ad->self, ep->conn);
    ep->open = 0;
    ep->closing = 0;
    trace(r, "    %s closes its end\n", actor_name(r, (int)(ep - r->eps)));
}

/* Send the outbox to the implementation (scenario delivery). */
static int deliver(run *r, endpoint *ep)
{
    if (!ep_is_live(ep))
        return 0;
    int moved = 0;
    if (ep->outbox.len > 0) {
        record_c2s(r, ep, ep->outbox.p, ep->outbox.len);
        trace(r, "    c>s %zu bytes\n", ep->outbox.len);
        acted(r);
        (void)r->ad->ops->send(r->ad->self, ep->conn, ep->outbox.p, ep->outbox.len);
        cf_buf_reset(&ep->outbox);
        moved = 1;
    }
    if (ep->closing) {
        close_ep(r, ep);
        moved = 1;
    }
    return moved;
}

static void auto_login(run *r, int actor);

/* Feed bytes the implementation wrote to the runner's peer. */
static void feed(run *r, endpoint *ep, const uint8_t *p, size_t n)
{
    if (!ep->has_w)
        return;
    if (r->rec == NULL) {
        cf_wpeer_feed(&ep->w, p, n);
        return;
    }
    /* Recording: frame by frame, each described by what it produced. */
    size_t off = 0;
    cf_buf_add(&ep->rx, p, n);
    while (ep->rx.len - off >= 3) {
        size_t len = ((size_t)ep->rx.p[off] << 8 | ep->rx.p[off + 1]) + 2;
        if (len > ep->rx.len - off)
            break;
        size_t before = ep->w.ev.n;
        cf_wpeer_feed(&ep->w, ep->rx.p + off, len);
        char d[160];
        describe_frame(ep->rx.p + off, len, d, sizeof d);
        cf_buf s = {0};
        cf_buf_printf(&s, "%s", d);
        for (size_t i = before; i < ep->w.ev.n; i++) {
            const cf_event *e = &ep->w.ev.e[i];
            const cf_mdef *m = cf_mdef_by_type(e->type);
            cf_buf_printf(&s, "%s %s", i == before ? ":" : "", m != NULL ? m->name : "?");
            if (e->type == CF_T_CLOSED) {
                const char *cn = chat_code_name(e->code);
                cf_buf_printf(&s, "(%s)", cn != NULL ? cn : "?");
            }
        }
        record(r, ep, CF_DIR_S2C, ep->rx.p + off, len, 0, (const char *)s.p);
        cf_buf_free(&s);
        off += len;
    }
    cf_buf_consume(&ep->rx, off);
}

/* Read what the implementation has for this connection. */
static int pump(run *r, endpoint *ep, uint32_t timeout_ms)
{
    if (ep->conn == NULL || ep->eof || ep->paused)
        return 0;
    cf_buf got = {0};
    int n = r->ad->ops->recv(r->ad->self, ep->conn, &got, CHAT_FRAME_MAX + 2, timeout_ms);
    int moved = 0;
    if (n > 0) {
        trace(r, "    s>c %d bytes\n", n);
        feed(r, ep, got.p, got.len);
        moved = 1;
    } else if (n == CF_EOF) {
        ep->eof = 1;
        trace(r, "    %s: the implementation closed the connection\n",
              actor_name(r, (int)(ep - r->eps)));
        if (r->rec != NULL)
            record(r, ep, CF_DIR_S2C, NULL, 0, 1, NULL);
        if (ep->has_w)
            cf_wpeer_eof(&ep->w);
        moved = 1;
    }
    cf_buf_free(&got);
    if (moved && ep->has_w && r->role == CF_ROLE_SERVER)
        auto_login(r, (int)(ep - r->eps));
    return moved;
}

static void settle(run *r)
{
    if (r->kat)
        return;
    for (int round = 0; round < 100000; round++) {
        int moved = 0;
        for (size_t i = 0; i < CF_MAX_ACTORS; i++) {
            endpoint *ep = &r->eps[i];
            if (ep->conn == NULL)
                continue;
            moved |= deliver(r, ep);
            moved |= pump(r, ep, 0);
        }
        if (!moved)
            return;
    }
    fail(r, "the connection never settles (livelock)");
}

/* Queue a frame for the implementation, applying modifiers. */
static int emit(run *r, endpoint *ep, cf_buf *frame, const cf_mod *mods, size_t nmods,
                const char *desc)
{
    int drop = 0, replay = 0, reorder = 0;
    size_t split = 0;
    for (size_t i = 0; i < nmods; i++) {
        const cf_mod *m = &mods[i];
        size_t body = frame->len >= 3 ? frame->len - 3 : 0;
        switch (m->kind) {
        case CF_MOD_XOR: {
            int64_t at = m->a < 0 ? (int64_t)body + m->a : m->a;
            if (at < 0 || (uint64_t)at >= body)
                return fail(r, "xor at=%lld is outside the %zu-byte body", (long long)m->a, body);
            frame->p[3 + (size_t)at] ^= m->b;
            break;
        }
        case CF_MOD_TRUNCATE: {
            if ((uint64_t)m->a > body)
                return fail(r, "truncate %lld: the body is %zu bytes", (long long)m->a, body);
            frame->len -= (size_t)m->a;
            size_t nl = frame->len - 2;
            frame->p[0] = (uint8_t)(nl >> 8);
            frame->p[1] = (uint8_t)nl;
            break;
        }
        case CF_MOD_CUT:
            if ((uint64_t)m->a < frame->len)
                frame->len = (size_t)m->a;
            break;
        case CF_MOD_LENGTH:
            if (frame->len >= 2) {
                frame->p[0] = (uint8_t)(m->a >> 8);
                frame->p[1] = (uint8_t)m->a;
            }
            break;
        case CF_MOD_TYPE:
            if (frame->len >= 3)
                frame->p[2] = (uint8_t)m->a;
            break;
        case CF_MOD_SPLIT:
            split = (size_t)m->a;
            break;
        case CF_MOD_REPLAY:
            replay = 1;
            break;
        case CF_MOD_REORDER:
            reorder = 1;
            break;
        case CF_MOD_DROP:
            drop = 1;
            break;
        case CF_MOD_CAPTURE: {
            var *v = var_set(r, m->var);
            cf_buf_add(&v->b, frame->p, frame->len);
            break;
        }
        default:
            break;
        }
    }
    remember_sealed(ep, frame->p, frame->len, desc);
    if (drop)
        return 0;
    if (reorder) {
        if (ep->has_held)
            cf_buf_add(&ep->outbox, ep->held.p, ep->held.len);
        cf_buf_reset(&ep->held);
        cf_buf_add(&ep->held, frame->p, frame->len);
        ep->has_held = 1;
        return 0;
    }
    if (split > 0 && split < frame->len && !r->kat && ep_is_live(ep)) {
        /* Two writes: what is queued plus the first part, then the rest. */
        cf_buf_add(&ep->outbox, frame->p, split);
        deliver(r, ep);
        cf_buf_add(&ep->outbox, frame->p + split, frame->len - split);
    } else {
        cf_buf_add(&ep->outbox, frame->p, frame->len);
    }
    if (replay)
        cf_buf_add(&ep->outbox, frame->p, frame->len);
    if (ep->has_held) {
        cf_buf_add(&ep->outbox, ep->held.p, ep->held.len);
        cf_buf_reset(&ep->held);
        ep->has_held = 0;
    }
    return 0;
}

/* Types of the messages in a plaintext, for descriptions. */
static void describe_plain(const uint8_t *p, size_t n, cf_buf *out)
{
    size_t off = 0;
    int first = 1;
    while (off + 3 <= n) {
        size_t len = (size_t)p[off] << 8 | p[off + 1];
        const cf_mdef *m = cf_mdef_by_type(p[off + 2]);
        cf_buf_printf(out, "%s%s", first ? ": " : " ", m != NULL ? m->name : "?");
        first = 0;
        off += 2 + len;
    }
}

/* Seal the peer's pending messages into one frame and queue it. */
static int seal_pending(run *r, endpoint *ep, const cf_mod *mods, size_t nmods)
{
    if (!ep->has_w || ep->w.pending.len == 0)
        return 0;
    cf_buf desc = {0};
    cf_buf_printf(&desc, "TRANSPORT");
    describe_plain(ep->w.pending.p, ep->w.pending.len, &desc);
    cf_buf frame = {0};
    char err[200];
    int rc = cf_wpeer_seal(&ep->w, &frame, err, sizeof err);
    if (rc != 0)
        rc = fail(r, "%s", err);
    else
        rc = emit(r, ep, &frame, mods, nmods, (const char *)desc.p);
    cf_buf_free(&frame);
    cf_buf_free(&desc);
    return rc;
}

/* ---- the automatic login of runner-played clients ------------------------------------- */

static void auto_login(run *r, int actor)
{
    const cf_actor *a = &r->t->actors[actor];
    actor_rt *rt = &r->rt[actor];
    endpoint *ep = rt->ep;
    if (!ep->has_w)
        return;
    while (rt->scanned < ep->w.ev.n && !r->failed) {
        cf_event *e = &ep->w.ev.e[rt->scanned++];
        if (!a->auto_login)
            continue;
        if (e->type == CF_T_SERVER_KEY && ep->w.state == WP_AWAIT_TRUST) {
            e->autod = 1;
            if (!a->trust) {
                ep->closing = 1; /* refused: close without sending anything */
                continue;
            }
            enc_ctx c = {rt, ep, 0, NULL};
            cf_buf payload = {0}, frame = {0};
            const cf_mdef *login = cf_mdef_by_type(CHAT_MSG_LOGIN);
            char err[200];
            if (encode(r, &c, login, NULL, 0, &payload) == 0) {
                if (cf_wpeer_hs3(&ep->w, payload.p, payload.len, &frame, err, sizeof err) != 0)
                    fail(r, "%s", err);
                else {
                    char d[160];
                    cf_fmt(d, sizeof d, "HS3: LOGIN %s", rt->user);
                    emit(r, ep, &frame, NULL, 0, d);
                }
            }
            cf_buf_free(&payload);
            cf_buf_free(&frame);
        } else if (e->type == CHAT_MSG_CHALLENGE && rt->has_pass && ep->w.have_chal) {
            if (ep->w.chal_ops > CHAT_OPSLIMIT_CLIENT_MAX ||
                ep->w.chal_mem > CHAT_MEMLIMIT_KIB_CLIENT_MAX)
                continue; /* a client refuses such a challenge; the transcript decides */
            e->autod = 1;
            enc_ctx c = {rt, ep, 0, NULL};
            cf_buf msg = {0};
            if (encode(r, &c, cf_mdef_by_type(CHAT_MSG_PROOF), NULL, 0, &msg) == 0) {
                cf_wpeer_queue(&ep->w, msg.p, msg.len);
                if (!r->kat)
                    seal_pending(r, ep, NULL, 0);
            }
            cf_buf_free(&msg);
        }
    }
}

/* The runner's server marks PROOFs it receives as valid or not. */
static void judge_proofs(run *r, endpoint *ep)
{
    if (!ep->has_w || ep->w.initiator)
        return;
    for (size_t i = ep->w.ev.head; i < ep->w.ev.n; i++) {
        cf_event *e = &ep->w.ev.e[i];
        if (e->type != CHAT_MSG_PROOF || e->valid >= 0 || e->len != 1 + 64)
            continue;
        const cf_account *a = cf_account_find(r->t, ep->w.login_user);
        chat_account acct;
        e->valid = 0;
        if (a != NULL && cf_account_build(a, &acct) == CHAT_OK)
            e->valid = chat_proof_verify(e->msg + 1, acct.verifier.pk, ep->w.h,
                                         (const uint8_t *)ep->w.login_user,
                                         strlen(ep->w.login_user)) == CHAT_OK;
        sodium_memzero(&acct, sizeof acct);
    }
}

/* ---- events --------------------------------------------------------------------------- */

static int is_iut(const run *r, int actor)
{
    return r->role == CF_ROLE_CLIENT && !r->t->actors[actor].is_server;
}

static cf_evq *queue_of(run *r, int actor)
{
    return is_iut(r, actor) ? &r->rt[actor].iut : &r->rt[actor].ep->w.ev;
}

/* Pull what is available into the actor's queue. */
static void gather(run *r, int actor, uint32_t timeout_ms)
{
    actor_rt *rt = &r->rt[actor];
    if (is_iut(r, actor)) {
        settle(r);
        if (rt->ep->conn == NULL)
            return;
        cf_event ev;
        while (r->ad->ops->event(r->ad->self, rt->ep->conn, &ev, timeout_ms) == 1) {
            cf_evq_push(&rt->iut, &ev);
            timeout_ms = 0;
        }
        return;
    }
    settle(r);
    if (!r->instant && !r->kat && rt->ep->conn != NULL && cf_evq_pending(&rt->ep->w.ev) == 0) {
        pump(r, rt->ep, timeout_ms);
        settle(r);
    }
    judge_proofs(r, rt->ep);
}

/* The next event that an expectation of `type` should look at (events
 * answered automatically are skipped unless asked for). */
static cf_event *next_event(run *r, int actor, int type, uint32_t timeout_ms)
{
    cf_evq *q = queue_of(r, actor);
    /* Adapters that wait: several round trips may be needed (events
     * answered automatically, e.g. SERVER_KEY and CHALLENGE, come before
     * the awaited one), so keep gathering until the deadline. */
    int waits = !r->instant && !r->kat && timeout_ms > 0;
    uint64_t end = waits ? wall_ms() + timeout_ms : 0;
    for (int tries = 0;; tries++) {
        if (!is_iut(r, actor))
            judge_proofs(r, r->rt[actor].ep);
        cf_event *e;
        while ((e = cf_evq_peek(q)) != NULL) {
            if (e->autod && e->type != type) {
                cf_evq_pop(q);
                continue;
            }
            return e;
        }
        if (tries > 0 && !waits)
            break;
        uint32_t left = timeout_ms;
        if (waits) {
            uint64_t now = wall_ms();
            if (tries > 0 && now >= end)
                break;
            left = tries == 0 ? timeout_ms : (uint32_t)(end - now);
        }
        gather(r, actor, left);
        if (r->failed)
            return NULL;
        if (waits && tries > 0 && r->rt[actor].ep->eof && cf_evq_peek(q) == NULL)
            break;
    }
    return NULL;
}

static int cmp_num(uint8_t op, uint64_t got, uint64_t want)
{
    switch (op) {
    case CF_OP_EQ:
        return got == want;
    case CF_OP_NE:
        return got != want;
    case CF_OP_GE:
        return got >= want;
    case CF_OP_LE:
        return got <= want;
    case CF_OP_GT:
        return got > want;
    case CF_OP_LT:
        return got < want;
    default:
        return 0;
    }
}

static int cmp_sorted_names(const void *a, const void *b)
{
    const cf_buf *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* NAMES lists are sets: sort the expected names as the record is sorted. */
static void sort_names(cf_buf *b)
{
    size_t count = 1;
    for (size_t i = 0; i < b->len; i++)
        count += b->p[i] == ',';
    cf_buf *items = cf_xcalloc(count, sizeof *items);
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= b->len; i++)
        if (i == b->len || b->p[i] == ',') {
            cf_buf_add(&items[k++], b->p + start, i - start);
            start = i + 1;
        }
    qsort(items, k, sizeof *items, cmp_sorted_names);
    cf_buf_reset(b);
    for (size_t i = 0; i < k; i++) {
        if (i > 0)
            cf_buf_byte(b, ',');
        cf_buf_add(b, items[i].p, items[i].len);
        cf_buf_free(&items[i]);
    }
    free(items);
}

/* Match args against a record. 1 on a match; 0 and *why on a mismatch;
 * -1 on an error (fail() called). */
static int match(run *r, const cf_rec *rec, const cf_arg *args, size_t nargs, cf_buf *why)
{
    for (size_t i = 0; i < nargs; i++) {
        const cf_arg *a = &args[i];
        const cf_rval *v = cf_rec_get(rec, a->key);
        if (v == NULL) {
            cf_buf_printf(why, "%s: no such field in %s", a->key, rec->m ? rec->m->name : "?");
            return 0;
        }
        if (a->v.kind == CF_V_ANY)
            continue;
        if (a->v.kind == CF_V_VAR) {
            var *x = var_find(r, (const char *)a->v.p);
            if (x == NULL) {
                if (a->op != CF_OP_EQ)
                    return fail(r, "variable $%s is not bound", (const char *)a->v.p);
                x = var_set(r, (const char *)a->v.p);
                x->isnum = v->isnum;
                x->num = v->num;
                if (!v->isnum)
                    cf_buf_add(&x->b, v->p, v->n);
                continue;
            }
            int ok;
            if (v->isnum && x->isnum)
                ok = cmp_num(a->op, v->num, x->num);
            else if (!v->isnum && !x->isnum && (a->op == CF_OP_EQ || a->op == CF_OP_NE))
                ok = (v->n == x->b.len && (v->n == 0 || memcmp(v->p, x->b.p, v->n) == 0)) ==
                     (a->op == CF_OP_EQ);
            else
                return fail(r, "%s: cannot compare with $%s", a->key, (const char *)a->v.p);
            if (!ok) {
                cf_buf_printf(why, "%s: %s $%s", a->key, a->op == CF_OP_NE ? "equals" : "differs from",
                              (const char *)a->v.p);
                return 0;
            }
            continue;
        }
        if (v->isnum) {
            uint64_t want;
            if (value_num(r, &a->v, v->en, &want) != 0)
                return -1;
            if (a->op == CF_OP_HAS)
                return fail(r, "%s: ~ compares strings", a->key);
            uint64_t gotv = v->num;
            if (r->realtime && strcmp(a->key, "time_ms") == 0 && a->op == CF_OP_EQ) {
                /* Real time: a server timestamp is right when it falls
                 * between the transcript's start and now, both mapped to
                 * the transcript's clock. */
                uint64_t k = r->scale > 1 ? r->scale : 1; /* a scaled clock runs k times faster */
                uint64_t lo = r->t->wall0, hi = r->t->wall0 + (wall_ms() - r->real0 + 1000) * k;
                if (gotv + 1000 >= r->real0) {
                    uint64_t mapped = gotv <= r->real0 ? lo : lo + (gotv - r->real0) * k;
                    if (mapped <= hi)
                        gotv = mapped;
                }
                if (want >= lo && want <= hi && gotv >= want)
                    gotv = want; /* at or after the expected moment: on time */
            }
            if (!cmp_num(a->op, gotv, want)) {
                const char *gn = cf_num_name(v->en, v->num);
                if (gn != NULL)
                    cf_buf_printf(why, "%s is %s", a->key, gn);
                else
                    cf_buf_printf(why, "%s is %llu", a->key, (unsigned long long)v->num);
                return 0;
            }
            continue;
        }
        cf_buf want = {0};
        if (value_bytes(r, &a->v, &want) != 0) {
            cf_buf_free(&want);
            return -1;
        }
        if (v->kind == FK_ENTRIES && rec->m->type == CHAT_MSG_NAMES)
            sort_names(&want);
        int ok;
        if (a->op == CF_OP_EQ || a->op == CF_OP_NE) {
            int same = want.len == v->n && (v->n == 0 || memcmp(want.p, v->p, v->n) == 0);
            ok = same == (a->op == CF_OP_EQ);
        } else if (a->op == CF_OP_HAS) {
            ok = 0;
            for (size_t k = 0; k + want.len <= v->n && !ok; k++)
                ok = memcmp(v->p + k, want.p, want.len) == 0;
            ok = ok || want.len == 0;
        } else {
            cf_buf_free(&want);
            return fail(r, "%s: <, > compare numbers", a->key);
        }
        cf_buf_free(&want);
        if (!ok) {
            cf_buf_printf(why, "%s differs", a->key);
            return 0;
        }
    }
    return 1;
}

/* Does event e match (type, args)? 1/0/-1 as match(). */
static int event_matches(run *r, const cf_event *e, const cf_mdef *m, const cf_arg *args,
                         size_t nargs, cf_buf *why)
{
    if (e->type != m->type) {
        cf_buf_printf(why, "another event");
        return 0;
    }
    cf_rec rec;
    if (cf_event_rec(e, &rec) != 0) {
        cf_buf_printf(why, "undecodable");
        return 0;
    }
    int rc = match(r, &rec, args, nargs, why);
    cf_rec_free(&rec);
    return rc;
}

static int expect_fail(run *r, const char *what, const cf_event *got, const char *why)
{
    char st[200];
    step_text(r->t, r->cur->line, st, sizeof st);
    if (got == NULL)
        return fail(r, "%s: expected %s, got nothing", st, what);
    cf_buf g = {0};
    cf_event_render(got, &g);
    fail(r, "%s: expected %s, got %s%s%s%s", st, what, g.p != NULL ? (const char *)g.p : "",
         why != NULL && why[0] ? " (" : "", why != NULL ? why : "", why != NULL && why[0] ? ")" : "");
    cf_buf_free(&g);
    return -1;
}

static int do_expect(run *r, const cf_step *st)
{
    cf_event *e = next_event(r, st->actor, st->m->type, r->o->timeout_ms);
    if (r->failed)
        return -1;
    if (e == NULL)
        return expect_fail(r, st->m->name, NULL, NULL);
    cf_buf why = {0};
    int rc = event_matches(r, e, st->m, st->args, st->nargs, &why);
    if (rc == 1) {
        cf_buf tr = {0};
        if (r->o->trace != NULL) {
            cf_event_render(e, &tr);
            trace(r, "    %s got %s\n", actor_name(r, st->actor), (const char *)tr.p);
        }
        cf_buf_free(&tr);
        cf_evq_pop(queue_of(r, st->actor));
    } else if (rc == 0) {
        expect_fail(r, st->m->name, e, (const char *)why.p);
        rc = -1;
    }
    cf_buf_free(&why);
    return rc == 1 ? 0 : -1;
}

static int do_await(run *r, const cf_step *st)
{
    cf_buf skipped = {0};
    int rc = -1;
    for (int n = 0; n < 100000; n++) {
        cf_event *e = next_event(r, st->actor, st->m->type, r->o->timeout_ms);
        if (r->failed)
            break;
        if (e == NULL) {
            char s[200];
            step_text(r->t, st->line, s, sizeof s);
            fail(r, "%s: expected %s eventually, got nothing%s%s", s, st->m->name,
                 skipped.len ? " after " : "", skipped.len ? (const char *)skipped.p : "");
            break;
        }
        cf_buf why = {0};
        int m = event_matches(r, e, st->m, st->args, st->nargs, &why);
        cf_buf_free(&why);
        if (m < 0)
            break;
        if (m == 1) {
            cf_evq_pop(queue_of(r, st->actor));
            rc = 0;
            break;
        }
        /* A closed connection ends the wait. */
        if (e->type == CF_T_CLOSED) {
            char s[200];
            step_text(r->t, st->line, s, sizeof s);
            cf_buf c = {0};
            cf_event_render(e, &c);
            fail(r, "%s: expected %s eventually, but the connection closed: %s (after %s)", s,
                 st->m->name, (const char *)c.p, skipped.len ? (const char *)skipped.p : "nothing");
            cf_buf_free(&c);
            break;
        }
        if (skipped.len < 300) {
            if (skipped.len)
                cf_buf_add(&skipped, "; ", 2);
            cf_event_render(e, &skipped);
        } else if (skipped.p[skipped.len - 1] != '.') {
            cf_buf_add(&skipped, "; ...", 5);
        }
        cf_evq_pop(queue_of(r, st->actor));
    }
    cf_buf_free(&skipped);
    return rc;
}

static int do_expect_close(run *r, const cf_step *st)
{
    cf_event *e = next_event(r, st->actor, CF_T_CLOSED, r->o->timeout_ms);
    if (r->failed)
        return -1;
    const cf_arg *code = cf_arg_find(st->args, st->nargs, "code");
    const cf_arg *origin = cf_arg_find(st->args, st->nargs, "origin");
    int silent = cf_arg_find(st->args, st->nargs, "silent") != NULL;
    const char *what = silent ? "a close without GOODBYE" : code != NULL ? "GOODBYE and a close"
                                                                         : "a close";
    if (e == NULL || e->type != CF_T_CLOSED)
        return expect_fail(r, what, e, NULL);
    int runner = !is_iut(r, st->actor);
    /* For the runner's own peer: silent = the stream ended without
     * GOODBYE; code=X = GOODBYE(X) was received. */
    if (silent && e->origin != CF_ORIGIN_LOST)
        return expect_fail(r, what, e, NULL);
    if (runner && code != NULL && origin == NULL && e->origin != CF_ORIGIN_PEER)
        return expect_fail(r, what, e, "no GOODBYE");
    cf_buf why = {0};
    const cf_mdef *m = cf_mdef_by_type(CF_T_CLOSED);
    cf_arg args[4];
    size_t na = 0;
    for (size_t i = 0; i < st->nargs; i++)
        if (strcmp(st->args[i].key, "silent") != 0)
            args[na++] = st->args[i];
    int rc = event_matches(r, e, m, args, na, &why);
    if (rc == 0)
        expect_fail(r, what, e, (const char *)why.p);
    cf_buf_free(&why);
    if (rc != 1)
        return -1;
    cf_evq_pop(queue_of(r, st->actor));
    /* After GOODBYE the implementation must actually close. */
    endpoint *ep = r->rt[st->actor].ep;
    if (runner && !r->kat && e->origin == CF_ORIGIN_PEER && ep->conn != NULL) {
        settle(r);
        if (!ep->eof && !r->instant)
            pump(r, ep, r->o->timeout_ms);
        if (!ep->eof && !ep->paused) {
            char s[200];
            step_text(r->t, st->line, s, sizeof s);
            return fail(r, "%s: GOODBYE was received but the connection stays open", s);
        }
    }
    return 0;
}

static int do_expect_nothing(run *r, const cf_step *st)
{
    int actor = st->actor;
    if (!r->instant && !r->kat && st->ms > 0) {
        /* Adapters that wait: give the implementation the time. */
        endpoint *ep = r->rt[actor].ep;
        pump(r, ep, (uint32_t)(st->ms > UINT32_MAX ? UINT32_MAX : st->ms));
    }
    cf_event *e = next_event(r, actor, -1, 0);
    if (r->failed)
        return -1;
    if (e != NULL)
        return expect_fail(r, "nothing", e, NULL);
    return 0;
}

/* ---- a scaled real clock --------------------------------------------------------------- */

/* On a scaled real clock the steps of one instant of the transcript's
 * clock take real time, so a time step reaching instant V waits until,
 * for every earlier instant in which the runner acted, its last action is
 * (V - that instant) / scale in the past: what the implementation counts
 * from what it received (an idle or login timeout, a failure window) is
 * then due. SCALED_LATE_MS more allow for the implementation's own
 * processing. When the next step is expect-nothing, the wait stops
 * SCALED_EARLY_MS short (at most half the step), so that an implementation
 * acting exactly at a deadline the transcript reaches 1 ms later is not
 * caught early by a real clock; the rest is owed to the next step of
 * another kind (TRANSCRIPTS.md §10). */
#define SCALED_LATE_MS 5u
#define SCALED_EARLY_MS 60u
/* Real time the time steps of one transcript may take: the scale is
 * chosen so that they fit. Less makes the clock faster and one second of
 * the transcript shorter than the real time a login takes on a loaded
 * machine (login/rate-limit-user tells 59 s from 60 s). */
#define SCALED_BUDGET_MS 5000u

static void sleep_until(uint64_t t)
{
    uint64_t now = cf_now_ms();
    if (t > now)
        cf_sleep_ms((unsigned)(t - now));
}

static void wait_clock(run *r, uint64_t ms)
{
    uint64_t v = r->mono + ms;
    uint64_t target = r->mono_real0 + (v - r->t->mono0) / r->scale;
    for (size_t i = 0; i < r->nacts; i++) {
        uint64_t t = r->acts[i].real + (v - r->acts[i].mono) / r->scale;
        if (t > target)
            target = t;
    }
    target += SCALED_LATE_MS;
    const cf_step *next =
        r->step_index + 1 < r->t->nsteps ? &r->t->steps[r->step_index + 1] : NULL;
    if (next != NULL && next->verb == CF_VERB_EXPECT_NOTHING) {
        uint64_t span = ms / r->scale;
        r->owed = target;
        target -= span / 2 < SCALED_EARLY_MS ? span / 2 : SCALED_EARLY_MS;
    }
    uint64_t now = cf_now_ms();
    trace(r, "    waiting %llu ms of real time (the clock runs %ux)\n",
          (unsigned long long)(target > now ? target - now : 0), r->scale);
    sleep_until(target);
}

/* The scale for a transcript: 1 when its time steps fit the budget as
 * they are, else as many times faster as they need to fit. */
static uint32_t time_scale(const cf_transcript *t)
{
    uint64_t total = 0;
    for (size_t i = 0; i < t->nsteps; i++)
        if (t->steps[i].verb == CF_VERB_TIME)
            total += t->steps[i].ms;
    uint64_t k = (total + SCALED_BUDGET_MS - 1) / SCALED_BUDGET_MS;
    return k < 1 ? 1 : k > 100000 ? 100000 : (uint32_t)k;
}

/* ---- steps ---------------------------------------------------------------------------- */

static void set_user(actor_rt *rt, const uint8_t *p, size_t n)
{
    if (n >= sizeof rt->user)
        n = sizeof rt->user - 1;
    memcpy(rt->user, p, n);
    rt->user[n] = '\0';
}

static void set_pass(actor_rt *rt, const uint8_t *p, size_t n)
{
    if (rt->pass.p != NULL)
        sodium_memzero(rt->pass.p, rt->pass.cap);
    cf_buf_reset(&rt->pass);
    cf_buf_add(&rt->pass, p, n);
    rt->has_pass = 1;
}

static int login_args(run *r, actor_rt *rt, const cf_step *st)
{
    const cf_arg *u = cf_arg_find(st->args, st->nargs, "user");
    const cf_arg *p = cf_arg_find(st->args, st->nargs, "password");
    if (u != NULL) {
        cf_buf b = {0};
        if (value_bytes(r, &u->v, &b) != 0)
            return -1;
        set_user(rt, b.p, b.len);
        cf_buf_free(&b);
    }
    if (p != NULL) {
        cf_buf b = {0};
        if (value_bytes(r, &p->v, &b) != 0)
            return -1;
        set_pass(rt, b.p, b.len);
        cf_buf_free(&b);
    }
    return 0;
}

static int do_connect(run *r, const cf_step *st)
{
    const cf_actor *a = &r->t->actors[st->actor];
    actor_rt *rt = &r->rt[st->actor];
    endpoint *ep = rt->ep;
    if (ep->conn != NULL && ep->open && !ep->eof)
        return fail(r, "%s is already connected", a->name);
    ep_reset(ep);
    if (login_args(r, rt, st) != 0)
        return -1;
    char err[256];
    cf_open op = {st->actor, rt->user, rt->has_pass ? rt->pass.p : NULL, rt->pass.len};
    acted(r);
    if (r->ad->ops->open(r->ad->self, &op, &ep->conn, err, sizeof err) != 0)
        return fail(r, "connect: %s", err);
    ep->open = 1;
    trace(r, "    %s connects\n", a->name);
    if (r->role == CF_ROLE_CLIENT) {
        /* The client under test starts; the runner's server (if the
         * transcript has one) answers on the other end. */
        if (r->srv >= 0) {
            uint8_t key[32];
            cf_static_key(r->t, r->t->actors[r->srv].name, key);
            cf_wpeer_init(&ep->w, 0, key, cf_rng_of(&ep->rctx));
            sodium_memzero(key, sizeof key);
            ep->has_w = 1;
            r->rt[r->srv].scanned = 0;
        }
        return 0;
    }
    uint8_t key[32];
    cf_static_key(r->t, a->name, key);
    cf_wpeer_init(&ep->w, 1, key, cf_rng_of(&ep->rctx));
    sodium_memzero(key, sizeof key);
    ep->has_w = 1;
    rt->scanned = 0;
    const cf_arg *hs1 = cf_arg_find(st->args, st->nargs, "hs1");
    uint64_t send_hs1 = 1;
    if (hs1 != NULL && (hs1->v.kind != CF_V_WORD ||
                        cf_parse_num((const char *)hs1->v.p, hs1->v.n, FE_BOOL, &send_hs1) != 0))
        return fail(r, "hs1=yes|no");
    if (!send_hs1)
        return 0;
    cf_arg args[2];
    size_t na = 0;
    const cf_arg *vmin = cf_arg_find(st->args, st->nargs, "version_min");
    const cf_arg *vmax = cf_arg_find(st->args, st->nargs, "version_max");
    if (vmin != NULL)
        args[na++] = *vmin;
    if (vmax != NULL)
        args[na++] = *vmax;
    enc_ctx c = {rt, ep, 0, NULL};
    cf_buf payload = {0}, frame = {0};
    int rc = encode(r, &c, cf_mdef_by_type(CF_T_HS1), args, na, &payload);
    if (rc == 0 && cf_wpeer_hs1(&ep->w, payload.p, payload.len, &frame, err, sizeof err) != 0)
        rc = fail(r, "%s", err);
    if (rc == 0)
        rc = emit(r, ep, &frame, NULL, 0, "HS1");
    cf_buf_free(&payload);
    cf_buf_free(&frame);
    return rc;
}

static int iut_command(run *r, const cf_step *st, cf_cmd *cmd)
{
    endpoint *ep = r->rt[st->actor].ep;
    if (ep->conn == NULL)
        return fail(r, "%s is not connected", r->t->actors[st->actor].name);
    char err[256];
    if (r->ad->ops->command(r->ad->self, ep->conn, cmd, err, sizeof err) != 0)
        return fail(r, "%s", err);
    return 0;
}

static int do_login(run *r, const cf_step *st)
{
    actor_rt *rt = &r->rt[st->actor];
    endpoint *ep = rt->ep;
    if (login_args(r, rt, st) != 0)
        return -1;
    if (is_iut(r, st->actor)) {
        cf_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.kind = CF_CMD_LOGIN;
        cmd.user = rt->user;
        cmd.pass = rt->has_pass ? rt->pass.p : NULL;
        cmd.pass_len = rt->pass.len;
        return iut_command(r, st, &cmd);
    }
    if (!ep->has_w || ep->conn == NULL)
        return fail(r, "login: not connected");
    enc_ctx c = {rt, ep, 0, NULL};
    const cf_mdef *login = cf_mdef_by_type(CHAT_MSG_LOGIN);
    cf_buf msg = {0};
    int rc = encode(r, &c, login, NULL, 0, &msg);
    if (rc == 0 && ep->w.state == WP_AWAIT_TRUST) {
        /* Not yet logged in at all (auto=no): the LOGIN goes in HS3. */
        cf_buf frame = {0};
        char err[200];
        if (cf_wpeer_hs3(&ep->w, msg.p, msg.len, &frame, err, sizeof err) != 0)
            rc = fail(r, "%s", err);
        else
            rc = emit(r, ep, &frame, NULL, 0, "HS3: LOGIN");
        cf_buf_free(&frame);
    } else if (rc == 0) {
        cf_wpeer_queue(&ep->w, msg.p, msg.len);
        chat_name_fold(ep->w.login_user, (const uint8_t *)rt->user,
                       strlen(rt->user) <= CHAT_NAME_MAX ? strlen(rt->user) : CHAT_NAME_MAX);
        ep->w.have_chal = 0;
        if (!r->kat)
            rc = seal_pending(r, ep, NULL, 0);
    }
    cf_buf_free(&msg);
    return rc;
}

/* Adapters that wait: before the runner's client sends, let its automatic
 * handshake and login finish as they would have synchronously in process
 * (transport keys; with a password, WELCOME or LOGIN_FAILED), bounded by
 * the timeout. */
static void await_login(run *r, int actor)
{
    endpoint *ep = r->rt[actor].ep;
    const cf_actor *a = &r->t->actors[actor];
    if (r->instant || r->kat || is_iut(r, actor) || !ep->has_w || !ep->w.initiator ||
        ep->conn == NULL || !a->auto_login)
        return;
    uint64_t end = wall_ms() + r->o->timeout_ms;
    for (;;) {
        settle(r);
        if (ep->eof || ep->w.state == WP_DONE || r->failed)
            return;
        if (ep->w.state >= WP_KEYS) {
            if (!r->rt[actor].has_pass)
                return;
            for (size_t i = 0; i < ep->w.ev.n; i++) {
                int ty = ep->w.ev.e[i].type;
                if (ty == CHAT_MSG_WELCOME || ty == CHAT_MSG_LOGIN_FAILED || ty == CF_T_CLOSED)
                    return;
            }
        }
        uint64_t now = wall_ms();
        if (now >= end)
            return;
        pump(r, ep, (uint32_t)(end - now));
    }
}

/* Adapters that wait, before `drain`: let everything in flight arrive
 * (the login, then no bytes on any connection for QUIET_MS), bounded by
 * the timeout. */
#define QUIET_MS 150u
static void quiesce(run *r, int actor)
{
    await_login(r, actor);
    uint64_t end = wall_ms() + r->o->timeout_ms;
    uint64_t quiet_from = wall_ms();
    while (!r->failed) {
        uint64_t now = wall_ms();
        if (now >= end || now - quiet_from >= QUIET_MS)
            return;
        int moved = 0;
        for (size_t i = 0; i < CF_MAX_ACTORS; i++) {
            endpoint *ep = &r->eps[i];
            if (ep->conn != NULL && !ep->eof && !ep->paused)
                moved |= pump(r, ep, 10);
        }
        settle(r);
        if (moved)
            quiet_from = wall_ms();
    }
}

static int do_send(run *r, const cf_step *st, int queue_only)
{
    await_login(r, st->actor);
    const cf_actor *a = &r->t->actors[st->actor];
    actor_rt *rt = &r->rt[st->actor];
    endpoint *ep = rt->ep;
    if (ep->conn == NULL || (!ep->open && !is_iut(r, st->actor)))
        return fail(r, "%s is not connected", a->name);
    const cf_mdef *m = st->m;
    if (is_iut(r, st->actor)) {
        cf_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        const cf_arg *pw = cf_arg_find(st->args, st->nargs, "password");
        cf_buf pass = {0}, user = {0}, msg = {0};
        int rc = 0;
        if (pw != NULL && cf_arg_find(st->args, st->nargs, "pk") == NULL &&
            cf_arg_find(st->args, st->nargs, "salt") == NULL) {
            /* The client derives the verifier itself. */
            uint64_t ops = 1, mem = 8, role = 0;
            const cf_arg *x;
            if ((x = cf_arg_find(st->args, st->nargs, "opslimit")) != NULL)
                rc |= value_num(r, &x->v, FE_NUM, &ops);
            if ((x = cf_arg_find(st->args, st->nargs, "memlimit_kib")) != NULL)
                rc |= value_num(r, &x->v, FE_NUM, &mem);
            if ((x = cf_arg_find(st->args, st->nargs, "role")) != NULL)
                rc |= value_num(r, &x->v, FE_ROLE, &role);
            if ((x = cf_arg_find(st->args, st->nargs, "user")) != NULL)
                rc |= value_bytes(r, &x->v, &user);
            rc |= value_bytes(r, &pw->v, &pass);
            cf_buf_byte(&user, 0);
            cmd.kind = m->type == CHAT_MSG_PASSWD ? CF_CMD_PASSWD : CF_CMD_ADD_USER;
            cmd.pass = pass.p;
            cmd.pass_len = pass.len;
            cmd.opslimit = (uint32_t)ops;
            cmd.memlimit_kib = (uint32_t)mem;
            cmd.role = (uint8_t)role;
            cmd.user = (const char *)user.p;
        } else {
            enc_ctx c = {rt, ep, 0, NULL};
            rc = encode(r, &c, m, st->args, st->nargs, &msg);
            cmd.kind = CF_CMD_REQUEST;
            cmd.msg = msg.p;
            cmd.msg_len = msg.len;
        }
        if (rc == 0)
            rc = iut_command(r, st, &cmd);
        cf_buf_free(&pass);
        cf_buf_free(&user);
        cf_buf_free(&msg);
        return rc;
    }
    if (!ep->has_w)
        return fail(r, "%s: no protocol endpoint", a->name);
    enc_ctx c = {rt, ep, a->is_server, ep->w.login_user};
    cf_buf payload = {0}, frame = {0};
    char err[200];
    int rc = encode(r, &c, m, st->args, st->nargs, &payload);
    if (rc != 0) {
        cf_buf_free(&payload);
        return -1;
    }
    if (m->dir & CF_D_FRAME) {
        if (m->type == CF_T_HS1)
            rc = cf_wpeer_hs1(&ep->w, payload.p, payload.len, &frame, err, sizeof err);
        else if (m->type == CF_T_HS2)
            rc = cf_wpeer_hs2(&ep->w, payload.p, payload.len, &frame, err, sizeof err);
        else if (m->type == CF_T_HS3)
            rc = cf_wpeer_hs3(&ep->w, payload.p, payload.len, &frame, err, sizeof err);
        else { /* REJECT: plaintext */
            uint8_t hdr[3];
            if (payload.len > CHAT_FRAME_BODY_MAX) {
                rc = -1;
                cf_fmt(err, sizeof err, "REJECT too long");
            } else {
                chat_frame_header(hdr, CHAT_FRAME_REJECT, payload.len);
                cf_buf_add(&frame, hdr, 3);
                cf_buf_add(&frame, payload.p, payload.len);
            }
        }
        if (rc != 0)
            rc = fail(r, "%s", err);
        else
            rc = emit(r, ep, &frame, st->mods, st->nmods, m->name);
    } else {
        if (m->type == CHAT_MSG_LOGIN && payload.len >= 4) {
            chat_name_fold(ep->w.login_user, payload.p + 4,
                           payload.p[3] <= CHAT_NAME_MAX ? payload.p[3] : CHAT_NAME_MAX);
            ep->w.have_chal = 0;
        }
        cf_wpeer_queue(&ep->w, payload.p, payload.len);
        if (!queue_only && (!r->kat || st->nmods > 0))
            rc = seal_pending(r, ep, st->mods, st->nmods);
    }
    cf_buf_free(&payload);
    cf_buf_free(&frame);
    return rc;
}

static int do_send_frame(run *r, const cf_step *st)
{
    await_login(r, st->actor);
    endpoint *ep = r->rt[st->actor].ep;
    const cf_arg *ty = cf_arg_find(st->args, st->nargs, "type");
    const cf_arg *body = cf_arg_find(st->args, st->nargs, "body");
    uint64_t type = 0;
    if (ty->v.kind == CF_V_HEX)
        type = ty->v.p[0];
    else if (value_num(r, &ty->v, FE_NUM, &type) != 0)
        return -1;
    cf_buf b = {0}, frame = {0};
    if (body != NULL && value_bytes(r, &body->v, &b) != 0)
        return -1;
    int rc = 0;
    if (b.len > CHAT_FRAME_BODY_MAX) {
        rc = fail(r, "send-frame: a body holds at most 65534 bytes");
    } else {
        uint8_t hdr[3];
        chat_frame_header(hdr, (uint8_t)type, b.len);
        cf_buf_add(&frame, hdr, 3);
        cf_buf_add(&frame, b.p, b.len);
        rc = emit(r, ep, &frame, st->mods, st->nmods, "frame");
    }
    cf_buf_free(&b);
    cf_buf_free(&frame);
    return rc;
}

static int do_send_plain(run *r, const cf_step *st)
{
    await_login(r, st->actor);
    endpoint *ep = r->rt[st->actor].ep;
    if (!ep->has_w)
        return fail(r, "not connected");
    cf_buf pt = {0}, frame = {0};
    char err[200];
    int rc = pieces(r, st->data, st->ndata, &pt);
    if (rc == 0 && cf_wpeer_seal_plain(&ep->w, pt.p, pt.len, &frame, err, sizeof err) != 0)
        rc = fail(r, "%s", err);
    if (rc == 0)
        rc = emit(r, ep, &frame, st->mods, st->nmods, "TRANSPORT: crafted plaintext");
    cf_buf_free(&pt);
    cf_buf_free(&frame);
    return rc;
}

static int do_quit(run *r, const cf_step *st)
{
    actor_rt *rt = &r->rt[st->actor];
    endpoint *ep = rt->ep;
    const cf_arg *text = cf_arg_find(st->args, st->nargs, "text");
    cf_buf t = {0};
    if (text != NULL && value_bytes(r, &text->v, &t) != 0)
        return -1;
    int rc = 0;
    if (is_iut(r, st->actor)) {
        cf_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.kind = CF_CMD_QUIT;
        cmd.text = t.p;
        cmd.text_len = t.len;
        rc = iut_command(r, st, &cmd);
    } else if (ep->conn == NULL || !ep->has_w) {
        rc = fail(r, "quit: not connected");
    } else {
        if (ep->w.state == WP_KEYS) {
            cf_buf msg = {0};
            put_be(&msg, 1 + 2 + 1 + t.len, 2);
            cf_buf_byte(&msg, CHAT_MSG_GOODBYE);
            put_be(&msg, CHAT_CODE_QUIT, 2);
            cf_buf_byte(&msg, (uint8_t)(t.len > 255 ? 255 : t.len));
            cf_buf_add(&msg, t.p, t.len > 255 ? 255 : t.len);
            cf_wpeer_queue(&ep->w, msg.p, msg.len);
            cf_buf_free(&msg);
            if (!r->kat)
                rc = seal_pending(r, ep, NULL, 0);
        }
        ep->closing = 1;
        if (!r->kat)
            deliver(r, ep);
    }
    cf_buf_free(&t);
    return rc;
}

/* ---- wire steps (known answers) --------------------------------------------------------- */

static void hex_excerpt(const uint8_t *p, size_t n, size_t at, char *out, size_t cap)
{
    size_t from = at > 8 ? at - 8 : 0, to = at + 24 < n ? at + 24 : n;
    cf_buf b = {0};
    if (from > 0)
        cf_buf_add(&b, "...", 3);
    for (size_t i = from; i < to; i++)
        cf_buf_printf(&b, i == at ? "[%02x]" : "%02x", p[i]);
    if (to < n)
        cf_buf_add(&b, "...", 3);
    cf_fmt(out, cap, "%s", b.p != NULL ? (const char *)b.p : "(none)");
    cf_buf_free(&b);
}

static int compare_bytes(run *r, const char *who, const uint8_t *want, size_t wn,
                         const uint8_t *got, size_t gn)
{
    size_t i = 0;
    while (i < wn && i < gn && want[i] == got[i])
        i++;
    if (i == wn && gn >= wn)
        return 0;
    char a[200], b[200];
    hex_excerpt(want, wn, i, a, sizeof a);
    hex_excerpt(got, gn, i, b, sizeof b);
    if (gn < wn && i == gn)
        return fail(r, "%s: expected %zu bytes, got only %zu: expected %s, got %s", who, wn, gn, a,
                    b);
    return fail(r, "%s: bytes differ at offset %zu of %zu: expected %s, got %s", who, i, wn, a, b);
}

/* Read exactly n bytes from the implementation into ep->rx. */
static int read_exact(run *r, endpoint *ep, size_t n)
{
    for (int spins = 0; ep->rx.len < n && spins < 1000; spins++) {
        if (ep->conn == NULL)
            return -1;
        int got = r->ad->ops->recv(r->ad->self, ep->conn, &ep->rx, n - ep->rx.len,
                                   r->instant ? 0 : r->o->timeout_ms);
        if (got == CF_EOF) {
            ep->eof = 1;
            return -1;
        }
        if (got <= 0 && r->instant)
            break;
        if (got <= 0)
            return -1;
    }
    return ep->rx.len >= n ? 0 : -1;
}

static int do_wire(run *r, const cf_step *st)
{
    actor_rt *rt = &r->rt[st->actor];
    endpoint *ep = rt->ep;
    cf_buf want = {0};
    if (pieces(r, st->data, st->ndata, &want) != 0)
        return -1;
    int rc = 0;
    int impl_writes = (st->dir == CF_DIR_S2C) == (r->role == CF_ROLE_SERVER);
    const char *who = st->dir == CF_DIR_C2S ? "c>s" : "s>c";
    if (ep->conn == NULL) {
        rc = fail(r, "wire: %s is not connected", actor_name(r, st->actor));
    } else if (impl_writes) {
        /* The implementation's output: read and compare. */
        char w[64];
        cf_fmt(w, sizeof w, "%s (written by the %s under test)", who,
               r->role == CF_ROLE_SERVER ? "server" : "client");
        if (st->eof) {
            if (ep->rx.len == 0 && !ep->eof) {
                int got = r->ad->ops->recv(r->ad->self, ep->conn, &ep->rx, 1,
                                           r->instant ? 0 : r->o->timeout_ms);
                if (got == CF_EOF)
                    ep->eof = 1;
            }
            if (!ep->eof || ep->rx.len > 0)
                rc = fail(r, "%s: expected the connection to close, %s", w,
                          ep->rx.len ? "got more bytes" : "it stays open");
            else if (ep->has_w)
                cf_wpeer_eof(&ep->w);
        } else {
            (void)read_exact(r, ep, want.len);
            rc = compare_bytes(r, w, want.p, want.len, ep->rx.p, ep->rx.len < want.len ? ep->rx.len : want.len);
            if (rc == 0) {
                if (ep->has_w)
                    cf_wpeer_feed(&ep->w, want.p, want.len);
                cf_buf_consume(&ep->rx, want.len);
                if (ep->has_w && r->role == CF_ROLE_SERVER)
                    auto_login(r, st->actor);
            }
        }
    } else {
        /* The runner's side: check (server role: what the runner's
         * client produced) and deliver. */
        if (r->role == CF_ROLE_SERVER) {
            if (seal_pending(r, ep, NULL, 0) != 0) {
                cf_buf_free(&want);
                return -1;
            }
            if (st->eof) {
                if (ep->outbox.len > 0)
                    rc = fail(r, "%s eof: %zu bytes from the client are not shown", who, ep->outbox.len);
                else
                    close_ep(r, ep);
            } else {
                char w[64];
                cf_fmt(w, sizeof w, "%s (the runner's client, from the transcript's keys)", who);
                rc = compare_bytes(r, w, want.p, want.len, ep->outbox.p,
                                   ep->outbox.len < want.len ? ep->outbox.len : want.len);
                if (rc == 0) {
                    (void)r->ad->ops->send(r->ad->self, ep->conn, want.p, want.len);
                    cf_buf_consume(&ep->outbox, want.len);
                    if (ep->closing && ep->outbox.len == 0)
                        close_ep(r, ep);
                }
            }
        } else {
            if (st->eof)
                close_ep(r, ep);
            else
                (void)r->ad->ops->send(r->ad->self, ep->conn, want.p, want.len);
        }
    }
    cf_buf_free(&want);
    return rc;
}

/* ---- the step loop -------------------------------------------------------------------- */

static int run_step(run *r, const cf_step *st);

static int do_any(run *r, const cf_step *st)
{
    cf_buf whys = {0};
    for (size_t i = 0; i < st->nalts; i++) {
        const cf_step *alt = &st->alts[i];
        cf_evq *q = queue_of(r, alt->actor);
        gather(r, alt->actor, r->o->timeout_ms);
        size_t head = q->head;
        const cf_step *saved = r->cur;
        r->cur = alt;
        int rc = run_step(r, alt);
        r->cur = saved;
        if (rc == 0 && !r->failed) {
            cf_buf_free(&whys);
            return 0;
        }
        /* Undo: forget the failure, put the events back. */
        cf_buf_printf(&whys, "%s(%zu) %s", i ? "; " : "", i + 1, r->why);
        r->failed = 0;
        r->why[0] = '\0';
        q = queue_of(r, alt->actor);
        q->head = head;
    }
    fail(r, "none of the alternatives matched: %s", whys.p != NULL ? (const char *)whys.p : "");
    cf_buf_free(&whys);
    return -1;
}

static int run_step(run *r, const cf_step *st)
{
    endpoint *ep = st->actor >= 0 ? r->rt[st->actor].ep : NULL;
    switch (st->verb) {
    case CF_VERB_CONNECT:
        return do_connect(r, st);
    case CF_VERB_LOGIN:
        return do_login(r, st);
    case CF_VERB_SEND:
        return do_send(r, st, 0);
    case CF_VERB_QUEUE:
        return do_send(r, st, 1);
    case CF_VERB_FLUSH:
        if (!ep->has_w)
            return fail(r, "not connected");
        return seal_pending(r, ep, st->mods, st->nmods);
    case CF_VERB_SEND_FRAME:
        return do_send_frame(r, st);
    case CF_VERB_SEND_PLAIN:
        return do_send_plain(r, st);
    case CF_VERB_RAW: {
        if (ep->conn == NULL)
            return fail(r, "not connected");
        cf_buf b = {0};
        int rc = pieces(r, st->data, st->ndata, &b);
        if (rc == 0) {
            remember_sealed(ep, b.p, b.len, "raw bytes");
            cf_buf_add(&ep->outbox, b.p, b.len);
        }
        cf_buf_free(&b);
        return rc;
    }
    case CF_VERB_EXPECT:
        return do_expect(r, st);
    case CF_VERB_AWAIT:
        return do_await(r, st);
    case CF_VERB_EXPECT_CLOSE:
        return do_expect_close(r, st);
    case CF_VERB_EXPECT_NOTHING:
        return do_expect_nothing(r, st);
    case CF_VERB_DRAIN: {
        if (r->realtime && !r->instant && !r->kat)
            quiesce(r, st->actor);
        gather(r, st->actor, 0);
        cf_evq *q = queue_of(r, st->actor);
        while (cf_evq_peek(q) != NULL)
            cf_evq_pop(q);
        return 0;
    }
    case CF_VERB_CLOSE:
        if (ep->conn == NULL)
            return fail(r, "not connected");
        ep->closing = 1;
        if (!r->kat)
            deliver(r, ep);
        else if (ep->outbox.len == 0 && (!ep->has_w || ep->w.pending.len == 0))
            close_ep(r, ep);
        return 0;
    case CF_VERB_QUIT:
        return do_quit(r, st);
    case CF_VERB_PAUSE:
        ep->paused = 1;
        return 0;
    case CF_VERB_RESUME:
        ep->paused = 0;
        return 0;
    case CF_VERB_WIRE:
        return do_wire(r, st);
    case CF_VERB_TIME:
        if (r->scale != 0)
            wait_clock(r, st->ms);
        else if (r->ad->ops->advance(r->ad->self, st->ms) != 0)
            return fail(r, "the adapter cannot move time");
        r->mono += st->ms;
        r->wall += st->ms;
        trace(r, "    time +%llums\n", (unsigned long long)st->ms);
        return 0;
    case CF_VERB_ANY:
        return do_any(r, st);
    case CF_VERB_FAULT:
        if (r->ad->ops->fault(r->ad->self, st->args[0].key, st->ms != 0) != 0)
            return fail(r, "the adapter cannot inject this fault");
        trace(r, "    the store %s\n", st->ms ? "fails from now on" : "works again");
        return 0;
    default:
        return fail(r, "unknown step");
    }
}

/* ---- capabilities and the run ------------------------------------------------------- */

unsigned cf_needs(const cf_transcript *t, unsigned role, char *why, size_t cap)
{
    if (why != NULL && cap > 0)
        why[0] = '\0';
    if (!(t->roles & role)) {
        cf_fmt(why, cap, "tests a %s", t->roles & CF_ROLE_SERVER ? "server" : "client");
        return 0;
    }
    unsigned need = role == CF_ROLE_SERVER ? CF_CAP_SERVER : CF_CAP_CLIENT;
    if (t->kind == CF_KIND_KAT)
        need |= CF_CAP_KAT;
    if (t->nserver_cfg > 0 && role == CF_ROLE_SERVER)
        need |= CF_CAP_CONFIG;
    if (t->naccounts > 0 && role == CF_ROLE_SERVER)
        need |= CF_CAP_ACCOUNTS;
    size_t clients = 0;
    for (size_t i = 0; i < t->nactors; i++) {
        if (t->actors[i].addr != 0)
            need |= CF_CAP_ADDR;
        clients += !t->actors[i].is_server;
    }
    if (role == CF_ROLE_CLIENT && clients != 1) {
        cf_fmt(why, cap, "has %zu client actors; a client under test has one connection", clients);
        return 0;
    }
    for (size_t i = 0; i < t->nsteps; i++) {
        if (t->steps[i].verb == CF_VERB_TIME)
            need |= CF_CAP_CLOCK;
        if (t->steps[i].verb == CF_VERB_FAULT)
            need |= CF_CAP_FAULTS;
    }
    for (size_t i = 0; i < t->nrequires; i++) {
        unsigned c = cf_cap_by_name(t->requires[i]);
        if (c == 0) {
            cf_fmt(why, cap, "requires unknown capability '%s'", t->requires[i]);
            return 0;
        }
        need |= c;
    }
    return need;
}

void cf_run(const cf_transcript *t, cf_adapter *ad, const cf_run_opts *o, cf_result *res)
{
    memset(res, 0, sizeof *res);
    char why[256];
    unsigned need = cf_needs(t, o->role, why, sizeof why);
    unsigned have = ad->ops->caps(ad->self);
    if (need == 0) {
        res->status = CF_SKIP;
        cf_fmt(res->msg, sizeof res->msg, "%s", why);
        return;
    }
    uint32_t scale = 0;
    if ((need & CF_CAP_CLOCK) && !(have & CF_CAP_CLOCK) && (have & CF_CAP_SCALED)) {
        /* Time steps on a real clock, faster. */
        need &= ~CF_CAP_CLOCK;
        scale = time_scale(t);
    }
    if ((need & have) != need) {
        cf_buf b = {0};
        for (unsigned bit = 1; bit != 0 && bit <= CF_CAP_LAST; bit <<= 1)
            if ((need & bit) && !(have & bit))
                cf_buf_printf(&b, "%s%s", b.len ? "," : "", cf_cap_name(bit));
        res->status = CF_SKIP;
        cf_fmt(res->msg, sizeof res->msg, "needs %s; adapter %s lacks it", (const char *)b.p,
               ad->ops->name);
        cf_buf_free(&b);
        return;
    }

    run *r = cf_xcalloc(1, sizeof *r);
    r->t = t;
    r->ad = ad;
    r->o = o;
    r->role = o->role;
    r->kat = t->kind == CF_KIND_KAT && o->record == NULL;
    r->instant = (have & CF_CAP_INSTANT) != 0;
    r->realtime = (have & CF_CAP_CLOCK) == 0;
    r->real0 = wall_ms();
    r->scale = scale;
    r->rec = o->record;
    r->srv = r->cli = -1;
    r->mono = t->mono0;
    r->wall = t->wall0;
    int mode = o->record != NULL ? CF_RNG_RECORD : r->kat ? CF_RNG_SCRIPTED : CF_RNG_SEEDED;
    cf_rngsrc_init(&r->rng, t, mode);
    for (size_t i = 0; i < t->nactors; i++) {
        const cf_actor *a = &t->actors[i];
        actor_rt *rt = &r->rt[i];
        if (a->is_server)
            r->srv = (int)i;
        else
            r->cli = (int)i;
        set_user(rt, (const uint8_t *)(a->user != NULL ? a->user : a->name),
                 strlen(a->user != NULL ? a->user : a->name));
        if (a->pass != NULL)
            set_pass(rt, a->pass, a->pass_len);
    }
    for (size_t i = 0; i < t->nactors; i++) {
        /* In the client role one connection is shared by the client under
         * test and the runner's server. */
        size_t e = r->role == CF_ROLE_CLIENT && r->cli >= 0 ? (size_t)r->cli : i;
        r->rt[i].ep = &r->eps[e];
        const cf_actor *owner = &t->actors[r->role == CF_ROLE_CLIENT && r->srv >= 0 ? (size_t)r->srv : e];
        cf_rngctx_init(&r->eps[e].rctx, &r->rng, owner->name);
    }

    cf_setup s;
    memset(&s, 0, sizeof s);
    s.t = t;
    s.role = o->role;
    s.rng = &r->rng;
    s.mono0 = t->mono0;
    s.wall0 = t->wall0;
    s.time_scale = scale != 0 ? scale : 1;
    char err[512];
    int skipped = 0;
    int brc = ad->ops->begin(ad->self, &s, err, sizeof err);
    if (brc == CF_BEGIN_SKIP) {
        /* The adapter cannot set this transcript up (e.g. a setting the
         * server under test does not have): skipped, not failed. */
        skipped = 1;
        r->failed = 1;
        cf_fmt(r->why, sizeof r->why, "%s", err);
    } else if (brc != 0) {
        fail(r, "setup: %s", err);
    }
    /* The transcript's clock starts once the implementation is set up. */
    r->real0 = wall_ms();
    r->mono_real0 = cf_now_ms();
    for (size_t i = 0; i < t->nsteps && !r->failed; i++) {
        const cf_step *st = &t->steps[i];
        r->cur = st;
        r->step_index = i;
        if (o->trace != NULL) {
            char line[200];
            step_text(t, st->line, line, sizeof line);
            trace(r, "%s:%d: %s\n", t->file, st->line, line);
        }
        if (o->record != NULL && st->verb == CF_VERB_WIRE)
            continue; /* regenerated */
        if (r->owed != 0 && st->verb != CF_VERB_EXPECT_NOTHING) {
            sleep_until(r->owed); /* what the last time step stopped short of */
            r->owed = 0;
        }
        if (run_step(r, st) == 0)
            settle(r);
        if (!r->failed && r->rng.failed)
            fail(r, "%s", r->rng.err);
    }
    /* A known-answer transcript shows every byte. */
    if (!r->failed && r->kat) {
        r->cur = t->nsteps > 0 ? &t->steps[t->nsteps - 1] : NULL;
        for (size_t i = 0; i < CF_MAX_ACTORS && !r->failed; i++) {
            endpoint *ep = &r->eps[i];
            if (ep->conn == NULL)
                continue;
            if (r->role == CF_ROLE_SERVER)
                seal_pending(r, ep, NULL, 0);
            if (ep->outbox.len > 0 || (ep->has_w && ep->w.pending.len > 0)) {
                fail(r, "end of transcript: %zu bytes from %s's side were never shown", ep->outbox.len,
                     actor_name(r, (int)i));
                break;
            }
            if (!ep->eof && ep->rx.len == 0) {
                int got = ad->ops->recv(ad->self, ep->conn, &ep->rx, CHAT_FRAME_MAX + 2, 0);
                if (got == CF_EOF)
                    ep->eof = 1;
            }
            if (ep->rx.len > 0)
                fail(r, "end of transcript: the %s under test wrote %zu more bytes",
                     r->role == CF_ROLE_SERVER ? "server" : "client", ep->rx.len);
        }
    }
    if (o->record != NULL && !r->failed) {
        o->record->draws = r->rng.log;
        o->record->ndraws = r->rng.nlog;
        r->rng.log = NULL;
        r->rng.nlog = 0;
    }
    if (brc == 0 && ad->ops->finish != NULL) {
        /* A process under test that crashed, leaked or gave up at the end. */
        int frc = ad->ops->finish(ad->self, err, sizeof err);
        if (frc == CF_BEGIN_SKIP) {
            skipped = 1;
            r->failed = 1;
            cf_fmt(r->why, sizeof r->why, "%s", err);
        } else if (frc != 0 && !r->failed) {
            fail(r, "%s", err);
        }
    }
    ad->ops->end(ad->self);
    res->status = skipped ? CF_SKIP : r->failed ? CF_FAIL : CF_PASS;
    if (r->failed)
        cf_fmt(res->msg, sizeof res->msg, "%s", r->why);
    for (size_t i = 0; i < CF_MAX_ACTORS; i++) {
        ep_reset(&r->eps[i]);
        cf_evq_free(&r->rt[i].iut);
        if (r->rt[i].pass.p != NULL)
            sodium_memzero(r->rt[i].pass.p, r->rt[i].pass.cap);
        cf_buf_free(&r->rt[i].pass);
    }
    for (size_t i = 0; i < r->nvars; i++) {
        free(r->vars[i].name);
        cf_buf_free(&r->vars[i].b);
    }
    free(r->vars);
    cf_rngsrc_free(&r->rng);
    free(r);
}
