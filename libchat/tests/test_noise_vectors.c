/* Replays Noise test vectors (cacophony/snow JSON format) against
 * libchat's Noise implementation.
 *
 *   test_noise_vectors FILE.json [FILE.json ...]
 *
 * For every vector whose protocol libchat supports: runs initiator and
 * responder with the listed keys, checks every handshake and transport
 * ciphertext byte for byte, decrypts each back to its payload and compares
 * the handshake hash. Prints one line per failure and finally
 * "N passed, M failed" (plus ", K skipped" when some were unsupported).
 * Exit status 0 iff M == 0 and N > 0. */
#include "chat/noise.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* ---------------------------------------------------------------------
 * Minimal JSON reader: a tree of values. Numbers, booleans and null are
 * recognised only to be skipped over; the vector format needs strings,
 * arrays and objects.
 * ------------------------------------------------------------------- */

enum json_type { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };

typedef struct json json;
struct json {
    enum json_type type;
    char *str;     /* J_STRING: NUL-terminated (may hold NULs via \u0000) */
    size_t len;    /* J_STRING: bytes; J_ARRAY/J_OBJECT: children */
    json *items;   /* J_ARRAY/J_OBJECT: children */
    char **keys;   /* J_OBJECT: key of each child */
};

typedef struct json_parser {
    const char *p, *end;
    const char *err; /* first error, NULL if none */
    size_t err_off;
    const char *start;
    int depth;
} json_parser;

#define JSON_MAX_DEPTH 64

static void json_free(json *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; (v->type == J_ARRAY || v->type == J_OBJECT) && i < v->len; i++) {
        json_free(&v->items[i]);
        if (v->keys != NULL)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    memset(v, 0, sizeof *v);
}

static int json_fail(json_parser *jp, const char *msg)
{
    if (jp->err == NULL) {
        jp->err = msg;
        jp->err_off = (size_t)(jp->p - jp->start);
    }
    return -1;
}

