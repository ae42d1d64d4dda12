/* Harness: the whole hub, several connections at once, driven by an
 * opcode script (hub_ops.h): accepts, handshakes, logins as any fixture
 * user, encrypted messages of every type with fuzzer-chosen fields,
 * garbage, MAC failures, goodbyes, disconnects, partial writes, time steps
 * and shutdown. It is a stateful-API fuzzer: after every operation it
 * checks invariants of the whole hub, white-box (hub_internal.h):
 *
 *   - the connection, user and room tables agree with the connections
 *     (counts, keys, chat_hub_conn_count, chat_hub_user_count);
 *   - memberships are indexed consistently both ways, nobody is in a room
 *     twice, only logged-in connections are members, limits hold;
 *   - every connection is on the right timer list, lists are well formed;
 *   - queued output stays within out_max (plus framing);
 *
 * and black-box, from what each client has been told: every byte the hub
 * writes passes the output oracle (fixture.h), and for every drained,
 * logged-in client, the rooms it believes it is in and their members
 * (from JOINED, PARTED and NAMES) are exactly the hub's. At the end every
 * connection is released and the hub must be empty; LeakSanitizer checks
 * that nothing was leaked. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "fixture.h"
#include "fuzz.h"
#include "hub_internal.h"
#include "hub_ops.h"

/* ---------------------------------------------------------------------
 * Tables the argument bytes index
 * ------------------------------------------------------------------- */

#define NROOMS 8
static const char *const rooms[NROOMS] = {"#lobby", "#a", "#b", "#c", "#d", "#e", "#f", "#g"};
#define NNAMES 6
static const char *const names[NNAMES] = {"alice", "bob", "carol", "dave", "mallory", "erin"};
static char big_text[CHAT_TEXT_MAX + 1], long_topic[CHAT_TOPIC_MAX + 1],
    long_reason[CHAT_REASON_MAX + 1];
#define NTEXTS 7
static const char *texts[NTEXTS] = {"hi", "hello, world", "h\xc3\xa9llo \xe2\x9c\x93",
                                    "\xf0\x9f\x98\x80", "x", NULL /* big_text */, "a b c"};
#define NTOPICS 4
static const char *topics[NTOPICS] = {"", "a topic", "\xc3\xbc" "n\xc3\xaf" "c\xc3\xb6" "de",
                                      NULL /* long_topic */};
#define NREASONS 4
static const char *reasons[NREASONS] = {"", "bye", "spam", NULL /* long_reason */};
static const uint64_t time_steps[8] = {1, 1000, 10000, 29000, 31000, 120000, 301000, 3600000};
static const char *const motds[3] = {"new motd", "", "bad\x1b[2Jmotd"};
static const uint8_t hops_types[16] = {
    CHAT_MSG_JOIN,     CHAT_MSG_PART,     CHAT_MSG_LIST,     CHAT_MSG_WHO,
    CHAT_MSG_TOPIC,    CHAT_MSG_SEND,     CHAT_MSG_PASSWD,   CHAT_MSG_PING,
    CHAT_MSG_ADD_USER, CHAT_MSG_DEL_USER, CHAT_MSG_USERS,    CHAT_MSG_KICK,
    CHAT_MSG_SHUTDOWN, CHAT_MSG_LOGIN,    CHAT_MSG_PROOF,    CHAT_MSG_GOODBYE};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)fx_get();
    memset(big_text, 'x', CHAT_TEXT_MAX);
    memset(long_topic, 't', CHAT_TOPIC_MAX);
    memset(long_reason, 'r', CHAT_REASON_MAX);
    texts[5] = big_text;
    topics[3] = long_topic;
    reasons[3] = long_reason;
    return 0;
}

/* ---------------------------------------------------------------------
 * The world of one input
 * ------------------------------------------------------------------- */

/* Room names the hub has told anyone about (rooms are never deleted; the
 * hub holds at most max_rooms of them). */
#define MAX_SEEN 8

typedef struct slot {
    int used;
    chat_conn_id id;
    int hs1, keys;
    int hs3_user, login_user;
    uint64_t tx; /* client-to-server nonce */
    fx_rx rx;
    /* What this client has been told. */
    int welcomed, goodbye, me;
    uint8_t in_room[MAX_SEEN];
    uint8_t members[MAX_SEEN]; /* bit u: fixture user u */
    uint8_t names_more[MAX_SEEN];
} slot;

