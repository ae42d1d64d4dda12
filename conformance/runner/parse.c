/* The transcript parser (docs/TRANSCRIPTS.md §2-§6). Total by
 * construction: every index is checked, every size is bounded, and the
 * first problem ends the parse with "file:line: message". */
#include "transcript.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"

typedef struct parser {
    cf_transcript *t;
    const char *file;
    int line;     /* current logical line's first physical line */
    int line_end; /* and last */
    char *err;
    size_t errcap;
    int failed;
    int in_steps; /* a step was seen: no more headers */
    size_t cap_steps, cap_accounts, cap_randoms, cap_covers, cap_requires;
    cf_buf desc;
    size_t value_bytes; /* of every value so far, after repetition */
} parser;

static int fail(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(parser *ps, const char *fmt, ...)
{
    if (ps->failed)
        return -1;
    ps->failed = 1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cf_fmt(ps->err, ps->errcap, "%s:%d: %s", ps->file, ps->line, msg);
    return -1;
}

/* Grow an arena array to hold one more element. */
static void *grow(cf_arena *a, void *arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *na = cf_arena_alloc(a, ncap * size);
    if (n > 0)
        memcpy(na, arr, n * size);
    *cap = ncap;
    return na;
}

/* ---- tokens --------------------------------------------------------------- */

enum { TK_WORD = 1, TK_PIPE, TK_LBRACE, TK_RBRACE };

typedef struct tok {
    uint8_t kind;
    const char *s;
    size_t n;
} tok;

#define MAX_TOKS 4096

/* Split a logical line into tokens. Whitespace separates tokens except
 * inside "quotes"; a token that begins with '#' starts a comment; the
 * words |, { and } are tokens of their own. */
static int tokenize(parser *ps, const char *s, size_t n, tok *out, size_t *nout)
{
    size_t i = 0, k = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= n || s[i] == '#')
            break;
        size_t start = i;
        int inq = 0;
        while (i < n) {
            char c = s[i];
            if (inq) {
                if (c == '\\' && i + 1 < n)
                    i++;
                else if (c == '"')
                    inq = 0;
            } else if (c == ' ' || c == '\t') {
                break;
            } else if (c == '"') {
                inq = 1;
            }
            i++;
        }
        if (inq)
            return fail(ps, "unterminated string");
        if (k == MAX_TOKS)
            return fail(ps, "too many words on one line");
        tok *t = &out[k++];
        t->s = s + start;
        t->n = i - start;
        t->kind = TK_WORD;
        if (t->n == 1 && t->s[0] == '|')
            t->kind = TK_PIPE;
        else if (t->n == 1 && t->s[0] == '{')
            t->kind = TK_LBRACE;
        else if (t->n == 1 && t->s[0] == '}')
            t->kind = TK_RBRACE;
    }
    *nout = k;
    return 0;
}

static int tok_is(const tok *t, const char *lit)
{
    return t->kind == TK_WORD && strlen(lit) == t->n && memcmp(t->s, lit, t->n) == 0;
}

static int is_ident(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (i > 0 && ((c >= '0' && c <= '9') || c == '-' || c == '.'));
        if (!ok)
            return 0;
    }
    return 1;
}

static int all_hex(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (cf_hexval((unsigned char)s[i]) < 0)
            return 0;
    return 1;
}

/* ---- values ------------------------------------------------------------------ */

static void put_utf8(cf_buf *b, uint32_t cp)
{
    if (cp < 0x80) {
        cf_buf_byte(b, (uint8_t)cp);
    } else if (cp < 0x800) {
        cf_buf_byte(b, (uint8_t)(0xc0 | cp >> 6));
        cf_buf_byte(b, (uint8_t)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        cf_buf_byte(b, (uint8_t)(0xe0 | cp >> 12));
        cf_buf_byte(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3f)));
        cf_buf_byte(b, (uint8_t)(0x80 | (cp & 0x3f)));
    } else {
        cf_buf_byte(b, (uint8_t)(0xf0 | cp >> 18));
        cf_buf_byte(b, (uint8_t)(0x80 | ((cp >> 12) & 0x3f)));
        cf_buf_byte(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3f)));
        cf_buf_byte(b, (uint8_t)(0x80 | (cp & 0x3f)));
    }
}

/* A quoted string starting at s[0] == '"'; *used is set past the closing
 * quote. */
static int parse_quoted(parser *ps, const char *s, size_t n, cf_buf *out, size_t *used)
{
    size_t i = 1;
    while (i < n && s[i] != '"') {
        unsigned char c = (unsigned char)s[i];
        if (c != '\\') {
            cf_buf_byte(out, c);
            i++;
            continue;
        }
        if (i + 1 >= n)
            return fail(ps, "bad escape at the end of a string");
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case '\\':
        case '"':
            cf_buf_byte(out, (uint8_t)e);
            break;
        case 'n':
            cf_buf_byte(out, '\n');
            break;
        case 't':
            cf_buf_byte(out, '\t');
            break;
        case 'r':
            cf_buf_byte(out, '\r');
            break;
        case '0':
            cf_buf_byte(out, 0);
            break;
        case 'e':
            cf_buf_byte(out, 0x1b);
            break;
        case 'x': {
            if (i + 2 > n || cf_hexval((unsigned char)s[i]) < 0 ||
                cf_hexval((unsigned char)s[i + 1]) < 0)
                return fail(ps, "\\x needs two hex digits");
            cf_buf_byte(out, (uint8_t)(cf_hexval((unsigned char)s[i]) << 4 |
                                       cf_hexval((unsigned char)s[i + 1])));
            i += 2;
            break;
        }
        case 'u': {
            if (i >= n || s[i] != '{')
                return fail(ps, "\\u needs {hex}");
            i++;
            uint32_t cp = 0;
            size_t digits = 0;
            while (i < n && s[i] != '}') {
                int d = cf_hexval((unsigned char)s[i]);
                if (d < 0 || digits == 6)
                    return fail(ps, "bad \\u{...} escape");
                cp = cp << 4 | (uint32_t)d;
                digits++;
                i++;
            }
            if (i >= n || digits == 0 || cp > 0x10ffff)
                return fail(ps, "bad \\u{...} escape");
            i++;
            put_utf8(out, cp);
            break;
        }
        default:
            return fail(ps, "unknown escape \\%c", e);
        }
        if (out->len > CF_MAX_VALUE)
            return fail(ps, "value too long");
    }
    if (i >= n)
        return fail(ps, "unterminated string");
    *used = i + 1;
    return 0;
}

/* "*N" repetition suffix of s[0..n), applied to out. */
static int parse_repeat(parser *ps, const char *s, size_t n, cf_buf *out)
{
    if (n == 0)
        return 0;
    if (s[0] != '*' || n < 2)
        return fail(ps, "unexpected '%.*s' after a value", (int)(n > 40 ? 40 : n), s);
    uint64_t count = 0;
    for (size_t i = 1; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || count > CF_MAX_VALUE)
            return fail(ps, "bad repetition count");
        count = count * 10 + (uint64_t)(s[i] - '0');
    }
    if (out->len == 0 && count > 0)
        return 0;
    if (count == 0) {
        out->len = 0;
        return 0;
    }
    if (out->len > CF_MAX_VALUE / count)
        return fail(ps, "value too long after repetition");
    size_t unit = out->len;
    uint8_t *copy = cf_xmalloc(unit);
    memcpy(copy, out->p, unit);
    for (uint64_t k = 1; k < count; k++)
        cf_buf_add(out, copy, unit);
    free(copy);
    return 0;
}

static int parse_hex_into(parser *ps, const char *s, size_t n, cf_buf *out)
{
    if (n % 2 != 0)
        return fail(ps, "odd number of hex digits");
    for (size_t i = 0; i < n; i += 2) {
        int a = cf_hexval((unsigned char)s[i]), b = cf_hexval((unsigned char)s[i + 1]);
        if (a < 0 || b < 0)
            return fail(ps, "bad hex digit");
        cf_buf_byte(out, (uint8_t)(a << 4 | b));
    }
    if (out->len > CF_MAX_VALUE)
        return fail(ps, "value too long");
    return 0;
}

