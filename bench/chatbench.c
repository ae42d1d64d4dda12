/* chatbench: a load generator for chatd (through libchat's client
 * sessions) and for IRC servers (ngircd), with the same scenarios for
 * both so their figures can be compared. Issue 6; the method is in
 * docs/PERFORMANCE.md. This file: options, the password files, main. */
#include "bench.h"

#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <sodium.h>

#include <chat/verifier.h>

#include "fileutil.h"
#include "msgtext.h"

#define EXIT_USAGE 2

/* In parts: C17 compilers need only accept string literals of 4095 bytes. */
static const char *const usage_text[] = {
    "Usage: chatbench --proto chat|irc [--host H] --port P [--server-pid PID]\n"
    "                 --scenario fanout|rate|login|idle [options]\n"
    "       chatbench --proto chat --setup --admin-user U --admin-password-file F\n"
    "                 --count N --user-prefix PFX --password-file F2 [--port P ...]\n"
    "\n"
    "Loads a chat server (chatd, through libchat's client sessions) or an IRC\n"
    "server on this machine (loopback addresses only) and prints one line:\n"
    "  RESULT proto=... scenario=... key=value ...\n"
    "Every run is bounded in messages and time and stops by itself. Any error (a\n"
    "refused or dropped connection, a delivery missing, from the wrong sender, out\n"
    "of sequence or with the wrong content) is reported on stderr; the RESULT\n"
    "line then has errors=1 or more and the exit status is 1.\n"
    "\n",
    "Scenarios:\n"
    "  fanout  -n N clients join one room; the first -s S of them each send -m M\n"
    "          messages of -b B bytes as fast as the window allows: at most -w W\n"
    "          of a sender's messages in flight. Reports deliveries/s from the\n"
    "          first send to the last delivery, and latency percentiles.\n"
    "  rate    -n N clients in one room; -s S senders each send --rate R msgs/s\n"
    "          (message k of every sender is due at start + k/R: all senders\n"
    "          at the same instants, paced by a timer)\n"
    "          for --duration D seconds (M = R*D messages each).\n"
    "  login   -k K connections, each connecting, doing the handshake and the\n"
    "          login, saying goodbye and waiting for the server to close, over\n"
    "          and over for --duration D seconds. Argon2id runs once per account\n"
    "          and its result is reused, so the server's work is what is measured.\n"
    "          IRC: NICK/USER registration (until 001), then QUIT.\n"
    "  idle    -c C clients logged in (chat) / registered (IRC), and by default\n"
    "          joined to the room for IRC (see --join), held for --hold seconds;\n"
    "          reports the server's RSS per connection:\n"
    "          (VmRSS with C held - VmRSS before they connected) / C.\n"
    "          Joining one room costs O(C^2) join notices: at C = 10,000 use\n"
    "          --join no (registered only).\n"
    "\n"
    "What counts as delivered (the same rule for both protocols): a message is\n"
    "in flight until every other client in the room (N-1 of them) has received\n"
    "it. IRC servers do not echo a sender's own PRIVMSG; chatd does, and\n"
    "chatbench checks that echo but neither counts it nor lets it release the\n"
    "window. deliveries = S * M * (N-1). Latency is measured per delivery, from\n"
    "the send timestamp (monotonic, carried in the text) to the read.\n"
    "Message text: \"<16 hex digits send time ns> <sender> <seq> \" then letters\n"
    "depending on seq and position, B bytes in all.\n"
    "\n",
    "Output (one line; \"na\" where a figure is unknown, e.g. without --server-pid):\n"
    "  fanout, rate: the parameters, deliveries, secs (first send to last\n"
    "    delivery), deliveries_per_s (deliveries / secs), steady_deliveries_per_s\n"
    "    (from the 10% to the 90% mark of the deliveries: without the ramp-up\n"
    "    and the drain; sampled every ms, na when too short), p50_us p90_us\n"
    "    p99_us p999_us (latency of\n"
    "    every delivery; log-linear histogram, under 1.6% bucket error),\n"
    "    server_cpu_s, deliveries_per_cpu_s, server_rss_kb (at the end),\n"
    "    bench_cpu_s, errors\n"
    "  login: k duration logins secs logins_per_s server_cpu_s logins_per_cpu_s\n"
    "    server_rss_kb bench_cpu_s errors\n"
    "  idle: c joined conns server_rss_before_kb server_rss_kb rss_per_conn_b\n"
    "    server_cpu_s (while held) errors\n"
    "\n",
    "Options:\n"
    "  --proto chat|irc          protocol (default chat)\n"
    "  --host ADDR               server address, loopback only (default 127.0.0.1)\n"
    "  --port P                  server port (default 7447 chat, 6667 irc)\n"
    "  --server-pid PID          the server's pid: CPU seconds (utime+stime of\n"
    "                            /proc/PID/stat) over the measured phase and RSS\n"
    "                            (VmRSS of /proc/PID/status); \"na\" without it.\n"
    "                            bench_cpu_s is chatbench's own CPU time over the\n"
    "                            same phase: near secs means chatbench was the limit\n"
    "  --scenario S              fanout, rate, login or idle (default fanout)\n"
    "  --threads T               load-generator threads, each with its own epoll\n"
    "                            and connections (default 1)\n"
    "  -n N                      fanout, rate: clients in the room (default 100)\n"
    "  -s S                      fanout, rate: senders, clients 0..S-1 (default 10)\n"
    "  -w W                      fanout: messages in flight per sender (default 8)\n"
    "  -m M                      fanout: messages per sender (default 200)\n"
    "  -b B                      message text bytes, 40..4000 chat, 40..400 irc\n"
    "                            (default 100)\n"
    "  --rate R                  rate: messages/s per sender (default 100)\n"
    "  --duration D              rate, login: seconds (default 5)\n"
    "  -k K                      login: concurrent connections (default 16)\n"
    "  -c C                      idle: connections (default 1000)\n"
    "  --hold SECONDS            idle: how long to hold them (default 2)\n"
    "  --join yes|no             idle: join the room too (default no for chat,\n"
    "                            yes for irc)\n"
    "  --room NAME               the room / channel (default #bench)\n"
    "  --user-prefix PFX         account and nick names PFX0, PFX1, ... (default b)\n"
    "  --password-file F         chat: the accounts' password (first line of F)\n"
    "  --trust accept            accept the server's key without pinning (the only\n"
    "                            mode, and the default)\n"
    "  --connect-window N        clients connecting/logging in at once while a run\n"
    "                            sets up (default 32 chat, 8 irc: ngircd listens\n"
    "                            with a backlog of 10, and SYNs dropped beyond it\n"
    "                            come back only after seconds of TCP backoff)\n"
    "  --timeout SECONDS         give up (error) after this long (default 120 plus\n"
    "                            the duration or hold)\n"
    "  --stall SECONDS           give up when nothing moved for this long (default 10)\n"
    "\n",
    "Setup (chat only): create accounts PFX0..PFX<count-1> with the password of\n"
    "--password-file through ADD_USER on an admin connection; existing accounts\n"
    "are fine. Prints \"SETUP ... created=X existing=Y\".\n"
    "  --setup --admin-user U --admin-password-file F --count N\n"
    "  --opslimit N --memlimit-kib N  Argon2id limits of the new verifiers\n"
    "                            (default 1 and 8, libchat's minimums: configure\n"
    "                            chatd with min_opslimit = 1, min_memlimit_kib = 8)\n"
    "\n"
    "The server must allow the connections: chatd's max_connections and\n"
    "max_connections_per_address (every client comes from 127.0.0.1), ngircd's\n"
    "MaxConnectionsIP, flood control off; chatbench raises its own open-file\n"
    "limit as far as the hard limit allows.\n",
    NULL,
};