typedef struct world {
    chat_hub *h;
    chat_store_mem *st;
    chat_time now;
    slot s[HOPS_SLOTS];
    char seen[MAX_SEEN][CHAT_ROOM_MAX + 1];
    int nseen;
    int fail_next; /* every allocation of the next operation fails */
} world;

static world W;
static uint8_t pt[CHAT_TRANSPORT_PLAIN_MAX];
static uint8_t frame[CHAT_FRAME_HEADER + CHAT_FRAME_BODY_MAX];

static int room_index(chat_str room)
{
    char folded[CHAT_ROOM_MAX + 1];
    FX_CHECK(room.n >= 2 && room.n <= CHAT_ROOM_MAX);
    chat_name_fold(folded, room.p, room.n);
    for (int i = 0; i < W.nseen; i++)
        if (strcmp(W.seen[i], folded) == 0)
            return i;
    FX_CHECK(W.nseen < MAX_SEEN); /* more rooms than max_rooms? */
    memcpy(W.seen[W.nseen], folded, room.n + 1);
    return W.nseen++;
}

/* Only fixture users can ever log in (nobody else has a proof). */
static int user_index(chat_str user)
{
    int u = fx_user_index(user.p, user.n);
    FX_CHECK(u >= 0);
    return u;
}

static void on_msg(void *arg, const chat_msg *m)
{
    slot *s = arg;
    int r, u;
    switch (m->type) {
    case CHAT_MSG_CHALLENGE:
    case CHAT_MSG_LOGIN_FAILED:
        FX_CHECK(!s->welcomed);
        break;
    case CHAT_MSG_WELCOME:
        FX_CHECK(!s->welcomed);
        s->welcomed = 1;
        s->me = user_index(m->u.welcome.user);
        break;
    case CHAT_MSG_JOINED:
        FX_CHECK(s->welcomed);
        r = room_index(m->u.joined.room);
        u = user_index(m->u.joined.user);
        if (u == s->me) {
            FX_CHECK(!s->in_room[r]);
            s->in_room[r] = 1;
            s->members[r] = 0;
        }
        FX_CHECK(s->in_room[r]); /* only members hear of joins */
        s->members[r] |= (uint8_t)(1u << u);
        break;
    case CHAT_MSG_PARTED:
        r = room_index(m->u.parted.room);
        u = user_index(m->u.parted.user);
        FX_CHECK(s->in_room[r]);
        if (u == s->me) {
            s->in_room[r] = 0;
            s->members[r] = 0;
        } else {
            s->members[r] &= (uint8_t)~(1u << u);
        }
        break;
    case CHAT_MSG_NAMES: {
        r = room_index(m->u.names.room);
        if (!s->in_room[r])
            break; /* WHO of a room we are not in */
        if (!s->names_more[r])
            s->members[r] = 0;
        const uint8_t *p = m->u.names.entries;
        size_t left = m->u.names.entries_len;
        for (uint16_t i = 0; i < m->u.names.count; i++) {
            chat_name_entry e;
            FX_CHECK(chat_entry_get_name(&p, &left, &e) == CHAT_OK);
            s->members[r] |= (uint8_t)(1u << user_index(e.user));
        }
        s->names_more[r] = (m->u.names.flags & CHAT_LIST_MORE) != 0;
        break;
    }
    case CHAT_MSG_TOPIC_CHANGED:
        FX_CHECK(s->in_room[room_index(m->u.topic_changed.room)]);
        break;
    case CHAT_MSG_MESSAGE:
        FX_CHECK(s->welcomed);
        if (m->u.message.target.p[0] == '#') {
            FX_CHECK(s->in_room[room_index(m->u.message.target)]);
        } else {
            FX_CHECK(user_index(m->u.message.target) == s->me ||
                     user_index(m->u.message.from) == s->me);
        }
        break;
    case CHAT_MSG_GOODBYE:
        s->goodbye = 1;
        break;
    default:
        break;
    }
}