/* A value token (the part after the operator). */
static int parse_value(parser *ps, const char *s, size_t n, cf_value *v)
{
    cf_buf b = {0};
    int rc = 0;
    memset(v, 0, sizeof *v);
    if (n == 1 && s[0] == '*') {
        v->kind = CF_V_ANY;
    } else if (n > 0 && s[0] == '$') {
        if (!is_ident(s + 1, n - 1))
            return fail(ps, "bad variable name '%.*s'", (int)(n > 40 ? 40 : n), s);
        v->kind = CF_V_VAR;
        cf_buf_add(&b, s + 1, n - 1);
    } else if (n > 0 && s[0] == '"') {
        size_t used = 0;
        v->kind = CF_V_STR;
        rc = parse_quoted(ps, s, n, &b, &used);
        if (rc == 0)
            rc = parse_repeat(ps, s + used, n - used, &b);
    } else if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        v->kind = CF_V_HEX;
        size_t end = 2;
        while (end < n && cf_hexval((unsigned char)s[end]) >= 0)
            end++;
        rc = parse_hex_into(ps, s + 2, end - 2, &b);
        if (rc == 0)
            rc = parse_repeat(ps, s + end, n - end, &b);
    } else if (n > 0) {
        v->kind = CF_V_WORD;
        for (size_t i = 0; i < n; i++)
            if (s[i] == '"')
                return fail(ps, "stray quote in '%.*s'", (int)(n > 40 ? 40 : n), s);
        cf_buf_add(&b, s, n);
    } else {
        return fail(ps, "missing value");
    }
    /* Repetition turns a few bytes of source into CF_MAX_VALUE: without a
     * budget for the whole transcript, 16 KiB of "x"*131072 words held
     * 0.5 GiB, and a 4 MiB file could hold far more. */
    ps->value_bytes += b.len;
    if (rc == 0 && ps->value_bytes > CF_MAX_VALUES)
        rc = fail(ps, "values too long in total (after repetition)");
    if (rc == 0) {
        v->p = cf_arena_memdup(&ps->t->arena, b.p != NULL ? b.p : (const uint8_t *)"", b.len);
        v->n = b.len;
    }
    cf_buf_free(&b);
    return rc;
}

/* key OP value, or a bare flag. */
static int parse_arg(parser *ps, const tok *tk, cf_arg *a)
{
    const char *s = tk->s;
    size_t n = tk->n, k = 0;
    while (k < n && s[k] != '=' && s[k] != '!' && s[k] != '>' && s[k] != '<' && s[k] != '~')
        k++;
    if (!is_ident(s, k))
        return fail(ps, "expected key=value, got '%.*s'", (int)(n > 40 ? 40 : n), s);
    a->key = cf_arena_strndup(&ps->t->arena, s, k);
    if (k == n) {
        a->op = CF_OP_EQ;
        a->v.kind = CF_V_NONE;
        return 0;
    }
    size_t o = k;
    if (s[o] == '=') {
        a->op = CF_OP_EQ;
        o += 1;
    } else if (s[o] == '~') {
        a->op = CF_OP_HAS;
        o += 1;
    } else if (o + 1 < n && s[o + 1] == '=') {
        a->op = s[o] == '!' ? CF_OP_NE : s[o] == '>' ? CF_OP_GE : s[o] == '<' ? CF_OP_LE : 0;
        o += 2;
    } else if (s[o] == '>' || s[o] == '<') {
        a->op = s[o] == '>' ? CF_OP_GT : CF_OP_LT;
        o += 1;
    }
    if (a->op == 0)
        return fail(ps, "bad operator in '%.*s'", (int)(n > 40 ? 40 : n), s);
    return parse_value(ps, s + o, n - o, &a->v);
}

/* Arguments from toks[0..n): key=value words; a word of bare hex digits
 * right after a hex value continues it (long hex may be grouped). */
static int parse_args(parser *ps, const tok *toks, size_t n, cf_arg **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (n == 0)
        return 0;
    cf_arg *args = cf_arena_alloc(&ps->t->arena, n * sizeof *args);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (toks[i].kind != TK_WORD)
            return fail(ps, "unexpected '%.*s'", (int)toks[i].n, toks[i].s);
        if (k > 0 && args[k - 1].v.kind == CF_V_HEX && all_hex(toks[i].s, toks[i].n)) {
            cf_buf b = {0};
            cf_buf_add(&b, args[k - 1].v.p, args[k - 1].v.n);
            int rc = parse_hex_into(ps, toks[i].s, toks[i].n, &b);
            if (rc == 0) {
                args[k - 1].v.p = cf_arena_memdup(&ps->t->arena, b.p, b.len);
                args[k - 1].v.n = b.len;
            }
            cf_buf_free(&b);
            if (rc != 0)
                return rc;
            continue;
        }
        if (parse_arg(ps, &toks[i], &args[k]) != 0)
            return -1;
        k++;
    }
    *out = args;
    *nout = k;
    return 0;
}

const cf_arg *cf_arg_find(const cf_arg *args, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(args[i].key, key) == 0)
            return &args[i];
    return NULL;
}

/* A byte-string expression: hex groups (with or without 0x), "strings"
 * and $variables, concatenated. */
static int parse_data(parser *ps, const tok *toks, size_t n, int allow_vars, cf_piece **out,
                      size_t *nout)
{
    cf_piece *pc = n > 0 ? cf_arena_alloc(&ps->t->arena, n * sizeof *pc) : NULL;
    size_t k = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        const tok *t = &toks[i];
        if (t->kind != TK_WORD)
            return fail(ps, "unexpected '%.*s'", (int)t->n, t->s);
        cf_value v;
        if (t->s[0] == '$' || t->s[0] == '"' ||
            (t->n >= 2 && t->s[0] == '0' && (t->s[1] == 'x' || t->s[1] == 'X'))) {
            if (parse_value(ps, t->s, t->n, &v) != 0)
                return -1;
        } else {
            cf_buf b = {0};
            int rc = parse_hex_into(ps, t->s, t->n, &b);
            v.kind = CF_V_HEX;
            v.p = rc == 0 ? cf_arena_memdup(&ps->t->arena, b.p, b.len) : NULL;
            v.n = b.len;
            cf_buf_free(&b);
            if (rc != 0)
                return -1;
        }
        if (v.kind == CF_V_VAR && !allow_vars)
            return fail(ps, "variables are not allowed here");
        pc[k].is_var = v.kind == CF_V_VAR;
        pc[k].p = v.p;
        pc[k].n = v.n;
        total += v.n;
        if (total > 4 * (size_t)CF_MAX_VALUE)
            return fail(ps, "data too long");
        k++;
    }
    *out = pc;
    *nout = k;
    return 0;
}

int cf_parse_duration(const uint8_t *p, size_t n, uint64_t *ms)
{
    size_t i = 0;
    uint64_t v = 0;
    if (n > 0 && p[0] == '+')
        i++;
    size_t digits = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9') {
        if (v > UINT64_MAX / 10 - 10)
            return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
        i++;
        digits++;
    }
    if (digits == 0)
        return -1;
    uint64_t mul = 1;
    size_t rest = n - i;
    if (rest == 0 || (rest == 2 && p[i] == 'm' && p[i + 1] == 's'))
        mul = 1;
    else if (rest == 1 && p[i] == 's')
        mul = 1000;
    else if (rest == 1 && p[i] == 'm')
        mul = 60000;
    else if (rest == 1 && p[i] == 'h')
        mul = 3600000;
    else
        return -1;
    if (v > UINT64_MAX / mul)
        return -1;
    *ms = v * mul;
    return 0;
}

int cf_value_u64(const cf_value *v, uint64_t *out)
{
    if (v->kind != CF_V_WORD)
        return -1;
    return cf_parse_num((const char *)v->p, v->n, FE_NUM, out);
}

