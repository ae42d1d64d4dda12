/* A raw client-role protocol driver for tests (see peer.h). */
#include "peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* ---------------------------------------------------------------------
 * Deterministic rng
 * ------------------------------------------------------------------- */

void test_rng_init(test_rng *r, uint64_t seed)
{
    uint8_t s[8];
    for (int i = 0; i < 8; i++)
        s[i] = (uint8_t)(seed >> (8 * i));
    if (sodium_init() < 0)
        abort();
    crypto_hash_sha256(r->key, s, sizeof s);
    r->counter = 0;
}

void test_rng_fill(void *ctx, uint8_t *buf, size_t len)
{
    test_rng *r = ctx;
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
    memset(nonce, 0, sizeof nonce);
    for (size_t i = 0; i < 8 && i < sizeof nonce; i++)
        nonce[i] = (uint8_t)(r->counter >> (8 * i));
    r->counter++;
    crypto_stream_chacha20(buf, len, nonce, r->key);
}

chat_rng test_rng_of(test_rng *r)
{
    chat_rng g = {test_rng_fill, r};
    return g;
}

/* ---------------------------------------------------------------------
 * Peer
 * ------------------------------------------------------------------- */

typedef struct pmsg {
    uint8_t *raw; /* [type][body] */
    size_t n;
} pmsg;

typedef struct pbuf {
    uint8_t *p;
    size_t len, cap;
} pbuf;

struct peer {
    test_rng rng;
    uint8_t spriv[32];
    chat_handshake hs;
    int hs_started, hs2, keys, broken, rejected, goodbye;
    uint16_t goodbye_code;
    chat_reject reject;
    uint8_t reject_text[256];
    uint8_t version;
    uint8_t server_key[32];
    uint8_t h[32];
    chat_cipher tx, rx;
    char user[CHAT_NAME_MAX + 1];
    pbuf out, pt, in;
    pmsg *q;
    size_t q_n, q_cap, q_pos;
    chat_msg last;
    size_t frames, messages;
    chat_hub *hub;
    chat_conn_id id;
    const chat_time *clock;
};

static int pbuf_add(pbuf *b, const void *d, size_t n)
{
    if (n == 0)
        return 0;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (np == NULL)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    return 0;
}

static void pbuf_free(pbuf *b)
{
    if (b->p != NULL)
        sodium_memzero(b->p, b->cap);
    free(b->p);
    memset(b, 0, sizeof *b);
}

peer *peer_new(uint64_t seed)
{
    peer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    test_rng_init(&p->rng, seed ^ 0x5045455200000000ULL);
    test_rng_fill(&p->rng, p->spriv, sizeof p->spriv);
    return p;
}

void peer_free(peer *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->q_n; i++)
        free(p->q[i].raw);
    free(p->q);
    pbuf_free(&p->out);
    pbuf_free(&p->pt);
    pbuf_free(&p->in);
    chat_handshake_wipe(&p->hs);
    sodium_memzero(p, sizeof *p);
    free(p);
}

static int add_frame(peer *p, uint8_t type, const uint8_t *body, size_t n)
{
    if (n > CHAT_FRAME_BODY_MAX)
        return -1;
    uint8_t hdr[CHAT_FRAME_HEADER];
    chat_frame_header(hdr, type, n);
    if (pbuf_add(&p->out, hdr, sizeof hdr) != 0 || pbuf_add(&p->out, body, n) != 0)
        return -1;
    return 0;
}

int peer_hs1(peer *p, uint8_t vmin, uint8_t vmax)
{
    if (chat_handshake_init(&p->hs, CHAT_NOISE_PROTOCOL, 1, (const uint8_t *)CHAT_PROLOGUE,
                            CHAT_PROLOGUE_LEN, p->spriv, NULL, test_rng_of(&p->rng)) != CHAT_OK)
        return -1;
    p->hs_started = 1;
    uint8_t payload[CHAT_HS1_PAYLOAD_LEN];
    chat_hs1_payload_encode(payload, vmin, vmax);
    uint8_t msg[128];
    size_t len = 0;
    if (chat_handshake_write(&p->hs, payload, sizeof payload, msg, sizeof msg, &len) != CHAT_OK)
        return -1;
    return add_frame(p, CHAT_FRAME_HS1, msg, len);
}

int peer_hs3_payload(peer *p, const uint8_t *payload, size_t n)
{
    if (!p->hs2 || p->keys)
        return -1;
    uint8_t *msg = malloc(n + 128);
    if (msg == NULL)
        return -1;
    size_t len = 0;
    int rc = chat_handshake_write(&p->hs, payload, n, msg, n + 128, &len);
    if (rc == CHAT_OK)
        rc = add_frame(p, CHAT_FRAME_HS3, msg, len);
    free(msg);
    if (rc != CHAT_OK)
        return -1;
    memcpy(p->h, chat_handshake_hash(&p->hs), sizeof p->h);
    if (chat_handshake_split(&p->hs, &p->tx, &p->rx) != CHAT_OK)
        return -1;
    chat_handshake_wipe(&p->hs);
    p->keys = 1;
    return 0;
}

