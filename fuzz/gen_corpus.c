/* gen_corpus: seed corpora for every harness, from real sessions.
 *
 *   fuzz_gen_corpus OUTDIR [TRANSCRIPTS]
 *
 * Runs a scripted multi-user session between the fixture hub and fixture
 * clients (fixture.h) in memory, recording every connection's byte
 * streams, and writes, one file per input, named by the SHA-256 of its
 * content (so reruns are idempotent and duplicates collapse):
 *
 *   OUTDIR/hub_raw/           client->server streams, whole and chunked
 *   OUTDIR/client_raw/        server->client streams
 *   OUTDIR/hub_post_aead/     client->server plaintexts after the handshake,
 *                             as [mode][flags len plaintext]... records
 *   OUTDIR/client_post_aead/  server->client plaintexts, likewise
 *   OUTDIR/frame/             every frame seen, and a few broken ones
 *   OUTDIR/msg/               every message seen, whole plaintexts (0xF0),
 *                             REJECT bodies (0xF1), HS1 payloads (0xF2),
 *                             field samples (0xF3), list entries (0xF4)
 *   OUTDIR/hub_ops/           scenarios compiled to hub_ops.h scripts
 *
 * Because the fixture's keys and random source are fixed, every recorded
 * stream replays exactly against a fresh fixture hub or client.
 *
 * With TRANSCRIPTS (conformance/transcripts), every *.chat below it is
 * read with the conformance runner's parser and also gives:
 *
 *   OUTDIR/transcript/        the file itself (fuzz_transcript)
 *   OUTDIR/hub_raw/, frame/   client->server bytes: the c>s lines of the
 *                             known-answer transcripts, and raw steps
 *   OUTDIR/client_raw/, frame/  server->client bytes: s>c lines, and the raw
 *                             steps of a server actor
 *   OUTDIR/frame/             send-frame steps
 *   OUTDIR/msg/               send-plain plaintexts and their messages,
 *                             REJECT bodies and HS1 payloads of the frames
 *
 * The transcripts' keys are not the fixture's, so their streams stop at the
 * first handshake frame the fixture hub or client cannot authenticate, and
 * their TRANSPORT frames are not decrypted: the post-AEAD harnesses and
 * everything behind the AEAD are seeded from the fixture sessions only.
 *
 * fuzz/run.sh --merge minimises the result with libFuzzer's -merge=1
 * before it is committed to fuzz/corpus/. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "chat/chat.h"
#include "fixture.h"
#include "hub_ops.h"
#include "transcript.h"

/* ---------------------------------------------------------------------
 * Byte buffers and output files
 * ------------------------------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        FX_CHECK(np != NULL);
        b->p = np;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void buf_u8(buf *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    buf_add(b, &x, 1);
}

static void buf_u16(buf *b, size_t v)
{
    buf_u8(b, (unsigned)(v >> 8) & 0xFFu);
    buf_u8(b, (unsigned)v & 0xFFu);
}

static void buf_free(buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static const char *outdir;
static size_t written;

static void make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "gen_corpus: mkdir %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

/* One corpus file, named by the SHA-256 of its content. */
static void emit(const char *harness, const uint8_t *p, size_t n)
{
    uint8_t hash[crypto_hash_sha256_BYTES];
    char hex[2 * sizeof hash + 1];
    crypto_hash_sha256(hash, p, n);
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, harness);
    make_dir(path);
    snprintf(path, sizeof path, "%s/%s/%s", outdir, harness, hex);
    FILE *f = fopen(path, "wb");
    if (f == NULL || (n > 0 && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "gen_corpus: write %s failed\n", path);
        exit(1);
    }
    written++;
}

static void emit2(const char *harness, unsigned prefix, const uint8_t *p, size_t n)
{
    buf b = {0};
    buf_u8(&b, prefix);
    buf_add(&b, p, n);
    emit(harness, b.p, b.len);
    buf_free(&b);
}

/* ---------------------------------------------------------------------
 * A recorded in-memory session
 * ------------------------------------------------------------------- */

#define MAX_CONNS 12

typedef struct rconn {
    chat_client *c;
    chat_conn_id id;
    int user;             /* fixture user index, or -1 */
    char password[64];    /* what the client proves with */
    char retry[64];       /* after LOGIN_FAILED, log in again with this */
    int open;
    buf c2s, s2c;
} rconn;

typedef struct session {
    chat_hub *h;
    chat_store_mem *st;
    chat_time now;
    rconn cn[MAX_CONNS];
    int n;
} session;