/* ---- headers ------------------------------------------------------------------- */

static int want_u64(parser *ps, const cf_arg *a, uint64_t max, uint64_t *out)
{
    if (a->op != CF_OP_EQ || cf_value_u64(&a->v, out) != 0 || *out > max)
        return fail(ps, "%s: expected a number up to %llu", a->key, (unsigned long long)max);
    return 0;
}

static int want_bytes(parser *ps, const cf_arg *a, size_t len, uint8_t *out)
{
    if (a->op != CF_OP_EQ || a->v.kind != CF_V_HEX || a->v.n != len)
        return fail(ps, "%s: expected %zu bytes of hex", a->key, len);
    memcpy(out, a->v.p, len);
    return 0;
}

static int want_str(parser *ps, const cf_arg *a)
{
    if (a->op != CF_OP_EQ || (a->v.kind != CF_V_STR && a->v.kind != CF_V_WORD &&
                              a->v.kind != CF_V_HEX))
        return fail(ps, "%s: expected a string", a->key);
    return 0;
}

static int want_bool(parser *ps, const cf_arg *a, uint8_t *out)
{
    uint64_t v;
    if (a->op != CF_OP_EQ || a->v.kind != CF_V_WORD ||
        cf_parse_num((const char *)a->v.p, a->v.n, FE_BOOL, &v) != 0 || v > 1)
        return fail(ps, "%s: expected yes or no", a->key);
    *out = (uint8_t)v;
    return 0;
}

static const char *const server_keys[] = {
    "motd", "rooms", "history", "max-rooms", "max-rooms-per-user", "attempts",
    "login-timeout", "idle-timeout", "user-fail-limit", "addr-fail-limit", "fail-window",
    "out-max", "min-opslimit", "min-memlimit-kib", "fake-opslimit", "fake-memlimit-kib",
    "versions", NULL};

int cf_server_key_known(const char *key)
{
    for (size_t i = 0; server_keys[i] != NULL; i++)
        if (strcmp(server_keys[i], key) == 0)
            return 1;
    return 0;
}

static int check_server_arg(parser *ps, const cf_arg *a)
{
    if (!cf_server_key_known(a->key))
        return fail(ps, "@server: unknown setting '%s'", a->key);
    if (a->op != CF_OP_EQ || a->v.kind == CF_V_NONE || a->v.kind == CF_V_ANY ||
        a->v.kind == CF_V_VAR)
        return fail(ps, "@server: %s needs a value", a->key);
    uint64_t x;
    if (strcmp(a->key, "login-timeout") == 0 || strcmp(a->key, "idle-timeout") == 0 ||
        strcmp(a->key, "fail-window") == 0) {
        if (cf_parse_duration(a->v.p, a->v.n, &x) != 0 || x == 0 || x > UINT32_MAX)
            return fail(ps, "@server: %s: bad duration", a->key);
    } else if (strcmp(a->key, "versions") == 0) {
        const char *s = (const char *)a->v.p;
        if (!(a->v.n == 3 && s[0] >= '1' && s[0] <= '9' && s[1] == '-' && s[2] >= s[0] &&
              s[2] <= '9'))
            return fail(ps, "@server: versions=A-B with single digits A <= B");
    } else if (strcmp(a->key, "motd") != 0 && strcmp(a->key, "rooms") != 0) {
        if (want_u64(ps, a, UINT32_MAX, &x) != 0)
            return -1;
        if (x == 0)
            return fail(ps, "@server: %s must not be 0", a->key);
    }
    return 0;
}

static int add_list(parser *ps, const char ***arr, size_t *n, size_t *cap, const tok *t)
{
    *arr = grow(&ps->t->arena, (void *)*arr, *n, cap, sizeof **arr);
    (*arr)[(*n)++] = cf_arena_strndup(&ps->t->arena, t->s, t->n);
    return 0;
}