static int encode(const chat_msg *m, uint8_t *buf, size_t cap, size_t *n)
{
    return chat_msg_encode(m, buf, cap, n) == CHAT_OK ? 0 : -1;
}

static chat_msg login_msg(const char *user)
{
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_LOGIN;
    m.u.login.user.p = (const uint8_t *)user;
    m.u.login.user.n = strlen(user);
    return m;
}

static void set_user(peer *p, const char *user)
{
    size_t n = strlen(user);
    if (n > CHAT_NAME_MAX)
        n = CHAT_NAME_MAX;
    memcpy(p->user, user, n);
    p->user[n] = '\0';
}

int peer_hs3(peer *p, const char *user)
{
    chat_msg m = login_msg(user);
    uint8_t buf[64];
    size_t n = 0;
    if (encode(&m, buf, sizeof buf, &n) != 0)
        return -1;
    set_user(p, user);
    return peer_hs3_payload(p, buf, n);
}

int peer_queue(peer *p, const chat_msg *m)
{
    const size_t cap = CHAT_MSG_MAX;
    uint8_t *buf = malloc(cap);
    size_t n = 0;
    int rc = buf != NULL ? encode(m, buf, cap, &n) : -1;
    if (rc == 0)
        rc = pbuf_add(&p->pt, buf, n);
    free(buf);
    return rc;
}

int peer_seal_plain(peer *p, const uint8_t *pt, size_t n)
{
    if (!p->keys || n > CHAT_TRANSPORT_PLAIN_MAX)
        return -1;
    uint8_t *ct = malloc(n + CHAT_NOISE_TAGLEN);
    if (ct == NULL)
        return -1;
    int rc = chat_cipher_encrypt(&p->tx, NULL, 0, pt, n, ct) == CHAT_OK ? 0 : -1;
    if (rc == 0)
        rc = add_frame(p, CHAT_FRAME_TRANSPORT, ct, n + CHAT_NOISE_TAGLEN);
    free(ct);
    return rc;
}

int peer_seal(peer *p)
{
    if (p->pt.len == 0)
        return 0;
    int rc = peer_seal_plain(p, p->pt.p, p->pt.len);
    p->pt.len = 0;
    return rc;
}

int peer_send_frame(peer *p, uint8_t type, const uint8_t *body, size_t n)
{
    if (add_frame(p, type, body, n) != 0)
        return -1;
    return peer_flush(p);
}

int peer_send_raw(peer *p, const uint8_t *bytes, size_t n)
{
    if (pbuf_add(&p->out, bytes, n) != 0)
        return -1;
    return peer_flush(p);
}

int peer_prove(peer *p, const chat_msg *ch, const char *password)
{
    if (ch == NULL || ch->type != CHAT_MSG_CHALLENGE)
        return -1;
    uint8_t seed[CHAT_SEED_LEN];
    if (chat_seed_derive(seed, (const uint8_t *)password, strlen(password),
                         ch->u.challenge.salt, ch->u.challenge.opslimit,
                         ch->u.challenge.memlimit_kib) != CHAT_OK)
        return -1;
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_PROOF;
    int rc = chat_proof_sign(m.u.proof.sig, seed, p->h, (const uint8_t *)p->user,
                             strlen(p->user));
    sodium_memzero(seed, sizeof seed);
    if (rc != CHAT_OK)
        return -1;
    if (peer_queue(p, &m) != 0)
        return -1;
    return peer_seal(p);
}

int peer_relogin(peer *p, const char *user)
{
    chat_msg m = login_msg(user);
    set_user(p, user);
    if (peer_queue(p, &m) != 0)
        return -1;
    return peer_seal(p);
}

const uint8_t *peer_out(const peer *p, size_t *n)
{
    *n = p->out.len;
    return p->out.p;
}

void peer_out_consume(peer *p, size_t n)
{
    if (n >= p->out.len) {
        p->out.len = 0;
        return;
    }
    memmove(p->out.p, p->out.p + n, p->out.len - n);
    p->out.len -= n;
}