static void skip_ws(json_parser *jp)
{
    while (jp->p < jp->end &&
           (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r'))
        jp->p++;
}

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Appends the UTF-8 encoding of cp to buf (room for 4 bytes guaranteed). */
static size_t put_utf8(char *buf, unsigned long cp)
{
    if (cp < 0x80) {
        buf[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        buf[0] = (char)(0xC0 | (cp >> 6));
        buf[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        buf[0] = (char)(0xE0 | (cp >> 12));
        buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    buf[0] = (char)(0xF0 | (cp >> 18));
    buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    buf[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int parse_hex4(json_parser *jp, unsigned long *out)
{
    unsigned long v = 0;
    if (jp->end - jp->p < 4)
        return json_fail(jp, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        int d = hex_digit((unsigned char)jp->p[i]);
        if (d < 0)
            return json_fail(jp, "bad \\u escape");
        v = (v << 4) | (unsigned long)d;
    }
    jp->p += 4;
    *out = v;
    return 0;
}

/* Parses a string starting at the opening quote. The decoded form is never
 * longer than the source, so one allocation of the source length works. */
static int parse_string(json_parser *jp, char **out, size_t *out_len)
{
    jp->p++; /* opening quote */
    const char *q = jp->p;
    while (q < jp->end && *q != '"')
        q += (*q == '\\' && jp->end - q > 1) ? 2 : 1;
    if (q >= jp->end)
        return json_fail(jp, "unterminated string");
    char *buf = malloc((size_t)(q - jp->p) + 1);
    if (buf == NULL)
        return json_fail(jp, "out of memory");
    size_t n = 0;
    while (*jp->p != '"') {
        unsigned char c = (unsigned char)*jp->p++;
        if (c < 0x20) {
            free(buf);
            return json_fail(jp, "control character in string");
        }
        if (c != '\\') {
            buf[n++] = (char)c;
            continue;
        }
        c = (unsigned char)*jp->p++;
        switch (c) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            unsigned long cp;
            if (parse_hex4(jp, &cp) != 0) {
                free(buf);
                return -1;
            }
            /* A \uXXXX escape is 6 source bytes; its UTF-8 form is at most
             * 3 (4 for a surrogate pair, from 12 source bytes). */
            if (cp >= 0xD800 && cp <= 0xDBFF && jp->end - jp->p >= 6 && jp->p[0] == '\\' &&
                jp->p[1] == 'u') {
                unsigned long lo;
                jp->p += 2;
                if (parse_hex4(jp, &lo) != 0) {
                    free(buf);
                    return -1;
                }
                if (lo >= 0xDC00 && lo <= 0xDFFF)
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                else
                    cp = 0xFFFD;
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            n += put_utf8(buf + n, cp);
            break;
        }
        default:
            free(buf);
            return json_fail(jp, "bad escape");
        }
    }
    jp->p++; /* closing quote */
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

static int parse_value(json_parser *jp, json *v);

static int match_word(json_parser *jp, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, w, n) != 0)
        return json_fail(jp, "unexpected token");
    jp->p += n;
    return 0;
}

static int parse_number(json_parser *jp)
{
    if (jp->p < jp->end && *jp->p == '-')
        jp->p++;
    const char *digits = jp->p;
    while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
        jp->p++;
    if (jp->p == digits)
        return json_fail(jp, "bad number");
    if (jp->p < jp->end && *jp->p == '.') {
        jp->p++;
        digits = jp->p;
        while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
            jp->p++;
        if (jp->p == digits)
            return json_fail(jp, "bad number");
    }
    if (jp->p < jp->end && (*jp->p == 'e' || *jp->p == 'E')) {
        jp->p++;
        if (jp->p < jp->end && (*jp->p == '+' || *jp->p == '-'))
            jp->p++;
        digits = jp->p;
        while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
            jp->p++;
        if (jp->p == digits)
            return json_fail(jp, "bad number");
    }
    return 0;
}

/* Grows the child arrays of an array/object by one slot. */
static json *add_child(json_parser *jp, json *v, size_t *cap)
{
    if (v->len == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        json *items = realloc(v->items, ncap * sizeof *items);
        if (items == NULL) {
            json_fail(jp, "out of memory");
            return NULL;
        }
        v->items = items;
        if (v->type == J_OBJECT) {
            char **keys = realloc(v->keys, ncap * sizeof *keys);
            if (keys == NULL) {
                json_fail(jp, "out of memory");
                return NULL;
            }
            v->keys = keys;
        }
        *cap = ncap;
    }
    json *c = &v->items[v->len];
    memset(c, 0, sizeof *c);
    if (v->type == J_OBJECT)
        v->keys[v->len] = NULL;
    v->len++;
    return c;
}

/* Parses the members of an array or object after its opening bracket.
 * Children are added to v as they are parsed, so json_free(v) cleans up
 * after an error at any point. */
static int parse_container(json_parser *jp, json *v, char close)
{
    size_t cap = 0;
    jp->p++; /* opening bracket */
    skip_ws(jp);
    if (jp->p < jp->end && *jp->p == close) {
        jp->p++;
        return 0;
    }
    for (;;) {
        json *c = add_child(jp, v, &cap);
        if (c == NULL)
            return -1;
        if (v->type == J_OBJECT) {
            size_t klen;
            skip_ws(jp);
            if (jp->p >= jp->end || *jp->p != '"')
                return json_fail(jp, "expected object key");
            if (parse_string(jp, &v->keys[v->len - 1], &klen) != 0)
                return -1;
            skip_ws(jp);
            if (jp->p >= jp->end || *jp->p != ':')
                return json_fail(jp, "expected ':'");
            jp->p++;
        }
        if (parse_value(jp, c) != 0)
            return -1;
        skip_ws(jp);
        if (jp->p >= jp->end)
            return json_fail(jp, "unterminated array or object");
        if (*jp->p == close) {
            jp->p++;
            return 0;
        }
        if (*jp->p != ',')
            return json_fail(jp, "expected ',' or closing bracket");
        jp->p++;
    }
}

static int parse_value(json_parser *jp, json *v)
{
    skip_ws(jp);
    if (jp->p >= jp->end)
        return json_fail(jp, "unexpected end of input");
    if (jp->depth >= JSON_MAX_DEPTH)
        return json_fail(jp, "nesting too deep");
    int rc;
    switch (*jp->p) {
    case '{':
    case '[':
        v->type = *jp->p == '{' ? J_OBJECT : J_ARRAY;
        jp->depth++;
        rc = parse_container(jp, v, *jp->p == '{' ? '}' : ']');
        jp->depth--;
        return rc;
    case '"':
        v->type = J_STRING;
        return parse_string(jp, &v->str, &v->len);
    case 't':
        v->type = J_BOOL;
        return match_word(jp, "true");
    case 'f':
        v->type = J_BOOL;
        return match_word(jp, "false");
    case 'n':
        v->type = J_NULL;
        return match_word(jp, "null");
    default:
        v->type = J_NUMBER;
        return parse_number(jp);
    }
}

/* Parses a whole document. On error returns -1 with *err set; root is
 * left empty. */
static int json_parse(const char *text, size_t len, json *root, const char **err,
                      size_t *err_off)
{
    json_parser jp = {text, text + len, NULL, 0, text, 0};
    memset(root, 0, sizeof *root);
    int rc = parse_value(&jp, root);
    if (rc == 0) {
        skip_ws(&jp);
        if (jp.p != jp.end)
            rc = json_fail(&jp, "trailing data after document");
    }
    if (rc != 0) {
        json_free(root);
        *err = jp.err;
        *err_off = jp.err_off;
    }
    return rc;
}

static const json *json_get(const json *obj, const char *key)
{
    if (obj == NULL || obj->type != J_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->len; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return &obj->items[i];
    return NULL;
}

/* ---------------------------------------------------------------------
 * Vector replay
 * ------------------------------------------------------------------- */

/* Protocols this implementation must support; a vector naming any other
 * protocol that init refuses is skipped, one of these is a failure. */
static const char supported_patterns[][5] = {
    "NN",  "NK",  "NX",   "XN",   "XK",   "XX",  "KN",   "KK",   "KX",  "IN",
    "IK",  "IX",  "N",    "K",    "X",    "NK1", "NX1",  "X1N",  "X1K", "XK1",
    "X1K1", "X1X", "XX1", "X1X1", "K1N",  "K1K", "KK1",  "K1K1", "K1X", "KX1",
    "K1X1", "I1N", "I1K", "IK1",  "I1K1", "I1X", "IX1",  "I1X1",
};

static int is_supported_name(const char *name)
{
    char buf[64];
    for (size_t i = 0; i < sizeof supported_patterns / sizeof supported_patterns[0]; i++) {
        snprintf(buf, sizeof buf, "Noise_%.4s_25519_ChaChaPoly_SHA256", supported_patterns[i]);
        if (strcmp(buf, name) == 0)
            return 1;
    }
    return 0;
}

/* One-way patterns: a single letter after "Noise_". */
static int is_one_way(const char *name)
{
    return strncmp(name, "Noise_", 6) == 0 && name[6] != '\0' && name[7] == '_';
}

typedef struct bytes {
    uint8_t *p;
    size_t len;
    int present;
} bytes;

typedef struct vector_ctx {
    const char *file;
    size_t index;
    const char *name;
    int failed; /* a failure was already reported for this vector */
} vector_ctx;

static void report(vector_ctx *vc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void report(vector_ctx *vc, const char *fmt, ...)
{
    va_list ap;
    if (vc->failed)
        return; /* one line per failing vector */
    vc->failed = 1;
    printf("FAIL %s vector %zu (%s): ", vc->file, vc->index, vc->name ? vc->name : "?");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* Decodes an optional hex string field. Returns -1 if the field exists but
 * is not a valid hex string. */
static int get_hex(const json *obj, const char *key, bytes *out)
{
    const json *v = json_get(obj, key);
    memset(out, 0, sizeof *out);
    if (v == NULL)
        return 0;
    if (v->type != J_STRING || v->len % 2 != 0)
        return -1;
    out->p = malloc(v->len / 2 + 1);
    if (out->p == NULL)
        return -1;
    for (size_t i = 0; i < v->len / 2; i++) {
        int hi = hex_digit((unsigned char)v->str[2 * i]);
        int lo = hex_digit((unsigned char)v->str[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out->p);
            out->p = NULL;
            return -1;
        }
        out->p[i] = (uint8_t)(hi << 4 | lo);
    }
    out->len = v->len / 2;
    out->present = 1;
    return 0;
}

static void bytes_free(bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

enum { F_I_PRO, F_R_PRO, F_I_S, F_I_E, F_I_RS, F_R_S, F_R_E, F_R_RS, F_HASH, F_COUNT };
static const char field_names[F_COUNT][24] = {
    "init_prologue", "resp_prologue", "init_static", "init_ephemeral", "init_remote_static",
    "resp_static", "resp_ephemeral", "resp_remote_static", "handshake_hash",
};

/* Keys (private scalars, public keys, hash) must be exactly 32 bytes. */
static int key_ok(const bytes *b)
{
    return !b->present || b->len == 32;
}

static const uint8_t *opt(const bytes *b)
{
    return b->present ? b->p : NULL;
}

static void report_diff(vector_ctx *vc, const char *what, size_t msg, const uint8_t *got,
                         size_t got_len, const uint8_t *want, size_t want_len)
{
    size_t i = 0;
    while (i < got_len && i < want_len && got[i] == want[i])
        i++;
    report(vc, "message %zu: %s differs (got %zu bytes, want %zu, first difference at %zu)",
           msg, what, got_len, want_len, i);
}

/* Runs one handshake message from writer to reader and checks it. */
static int run_handshake_msg(vector_ctx *vc, size_t i, chat_handshake *w, chat_handshake *r,
                             const bytes *payload, const bytes *ct, uint8_t *buf, uint8_t *pbuf)
{
    size_t len = 0, plen = 0;
    int rc;
    if (!chat_handshake_my_turn(w) || chat_handshake_my_turn(r)) {
        report(vc, "message %zu: turn order mismatch", i);
        return -1;
    }
    rc = chat_handshake_write(w, payload->p, payload->len, buf, CHAT_NOISE_MAX_MSG, &len);
    if (rc != CHAT_OK) {
        report(vc, "message %zu: handshake write failed (%d)", i, rc);
        return -1;
    }
    if (len != ct->len || memcmp(buf, ct->p, len) != 0) {
        report_diff(vc, "handshake ciphertext", i, buf, len, ct->p, ct->len);
        return -1;
    }
    rc = chat_handshake_read(r, ct->p, ct->len, pbuf, CHAT_NOISE_MAX_MSG, &plen);
    if (rc != CHAT_OK) {
        report(vc, "message %zu: handshake read failed (%d)", i, rc);
        return -1;
    }
    if (plen != payload->len || memcmp(pbuf, payload->p, plen) != 0) {
        report_diff(vc, "decrypted handshake payload", i, pbuf, plen, payload->p, payload->len);
        return -1;
    }
    return 0;
}

static int run_transport_msg(vector_ctx *vc, size_t i, chat_cipher *send, chat_cipher *recv,
                             const bytes *payload, const bytes *ct, uint8_t *buf, uint8_t *pbuf)
{
    int rc;
    if (payload->len + CHAT_NOISE_TAGLEN > CHAT_NOISE_MAX_MSG) {
        report(vc, "message %zu: payload too large", i);
        return -1;
    }
    rc = chat_cipher_encrypt(send, NULL, 0, payload->p, payload->len, buf);
    if (rc != CHAT_OK) {
        report(vc, "message %zu: transport encrypt failed (%d)", i, rc);
        return -1;
    }
    size_t len = payload->len + CHAT_NOISE_TAGLEN;
    if (len != ct->len || memcmp(buf, ct->p, len) != 0) {
        report_diff(vc, "transport ciphertext", i, buf, len, ct->p, ct->len);
        return -1;
    }
    if (ct->len < CHAT_NOISE_TAGLEN) {
        report(vc, "message %zu: transport ciphertext too short", i);
        return -1;
    }
    rc = chat_cipher_decrypt(recv, NULL, 0, ct->p, ct->len, pbuf);
    if (rc != CHAT_OK) {
        report(vc, "message %zu: transport decrypt failed (%d)", i, rc);
        return -1;
    }
    if (memcmp(pbuf, payload->p, payload->len) != 0) {
        report(vc, "message %zu: decrypted transport payload differs", i);
        return -1;
    }
    return 0;
}

/* The transcript: both sides agree on what they learnt of each other. */
static int check_statics(vector_ctx *vc, const chat_handshake *a, const chat_handshake *b)
{
    const uint8_t *a_rs = chat_handshake_remote_static(a);
    const uint8_t *b_s = chat_handshake_local_static(b);
    if (a_rs != NULL && (b_s == NULL || memcmp(a_rs, b_s, CHAT_NOISE_DHLEN) != 0)) {
        report(vc, "remote static key does not match the peer's");
        return -1;
    }
    return 0;
}

typedef struct run_state {
    chat_handshake ini, res;
    chat_cipher i_send, i_recv, r_send, r_recv;
    uint8_t *buf, *pbuf;
} run_state;

/* Replays the messages. Returns 0 on success (a failure is reported). */
static int replay(vector_ctx *vc, run_state *st, const json *msgs, const bytes *hash)
{
    int one_way = is_one_way(vc->name);
    int split = 0;
    for (size_t i = 0; i < msgs->len; i++) {
        bytes payload = {NULL, 0, 0}, ct = {NULL, 0, 0};
        int rc = 0;
        const json *m = &msgs->items[i];
        if (get_hex(m, "payload", &payload) != 0 || get_hex(m, "ciphertext", &ct) != 0 ||
            !payload.present || !ct.present) {
            bytes_free(&payload);
            bytes_free(&ct);
            report(vc, "message %zu: missing or malformed payload/ciphertext", i);
            return -1;
        }
        int from_initiator = one_way || i % 2 == 0;
        if (!chat_handshake_done(&st->ini) || !chat_handshake_done(&st->res)) {
            chat_handshake *w = from_initiator ? &st->ini : &st->res;
            chat_handshake *r = from_initiator ? &st->res : &st->ini;
            rc = run_handshake_msg(vc, i, w, r, &payload, &ct, st->buf, st->pbuf);
        } else {
            if (!split) {
                if (chat_handshake_split(&st->ini, &st->i_send, &st->i_recv) != CHAT_OK ||
                    chat_handshake_split(&st->res, &st->r_recv, &st->r_send) != CHAT_OK) {
                    report(vc, "split failed");
                    rc = -1;
                }
                split = 1;
            }
            if (rc == 0 && from_initiator)
                rc = run_transport_msg(vc, i, &st->i_send, &st->r_recv, &payload, &ct, st->buf,
                                       st->pbuf);
            else if (rc == 0)
                rc = run_transport_msg(vc, i, &st->r_send, &st->i_recv, &payload, &ct, st->buf,
                                       st->pbuf);
        }
        bytes_free(&payload);
        bytes_free(&ct);
        if (rc != 0)
            return -1;
    }
    if (!chat_handshake_done(&st->ini) || !chat_handshake_done(&st->res)) {
        report(vc, "vector ends before the handshake completes");
        return -1;
    }
    if (hash->present &&
        (memcmp(chat_handshake_hash(&st->ini), hash->p, CHAT_NOISE_HASHLEN) != 0 ||
         memcmp(chat_handshake_hash(&st->res), hash->p, CHAT_NOISE_HASHLEN) != 0)) {
        report(vc, "handshake hash differs");
        return -1;
    }
    if (check_statics(vc, &st->ini, &st->res) != 0 || check_statics(vc, &st->res, &st->ini) != 0)
        return -1;
    return 0;
}

enum { R_PASS, R_FAIL, R_SKIP };

static int run_vector(vector_ctx *vc, const json *vec)
{
    bytes f[F_COUNT];
    run_state st;
    int result = R_FAIL;

    memset(f, 0, sizeof f);
    memset(&st, 0, sizeof st);
    if (vec->type != J_OBJECT) {
        report(vc, "vector is not an object");
        return R_FAIL;
    }
    const json *jname = json_get(vec, "protocol_name");
    const json *msgs = json_get(vec, "messages");
    if (jname == NULL || jname->type != J_STRING || strlen(jname->str) != jname->len) {
        report(vc, "missing protocol_name");
        return R_FAIL;
    }
    vc->name = jname->str;
    if (msgs == NULL || msgs->type != J_ARRAY) {
        report(vc, "missing messages");
        return R_FAIL;
    }
    for (int i = 0; i < F_COUNT; i++) {
        if (get_hex(vec, field_names[i], &f[i]) != 0) {
            report(vc, "malformed field %s", field_names[i]);
            goto out;
        }
    }
    for (int i = F_I_S; i < F_COUNT; i++) {
        if (!key_ok(&f[i])) {
            report(vc, "field %s is not 32 bytes", field_names[i]);
            goto out;
        }
    }

    chat_rng rng = {NULL, NULL};
    int rc_i = chat_handshake_init(&st.ini, vc->name, 1, f[F_I_PRO].p, f[F_I_PRO].len,
                                   opt(&f[F_I_S]), opt(&f[F_I_RS]), rng);
    int rc_r = chat_handshake_init(&st.res, vc->name, 0, f[F_R_PRO].p, f[F_R_PRO].len,
                                   opt(&f[F_R_S]), opt(&f[F_R_RS]), rng);
    if (rc_i != CHAT_OK || rc_r != CHAT_OK) {
        if ((rc_i == CHAT_E_INVAL || rc_r == CHAT_E_INVAL) && !is_supported_name(vc->name)) {
            result = R_SKIP;
        } else {
            report(vc, "handshake init failed (initiator %d, responder %d)", rc_i, rc_r);
        }
        goto out;
    }
    if (f[F_I_E].present)
        chat_handshake_set_ephemeral(&st.ini, f[F_I_E].p);
    if (f[F_R_E].present)
        chat_handshake_set_ephemeral(&st.res, f[F_R_E].p);

    st.buf = malloc(CHAT_NOISE_MAX_MSG);
    st.pbuf = malloc(CHAT_NOISE_MAX_MSG);
    if (st.buf == NULL || st.pbuf == NULL) {
        report(vc, "out of memory");
        goto out;
    }
    if (replay(vc, &st, msgs, &f[F_HASH]) == 0)
        result = R_PASS;

out:
    free(st.buf);
    free(st.pbuf);
    chat_handshake_wipe(&st.ini);
    chat_handshake_wipe(&st.res);
    chat_cipher_wipe(&st.i_send);
    chat_cipher_wipe(&st.i_recv);
    chat_cipher_wipe(&st.r_send);
    chat_cipher_wipe(&st.r_recv);
    for (int i = 0; i < F_COUNT; i++)
        bytes_free(&f[i]);
    return result;
}

/* Reads a whole file; NULL on error. */
static char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap)
            break;
        char *nbuf = realloc(buf, cap * 2);
        if (nbuf == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nbuf;
        cap *= 2;
    }
    int err = ferror(fp);
    fclose(fp);
    if (err) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

typedef struct totals {
    unsigned long passed, failed, skipped;
} totals;

static void run_file(const char *path, totals *t)
{
    size_t len = 0, err_off = 0;
    const char *err = NULL;
    json root;
    char *text = read_file(path, &len);
    if (text == NULL) {
        printf("FAIL %s: cannot read file\n", path);
        t->failed++;
        return;
    }
    if (json_parse(text, len, &root, &err, &err_off) != 0) {
        printf("FAIL %s: JSON error at byte %zu: %s\n", path, err_off, err);
        free(text);
        t->failed++;
        return;
    }
    free(text);
    const json *vecs = json_get(&root, "vectors");
    if (vecs == NULL || vecs->type != J_ARRAY) {
        printf("FAIL %s: no \"vectors\" array\n", path);
        t->failed++;
        json_free(&root);
        return;
    }
    for (size_t i = 0; i < vecs->len; i++) {
        vector_ctx vc = {path, i, NULL, 0};
        switch (run_vector(&vc, &vecs->items[i])) {
        case R_PASS: t->passed++; break;
        case R_SKIP: t->skipped++; break;
        default: t->failed++; break;
        }
    }
    json_free(&root);
}

int main(int argc, char **argv)
{
    totals t = {0, 0, 0};
    if (argc < 2) {
        fprintf(stderr, "usage: %s VECTORS.json [VECTORS.json ...]\n", argv[0]);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "sodium_init failed\n");
        return 2;
    }
    for (int i = 1; i < argc; i++)
        run_file(argv[i], &t);
    printf("%lu passed, %lu failed", t.passed, t.failed);
    if (t.skipped)
        printf(", %lu skipped", t.skipped);
    printf("\n");
    return t.failed == 0 && t.passed > 0 ? 0 : 1;
}
