/* Tests of the wire codec (libchat/src/codec.c) against PROTOCOL.md §2,
 * §3.2-3.4, §5, §6 and §7.
 *
 * Layout is checked two ways: a few literal byte vectors written by hand
 * from the spec, and `tb_msg`, a deliberately naive test-side serialiser
 * that lays out any chat_msg straight from the §6 tables without
 * validating anything. Every acceptance/rejection case builds a chat_msg,
 * serialises it with tb_msg, and checks that the decoder accepts exactly
 * what the encoder accepts (and produces the same bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat/codec.h"

/* ---------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------- */

static chat_str S(const char *s)
{
    chat_str r = {(const uint8_t *)s, strlen(s)};
    return r;
}

static chat_str SB(const void *p, size_t n)
{
    chat_str r = {(const uint8_t *)p, n};
    return r;
}

static void assert_str_eq(chat_str a, chat_str b)
{
    assert_int_equal(a.n, b.n);
    if (a.n > 0)
        assert_memory_equal(a.p, b.p, a.n);
}

/* Test-side byte builder. */
#define TB_CAP 70000
typedef struct tb {
    uint8_t b[TB_CAP];
    size_t n;
} tb;

static void tb_u8(tb *t, unsigned v)
{
    assert_true(t->n < TB_CAP);
    t->b[t->n++] = (uint8_t)(v & 0xFFu);
}

static void tb_u16(tb *t, unsigned v)
{
    tb_u8(t, v >> 8);
    tb_u8(t, v);
}

static void tb_u32(tb *t, uint32_t v)
{
    tb_u16(t, (unsigned)(v >> 16));
    tb_u16(t, (unsigned)(v & 0xFFFFu));
}

static void tb_u64(tb *t, uint64_t v)
{
    tb_u32(t, (uint32_t)(v >> 32));
    tb_u32(t, (uint32_t)v);
}

static void tb_raw(tb *t, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tb_u8(t, p[i]);
}

static void tb_s8(tb *t, chat_str s)
{
    assert_true(s.n <= 255);
    tb_u8(t, (unsigned)s.n);
    tb_raw(t, s.p, s.n);
}

static void tb_s16(tb *t, chat_str s)
{
    assert_true(s.n <= 65535);
    tb_u16(t, (unsigned)s.n);
    tb_raw(t, s.p, s.n);
}

static void tb_verifier(tb *t, const chat_verifier *v)
{
    tb_raw(t, v->salt, CHAT_SALT_LEN);
    tb_u32(t, v->opslimit);
    tb_u32(t, v->memlimit_kib);
    tb_raw(t, v->pk, CHAT_PK_LEN);
}

/* Naive serialiser: [type][body] straight from the §6 tables, no checks. */
static void tb_msg(tb *t, const chat_msg *m)
{
    t->n = 0;
    tb_u8(t, m->type);
    switch (m->type) {
    case CHAT_MSG_LOGIN: tb_s8(t, m->u.login.user); break;
    case CHAT_MSG_PROOF: tb_raw(t, m->u.proof.sig, CHAT_SIG_LEN); break;
    case CHAT_MSG_JOIN:
    case CHAT_MSG_PART:
    case CHAT_MSG_WHO:
        tb_u32(t, m->req);
        tb_s8(t, m->u.room.room);
        break;
    case CHAT_MSG_LIST:
    case CHAT_MSG_PING:
    case CHAT_MSG_USERS:
    case CHAT_MSG_OK: tb_u32(t, m->req); break;
    case CHAT_MSG_TOPIC:
        tb_u32(t, m->req);
        tb_s8(t, m->u.topic.room);
        tb_s16(t, m->u.topic.topic);
        break;
    case CHAT_MSG_SEND:
        tb_u32(t, m->req);
        tb_u8(t, m->u.send.kind);
        tb_s8(t, m->u.send.target);
        tb_s16(t, m->u.send.text);
        break;
    case CHAT_MSG_PASSWD:
        tb_u32(t, m->req);
        tb_verifier(t, &m->u.passwd.v);
        break;
    case CHAT_MSG_ADD_USER:
        tb_u32(t, m->req);
        tb_s8(t, m->u.add_user.user);
        tb_u8(t, m->u.add_user.role);
        tb_verifier(t, &m->u.add_user.v);
        break;
    case CHAT_MSG_DEL_USER:
        tb_u32(t, m->req);
        tb_s8(t, m->u.del_user.user);
        break;
    case CHAT_MSG_KICK:
        tb_u32(t, m->req);
        tb_s8(t, m->u.kick.user);
        tb_s8(t, m->u.kick.reason);
        break;
    case CHAT_MSG_SHUTDOWN:
        tb_u32(t, m->req);
        tb_s8(t, m->u.shutdown.reason);
        break;
    case CHAT_MSG_GOODBYE:
        tb_u16(t, m->u.goodbye.code);
        tb_s8(t, m->u.goodbye.text);
        break;
    case CHAT_MSG_CHALLENGE:
        tb_raw(t, m->u.challenge.salt, CHAT_SALT_LEN);
        tb_u32(t, m->u.challenge.opslimit);
        tb_u32(t, m->u.challenge.memlimit_kib);
        break;
    case CHAT_MSG_LOGIN_FAILED:
        tb_u16(t, m->u.login_failed.code);
        tb_u8(t, m->u.login_failed.attempts_left);
        tb_s8(t, m->u.login_failed.text);
        break;
    case CHAT_MSG_WELCOME:
        tb_s8(t, m->u.welcome.user);
        tb_u8(t, m->u.welcome.role);
        tb_u64(t, m->u.welcome.time_ms);
        tb_s16(t, m->u.welcome.motd);
        break;
    case CHAT_MSG_ERROR:
        tb_u32(t, m->req);
        tb_u16(t, m->u.error.code);
        tb_s8(t, m->u.error.text);
        break;
    case CHAT_MSG_ROOM_LIST:
    case CHAT_MSG_USER_LIST:
        tb_u32(t, m->req);
        tb_u8(t, m->u.list.flags);
        tb_u16(t, m->u.list.count);
        tb_raw(t, m->u.list.entries, m->u.list.entries_len);
        break;
    case CHAT_MSG_NAMES:
        tb_u32(t, m->req);
        tb_s8(t, m->u.names.room);
        tb_u8(t, m->u.names.flags);
        tb_u16(t, m->u.names.count);
        tb_raw(t, m->u.names.entries, m->u.names.entries_len);
        break;
    case CHAT_MSG_MESSAGE:
        tb_u8(t, m->u.message.kind);
        tb_u8(t, m->u.message.flags);
        tb_s8(t, m->u.message.target);
        tb_s8(t, m->u.message.from);
        tb_u64(t, m->u.message.seq);
        tb_u64(t, m->u.message.time_ms);
        tb_s16(t, m->u.message.text);
        break;
    case CHAT_MSG_JOINED:
        tb_s8(t, m->u.joined.room);
        tb_s8(t, m->u.joined.user);
        tb_u64(t, m->u.joined.time_ms);
        break;
    case CHAT_MSG_PARTED:
        tb_s8(t, m->u.parted.room);
        tb_s8(t, m->u.parted.user);
        tb_u16(t, m->u.parted.reason);
        tb_u64(t, m->u.parted.time_ms);
        break;
    case CHAT_MSG_TOPIC_CHANGED:
        tb_s8(t, m->u.topic_changed.room);
        tb_s8(t, m->u.topic_changed.by);
        tb_u64(t, m->u.topic_changed.time_ms);
        tb_s16(t, m->u.topic_changed.topic);
        break;
    default:
        fail_msg("tb_msg: unknown type 0x%02x", m->type);
    }
}

static void assert_verifier_eq(const chat_verifier *a, const chat_verifier *b)
{
    assert_memory_equal(a->salt, b->salt, CHAT_SALT_LEN);
    assert_int_equal(a->opslimit, b->opslimit);
    assert_int_equal(a->memlimit_kib, b->memlimit_kib);
    assert_memory_equal(a->pk, b->pk, CHAT_PK_LEN);
}

/* Every field of two messages of the same type is equal. */
static void assert_msg_eq(const chat_msg *a, const chat_msg *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->req, b->req);
    switch (a->type) {
    case CHAT_MSG_LOGIN: assert_str_eq(a->u.login.user, b->u.login.user); break;
    case CHAT_MSG_PROOF: assert_memory_equal(a->u.proof.sig, b->u.proof.sig, CHAT_SIG_LEN); break;
    case CHAT_MSG_JOIN:
    case CHAT_MSG_PART:
    case CHAT_MSG_WHO: assert_str_eq(a->u.room.room, b->u.room.room); break;
    case CHAT_MSG_LIST:
    case CHAT_MSG_PING:
    case CHAT_MSG_USERS:
    case CHAT_MSG_OK: break;
    case CHAT_MSG_TOPIC:
        assert_str_eq(a->u.topic.room, b->u.topic.room);
        assert_str_eq(a->u.topic.topic, b->u.topic.topic);
        break;
    case CHAT_MSG_SEND:
        assert_int_equal(a->u.send.kind, b->u.send.kind);
        assert_str_eq(a->u.send.target, b->u.send.target);
        assert_str_eq(a->u.send.text, b->u.send.text);
        break;
    case CHAT_MSG_PASSWD: assert_verifier_eq(&a->u.passwd.v, &b->u.passwd.v); break;
    case CHAT_MSG_ADD_USER:
        assert_str_eq(a->u.add_user.user, b->u.add_user.user);
        assert_int_equal(a->u.add_user.role, b->u.add_user.role);
        assert_verifier_eq(&a->u.add_user.v, &b->u.add_user.v);
        break;
    case CHAT_MSG_DEL_USER: assert_str_eq(a->u.del_user.user, b->u.del_user.user); break;
    case CHAT_MSG_KICK:
        assert_str_eq(a->u.kick.user, b->u.kick.user);
        assert_str_eq(a->u.kick.reason, b->u.kick.reason);
        break;
    case CHAT_MSG_SHUTDOWN: assert_str_eq(a->u.shutdown.reason, b->u.shutdown.reason); break;
    case CHAT_MSG_GOODBYE:
        assert_int_equal(a->u.goodbye.code, b->u.goodbye.code);
        assert_str_eq(a->u.goodbye.text, b->u.goodbye.text);
        break;
    case CHAT_MSG_CHALLENGE:
        assert_memory_equal(a->u.challenge.salt, b->u.challenge.salt, CHAT_SALT_LEN);
        assert_int_equal(a->u.challenge.opslimit, b->u.challenge.opslimit);
        assert_int_equal(a->u.challenge.memlimit_kib, b->u.challenge.memlimit_kib);
        break;
    case CHAT_MSG_LOGIN_FAILED:
        assert_int_equal(a->u.login_failed.code, b->u.login_failed.code);
        assert_int_equal(a->u.login_failed.attempts_left, b->u.login_failed.attempts_left);
        assert_str_eq(a->u.login_failed.text, b->u.login_failed.text);
        break;
    case CHAT_MSG_WELCOME:
        assert_str_eq(a->u.welcome.user, b->u.welcome.user);
        assert_int_equal(a->u.welcome.role, b->u.welcome.role);
        assert_int_equal(a->u.welcome.time_ms, b->u.welcome.time_ms);
        assert_str_eq(a->u.welcome.motd, b->u.welcome.motd);
        break;
    case CHAT_MSG_ERROR:
        assert_int_equal(a->u.error.code, b->u.error.code);
        assert_str_eq(a->u.error.text, b->u.error.text);
        break;
    case CHAT_MSG_ROOM_LIST:
    case CHAT_MSG_USER_LIST:
        assert_int_equal(a->u.list.flags, b->u.list.flags);
        assert_int_equal(a->u.list.count, b->u.list.count);
        assert_str_eq(SB(a->u.list.entries, a->u.list.entries_len),
                      SB(b->u.list.entries, b->u.list.entries_len));
        break;
    case CHAT_MSG_NAMES:
        assert_str_eq(a->u.names.room, b->u.names.room);
        assert_int_equal(a->u.names.flags, b->u.names.flags);
        assert_int_equal(a->u.names.count, b->u.names.count);
        assert_str_eq(SB(a->u.names.entries, a->u.names.entries_len),
                      SB(b->u.names.entries, b->u.names.entries_len));
        break;
    case CHAT_MSG_MESSAGE:
        assert_int_equal(a->u.message.kind, b->u.message.kind);
        assert_int_equal(a->u.message.flags, b->u.message.flags);
        assert_str_eq(a->u.message.target, b->u.message.target);
        assert_str_eq(a->u.message.from, b->u.message.from);
        assert_int_equal(a->u.message.seq, b->u.message.seq);
        assert_int_equal(a->u.message.time_ms, b->u.message.time_ms);
        assert_str_eq(a->u.message.text, b->u.message.text);
        break;
    case CHAT_MSG_JOINED:
        assert_str_eq(a->u.joined.room, b->u.joined.room);
        assert_str_eq(a->u.joined.user, b->u.joined.user);
        assert_int_equal(a->u.joined.time_ms, b->u.joined.time_ms);
        break;
    case CHAT_MSG_PARTED:
        assert_str_eq(a->u.parted.room, b->u.parted.room);
        assert_str_eq(a->u.parted.user, b->u.parted.user);
        assert_int_equal(a->u.parted.reason, b->u.parted.reason);
        assert_int_equal(a->u.parted.time_ms, b->u.parted.time_ms);
        break;
    case CHAT_MSG_TOPIC_CHANGED:
        assert_str_eq(a->u.topic_changed.room, b->u.topic_changed.room);
        assert_str_eq(a->u.topic_changed.by, b->u.topic_changed.by);
        assert_int_equal(a->u.topic_changed.time_ms, b->u.topic_changed.time_ms);
        assert_str_eq(a->u.topic_changed.topic, b->u.topic_changed.topic);
        break;
    default:
        fail_msg("assert_msg_eq: unknown type 0x%02x", a->type);
    }
}