static int push_msg(peer *p, const uint8_t *raw, size_t n)
{
    chat_msg m;
    if (chat_msg_decode(raw, n, &m) != CHAT_OK)
        return -1;
    if (p->q_n == p->q_cap) {
        size_t cap = p->q_cap ? p->q_cap * 2 : 64;
        pmsg *nq = realloc(p->q, cap * sizeof *nq);
        if (nq == NULL)
            return -1;
        p->q = nq;
        p->q_cap = cap;
    }
    uint8_t *copy = malloc(n);
    if (copy == NULL)
        return -1;
    memcpy(copy, raw, n);
    p->q[p->q_n].raw = copy;
    p->q[p->q_n].n = n;
    p->q_n++;
    p->messages++;
    if (m.type == CHAT_MSG_GOODBYE) {
        p->goodbye = 1;
        p->goodbye_code = m.u.goodbye.code;
    }
    return 0;
}

static int on_frame(peer *p, const chat_frame *f)
{
    switch (f->type) {
    case CHAT_FRAME_HS2: {
        if (!p->hs_started || p->hs2)
            return -1;
        uint8_t payload[128];
        size_t plen = 0;
        if (chat_handshake_read(&p->hs, f->body, f->body_len, payload, sizeof payload, &plen) !=
                CHAT_OK ||
            plen != CHAT_HS2_PAYLOAD_LEN)
            return -1;
        p->version = payload[0];
        memcpy(p->server_key, chat_handshake_remote_static(&p->hs), 32);
        p->hs2 = 1;
        return 0;
    }
    case CHAT_FRAME_REJECT: {
        chat_reject r;
        if (chat_reject_decode(f->body, f->body_len, &r) != CHAT_OK)
            return -1;
        p->reject = r;
        memcpy(p->reject_text, r.text.p, r.text.n);
        p->reject.text.p = p->reject_text;
        p->rejected = 1;
        return 0;
    }
    case CHAT_FRAME_TRANSPORT: {
        if (!p->keys || f->body_len < CHAT_NOISE_TAGLEN)
            return -1;
        size_t n = f->body_len - CHAT_NOISE_TAGLEN;
        uint8_t *pt = malloc(n + 1);
        if (pt == NULL)
            return -1;
        int rc = chat_cipher_decrypt(&p->rx, NULL, 0, f->body, f->body_len, pt);
        if (rc == CHAT_OK && n == 0)
            rc = -1;
        size_t off = 0;
        while (rc == CHAT_OK && off < n) {
            if (n - off < 2) {
                rc = -1;
                break;
            }
            size_t mlen = (size_t)pt[off] << 8 | pt[off + 1];
            if (mlen < 1 || mlen > n - off - 2) {
                rc = -1;
                break;
            }
            rc = push_msg(p, pt + off + 2, mlen);
            off += 2 + mlen;
        }
        free(pt);
        if (rc != CHAT_OK)
            return -1;
        p->frames++;
        return 0;
    }
    default:
        return -1;
    }
}

int peer_recv(peer *p, const uint8_t *bytes, size_t n)
{
    if (p->broken)
        return -1;
    if (pbuf_add(&p->in, bytes, n) != 0) {
        p->broken = 1;
        return -1;
    }
    size_t off = 0;
    while (off < p->in.len) {
        chat_frame f;
        size_t used = 0;
        int rc = chat_frame_decode(p->in.p + off, p->in.len - off, &f, &used);
        if (rc == CHAT_E_AGAIN)
            break;
        if (rc != CHAT_OK || on_frame(p, &f) != 0) {
            p->broken = 1;
            return -1;
        }
        off += used;
    }
    memmove(p->in.p, p->in.p + off, p->in.len - off);
    p->in.len -= off;
    return 0;
}

size_t peer_pending(const peer *p)
{
    return p->q_n - p->q_pos;
}

int peer_next(peer *p, chat_msg *m)
{
    if (p->q_pos >= p->q_n)
        return 0;
    const pmsg *e = &p->q[p->q_pos++];
    if (chat_msg_decode(e->raw, e->n, &p->last) != CHAT_OK)
        return 0;
    if (m != NULL)
        *m = p->last;
    return 1;
}

const chat_msg *peer_expect(peer *p, uint8_t type)
{
    if (!peer_next(p, NULL)) {
        fprintf(stderr, "peer: expected %s, got nothing\n", chat_msg_name(type));
        return NULL;
    }
    if (p->last.type != type) {
        const char *got = chat_msg_name(p->last.type);
        fprintf(stderr, "peer: expected %s, got %s", chat_msg_name(type), got ? got : "?");
        if (p->last.type == CHAT_MSG_ERROR)
            fprintf(stderr, " (code %u)", p->last.u.error.code);
        if (p->last.type == CHAT_MSG_GOODBYE)
            fprintf(stderr, " (code %u)", p->last.u.goodbye.code);
        fprintf(stderr, "\n");
        return NULL;
    }
    return &p->last;
}

void peer_drain(peer *p)
{
    p->q_pos = p->q_n;
}

const chat_msg *peer_last(const peer *p)
{
    return &p->last;
}