static void slot_reset(slot *s)
{
    fx_rx_free(&s->rx);
    memset(s, 0, sizeof *s);
    s->me = -1;
}

/* A connection in slot k (accepting one if needed); NULL if the hub no
 * longer accepts. */
static slot *ensure(int k)
{
    slot *s = &W.s[k];
    if (s->used)
        return s;
    uint8_t addr[4] = {10, 0, 0, (uint8_t)(k & 1)}; /* two slots share an address */
    int rc = chat_hub_accept(W.h, addr, sizeof addr, W.now, &s->id);
    if (rc != CHAT_OK) {
        FX_CHECK((rc == CHAT_E_STATE && chat_hub_is_shut_down(W.h)) ||
                 (rc == CHAT_E_NOMEM && fx_alloc_failures() > 0));
        return NULL;
    }
    s->used = 1;
    s->me = -1;
    fx_rx_init(&s->rx, CHAT_DIR_S2C, on_msg, s);
    return s;
}

static void feed(slot *s, const uint8_t *p, size_t n)
{
    int rc = chat_hub_feed(W.h, s->id, p, n, W.now);
    FX_CHECK(FX_FEED_OK(rc));
}

static void send_hs3(slot *s, int u)
{
    const fx_fixture *f = fx_get();
    feed(s, f->hs3[u], f->hs3_len[u]);
    if (!s->keys) {
        s->keys = 1;
        s->hs3_user = u;
        s->tx = 0;
    }
    s->login_user = u;
}

static void send_plain(slot *s, const uint8_t *p, size_t n, int bad_tag)
{
    size_t fn = fx_seal(fx_get()->k_cs, &s->tx, p, n, frame);
    if (bad_tag)
        frame[CHAT_FRAME_HEADER + n] ^= 0x80;
    feed(s, frame, fn);
}

/* ---------------------------------------------------------------------
 * Building messages from argument bytes
 * ------------------------------------------------------------------- */

static char upper_buf[4][CHAT_ROOM_MAX + 1];

static chat_str pick_name(const char *s, int upper, int which)
{
    chat_str r;
    size_t n = strlen(s);
    if (upper) {
        for (size_t i = 0; i < n; i++) {
            char c = s[i];
            upper_buf[which][i] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
        }
        s = upper_buf[which];
    }
    r.p = (const uint8_t *)s;
    r.n = n;
    return r;
}

static chat_str pick_text(fuzz_in *in, const char *const *table, size_t n)
{
    chat_str r;
    uint8_t x = fin_u8(in);
    if (x >= 0xF8) {
        r.n = fin_take(in, fin_u8(in), &r.p); /* raw: may not even encode */
        return r;
    }
    r.p = (const uint8_t *)table[x % n];
    r.n = strlen(table[x % n]);
    return r;
}

static void pick_verifier(fuzz_in *in, chat_verifier *v, uint8_t *role)
{
    uint8_t x = fin_u8(in);
    *v = fx_get()->verifier[x % FX_NUSERS];
    if (x & 0x80)
        v->memlimit_kib = CHAT_MEMLIMIT_KIB_MIN; /* under the hub's minimum */
    if (role != NULL)
        *role = (x & 0x40) ? CHAT_ROLE_ADMIN : CHAT_ROLE_USER;
}

/* Encode one message built from the input at out; 0 when it does not
 * encode (a raw text that is not valid): the operation is skipped. */
