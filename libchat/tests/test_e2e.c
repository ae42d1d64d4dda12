/* End-to-end, in process: real client sessions and the real hub talking
 * through memory (tools/sim.c). Each step is asserted on the events every
 * client saw, in order, and on hub state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sim.h"

/* Assert that client i's next lines contain `prefix` (skipping others);
 * fail with what was seen instead. */
static void see(sim *s, int i, const char *prefix)
{
    const char *l = sim_find_line(s, i, prefix);
    if (l == NULL)
        fail_msg("client %d never saw a line starting with \"%s\"", i, prefix);
}

/* Assert that client i's very next line is exactly `line`. */
static void next_is(sim *s, int i, const char *line)
{
    const char *l = sim_next_line(s, i);
    if (l == NULL)
        fail_msg("client %d: expected \"%s\", saw nothing", i, line);
    assert_string_equal(l, line);
}

static void nothing_more(sim *s, int i)
{
    const char *l = sim_next_line(s, i);
    if (l != NULL)
        fail_msg("client %d: expected nothing more, saw \"%s\"", i, l);
}

static sim *world(void)
{
    static const char *const rooms[] = {"#lobby", NULL};
    sim_options opt = {.motd = "be nice", .default_rooms = rooms, .seed = 7};
    sim *s = sim_new(&opt);
    assert_non_null(s);
    assert_int_equal(sim_add_account(s, "alice", "pw-alice", CHAT_ROLE_ADMIN), 0);
    assert_int_equal(sim_add_account(s, "bob", "pw-bob", CHAT_ROLE_USER), 0);
    assert_int_equal(sim_add_account(s, "carol", "pw-carol", CHAT_ROLE_USER), 0);
    return s;
}

static int login(sim *s, const char *user, const char *pw)
{
    int i = sim_connect(s, user, pw);
    assert_true(i >= 0);
    sim_pump(s);
    assert_int_equal(chat_client_get_state(sim_client(s, i)), CHAT_CLIENT_READY);
    return i;
}

static void say(sim *s, int i, const char *target, const char *text)
{
    assert_int_equal(chat_client_say(sim_client(s, i), target, text, CHAT_KIND_SAY, NULL), CHAT_OK);
}

/* Three users log in and chat in two rooms, with presence notices and a
 * private message. */
static void test_three_users_two_rooms(void **state)
{
    (void)state;
    sim *s = world();
    int a = login(s, "alice", "pw-alice");
    see(s, a, "server-key SHA256:");
    next_is(s, a, "challenge opslimit=1 memlimit_kib=8");
    next_is(s, a, "welcome alice admin motd=be nice");
    next_is(s, a, "joined #lobby alice");
    next_is(s, a, "names req=0 #lobby: alice");
    nothing_more(s, a);

    int b = login(s, "Bob", "pw-bob"); /* names are case-insensitive */
    see(s, b, "welcome bob user");
    next_is(s, b, "joined #lobby bob");
    next_is(s, b, "names req=0 #lobby: alice bob");
    next_is(s, a, "joined #lobby bob");

    int c = login(s, "carol", "pw-carol");
    see(s, c, "names req=0 #lobby: alice bob carol");
    next_is(s, a, "joined #lobby carol");
    next_is(s, b, "joined #lobby carol");
    assert_int_equal(chat_hub_user_count(sim_hub(s)), 3);

    /* A second room with alice and carol only. */
    uint32_t req;
    assert_int_equal(chat_client_join(sim_client(s, a), "#dev", &req), CHAT_OK);
    sim_pump(s);
    next_is(s, a, "joined #dev alice");
    see(s, a, "names req=");
    assert_int_equal(chat_client_join(sim_client(s, c), "#DEV", NULL), CHAT_OK);
    sim_pump(s);
    next_is(s, a, "joined #dev carol");
    next_is(s, c, "joined #dev carol");
    see(s, c, "names req=");

    /* Room messages go to members only, sender included, in seq order. */
    say(s, b, "#lobby", "hi all");
    sim_pump(s);
    say(s, a, "#dev", "dev talk");
    sim_pump(s);
    next_is(s, a, "message #lobby <bob> seq=1 hi all");
    next_is(s, a, "message #dev <alice> seq=1 dev talk");
    see(s, a, "ok req=");
    next_is(s, b, "message #lobby <bob> seq=1 hi all");
    see(s, b, "ok req=");
    nothing_more(s, b); /* bob is not in #dev */
    next_is(s, c, "message #lobby <bob> seq=1 hi all");
    next_is(s, c, "message #dev <alice> seq=1 dev talk");

    /* An action and a private message. */
    assert_int_equal(chat_client_say(sim_client(s, c), "#lobby", "waves", CHAT_KIND_ACTION, NULL),
                     CHAT_OK);
    say(s, b, "carol", "secret");
    sim_pump(s);
    next_is(s, a, "action #lobby <carol> seq=2 waves");
    see(s, c, "message carol <bob> seq=0 secret");
    see(s, b, "message carol <bob> seq=0 secret"); /* the sender's copy */
    nothing_more(s, a);                            /* alice never sees it */

    /* Parting is announced to the room. */
    assert_int_equal(chat_client_part(sim_client(s, c), "#dev", NULL), CHAT_OK);
    sim_pump(s);
    next_is(s, a, "parted #dev carol PART");
    see(s, c, "parted #dev carol PART");
    see(s, c, "ok req=");

    /* Quitting: a clean goodbye, seen as QUIT by the others. */
    assert_int_equal(chat_client_quit(sim_client(s, b), "bye"), CHAT_OK);
    sim_pump(s);
    see(s, a, "parted #lobby bob QUIT");
    see(s, c, "parted #lobby bob QUIT");
    assert_true(sim_closed(s, b));
    assert_int_equal(chat_hub_user_count(sim_hub(s)), 2);

    /* A dropped connection (no goodbye) is reported as lost. */
    sim_drop(s, c);
    see(s, a, "parted #lobby carol CONN_LOST");
    see(s, c, "closed lost");
    assert_int_equal(chat_hub_user_count(sim_hub(s)), 1);
    sim_free(s);
}

