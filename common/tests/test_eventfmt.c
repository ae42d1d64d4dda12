/* Tests for common/eventfmt: the line-mode format of chatc(1). One line
 * per event, the documented prefixes, and escaped text even when a text
 * that libchat would have refused reaches the formatter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "eventfmt.h"

static chat_str S(const char *s)
{
    chat_str r = {(const uint8_t *)s, strlen(s)};
    return r;
}

static void fmt(const chat_client_event *ev, const char *want)
{
    char out[8192];
    chat_event_format(ev, out, sizeof out);
    assert_string_equal(out, want);
    assert_null(strchr(out, '\n'));
}

static void test_messages(void **state)
{
    (void)state;
    chat_client_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = CHAT_CLIENT_EV_MESSAGE;
    ev.msg.type = CHAT_MSG_MESSAGE;
    ev.msg.u.message.target = S("#lobby");
    ev.msg.u.message.from = S("bob");
    ev.msg.u.message.seq = 7;
    ev.msg.u.message.text = S("hi all");
    fmt(&ev, "message #lobby <bob> seq=7 hi all");
    ev.msg.u.message.kind = CHAT_KIND_ACTION;
    ev.msg.u.message.flags = CHAT_MESSAGE_HISTORY;
    fmt(&ev, "history-action #lobby <bob> seq=7 hi all");
    /* Escapes, should any reach this far. */
    ev.msg.u.message.kind = CHAT_KIND_SAY;
    ev.msg.u.message.flags = 0;
    ev.msg.u.message.text = S("\x1b[2J\nx\xc2\x9b\xe2\x80\xae");
    fmt(&ev, "message #lobby <bob> seq=7 ^[[2J^Jx\\u009b\\u202e");
}

static void test_welcome_motd_lines(void **state)
{
    (void)state;
    chat_client_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = CHAT_CLIENT_EV_WELCOME;
    ev.msg.type = CHAT_MSG_WELCOME;
    ev.msg.u.welcome.user = S("alice");
    ev.msg.u.welcome.role = CHAT_ROLE_ADMIN;
    ev.msg.u.welcome.motd = S("line one\nline two");
    fmt(&ev, "welcome alice admin motd=line one^Jline two");
}

static void test_closed_and_replies(void **state)
{
    (void)state;
    chat_client_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = CHAT_CLIENT_EV_CLOSED;
    ev.close.origin = CHAT_CLOSE_LOCAL;
    ev.close.code = 0;
    ev.close.text = S("server key refused");
    fmt(&ev, "closed by-us NONE server key refused");
    ev.close.origin = CHAT_CLOSE_LOST;
    ev.close.code = CHAT_CODE_CONN_LOST;
    ev.close.text = S("");
    fmt(&ev, "closed lost CONN_LOST ");
    ev.close.origin = CHAT_CLOSE_PEER;
    ev.close.code = 999;
    fmt(&ev, "closed by-server ? ");

    memset(&ev, 0, sizeof ev);
    ev.type = CHAT_CLIENT_EV_MESSAGE;
    ev.msg.type = CHAT_MSG_ERROR;
    ev.msg.req = 4;
    ev.msg.u.error.code = CHAT_CODE_NOT_ALLOWED;
    ev.msg.u.error.text = S("admins only");
    fmt(&ev, "error req=4 NOT_ALLOWED admins only");
    ev.msg.type = CHAT_MSG_OK;
    fmt(&ev, "ok req=4");
}

static void test_lists(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t len = 0;
    chat_name_entry n1 = {S("alice")}, n2 = {S("bob")};
    assert_int_equal(chat_entry_put_name(buf, sizeof buf, &len, &n1), CHAT_OK);
    assert_int_equal(chat_entry_put_name(buf, sizeof buf, &len, &n2), CHAT_OK);
    chat_client_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = CHAT_CLIENT_EV_MESSAGE;
    ev.msg.type = CHAT_MSG_NAMES;
    ev.msg.req = 2;
    ev.msg.u.names.room = S("#dev");
    ev.msg.u.names.count = 2;
    ev.msg.u.names.entries = buf;
    ev.msg.u.names.entries_len = len;
    fmt(&ev, "names req=2 #dev: alice bob");
    ev.msg.u.names.flags = CHAT_LIST_MORE;
    fmt(&ev, "names req=2 #dev more: alice bob");

    len = 0;
    chat_user_entry u1 = {S("alice"), CHAT_ROLE_ADMIN, 1}, u2 = {S("bob"), CHAT_ROLE_USER, 0};
    assert_int_equal(chat_entry_put_user(buf, sizeof buf, &len, &u1), CHAT_OK);
    assert_int_equal(chat_entry_put_user(buf, sizeof buf, &len, &u2), CHAT_OK);
    memset(&ev.msg, 0, sizeof ev.msg);
    ev.msg.type = CHAT_MSG_USER_LIST;
    ev.msg.req = 9;
    ev.msg.u.list.count = 2;
    ev.msg.u.list.entries = buf;
    ev.msg.u.list.entries_len = len;
    fmt(&ev, "users req=9: alice:admin:online bob:user:offline");

    len = 0;
    chat_room_entry r1 = {S("#dev"), 3, S("topic here")};
    assert_int_equal(chat_entry_put_room(buf, sizeof buf, &len, &r1), CHAT_OK);
    memset(&ev.msg, 0, sizeof ev.msg);
    ev.msg.type = CHAT_MSG_ROOM_LIST;
    ev.msg.req = 3;
    ev.msg.u.list.count = 1;
    ev.msg.u.list.entries = buf;
    ev.msg.u.list.entries_len = len;
    fmt(&ev, "rooms req=3: #dev(3)");
}

static void test_truncation(void **state)
{
    (void)state;
    chat_client_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = CHAT_CLIENT_EV_MESSAGE;
    ev.msg.type = CHAT_MSG_OK;
    ev.msg.req = 123456;
    char out[8];
    chat_event_format(&ev, out, sizeof out);
    assert_string_equal(out, "ok req=");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages),           cmocka_unit_test(test_welcome_motd_lines),
        cmocka_unit_test(test_closed_and_replies), cmocka_unit_test(test_lists),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
