/* Harness: the client behind the AEAD. A real Noise XX handshake with the
 * fixture's fixed keys (fixture.h) puts a fresh client into a known state;
 * then the input's plaintexts are encrypted with the real server-to-client
 * transport key, in nonce order, and fed to the client.
 *
 * Input:  [mode:u8] then records [flags:u8][len:u16][bytes:len]...
 *   mode & 1:        0  handshake done, HS3 sent: CHALLENGE due
 *                    1  logged in (CHALLENGE, PROOF, WELCOME + JOINED +
 *                       NAMES #lobby already exchanged)
 *   (mode >> 1) & 3: the user: alice (admin), bob, carol, dave
 *   mode & 8:        end with EOF (chat_client_eof).
 *   mode & 0x10:     feed every record 8 times (in fresh frames), so that
 *                    held input can outgrow the client's in_max.
 *   A record's bytes (cut to what the input holds) are a plaintext, sealed
 *   as one TRANSPORT frame and fed, unless a flag says otherwise:
 *   0x01 RAW     feed the bytes unencrypted (any frame, any garbage);
 *   0x02 BADTAG  seal, then flip a bit of the tag: the MAC-failure path;
 *   0x04 SPLIT   feed the frame in two halves;
 *   0x08 HOLD    do not take events or output afterwards (undelivered
 *                input piles up towards the client's in_max);
 *   0x10 TICK    then advance the clock by 8 << (3 * (flags >> 5)) ms and
 *                tick the client (keep-alive PING);
 *   without TICK, flags >> 5 picks a request the user makes afterwards:
 *   1 JOIN #lobby, 2 SEND #lobby, 3 /me to bob, 4 PART #lobby, 5 PING,
 *   6 QUIT, 7 PASSWD (0: none).
 * Events are handled as a front-end would (fx_client_events) and each is
 * formatted as one line; everything the client writes must pass the
 * output oracle. */
#include <string.h>

#include "chat/chat.h"
#include "fixture.h"
#include "fuzz.h"

#define REC_RAW 0x01u
#define REC_BADTAG 0x02u
#define REC_SPLIT 0x04u
#define REC_HOLD 0x08u
#define REC_TICK 0x10u

static uint8_t frame[CHAT_FRAME_HEADER + CHAT_FRAME_BODY_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)fx_get();
    return 0;
}

static chat_str cstr(const char *s)
{
    chat_str r;
    r.p = (const uint8_t *)s;
    r.n = strlen(s);
    return r;
}

static void feed(chat_client *c, const uint8_t *p, size_t n, uint64_t now)
{
    int rc = chat_client_feed(c, p, n, now);
    FX_CHECK(rc == CHAT_OK || (rc == CHAT_E_CLOSED &&
                               chat_client_get_state(c) == CHAT_CLIENT_CLOSED));
}

/* The server's side of the login: CHALLENGE, then WELCOME with the default
 * room, each in its own frame, as the fixture hub sends them. */
static void login(chat_client *c, int u, uint64_t *sc, fx_rx *out, uint64_t now)
{
    const fx_fixture *f = fx_get();
    uint8_t pt[512];
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_CHALLENGE;
    memcpy(m.u.challenge.salt, f->verifier[u].salt, CHAT_SALT_LEN);
    m.u.challenge.opslimit = f->verifier[u].opslimit;
    m.u.challenge.memlimit_kib = f->verifier[u].memlimit_kib;
    size_t pn = fx_encode(&m, pt, sizeof pt);
    feed(c, frame, fx_seal(f->k_sc, sc, pt, pn, frame), now);
    fx_client_events(c, u, 0);
    (void)fx_client_drain(c, out);
    FX_CHECK(chat_client_get_state(c) == CHAT_CLIENT_AWAIT_RESULT);

    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_WELCOME;
    m.u.welcome.user = cstr(fx_user(u));
    m.u.welcome.role = u == FX_ALICE ? CHAT_ROLE_ADMIN : CHAT_ROLE_USER;
    m.u.welcome.time_ms = FX_T0_WALL;
    m.u.welcome.motd = cstr("fuzz hub\nsecond line");
    pn = fx_encode(&m, pt, sizeof pt);
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_JOINED;
    m.u.joined.room = cstr("#lobby");
    m.u.joined.user = cstr(fx_user(u));
    m.u.joined.time_ms = FX_T0_WALL;
    pn += fx_encode(&m, pt + pn, sizeof pt - pn);
    uint8_t ent[64];
    size_t en = 0;
    chat_name_entry ne = {cstr(fx_user(u))};
    FX_CHECK(chat_entry_put_name(ent, sizeof ent, &en, &ne) == CHAT_OK);
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_NAMES;
    m.u.names.room = cstr("#lobby");
    m.u.names.count = 1;
    m.u.names.entries = ent;
    m.u.names.entries_len = en;
    pn += fx_encode(&m, pt + pn, sizeof pt - pn);
    feed(c, frame, fx_seal(f->k_sc, sc, pt, pn, frame), now);
    fx_client_events(c, u, 0);
    (void)fx_client_drain(c, out);
    FX_CHECK(chat_client_get_state(c) == CHAT_CLIENT_READY);
}