static void client_events(rconn *r)
{
    chat_client_event ev;
    while (chat_client_next_event(r->c, &ev)) {
        int rc = CHAT_OK;
        if (ev.type == CHAT_CLIENT_EV_SERVER_KEY) {
            rc = chat_client_trust_server(r->c, 1);
        } else if (ev.type == CHAT_CLIENT_EV_CHALLENGE) {
            rc = chat_client_prove(r->c, (const uint8_t *)r->password, strlen(r->password));
        } else if (ev.type == CHAT_CLIENT_EV_LOGIN_FAILED &&
                   ev.msg.u.login_failed.attempts_left > 0 && r->retry[0] != '\0') {
            snprintf(r->password, sizeof r->password, "%s", r->retry);
            rc = chat_client_login(r->c, chat_client_user(r->c));
        }
        FX_CHECK(rc == CHAT_OK);
    }
}

static void pump(session *s)
{
    for (int round = 0; round < 1000; round++) {
        int moved = 0;
        for (int i = 0; i < s->n; i++) {
            rconn *r = &s->cn[i];
            if (!r->open)
                continue;
            size_t n = 0;
            const uint8_t *p = chat_client_out_peek(r->c, &n);
            if (n > 0) {
                buf_add(&r->c2s, p, n);
                chat_client_out_ack(r->c, n);
                FX_CHECK(chat_hub_feed(s->h, r->id, r->c2s.p + r->c2s.len - n, n, s->now) ==
                         CHAT_OK);
                moved = 1;
            }
            p = chat_hub_out_peek(s->h, r->id, &n);
            if (n > 0) {
                buf_add(&r->s2c, p, n);
                chat_hub_out_ack(s->h, r->id, n);
                FX_IGNORE(chat_client_feed(r->c, r->s2c.p + r->s2c.len - n, n, s->now.mono_ms));
                moved = 1;
            }
            client_events(r);
            unsigned st = chat_hub_conn_state(s->h, r->id);
            size_t pending = 0;
            (void)chat_client_out_peek(r->c, &pending);
            if (((st & CHAT_CONN_CLOSED) && !(st & CHAT_CONN_WANT_WRITE)) ||
                (chat_client_get_state(r->c) == CHAT_CLIENT_CLOSED && pending == 0)) {
                chat_hub_release(s->h, r->id, s->now);
                chat_client_eof(r->c);
                client_events(r);
                r->open = 0;
                moved = 1;
            }
        }
        chat_hub_event hev;
        while (chat_hub_next_event(s->h, &hev))
            ;
        chat_conn_id id;
        while (chat_hub_next_dirty(s->h, &id))
            ;
        if (!moved)
            return;
    }
    FX_FAIL("session livelock");
}

static int connect_as(session *s, const char *user, const char *password, uint8_t vmin,
                      uint8_t vmax)
{
    FX_CHECK(s->n < MAX_CONNS);
    rconn *r = &s->cn[s->n];
    memset(r, 0, sizeof *r);
    chat_client_config cfg;
    fx_client_config(&cfg);
    cfg.in_max = 0;
    cfg.version_min = vmin;
    cfg.version_max = vmax;
    FX_CHECK(chat_client_new(&r->c, &cfg) == CHAT_OK);
    r->user = fx_user_index((const uint8_t *)user, strlen(user));
    snprintf(r->password, sizeof r->password, "%s", password);
    uint8_t addr[4] = {203, 0, 113, (uint8_t)s->n};
    FX_CHECK(chat_hub_accept(s->h, addr, sizeof addr, s->now, &r->id) == CHAT_OK);
    FX_CHECK(chat_client_start(r->c, user, s->now.mono_ms) == CHAT_OK);
    r->open = 1;
    pump(s);
    return s->n++;
}

static chat_client *cl(session *s, int i)
{
    return s->cn[i].c;
}

static void advance(session *s, uint64_t ms)
{
    s->now.mono_ms += ms;
    s->now.wall_ms += ms;
    chat_hub_tick(s->h, s->now);
    for (int i = 0; i < s->n; i++)
        if (s->cn[i].open)
            chat_client_tick(s->cn[i].c, s->now.mono_ms);
    pump(s);
}

#define OK(call) FX_CHECK((call) == CHAT_OK)