static size_t build(fuzz_in *in, const slot *s, uint8_t *out, size_t cap)
{
    const fx_fixture *f = fx_get();
    uint8_t t = fin_u8(in);
    int up = (t & HOPS_T_UPPER) != 0;
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = hops_types[t % 16];
    m.req = fin_u8(in);
    uint8_t x;
    switch (m.type) {
    case CHAT_MSG_JOIN:
    case CHAT_MSG_PART:
    case CHAT_MSG_WHO:
        m.u.room.room = pick_name(rooms[fin_u8(in) % NROOMS], up, 0);
        break;
    case CHAT_MSG_TOPIC:
        m.u.topic.room = pick_name(rooms[fin_u8(in) % NROOMS], up, 0);
        m.u.topic.topic = pick_text(in, topics, NTOPICS);
        break;
    case CHAT_MSG_SEND:
        x = fin_u8(in);
        m.u.send.kind = (x & 0x40) ? CHAT_KIND_ACTION : CHAT_KIND_SAY;
        m.u.send.target = (x & 0x80) ? pick_name(names[x % NNAMES], up, 0)
                                     : pick_name(rooms[x % NROOMS], up, 0);
        m.u.send.text = pick_text(in, texts, NTEXTS);
        break;
    case CHAT_MSG_PASSWD:
        pick_verifier(in, &m.u.passwd.v, NULL);
        break;
    case CHAT_MSG_ADD_USER:
        m.u.add_user.user = pick_name(names[fin_u8(in) % NNAMES], up, 0);
        pick_verifier(in, &m.u.add_user.v, &m.u.add_user.role);
        break;
    case CHAT_MSG_DEL_USER:
        m.u.del_user.user = pick_name(names[fin_u8(in) % NNAMES], up, 0);
        break;
    case CHAT_MSG_KICK:
        m.u.kick.user = pick_name(names[fin_u8(in) % NNAMES], up, 0);
        m.u.kick.reason = pick_text(in, reasons, NREASONS);
        break;
    case CHAT_MSG_SHUTDOWN:
        m.u.shutdown.reason = pick_text(in, reasons, NREASONS);
        break;
    case CHAT_MSG_LOGIN:
        m.u.login.user = pick_name(names[fin_u8(in) % FX_NUSERS], up, 0);
        break;
    case CHAT_MSG_PROOF:
        memcpy(m.u.proof.sig, f->proof[s->hs3_user][fin_u8(in) % FX_NUSERS], CHAT_SIG_LEN);
        break;
    case CHAT_MSG_GOODBYE:
        m.u.goodbye.code = CHAT_CODE_QUIT;
        m.u.goodbye.text = pick_text(in, reasons, NREASONS);
        break;
    default: /* LIST PING USERS */
        break;
    }
    return fx_encode(&m, out, cap);
}

/* ---------------------------------------------------------------------
 * Invariants
 * ------------------------------------------------------------------- */

static hub_conn *conn_of(chat_conn_id id)
{
    return chat__map_get(W.h, &W.h->conns, &id);
}

static int is_member(const hub_room *r, const hub_conn *c)
{
    for (uint32_t i = 0; i < c->nrooms; i++)
        if (c->rooms[i].r == r)
            return 1;
    return 0;
}

static void check_list(const hub_list *l, uint8_t which)
{
    const hub_conn *prev = NULL;
    for (const hub_conn *c = l->head; c != NULL; c = c->tl.next) {
        FX_CHECK(c->tlist == which);
        FX_CHECK(c->tl.prev == prev);
        FX_CHECK(conn_of(c->id) == c);
        prev = c;
    }
    FX_CHECK(l->tail == prev);
}