static void request(chat_client *c, int what)
{
    const fx_fixture *f = fx_get();
    uint32_t req;
    chat_msg m;
    memset(&m, 0, sizeof m);
    switch (what) {
    case 1:
        FX_IGNORE(chat_client_join(c, "#lobby", &req));
        break;
    case 2:
        FX_IGNORE(chat_client_say(c, "#lobby", "hello", CHAT_KIND_SAY, &req));
        break;
    case 3:
        FX_IGNORE(chat_client_say(c, "bob", "waves", CHAT_KIND_ACTION, &req));
        break;
    case 4:
        FX_IGNORE(chat_client_part(c, "#lobby", &req));
        break;
    case 5:
        m.type = CHAT_MSG_PING;
        FX_IGNORE(chat_client_request(c, &m, &req));
        break;
    case 6:
        FX_IGNORE(chat_client_quit(c, "bye"));
        break;
    case 7:
        m.type = CHAT_MSG_PASSWD;
        m.u.passwd.v = f->verifier[FX_MALLORY];
        FX_IGNORE(chat_client_request(c, &m, &req));
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const fx_fixture *f = fx_get();
    fuzz_in in = fin_make(data, size);
    uint8_t mode = fin_u8(&in);
    int u = (mode >> 1) & 3;

    chat_client *c = fx_client_new();
    uint64_t now = FX_T0_MONO;
    fx_rx out;
    fx_rx_init(&out, CHAT_DIR_C2S, NULL, NULL);
    FX_CHECK(chat_client_start(c, fx_user(u), now) == CHAT_OK);
    (void)fx_client_drain(c, &out);
    feed(c, f->hs2, sizeof f->hs2, now);
    fx_client_events(c, u, 0);
    (void)fx_client_drain(c, &out);
    FX_CHECK(chat_client_get_state(c) == CHAT_CLIENT_AWAIT_CHALLENGE);
    uint64_t sc = 0; /* server-to-client nonce */
    if (mode & 1)
        login(c, u, &sc, &out, now);

    int repeat = (mode & 0x10) ? 8 : 1;
    while (fin_left(&in) > 0) {
        uint8_t flags = fin_u8(&in);
        const uint8_t *bytes;
        size_t n = fin_take(&in, fin_u16(&in), &bytes);
        for (int rep = 0; rep < repeat; rep++) {
            const uint8_t *p = bytes;
            size_t len = n;
            if (!(flags & REC_RAW)) {
                if (len > CHAT_TRANSPORT_PLAIN_MAX)
                    len = CHAT_TRANSPORT_PLAIN_MAX;
                len = fx_seal(f->k_sc, &sc, bytes, len, frame);
                if (flags & REC_BADTAG)
                    frame[len - 1] ^= 0x01;
                p = frame;
            }
            if ((flags & REC_SPLIT) && len > 1) {
                feed(c, p, len / 2, now);
                feed(c, p + len / 2, len - len / 2, now);
            } else {
                feed(c, p, len, now);
            }
        }
        if (flags & REC_TICK) {
            now += (uint64_t)8 << (3 * (flags >> 5));
            chat_client_tick(c, now);
        } else {
            request(c, flags >> 5);
        }
        if (!(flags & REC_HOLD)) {
            fx_client_events(c, u, 0);
            (void)fx_client_drain(c, &out);
        }
    }
    if (mode & 8) {
        chat_client_eof(c);
        FX_CHECK(chat_client_get_state(c) == CHAT_CLIENT_CLOSED);
    }
    fx_client_events(c, u, 0);
    (void)fx_client_drain(c, &out);
    fx_rx_free(&out);
    chat_client_free(c);
    return 0;
}