/* A message under construction plus storage for its list entries. */
typedef struct tcase {
    chat_msg m;
    tb ent;
} tcase;

static void set_verifier(chat_verifier *v, uint32_t ops, uint32_t mem)
{
    for (size_t i = 0; i < CHAT_SALT_LEN; i++)
        v->salt[i] = (uint8_t)(0xA0 + i);
    for (size_t i = 0; i < CHAT_PK_LEN; i++)
        v->pk[i] = (uint8_t)(0x20 + i);
    v->opslimit = ops;
    v->memlimit_kib = mem;
}

static void point_list(tcase *c)
{
    if (c->m.type == CHAT_MSG_NAMES) {
        c->m.u.names.entries = c->ent.b;
        c->m.u.names.entries_len = c->ent.n;
    } else {
        c->m.u.list.entries = c->ent.b;
        c->m.u.list.entries_len = c->ent.n;
    }
}

/* Hand-built entries (no validation), for both good and bad entries. */
static void ent_room(tb *t, chat_str room, uint32_t members, chat_str topic)
{
    tb_s8(t, room);
    tb_u32(t, members);
    tb_s16(t, topic);
}

static void ent_user(tb *t, chat_str user, unsigned role, unsigned online)
{
    tb_s8(t, user);
    tb_u8(t, role);
    tb_u8(t, online);
}

static void ent_name(tb *t, chat_str user)
{
    tb_s8(t, user);
}

/* The 28 message types of §6. */
static const uint8_t all_types[] = {
    CHAT_MSG_LOGIN,     CHAT_MSG_PROOF,        CHAT_MSG_JOIN,     CHAT_MSG_PART,
    CHAT_MSG_LIST,      CHAT_MSG_WHO,          CHAT_MSG_TOPIC,    CHAT_MSG_SEND,
    CHAT_MSG_PASSWD,    CHAT_MSG_PING,         CHAT_MSG_ADD_USER, CHAT_MSG_DEL_USER,
    CHAT_MSG_USERS,     CHAT_MSG_KICK,         CHAT_MSG_SHUTDOWN, CHAT_MSG_GOODBYE,
    CHAT_MSG_CHALLENGE, CHAT_MSG_LOGIN_FAILED, CHAT_MSG_WELCOME,  CHAT_MSG_OK,
    CHAT_MSG_ERROR,     CHAT_MSG_ROOM_LIST,    CHAT_MSG_NAMES,    CHAT_MSG_USER_LIST,
    CHAT_MSG_MESSAGE,   CHAT_MSG_JOINED,       CHAT_MSG_PARTED,   CHAT_MSG_TOPIC_CHANGED,
};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

/* A valid sample of each type with distinctive, non-zero field values. */
static void make_sample(tcase *c, uint8_t type)
{
    memset(c, 0, sizeof *c);
    chat_msg *m = &c->m;
    m->type = type;
    switch (type) {
    case CHAT_MSG_LOGIN: m->u.login.user = S("Alice"); break;
    case CHAT_MSG_PROOF:
        for (size_t i = 0; i < CHAT_SIG_LEN; i++)
            m->u.proof.sig[i] = (uint8_t)(i * 3 + 1);
        break;
    case CHAT_MSG_JOIN:
        m->req = 0x01020304;
        m->u.room.room = S("#general");
        break;
    case CHAT_MSG_PART:
        m->req = 7;
        m->u.room.room = S("#x9");
        break;
    case CHAT_MSG_LIST: m->req = 0xFFFFFFFFu; break;
    case CHAT_MSG_WHO:
        m->req = 0;
        m->u.room.room = S("#a");
        break;
    case CHAT_MSG_TOPIC:
        m->req = 5;
        m->u.topic.room = S("#general");
        m->u.topic.topic = S("Release caf\xc3\xa9 \xe2\x98\x95");
        break;
    case CHAT_MSG_SEND:
        m->req = 9;
        m->u.send.kind = CHAT_KIND_ACTION;
        m->u.send.target = S("bob");
        m->u.send.text = S("waves \xf0\x9f\x91\x8b");
        break;
    case CHAT_MSG_PASSWD:
        m->req = 11;
        set_verifier(&m->u.passwd.v, 2, 65536);
        break;
    case CHAT_MSG_PING: m->req = 42; break;
    case CHAT_MSG_ADD_USER:
        m->req = 12;
        m->u.add_user.user = S("carol");
        m->u.add_user.role = CHAT_ROLE_ADMIN;
        set_verifier(&m->u.add_user.v, 1, 8);
        break;
    case CHAT_MSG_DEL_USER:
        m->req = 13;
        m->u.del_user.user = S("dave");
        break;
    case CHAT_MSG_USERS: m->req = 14; break;
    case CHAT_MSG_KICK:
        m->req = 15;
        m->u.kick.user = S("eve");
        m->u.kick.reason = S("spam");
        break;
    case CHAT_MSG_SHUTDOWN:
        m->req = 16;
        m->u.shutdown.reason = S("");
        break;
    case CHAT_MSG_GOODBYE:
        m->u.goodbye.code = CHAT_CODE_QUIT;
        m->u.goodbye.text = S("bye");
        break;
    case CHAT_MSG_CHALLENGE:
        for (size_t i = 0; i < CHAT_SALT_LEN; i++)
            m->u.challenge.salt[i] = (uint8_t)(0x50 + i);
        m->u.challenge.opslimit = 3;
        m->u.challenge.memlimit_kib = 0x00100000;
        break;
    case CHAT_MSG_LOGIN_FAILED:
        m->u.login_failed.code = CHAT_CODE_BAD_LOGIN;
        m->u.login_failed.attempts_left = 2;
        m->u.login_failed.text = S("bad login");
        break;
    case CHAT_MSG_WELCOME:
        m->u.welcome.user = S("alice");
        m->u.welcome.role = CHAT_ROLE_USER;
        m->u.welcome.time_ms = 0x0102030405060708ull;
        m->u.welcome.motd = S("line1\nline2\n");
        break;
    case CHAT_MSG_OK: m->req = 77; break;
    case CHAT_MSG_ERROR:
        m->req = 78;
        m->u.error.code = CHAT_CODE_NO_SUCH_ROOM;
        m->u.error.text = S("no such room");
        break;
    case CHAT_MSG_ROOM_LIST:
        m->req = 79;
        m->u.list.flags = CHAT_LIST_MORE;
        m->u.list.count = 3;
        ent_room(&c->ent, S("#a"), 1, S(""));
        ent_room(&c->ent, S("#general"), 42, S("topic \xc3\xa9"));
        ent_room(&c->ent, S("#zz"), 0xFFFFFFFFu, S("x"));
        point_list(c);
        break;
    case CHAT_MSG_NAMES:
        m->req = 80;
        m->u.names.room = S("#general");
        m->u.names.flags = 0;
        m->u.names.count = 3;
        ent_name(&c->ent, S("alice"));
        ent_name(&c->ent, S("Bob"));
        ent_name(&c->ent, S("c.d-e_f"));
        point_list(c);
        break;
    case CHAT_MSG_USER_LIST:
        m->req = 81;
        m->u.list.flags = 0;
        m->u.list.count = 2;
        ent_user(&c->ent, S("alice"), 1, 1);
        ent_user(&c->ent, S("bob"), 0, 0);
        point_list(c);
        break;
    case CHAT_MSG_MESSAGE:
        m->u.message.kind = CHAT_KIND_SAY;
        m->u.message.flags = CHAT_MESSAGE_HISTORY;
        m->u.message.target = S("#general");
        m->u.message.from = S("alice");
        m->u.message.seq = 5;
        m->u.message.time_ms = 1700000000000ull;
        m->u.message.text = S("hi \xe6\x97\xa5\xe6\x9c\xac");
        break;
    case CHAT_MSG_JOINED:
        m->u.joined.room = S("#general");
        m->u.joined.user = S("bob");
        m->u.joined.time_ms = 123;
        break;
    case CHAT_MSG_PARTED:
        m->u.parted.room = S("#general");
        m->u.parted.user = S("bob");
        m->u.parted.reason = CHAT_CODE_CONN_LOST;
        m->u.parted.time_ms = 456;
        break;
    case CHAT_MSG_TOPIC_CHANGED:
        m->u.topic_changed.room = S("#general");
        m->u.topic_changed.by = S("alice");
        m->u.topic_changed.time_ms = 789;
        m->u.topic_changed.topic = S("");
        break;
    default:
        fail_msg("make_sample: unknown type 0x%02x", type);
    }
}

static uint8_t g_out[TB_CAP];

/* Accept (`ok`) or reject the message on both sides: the decoder on the
 * naive serialisation, and the encoder on the struct. */
static void check_msg(const chat_msg *m, int ok, const char *what, size_t idx)
{
    tb *wire = malloc(sizeof *wire);
    assert_non_null(wire);
    wire->n = 0;
    tb_msg(wire, m);
    chat_msg d;
    size_t len = 12345;
    int rd = chat_msg_decode(wire->b, wire->n, &d);
    int re = chat_msg_encode(m, g_out, sizeof g_out, &len);
    int want_d = ok ? CHAT_OK : CHAT_E_PROTO;
    int want_e = ok ? CHAT_OK : CHAT_E_INVAL;
    if (rd != want_d || re != want_e)
        print_error("%s [%zu]: decode %d encode %d, expected %s\n", what, idx, rd, re,
                    ok ? "accept" : "reject");
    assert_int_equal(rd, want_d);
    assert_int_equal(re, want_e);
    if (ok) {
        assert_msg_eq(&d, m);
        assert_int_equal(len, wire->n + 2);
        assert_int_equal(g_out[0], (wire->n >> 8) & 0xFF);
        assert_int_equal(g_out[1], wire->n & 0xFF);
        assert_memory_equal(g_out + 2, wire->b, wire->n);
    } else {
        assert_int_equal(len, 0);
    }
    free(wire);
}

/* ---------------------------------------------------------------------
 * Round trips and exact layouts
 * ------------------------------------------------------------------- */

static void test_roundtrip_all_types(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_TYPES; i++) {
        tcase c;
        make_sample(&c, all_types[i]);
        check_msg(&c.m, 1, chat_msg_name(all_types[i]), i);

        /* Decoded strings are views into the input buffer. */
        uint8_t buf[1024];
        size_t len;
        chat_msg d;
        assert_int_equal(chat_msg_encode(&c.m, buf, sizeof buf, &len), CHAT_OK);
        assert_int_equal(chat_msg_decode(buf + 2, len - 2, &d), CHAT_OK);
        if (d.type == CHAT_MSG_LOGIN) {
            assert_ptr_equal(d.u.login.user.p, buf + 4);
        }
        if (d.type == CHAT_MSG_NAMES) {
            assert_true(d.u.names.entries > buf && d.u.names.entries < buf + len);
            assert_ptr_equal(d.u.names.entries + d.u.names.entries_len, buf + len);
        }
    }
}

/* Messages with the other values of their enums and flags also round-trip. */
static void test_roundtrip_variants(void **state)
{
    (void)state;
    tcase c;

    make_sample(&c, CHAT_MSG_SEND);
    c.m.u.send.kind = CHAT_KIND_SAY;
    c.m.u.send.target = S("#Room.1");
    check_msg(&c.m, 1, "SEND to room", 0);

    make_sample(&c, CHAT_MSG_MESSAGE);
    c.m.u.message.kind = CHAT_KIND_ACTION;
    c.m.u.message.flags = 0;
    c.m.u.message.target = S("bob");
    c.m.u.message.seq = 0;
    c.m.u.message.time_ms = UINT64_MAX;
    check_msg(&c.m, 1, "private MESSAGE", 0);

    make_sample(&c, CHAT_MSG_WELCOME);
    c.m.u.welcome.role = CHAT_ROLE_ADMIN;
    c.m.u.welcome.motd = S("");
    check_msg(&c.m, 1, "WELCOME admin", 0);

    make_sample(&c, CHAT_MSG_ROOM_LIST);
    c.m.u.list.flags = 0;
    c.m.u.list.count = 0;
    c.ent.n = 0;
    point_list(&c);
    check_msg(&c.m, 1, "empty ROOM_LIST", 0);

    make_sample(&c, CHAT_MSG_NAMES);
    c.m.u.names.flags = CHAT_LIST_MORE;
    check_msg(&c.m, 1, "NAMES MORE", 0);

    make_sample(&c, CHAT_MSG_USER_LIST);
    c.m.u.list.flags = CHAT_LIST_MORE;
    check_msg(&c.m, 1, "USER_LIST MORE", 0);

    make_sample(&c, CHAT_MSG_GOODBYE);
    c.m.u.goodbye.code = 0xFFFF; /* unknown codes are accepted */
    check_msg(&c.m, 1, "GOODBYE unknown code", 0);

    make_sample(&c, CHAT_MSG_PARTED);
    c.m.u.parted.reason = 0;
    check_msg(&c.m, 1, "PARTED code 0", 0);

    make_sample(&c, CHAT_MSG_LOGIN_FAILED);
    c.m.u.login_failed.attempts_left = 255;
    check_msg(&c.m, 1, "LOGIN_FAILED 255", 0);
}