/* An admin creates a user, who then logs in; a normal user may not. */
static void test_admin_creates_user(void **state)
{
    (void)state;
    sim *s = world();
    int a = login(s, "alice", "pw-alice");
    int b = login(s, "bob", "pw-bob");
    while (sim_next_line(s, a))
        ;
    assert_int_equal(chat_client_add_user(sim_client(s, b), "mallory", CHAT_ROLE_ADMIN,
                                          (const uint8_t *)"x", 1, SIM_OPSLIMIT, SIM_MEMLIMIT_KIB,
                                          NULL),
                     CHAT_OK);
    sim_pump(s);
    see(s, b, "error req=");
    assert_int_equal(chat_store_mem_count(sim_store(s)), 3);

    assert_int_equal(chat_client_add_user(sim_client(s, a), "dave", CHAT_ROLE_USER,
                                          (const uint8_t *)"pw-dave", 7, SIM_OPSLIMIT,
                                          SIM_MEMLIMIT_KIB, NULL),
                     CHAT_OK);
    sim_pump(s);
    see(s, a, "ok req=");
    assert_int_equal(chat_store_mem_count(sim_store(s)), 4);

    int d = login(s, "dave", "pw-dave");
    see(s, d, "welcome dave user");
    see(s, a, "joined #lobby dave");

    /* The same name again is refused. */
    assert_int_equal(chat_client_add_user(sim_client(s, a), "DAVE", CHAT_ROLE_USER,
                                          (const uint8_t *)"x", 1, SIM_OPSLIMIT, SIM_MEMLIMIT_KIB,
                                          NULL),
                     CHAT_OK);
    sim_pump(s);
    see(s, a, "error req=");
    sim_free(s);
}

/* Three wrong passwords end the connection with AUTH_LIMIT. */
static void test_wrong_password_three_times(void **state)
{
    (void)state;
    sim *s = world();
    int a = login(s, "alice", "pw-alice");
    int m = sim_connect(s, "bob", "nope");
    sim_pump(s);
    see(s, m, "login-failed BAD_LOGIN left=2");
    assert_int_equal(chat_client_login(sim_client(s, m), "bob"), CHAT_OK);
    sim_pump(s);
    see(s, m, "login-failed BAD_LOGIN left=1");
    assert_int_equal(chat_client_login(sim_client(s, m), "bob"), CHAT_OK);
    sim_pump(s);
    see(s, m, "login-failed BAD_LOGIN left=0");
    see(s, m, "closed by-server AUTH_LIMIT");
    assert_true(sim_closed(s, m));
    assert_int_equal(chat_hub_conn_count(sim_hub(s)), 1);
    /* An unknown user fails the same way. */
    int u = sim_connect(s, "nobody", "x");
    sim_pump(s);
    see(s, u, "challenge opslimit=1 memlimit_kib=8");
    see(s, u, "login-failed BAD_LOGIN left=2");
    /* Alice saw nothing of it. */
    see(s, a, "names req=0");
    nothing_more(s, a);
    sim_free(s);
}

/* A second login of the same user is refused while the first is on. */
static void test_duplicate_login_refused(void **state)
{
    (void)state;
    sim *s = world();
    int b1 = login(s, "bob", "pw-bob");
    int b2 = sim_connect(s, "bob", "pw-bob");
    sim_pump(s);
    see(s, b2, "login-failed ALREADY_ONLINE");
    assert_int_equal(chat_client_get_state(sim_client(s, b2)), CHAT_CLIENT_AWAIT_RETRY);
    assert_int_equal(chat_client_get_state(sim_client(s, b1)), CHAT_CLIENT_READY);
    assert_int_equal(chat_hub_user_count(sim_hub(s)), 1);
    /* Once the first leaves, the retry succeeds on the same connection. */
    assert_int_equal(chat_client_quit(sim_client(s, b1), NULL), CHAT_OK);
    sim_pump(s);
    assert_int_equal(chat_client_login(sim_client(s, b2), "bob"), CHAT_OK);
    sim_pump(s);
    see(s, b2, "welcome bob user");
    sim_free(s);
}