static int header(parser *ps, const char *rest_raw, size_t rest_len, const tok *toks, size_t n)
{
    cf_transcript *t = ps->t;
    if (ps->in_steps)
        return fail(ps, "headers must come before the first step");
    const tok *h = &toks[0];
    const char *name = h->s + 1;
    size_t nl = h->n - 1;
#define IS(lit) (nl == strlen(lit) && memcmp(name, lit, nl) == 0)
    t->last_header_line = ps->line_end;
    uint8_t cls = CF_HDR_OTHER;
    if (IS("version")) {
        if (n != 2 || !tok_is(&toks[1], "1"))
            return fail(ps, "@version: only version 1 exists");
    } else if (IS("id")) {
        if (n != 2 || toks[1].n > 128)
            return fail(ps, "@id takes one identifier");
        for (size_t i = 0; i < toks[1].n; i++) {
            char c = toks[1].s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == '/'))
                return fail(ps, "@id: bad character '%c'", c);
        }
        if (t->id != NULL)
            return fail(ps, "@id given twice");
        t->id = cf_arena_strndup(&t->arena, toks[1].s, toks[1].n);
    } else if (IS("kind")) {
        cls = CF_HDR_KIND;
        if (n == 2 && tok_is(&toks[1], "kat"))
            t->kind = CF_KIND_KAT;
        else if (n == 2 && tok_is(&toks[1], "scenario"))
            t->kind = CF_KIND_SCENARIO;
        else
            return fail(ps, "@kind is kat or scenario");
    } else if (IS("role")) {
        if (n == 2 && tok_is(&toks[1], "server"))
            t->roles = CF_ROLE_SERVER;
        else if (n == 2 && tok_is(&toks[1], "client"))
            t->roles = CF_ROLE_CLIENT;
        else if (n == 2 && tok_is(&toks[1], "both"))
            t->roles = CF_ROLE_SERVER | CF_ROLE_CLIENT;
        else
            return fail(ps, "@role is server, client or both");
        if (t->nactors > 0)
            return fail(ps, "@role must come before @actor");
    } else if (IS("desc")) {
        size_t a = 0;
        while (a < rest_len && (rest_raw[a] == ' ' || rest_raw[a] == '\t'))
            a++;
        while (rest_len > a && (rest_raw[rest_len - 1] == ' ' || rest_raw[rest_len - 1] == '\t'))
            rest_len--;
        if (ps->desc.len > 0)
            cf_buf_byte(&ps->desc, ' ');
        cf_buf_add(&ps->desc, rest_raw + a, rest_len - a);
        if (ps->desc.len > 4096)
            return fail(ps, "@desc too long");
    } else if (IS("covers")) {
        for (size_t i = 1; i < n; i++) {
            /* 6.1, or 8.1:AWAIT_PROOF (a state of a §8 table) */
            size_t j = 0;
            while (j < toks[i].n && ((toks[i].s[j] >= '0' && toks[i].s[j] <= '9') ||
                                     toks[i].s[j] == '.'))
                j++;
            int ok = j > 0 && toks[i].s[0] != '.';
            if (ok && j < toks[i].n)
                ok = toks[i].s[j] == ':' && is_ident(toks[i].s + j + 1, toks[i].n - j - 1);
            if (!ok)
                return fail(ps, "@covers takes section numbers like 6.1 or 8.1:STATE");
            add_list(ps, &t->covers, &t->ncovers, &ps->cap_covers, &toks[i]);
        }
    } else if (IS("requires")) {
        for (size_t i = 1; i < n; i++) {
            if (!is_ident(toks[i].s, toks[i].n))
                return fail(ps, "@requires takes capability names");
            add_list(ps, &t->requires, &t->nrequires, &ps->cap_requires, &toks[i]);
        }
    } else if (IS("seed")) {
        cf_value v = {CF_V_WORD, (const uint8_t *)(n == 2 ? toks[1].s : ""), n == 2 ? toks[1].n : 0};
        if (n != 2 || cf_value_u64(&v, &t->seed) != 0)
            return fail(ps, "@seed takes a number");
    } else if (IS("time")) {
        cls = CF_HDR_TIME;
        cf_arg *a;
        size_t na;
        if (parse_args(ps, toks + 1, n - 1, &a, &na) != 0)
            return -1;
        for (size_t i = 0; i < na; i++) {
            if (strcmp(a[i].key, "mono") == 0) {
                if (want_u64(ps, &a[i], UINT64_MAX / 4, &t->mono0) != 0)
                    return -1;
            } else if (strcmp(a[i].key, "wall") == 0) {
                if (want_u64(ps, &a[i], UINT64_MAX / 4, &t->wall0) != 0)
                    return -1;
            } else {
                return fail(ps, "@time takes mono= and wall=");
            }
        }
        t->has_time = 1;
    } else if (IS("server")) {
        cf_arg *a;
        size_t na;
        if (parse_args(ps, toks + 1, n - 1, &a, &na) != 0)
            return -1;
        for (size_t i = 0; i < na; i++)
            if (check_server_arg(ps, &a[i]) != 0)
                return -1;
        cf_arg *all = cf_arena_alloc(&t->arena, (t->nserver_cfg + na + 1) * sizeof *all);
        if (t->nserver_cfg > 0)
            memcpy(all, t->server_cfg, t->nserver_cfg * sizeof *all);
        if (na > 0)
            memcpy(all + t->nserver_cfg, a, na * sizeof *all);
        t->server_cfg = all;
        t->nserver_cfg += na;
    } else if (IS("account")) {
        if (n < 2 || !chat_valid_name((const uint8_t *)toks[1].s, toks[1].n))
            return fail(ps, "@account needs a valid user name");
        t->accounts = grow(&t->arena, t->accounts, t->naccounts, &ps->cap_accounts,
                           sizeof *t->accounts);
        cf_account *acc = &t->accounts[t->naccounts];
        memset(acc, 0, sizeof *acc);
        char folded[CHAT_NAME_MAX + 1];
        chat_name_fold(folded, (const uint8_t *)toks[1].s, toks[1].n);
        for (size_t i = 0; i < t->naccounts; i++)
            if (strcmp(t->accounts[i].name, folded) == 0)
                return fail(ps, "@account %s given twice", folded);
        acc->name = cf_arena_strndup(&t->arena, folded, strlen(folded));
        acc->line = ps->line;
        acc->opslimit = 1;
        acc->memlimit_kib = 8;
        cf_arg *a;
        size_t na;
        if (parse_args(ps, toks + 2, n - 2, &a, &na) != 0)
            return -1;
        for (size_t i = 0; i < na; i++) {
            uint64_t x;
            if (strcmp(a[i].key, "password") == 0) {
                if (want_str(ps, &a[i]) != 0)
                    return -1;
                if (a[i].v.n < 1 || a[i].v.n > CHAT_PASSWORD_MAX)
                    return fail(ps, "@account: a password is 1 to 1024 bytes");
                acc->pass = a[i].v.p;
                acc->pass_len = a[i].v.n;
            } else if (strcmp(a[i].key, "role") == 0) {
                if (a[i].v.kind != CF_V_WORD ||
                    cf_parse_num((const char *)a[i].v.p, a[i].v.n, FE_ROLE, &x) != 0 || x > 1)
                    return fail(ps, "@account: role is user or admin");
                acc->role = (uint8_t)x;
            } else if (strcmp(a[i].key, "opslimit") == 0) {
                if (want_u64(ps, &a[i], 64, &x) != 0 || x < 1)
                    return fail(ps, "@account: opslimit 1 to 64");
                acc->opslimit = (uint32_t)x;
            } else if (strcmp(a[i].key, "memlimit_kib") == 0) {
                if (want_u64(ps, &a[i], 1u << 20, &x) != 0 || x < 8)
                    return fail(ps, "@account: memlimit_kib 8 to 1048576");
                acc->memlimit_kib = (uint32_t)x;
            } else if (strcmp(a[i].key, "salt") == 0) {
                if (want_bytes(ps, &a[i], 16, acc->salt) != 0)
                    return -1;
                acc->has_salt = 1;
            } else if (strcmp(a[i].key, "pk") == 0) {
                if (want_bytes(ps, &a[i], 32, acc->pk) != 0)
                    return -1;
                acc->has_pk = 1;
            } else {
                return fail(ps, "@account: unknown setting '%s'", a[i].key);
            }
        }
        if (acc->pass == NULL && !acc->has_pk)
            return fail(ps, "@account needs password= or pk=");
        t->naccounts++;
    } else if (IS("actor")) {
        if (t->nactors == CF_MAX_ACTORS)
            return fail(ps, "too many actors");
        if (n < 3 || !is_ident(toks[1].s, toks[1].n))
            return fail(ps, "@actor NAME client|server [settings]");
        static const char *const reserved[] = {"time", "any", "wire", "fault", "server", NULL};
        for (size_t i = 0; reserved[i] != NULL; i++)
            if (tok_is(&toks[1], reserved[i]) && !(tok_is(&toks[1], "server") && tok_is(&toks[2], "server")))
                return fail(ps, "'%s' cannot name an actor", reserved[i]);
        for (size_t i = 0; i < t->nactors; i++)
            if (strlen(t->actors[i].name) == toks[1].n &&
                memcmp(t->actors[i].name, toks[1].s, toks[1].n) == 0)
                return fail(ps, "actor %.*s declared twice", (int)toks[1].n, toks[1].s);
        cf_actor *ac = &t->actors[t->nactors];
        memset(ac, 0, sizeof *ac);
        ac->name = cf_arena_strndup(&t->arena, toks[1].s, toks[1].n);
        ac->line = ps->line;
        ac->auto_login = 1;
        ac->trust = 1;
        ac->vmin = 1;
        ac->vmax = 1;
        if (tok_is(&toks[2], "server")) {
            ac->is_server = 1;
            if (t->roles != CF_ROLE_CLIENT)
                return fail(ps, "a server actor is only played by the runner: use @role client");
            for (size_t i = 0; i < t->nactors; i++)
                if (t->actors[i].is_server)
                    return fail(ps, "only one server actor");
        } else if (!tok_is(&toks[2], "client")) {
            return fail(ps, "@actor NAME client|server");
        }
        cf_arg *a;
        size_t na;
        if (parse_args(ps, toks + 3, n - 3, &a, &na) != 0)
            return -1;
        for (size_t i = 0; i < na; i++) {
            uint64_t x;
            if (strcmp(a[i].key, "user") == 0) {
                if (want_str(ps, &a[i]) != 0)
                    return -1;
                ac->user = (const char *)a[i].v.p;
            } else if (strcmp(a[i].key, "password") == 0) {
                if (want_str(ps, &a[i]) != 0)
                    return -1;
                ac->pass = a[i].v.p;
                ac->pass_len = a[i].v.n;
            } else if (strcmp(a[i].key, "auto") == 0) {
                if (want_bool(ps, &a[i], &ac->auto_login) != 0)
                    return -1;
            } else if (strcmp(a[i].key, "trust") == 0) {
                if (want_bool(ps, &a[i], &ac->trust) != 0)
                    return -1;
            } else if (strcmp(a[i].key, "addr") == 0) {
                if (want_u64(ps, &a[i], 255, &x) != 0)
                    return -1;
                ac->addr = (uint8_t)x;
            } else if (strcmp(a[i].key, "version_min") == 0) {
                if (want_u64(ps, &a[i], 255, &x) != 0)
                    return -1;
                ac->vmin = (uint8_t)x;
            } else if (strcmp(a[i].key, "version_max") == 0) {
                if (want_u64(ps, &a[i], 255, &x) != 0)
                    return -1;
                ac->vmax = (uint8_t)x;
            } else if (strcmp(a[i].key, "max_opslimit") == 0) {
                if (want_u64(ps, &a[i], UINT32_MAX, &x) != 0)
                    return -1;
                ac->max_opslimit = (uint32_t)x;
            } else if (strcmp(a[i].key, "max_memlimit_kib") == 0) {
                if (want_u64(ps, &a[i], UINT32_MAX, &x) != 0)
                    return -1;
                ac->max_memlimit_kib = (uint32_t)x;
            } else {
                return fail(ps, "@actor: unknown setting '%s'", a[i].key);
            }
        }
        t->nactors++;
    } else if (IS("key")) {
        cls = CF_HDR_KEY;
        if (n < 3)
            return fail(ps, "@key NAME.static HEX");
        const char *s = toks[1].s;
        size_t sn = toks[1].n;
        if (sn < 8 || memcmp(s + sn - 7, ".static", 7) != 0)
            return fail(ps, "@key NAME.static HEX");
        cf_piece *pc;
        size_t np;
        if (parse_data(ps, toks + 2, n - 2, 0, &pc, &np) != 0)
            return -1;
        cf_buf b = {0};
        for (size_t i = 0; i < np; i++)
            cf_buf_add(&b, pc[i].p, pc[i].n);
        int ok = b.len == 32;
        uint8_t key[32] = {0};
        if (ok)
            memcpy(key, b.p, 32);
        cf_buf_free(&b);
        if (!ok)
            return fail(ps, "@key: a static key is 32 bytes");
        if (sn - 7 == 6 && memcmp(s, "server", 6) == 0 && cf_actor_index(t, "server") < 0) {
            memcpy(t->server_key, key, 32);
            t->has_server_key = 1;
        } else {
            char nm[80];
            cf_fmt(nm, sizeof nm, "%.*s", (int)(sn - 7 > 64 ? 64 : sn - 7), s);
            int ai = cf_actor_index(t, nm);
            if (ai < 0)
                return fail(ps, "@key: no actor '%s' (declare it first)", nm);
            memcpy(t->actors[ai].key, key, 32);
            t->actors[ai].has_key = 1;
            if (t->actors[ai].is_server) {
                memcpy(t->server_key, key, 32);
                t->has_server_key = 1;
            }
        }
    } else if (IS("random")) {
        cls = CF_HDR_RANDOM;
        if (n < 4)
            return fail(ps, "@random ACTOR PURPOSE HEX");
        if (!(tok_is(&toks[1], "server") || cf_actor_index(t, cf_arena_strndup(&t->arena, toks[1].s, toks[1].n)) >= 0))
            return fail(ps, "@random: no actor '%.*s'", (int)(toks[1].n > 40 ? 40 : toks[1].n), toks[1].s);
        if (!tok_is(&toks[2], "ephemeral") && !tok_is(&toks[2], "salt") &&
            !tok_is(&toks[2], "static"))
            return fail(ps, "@random: purpose is ephemeral, salt or static");
        cf_piece *pc;
        size_t np;
        if (parse_data(ps, toks + 3, n - 3, 0, &pc, &np) != 0)
            return -1;
        cf_buf b = {0};
        for (size_t i = 0; i < np; i++)
            cf_buf_add(&b, pc[i].p, pc[i].n);
        size_t want = tok_is(&toks[2], "salt") ? 16 : 32;
        if (b.len != want) {
            cf_buf_free(&b);
            return fail(ps, "@random: a %.*s is %zu bytes", (int)toks[2].n, toks[2].s, want);
        }
        t->randoms = grow(&t->arena, t->randoms, t->nrandoms, &ps->cap_randoms, sizeof *t->randoms);
        cf_random *r = &t->randoms[t->nrandoms++];
        r->actor = cf_arena_strndup(&t->arena, toks[1].s, toks[1].n);
        r->purpose = cf_arena_strndup(&t->arena, toks[2].s, toks[2].n);
        r->p = cf_arena_memdup(&t->arena, b.p, b.len);
        r->n = b.len;
        r->line = ps->line;
        cf_buf_free(&b);
    } else {
        return fail(ps, "unknown header @%.*s", (int)(nl > 40 ? 40 : nl), name);
    }