/* Byte vectors written by hand from the §6 tables. */
static void check_vector(const chat_msg *m, const uint8_t *want, size_t want_len)
{
    uint8_t buf[256];
    size_t len;
    assert_int_equal(chat_msg_encode(m, buf, sizeof buf, &len), CHAT_OK);
    assert_int_equal(len, want_len);
    assert_memory_equal(buf, want, want_len);
    chat_msg d;
    assert_int_equal(chat_msg_decode(want + 2, want_len - 2, &d), CHAT_OK);
    assert_msg_eq(&d, m);
}

static void test_exact_vectors(void **state)
{
    (void)state;
    chat_msg m;

    static const uint8_t login[] = {0x00, 0x07, 0x01, 0x05, 'a', 'l', 'i', 'c', 'e'};
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_LOGIN;
    m.u.login.user = S("alice");
    check_vector(&m, login, sizeof login);

    static const uint8_t send[] = {0x00, 0x0d, 0x15, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02,
                                   '#',  'r',  0x00, 0x02, 'h',  'i'};
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_SEND;
    m.req = 1;
    m.u.send.kind = 1;
    m.u.send.target = S("#r");
    m.u.send.text = S("hi");
    check_vector(&m, send, sizeof send);

    static const uint8_t message[] = {0x00, 0x1c, 0xa0, 0x00, 0x01, 0x02, '#', 'r', 0x02,
                                      'b',  'o',  0,    0,    0,    0,    0,   0,   0,
                                      2,    0,    0,    0,    0,    0,    0,   0,   3,
                                      0x00, 0x01, 'x'};
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_MESSAGE;
    m.u.message.flags = 1;
    m.u.message.target = S("#r");
    m.u.message.from = S("bo");
    m.u.message.seq = 2;
    m.u.message.time_ms = 3;
    m.u.message.text = S("x");
    check_vector(&m, message, sizeof message);

    static const uint8_t names[] = {0x00, 0x10, 0x93, 0x00, 0x00, 0x00, 0x05, 0x02, '#', 'r',
                                    0x00, 0x00, 0x02, 0x01, 'a',  0x02, 'b',  'c'};
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_NAMES;
    m.req = 5;
    m.u.names.room = S("#r");
    m.u.names.count = 2;
    m.u.names.entries = names + 13;
    m.u.names.entries_len = 5;
    check_vector(&m, names, sizeof names);

    static const uint8_t parted[] = {0x00, 0x10, 0xa2, 0x02, '#', 'r', 0x01, 'a', 0x00,
                                     0x6a, 0,    0,    0,    0,   0,   0,    0,   7};
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_PARTED;
    m.u.parted.room = S("#r");
    m.u.parted.user = S("a");
    m.u.parted.reason = CHAT_CODE_CONN_LOST;
    m.u.parted.time_ms = 7;
    check_vector(&m, parted, sizeof parted);

    static const uint8_t challenge[] = {0x00, 0x19, 0x81, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                        0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                        0x11, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00};
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_CHALLENGE;
    memset(m.u.challenge.salt, 0x11, CHAT_SALT_LEN);
    m.u.challenge.opslimit = 2;
    m.u.challenge.memlimit_kib = 65536;
    check_vector(&m, challenge, sizeof challenge);

    static const uint8_t user_list[] = {0x00, 0x0d, 0x94, 0x00, 0x00, 0x01, 0x00, 0x01,
                                        0x00, 0x01, 0x02, 'a',  'b',  0x01, 0x00};
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_USER_LIST;
    m.req = 256;
    m.u.list.flags = 1;
    m.u.list.count = 1;
    m.u.list.entries = user_list + 10;
    m.u.list.entries_len = 5;
    check_vector(&m, user_list, sizeof user_list);
}

/* ---------------------------------------------------------------------
 * Structural rejection: truncation, trailing bytes, types, capacity
 * ------------------------------------------------------------------- */

static void test_truncated_every_length(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_TYPES; i++) {
        tcase c;
        make_sample(&c, all_types[i]);
        uint8_t buf[1024];
        size_t len;
        assert_int_equal(chat_msg_encode(&c.m, buf, sizeof buf, &len), CHAT_OK);
        size_t body = len - 2;
        for (size_t k = 0; k < body; k++) {
            chat_msg d;
            int rc = chat_msg_decode(buf + 2, k, &d);
            if (rc != CHAT_E_PROTO)
                print_error("%s truncated to %zu: %d\n", chat_msg_name(all_types[i]), k, rc);
            assert_int_equal(rc, CHAT_E_PROTO);
        }
        /* Also as a plaintext whose message length runs past its end. */
        for (size_t k = 0; k < len; k++) {
            const uint8_t *p = buf;
            size_t left = k;
            chat_msg d;
            assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_E_PROTO);
            assert_ptr_equal(p, buf);
            assert_int_equal(left, k);
        }
    }
}

static void test_trailing_byte(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_TYPES; i++) {
        tcase c;
        make_sample(&c, all_types[i]);
        uint8_t buf[1024];
        size_t len;
        assert_int_equal(chat_msg_encode(&c.m, buf, sizeof buf, &len), CHAT_OK);
        chat_msg d;
        assert_int_equal(chat_msg_decode(buf + 2, len - 2, &d), CHAT_OK);
        for (unsigned extra = 0; extra < 256; extra += 51) {
            buf[len] = (uint8_t)extra;
            int rc = chat_msg_decode(buf + 2, len - 1, &d);
            if (rc != CHAT_E_PROTO)
                print_error("%s with a trailing byte: %d\n", chat_msg_name(all_types[i]), rc);
            assert_int_equal(rc, CHAT_E_PROTO);
            /* The failed decode leaves nothing behind. */
            assert_int_equal(d.type, 0);
        }
    }
}

static void test_bad_types(void **state)
{
    (void)state;
    size_t known = 0;
    for (unsigned t = 0; t < 256; t++) {
        if (chat_msg_name(t) != NULL) {
            known++;
            assert_int_not_equal(chat_msg_direction(t), 0);
            continue;
        }
        assert_int_equal(chat_msg_direction(t), 0);
        uint8_t in[9] = {(uint8_t)t, 0, 0, 0, 1, 2, 'a', 'b', 0};
        chat_msg d;
        for (size_t n = 1; n <= sizeof in; n++)
            assert_int_equal(chat_msg_decode(in, n, &d), CHAT_E_PROTO);
        chat_msg m;
        memset(&m, 0, sizeof m);
        m.type = (uint8_t)t;
        uint8_t out[64];
        size_t len;
        assert_int_equal(chat_msg_encode(&m, out, sizeof out, &len), CHAT_E_INVAL);
    }
    assert_int_equal(known, N_TYPES);
    chat_msg d;
    assert_int_equal(chat_msg_decode(NULL, 0, &d), CHAT_E_PROTO);
    uint8_t one = CHAT_MSG_PING;
    assert_int_equal(chat_msg_decode(&one, 0, &d), CHAT_E_PROTO);
}

static void test_encode_capacity(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_TYPES; i++) {
        tcase c;
        make_sample(&c, all_types[i]);
        uint8_t buf[1024];
        size_t len;
        assert_int_equal(chat_msg_encode(&c.m, buf, sizeof buf, &len), CHAT_OK);
        for (size_t cap = 0; cap < len; cap++) {
            uint8_t small[1024];
            size_t l2 = 99;
            assert_int_equal(chat_msg_encode(&c.m, small, cap, &l2), CHAT_E_FULL);
            assert_int_equal(l2, 0);
        }
        size_t l3;
        assert_int_equal(chat_msg_encode(&c.m, NULL, 0, &l3), CHAT_E_FULL);
        uint8_t exact[1024];
        assert_int_equal(chat_msg_encode(&c.m, exact, len, &l3), CHAT_OK);
        assert_int_equal(l3, len);
        assert_memory_equal(exact, buf, len);
    }
}

/* Change every byte of every sample to every value: the decoder must stay
 * total, and whatever it accepts must re-encode to the very same bytes (so
 * the encoder accepts exactly what the decoder accepts). */
static void test_mutations_canonical(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_TYPES; i++) {
        tcase c;
        make_sample(&c, all_types[i]);
        uint8_t buf[1024];
        size_t len;
        assert_int_equal(chat_msg_encode(&c.m, buf, sizeof buf, &len), CHAT_OK);
        uint8_t *body = buf + 2;
        size_t n = len - 2;
        for (size_t pos = 0; pos < n; pos++) {
            uint8_t orig = body[pos];
            for (unsigned v = 0; v < 256; v++) {
                body[pos] = (uint8_t)v;
                chat_msg d;
                if (chat_msg_decode(body, n, &d) != CHAT_OK)
                    continue;
                uint8_t again[1024];
                size_t l2;
                assert_int_equal(chat_msg_encode(&d, again, sizeof again, &l2), CHAT_OK);
                assert_int_equal(l2, len);
                assert_memory_equal(again + 2, body, n);
            }
            body[pos] = orig;
        }
    }
}

/* ---------------------------------------------------------------------
 * Field sites: where names, rooms, texts, enums, flags and limits occur
 * ------------------------------------------------------------------- */

typedef void (*str_site)(tcase *c, chat_str v);

static void site_login_user(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_LOGIN); c->m.u.login.user = v; }
static void site_add_user_user(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_ADD_USER); c->m.u.add_user.user = v; }
static void site_del_user_user(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_DEL_USER); c->m.u.del_user.user = v; }
static void site_kick_user(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_KICK); c->m.u.kick.user = v; }
static void site_welcome_user(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_WELCOME); c->m.u.welcome.user = v; }
static void site_message_from(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_MESSAGE); c->m.u.message.from = v; }
static void site_joined_user(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_JOINED); c->m.u.joined.user = v; }
static void site_parted_user(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_PARTED); c->m.u.parted.user = v; }
static void site_tc_by(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_TOPIC_CHANGED); c->m.u.topic_changed.by = v; }
static void site_names_entry(tcase *c, chat_str v)
{
    make_sample(c, CHAT_MSG_NAMES);
    c->ent.n = 0;
    ent_name(&c->ent, S("alice"));
    ent_name(&c->ent, v);
    c->m.u.names.count = 2;
    point_list(c);
}
static void site_user_list_entry(tcase *c, chat_str v)
{
    make_sample(c, CHAT_MSG_USER_LIST);
    c->ent.n = 0;
    ent_user(&c->ent, v, 0, 1);
    c->m.u.list.count = 1;
    point_list(c);
}

static void site_join_room(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_JOIN); c->m.u.room.room = v; }
static void site_part_room(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_PART); c->m.u.room.room = v; }
static void site_who_room(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_WHO); c->m.u.room.room = v; }
static void site_topic_room(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_TOPIC); c->m.u.topic.room = v; }
static void site_names_room(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_NAMES); c->m.u.names.room = v; point_list(c); }
static void site_joined_room(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_JOINED); c->m.u.joined.room = v; }
static void site_parted_room(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_PARTED); c->m.u.parted.room = v; }
static void site_tc_room(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_TOPIC_CHANGED); c->m.u.topic_changed.room = v; }
static void site_room_list_room(tcase *c, chat_str v)
{
    make_sample(c, CHAT_MSG_ROOM_LIST);
    c->ent.n = 0;
    ent_room(&c->ent, S("#ok"), 3, S("t"));
    ent_room(&c->ent, v, 1, S(""));
    c->m.u.list.count = 2;
    point_list(c);
}

static void site_send_target(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_SEND); c->m.u.send.target = v; }
static void site_message_target(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_MESSAGE); c->m.u.message.target = v; }