/* An admin kicks a user: the user gets KICKED, the room sees it. */
static void test_kick(void **state)
{
    (void)state;
    sim *s = world();
    int a = login(s, "alice", "pw-alice");
    int b = login(s, "bob", "pw-bob");
    int c = login(s, "carol", "pw-carol");
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_KICK;
    m.u.kick.user.p = (const uint8_t *)"bob";
    m.u.kick.user.n = 3;
    m.u.kick.reason.p = (const uint8_t *)"spam";
    m.u.kick.reason.n = 4;
    /* carol is not admin */
    assert_int_equal(chat_client_request(sim_client(s, c), &m, NULL), CHAT_OK);
    sim_pump(s);
    see(s, c, "error req=");
    assert_false(sim_closed(s, b));
    /* alice is */
    assert_int_equal(chat_client_request(sim_client(s, a), &m, NULL), CHAT_OK);
    sim_pump(s);
    see(s, b, "closed by-server KICKED spam");
    assert_true(sim_closed(s, b));
    see(s, c, "parted #lobby bob KICKED");
    see(s, a, "parted #lobby bob KICKED");
    see(s, a, "ok req=");
    assert_int_equal(chat_hub_user_count(sim_hub(s)), 2);
    sim_free(s);
}

/* An admin shuts the server down: every client gets the notice. */
static void test_shutdown_reaches_everyone(void **state)
{
    (void)state;
    sim *s = world();
    int a = login(s, "alice", "pw-alice");
    int b = login(s, "bob", "pw-bob");
    int c = login(s, "carol", "pw-carol");
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_SHUTDOWN;
    m.u.shutdown.reason.p = (const uint8_t *)"maintenance";
    m.u.shutdown.reason.n = 11;
    assert_int_equal(chat_client_request(sim_client(s, b), &m, NULL), CHAT_OK);
    sim_pump(s);
    see(s, b, "error req=");
    assert_false(chat_hub_is_shut_down(sim_hub(s)));

    assert_int_equal(chat_client_request(sim_client(s, a), &m, NULL), CHAT_OK);
    sim_pump(s);
    see(s, a, "ok req=");
    see(s, a, "closed by-server SHUTDOWN maintenance");
    see(s, b, "closed by-server SHUTDOWN maintenance");
    see(s, c, "closed by-server SHUTDOWN maintenance");
    assert_true(chat_hub_is_shut_down(sim_hub(s)));
    assert_int_equal(chat_hub_conn_count(sim_hub(s)), 0);
    sim_free(s);
}

/* A password change, then a login with the new password only. */
static void test_password_change(void **state)
{
    (void)state;
    sim *s = world();
    int b = login(s, "bob", "pw-bob");
    assert_int_equal(chat_client_passwd(sim_client(s, b), (const uint8_t *)"new-pw", 6,
                                        SIM_OPSLIMIT, SIM_MEMLIMIT_KIB, NULL),
                     CHAT_OK);
    sim_pump(s);
    see(s, b, "ok req=");
    assert_int_equal(chat_client_quit(sim_client(s, b), NULL), CHAT_OK);
    sim_pump(s);
    int old = sim_connect(s, "bob", "pw-bob");
    sim_pump(s);
    see(s, old, "login-failed BAD_LOGIN");
    int fresh = login(s, "bob", "new-pw");
    see(s, fresh, "welcome bob user");
    sim_free(s);
}

/* Timeouts through tick: a silent connection and an idle one. */
static void test_timeouts(void **state)
{
    (void)state;
    static const char *const rooms[] = {"#lobby", NULL};
    sim_options opt = {.default_rooms = rooms, .seed = 9, .login_timeout_ms = 5000,
                       .idle_timeout_ms = 150000};
    sim *s = sim_new(&opt);
    assert_non_null(s);
    assert_int_equal(sim_add_account(s, "alice", "pw", CHAT_ROLE_ADMIN), 0);
    assert_int_equal(sim_add_account(s, "bob", "pw", CHAT_ROLE_USER), 0);
    int a = login(s, "alice", "pw");
    /* bob's client connects with a wrong password and then does nothing. */
    int b = sim_connect(s, "bob", "bad");
    sim_pump(s);
    see(s, b, "login-failed");
    sim_advance(s, 5001);
    see(s, b, "closed by-server LOGIN_TIMEOUT");
    /* alice's client pings every 60 s by itself, so she outlives the
     * 150 s idle timeout. */
    for (int k = 0; k < 8; k++)
        sim_advance(s, 30000);
    assert_false(sim_closed(s, a));
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_users_two_rooms),
        cmocka_unit_test(test_admin_creates_user),
        cmocka_unit_test(test_wrong_password_three_times),
        cmocka_unit_test(test_duplicate_login_refused),
        cmocka_unit_test(test_kick),
        cmocka_unit_test(test_shutdown_reaches_everyone),
        cmocka_unit_test(test_password_change),
        cmocka_unit_test(test_timeouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