static void scripted_session(session *s)
{
    uint32_t req;
    int a = connect_as(s, "alice", fx_password(FX_ALICE), 1, 1);
    int b = connect_as(s, "bob", fx_password(FX_BOB), 1, 1);
    int c = connect_as(s, "carol", fx_password(FX_CAROL), 1, 1);
    FX_CHECK(chat_client_get_state(cl(s, a)) == CHAT_CLIENT_READY);
    FX_CHECK(chat_client_get_state(cl(s, b)) == CHAT_CLIENT_READY);

    OK(chat_client_join(cl(s, a), "#a", &req));
    OK(chat_client_say(cl(s, a), "#lobby", "hello everyone", CHAT_KIND_SAY, &req));
    pump(s);
    OK(chat_client_join(cl(s, b), "#A", &req));
    OK(chat_client_join(cl(s, c), "#b", &req));
    pump(s);
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_TOPIC;
    m.u.topic.room.p = (const uint8_t *)"#a";
    m.u.topic.room.n = 2;
    m.u.topic.topic.p = (const uint8_t *)"fuzzing \xe2\x9c\x93";
    m.u.topic.topic.n = strlen((const char *)m.u.topic.topic.p);
    OK(chat_client_request(cl(s, a), &m, &req));
    OK(chat_client_say(cl(s, b), "#a", "waves", CHAT_KIND_ACTION, &req));
    OK(chat_client_say(cl(s, a), "bob", "psst, bob", CHAT_KIND_SAY, &req));
    OK(chat_client_say(cl(s, b), "nobody", "anyone?", CHAT_KIND_SAY, &req));
    OK(chat_client_say(cl(s, c), "#a", "not a member", CHAT_KIND_SAY, &req));
    pump(s);
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_WHO;
    m.u.room.room.p = (const uint8_t *)"#a";
    m.u.room.room.n = 2;
    OK(chat_client_request(cl(s, b), &m, &req));
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_LIST;
    OK(chat_client_request(cl(s, a), &m, &req));
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_USERS;
    OK(chat_client_request(cl(s, a), &m, &req));
    OK(chat_client_request(cl(s, b), &m, &req)); /* not allowed */
    pump(s);

    /* Login trouble: a wrong password then the right one, an unknown user
     * until the attempts run out, a duplicate login, a version mismatch. */
    int d = connect_as(s, "dave", "wrong password", 1, 1);
    snprintf(s->cn[d].retry, sizeof s->cn[d].retry, "%s", fx_password(FX_DAVE));
    pump(s);
    int mal = connect_as(s, "mallory", fx_password(FX_MALLORY), 1, 1);
    snprintf(s->cn[mal].retry, sizeof s->cn[mal].retry, "%s", fx_password(FX_MALLORY));
    pump(s);
    (void)connect_as(s, "bob", fx_password(FX_BOB), 1, 1);
    (void)connect_as(s, "carol", fx_password(FX_CAROL), 2, 3);

    /* Admin actions. */
    OK(chat_client_add_user(cl(s, a), "erin", CHAT_ROLE_USER, (const uint8_t *)"erin pw", 7,
                            FX_OPSLIMIT, FX_MEMLIMIT_KIB, &req));
    OK(chat_client_add_user(cl(s, a), "frank", CHAT_ROLE_USER, (const uint8_t *)"weak", 4,
                            FX_OPSLIMIT, CHAT_MEMLIMIT_KIB_MIN, &req));
    OK(chat_client_passwd(cl(s, b), (const uint8_t *)"new bob", 7, FX_OPSLIMIT,
                          FX_MEMLIMIT_KIB, &req));
    pump(s);
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_KICK;
    m.u.kick.user.p = (const uint8_t *)"carol";
    m.u.kick.user.n = 5;
    m.u.kick.reason.p = (const uint8_t *)"enough";
    m.u.kick.reason.n = 6;
    OK(chat_client_request(cl(s, a), &m, &req));
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_DEL_USER;
    m.u.del_user.user.p = (const uint8_t *)"erin";
    m.u.del_user.user.n = 4;
    OK(chat_client_request(cl(s, a), &m, &req));
    pump(s);
    OK(chat_client_part(cl(s, b), "#a", &req));
    OK(chat_client_part(cl(s, b), "#a", &req)); /* not in it any more */
    pump(s);
    advance(s, 61000); /* keep-alive PINGs */
    OK(chat_client_quit(cl(s, b), "see you"));
    pump(s);
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_SHUTDOWN;
    m.u.shutdown.reason.p = (const uint8_t *)"maintenance";
    m.u.shutdown.reason.n = 11;
    OK(chat_client_request(cl(s, a), &m, &req));
    pump(s);
}

/* A second, short session: idle and login timeouts. */
static void timeout_session(session *s)
{
    (void)connect_as(s, "dave", fx_password(FX_DAVE), 1, 1);
    advance(s, 301000);
    int i = s->n;
    FX_CHECK(i < MAX_CONNS);
    rconn *r = &s->cn[i];
    memset(r, 0, sizeof *r);
    r->user = -1;
    r->c = fx_client_new();
    FX_CHECK(chat_hub_accept(s->h, NULL, 0, s->now, &r->id) == CHAT_OK);
    FX_CHECK(chat_client_start(r->c, "alice", s->now.mono_ms) == CHAT_OK);
    r->open = 1;
    s->n++;
    /* HS1 goes out, the HS2 comes back, but the key is never trusted. */
    size_t n = 0;
    const uint8_t *p = chat_client_out_peek(r->c, &n);
    buf_add(&r->c2s, p, n);
    chat_client_out_ack(r->c, n);
    FX_CHECK(chat_hub_feed(s->h, r->id, r->c2s.p, r->c2s.len, s->now) == CHAT_OK);
    s->now.mono_ms += 31000;
    chat_hub_tick(s->h, s->now);
    pump(s);
}