static void site_send_text(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_SEND); c->m.u.send.text = v; }
static void site_message_text(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_MESSAGE); c->m.u.message.text = v; }
static void site_topic_topic(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_TOPIC); c->m.u.topic.topic = v; }
static void site_tc_topic(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_TOPIC_CHANGED); c->m.u.topic_changed.topic = v; }
static void site_room_list_topic(tcase *c, chat_str v)
{
    make_sample(c, CHAT_MSG_ROOM_LIST);
    c->ent.n = 0;
    ent_room(&c->ent, S("#ok"), 3, v);
    c->m.u.list.count = 1;
    point_list(c);
}
static void site_goodbye_text(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_GOODBYE); c->m.u.goodbye.text = v; }
static void site_error_text(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_ERROR); c->m.u.error.text = v; }
static void site_lf_text(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_LOGIN_FAILED); c->m.u.login_failed.text = v; }
static void site_kick_reason(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_KICK); c->m.u.kick.reason = v; }
static void site_shutdown_reason(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_SHUTDOWN); c->m.u.shutdown.reason = v; }
static void site_welcome_motd(tcase *c, chat_str v) { make_sample(c, CHAT_MSG_WELCOME); c->m.u.welcome.motd = v; }

typedef struct named_site {
    const char *name;
    str_site fn;
} named_site;

static const named_site user_sites[] = {
    {"LOGIN.user", site_login_user},       {"ADD_USER.user", site_add_user_user},
    {"DEL_USER.user", site_del_user_user}, {"KICK.user", site_kick_user},
    {"WELCOME.user", site_welcome_user},   {"MESSAGE.from", site_message_from},
    {"JOINED.user", site_joined_user},     {"PARTED.user", site_parted_user},
    {"TOPIC_CHANGED.by", site_tc_by},      {"NAMES entry", site_names_entry},
    {"USER_LIST entry", site_user_list_entry},
};

static const named_site room_sites[] = {
    {"JOIN.room", site_join_room},     {"PART.room", site_part_room},
    {"WHO.room", site_who_room},       {"TOPIC.room", site_topic_room},
    {"NAMES.room", site_names_room},   {"JOINED.room", site_joined_room},
    {"PARTED.room", site_parted_room}, {"TOPIC_CHANGED.room", site_tc_room},
    {"ROOM_LIST entry room", site_room_list_room},
};

static const named_site target_sites[] = {
    {"SEND.target", site_send_target},
    {"MESSAGE.target", site_message_target},
};

/* Text fields with their limits (§5.4). */
typedef struct text_site {
    const char *name;
    str_site fn;
    size_t min, max;
    int allow_lf;
} text_site;

static const text_site text_sites[] = {
    {"SEND.text", site_send_text, 1, 4000, 0},
    {"MESSAGE.text", site_message_text, 1, 4000, 0},
    {"TOPIC.topic", site_topic_topic, 0, 300, 0},
    {"TOPIC_CHANGED.topic", site_tc_topic, 0, 300, 0},
    {"ROOM_LIST entry topic", site_room_list_topic, 0, 300, 0},
    {"GOODBYE.text", site_goodbye_text, 0, 200, 0},
    {"ERROR.text", site_error_text, 0, 200, 0},
    {"LOGIN_FAILED.text", site_lf_text, 0, 200, 0},
    {"KICK.reason", site_kick_reason, 0, 200, 0},
    {"SHUTDOWN.reason", site_shutdown_reason, 0, 200, 0},
    {"WELCOME.motd", site_welcome_motd, 0, 4000, 1},
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void check_site(str_site fn, chat_str v, int ok, const char *what, size_t idx)
{
    tcase *c = malloc(sizeof *c);
    assert_non_null(c);
    fn(c, v);
    check_msg(&c->m, ok, what, idx);
    free(c);
}

/* Name values: [0] is the string, accepted as a user name or not. */
typedef struct name_case {
    const char *s;
    int user_ok;
} name_case;

static const name_case name_cases[] = {
    {"a", 1},
    {"alice", 1},
    {"Alice", 1}, /* upper case is accepted; compared case-insensitively */
    {"ALICE.b_c-d9", 1},
    {"z0", 1},
    {"abcdefghijklmnopqrstuvwxyz012345", 1}, /* 32 */
    {"abcdefghijklmnopqrstuvwxyz0123456", 0}, /* 33 */
    {"", 0},
    {"1abc", 0},
    {"123", 0},
    {"_abc", 0},
    {"-abc", 0},
    {".abc", 0},
    {"al@ce", 0},
    {"al ce", 0},
    {"al/ce", 0},
    {"alice\n", 0},
    {"caf\xc3\xa9", 0},
    {"#abc", 0}, /* a room, not a user */
};

static void test_user_name_fields(void **state)
{
    (void)state;
    for (size_t s = 0; s < ARRAY_LEN(user_sites); s++)
        for (size_t i = 0; i < ARRAY_LEN(name_cases); i++)
            check_site(user_sites[s].fn, S(name_cases[i].s), name_cases[i].user_ok,
                       user_sites[s].name, i);
    /* A NUL inside a name. */
    for (size_t s = 0; s < ARRAY_LEN(user_sites); s++)
        check_site(user_sites[s].fn, SB("ab\0c", 4), 0, user_sites[s].name, 99);
}

static const name_case room_cases[] = {
    {"#a", 1},
    {"#General", 1},
    {"#x.y_z-9", 1},
    {"#abcdefghijklmnopqrstuvwxyz012345", 1}, /* 33 */
    {"#abcdefghijklmnopqrstuvwxyz0123456", 0}, /* 34 */
    {"#", 0},
    {"", 0},
    {"general", 0},
    {"#1abc", 0},
    {"##abc", 0},
    {"#ab@c", 0},
    {"#a b", 0},
    {"&abc", 0},
};

static void test_room_name_fields(void **state)
{
    (void)state;
    for (size_t s = 0; s < ARRAY_LEN(room_sites); s++)
        for (size_t i = 0; i < ARRAY_LEN(room_cases); i++)
            check_site(room_sites[s].fn, S(room_cases[i].s), room_cases[i].user_ok,
                       room_sites[s].name, i);
}

static void test_target_fields(void **state)
{
    (void)state;
    for (size_t s = 0; s < ARRAY_LEN(target_sites); s++) {
        for (size_t i = 0; i < ARRAY_LEN(name_cases); i++) {
            const char *v = name_cases[i].s;
            int ok = name_cases[i].user_ok || strcmp(v, "#abc") == 0;
            check_site(target_sites[s].fn, S(v), ok, target_sites[s].name, i);
        }
        for (size_t i = 0; i < ARRAY_LEN(room_cases); i++) {
            const char *v = room_cases[i].s;
            /* "general" is not a room but is a user name. */
            int ok = room_cases[i].user_ok || strcmp(v, "general") == 0;
            check_site(target_sites[s].fn, S(v), ok, target_sites[s].name, 100 + i);
        }
    }
}

/* A buffer of n copies of c. */
static chat_str fill(uint8_t *buf, size_t n, uint8_t c)
{
    memset(buf, c, n);
    return SB(buf, n);
}

static void test_text_limits(void **state)
{
    (void)state;
    static uint8_t buf[5000];
    for (size_t s = 0; s < ARRAY_LEN(text_sites); s++) {
        const text_site *t = &text_sites[s];
        check_site(t->fn, fill(buf, t->max, 'a'), 1, t->name, t->max);
        check_site(t->fn, fill(buf, t->max + 1, 'a'), 0, t->name, t->max + 1);
        check_site(t->fn, S(""), t->min == 0, t->name, 0);
        check_site(t->fn, S("x"), 1, t->name, 1);
        /* The limit counts bytes, not characters: max bytes of 2-byte é. */
        size_t n = t->max & ~(size_t)1;
        for (size_t i = 0; i < n; i += 2) {
            buf[i] = 0xC3;
            buf[i + 1] = 0xA9;
        }
        check_site(t->fn, SB(buf, n), 1, t->name, n);
        buf[n] = 0xC3;
        buf[n + 1] = 0xA9;
        check_site(t->fn, SB(buf, n + 2), 0, t->name, n + 2);
    }
}

typedef struct bytes_case {
    const char *what;
    uint8_t b[8];
    size_t n;
} bytes_case;

/* Ill-formed UTF-8 (§5.3). */
static const bytes_case bad_utf8[] = {
    {"overlong '/' (2 bytes)", {0xC0, 0xAF}, 2},
    {"overlong NUL (2 bytes)", {0xC0, 0x80}, 2},
    {"overlong U+007F (C1 lead)", {0xC1, 0xBF}, 2},
    {"overlong '/' (3 bytes)", {0xE0, 0x80, 0xAF}, 3},
    {"overlong U+07FF (3 bytes)", {0xE0, 0x9F, 0xBF}, 3},
    {"overlong '/' (4 bytes)", {0xF0, 0x80, 0x80, 0xAF}, 4},
    {"overlong U+FFFF (4 bytes)", {0xF0, 0x8F, 0xBF, 0xBF}, 4},
    {"surrogate U+D800", {0xED, 0xA0, 0x80}, 3},
    {"surrogate U+DBFF", {0xED, 0xAF, 0xBF}, 3},
    {"surrogate U+DC00", {0xED, 0xB0, 0x80}, 3},
    {"surrogate U+DFFF", {0xED, 0xBF, 0xBF}, 3},
    {"surrogate pair", {0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}, 6},
    {"U+110000", {0xF4, 0x90, 0x80, 0x80}, 4},
    {"F5 lead", {0xF5, 0x80, 0x80, 0x80}, 4},
    {"F8 5-byte lead", {0xF8, 0x88, 0x80, 0x80, 0x80}, 5},
    {"FC 6-byte lead", {0xFC, 0x84, 0x80, 0x80, 0x80, 0x80}, 6},
    {"FE", {0xFE}, 1},
    {"FF", {0xFF}, 1},
    {"truncated 2-byte", {0xC3}, 1},
    {"truncated 2-byte before ASCII", {0xC3, 'a'}, 2},
    {"truncated 3-byte", {0xE6, 0x97}, 2},
    {"truncated 3-byte before ASCII", {0xE6, 0x97, 'a'}, 3},
    {"truncated 4-byte", {0xF0, 0x9F, 0x98}, 3},
    {"truncated 4-byte, 1 byte", {'a', 0xF0}, 2},
    {"stray continuation", {0x80}, 1},
    {"stray continuation mid", {'a', 0xBF, 'b'}, 3},
    {"extra continuation", {0xC3, 0xA9, 0xA9}, 3},
};

/* Well-formed but forbidden code points (§5.3), never allowed. */
static const bytes_case forbidden[] = {
    {"NUL", {0x00}, 1},
    {"U+0001", {0x01}, 1},
    {"BEL", {0x07}, 1},
    {"BS", {0x08}, 1},
    {"TAB", {'a', 0x09, 'b'}, 3},
    {"VT", {0x0B}, 1},
    {"FF", {0x0C}, 1},
    {"CR", {'a', 0x0D}, 2},
    {"ESC", {0x1B, '[', '2', 'J'}, 4},
    {"U+001F", {0x1F}, 1},
    {"DEL", {0x7F}, 1},
    {"C1 U+0080", {0xC2, 0x80}, 2},
    {"C1 NEL U+0085", {0xC2, 0x85}, 2},
    {"C1 CSI U+009B", {0xC2, 0x9B}, 2},
    {"C1 U+009F", {0xC2, 0x9F}, 2},
    {"LINE SEPARATOR U+2028", {0xE2, 0x80, 0xA8}, 3},
    {"PARAGRAPH SEPARATOR U+2029", {0xE2, 0x80, 0xA9}, 3},
    {"LRE U+202A", {0xE2, 0x80, 0xAA}, 3},
    {"RLE U+202B", {0xE2, 0x80, 0xAB}, 3},
    {"PDF U+202C", {0xE2, 0x80, 0xAC}, 3},
    {"LRO U+202D", {0xE2, 0x80, 0xAD}, 3},
    {"RLO U+202E", {'a', 0xE2, 0x80, 0xAE, 'b'}, 5},
    {"LRI U+2066", {0xE2, 0x81, 0xA6}, 3},
    {"RLI U+2067", {0xE2, 0x81, 0xA7}, 3},
    {"FSI U+2068", {0xE2, 0x81, 0xA8}, 3},
    {"PDI U+2069", {0xE2, 0x81, 0xA9}, 3},
};

/* Valid text, including neighbours of the forbidden ranges. */
static const bytes_case good_text[] = {
    {"ASCII", {'h', 'i', ' ', '~'}, 4},
    {"space", {' '}, 1},
    {"e acute", {0xC3, 0xA9}, 2},
    {"U+00A0 (after C1)", {0xC2, 0xA0}, 2},
    {"U+07FF", {0xDF, 0xBF}, 2},
    {"U+0800", {0xE0, 0xA0, 0x80}, 3},
    {"nihon", {0xE6, 0x97, 0xA5, 0xE6, 0x9C, 0xAC}, 6},
    {"U+1F600 emoji", {0xF0, 0x9F, 0x98, 0x80}, 4},
    {"U+FEFF BOM", {0xEF, 0xBB, 0xBF}, 3},
    {"U+2027", {0xE2, 0x80, 0xA7}, 3},
    {"U+202F", {0xE2, 0x80, 0xAF}, 3},
    {"U+2065", {0xE2, 0x81, 0xA5}, 3},
    {"U+206A", {0xE2, 0x81, 0xAA}, 3},
    {"U+200F RLM (not listed)", {0xE2, 0x80, 0x8F}, 3},
    {"U+D7FF", {0xED, 0x9F, 0xBF}, 3},
    {"U+E000", {0xEE, 0x80, 0x80}, 3},
    {"U+FFFD", {0xEF, 0xBF, 0xBD}, 3},
    {"U+FFFF", {0xEF, 0xBF, 0xBF}, 3},
    {"U+10000", {0xF0, 0x90, 0x80, 0x80}, 4},
    {"U+10FFFF", {0xF4, 0x8F, 0xBF, 0xBF}, 4},
};

static void test_valid_text(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(good_text); i++) {
        if (!chat_valid_text(good_text[i].b, good_text[i].n, 0))
            fail_msg("rejected good text: %s", good_text[i].what);
        assert_true(chat_valid_text(good_text[i].b, good_text[i].n, 1));
    }
    for (size_t i = 0; i < ARRAY_LEN(bad_utf8); i++) {
        if (chat_valid_text(bad_utf8[i].b, bad_utf8[i].n, 0) ||
            chat_valid_text(bad_utf8[i].b, bad_utf8[i].n, 1))
            fail_msg("accepted bad UTF-8: %s", bad_utf8[i].what);
    }
    for (size_t i = 0; i < ARRAY_LEN(forbidden); i++) {
        if (chat_valid_text(forbidden[i].b, forbidden[i].n, 0) ||
            chat_valid_text(forbidden[i].b, forbidden[i].n, 1))
            fail_msg("accepted forbidden: %s", forbidden[i].what);
    }
    /* LF only with allow_lf; CR never. */
    assert_false(chat_valid_text((const uint8_t *)"a\nb", 3, 0));
    assert_true(chat_valid_text((const uint8_t *)"a\nb", 3, 1));
    assert_true(chat_valid_text((const uint8_t *)"\n", 1, 1));
    assert_false(chat_valid_text((const uint8_t *)"a\r\nb", 4, 1));
    assert_true(chat_valid_text(NULL, 0, 0));
    assert_true(chat_valid_text((const uint8_t *)"", 0, 0));
    assert_false(chat_valid_text(NULL, 1, 0));

    /* Every C0 control, DEL and every C1 control, exhaustively. */
    for (unsigned c = 0; c < 0x20; c++) {
        uint8_t b = (uint8_t)c;
        assert_false(chat_valid_text(&b, 1, 0));
        assert_int_equal(chat_valid_text(&b, 1, 1), c == 0x0A);
    }

    for (unsigned c = 0x80; c <= 0x9F; c++) {
        uint8_t b[2] = {0xC2, (uint8_t)c};
        assert_false(chat_valid_text(b, 2, 1));
    }
    /* Every 2-byte lead with every second byte: exactly the well-formed
     * sequences outside C1 pass. */
    for (unsigned a = 0x80; a < 0x100; a++) {
        for (unsigned b = 0; b < 0x100; b++) {
            uint8_t s[2] = {(uint8_t)a, (uint8_t)b};
            int ok = a >= 0xC2 && a <= 0xDF && b >= 0x80 && b <= 0xBF && !(a == 0xC2 && b < 0xA0);
            assert_int_equal(chat_valid_text(s, 2, 0), ok);
        }
    }
}

