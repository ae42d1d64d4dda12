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

/* What each client saw during the current step, printed when the step's
 * first expectation is checked. */
#define MAX_SEEN 64
static const char *names[4] = {"alice", "bob", "carol", "dave"};
static char seen[4][MAX_SEEN][SIM_LINE_MAX];
static int nseen[4];
static int nclients;

static void step(const char *what)
{
    memset(nseen, 0, sizeof nseen);
    if (!quiet)
        printf("\n== %s\n", what);
}

/* Collect and print every line the clients saw since the last call. */
static void collect(sim *s)
{
    for (int i = 0; i < nclients; i++) {
        const char *l;
        while ((l = sim_next_line(s, i)) != NULL) {
            if (!quiet)
                printf("  %-6s %s\n", names[i], l);
            if (nseen[i] < MAX_SEEN)
                snprintf(seen[i][nseen[i]++], SIM_LINE_MAX, "%s", l);
        }
    }
}

/* Check that client i saw a line starting with prefix during this step. */
static void expect(sim *s, int i, const char *prefix)
{
    collect(s);
    for (int k = 0; k < nseen[i]; k++)
        if (strncmp(seen[i][k], prefix, strlen(prefix)) == 0)
            return;
    printf("  FAILED: %s never saw \"%s\"\n", names[i], prefix);
    failures++;
}

static int connect_as(sim *s, const char *user, const char *password)
{
    int i = sim_connect(s, user, password);
    if (i >= 0 && i + 1 > nclients)
        nclients = i + 1;
    return i;
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
    int alice = connect_as(s, "alice", "alice-secret");
    sim_pump(s);
    expect(s, alice, "server-key SHA256:");
    expect(s, alice, "welcome alice admin");
    expect(s, alice, "names req=0 #lobby:");

    step("bob connects with a wrong password first, then the right one");
    int bob = connect_as(s, "bob", "wrong");
    sim_pump(s);
    expect(s, bob, "login-failed BAD_LOGIN left=2");
    sim_set_password(s, bob, "bob-secret");
    if (chat_client_login(sim_client(s, bob), "bob") != CHAT_OK)
        failures++;
    sim_pump(s);
    expect(s, bob, "welcome bob user");

    step("chat in #lobby");
    if (chat_client_say(sim_client(s, alice), "#lobby", "hello bob", CHAT_KIND_SAY, NULL) != CHAT_OK ||
        chat_client_say(sim_client(s, bob), "#lobby", "waves", CHAT_KIND_ACTION, NULL) != CHAT_OK)
        failures++;
    sim_pump(s);
    expect(s, bob, "message #lobby <alice> seq=1 hello bob");
    expect(s, alice, "action #lobby <bob> seq=2 waves");

    step("a private message");
    if (chat_client_say(sim_client(s, bob), "alice", "psst", CHAT_KIND_SAY, NULL) != CHAT_OK)
        failures++;
    sim_pump(s);
    expect(s, alice, "message alice <bob> seq=0 psst");

    step("alice (admin) creates carol; carol logs in");
    if (chat_client_add_user(sim_client(s, alice), "carol", CHAT_ROLE_USER,
                             (const uint8_t *)"carol-secret", 12, SIM_OPSLIMIT,
                             SIM_MEMLIMIT_KIB, NULL) != CHAT_OK)
        failures++;
    sim_pump(s);
    expect(s, alice, "ok req=");
    int carol = connect_as(s, "carol", "carol-secret");
    sim_pump(s);
    expect(s, carol, "welcome carol user");

    step("bob tries an admin action and is refused");
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_USERS;
    if (chat_client_request(sim_client(s, bob), &m, NULL) != CHAT_OK)
        failures++;
    sim_pump(s);
    expect(s, bob, "error req=");

    step("alice shuts the server down: everyone gets an authenticated goodbye");
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_SHUTDOWN;
    m.u.shutdown.reason.p = (const uint8_t *)"self-check done";
    m.u.shutdown.reason.n = 15;
    if (chat_client_request(sim_client(s, alice), &m, NULL) != CHAT_OK)
        failures++;
    sim_pump(s);
    expect(s, alice, "closed by-server SHUTDOWN");
    expect(s, bob, "closed by-server SHUTDOWN");
    expect(s, carol, "closed by-server SHUTDOWN");
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