int peer_has_hs2(const peer *p)
{
    return p->hs2;
}

uint8_t peer_version(const peer *p)
{
    return p->version;
}

const uint8_t *peer_server_key(const peer *p)
{
    return p->server_key;
}

const uint8_t *peer_hash(const peer *p)
{
    return p->h;
}

int peer_rejected(const peer *p, chat_reject *r)
{
    if (p->rejected && r != NULL)
        *r = p->reject;
    return p->rejected;
}

int peer_got_goodbye(const peer *p, uint16_t *code)
{
    if (p->goodbye && code != NULL)
        *code = p->goodbye_code;
    return p->goodbye;
}

size_t peer_frames(const peer *p)
{
    return p->frames;
}

size_t peer_messages(const peer *p)
{
    return p->messages;
}

int peer_broken(const peer *p)
{
    return p->broken;
}

/* ---------------------------------------------------------------------
 * Hub binding
 * ------------------------------------------------------------------- */

int peer_attach(peer *p, chat_hub *hub, const chat_time *clock, const uint8_t *addr,
                size_t addr_len)
{
    p->hub = hub;
    p->clock = clock;
    return chat_hub_accept(hub, addr, addr_len, *clock, &p->id);
}

chat_conn_id peer_id(const peer *p)
{
    return p->id;
}

int peer_flush(peer *p)
{
    if (p->hub == NULL || p->out.len == 0)
        return CHAT_OK;
    int rc = chat_hub_feed(p->hub, p->id, p->out.p, p->out.len, *p->clock);
    p->out.len = 0;
    return rc;
}

size_t peer_pump(peer *p)
{
    size_t total = 0;
    for (;;) {
        size_t n = 0;
        const uint8_t *b = chat_hub_out_peek(p->hub, p->id, &n);
        if (b == NULL || n == 0)
            break;
        (void)peer_recv(p, b, n);
        chat_hub_out_ack(p->hub, p->id, n);
        total += n;
    }
    return total;
}

size_t peer_peek_only(peer *p)
{
    size_t n = 0;
    (void)chat_hub_out_peek(p->hub, p->id, &n);
    return n;
}

void peer_sync(peer *p)
{
    (void)peer_flush(p);
    (void)peer_pump(p);
}

int peer_handshake(peer *p)
{
    if (peer_hs1(p, CHAT_VERSION_MIN, CHAT_VERSION_MAX) != 0)
        return -1;
    peer_sync(p);
    return p->hs2 ? 0 : -1;
}

int peer_login(peer *p, const char *user, const char *password)
{
    if (!p->keys) {
        if (!p->hs2 && peer_handshake(p) != 0)
            return -1;
        if (peer_hs3(p, user) != 0)
            return -1;
    } else if (peer_relogin(p, user) != 0) {
        return -1;
    }
    peer_sync(p);
    const chat_msg *ch = peer_expect(p, CHAT_MSG_CHALLENGE);
    if (ch == NULL || peer_prove(p, ch, password) != 0)
        return -1;
    peer_sync(p);
    chat_msg m;
    if (!peer_next(p, &m))
        return -1;
    if (m.type == CHAT_MSG_WELCOME)
        return 0;
    if (m.type == CHAT_MSG_LOGIN_FAILED)
        return m.u.login_failed.code;
    return -1;
}

int peer_send(peer *p, const chat_msg *m)
{
    if (peer_queue(p, m) != 0 || peer_seal(p) != 0)
        return -1;
    return peer_flush(p);
}

unsigned peer_state(const peer *p)
{
    return chat_hub_conn_state(p->hub, p->id);
}

int peer_closed(const peer *p)
{
    return (peer_state(p) & CHAT_CONN_CLOSED) != 0;
}

void peer_release(peer *p)
{
    chat_hub_release(p->hub, p->id, *p->clock);
}

static chat_str cstr(const char *s)
{
    chat_str r = {(const uint8_t *)s, strlen(s)};
    return r;
}

int peer_join(peer *p, uint32_t req, const char *room)
{
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_JOIN;
    m.req = req;
    m.u.room.room = cstr(room);
    return peer_send(p, &m);
}

int peer_part(peer *p, uint32_t req, const char *room)
{
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_PART;
    m.req = req;
    m.u.room.room = cstr(room);
    return peer_send(p, &m);
}

int peer_say(peer *p, uint32_t req, const char *target, const char *text)
{
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_SEND;
    m.req = req;
    m.u.send.kind = CHAT_KIND_SAY;
    m.u.send.target = cstr(target);
    m.u.send.text = cstr(text);
    return peer_send(p, &m);
}

int peer_ping(peer *p, uint32_t req)
{
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_PING;
    m.req = req;
    return peer_send(p, &m);
}