/* chat_valid_text skips printable ASCII eight bytes at a time: every byte
 * value at every offset of a printable run, and every vector above behind
 * 0..17 printable bytes and before some more, must get the byte-by-byte
 * answer wherever the words fall. */
static int embedded_ok(const uint8_t *v, size_t vn, size_t pre, int allow_lf)
{
    uint8_t buf[64];
    memset(buf, 'x', sizeof buf);
    memcpy(buf + pre, v, vn);
    return chat_valid_text(buf, pre + vn + 9, allow_lf);
}

static void test_valid_text_fast_path(void **state)
{
    (void)state;
    for (int b = 0; b < 256; b++) {
        for (size_t pos = 0; pos < 24; pos++) {
            uint8_t buf[24];
            memset(buf, 'a', sizeof buf);
            buf[pos] = (uint8_t)b;
            for (int lf = 0; lf <= 1; lf++) {
                int want = (b >= 0x20 && b < 0x7F) || (b == 0x0A && lf);
                if (chat_valid_text(buf, sizeof buf, lf) != want)
                    fail_msg("byte 0x%02x at offset %zu (allow_lf %d): got %d", b, pos, lf, !want);
            }
        }
    }
    for (size_t pre = 0; pre < 18; pre++) {
        for (size_t i = 0; i < ARRAY_LEN(good_text); i++)
            if (!embedded_ok(good_text[i].b, good_text[i].n, pre, 0))
                fail_msg("rejected good text after %zu bytes: %s", pre, good_text[i].what);
        for (size_t i = 0; i < ARRAY_LEN(bad_utf8); i++)
            if (embedded_ok(bad_utf8[i].b, bad_utf8[i].n, pre, 1))
                fail_msg("accepted bad UTF-8 after %zu bytes: %s", pre, bad_utf8[i].what);
        for (size_t i = 0; i < ARRAY_LEN(forbidden); i++)
            if (embedded_ok(forbidden[i].b, forbidden[i].n, pre, 1))
                fail_msg("accepted forbidden after %zu bytes: %s", pre, forbidden[i].what);
    }
}

static void test_text_fields_reject(void **state)
{
    (void)state;
    uint8_t buf[16];
    for (size_t s = 0; s < ARRAY_LEN(text_sites); s++) {
        const text_site *t = &text_sites[s];
        for (size_t i = 0; i < ARRAY_LEN(bad_utf8); i++)
            check_site(t->fn, SB(bad_utf8[i].b, bad_utf8[i].n), 0, t->name, i);
        for (size_t i = 0; i < ARRAY_LEN(forbidden); i++)
            check_site(t->fn, SB(forbidden[i].b, forbidden[i].n), 0, t->name, 100 + i);
        for (size_t i = 0; i < ARRAY_LEN(good_text); i++)
            check_site(t->fn, SB(good_text[i].b, good_text[i].n), 1, t->name, 200 + i);
        /* LF: only in the MOTD. */
        check_site(t->fn, S("one\ntwo"), t->allow_lf, t->name, 300);
        check_site(t->fn, S("\n"), t->allow_lf, t->name, 301);
        /* A good prefix does not hide a bad suffix. */
        memcpy(buf, "hello\x1b", 6);
        check_site(t->fn, SB(buf, 6), 0, t->name, 302);
    }
}

/* u8 enumerations and flags: every value 0..255. */
typedef void (*u8_site)(tcase *c, uint8_t v);

static void e_send_kind(tcase *c, uint8_t v) { make_sample(c, CHAT_MSG_SEND); c->m.u.send.kind = v; }
static void e_message_kind(tcase *c, uint8_t v) { make_sample(c, CHAT_MSG_MESSAGE); c->m.u.message.kind = v; }
static void e_add_user_role(tcase *c, uint8_t v) { make_sample(c, CHAT_MSG_ADD_USER); c->m.u.add_user.role = v; }
static void e_welcome_role(tcase *c, uint8_t v) { make_sample(c, CHAT_MSG_WELCOME); c->m.u.welcome.role = v; }
static void e_user_list_role(tcase *c, uint8_t v)
{
    make_sample(c, CHAT_MSG_USER_LIST);
    c->ent.n = 0;
    ent_user(&c->ent, S("bob"), v, 0);
    c->m.u.list.count = 1;
    point_list(c);
}
static void e_user_list_online(tcase *c, uint8_t v)
{
    make_sample(c, CHAT_MSG_USER_LIST);
    c->ent.n = 0;
    ent_user(&c->ent, S("bob"), 1, v);
    c->m.u.list.count = 1;
    point_list(c);
}
static void f_message(tcase *c, uint8_t v) { make_sample(c, CHAT_MSG_MESSAGE); c->m.u.message.flags = v; }
static void f_room_list(tcase *c, uint8_t v) { make_sample(c, CHAT_MSG_ROOM_LIST); c->m.u.list.flags = v; }
static void f_user_list(tcase *c, uint8_t v) { make_sample(c, CHAT_MSG_USER_LIST); c->m.u.list.flags = v; }
static void f_names(tcase *c, uint8_t v) { make_sample(c, CHAT_MSG_NAMES); c->m.u.names.flags = v; }

static void test_enums_and_flags(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        u8_site fn;
    } sites[] = {
        {"SEND.kind", e_send_kind},          {"MESSAGE.kind", e_message_kind},
        {"ADD_USER.role", e_add_user_role},  {"WELCOME.role", e_welcome_role},
        {"USER_LIST role", e_user_list_role}, {"USER_LIST online", e_user_list_online},
        {"MESSAGE.flags", f_message},        {"ROOM_LIST.flags", f_room_list},
        {"USER_LIST.flags", f_user_list},    {"NAMES.flags", f_names},
    };
    /* Every site above admits exactly 0 and 1 (flags: bit 0 only). */
    for (size_t s = 0; s < ARRAY_LEN(sites); s++) {
        for (unsigned v = 0; v < 256; v++) {
            tcase *c = malloc(sizeof *c);
            assert_non_null(c);
            sites[s].fn(c, (uint8_t)v);
            check_msg(&c->m, v <= 1, sites[s].name, v);
            free(c);
        }
    }
}

/* Argon2id limits in verifiers and challenges (§4.1, §6). */
typedef void (*lim_site)(tcase *c, uint32_t ops, uint32_t mem);
static void l_passwd(tcase *c, uint32_t o, uint32_t m) { make_sample(c, CHAT_MSG_PASSWD); c->m.u.passwd.v.opslimit = o; c->m.u.passwd.v.memlimit_kib = m; }
static void l_add_user(tcase *c, uint32_t o, uint32_t m) { make_sample(c, CHAT_MSG_ADD_USER); c->m.u.add_user.v.opslimit = o; c->m.u.add_user.v.memlimit_kib = m; }
static void l_challenge(tcase *c, uint32_t o, uint32_t m) { make_sample(c, CHAT_MSG_CHALLENGE); c->m.u.challenge.opslimit = o; c->m.u.challenge.memlimit_kib = m; }

static void test_verifier_limits(void **state)
{
    (void)state;
    static const lim_site sites[] = {l_passwd, l_add_user, l_challenge};
    static const struct {
        uint32_t ops, mem;
        int ok;
    } cases[] = {
        {1, 8, 1},          {2, 65536, 1}, {UINT32_MAX, UINT32_MAX, 1},
        {0, 8, 0},          {1, 7, 0},     {0, 0, 0},
        {0, UINT32_MAX, 0}, {UINT32_MAX, 0, 0},
    };
    for (size_t s = 0; s < ARRAY_LEN(sites); s++) {
        for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
            tcase c;
            sites[s](&c, cases[i].ops, cases[i].mem);
            check_msg(&c.m, cases[i].ok, chat_msg_name(c.m.type), i);
        }
    }
}

/* ---------------------------------------------------------------------
 * Lists
 * ------------------------------------------------------------------- */

static void test_list_count_mismatch(void **state)
{
    (void)state;
    static const uint8_t types[] = {CHAT_MSG_ROOM_LIST, CHAT_MSG_NAMES, CHAT_MSG_USER_LIST};
    for (size_t t = 0; t < ARRAY_LEN(types); t++) {
        tcase c;
        make_sample(&c, types[t]);
        uint16_t *count = types[t] == CHAT_MSG_NAMES ? &c.m.u.names.count : &c.m.u.list.count;
        uint16_t real = *count;
        assert_true(real >= 2);
        const uint16_t wrong[] = {0, 1, (uint16_t)(real - 1), (uint16_t)(real + 1), 0xFFFF};
        for (size_t i = 0; i < ARRAY_LEN(wrong); i++) {
            *count = wrong[i];
            check_msg(&c.m, 0, chat_msg_name(types[t]), wrong[i]);
        }
        *count = real;
        check_msg(&c.m, 1, chat_msg_name(types[t]), real);

        /* Entries that end inside an entry, or run one byte long. */
        size_t full = c.ent.n;
        c.ent.n = full - 1;
        point_list(&c);
        check_msg(&c.m, 0, "entries short by one", t);
        c.ent.n = full;
        tb_u8(&c.ent, 0);
        point_list(&c);
        check_msg(&c.m, 0, "entries long by one", t);
    }

    /* An entry string whose length runs past the message. */
    tcase c;
    make_sample(&c, CHAT_MSG_NAMES);
    c.ent.n = 0;
    tb_u8(&c.ent, 5);
    tb_raw(&c.ent, (const uint8_t *)"ab", 2);
    c.m.u.names.count = 1;
    point_list(&c);
    check_msg(&c.m, 0, "NAMES entry length past end", 0);

    /* Count 0 with no entries is a valid (empty) list; with entries it is not. */
    make_sample(&c, CHAT_MSG_USER_LIST);
    c.m.u.list.count = 0;
    c.ent.n = 0;
    point_list(&c);
    check_msg(&c.m, 1, "empty USER_LIST", 0);
    ent_user(&c.ent, S("a"), 0, 0);
    point_list(&c);
    check_msg(&c.m, 0, "count 0 with an entry", 0);
}