static void session_init(session *s)
{
    memset(s, 0, sizeof *s);
    s->h = fx_hub_new(&s->st);
    s->now = fx_time0();
}

static void session_free(session *s)
{
    for (int i = 0; i < s->n; i++) {
        chat_client_free(s->cn[i].c);
        buf_free(&s->cn[i].c2s);
        buf_free(&s->cn[i].s2c);
    }
    fx_hub_free(s->h, s->st);
}

/* ---------------------------------------------------------------------
 * Cutting recordings into corpus files
 * ------------------------------------------------------------------- */

static void emit_fields(void);

/* Every message of a plaintext, and the plaintext itself. */
static void emit_plaintext(const uint8_t *p, size_t n)
{
    emit2("msg", 0xF0, p, n);
    size_t off = 0;
    while (off + 2 <= n) {
        size_t len = (size_t)p[off] << 8 | p[off + 1];
        if (len == 0 || off + 2 + len > n)
            break;
        emit("msg", p + off + 2, len);
        chat_msg m;
        if (chat_msg_decode(p + off + 2, len, &m) == CHAT_OK &&
            (m.type == CHAT_MSG_NAMES || m.type == CHAT_MSG_ROOM_LIST ||
             m.type == CHAT_MSG_USER_LIST)) {
            const uint8_t *e = m.type == CHAT_MSG_NAMES ? m.u.names.entries : m.u.list.entries;
            size_t el = m.type == CHAT_MSG_NAMES ? m.u.names.entries_len : m.u.list.entries_len;
            if (el > 0) {
                buf b = {0};
                buf_u8(&b, 0xF4);
                buf_u8(&b, m.type == CHAT_MSG_NAMES ? 0 : m.type == CHAT_MSG_ROOM_LIST ? 1 : 2);
                buf_add(&b, e, el);
                emit("msg", b.p, b.len);
                buf_free(&b);
            }
        }
        off += 2 + len;
    }
}

/* Split a stream into frames; decrypt the TRANSPORT ones with key,
 * collecting the plaintexts as records ([0][u16 len][pt]) from the
 * skip-th on into *records. */
static void cut_stream(const buf *st, const uint8_t key[32], size_t skip, buf *records,
                       size_t *nplain)
{
    size_t off = 0;
    uint64_t nonce = 0;
    *nplain = 0;
    uint8_t *pt = malloc(CHAT_FRAME_BODY_MAX);
    FX_CHECK(pt != NULL);
    while (off < st->len) {
        chat_frame f;
        size_t used = 0;
        if (chat_frame_decode(st->p + off, st->len - off, &f, &used) != CHAT_OK)
            break;
        emit("frame", st->p + off, used);
        if (f.type == CHAT_FRAME_REJECT)
            emit2("msg", 0xF1, f.body, f.body_len);
        if (f.type == CHAT_FRAME_HS1 && f.body_len > 32)
            emit2("msg", 0xF2, f.body + 32, f.body_len - 32);
        if (f.type == CHAT_FRAME_TRANSPORT) {
            chat_cipher cs;
            memcpy(cs.k, key, 32);
            cs.n = nonce;
            cs.has_key = 1;
            if (chat_cipher_decrypt(&cs, NULL, 0, f.body, f.body_len, pt) == CHAT_OK) {
                nonce = cs.n;
                size_t n = f.body_len - CHAT_NOISE_TAGLEN;
                emit_plaintext(pt, n);
                if (*nplain >= skip && records != NULL) {
                    buf_u8(records, 0);
                    buf_u16(records, n);
                    buf_add(records, pt, n);
                }
                (*nplain)++;
            }
        }
        off += used;
    }
    free(pt);
}