static void check_hub(void)
{
    chat_hub *h = W.h;
    size_t nconn = 0, nready = 0;
    if (h->conns.slot != NULL) {
        for (uint32_t i = 0; i <= h->conns.mask; i++) {
            hub_conn *c = h->conns.slot[i];
            if (c == NULL)
                continue;
            nconn++;
            FX_CHECK(conn_of(c->id) == c);
            FX_CHECK(c->state <= HUB_CLOSED);
            FX_CHECK((c->login != NULL) == (c->state < HUB_READY));
            FX_CHECK(c->out.len + c->sealed.len <= FX_OUT_BOUND);
            if (c->state == HUB_READY) {
                nready++;
                FX_CHECK(chat__map_get(h, &h->users, c->name) == c->name);
                FX_CHECK(c->tlist == HUB_TL_IDLE);
            } else if (c->state == HUB_CLOSED) {
                FX_CHECK(c->tlist == HUB_TL_NONE);
            } else {
                FX_CHECK(c->tlist == HUB_TL_LOGIN);
            }
            /* Only logged-in connections are members; closed ones have
             * left (the leave queue is flushed within every call). */
            FX_CHECK(c->nrooms == 0 || c->state == HUB_READY);
            FX_CHECK(c->nrooms <= h->max_rooms_per_user && c->nrooms <= c->caprooms);
            for (uint32_t j = 0; j < c->nrooms; j++) {
                const hub_room *r = c->rooms[j].r;
                FX_CHECK(c->rooms[j].slot < r->n);
                FX_CHECK(r->m[c->rooms[j].slot].c == c && r->m[c->rooms[j].slot].slot == j);
                for (uint32_t k = j + 1; k < c->nrooms; k++)
                    FX_CHECK(c->rooms[k].r != r);
            }
        }
    }
    FX_CHECK(nconn == h->conns.count && nconn == h->nconns);
    FX_CHECK(nconn == chat_hub_conn_count(h));
    FX_CHECK(nready == h->users.count && nready == chat_hub_user_count(h));
    FX_CHECK(h->leave_q.head == NULL);
    check_list(&h->login_q, HUB_TL_LOGIN);
    check_list(&h->idle_q, HUB_TL_IDLE);

    FX_CHECK(h->nrooms <= h->max_rooms && h->nrooms == h->roomtab.count);
    for (int r = 0; r < W.nseen; r++) /* rooms are never deleted */
        FX_CHECK(chat__map_get(h, &h->roomtab, W.seen[r]) != NULL);
    for (uint32_t i = 0; i < h->nrooms; i++) {
        const hub_room *r = h->rooms[i];
        FX_CHECK(chat__map_get(h, &h->roomtab, r->name) == r->name);
        if (i > 0)
            FX_CHECK(strcmp(h->rooms[i - 1]->name, r->name) < 0);
        FX_CHECK(r->n <= r->cap && r->hist_n <= h->history_len);
        FX_CHECK((r->topic == NULL) == (r->topic_len == 0) && r->topic_len <= CHAT_TOPIC_MAX);
        for (uint32_t j = 0; j < r->n; j++) {
            const hub_conn *c = r->m[j].c;
            FX_CHECK(conn_of(c->id) == c);
            FX_CHECK(c->state == HUB_READY);
            FX_CHECK(r->m[j].slot < c->nrooms && c->rooms[r->m[j].slot].r == r &&
                     c->rooms[r->m[j].slot].slot == j);
            for (uint32_t k = j + 1; k < r->n; k++) /* nobody in a room twice */
                FX_CHECK(r->m[k].c != c && strcmp(r->m[k].c->name, c->name) != 0);
        }
    }

    /* What each drained, logged-in client believes is the hub's truth. */
    for (int k = 0; k < HOPS_SLOTS; k++) {
        slot *s = &W.s[k];
        if (!s->used)
            continue;
        hub_conn *c = conn_of(s->id);
        FX_CHECK(c != NULL);
        unsigned st = chat_hub_conn_state(h, s->id);
        if ((st & CHAT_CONN_WANT_WRITE) || s->rx.len != 0)
            continue; /* the client has not heard everything yet */
        if (st & CHAT_CONN_READY)
            FX_CHECK(s->welcomed && !s->goodbye);
        if (!s->welcomed || s->goodbye || (st & CHAT_CONN_CLOSED))
            continue;
        FX_CHECK(st & CHAT_CONN_READY);
        FX_CHECK(strcmp(c->name, fx_user(s->me)) == 0);
        int in_rooms = 0;
        for (int r = 0; r < W.nseen; r++) {
            hub_room *hr = chat__map_get(h, &h->roomtab, W.seen[r]);
            FX_CHECK(hr != NULL);
            hr = (hub_room *)(void *)((char *)hr - offsetof(hub_room, name));
            int member = is_member(hr, c);
            FX_CHECK(member == s->in_room[r]);
            if (!member)
                continue;
            in_rooms++;
            uint8_t mask = 0;
            for (uint32_t j = 0; j < hr->n; j++)
                mask |= (uint8_t)(1u << user_index((chat_str){(const uint8_t *)hr->m[j].c->name,
                                                               strlen(hr->m[j].c->name)}));
            FX_CHECK(mask == s->members[r] && !s->names_more[r]);
        }
        FX_CHECK(in_rooms == c->nrooms);
    }
}

/* ---------------------------------------------------------------------
 * Operations
 * ------------------------------------------------------------------- */