static void test_list_walk_entries(void **state)
{
    (void)state;
    uint8_t ent[512];
    size_t elen = 0;
    const chat_room_entry rooms[] = {
        {S("#a"), 1, S("")},
        {S("#general"), 42, S("caf\xc3\xa9")},
        {S("#Zz"), 0xFFFFFFFFu, S("x")},
    };
    for (size_t i = 0; i < ARRAY_LEN(rooms); i++)
        assert_int_equal(chat_entry_put_room(ent, sizeof ent, &elen, &rooms[i]), CHAT_OK);
    /* 3 + 4 + 2 / 9 + 4 + 2 + 5 / 4 + 4 + 2 + 1 */
    assert_int_equal(elen, 9 + 20 + 11);

    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_ROOM_LIST;
    m.req = 3;
    m.u.list.count = 3;
    m.u.list.entries = ent;
    m.u.list.entries_len = elen;
    uint8_t buf[1024];
    size_t len;
    assert_int_equal(chat_msg_encode(&m, buf, sizeof buf, &len), CHAT_OK);
    chat_msg d;
    assert_int_equal(chat_msg_decode(buf + 2, len - 2, &d), CHAT_OK);
    assert_int_equal(d.req, 3);
    assert_int_equal(d.u.list.count, 3);
    const uint8_t *p = d.u.list.entries;
    size_t left = d.u.list.entries_len;
    for (size_t i = 0; i < 3; i++) {
        chat_room_entry e;
        assert_int_equal(chat_entry_get_room(&p, &left, &e), CHAT_OK);
        assert_str_eq(e.room, rooms[i].room);
        assert_int_equal(e.members, rooms[i].members);
        assert_str_eq(e.topic, rooms[i].topic);
    }
    assert_int_equal(left, 0);
    chat_room_entry er;
    assert_int_equal(chat_entry_get_room(&p, &left, &er), CHAT_E_PROTO);

    /* USER_LIST */
    const chat_user_entry users[] = {{S("alice"), 1, 1}, {S("bob"), 0, 1}, {S("c"), 1, 0}};
    elen = 0;
    for (size_t i = 0; i < ARRAY_LEN(users); i++)
        assert_int_equal(chat_entry_put_user(ent, sizeof ent, &elen, &users[i]), CHAT_OK);
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_USER_LIST;
    m.req = 4;
    m.u.list.flags = CHAT_LIST_MORE;
    m.u.list.count = 3;
    m.u.list.entries = ent;
    m.u.list.entries_len = elen;
    assert_int_equal(chat_msg_encode(&m, buf, sizeof buf, &len), CHAT_OK);
    assert_int_equal(chat_msg_decode(buf + 2, len - 2, &d), CHAT_OK);
    assert_int_equal(d.u.list.flags, CHAT_LIST_MORE);
    p = d.u.list.entries;
    left = d.u.list.entries_len;
    for (size_t i = 0; i < 3; i++) {
        chat_user_entry e;
        assert_int_equal(chat_entry_get_user(&p, &left, &e), CHAT_OK);
        assert_str_eq(e.user, users[i].user);
        assert_int_equal(e.role, users[i].role);
        assert_int_equal(e.online, users[i].online);
    }
    assert_int_equal(left, 0);

    /* NAMES */
    const chat_name_entry nm[] = {{S("alice")}, {S("Bob")}, {S("x.y")}, {S("z")}};
    elen = 0;
    for (size_t i = 0; i < ARRAY_LEN(nm); i++)
        assert_int_equal(chat_entry_put_name(ent, sizeof ent, &elen, &nm[i]), CHAT_OK);
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_NAMES;
    m.req = 5;
    m.u.names.room = S("#general");
    m.u.names.count = 4;
    m.u.names.entries = ent;
    m.u.names.entries_len = elen;
    assert_int_equal(chat_msg_encode(&m, buf, sizeof buf, &len), CHAT_OK);
    assert_int_equal(chat_msg_decode(buf + 2, len - 2, &d), CHAT_OK);
    assert_str_eq(d.u.names.room, S("#general"));
    p = d.u.names.entries;
    left = d.u.names.entries_len;
    for (size_t i = 0; i < 4; i++) {
        chat_name_entry e;
        assert_int_equal(chat_entry_get_name(&p, &left, &e), CHAT_OK);
        assert_str_eq(e.user, nm[i].user);
    }
    assert_int_equal(left, 0);
}

static void test_list_split_more(void **state)
{
    (void)state;
    /* A NAMES list of five split over two messages in one plaintext: the
     * first with MORE, the last without, both with the same req. */
    const char *all[] = {"alice", "bob", "carol", "dave", "eve"};
    uint8_t ent1[128], ent2[128], plain[512];
    size_t l1 = 0, l2 = 0;
    for (size_t i = 0; i < 3; i++) {
        chat_name_entry e = {S(all[i])};
        assert_int_equal(chat_entry_put_name(ent1, sizeof ent1, &l1, &e), CHAT_OK);
    }
    for (size_t i = 3; i < 5; i++) {
        chat_name_entry e = {S(all[i])};
        assert_int_equal(chat_entry_put_name(ent2, sizeof ent2, &l2, &e), CHAT_OK);
    }
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_NAMES;
    m.req = 99;
    m.u.names.room = S("#r");
    m.u.names.flags = CHAT_LIST_MORE;
    m.u.names.count = 3;
    m.u.names.entries = ent1;
    m.u.names.entries_len = l1;
    size_t used = 0, n;
    assert_int_equal(chat_msg_encode(&m, plain, sizeof plain, &n), CHAT_OK);
    used += n;
    m.u.names.flags = 0;
    m.u.names.count = 2;
    m.u.names.entries = ent2;
    m.u.names.entries_len = l2;
    assert_int_equal(chat_msg_encode(&m, plain + used, sizeof plain - used, &n), CHAT_OK);
    used += n;

    const uint8_t *p = plain;
    size_t left = used;
    size_t got = 0;
    int more = 1;
    while (left > 0) {
        assert_true(more);
        chat_msg d;
        assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_OK);
        assert_int_equal(d.type, CHAT_MSG_NAMES);
        assert_int_equal(d.req, 99);
        more = d.u.names.flags & CHAT_LIST_MORE;
        const uint8_t *ep = d.u.names.entries;
        size_t el = d.u.names.entries_len;
        for (unsigned i = 0; i < d.u.names.count; i++) {
            chat_name_entry e;
            assert_int_equal(chat_entry_get_name(&ep, &el, &e), CHAT_OK);
            assert_true(got < 5);
            assert_str_eq(e.user, S(all[got]));
            got++;
        }
        assert_int_equal(el, 0);
    }
    assert_false(more);
    assert_int_equal(got, 5);
}

static void test_entry_put_errors(void **state)
{
    (void)state;
    uint8_t buf[64];
    const chat_room_entry re = {S("#room"), 7, S("topic")};
    /* 1 + 5 + 4 + 2 + 5 = 17 bytes, after 3 bytes already used. */
    for (size_t cap = 0; cap < 3 + 17; cap++) {
        memset(buf, 0xEE, sizeof buf);
        size_t len = 3;
        assert_int_equal(chat_entry_put_room(buf, cap, &len, &re), CHAT_E_FULL);
        assert_int_equal(len, 3);
        for (size_t i = 0; i < sizeof buf; i++)
            assert_int_equal(buf[i], 0xEE);
    }
    size_t len = 3;
    assert_int_equal(chat_entry_put_room(buf, 20, &len, &re), CHAT_OK);
    assert_int_equal(len, 20);
    assert_memory_equal(buf + 3, "\x05#room\x00\x00\x00\x07\x00\x05topic", 17);
    assert_int_equal(buf[20], 0xEE);
    /* *len past cap is FULL, not a wild write. */
    len = 30;
    assert_int_equal(chat_entry_put_room(buf, 20, &len, &re), CHAT_E_FULL);

    /* Invalid fields: INVAL and nothing written. */
    memset(buf, 0xEE, sizeof buf);
    len = 0;
    const chat_room_entry bad_room = {S("room"), 1, S("")};
    assert_int_equal(chat_entry_put_room(buf, sizeof buf, &len, &bad_room), CHAT_E_INVAL);
    static uint8_t long_topic[301];
    const chat_room_entry bad_topic = {S("#r"), 1, fill(long_topic, 301, 'a')};
    assert_int_equal(chat_entry_put_room(buf, sizeof buf, &len, &bad_topic), CHAT_E_INVAL);
    const chat_room_entry esc_topic = {S("#r"), 1, S("a\x1b")};
    assert_int_equal(chat_entry_put_room(buf, sizeof buf, &len, &esc_topic), CHAT_E_INVAL);
    const chat_user_entry bad_role = {S("bob"), 2, 0};
    assert_int_equal(chat_entry_put_user(buf, sizeof buf, &len, &bad_role), CHAT_E_INVAL);
    const chat_user_entry bad_online = {S("bob"), 0, 2};
    assert_int_equal(chat_entry_put_user(buf, sizeof buf, &len, &bad_online), CHAT_E_INVAL);
    const chat_user_entry bad_user = {S("9bob"), 0, 0};
    assert_int_equal(chat_entry_put_user(buf, sizeof buf, &len, &bad_user), CHAT_E_INVAL);
    const chat_name_entry bad_name = {S("")};
    assert_int_equal(chat_entry_put_name(buf, sizeof buf, &len, &bad_name), CHAT_E_INVAL);
    const chat_name_entry null_name = {{NULL, 3}};
    assert_int_equal(chat_entry_put_name(buf, sizeof buf, &len, &null_name), CHAT_E_INVAL);
    /* INVAL wins over FULL. */
    assert_int_equal(chat_entry_put_name(buf, 0, &len, &bad_name), CHAT_E_INVAL);
    assert_int_equal(len, 0);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xEE);

    const chat_user_entry ue = {S("bob"), 1, 0};
    assert_int_equal(chat_entry_put_user(buf, sizeof buf, &len, &ue), CHAT_OK);
    assert_int_equal(len, 6);
    assert_memory_equal(buf, "\x03" "bob\x01\x00", 6);
    const chat_name_entry ne = {S("Al")};
    assert_int_equal(chat_entry_put_name(buf, 8, &len, &ne), CHAT_E_FULL);
    assert_int_equal(chat_entry_put_name(buf, 9, &len, &ne), CHAT_OK);
    assert_int_equal(len, 9);
    assert_memory_equal(buf + 6, "\x02" "Al", 3);
}

static void test_entry_get_errors(void **state)
{
    (void)state;
    static const uint8_t bad_user[] = {0x03, 'b', 'o', 'b', 0x02, 0x00};
    const uint8_t *p = bad_user;
    size_t left = sizeof bad_user;
    chat_user_entry ue;
    assert_int_equal(chat_entry_get_user(&p, &left, &ue), CHAT_E_PROTO);
    assert_ptr_equal(p, bad_user);
    assert_int_equal(left, sizeof bad_user);
    left = 5; /* truncated: no online byte */
    assert_int_equal(chat_entry_get_user(&p, &left, &ue), CHAT_E_PROTO);

    static const uint8_t room[] = {0x02, '#', 'r', 0, 0, 0, 1, 0x00, 0x02, 'h', 'i'};
    chat_room_entry re;
    for (size_t k = 0; k < sizeof room; k++) {
        p = room;
        left = k;
        assert_int_equal(chat_entry_get_room(&p, &left, &re), CHAT_E_PROTO);
    }
    p = room;
    left = sizeof room;
    assert_int_equal(chat_entry_get_room(&p, &left, &re), CHAT_OK);
    assert_int_equal(left, 0);
    assert_int_equal(re.members, 1);
    assert_str_eq(re.topic, S("hi"));

    static const uint8_t name[] = {0x02, '1', 'a'};
    chat_name_entry ne;
    p = name;
    left = sizeof name;
    assert_int_equal(chat_entry_get_name(&p, &left, &ne), CHAT_E_PROTO);
    left = 0;
    assert_int_equal(chat_entry_get_name(&p, &left, &ne), CHAT_E_PROTO);
}