static void emit_session(const session *s)
{
    const fx_fixture *f = fx_get();
    for (int i = 0; i < s->n; i++) {
        const rconn *r = &s->cn[i];
        int u = r->user >= 0 && r->user < 4 ? r->user : 0;

        /* Raw streams. */
        emit2("hub_raw", 0x00, r->c2s.p, r->c2s.len);
        emit2("client_raw", (unsigned)u << 4, r->s2c.p, r->s2c.len);
        if (i == 0) {
            uint8_t chunked[] = {0x03, 0, 6, 40};
            buf b = {0};
            buf_add(&b, chunked, sizeof chunked);
            buf_add(&b, r->c2s.p, r->c2s.len);
            emit("hub_raw", b.p, b.len);
            b.p[0] = 0x43; /* two connections */
            emit("hub_raw", b.p, b.len);
            b.p[0] = 0x33; /* clock steps, EOF */
            emit("hub_raw", b.p, b.len);
            b.len = 0;
            uint8_t cchunk[] = {0x02, 2, 90};
            buf_add(&b, cchunk, sizeof cchunk);
            buf_add(&b, r->s2c.p, r->s2c.len);
            emit("client_raw", b.p, b.len);
            b.p[0] = 0x0a; /* the same chunks across frame ends */
            emit("client_raw", b.p, b.len);
            buf_free(&b);
        }

        /* Plaintexts after the handshake, as post-AEAD records. */
        size_t np = 0;
        buf all = {0}, after = {0};
        cut_stream(&r->c2s, f->k_cs, 0, &all, &np);
        cut_stream(&r->c2s, f->k_cs, 1, &after, &np);
        if (r->user == FX_ALICE && all.len > 0) {
            emit2("hub_post_aead", 0x00, all.p, all.len);
            emit2("hub_post_aead", 0x02, after.p, after.len);
            emit2("hub_post_aead", 0x07, after.p, after.len);
        } else if (after.len > 0) {
            emit2("hub_post_aead", 0x01, after.p, after.len);
            emit2("hub_post_aead", 0x03, after.p, after.len);
        }
        buf_free(&all);
        buf_free(&after);

        cut_stream(&r->s2c, f->k_sc, 0, &all, &np);
        cut_stream(&r->s2c, f->k_sc, 2, &after, &np);
        if (all.len > 0)
            emit2("client_post_aead", (unsigned)u << 1, all.p, all.len);
        if (after.len > 0) {
            emit2("client_post_aead", (unsigned)u << 1 | 1u, after.p, after.len);
            emit2("client_post_aead", (unsigned)u << 1 | 9u, after.p, after.len);
            emit2("client_post_aead", (unsigned)u << 1 | 0x11u, after.p, after.len);
        }
        buf_free(&all);
        buf_free(&after);
    }
}

/* ---------------------------------------------------------------------
 * Hand-made inputs
 * ------------------------------------------------------------------- */

static void emit_frames(void)
{
    static const uint8_t bad[][8] = {
        {0x00, 0x00, 0x05},             /* length 0 */
        {0x00, 0x01, 0x09},             /* unknown type */
        {0x00, 0x02, 0x05, 0x00},       /* TRANSPORT, 1-byte body */
        {0xff, 0xff, 0x05, 0x00, 0x00}, /* the largest frame, cut short */
        {0x00, 0x01, 0x04},             /* empty REJECT */
    };
    static const size_t lens[] = {3, 3, 4, 5, 3};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        emit("frame", bad[i], lens[i]);
    const fx_fixture *f = fx_get();
    buf b = {0};
    buf_add(&b, f->hs1, sizeof f->hs1);
    buf_add(&b, f->hs2, sizeof f->hs2);
    buf_add(&b, f->hs3[FX_ALICE], f->hs3_len[FX_ALICE]);
    emit("frame", b.p, b.len);
    buf_free(&b);
}

static void emit_fields(void)
{
    static const char *const samples[] = {
        "alice", "Alice", "a", "1abc", "#lobby", "#Lobby", "#", "##a", "a.b-c_d",
        "abcdefghijklmnopqrstuvwxyzabcdef", "abcdefghijklmnopqrstuvwxyzabcdefg",
        "h\xc3\xa9llo", "\xe2\x80\xae", "\xe2\x80\x8e", "\xc0\xaf", "\xed\xa0\x80",
        "\xf4\x90\x80\x80", "line\nbreak", "tab\there", "\x7f", "\xc2\x85", "\xf0\x9f\x98\x80"};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        emit2("msg", 0xF3, (const uint8_t *)samples[i], strlen(samples[i]));
    static const uint8_t hs1[] = {'C', 'H', 'A', 'T', 1, 1};
    emit2("msg", 0xF2, hs1, sizeof hs1);
    static const uint8_t hs1b[] = {'C', 'H', 'A', 'T', 3, 2};
    emit2("msg", 0xF2, hs1b, sizeof hs1b);
}

/* Build a hub_ops script: (op, slot, args..., -1) groups, ended by -2. */
static void script(const char *what, ...)
{
    buf b = {0};
    va_list ap;
    va_start(ap, what);
    for (;;) {
        int v = va_arg(ap, int);
        if (v == -2)
            break;
        if (v == -1)
            continue;
        buf_u8(&b, (unsigned)v & 0xFFu);
    }
    va_end(ap);
    (void)what;
    emit("hub_ops", b.p, b.len);
    buf_free(&b);
}

/* The smallest byte >= base whose value mod m is idx (argument bytes that
 * carry flags in their high bits). */
static int pick(int base, int m, int idx)
{
    for (int x = base; x < base + 64; x++)
        if (x % m == idx)
            return x;
    return base;
}

#define B(op, k) HOPS_BYTE(op, k)
#define MSG(k, t, req) B(HOPS_MSG, k), (t), (req)
#define LOGIN(k, u) B(HOPS_QUICK_LOGIN, k), (u)
#define DRAIN_ALL B(HOPS_DRAIN_ALL, 0)
#define USER_TARGET(u) pick(0x80, 6, (u))
#define ROOM(r) (r)

