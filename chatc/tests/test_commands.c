/* Tests for chatc/commands: every slash command parsed, with its
 * arguments checked and folded; usage errors; plain text; the command
 * table, aliases and completion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "commands.h"

static cmd c;

static void parse(const char *line, cmd_type want)
{
    cmd_parse(line, &c);
    if (c.type != want)
        fail_msg("\"%s\": type %d, wanted %d (usage: %s)", line, c.type, want, c.usage);
}

static void test_plain_text(void **state)
{
    (void)state;
    parse("hello world", CMD_SAY);
    assert_string_equal(c.text, "hello world");
    parse("  spaced  ", CMD_SAY); /* kept as typed */
    assert_string_equal(c.text, "  spaced  ");
    parse("//not a command", CMD_SAY);
    assert_string_equal(c.text, "/not a command");
    parse("", CMD_NONE);
    parse("   ", CMD_NONE);
    parse("//", CMD_SAY);
    assert_string_equal(c.text, "/");
    char big[CHAT_TEXT_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    parse(big, CMD_USAGE);
    big[CHAT_TEXT_MAX] = '\0';
    parse(big, CMD_SAY);
    assert_int_equal(strlen(c.text), CHAT_TEXT_MAX);
}

static void test_rooms(void **state)
{
    (void)state;
    parse("/join #Dev", CMD_JOIN);
    assert_string_equal(c.arg, "#dev");
    parse("/join lobby", CMD_JOIN); /* '#' added */
    assert_string_equal(c.arg, "#lobby");
    parse("/JOIN  #x.y-z_1 ", CMD_JOIN);
    assert_string_equal(c.arg, "#x.y-z_1");
    parse("/join", CMD_USAGE);
    assert_non_null(strstr(c.usage, "usage: /join #room"));
    parse("/join #bad!", CMD_USAGE);
    parse("/join #1abc", CMD_USAGE);
    parse("/join #a #b", CMD_USAGE);
    parse("/join #abcdefghijabcdefghijabcdefghijabc", CMD_USAGE); /* '#' + 33 */
    parse("/join #abcdefghijabcdefghijabcdefghijabcdefghij", CMD_USAGE);
    parse("/join abcdefghijabcdefghijabcdefghijabc", CMD_USAGE); /* '#' added: 34 */
    parse("/join #abcdefghijabcdefghijabcdefghijab", CMD_JOIN);  /* '#' + 32 */
    assert_int_equal(strlen(c.arg), 33);
    parse("/join abcdefghijabcdefghijabcdefghijab", CMD_JOIN); /* '#' added: 33 */
    assert_string_equal(c.arg, "#abcdefghijabcdefghijabcdefghijab");
    parse("/part", CMD_PART);
    assert_string_equal(c.arg, "");
    parse("/part #Dev", CMD_PART);
    assert_string_equal(c.arg, "#dev");
    parse("/part #a #b", CMD_USAGE);
    parse("/who", CMD_WHO);
    parse("/names #x", CMD_WHO);
    assert_string_equal(c.arg, "#x");
    parse("/rooms", CMD_ROOMS);
    parse("/list", CMD_ROOMS);
    parse("/rooms x", CMD_USAGE);
}

static void test_topic(void **state)
{
    (void)state;
    parse("/topic", CMD_TOPIC);
    assert_int_equal(c.flag, 0);
    assert_string_equal(c.arg, "");
    parse("/topic #dev", CMD_TOPIC);
    assert_int_equal(c.flag, 0);
    assert_string_equal(c.arg, "#dev");
    parse("/topic #dev  the new topic ", CMD_TOPIC);
    assert_int_equal(c.flag, 1);
    assert_string_equal(c.arg, "#dev");
    assert_string_equal(c.text, "the new topic");
    parse("/topic just text", CMD_TOPIC);
    assert_int_equal(c.flag, 1);
    assert_string_equal(c.arg, "");
    assert_string_equal(c.text, "just text");
    parse("/topic -delete", CMD_TOPIC);
    assert_int_equal(c.flag, 2);
    assert_string_equal(c.text, "");
    char big[CHAT_TOPIC_MAX + 20];
    snprintf(big, sizeof big, "/topic ");
    memset(big + 7, 't', CHAT_TOPIC_MAX + 1);
    big[7 + CHAT_TOPIC_MAX + 1] = '\0';
    parse(big, CMD_USAGE);
    big[7 + CHAT_TOPIC_MAX] = '\0';
    parse(big, CMD_TOPIC);
}

static void test_messages(void **state)
{
    (void)state;
    parse("/msg Bob hello there", CMD_MSG);
    assert_string_equal(c.arg, "bob");
    assert_string_equal(c.text, "hello there");
    parse("/msg #dev to the room", CMD_MSG);
    assert_string_equal(c.arg, "#dev");
    parse("/msg bob", CMD_USAGE);
    parse("/msg", CMD_USAGE);
    parse("/msg 1bob hi", CMD_USAGE);
    parse("/me waves", CMD_ME);
    assert_string_equal(c.text, "waves");
    parse("/me", CMD_USAGE);
    parse("/query Carol", CMD_QUERY);
    assert_string_equal(c.arg, "carol");
    parse("/query", CMD_USAGE);
    parse("/query a b", CMD_USAGE);
}