/* A list message at exactly the plaintext maximum, and one byte over. */
static void test_list_max_size(void **state)
{
    (void)state;
    /* NAMES: 2 (length) + 1 (type) + 4 (req) + 3 ("#a") + 1 (flags) +
     * 2 (count) = 13 bytes, then 1985 entries of 33 bytes = 65505. */
    const size_t n_ent = 1985;
    const size_t elen = n_ent * 33;
    uint8_t *ent = malloc(elen + 64);
    uint8_t *out = malloc(CHAT_MSG_MAX + 64);
    assert_non_null(ent);
    assert_non_null(out);
    size_t l = 0;
    const chat_name_entry e = {S("abcdefghijklmnopqrstuvwxyz012345")};
    for (size_t i = 0; i < n_ent; i++)
        assert_int_equal(chat_entry_put_name(ent, elen + 64, &l, &e), CHAT_OK);
    assert_int_equal(l, elen);

    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_NAMES;
    m.u.names.room = S("#a");
    m.u.names.count = (uint16_t)n_ent;
    m.u.names.entries = ent;
    m.u.names.entries_len = elen;
    size_t len;
    assert_int_equal(chat_msg_encode(&m, out, CHAT_MSG_MAX + 64, &len), CHAT_OK);
    assert_int_equal(len, CHAT_MSG_MAX);
    assert_int_equal(out[0], ((CHAT_MSG_MAX - 2) >> 8) & 0xFF);
    assert_int_equal(out[1], (CHAT_MSG_MAX - 2) & 0xFF);
    chat_msg d;
    assert_int_equal(chat_msg_decode(out + 2, len - 2, &d), CHAT_OK);
    assert_int_equal(d.u.names.count, n_ent);
    const uint8_t *p = out;
    size_t left = len;
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_OK);
    assert_int_equal(left, 0);

    /* One byte more (a 3-byte room name): too big for any plaintext. */
    m.u.names.room = S("#ab");
    assert_int_equal(chat_msg_encode(&m, out, CHAT_MSG_MAX + 64, &len), CHAT_E_TOOBIG);
    /* ... and the decoder refuses the same bytes. */
    tb *t = malloc(sizeof *t);
    assert_non_null(t);
    tb_msg(t, &m);
    assert_int_equal(t->n, CHAT_MSG_MAX - 1);
    assert_int_equal(chat_msg_decode(t->b, t->n, &d), CHAT_E_PROTO);
    free(t);

    /* One more entry: too big as well, even with a large buffer. */
    m.u.names.room = S("#a");
    const chat_name_entry e2 = {S("a")};
    assert_int_equal(chat_entry_put_name(ent, elen + 64, &l, &e2), CHAT_OK);
    m.u.names.count = (uint16_t)(n_ent + 1);
    m.u.names.entries_len = l;
    assert_int_equal(chat_msg_encode(&m, out, CHAT_MSG_MAX + 64, &len), CHAT_E_TOOBIG);
    free(ent);
    free(out);
}

/* ---------------------------------------------------------------------
 * chat_msg_next
 * ------------------------------------------------------------------- */

static void test_msg_next_three(void **state)
{
    (void)state;
    uint8_t plain[1024];
    size_t used = 0, n;
    tcase c1, c2, c3;
    make_sample(&c1, CHAT_MSG_JOINED);
    make_sample(&c2, CHAT_MSG_MESSAGE);
    make_sample(&c3, CHAT_MSG_OK);
    assert_int_equal(chat_msg_encode(&c1.m, plain + used, sizeof plain - used, &n), CHAT_OK);
    used += n;
    assert_int_equal(chat_msg_encode(&c2.m, plain + used, sizeof plain - used, &n), CHAT_OK);
    used += n;
    assert_int_equal(chat_msg_encode(&c3.m, plain + used, sizeof plain - used, &n), CHAT_OK);
    used += n;

    const uint8_t *p = plain;
    size_t left = used;
    chat_msg d;
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_OK);
    assert_msg_eq(&d, &c1.m);
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_OK);
    assert_msg_eq(&d, &c2.m);
    assert_true(left > 0);
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_OK);
    assert_msg_eq(&d, &c3.m);
    assert_int_equal(left, 0);
    assert_ptr_equal(p, plain + used);
    /* Nothing left: the empty plaintext is malformed. */
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_E_PROTO);

    /* The third message with a bad body stops the walk there. */
    plain[used - 1] ^= 0xFF; /* OK's req is fine either way... */
    p = plain;
    left = used;
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_OK);
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_OK);
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_OK);
    plain[used - 5] = 0x00; /* ...but not its type byte */
    p = plain;
    left = used;
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_OK);
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_OK);
    const uint8_t *before = p;
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_E_PROTO);
    assert_ptr_equal(p, before);
    assert_int_equal(left, 7);
}

static void test_msg_next_malformed_lengths(void **state)
{
    (void)state;
    chat_msg d;
    const uint8_t *p;
    size_t left;

    /* Zero-length message. */
    static const uint8_t zero[] = {0x00, 0x00, 0x90, 0, 0, 0, 1};
    p = zero;
    left = sizeof zero;
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_E_PROTO);

    /* Only one byte of length prefix. */
    static const uint8_t one[] = {0x00};
    p = one;
    left = 1;
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_E_PROTO);

    /* Length one past what is left. */
    static const uint8_t past[] = {0x00, 0x06, 0x90, 0, 0, 0, 1};
    p = past;
    left = sizeof past;
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_E_PROTO);
    static const uint8_t huge[] = {0xFF, 0xFF, 0x90, 0, 0, 0, 1};
    p = huge;
    left = sizeof huge;
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_E_PROTO);

    /* Length one short: OK with a 3-byte req. */
    static const uint8_t shortl[] = {0x00, 0x04, 0x90, 0, 0, 0, 1};
    p = shortl;
    left = sizeof shortl;
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_E_PROTO);

    /* Exactly right, then a dangling byte that is not a message. */
    static const uint8_t dangling[] = {0x00, 0x05, 0x90, 0, 0, 0, 1, 0x00};
    p = dangling;
    left = sizeof dangling;
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_OK);
    assert_int_equal(d.type, CHAT_MSG_OK);
    assert_int_equal(d.req, 1);
    assert_int_equal(left, 1);
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_E_PROTO);

    /* NULL / empty. */
    p = NULL;
    left = 0;
    assert_int_equal(chat_msg_next(&p, &left, &d), CHAT_E_PROTO);
}

/* ---------------------------------------------------------------------
 * Frames
 * ------------------------------------------------------------------- */

static void test_frame_complete(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x00, 0x03, 0x05, 0xAA, 0xBB, 0x00, 0x01};
    chat_frame f;
    size_t used;
    assert_int_equal(chat_frame_decode(in, sizeof in, &f, &used), CHAT_OK);
    assert_int_equal(used, 5);
    assert_int_equal(f.type, CHAT_FRAME_TRANSPORT);
    assert_int_equal(f.body_len, 2);
    assert_ptr_equal(f.body, in + 3);

    /* Length 1: a type byte and no body. Every known type. */
    for (uint8_t t = CHAT_FRAME_HS1; t <= CHAT_FRAME_TRANSPORT; t++) {
        uint8_t one[3] = {0x00, 0x01, t};
        assert_int_equal(chat_frame_decode(one, 3, &f, &used), CHAT_OK);
        assert_int_equal(used, 3);
        assert_int_equal(f.type, t);
        assert_int_equal(f.body_len, 0);
    }
}

static void test_frame_incomplete(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x00, 0x03, 0x01, 0xAA, 0xBB};
    chat_frame f;
    size_t used;
    for (size_t k = 0; k < sizeof in; k++) {
        used = 77;
        assert_int_equal(chat_frame_decode(in, k, &f, &used), CHAT_E_AGAIN);
        assert_int_equal(used, 0);
    }
    assert_int_equal(chat_frame_decode(NULL, 0, &f, &used), CHAT_E_AGAIN);
}

static void test_frame_zero_length(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x00, 0x00, 0x05, 0x00};
    chat_frame f;
    size_t used;
    assert_int_equal(chat_frame_decode(in, 1, &f, &used), CHAT_E_AGAIN);
    for (size_t k = 2; k <= sizeof in; k++)
        assert_int_equal(chat_frame_decode(in, k, &f, &used), CHAT_E_PROTO);
}

static void test_frame_bad_type(void **state)
{
    (void)state;
    chat_frame f;
    size_t used;
    for (unsigned t = 0; t < 256; t++) {
        if (t >= CHAT_FRAME_HS1 && t <= CHAT_FRAME_TRANSPORT)
            continue;
        /* Announces 100 bytes, only the header is here: still rejected. */
        uint8_t in[5] = {0x00, 0x64, (uint8_t)t, 0, 0};
        assert_int_equal(chat_frame_decode(in, 2, &f, &used), CHAT_E_AGAIN);
        assert_int_equal(chat_frame_decode(in, 3, &f, &used), CHAT_E_PROTO);
        assert_int_equal(chat_frame_decode(in, 5, &f, &used), CHAT_E_PROTO);
        uint8_t big[3] = {0xFF, 0xFF, (uint8_t)t};
        assert_int_equal(chat_frame_decode(big, 3, &f, &used), CHAT_E_PROTO);
    }
}

static void test_frame_max(void **state)
{
    (void)state;
    size_t total = 2 + CHAT_FRAME_MAX;
    uint8_t *in = malloc(total + 1);
    assert_non_null(in);
    chat_frame_header(in, CHAT_FRAME_TRANSPORT, CHAT_FRAME_BODY_MAX);
    assert_int_equal(in[0], 0xFF);
    assert_int_equal(in[1], 0xFF);
    assert_int_equal(in[2], CHAT_FRAME_TRANSPORT);
    memset(in + 3, 0x5A, CHAT_FRAME_BODY_MAX + 1);
    chat_frame f;
    size_t used;
    assert_int_equal(chat_frame_decode(in, total - 1, &f, &used), CHAT_E_AGAIN);
    assert_int_equal(chat_frame_decode(in, total, &f, &used), CHAT_OK);
    assert_int_equal(used, total);
    assert_int_equal(f.body_len, CHAT_FRAME_BODY_MAX);
    assert_int_equal(chat_frame_decode(in, total + 1, &f, &used), CHAT_OK);
    assert_int_equal(used, total);
    free(in);

    uint8_t h[CHAT_FRAME_HEADER];
    chat_frame_header(h, CHAT_FRAME_HS1, 0);
    assert_memory_equal(h, "\x00\x01\x01", 3);
    chat_frame_header(h, CHAT_FRAME_HS1, 37);
    assert_memory_equal(h, "\x00\x26\x01", 3);
    chat_frame_header(h, CHAT_FRAME_REJECT, 0x1234);
    assert_memory_equal(h, "\x12\x35\x04", 3);
}

/* ---------------------------------------------------------------------
 * HS1 payload and REJECT
 * ------------------------------------------------------------------- */

static void test_hs1_payload(void **state)
{
    (void)state;
    uint8_t p[CHAT_HS1_PAYLOAD_LEN];
    uint8_t lo, hi;
    chat_hs1_payload_encode(p, 1, 1);
    assert_memory_equal(p, "CHAT\x01\x01", 6);
    assert_int_equal(chat_hs1_payload_decode(p, 6, &lo, &hi), CHAT_OK);
    assert_int_equal(lo, 1);
    assert_int_equal(hi, 1);
    chat_hs1_payload_encode(p, 1, 255);
    assert_int_equal(chat_hs1_payload_decode(p, 6, &lo, &hi), CHAT_OK);
    assert_int_equal(hi, 255);

    uint8_t q[8] = {'C', 'H', 'A', 'T', 1, 2, 0, 0};
    for (size_t n = 0; n < sizeof q; n++)
        assert_int_equal(chat_hs1_payload_decode(q, n, &lo, &hi), n == 6 ? CHAT_OK : CHAT_E_PROTO);
    assert_int_equal(chat_hs1_payload_decode(NULL, 6, &lo, &hi), CHAT_E_PROTO);

    static const uint8_t bad[][6] = {
        {'c', 'h', 'a', 't', 1, 1}, /* magic is case-sensitive */
        {'C', 'H', 'A', 'X', 1, 1},
        {0, 0, 0, 0, 1, 1},
        {'C', 'H', 'A', 'T', 0, 1}, /* min 0 */
        {'C', 'H', 'A', 'T', 0, 0},
        {'C', 'H', 'A', 'T', 2, 1}, /* min > max */
        {'C', 'H', 'A', 'T', 255, 254},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_int_equal(chat_hs1_payload_decode(bad[i], 6, &lo, &hi), CHAT_E_PROTO);
        assert_int_equal(lo, 0);
        assert_int_equal(hi, 0);
    }
}