static void emit_scripts(void)
{
    /* Two users meet in a room, talk, set a topic, look around, leave. */
    script("rooms", LOGIN(0, FX_ALICE), LOGIN(1, FX_BOB), DRAIN_ALL,
           MSG(0, HOPS_T_JOIN, 1), ROOM(1), MSG(1, HOPS_T_JOIN | HOPS_T_UPPER, 1), ROOM(1),
           DRAIN_ALL, MSG(0, HOPS_T_SEND, 2), ROOM(1), 0, MSG(1, HOPS_T_SEND, 2),
           USER_TARGET(FX_ALICE), 1, DRAIN_ALL, MSG(0, HOPS_T_TOPIC, 3), ROOM(1), 1,
           MSG(1, HOPS_T_WHO, 3), ROOM(1), MSG(1, HOPS_T_LIST, 4), MSG(0, HOPS_T_USERS, 5),
           DRAIN_ALL, MSG(1, HOPS_T_PART, 5), ROOM(1), MSG(1, HOPS_T_PART, 6), ROOM(1),
           DRAIN_ALL, MSG(0, HOPS_T_KICK, 7), FX_BOB, 2, DRAIN_ALL, B(HOPS_EVENTS, 0), -2);
    /* Admin: a new account that then logs in, deletion while online. */
    script("admin", LOGIN(0, FX_ALICE), DRAIN_ALL, MSG(0, HOPS_T_ADD_USER, 1), FX_MALLORY,
           FX_MALLORY, MSG(0, HOPS_T_ADD_USER, 2), 5, 0x80, DRAIN_ALL, LOGIN(2, FX_MALLORY),
           DRAIN_ALL, MSG(2, HOPS_T_JOIN, 1), ROOM(2), MSG(0, HOPS_T_JOIN, 3), ROOM(2), DRAIN_ALL,
           MSG(0, HOPS_T_DEL_USER, 4), FX_MALLORY, DRAIN_ALL, MSG(0, HOPS_T_PASSWD, 5), FX_ALICE,
           MSG(0, HOPS_T_DEL_USER, 6), FX_ALICE, LOGIN(1, FX_BOB), DRAIN_ALL,
           MSG(1, HOPS_T_SHUTDOWN, 7), 1, MSG(0, HOPS_T_SHUTDOWN, 8), 1, DRAIN_ALL, -2);
    /* Login failures: wrong proofs to the limit, a retry as another user,
     * an unknown name, a duplicate login. */
    script("logins", B(HOPS_HS1, 0), B(HOPS_HS3, 0), FX_DAVE, B(HOPS_PROOF, 0), 1,
           B(HOPS_DRAIN, 0), B(HOPS_LOGIN, 0), FX_CAROL, B(HOPS_PROOF, 0), 0, DRAIN_ALL,
           LOGIN(1, FX_MALLORY), B(HOPS_PROOF, 1), 1, B(HOPS_LOGIN, 1), FX_MALLORY,
           B(HOPS_PROOF, 1), 1, DRAIN_ALL, LOGIN(2, FX_CAROL), LOGIN(3, FX_CAROL), DRAIN_ALL,
           B(HOPS_HS1, 4), B(HOPS_HS3, 4), FX_BOB, B(HOPS_PROOF, 4), 1, B(HOPS_LOGIN, 4),
           FX_BOB, B(HOPS_PROOF, 4), 1, B(HOPS_LOGIN, 4), FX_BOB, B(HOPS_PROOF, 4), 1,
           DRAIN_ALL, B(HOPS_EVENTS, 0), -2);
    /* Timeouts: login, idle; a PING keeps one connection alive. */
    script("timeouts", B(HOPS_ACCEPT, 0), B(HOPS_HS1, 1), LOGIN(2, FX_BOB), LOGIN(3, FX_ALICE),
           DRAIN_ALL, B(HOPS_TIME, 0), 4, DRAIN_ALL, B(HOPS_TIME, 0), 5, MSG(3, HOPS_T_PING, 1),
           B(HOPS_TIME, 0), 5, B(HOPS_TIME, 0), 5, DRAIN_ALL, B(HOPS_TIME, 0), 6, DRAIN_ALL, -2);
    /* Garbage and goodbyes: bad frames, failed MACs, empty plaintexts. */
    script("garbage", LOGIN(0, FX_ALICE), LOGIN(1, FX_BOB), LOGIN(2, FX_CAROL), DRAIN_ALL,
           B(HOPS_BAD_TAG, 0), B(HOPS_RAW_PLAIN, 1), 0, B(HOPS_RAW_BYTES, 2), 4, 0, 0, 5, 0,
           B(HOPS_RAW_BYTES, 3), 3, 0, 5, 1, DRAIN_ALL, LOGIN(4, FX_DAVE), B(HOPS_GOODBYE, 4),
           B(HOPS_MOTD, 0), 0, B(HOPS_MOTD, 0), 2, LOGIN(5, FX_BOB), DRAIN_ALL,
           B(HOPS_SHUTDOWN, 0), DRAIN_ALL, LOGIN(0, FX_ALICE), -2);
    /* Output pressure: big messages to a member that never reads. */
    script("flood", LOGIN(0, FX_ALICE), LOGIN(1, FX_BOB), DRAIN_ALL, MSG(0, HOPS_T_JOIN, 1),
           ROOM(1), MSG(1, HOPS_T_JOIN, 1), ROOM(1), DRAIN_ALL, MSG(0, HOPS_T_SEND, 2), ROOM(1),
           5, B(HOPS_DRAIN, 0), MSG(0, HOPS_T_SEND, 3), ROOM(1), 5, B(HOPS_DRAIN, 0),
           MSG(0, HOPS_T_SEND, 4), ROOM(1), 5, B(HOPS_DRAIN, 0), B(HOPS_PEEK, 1),
           MSG(0, HOPS_T_SEND, 5), ROOM(1), 5, B(HOPS_DRAIN, 0), MSG(0, HOPS_T_SEND, 6),
           ROOM(1), 5, B(HOPS_PARTIAL, 1), 9, DRAIN_ALL, LOGIN(2, FX_CAROL),
           MSG(2, HOPS_T_JOIN, 1), ROOM(1), DRAIN_ALL, -2);
    /* Limits: rooms per user, rooms per hub; history on join. */
    script("limits", LOGIN(0, FX_ALICE), LOGIN(1, FX_BOB), DRAIN_ALL, MSG(0, HOPS_T_JOIN, 1),
           ROOM(1), MSG(0, HOPS_T_JOIN, 2), ROOM(2), MSG(0, HOPS_T_JOIN, 3), ROOM(3),
           MSG(1, HOPS_T_JOIN, 4), ROOM(4), MSG(1, HOPS_T_JOIN, 5), ROOM(5),
           MSG(1, HOPS_T_JOIN, 6), ROOM(6), MSG(1, HOPS_T_PART, 7), ROOM(0),
           MSG(1, HOPS_T_JOIN, 8), ROOM(7), DRAIN_ALL, MSG(0, HOPS_T_SEND, 9), ROOM(1), 0,
           MSG(0, HOPS_T_SEND, 10), ROOM(1), 1, MSG(0, HOPS_T_SEND, 11), ROOM(1), 2,
           MSG(0, HOPS_T_SEND, 12), ROOM(1), 3, MSG(0, HOPS_T_SEND, 13), ROOM(1), 4,
           DRAIN_ALL, MSG(1, HOPS_T_PART, 14), ROOM(4), MSG(1, HOPS_T_JOIN, 15), ROOM(1),
           DRAIN_ALL, -2);
    /* Frames split anywhere, two messages per frame, release mid-way. */
    script("framing", LOGIN(0, FX_ALICE), LOGIN(1, FX_BOB), DRAIN_ALL, B(HOPS_SPLIT, 0), 3,
           HOPS_T_JOIN, 1, ROOM(2), B(HOPS_MSG2, 1), HOPS_T_JOIN, 1, ROOM(2), HOPS_T_SEND, 2,
           ROOM(2), 2, DRAIN_ALL, B(HOPS_RELEASE, 1), B(HOPS_DRAIN, 0), B(HOPS_SPLIT, 0), 200,
           HOPS_T_PING, 9, B(HOPS_DRAIN, 0), -2);
}