static void test_admin(void **state)
{
    (void)state;
    parse("/passwd", CMD_PASSWD);
    parse("/passwd secret", CMD_USAGE); /* passwords are never typed on the line */
    parse("/adduser dave", CMD_ADDUSER);
    assert_string_equal(c.arg, "dave");
    assert_int_equal(c.flag, 0);
    parse("/adduser Dave admin", CMD_ADDUSER);
    assert_string_equal(c.arg, "dave");
    assert_int_equal(c.flag, 1);
    parse("/adduser dave user", CMD_ADDUSER);
    assert_int_equal(c.flag, 0);
    parse("/adduser dave root", CMD_USAGE);
    parse("/adduser dave admin x", CMD_USAGE);
    parse("/adduser", CMD_USAGE);
    parse("/deluser dave", CMD_DELUSER);
    parse("/deluser", CMD_USAGE);
    parse("/users", CMD_USERS);
    parse("/kick bob", CMD_KICK);
    assert_string_equal(c.arg, "bob");
    assert_string_equal(c.text, "");
    parse("/kick bob  spamming the room ", CMD_KICK);
    assert_string_equal(c.text, "spamming the room");
    parse("/kick", CMD_USAGE);
    char big[300];
    snprintf(big, sizeof big, "/kick bob ");
    memset(big + 10, 'r', CHAT_REASON_MAX + 1);
    big[10 + CHAT_REASON_MAX + 1] = '\0';
    parse(big, CMD_USAGE);
    assert_non_null(strstr(c.usage, "at most 200"));
    parse("/shutdown", CMD_SHUTDOWN);
    parse("/shutdown back soon", CMD_SHUTDOWN);
    assert_string_equal(c.text, "back soon");
}

static void test_client_commands(void **state)
{
    (void)state;
    parse("/ignore", CMD_IGNORE);
    assert_string_equal(c.arg, "");
    parse("/ignore Mallory", CMD_IGNORE);
    assert_string_equal(c.arg, "mallory");
    parse("/unignore mallory", CMD_UNIGNORE);
    parse("/unignore", CMD_USAGE);
    parse("/bell", CMD_BELL);
    assert_int_equal(c.flag, -1);
    parse("/bell on", CMD_BELL);
    assert_int_equal(c.flag, 1);
    parse("/bell off", CMD_BELL);
    assert_int_equal(c.flag, 0);
    parse("/bell maybe", CMD_USAGE);
    parse("/window 3", CMD_WINDOW);
    assert_int_equal(c.num, 3);
    parse("/win 12", CMD_WINDOW);
    assert_int_equal(c.num, 12);
    parse("/window", CMD_USAGE);
    parse("/window 0", CMD_USAGE);
    parse("/window x", CMD_USAGE);
    parse("/window 99999", CMD_USAGE);
    parse("/clear", CMD_CLEAR);
    parse("/close", CMD_CLOSE);
    parse("/quit", CMD_QUIT);
    assert_string_equal(c.text, "");
    parse("/exit see you", CMD_QUIT);
    assert_string_equal(c.text, "see you");
    parse("/help", CMD_HELP);
    assert_string_equal(c.arg, "");
    parse("/help kick", CMD_HELP);
    assert_string_equal(c.arg, "kick");
    parse("/help /exit", CMD_HELP);
    assert_string_equal(c.arg, "quit");
    parse("/help nope", CMD_USAGE);
}

static void test_unknown(void **state)
{
    (void)state;
    parse("/frobnicate now", CMD_UNKNOWN);
    assert_string_equal(c.arg, "frobnicate");
    assert_non_null(strstr(c.usage, "unknown command /frobnicate"));
    parse("/", CMD_UNKNOWN);
    parse("/averyveryverylongcommandname", CMD_UNKNOWN);
}

static void test_table_and_completion(void **state)
{
    (void)state;
    size_t n;
    const cmd_info *t = cmd_table(&n);
    assert_true(n >= 20);
    int admins = 0;
    for (size_t i = 0; i < n; i++) {
        assert_non_null(cmd_find(t[i].name));
        admins += t[i].admin;
    }
    assert_int_equal(admins, 5); /* users adduser deluser kick shutdown */
    assert_ptr_equal(cmd_find("exit"), cmd_find("quit"));
    assert_null(cmd_find("nope"));

    const char *out[32];
    assert_int_equal(cmd_complete("jo", 2, 0, out, 32), 1);
    assert_string_equal(out[0], "join");
    /* Admin commands only for admins. */
    assert_int_equal(cmd_complete("us", 2, 0, out, 32), 0);
    assert_int_equal(cmd_complete("us", 2, 1, out, 32), 1);
    assert_int_equal(cmd_complete("s", 1, 0, out, 32), 0);
    assert_int_equal(cmd_complete("s", 1, 1, out, 32), 1);
    size_t all = cmd_complete("", 0, 0, out, 32);
    assert_int_equal(all, n - 5);
    assert_int_equal(cmd_complete("", 0, 1, out, 2), n); /* counts beyond max */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_text), cmocka_unit_test(test_rooms),
        cmocka_unit_test(test_topic),      cmocka_unit_test(test_messages),
        cmocka_unit_test(test_admin),      cmocka_unit_test(test_client_commands),
        cmocka_unit_test(test_unknown),    cmocka_unit_test(test_table_and_completion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