static void drain(int k)
{
    slot *s = &W.s[k];
    if (!s->used)
        return;
    (void)fx_hub_drain(W.h, s->id, &s->rx);
    unsigned st = chat_hub_conn_state(W.h, s->id);
    if ((st & CHAT_CONN_CLOSED) && !(st & CHAT_CONN_WANT_WRITE)) {
        /* Written out and closed by the hub: the front-end closes too. */
        chat_hub_release(W.h, s->id, W.now);
        FX_CHECK(chat_hub_conn_state(W.h, s->id) == 0);
        slot_reset(s);
    }
}

static void op(fuzz_in *in)
{
    const fx_fixture *f = fx_get();
    uint8_t b = fin_u8(in);
    int code = (b >> 3) % HOPS_COUNT;
    int k = (b & 7) % HOPS_SLOTS;
    slot *s = &W.s[k];
    size_t n;
    uint8_t x;
    const uint8_t *p;

    switch (code) {
    case HOPS_ACCEPT:
        (void)ensure(k);
        break;
    case HOPS_HS1:
        if ((s = ensure(k)) != NULL) {
            feed(s, f->hs1, sizeof f->hs1);
            s->hs1 = 1;
        }
        break;
    case HOPS_HS3:
        x = fin_u8(in);
        if ((s = ensure(k)) != NULL)
            send_hs3(s, x % FX_NUSERS);
        break;
    case HOPS_PROOF:
        x = fin_u8(in);
        if (s->used && s->keys) {
            n = fx_proof_plain(s->hs3_user, s->login_user, x & 1, pt, sizeof pt);
            send_plain(s, pt, n, 0);
        }
        break;
    case HOPS_LOGIN:
        x = fin_u8(in);
        if (s->used && s->keys) {
            chat_msg m;
            memset(&m, 0, sizeof m);
            m.type = CHAT_MSG_LOGIN;
            m.u.login.user = pick_name(names[x % FX_NUSERS], 0, 0);
            n = fx_encode(&m, pt, sizeof pt);
            s->login_user = x % FX_NUSERS;
            send_plain(s, pt, n, 0);
        }
        break;
    case HOPS_QUICK_LOGIN: {
        int u = fin_u8(in) % FX_NUSERS;
        if ((s = ensure(k)) == NULL)
            break;
        if (!s->keys) {
            if (!s->hs1) {
                feed(s, f->hs1, sizeof f->hs1);
                s->hs1 = 1;
            }
            send_hs3(s, u);
            n = 0;
        } else {
            chat_msg m;
            memset(&m, 0, sizeof m);
            m.type = CHAT_MSG_LOGIN;
            m.u.login.user = pick_name(names[u], 0, 0);
            n = fx_encode(&m, pt, sizeof pt);
            s->login_user = u;
        }
        n += fx_proof_plain(s->hs3_user, s->login_user, 0, pt + n, sizeof pt - n);
        send_plain(s, pt, n, 0);
        break;
    }
    case HOPS_MSG:
        n = build(in, s, pt, sizeof pt);
        if (n > 0 && s->used && s->keys)
            send_plain(s, pt, n, 0);
        break;
    case HOPS_MSG2:
        n = build(in, s, pt, sizeof pt);
        if (n > 0) {
            size_t n2 = build(in, s, pt + n, sizeof pt - n);
            if (n2 > 0 && s->used && s->keys)
                send_plain(s, pt, n + n2, 0);
        }
        break;
    case HOPS_RAW_PLAIN:
        n = fin_take(in, fin_u8(in), &p);
        if (s->used && s->keys)
            send_plain(s, p, n, 0);
        break;
    case HOPS_RAW_BYTES:
        n = fin_take(in, fin_u8(in), &p);
        if ((s = ensure(k)) != NULL)
            feed(s, p, n);
        break;
    case HOPS_BAD_TAG:
        if (s->used && s->keys) {
            chat_msg m;
            memset(&m, 0, sizeof m);
            m.type = CHAT_MSG_PING;
            n = fx_encode(&m, pt, sizeof pt);
            send_plain(s, pt, n, 1);
        }
        break;
    case HOPS_GOODBYE:
        if (s->used && s->keys) {
            chat_msg m;
            memset(&m, 0, sizeof m);
            m.type = CHAT_MSG_GOODBYE;
            m.u.goodbye.code = CHAT_CODE_QUIT;
            n = fx_encode(&m, pt, sizeof pt);
            send_plain(s, pt, n, 0);
        }
        break;
    case HOPS_RELEASE:
        if (s->used) {
            chat_hub_release(W.h, s->id, W.now);
            FX_CHECK(chat_hub_conn_state(W.h, s->id) == 0);
            slot_reset(s);
        }
        break;
    case HOPS_DRAIN:
        drain(k);
        break;
    case HOPS_DRAIN_ALL:
        for (int i = 0; i < HOPS_SLOTS; i++)
            drain(i);
        break;
    case HOPS_PARTIAL:
        x = fin_u8(in);
        if (s->used) {
            size_t len = 0;
            const uint8_t *out = chat_hub_out_peek(W.h, s->id, &len);
            FX_CHECK(len <= FX_OUT_BOUND);
            size_t take = ((size_t)x + 1) * 7;
            if (take > len)
                take = len;
            if (take > 0) {
                fx_rx_feed(&s->rx, out, take);
                chat_hub_out_ack(W.h, s->id, take);
            }
        }
        break;
    case HOPS_TIME: {
        uint64_t step = time_steps[fin_u8(in) & 7];
        W.now.mono_ms += step;
        W.now.wall_ms += step;
        chat_hub_tick(W.h, W.now);
        uint64_t d = chat_hub_next_deadline(W.h);
        FX_CHECK(d == CHAT_NO_DEADLINE || d > W.now.mono_ms);
        break;
    }
    case HOPS_SHUTDOWN:
        chat_hub_shutdown(W.h, "maintenance", W.now);
        FX_CHECK(chat_hub_is_shut_down(W.h));
        break;
    case HOPS_PEEK:
        if (s->used) {
            size_t len = 0;
            (void)chat_hub_out_peek(W.h, s->id, &len);
            FX_CHECK(len <= FX_OUT_BOUND);
        }
        break;
    case HOPS_EVENTS:
        fx_hub_events(W.h);
        break;
    case HOPS_SPLIT:
        x = fin_u8(in);
        n = build(in, s, pt, sizeof pt);
        if (n > 0 && s->used && s->keys) {
            size_t fn = fx_seal(f->k_cs, &s->tx, pt, n, frame);
            size_t cut = 1 + (size_t)x % (fn - 1);
            feed(s, frame, cut);
            feed(s, frame + cut, fn - cut);
        }
        break;
    case HOPS_MOTD:
        x = fin_u8(in);
        n = (size_t)chat_hub_set_motd(W.h, motds[x % 3]); /* 0: CHAT_OK */
        FX_CHECK((n == CHAT_OK) == (x % 3 != 2) || fx_alloc_failures() > 0);
        break;
    case HOPS_FAIL_ALLOC:
        x = fin_u8(in);
        if (x & 0x80)
            W.fail_next = 1;
        else
            fx_alloc_fail_after((uint64_t)x + 1);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = fin_make(data, size);
    memset(&W, 0, sizeof W);
    W.h = fx_hub_new(&W.st);
    W.now = fx_time0();
    for (int k = 0; k < HOPS_SLOTS; k++)
        W.s[k].me = -1;

    while (fin_left(&in) > 0) {
        int fail = W.fail_next;
        W.fail_next = 0;
        fx_alloc_fail_all(fail);
        op(&in);
        fx_alloc_fail_all(0);
        check_hub();
    }
    fx_alloc_fail_after(0);

    /* Everything written, every socket closed: the hub must be empty. */
    for (int k = 0; k < HOPS_SLOTS; k++) {
        if (!W.s[k].used)
            continue;
        (void)fx_hub_drain(W.h, W.s[k].id, &W.s[k].rx);
        chat_hub_release(W.h, W.s[k].id, W.now);
        slot_reset(&W.s[k]);
        check_hub();
    }
    FX_CHECK(chat_hub_conn_count(W.h) == 0 && chat_hub_user_count(W.h) == 0);
    for (uint32_t i = 0; i < W.h->nrooms; i++)
        FX_CHECK(W.h->rooms[i]->n == 0);
    fx_hub_events(W.h);
    fx_hub_free(W.h, W.st);
    memset(&W, 0, sizeof W);
    return 0;
}