enum {
    O_PROTO = 256, O_HOST, O_PORT, O_PID, O_SCENARIO, O_THREADS, O_RATE, O_DURATION, O_HOLD,
    O_JOIN, O_ROOM, O_PREFIX, O_PWFILE, O_TRUST, O_WINDOW, O_TIMEOUT, O_STALL, O_SETUP,
    O_ADMIN, O_ADMIN_PW, O_COUNT, O_OPS, O_MEM
};

static const struct option long_opts[] = {
    {"proto", required_argument, NULL, O_PROTO},
    {"host", required_argument, NULL, O_HOST},
    {"port", required_argument, NULL, O_PORT},
    {"server-pid", required_argument, NULL, O_PID},
    {"scenario", required_argument, NULL, O_SCENARIO},
    {"threads", required_argument, NULL, O_THREADS},
    {"rate", required_argument, NULL, O_RATE},
    {"duration", required_argument, NULL, O_DURATION},
    {"hold", required_argument, NULL, O_HOLD},
    {"join", required_argument, NULL, O_JOIN},
    {"room", required_argument, NULL, O_ROOM},
    {"user-prefix", required_argument, NULL, O_PREFIX},
    {"password-file", required_argument, NULL, O_PWFILE},
    {"trust", required_argument, NULL, O_TRUST},
    {"connect-window", required_argument, NULL, O_WINDOW},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"stall", required_argument, NULL, O_STALL},
    {"setup", no_argument, NULL, O_SETUP},
    {"admin-user", required_argument, NULL, O_ADMIN},
    {"admin-password-file", required_argument, NULL, O_ADMIN_PW},
    {"count", required_argument, NULL, O_COUNT},
    {"opslimit", required_argument, NULL, O_OPS},
    {"memlimit-kib", required_argument, NULL, O_MEM},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "chatbench: %s%s%s\nTry 'chatbench --help' for more information.\n", msg,
            arg != NULL ? ": " : "", arg != NULL ? arg : "");
    return EXIT_USAGE;
}