#undef IS
    for (int l = ps->line; l <= ps->line_end && l <= t->nlines; l++)
        t->line_hdr[l] = cls;
    return 0;
}

int cf_actor_index(const cf_transcript *t, const char *name)
{
    for (size_t i = 0; i < t->nactors; i++)
        if (strcmp(t->actors[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- steps --------------------------------------------------------------------- */

static const struct {
    const char *name;
    uint8_t verb;
} verbs[] = {
    {"connect", CF_VERB_CONNECT},
    {"login", CF_VERB_LOGIN},
    {"send", CF_VERB_SEND},
    {"queue", CF_VERB_QUEUE},
    {"flush", CF_VERB_FLUSH},
    {"send-frame", CF_VERB_SEND_FRAME},
    {"send-plain", CF_VERB_SEND_PLAIN},
    {"raw", CF_VERB_RAW},
    {"expect", CF_VERB_EXPECT},
    {"await", CF_VERB_AWAIT},
    {"expect-close", CF_VERB_EXPECT_CLOSE},
    {"expect-nothing", CF_VERB_EXPECT_NOTHING},
    {"drain", CF_VERB_DRAIN},
    {"close", CF_VERB_CLOSE},
    {"quit", CF_VERB_QUIT},
    {"pause", CF_VERB_PAUSE},
    {"resume", CF_VERB_RESUME},
    {"wire", CF_VERB_WIRE},
    {"time", CF_VERB_TIME},
    {"any", CF_VERB_ANY},
    {"fault", CF_VERB_FAULT},
};

const char *cf_verb_name(int verb)
{
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (verbs[i].verb == verb)
            return verbs[i].name;
    return "?";
}

static int find_verb(const tok *t)
{
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (tok_is(t, verbs[i].name))
            return verbs[i].verb;
    return 0;
}

/* Is the actor played by the runner in every role this transcript runs in? */
static int runner_played(const cf_transcript *t, const cf_actor *a)
{
    return a->is_server ? 1 : t->roles == CF_ROLE_SERVER;
}

static int check_keys(parser *ps, const cf_step *st, const char *const *allowed, int any_op)
{
    for (size_t i = 0; i < st->nargs; i++) {
        const cf_arg *a = &st->args[i];
        int ok = 0;
        for (size_t k = 0; allowed[k] != NULL; k++)
            ok |= strcmp(allowed[k], a->key) == 0;
        if (!ok)
            return fail(ps, "%s: unknown argument '%s'", cf_verb_name(st->verb), a->key);
        if (!any_op && a->op != CF_OP_EQ)
            return fail(ps, "%s: '%s' takes '='", cf_verb_name(st->verb), a->key);
        if (!any_op && (a->v.kind == CF_V_ANY))
            return fail(ps, "%s: '%s' cannot be *", cf_verb_name(st->verb), a->key);
    }
    return 0;
}

static int parse_mods(parser *ps, cf_step *st, const tok *toks, size_t n)
{
    /* toks[0] is the first '|' */
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += toks[i].kind == TK_PIPE;
    st->mods = cf_arena_alloc(&ps->t->arena, count * sizeof *st->mods);
    size_t i = 0;
    while (i < n) {
        if (toks[i].kind != TK_PIPE)
            return fail(ps, "expected '|'");
        i++;
        if (i >= n || toks[i].kind != TK_WORD)
            return fail(ps, "expected a modifier after '|'");
        const tok *name = &toks[i++];
        size_t j = i;
        while (j < n && toks[j].kind != TK_PIPE)
            j++;
        cf_mod *m = &st->mods[st->nmods++];
        memset(m, 0, sizeof *m);
        size_t na = j - i;
        int64_t num = 0;
        if (na == 1 && !tok_is(name, "capture") && !tok_is(name, "xor")) {
            cf_value v = {CF_V_WORD, (const uint8_t *)toks[i].s, toks[i].n};
            uint64_t x;
            int neg = toks[i].n > 1 && toks[i].s[0] == '-';
            if (neg) {
                v.p++;
                v.n--;
            }
            if (cf_value_u64(&v, &x) != 0 || x > 1000000)
                return fail(ps, "modifier %.*s: bad number", (int)name->n, name->s);
            num = neg ? -(int64_t)x : (int64_t)x;
        }
        if (tok_is(name, "xor")) {
            cf_arg *a;
            size_t nargs;
            if (parse_args(ps, toks + i, na, &a, &nargs) != 0)
                return -1;
            const cf_arg *at = cf_arg_find(a, nargs, "at"), *mask = cf_arg_find(a, nargs, "mask");
            if (at == NULL || nargs != (mask != NULL ? 2u : 1u))
                return fail(ps, "xor at=OFFSET [mask=0xNN]");
            cf_value v = at->v;
            int neg = v.kind == CF_V_WORD && v.n > 1 && v.p[0] == '-';
            if (neg) {
                v.p++;
                v.n--;
            }
            uint64_t x, mk = 1;
            if (cf_value_u64(&v, &x) != 0 || x > 1000000)
                return fail(ps, "xor: bad offset");
            if (mask != NULL && (mask->v.kind != CF_V_HEX || mask->v.n != 1) &&
                (cf_value_u64(&mask->v, &mk) != 0 || mk > 255 || mk == 0))
                return fail(ps, "xor: mask is one non-zero byte");
            if (mask != NULL && mask->v.kind == CF_V_HEX)
                mk = mask->v.p[0];
            if (mk == 0)
                return fail(ps, "xor: mask is one non-zero byte");
            m->kind = CF_MOD_XOR;
            m->a = neg ? -(int64_t)x : (int64_t)x;
            m->b = (uint8_t)mk;
        } else if (tok_is(name, "truncate") || tok_is(name, "cut") || tok_is(name, "split") ||
                   tok_is(name, "length") || tok_is(name, "type")) {
            if (na != 1 || num < 0)
                return fail(ps, "modifier %.*s takes one number", (int)name->n, name->s);
            m->kind = tok_is(name, "truncate") ? CF_MOD_TRUNCATE
                      : tok_is(name, "cut")    ? CF_MOD_CUT
                      : tok_is(name, "split")  ? CF_MOD_SPLIT
                      : tok_is(name, "length") ? CF_MOD_LENGTH
                                               : CF_MOD_TYPE;
            if ((m->kind == CF_MOD_LENGTH && num > 65535) || (m->kind == CF_MOD_TYPE && num > 255))
                return fail(ps, "modifier %.*s: number out of range", (int)name->n, name->s);
            m->a = num;
        } else if (tok_is(name, "replay") || tok_is(name, "reorder") || tok_is(name, "drop")) {
            if (na != 0)
                return fail(ps, "modifier %.*s takes nothing", (int)name->n, name->s);
            m->kind = tok_is(name, "replay") ? CF_MOD_REPLAY
                      : tok_is(name, "reorder") ? CF_MOD_REORDER
                                                : CF_MOD_DROP;
        } else if (tok_is(name, "capture")) {
            if (na != 1 || toks[i].n < 2 || toks[i].s[0] != '$' ||
                !is_ident(toks[i].s + 1, toks[i].n - 1))
                return fail(ps, "capture $name");
            m->kind = CF_MOD_CAPTURE;
            m->var = cf_arena_strndup(&ps->t->arena, toks[i].s + 1, toks[i].n - 1);
        } else {
            return fail(ps, "unknown modifier '%.*s'", (int)(name->n > 40 ? 40 : name->n), name->s);
        }
        i = j;
    }
    return 0;
}

/* Parse one step from toks (no '{ }' handling: that is parse_any). */
static int parse_step(parser *ps, const tok *toks, size_t n, cf_step *st, int nested);

static int parse_any(parser *ps, const tok *toks, size_t n, cf_step *st)
{
    if (n < 2 || toks[0].kind != TK_LBRACE || toks[n - 1].kind != TK_RBRACE)
        return fail(ps, "any { STEP | STEP ... }");
    size_t count = 1;
    for (size_t i = 1; i + 1 < n; i++)
        count += toks[i].kind == TK_PIPE;
    st->alts = cf_arena_alloc(&ps->t->arena, count * sizeof *st->alts);
    size_t i = 1;
    while (i < n - 1) {
        size_t j = i;
        while (j < n - 1 && toks[j].kind != TK_PIPE)
            j++;
        if (j == i)
            return fail(ps, "empty alternative in any");
        cf_step *alt = &st->alts[st->nalts++];
        if (parse_step(ps, toks + i, j - i, alt, 1) != 0)
            return -1;
        if (alt->verb != CF_VERB_EXPECT && alt->verb != CF_VERB_EXPECT_CLOSE &&
            alt->verb != CF_VERB_EXPECT_NOTHING && alt->verb != CF_VERB_AWAIT)
            return fail(ps, "any: alternatives must be expect, await, expect-close or expect-nothing");
        i = j + 1;
    }
    if (st->nalts < 2)
        return fail(ps, "any needs at least two alternatives");
    return 0;
}

static int parse_step(parser *ps, const tok *toks, size_t n, cf_step *st, int nested)
{
    cf_transcript *t = ps->t;
    memset(st, 0, sizeof *st);
    st->line = ps->line;
    st->line_end = ps->line_end;
    st->actor = -1;
    if (n == 0 || toks[0].kind != TK_WORD)
        return fail(ps, "expected a step");
    size_t i = 0;
    int verb;
    char first[80];
    cf_fmt(first, sizeof first, "%.*s", (int)(toks[0].n > 64 ? 64 : toks[0].n), toks[0].s);
    int ai = toks[0].n <= 64 ? cf_actor_index(t, first) : -1;
    if (ai >= 0) {
        st->actor = ai;
        if (n < 2 || (verb = find_verb(&toks[1])) == 0)
            return fail(ps, "%s: expected a verb", first);
        if (verb == CF_VERB_TIME || verb == CF_VERB_ANY || verb == CF_VERB_FAULT)
            return fail(ps, "%s is not an actor's verb", cf_verb_name(verb));
        i = 2;
    } else {
        verb = find_verb(&toks[0]);
        if (verb == 0)
            return fail(ps, "unknown actor or verb '%s'", first);
        if (verb != CF_VERB_TIME && verb != CF_VERB_ANY && verb != CF_VERB_WIRE &&
            verb != CF_VERB_FAULT)
            return fail(ps, "%s needs an actor (no actor '%s' is declared)", first, first);
        if (verb == CF_VERB_WIRE) {
            /* The one connection of the transcript. */
            int only = -1, count = 0;
            for (size_t k = 0; k < t->nactors; k++)
                if (!t->actors[k].is_server) {
                    only = (int)k;
                    count++;
                }
            if (count != 1)
                return fail(ps, "wire without an actor needs exactly one client actor");
            st->actor = only;
        }
        i = 1;
    }
    st->verb = (uint8_t)verb;
    if (nested && verb == CF_VERB_ANY)
        return fail(ps, "any cannot nest");

    const cf_actor *ac = st->actor >= 0 ? &t->actors[st->actor] : NULL;
    int runner = ac != NULL && runner_played(t, ac);
    int is_server = ac != NULL && ac->is_server;

    /* Split off modifiers. */
    size_t end = n, mods_at = n;
    if (verb != CF_VERB_ANY)
        for (size_t k = i; k < n; k++)
            if (toks[k].kind == TK_PIPE) {
                mods_at = k;
                break;
            }
    if (mods_at < n) {
        if (verb != CF_VERB_SEND && verb != CF_VERB_FLUSH && verb != CF_VERB_SEND_FRAME &&
            verb != CF_VERB_SEND_PLAIN)
            return fail(ps, "modifiers ('|') only follow send, flush, send-frame or send-plain");
        if (!runner)
            return fail(ps, "modifiers need an actor the runner plays");
        if (parse_mods(ps, st, toks + mods_at, n - mods_at) != 0)
            return -1;
        end = mods_at;
    }
    for (size_t k = i; k < end; k++)
        if (toks[k].kind != TK_WORD && verb != CF_VERB_ANY)
            return fail(ps, "unexpected '%.*s'", (int)toks[k].n, toks[k].s);

    /* Which verbs an actor may use. */
    int runner_only = verb == CF_VERB_QUEUE || verb == CF_VERB_FLUSH ||
                      verb == CF_VERB_SEND_FRAME || verb == CF_VERB_SEND_PLAIN ||
                      verb == CF_VERB_RAW || verb == CF_VERB_CLOSE || verb == CF_VERB_PAUSE ||
                      verb == CF_VERB_RESUME;
    if (ac != NULL && runner_only && !runner)
        return fail(ps, "%s: only an actor the runner plays can %s (this one is the "
                        "implementation under test)", ac->name, cf_verb_name(verb));
    if (is_server && (verb == CF_VERB_CONNECT || verb == CF_VERB_LOGIN || verb == CF_VERB_QUIT))
        return fail(ps, "a server actor cannot %s", cf_verb_name(verb));
    if (verb == CF_VERB_WIRE && (t->kind != CF_KIND_KAT || is_server))
        return fail(ps, "wire steps belong to a client actor of a kat transcript");

    switch (verb) {
    case CF_VERB_SEND:
    case CF_VERB_QUEUE:
    case CF_VERB_EXPECT:
    case CF_VERB_AWAIT: {
        if (i >= end)
            return fail(ps, "%s needs a message type", cf_verb_name(verb));
        char tn[40];
        cf_fmt(tn, sizeof tn, "%.*s", (int)(toks[i].n > 32 ? 32 : toks[i].n), toks[i].s);
        st->m = cf_mdef_by_name(tn);
        if (st->m == NULL)
            return fail(ps, "unknown message type '%s'", tn);
        int sending = verb == CF_VERB_SEND || verb == CF_VERB_QUEUE;
        unsigned dir = st->m->dir;
        if (sending) {
            unsigned want = is_server ? CF_D_S2C : CF_D_C2S;
            if (!(dir & want) || (dir & CF_D_EVENT && !(dir & CF_D_FRAME)))
                return fail(ps, "%s cannot send %s", is_server ? "a server" : "a client", tn);
            if (verb == CF_VERB_QUEUE && (dir & CF_D_FRAME))
                return fail(ps, "queue takes messages, not frames");
            if (!runner) {
                int req = cf_field_index(st->m, "req") >= 0;
                if (!req || st->m->type == CHAT_MSG_GOODBYE)
                    return fail(ps, "the implementation under test sends only requests (%s is "
                                    "not one); use quit for GOODBYE", tn);
            }
        } else {
            unsigned want = is_server ? CF_D_C2S : CF_D_S2C;
            int ok = (dir & want) && !(dir & CF_D_FRAME);
            if (!is_server)
                ok = ok || st->m->type == CF_T_SERVER_KEY || st->m->type == CF_T_REJECT ||
                     st->m->type == CF_T_CLOSED;
            else
                ok = (ok && st->m->type != CHAT_MSG_GOODBYE) || st->m->type == CF_T_HS1 ||
                     st->m->type == CF_T_CLOSED;
            if (!ok)
                return fail(ps, "a %s does not receive %s", is_server ? "server" : "client", tn);
        }
        if (parse_args(ps, toks + i + 1, end - i - 1, &st->args, &st->nargs) != 0)
            return -1;
        for (size_t k = 0; k < st->nargs; k++) {
            const cf_arg *a = &st->args[k];
            int known = cf_field_index(st->m, a->key) >= 0 ||
                        (sending ? cf_send_pseudo(st->m, a->key) : cf_expect_pseudo(st->m, a->key));
            if (!known)
                return fail(ps, "%s has no field '%s'", tn, a->key);
            if (sending && (a->op != CF_OP_EQ || a->v.kind == CF_V_ANY || a->v.kind == CF_V_NONE))
                return fail(ps, "send: %s=VALUE", a->key);
            if (sending && !runner && strcmp(a->key, "req") == 0)
                return fail(ps, "send: the client under test chooses its request ids (no req=)");
            if (!sending && a->v.kind == CF_V_NONE)
                return fail(ps, "expect: %s needs a value", a->key);
        }
        return 0;
    }
    case CF_VERB_CONNECT: {
        static const char *const k[] = {"user", "password", "hs1", "version_min", "version_max", NULL};
        if (parse_args(ps, toks + i, end - i, &st->args, &st->nargs) != 0)
            return -1;
        return check_keys(ps, st, k, 0);
    }
    case CF_VERB_LOGIN: {
        static const char *const k[] = {"user", "password", NULL};
        if (parse_args(ps, toks + i, end - i, &st->args, &st->nargs) != 0)
            return -1;
        return check_keys(ps, st, k, 0);
    }
    case CF_VERB_QUIT: {
        static const char *const k[] = {"text", NULL};
        if (parse_args(ps, toks + i, end - i, &st->args, &st->nargs) != 0)
            return -1;
        return check_keys(ps, st, k, 0);
    }
    case CF_VERB_EXPECT_CLOSE: {
        static const char *const k[] = {"code", "origin", "text", "silent", NULL};
        if (parse_args(ps, toks + i, end - i, &st->args, &st->nargs) != 0)
            return -1;
        if (check_keys(ps, st, k, 1) != 0)
            return -1;
        const cf_arg *s = cf_arg_find(st->args, st->nargs, "silent");
        if (s != NULL && (s->v.kind != CF_V_NONE || st->nargs != 1))
            return fail(ps, "expect-close silent takes nothing else");
        for (size_t k2 = 0; k2 < st->nargs; k2++)
            if (st->args[k2].v.kind == CF_V_NONE && strcmp(st->args[k2].key, "silent") != 0)
                return fail(ps, "expect-close: %s needs a value", st->args[k2].key);
        return 0;
    }
    case CF_VERB_EXPECT_NOTHING: {
        static const char *const k[] = {"within", NULL};
        if (parse_args(ps, toks + i, end - i, &st->args, &st->nargs) != 0 ||
            check_keys(ps, st, k, 0) != 0)
            return -1;
        const cf_arg *w = cf_arg_find(st->args, st->nargs, "within");
        if (w != NULL && (w->v.kind != CF_V_WORD || cf_parse_duration(w->v.p, w->v.n, &st->ms) != 0))
            return fail(ps, "within=DURATION (500ms, 2s)");
        return 0;
    }
    case CF_VERB_SEND_FRAME: {
        static const char *const k[] = {"type", "body", NULL};
        if (parse_args(ps, toks + i, end - i, &st->args, &st->nargs) != 0 ||
            check_keys(ps, st, k, 0) != 0)
            return -1;
        const cf_arg *ty = cf_arg_find(st->args, st->nargs, "type");
        uint64_t x;
        if (ty == NULL || (ty->v.kind == CF_V_HEX ? ty->v.n != 1
                                                  : (cf_value_u64(&ty->v, &x) != 0 || x > 255)))
            return fail(ps, "send-frame type=BYTE [body=HEX]");
        const cf_arg *b = cf_arg_find(st->args, st->nargs, "body");
        if (b != NULL && b->v.kind != CF_V_HEX && b->v.kind != CF_V_STR && b->v.kind != CF_V_VAR)
            return fail(ps, "send-frame body=HEX");
        return 0;
    }
    case CF_VERB_SEND_PLAIN:
    case CF_VERB_RAW:
        if (end == i)
            return fail(ps, "%s needs bytes", cf_verb_name(verb));
        return parse_data(ps, toks + i, end - i, 1, &st->data, &st->ndata);
    case CF_VERB_FLUSH:
    case CF_VERB_DRAIN:
    case CF_VERB_CLOSE:
    case CF_VERB_PAUSE:
    case CF_VERB_RESUME:
        if (end != i)
            return fail(ps, "%s takes no arguments", cf_verb_name(verb));
        return 0;
    case CF_VERB_WIRE:
        if (end - i < 2)
            return fail(ps, "wire c>s|s>c HEX... or wire c>s|s>c eof");
        if (tok_is(&toks[i], "c>s"))
            st->dir = CF_DIR_C2S;
        else if (tok_is(&toks[i], "s>c"))
            st->dir = CF_DIR_S2C;
        else
            return fail(ps, "wire direction is c>s or s>c");
        if (end - i == 2 && tok_is(&toks[i + 1], "eof")) {
            st->eof = 1;
            return 0;
        }
        if (parse_data(ps, toks + i + 1, end - i - 1, 0, &st->data, &st->ndata) != 0)
            return -1;
        {
            size_t total = 0;
            for (size_t k = 0; k < st->ndata; k++)
                total += st->data[k].n;
            if (total == 0)
                return fail(ps, "wire: no bytes");
        }
        return 0;
    case CF_VERB_TIME:
        if (end - i != 1 || toks[i].s[0] != '+' ||
            cf_parse_duration((const uint8_t *)toks[i].s, toks[i].n, &st->ms) != 0)
            return fail(ps, "time +DURATION (e.g. time +30s)");
        return 0;
    case CF_VERB_ANY:
        return parse_any(ps, toks + i, n - i, st);
    case CF_VERB_FAULT: {
        static const char *const k[] = {"store", NULL};
        if (parse_args(ps, toks + i, end - i, &st->args, &st->nargs) != 0 ||
            check_keys(ps, st, k, 0) != 0)
            return -1;
        uint64_t on;
        if (st->nargs != 1 || st->args[0].v.kind != CF_V_WORD ||
            cf_parse_num((const char *)st->args[0].v.p, st->args[0].v.n, FE_BOOL, &on) != 0)
            return fail(ps, "fault store=on|off");
        st->ms = on;
        return 0;
    }
    default:
        return fail(ps, "bad step");
    }
}

/* ---- lines ----------------------------------------------------------------------- */

/* Length of the code part of a physical line (before a comment). */
static size_t code_len(const char *s, size_t n)
{
    int inq = 0, start = 1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (inq) {
            if (c == '\\' && i + 1 < n)
                i++;
            else if (c == '"')
                inq = 0;
            continue;
        }
        if (c == '"') {
            inq = 1;
            start = 0;
        } else if (c == ' ' || c == '\t') {
            start = 1;
        } else {
            if (c == '#' && start)
                return i;
            start = 0;
        }
    }
    return n;
}

static int logical_line(parser *ps, const char *s, size_t n)
{
    tok *toks = cf_xmalloc(MAX_TOKS * sizeof *toks);
    size_t nt = 0;
    int rc = tokenize(ps, s, n, toks, &nt);
    if (rc == 0 && nt > 0) {
        if (toks[0].kind == TK_WORD && toks[0].n > 1 && toks[0].s[0] == '@') {
            /* The raw text after the header name, for @desc. */
            const char *rest = toks[0].s + toks[0].n;
            size_t rest_len = n - (size_t)(rest - s);
            rc = header(ps, rest, rest_len, toks, nt);
        } else {
            cf_transcript *t = ps->t;
            if (t->id == NULL)
                rc = fail(ps, "@id must come before the first step");
            if (rc == 0 && t->nsteps >= CF_MAX_STEPS)
                rc = fail(ps, "too many steps");
            if (rc == 0) {
                if (!ps->in_steps && t->kind == 0)
                    t->kind = CF_KIND_SCENARIO;
                ps->in_steps = 1;
                t->steps = grow(&t->arena, t->steps, t->nsteps, &ps->cap_steps, sizeof *t->steps);
                rc = parse_step(ps, toks, nt, &t->steps[t->nsteps], 0);
                if (rc == 0)
                    t->nsteps++;
            }
        }
    }
    free(toks);
    return rc;
}

int cf_transcript_parse(const char *file, const uint8_t *src, size_t n, cf_transcript **out,
                        char *err, size_t errcap)
{
    *out = NULL;
    if (errcap > 0)
        err[0] = '\0';
    cf_transcript *t = cf_xcalloc(1, sizeof *t);
    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.t = t;
    ps.file = file != NULL ? file : "<input>";
    ps.err = err;
    ps.errcap = errcap;
    ps.line = 1;
    t->file = cf_arena_strndup(&t->arena, ps.file, strlen(ps.file));
    t->roles = CF_ROLE_SERVER;
    t->wall0 = 1700000000000ull;
    if (n > CF_MAX_SRC) {
        fail(&ps, "file too large");
        goto bad;
    }
    for (size_t i = 0; i < n; i++)
        if (src[i] == 0) {
            ps.line = 1;
            for (size_t k = 0; k < i; k++)
                ps.line += src[k] == '\n';
            fail(&ps, "NUL byte in transcript");
            goto bad;
        }
    t->src = cf_arena_strndup(&t->arena, (const char *)src, n);
    t->srclen = n;
    int lines = 1;
    for (size_t i = 0; i < n; i++)
        lines += src[i] == '\n';
    t->nlines = lines;
    t->line_hdr = cf_arena_alloc(&t->arena, (size_t)lines + 2);

    cf_buf logical = {0};
    const char *s = t->src;
    size_t pos = 0;
    int lineno = 1, start_line = 1, cont = 0;
    while (pos <= n && !ps.failed) {
        size_t e = pos;
        while (e < n && s[e] != '\n')
            e++;
        size_t len = e - pos;
        if (len > 0 && s[pos + len - 1] == '\r')
            len--;
        size_t code = code_len(s + pos, len);
        /* A trailing backslash (outside a comment) continues the line. */
        size_t trim = code;
        while (trim > 0 && (s[pos + trim - 1] == ' ' || s[pos + trim - 1] == '\t'))
            trim--;
        int more = trim > 0 && s[pos + trim - 1] == '\\';
        if (!cont)
            start_line = lineno;
        cf_buf_add(&logical, s + pos, more ? trim - 1 : code);
        cf_buf_byte(&logical, ' ');
        if (logical.len > CF_MAX_LINE) {
            ps.line = start_line;
            fail(&ps, "line too long");
            break;
        }
        if (more && e < n) {
            cont = 1;
        } else {
            cont = 0;
            ps.line = start_line;
            ps.line_end = lineno;
            if (logical_line(&ps, (const char *)logical.p, logical.len) != 0)
                break;
            cf_buf_reset(&logical);
        }
        if (e >= n)
            break;
        pos = e + 1;
        lineno++;
    }
    cf_buf_free(&logical);
    if (!ps.failed) {
        ps.line = 1;
        if (t->id == NULL)
            fail(&ps, "missing @id");
        else if (t->nsteps == 0)
            fail(&ps, "no steps");
    }
    if (!ps.failed && t->kind == 0)
        t->kind = CF_KIND_SCENARIO;
    if (!ps.failed && (t->roles & CF_ROLE_CLIENT) && t->roles != CF_ROLE_CLIENT &&
        t->kind != CF_KIND_KAT)
        fail(&ps, "@role both is for kat transcripts");
    if (ps.failed)
        goto bad;
    t->desc = cf_arena_strndup(&t->arena, ps.desc.p != NULL ? (const char *)ps.desc.p : "",
                               ps.desc.len);
    cf_buf_free(&ps.desc);
    *out = t;
    return 0;
bad:
    cf_buf_free(&ps.desc);
    cf_transcript_free(t);
    return -1;
}

int cf_transcript_load(const char *path, cf_transcript **out, char *err, size_t errcap)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cf_fmt(err, errcap, "%s: %s", path, strerror(errno));
        return -1;
    }
    cf_buf b = {0};
    uint8_t tmp[65536];
    size_t r;
    while ((r = fread(tmp, 1, sizeof tmp, f)) > 0) {
        cf_buf_add(&b, tmp, r);
        if (b.len > CF_MAX_SRC)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        cf_fmt(err, errcap, "%s: read error", path);
        cf_buf_free(&b);
        return -1;
    }
    int rc = cf_transcript_parse(path, b.p != NULL ? b.p : (const uint8_t *)"", b.len, out, err,
                                 errcap);
    cf_buf_free(&b);
    return rc;
}

void cf_transcript_free(cf_transcript *t)
{
    if (t == NULL)
        return;
    cf_arena_free(&t->arena);
    free(t);
}