static void test_reject_roundtrip(void **state)
{
    (void)state;
    static const uint8_t vec[] = {'C', 'H', 'A', 'T', 0x02, 0x03, 0x00, 0x02, 0x03, 'o', 'l', 'd'};
    chat_reject r;
    assert_int_equal(chat_reject_decode(vec, sizeof vec, &r), CHAT_OK);
    assert_int_equal(r.version_min, 2);
    assert_int_equal(r.version_max, 3);
    assert_int_equal(r.code, CHAT_CODE_VERSION);
    assert_str_eq(r.text, S("old"));
    assert_ptr_equal(r.text.p, vec + 9);

    uint8_t out[CHAT_REJECT_MAX];
    size_t len;
    assert_int_equal(chat_reject_encode(&r, out, sizeof out, &len), CHAT_OK);
    assert_int_equal(len, sizeof vec);
    assert_memory_equal(out, vec, sizeof vec);
    for (size_t cap = 0; cap < sizeof vec; cap++)
        assert_int_equal(chat_reject_encode(&r, out, cap, &len), CHAT_E_FULL);

    /* Empty text and the longest text. */
    static uint8_t t200[200];
    chat_reject big = {1, 1, CHAT_CODE_SERVER_FULL, fill(t200, 200, 'z')};
    assert_int_equal(chat_reject_encode(&big, out, sizeof out, &len), CHAT_OK);
    assert_int_equal(len, CHAT_REJECT_MAX);
    chat_reject back;
    assert_int_equal(chat_reject_decode(out, len, &back), CHAT_OK);
    assert_int_equal(back.code, CHAT_CODE_SERVER_FULL);
    assert_str_eq(back.text, big.text);
    chat_reject empty = {1, 2, 0xFFFF, S("")};
    assert_int_equal(chat_reject_encode(&empty, out, sizeof out, &len), CHAT_OK);
    assert_int_equal(len, 9);
    assert_int_equal(chat_reject_decode(out, len, &back), CHAT_OK);
    assert_int_equal(back.code, 0xFFFF);
    assert_int_equal(back.text.n, 0);
}

static void test_reject_malformed(void **state)
{
    (void)state;
    static const uint8_t good[] = {'C', 'H', 'A', 'T', 0x01, 0x01, 0x00, 0x06, 0x02, 'n', 'o'};
    uint8_t buf[300];
    chat_reject r;

    /* Every truncation, and a trailing byte. */
    for (size_t k = 0; k < sizeof good; k++)
        assert_int_equal(chat_reject_decode(good, k, &r), CHAT_E_PROTO);
    memcpy(buf, good, sizeof good);
    buf[sizeof good] = 0;
    assert_int_equal(chat_reject_decode(buf, sizeof good + 1, &r), CHAT_E_PROTO);
    assert_int_equal(chat_reject_decode(NULL, 0, &r), CHAT_E_PROTO);

    /* Bad magic, min 0, min > max. */
    memcpy(buf, good, sizeof good);
    buf[3] = 'X';
    assert_int_equal(chat_reject_decode(buf, sizeof good, &r), CHAT_E_PROTO);
    memcpy(buf, good, sizeof good);
    buf[4] = 0;
    assert_int_equal(chat_reject_decode(buf, sizeof good, &r), CHAT_E_PROTO);
    memcpy(buf, good, sizeof good);
    buf[4] = 3;
    buf[5] = 2;
    assert_int_equal(chat_reject_decode(buf, sizeof good, &r), CHAT_E_PROTO);

    /* Text: 201 bytes, forbidden characters, bad UTF-8. */
    memcpy(buf, good, 8);
    buf[8] = 201;
    memset(buf + 9, 'a', 201);
    assert_int_equal(chat_reject_decode(buf, 9 + 201, &r), CHAT_E_PROTO);
    buf[8] = 200;
    assert_int_equal(chat_reject_decode(buf, 9 + 200, &r), CHAT_OK);
    for (size_t i = 0; i < ARRAY_LEN(forbidden); i++) {
        buf[8] = (uint8_t)forbidden[i].n;
        memcpy(buf + 9, forbidden[i].b, forbidden[i].n);
        assert_int_equal(chat_reject_decode(buf, 9 + forbidden[i].n, &r), CHAT_E_PROTO);
    }
    for (size_t i = 0; i < ARRAY_LEN(bad_utf8); i++) {
        buf[8] = (uint8_t)bad_utf8[i].n;
        memcpy(buf + 9, bad_utf8[i].b, bad_utf8[i].n);
        assert_int_equal(chat_reject_decode(buf, 9 + bad_utf8[i].n, &r), CHAT_E_PROTO);
    }

    /* The encoder refuses the same. */
    size_t len;
    chat_reject bad = {0, 1, 2, S("")};
    assert_int_equal(chat_reject_encode(&bad, buf, sizeof buf, &len), CHAT_E_INVAL);
    bad.version_min = 2;
    assert_int_equal(chat_reject_encode(&bad, buf, sizeof buf, &len), CHAT_E_INVAL);
    bad.version_min = 1;
    bad.text = S("a\x1b[31m");
    assert_int_equal(chat_reject_encode(&bad, buf, sizeof buf, &len), CHAT_E_INVAL);
    static uint8_t t201[201];
    bad.text = fill(t201, 201, 'a');
    assert_int_equal(chat_reject_encode(&bad, buf, sizeof buf, &len), CHAT_E_INVAL);
    bad.text = SB("\xc0\xaf", 2);
    assert_int_equal(chat_reject_encode(&bad, buf, sizeof buf, &len), CHAT_E_INVAL);
}

/* ---------------------------------------------------------------------
 * Names, folding, code and type names, strerror
 * ------------------------------------------------------------------- */

static void test_valid_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(name_cases); i++) {
        const char *s = name_cases[i].s;
        assert_int_equal(chat_valid_name((const uint8_t *)s, strlen(s)), name_cases[i].user_ok);
    }
    for (size_t i = 0; i < ARRAY_LEN(room_cases); i++) {
        const char *s = room_cases[i].s;
        assert_int_equal(chat_valid_room((const uint8_t *)s, strlen(s)), room_cases[i].user_ok);
    }
    /* Exhaustive over single characters after a leading letter. */
    for (unsigned c = 0; c < 256; c++) {
        uint8_t s[2] = {'a', (uint8_t)c};
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        assert_int_equal(chat_valid_name(s, 2), ok);
        int lead = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        assert_int_equal(chat_valid_name(s + 1, 1), lead);
    }
    assert_false(chat_valid_name(NULL, 0));
    assert_false(chat_valid_name(NULL, 3));
    assert_false(chat_valid_room(NULL, 3));
}

static void test_name_key(void **state)
{
    (void)state;
    char key[CHAT_NAME_MAX + 1];
    assert_int_equal(chat_name_key(key, "Alice.B-2"), 1);
    assert_string_equal(key, "alice.b-2");
    assert_int_equal(chat_name_key(key, "abcdefghijklmnopqrstuvwxyz012345"), 1); /* 32 */
    assert_int_equal(chat_name_key(key, "abcdefghijklmnopqrstuvwxyz0123456"), 0); /* 33 */
    assert_int_equal(chat_name_key(key, ""), 0);
    assert_int_equal(chat_name_key(key, "9lives"), 0);
    assert_int_equal(chat_name_key(key, "#room"), 0);
    assert_int_equal(chat_name_key(key, NULL), 0);
}

static void test_name_fold(void **state)
{
    (void)state;
    char out[64];
    memset(out, 'X', sizeof out);
    assert_int_equal(chat_name_fold(out, (const uint8_t *)"AbC.d-E_9Z", 10), 10);
    assert_string_equal(out, "abc.d-e_9z");
    assert_int_equal(chat_name_fold(out, (const uint8_t *)"#General", 8), 8);
    assert_string_equal(out, "#general");
    assert_int_equal(chat_name_fold(out, (const uint8_t *)"already", 7), 7);
    assert_string_equal(out, "already");
    /* Only the first n bytes are used. */
    assert_int_equal(chat_name_fold(out, (const uint8_t *)"ABCDEF", 3), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(chat_name_fold(out, (const uint8_t *)"", 0), 0);
    assert_string_equal(out, "");
    /* Folded names compare equal. */
    char a[40], b[40];
    chat_name_fold(a, (const uint8_t *)"ALICE", 5);
    chat_name_fold(b, (const uint8_t *)"aLiCe", 5);
    assert_string_equal(a, b);
}

static void test_names_and_codes(void **state)
{
    (void)state;
    assert_string_equal(chat_msg_name(CHAT_MSG_LOGIN), "LOGIN");
    assert_string_equal(chat_msg_name(CHAT_MSG_TOPIC_CHANGED), "TOPIC_CHANGED");
    assert_string_equal(chat_msg_name(CHAT_MSG_USER_LIST), "USER_LIST");
    assert_null(chat_msg_name(0));
    assert_null(chat_msg_name(0x100 + CHAT_MSG_LOGIN));

    assert_int_equal(chat_msg_direction(CHAT_MSG_LOGIN), CHAT_DIR_C2S);
    assert_int_equal(chat_msg_direction(CHAT_MSG_SHUTDOWN), CHAT_DIR_C2S);
    assert_int_equal(chat_msg_direction(CHAT_MSG_GOODBYE), CHAT_DIR_C2S | CHAT_DIR_S2C);
    assert_int_equal(chat_msg_direction(CHAT_MSG_CHALLENGE), CHAT_DIR_S2C);
    assert_int_equal(chat_msg_direction(CHAT_MSG_TOPIC_CHANGED), CHAT_DIR_S2C);
    /* Types below 0x40 are requests, above are server messages. */
    for (size_t i = 0; i < N_TYPES; i++) {
        unsigned t = all_types[i];
        unsigned want = t < 0x40 ? CHAT_DIR_C2S : t == 0x40 ? (CHAT_DIR_C2S | CHAT_DIR_S2C) : CHAT_DIR_S2C;
        assert_int_equal(chat_msg_direction(t), want);
    }

    assert_string_equal(chat_code_name(CHAT_CODE_PROTOCOL), "PROTOCOL");
    assert_string_equal(chat_code_name(CHAT_CODE_BAD_LOGIN), "BAD_LOGIN");
    assert_string_equal(chat_code_name(CHAT_CODE_INTERNAL), "INTERNAL");
    assert_string_equal(chat_code_name(CHAT_CODE_QUIT), "QUIT");
    assert_string_equal(chat_code_name(CHAT_CODE_LOGIN_TIMEOUT), "LOGIN_TIMEOUT");
    size_t named = 0;
    for (unsigned c = 0; c < 1000; c++)
        named += chat_code_name(c) != NULL;
    assert_int_equal(named, 16 + 9);
    assert_null(chat_code_name(0));
    assert_null(chat_code_name(17));
    assert_null(chat_code_name(99));
    assert_null(chat_code_name(109));
    assert_null(chat_code_name(0xFFFF));

    static const int errs[] = {CHAT_OK,       CHAT_E_INVAL,  CHAT_E_STATE,    CHAT_E_NOMEM,
                               CHAT_E_FULL,   CHAT_E_AGAIN,  CHAT_E_NOTFOUND, CHAT_E_EXISTS,
                               CHAT_E_STORE,  CHAT_E_PROTO,  CHAT_E_DECRYPT,  CHAT_E_TOOBIG,
                               CHAT_E_CLOSED, CHAT_E_CRYPTO, CHAT_E_NONCE};
    const char *unknown = chat_strerror(-9999);
    assert_non_null(unknown);
    assert_non_null(chat_strerror(-9)); /* a gap in the enum */
    assert_string_equal(chat_strerror(-9), unknown);
    assert_string_equal(chat_strerror(1), unknown);
    for (size_t i = 0; i < ARRAY_LEN(errs); i++) {
        const char *s = chat_strerror(errs[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        assert_string_not_equal(s, unknown);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, chat_strerror(errs[j]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_types),
        cmocka_unit_test(test_roundtrip_variants),
        cmocka_unit_test(test_exact_vectors),
        cmocka_unit_test(test_truncated_every_length),
        cmocka_unit_test(test_trailing_byte),
        cmocka_unit_test(test_bad_types),
        cmocka_unit_test(test_encode_capacity),
        cmocka_unit_test(test_mutations_canonical),
        cmocka_unit_test(test_user_name_fields),
        cmocka_unit_test(test_room_name_fields),
        cmocka_unit_test(test_target_fields),
        cmocka_unit_test(test_text_limits),
        cmocka_unit_test(test_valid_text),
        cmocka_unit_test(test_valid_text_fast_path),
        cmocka_unit_test(test_text_fields_reject),
        cmocka_unit_test(test_enums_and_flags),
        cmocka_unit_test(test_verifier_limits),
        cmocka_unit_test(test_list_count_mismatch),
        cmocka_unit_test(test_list_walk_entries),
        cmocka_unit_test(test_list_split_more),
        cmocka_unit_test(test_entry_put_errors),
        cmocka_unit_test(test_entry_get_errors),
        cmocka_unit_test(test_list_max_size),
        cmocka_unit_test(test_msg_next_three),
        cmocka_unit_test(test_msg_next_malformed_lengths),
        cmocka_unit_test(test_frame_complete),
        cmocka_unit_test(test_frame_incomplete),
        cmocka_unit_test(test_frame_zero_length),
        cmocka_unit_test(test_frame_bad_type),
        cmocka_unit_test(test_frame_max),
        cmocka_unit_test(test_hs1_payload),
        cmocka_unit_test(test_reject_roundtrip),
        cmocka_unit_test(test_reject_malformed),
        cmocka_unit_test(test_valid_names),
        cmocka_unit_test(test_name_fold),
        cmocka_unit_test(test_name_key),
        cmocka_unit_test(test_names_and_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