/* An unsigned integer in [min, max], whole string. */
static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || v < min || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_pos_double(const char *s, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v > 0) || v > 1e7)
        return -1;
    *out = v;
    return 0;
}

/* The first line of a private file, as chatc reads --password-file. */
static int read_password(const char *path, char *out, size_t cap, size_t *len)
{
    char err[600];
    char *text = NULL;
    size_t n = 0;
    if (fu_read_file_alloc(path, 64 * 1024, &text, &n, FU_READ_PRIVATE, err, sizeof err) != FU_OK) {
        fprintf(stderr, "chatbench: %s\n", err);
        return -1;
    }
    size_t l = 0;
    while (l < n && text[l] != '\n')
        l++;
    if (l > 0 && text[l - 1] == '\r')
        l--;
    int rc = 0;
    if (l == 0 || l > CHAT_PASSWORD_MAX || l >= cap) {
        fprintf(stderr, "chatbench: %s: the first line must hold the password (1 to %d bytes)\n",
                path, CHAT_PASSWORD_MAX);
        rc = -1;
    } else {
        memcpy(out, text, l);
        out[l] = '\0';
        *len = l;
    }
    fu_free_wipe(text, n + 1);
    return rc;
}

int main(int argc, char **argv)
{
    static bench_opts o; /* static: zeroed, and the password is wiped at exit */
    o.proto = PROTO_CHAT;
    o.host = "127.0.0.1";
    o.scenario = SC_FANOUT;
    o.threads = 1;
    o.n = 100;
    o.s = 10;
    o.w = 8;
    o.m = 200;
    o.b = 100;
    o.rate = 100;
    o.duration = 5;
    o.k = 16;
    o.c = 1000;
    o.hold = 2;
    o.idle_join = -1;
    o.prefix = "b";
    o.room = "#bench";
    o.connect_window = 0; /* per protocol, below */
    o.timeout = -1;
    o.stall = 10;
    const char *pwfile = NULL, *admin = NULL, *admin_pwfile = NULL;
    int do_setup = 0;
    uint32_t count = 0, opslimit = CHAT_OPSLIMIT_MIN, memlimit = CHAT_MEMLIMIT_KIB_MIN;
    uint32_t v = 0;

    int ch;
    while ((ch = getopt_long(argc, argv, "n:s:w:m:b:k:c:h", long_opts, NULL)) != -1) {
        switch (ch) {
        case O_PROTO:
            if (strcmp(optarg, "chat") == 0)
                o.proto = PROTO_CHAT;
            else if (strcmp(optarg, "irc") == 0)
                o.proto = PROTO_IRC;
            else
                return usage_error("--proto must be chat or irc", optarg);
            break;
        case O_HOST:
            o.host = optarg;
            break;
        case O_PORT:
            if (parse_u32(optarg, 1, 65535, &v) != 0)
                return usage_error("bad --port", optarg);
            o.port = v;
            break;
        case O_PID:
            if (parse_u32(optarg, 1, INT_MAX, &v) != 0)
                return usage_error("bad --server-pid", optarg);
            o.server_pid = (int)v;
            break;
        case O_SCENARIO:
            if (strcmp(optarg, "fanout") == 0)
                o.scenario = SC_FANOUT;
            else if (strcmp(optarg, "rate") == 0)
                o.scenario = SC_RATE;
            else if (strcmp(optarg, "login") == 0)
                o.scenario = SC_LOGIN;
            else if (strcmp(optarg, "idle") == 0)
                o.scenario = SC_IDLE;
            else
                return usage_error("--scenario must be fanout, rate, login or idle", optarg);
            break;
        case O_THREADS:
            if (parse_u32(optarg, 1, 64, &o.threads) != 0)
                return usage_error("--threads must be 1 to 64", optarg);
            break;
        case 'n':
            if (parse_u32(optarg, 2, 1000000, &o.n) != 0)
                return usage_error("-n must be 2 to 1000000", optarg);
            break;
        case 's':
            if (parse_u32(optarg, 1, 1000000, &o.s) != 0)
                return usage_error("-s must be at least 1", optarg);
            break;
        case 'w':
            if (parse_u32(optarg, 1, 1000000, &o.w) != 0)
                return usage_error("-w must be at least 1", optarg);
            break;
        case 'm':
            if (parse_u32(optarg, 1, 100000000, &o.m) != 0)
                return usage_error("-m must be 1 to 100000000", optarg);
            break;
        case 'b':
            if (parse_u32(optarg, BT_MIN, BT_MAX, &v) != 0)
                return usage_error("-b must be 40 to 4000", optarg);
            o.b = v;
            break;
        case 'k':
            if (parse_u32(optarg, 1, 1000000, &o.k) != 0)
                return usage_error("-k must be at least 1", optarg);
            break;
        case 'c':
            if (parse_u32(optarg, 1, 1000000, &o.c) != 0)
                return usage_error("-c must be at least 1", optarg);
            break;
        case O_RATE:
            if (parse_pos_double(optarg, &o.rate) != 0)
                return usage_error("--rate must be a positive number", optarg);
            break;
        case O_DURATION:
            if (parse_pos_double(optarg, &o.duration) != 0)
                return usage_error("--duration must be a positive number of seconds", optarg);
            break;
        case O_HOLD:
            if (parse_pos_double(optarg, &o.hold) != 0)
                return usage_error("--hold must be a positive number of seconds", optarg);
            break;
        case O_JOIN:
            if (strcmp(optarg, "yes") == 0)
                o.idle_join = 1;
            else if (strcmp(optarg, "no") == 0)
                o.idle_join = 0;
            else
                return usage_error("--join must be yes or no", optarg);
            break;
        case O_ROOM:
            o.room = optarg;
            break;
        case O_PREFIX:
            o.prefix = optarg;
            break;
        case O_PWFILE:
            pwfile = optarg;
            break;
        case O_TRUST:
            if (strcmp(optarg, "accept") != 0)
                return usage_error("--trust: chatbench pins nothing; the only mode is accept",
                                   optarg);
            break;
        case O_WINDOW:
            if (parse_u32(optarg, 1, 1000000, &o.connect_window) != 0)
                return usage_error("--connect-window must be at least 1", optarg);
            break;
        case O_TIMEOUT:
            if (parse_pos_double(optarg, &o.timeout) != 0)
                return usage_error("--timeout must be a positive number of seconds", optarg);
            break;
        case O_STALL:
            if (parse_pos_double(optarg, &o.stall) != 0)
                return usage_error("--stall must be a positive number of seconds", optarg);
            break;
        case O_SETUP:
            do_setup = 1;
            break;
        case O_ADMIN:
            admin = optarg;
            break;
        case O_ADMIN_PW:
            admin_pwfile = optarg;
            break;
        case O_COUNT:
            if (parse_u32(optarg, 1, 1000000, &count) != 0)
                return usage_error("--count must be at least 1", optarg);
            break;
        case O_OPS:
            if (parse_u32(optarg, CHAT_OPSLIMIT_MIN, CHAT_OPSLIMIT_CLIENT_MAX, &opslimit) != 0)
                return usage_error("bad --opslimit", optarg);
            break;
        case O_MEM:
            if (parse_u32(optarg, CHAT_MEMLIMIT_KIB_MIN, CHAT_MEMLIMIT_KIB_CLIENT_MAX, &memlimit) !=
                0)
                return usage_error("bad --memlimit-kib", optarg);
            break;
        case 'h':
            for (const char *const *u = usage_text; *u != NULL; u++)
                fputs(*u, stdout);
            return 0;
        default:
            return usage_error("unknown option", NULL);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument", argv[optind]);
    if (o.port == 0)
        o.port = o.proto == PROTO_CHAT ? 7447 : 6667;
    if (o.connect_window == 0)
        o.connect_window = o.proto == PROTO_CHAT ? 32 : 8;
    if (o.idle_join < 0)
        o.idle_join = o.proto == PROTO_IRC;
    if (o.timeout < 0)
        o.timeout = 120 + (o.scenario == SC_IDLE ? o.hold : o.duration);
    if (o.proto == PROTO_IRC && o.b > 400)
        return usage_error("-b must be at most 400 for IRC (lines are at most 512 bytes)", NULL);
    if ((o.scenario == SC_FANOUT || o.scenario == SC_RATE) && o.s > o.n)
        return usage_error("-s must not exceed -n", NULL);
    if (o.scenario == SC_RATE && o.rate * o.duration > 100000000)
        return usage_error("--rate times --duration is too many messages", NULL);
    if (!chat_valid_room((const uint8_t *)o.room, strlen(o.room)))
        return usage_error("--room must be '#' and a name of letters, digits, '.', '_', '-'",
                           o.room);
    char probe[64];
    int pl = snprintf(probe, sizeof probe, "%s%u", o.prefix, 1000000u);
    if (pl < 0 || (size_t)pl > CHAT_NAME_MAX || !chat_valid_name((const uint8_t *)probe, (size_t)pl))
        return usage_error("--user-prefix must start with a letter, hold only letters, digits, "
                           "'.', '_', '-', and be at most 25 bytes",
                           o.prefix);
    if (sodium_init() < 0) {
        fprintf(stderr, "chatbench: libsodium failed to initialise\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Every login cycle allocates and frees a client session's buffers
     * (64 KiB and more): keep freed memory in the heap instead of giving
     * it back to the kernel and faulting it in again each time. */
    (void)mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
    (void)mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);
    /* Timers (rate pacing) fire when due rather than up to 50 us late. */
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

    int rc;
    if (do_setup) {
        if (o.proto != PROTO_CHAT)
            return usage_error("--setup is for --proto chat (IRC has no accounts)", NULL);
        if (admin == NULL || admin_pwfile == NULL || pwfile == NULL || count == 0)
            return usage_error("--setup needs --admin-user, --admin-password-file, "
                               "--password-file and --count",
                               NULL);
        static char admin_pw[CHAT_PASSWORD_MAX + 1];
        size_t admin_len = 0;
        if (read_password(pwfile, o.password, sizeof o.password, &o.password_len) != 0 ||
            read_password(admin_pwfile, admin_pw, sizeof admin_pw, &admin_len) != 0)
            return 1;
        rc = bench_setup(&o, admin, admin_pw, admin_len, count, opslimit, memlimit);
        sodium_memzero(admin_pw, sizeof admin_pw);
    } else {
        if (o.proto == PROTO_CHAT) {
            if (pwfile == NULL)
                return usage_error("--proto chat needs --password-file (the accounts' password)",
                                   NULL);
            if (read_password(pwfile, o.password, sizeof o.password, &o.password_len) != 0)
                return 1;
        }
        rc = bench_run(&o);
    }
    sodium_memzero(o.password, sizeof o.password);
    return rc;
}