/* Out of memory at every step of a small session. */
static void emit_oom_scripts(void)
{
    for (int n = 0; n < 12; n++)
        script("oom", LOGIN(0, FX_ALICE), LOGIN(1, FX_BOB), DRAIN_ALL, B(HOPS_FAIL_ALLOC, 0), n,
               MSG(0, HOPS_T_JOIN, 1), ROOM(1), MSG(1, HOPS_T_JOIN, 1), ROOM(1),
               MSG(0, HOPS_T_SEND, 2), ROOM(1), 0, MSG(1, HOPS_T_TOPIC, 2), ROOM(1), 1,
               DRAIN_ALL, -2);
    script("oom-all", LOGIN(0, FX_ALICE), DRAIN_ALL, B(HOPS_FAIL_ALLOC, 0), 0x80,
           LOGIN(1, FX_BOB), B(HOPS_FAIL_ALLOC, 0), 0x80, MSG(0, HOPS_T_JOIN, 1), ROOM(1),
           B(HOPS_FAIL_ALLOC, 0), 0x80, B(HOPS_DRAIN, 0), B(HOPS_FAIL_ALLOC, 0), 0x80,
           B(HOPS_ACCEPT, 2), DRAIN_ALL, LOGIN(1, FX_BOB), DRAIN_ALL, -2);
}

/* ---------------------------------------------------------------------
 * Seeds from the conformance transcripts
 * ------------------------------------------------------------------- */

