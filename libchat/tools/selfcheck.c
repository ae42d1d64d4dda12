/* chat-selfcheck: a full client/server session through libchat, in memory,
 * narrated step by step. It exercises the handshake, key fingerprint,
 * password login, rooms, private messages, an admin creating a user and
 * shutdown, and exits non-zero if anything did not happen as expected.
 *
 * Usage: chat-selfcheck [--quiet] */
#include <stdio.h>
#include <string.h>

#include "sim.h"

static int quiet;
static int failures;

static void step(const char *what)
{
    if (!quiet)
        printf("\n== %s\n", what);
}

static void show(sim *s, int i, const char *who)
{
    if (!quiet)
        sim_print(s, i, who);
    else
        while (sim_next_line(s, i) != NULL)
            ;
}

/* Check that the client saw a line starting with prefix, then print the rest. */
static void expect(sim *s, int i, const char *who, const char *prefix)
{
    const char *l;
    while ((l = sim_next_line(s, i)) != NULL) {
        if (!quiet)
            printf("  %-6s %s\n", who, l);
        if (strncmp(l, prefix, strlen(prefix)) == 0)
            return;
    }
    printf("  FAILED: %s never saw \"%s\"\n", who, prefix);
    failures++;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--quiet") == 0)
        quiet = 1;
    else if (argc > 1) {
        fprintf(stderr, "usage: chat-selfcheck [--quiet]\n"
                        "Runs a complete in-memory chat session through libchat and narrates it.\n");
        return argc > 1 && strcmp(argv[1], "--help") == 0 ? 0 : 64;
    }

    const char *rooms[] = {"#lobby", NULL};
    sim_options opt = {.motd = "Welcome to the libchat self-check.", .default_rooms = rooms,
                       .seed = 42};
    sim *s = sim_new(&opt);
    if (s == NULL) {
        fprintf(stderr, "chat-selfcheck: could not create the hub\n");
        return 70;
    }
    if (!quiet)
        printf("libchat %s self-check: one hub, in-memory pipes, a virtual clock.\n"
               "Protocol: %s, prologue \"%s\", Argon2id+Ed25519 login.\n",
               CHAT_LIB_VERSION, CHAT_NOISE_PROTOCOL, CHAT_PROLOGUE);

    step("accounts: admin 'alice' and user 'bob' (the store keeps only verifiers)");
    if (sim_add_account(s, "alice", "alice-secret", CHAT_ROLE_ADMIN) != 0 ||
        sim_add_account(s, "bob", "bob-secret", CHAT_ROLE_USER) != 0) {
        fprintf(stderr, "chat-selfcheck: could not create accounts\n");
        sim_free(s);
        return 70;
    }

    step("alice connects: Noise_XX handshake, key pinning, challenge, proof");
    int alice = sim_connect(s, "alice", "alice-secret");
    sim_pump(s);
    expect(s, alice, "alice", "server-key SHA256:");
    expect(s, alice, "alice", "welcome alice admin");
    expect(s, alice, "alice", "names req=0 #lobby:");

    step("bob connects with a wrong password first, then the right one");
    int bob = sim_connect(s, "bob", "wrong");
    sim_pump(s);
    expect(s, bob, "bob", "login-failed BAD_LOGIN left=2");
    sim_set_password(s, bob, "bob-secret");
    if (chat_client_login(sim_client(s, bob), "bob") != CHAT_OK)
        failures++;
    sim_pump(s);
    expect(s, bob, "bob", "welcome bob user");
    show(s, alice, "alice");

    step("chat in #lobby");
    if (chat_client_say(sim_client(s, alice), "#lobby", "hello bob", CHAT_KIND_SAY, NULL) != CHAT_OK ||
        chat_client_say(sim_client(s, bob), "#lobby", "waves", CHAT_KIND_ACTION, NULL) != CHAT_OK)
        failures++;
    sim_pump(s);
    expect(s, bob, "bob", "message #lobby <alice> seq=1 hello bob");
    expect(s, alice, "alice", "action #lobby <bob> seq=2 waves");
    show(s, alice, "alice");
    show(s, bob, "bob");

    step("a private message");
    if (chat_client_say(sim_client(s, bob), "alice", "psst", CHAT_KIND_SAY, NULL) != CHAT_OK)
        failures++;
    sim_pump(s);
    expect(s, alice, "alice", "message alice <bob> seq=0 psst");
    show(s, bob, "bob");

    step("alice (admin) creates carol; carol logs in");
    if (chat_client_add_user(sim_client(s, alice), "carol", CHAT_ROLE_USER,
                             (const uint8_t *)"carol-secret", 12, SIM_OPSLIMIT,
                             SIM_MEMLIMIT_KIB, NULL) != CHAT_OK)
        failures++;
    sim_pump(s);
    expect(s, alice, "alice", "ok req=");
    int carol = sim_connect(s, "carol", "carol-secret");
    sim_pump(s);
    expect(s, carol, "carol", "welcome carol user");
    show(s, bob, "bob");

    step("bob tries an admin action and is refused");
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_USERS;
    if (chat_client_request(sim_client(s, bob), &m, NULL) != CHAT_OK)
        failures++;
    sim_pump(s);
    expect(s, bob, "bob", "error req=");

    step("alice shuts the server down: everyone gets an authenticated goodbye");
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_SHUTDOWN;
    m.u.shutdown.reason.p = (const uint8_t *)"self-check done";
    m.u.shutdown.reason.n = 15;
    if (chat_client_request(sim_client(s, alice), &m, NULL) != CHAT_OK)
        failures++;
    sim_pump(s);
    expect(s, alice, "alice", "closed by-server SHUTDOWN");
    expect(s, bob, "bob", "closed by-server SHUTDOWN");
    expect(s, carol, "carol", "closed by-server SHUTDOWN");
    if (!chat_hub_is_shut_down(sim_hub(s))) {
        printf("  FAILED: the hub is not shut down\n");
        failures++;
    }
    sim_free(s);

    if (failures) {
        printf("\nself-check FAILED: %d expectation(s) not met\n", failures);
        return 1;
    }
    printf("%sself-check passed: handshake, login, rooms, private message, admin, shutdown\n",
           quiet ? "" : "\n");
    return 0;
}