/* The literal bytes of a step's byte string ($variables are left out). */
static void step_bytes(const cf_step *st, buf *out)
{
    for (size_t i = 0; i < st->ndata; i++)
        if (!st->data[i].is_var)
            buf_add(out, st->data[i].p, st->data[i].n);
}

/* A send-frame step as the frame it sends (unless its body is a variable). */
static void emit_send_frame(const cf_step *st)
{
    const cf_arg *ty = cf_arg_find(st->args, st->nargs, "type");
    const cf_arg *body = cf_arg_find(st->args, st->nargs, "body");
    uint64_t type = 0;
    FX_CHECK(ty != NULL); /* the parser requires type= */
    if (ty->v.kind == CF_V_HEX)
        type = ty->v.p[0];
    else
        FX_CHECK(cf_value_u64(&ty->v, &type) == 0);
    if (body != NULL && body->v.kind == CF_V_VAR)
        return;
    size_t n = body != NULL ? body->v.n : 0;
    if (n + 1 > 0xFFFF)
        return;
    buf b = {0};
    buf_u16(&b, n + 1);
    buf_u8(&b, (unsigned)type);
    if (n > 0)
        buf_add(&b, body->v.p, n);
    emit("frame", b.p, b.len);
    buf_free(&b);
}

static void add_transcript(const cf_transcript *t)
{
    const fx_fixture *f = fx_get();
    emit("transcript", (const uint8_t *)t->src, t->srclen);
    /* What each actor's connection carried, per direction. */
    buf c2s[CF_MAX_ACTORS], s2c[CF_MAX_ACTORS];
    memset(c2s, 0, sizeof c2s);
    memset(s2c, 0, sizeof s2c);
    for (size_t i = 0; i < t->nsteps; i++) {
        const cf_step *st = &t->steps[i];
        if (st->verb == CF_VERB_WIRE) {
            step_bytes(st, st->dir == CF_DIR_C2S ? &c2s[st->actor] : &s2c[st->actor]);
        } else if (st->verb == CF_VERB_RAW) {
            /* A runner's client writes to a server, a runner's server to a
             * client. */
            step_bytes(st, t->actors[st->actor].is_server ? &s2c[st->actor] : &c2s[st->actor]);
        } else if (st->verb == CF_VERB_SEND_FRAME) {
            emit_send_frame(st);
        } else if (st->verb == CF_VERB_SEND_PLAIN) {
            buf pt = {0};
            step_bytes(st, &pt);
            if (pt.len > 0)
                emit_plaintext(pt.p, pt.len);
            buf_free(&pt);
        }
    }
    /* cut_stream emits the frames, REJECT bodies and HS1 payloads; the
     * TRANSPORT frames do not open under the fixture's keys. */
    size_t np;
    for (size_t a = 0; a < t->nactors; a++) {
        if (c2s[a].len > 0) {
            emit2("hub_raw", 0x00, c2s[a].p, c2s[a].len);
            cut_stream(&c2s[a], f->k_cs, 0, NULL, &np);
        }
        if (s2c[a].len > 0) {
            emit2("client_raw", 0x00, s2c[a].p, s2c[a].len);
            cut_stream(&s2c[a], f->k_sc, 0, NULL, &np);
        }
        buf_free(&c2s[a]);
        buf_free(&s2c[a]);
    }
}

/* Every *.chat file below path (a directory or a file). */
static size_t add_transcripts(const char *path)
{
    struct stat stt;
    if (stat(path, &stt) != 0) {
        fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    if (S_ISREG(stt.st_mode)) {
        size_t n = strlen(path);
        if (n < 5 || strcmp(path + n - 5, ".chat") != 0)
            return 0;
        cf_transcript *t;
        char err[600];
        if (cf_transcript_load(path, &t, err, sizeof err) != 0) {
            fprintf(stderr, "gen_corpus: %s\n", err);
            exit(1);
        }
        add_transcript(t);
        cf_transcript_free(t);
        return 1;
    }
    if (!S_ISDIR(stt.st_mode))
        return 0;
    DIR *d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        count += add_transcripts(sub);
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s OUTDIR [TRANSCRIPTS]\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    make_dir(outdir);
    (void)fx_get();

    session s;
    session_init(&s);
    scripted_session(&s);
    emit_session(&s);
    session_free(&s);

    session_init(&s);
    timeout_session(&s);
    emit_session(&s);
    session_free(&s);

    emit_frames();
    emit_fields();
    emit_scripts();
    emit_oom_scripts();
    /* A transcript directory that holds none is a mistake, not a seed set. */
    if (argc == 3 && add_transcripts(argv[2]) == 0) {
        fprintf(stderr, "gen_corpus: no *.chat under %s\n", argv[2]);
        return 1;
    }
    printf("gen_corpus: %zu files written under %s\n", written, outdir);
    return 0;
}
