/* chatc: the terminal client. Arguments, files and exit statuses; the work
 * is done by session.c (over libchat's client) with ui.c or linemode.c in
 * front. See chatc(1). */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "addr.h"
#include "chat/chat.h"
#include "config.h"
#include "fileutil.h"
#include "ignore.h"
#include "keyfile.h"
#include "linemode.h"
#include "session.h"
#include "sig.h"
#include "ui.h"

#ifndef CHATC_VERSION
#define CHATC_VERSION CHAT_LIB_VERSION
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: chatc [options] [user@]host[:port]\n"
            "Chat on a chatd server in the terminal. When stdin is not a terminal (or\n"
            "with --line), read messages and /commands from stdin, one per line, and\n"
            "print events to stdout, one per line (see chatc(1), LINE MODE).\n"
            "An IPv6 address with a port is written in brackets: [::1]:7447.\n"
            "\n"
            "Options:\n"
            "  -l, --user NAME          log in as NAME (default: user@ of the destination,\n"
            "                           'user' in the config file, or $USER)\n"
            "  -p, --port PORT          server port (default %d; or host:port)\n"
            "  -i, --identity FILE      device key: raw, hex, base64 or PEM X25519 (default\n"
            "                           $XDG_DATA_HOME/chatc/identity, made on first run)\n"
            "  -P, --password-file FILE read the password from the first line of FILE\n"
            "                           (FILE must not be readable by group or others)\n"
            "  -t, --trust MODE         unknown server keys: ask (terminal default),\n"
            "                           accept-new (pin on first contact), strict (refuse;\n"
            "                           the line-mode default). A changed key is always\n"
            "                           refused; no option overrides that.\n"
            "  -k, --known-hosts FILE   pinned server keys (default\n"
            "                           $XDG_DATA_HOME/chatc/known_hosts)\n"
            "  -c, --config FILE        config file (default $XDG_CONFIG_HOME/chatc/chatc.conf)\n"
            "  -L, --line               line mode even when stdin is a terminal\n"
            "  -r, --room ROOM          line mode: join ROOM; plain lines go there\n"
            "      --no-reconnect       do not reconnect after the connection is lost\n"
            "  -h, --help               show this help\n"
            "  -V, --version            show the version\n"
            "\n"
            "Exit status:\n"
            "  0   the session ended normally (/quit, end of input in line mode)\n"
            "  64  usage error\n"
            "  69  cannot connect, or the connection ended (lost, server shutdown, kicked)\n"
            "  76  protocol error, or the server key was refused (changed; unknown\n"
            "      under --trust=strict; not accepted)\n"
            "  77  login refused (wrong user name or password, attempts used up)\n"
            "  78  configuration or file error (config, key, password or known_hosts file)\n",
            CHATC_DEFAULT_PORT);
}

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "chatc: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (code == EXIT_USAGE)
        fprintf(stderr, "Try 'chatc --help' for more information.\n");
    return code;
}

/* The first line of a private file into s as the password. */
static int load_password_file(session *s, const char *path)
{
    char err[600];
    char *text = NULL;
    size_t len = 0;
    if (fu_read_file_alloc(path, 64 * 1024, &text, &len, FU_READ_PRIVATE, err, sizeof err) != FU_OK)
        return fail(EXIT_CONFIG, "%s", err);
    size_t n = 0;
    while (n < len && text[n] != '\n')
        n++;
    if (n > 0 && text[n - 1] == '\r')
        n--;
    int rc = 0;
    if (n == 0 || n > CHAT_PASSWORD_MAX)
        rc = fail(EXIT_CONFIG, "%s: the first line must hold the password (1 to 1024 bytes)", path);
    else
        (void)session_set_password(s, text, n);
    fu_free_wipe(text, len + 1);
    return rc;
}

static int dir_for(fu_xdg kind, char *out, size_t cap)
{
    char err[600];
    if (fu_xdg_dir(kind, "chatc", out, cap, err, sizeof err) != FU_OK ||
        fu_mkdir_p(out, 0700, err, sizeof err) != FU_OK)
        return fail(EXIT_CONFIG, "%s", err);
    return 0;
}

int main(int argc, char **argv)
{
    enum { OPT_NO_RECONNECT = 256 };
    static const struct option longopts[] = {
        {"user", required_argument, NULL, 'l'},
        {"port", required_argument, NULL, 'p'},
        {"identity", required_argument, NULL, 'i'},
        {"password-file", required_argument, NULL, 'P'},
        {"trust", required_argument, NULL, 't'},
        {"known-hosts", required_argument, NULL, 'k'},
        {"config", required_argument, NULL, 'c'},
        {"line", no_argument, NULL, 'L'},
        {"room", required_argument, NULL, 'r'},
        {"no-reconnect", no_argument, NULL, OPT_NO_RECONNECT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *opt_user = NULL, *opt_identity = NULL, *opt_pwfile = NULL, *opt_kh = NULL;
    const char *opt_config = NULL, *opt_room = NULL;
    unsigned opt_port = 0;
    int opt_line = 0, opt_trust_set = 0, opt_no_reconnect = 0;
    trust_mode opt_trust = TRUST_ASK;
    int c;
    while ((c = getopt_long(argc, argv, "l:p:i:P:t:k:c:Lr:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            opt_user = optarg;
            break;
        case 'p': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v == 0 || v > 65535)
                return fail(EXIT_USAGE, "invalid port '%s'", optarg);
            opt_port = (unsigned)v;
            break;
        }
        case 'i':
            opt_identity = optarg;
            break;
        case 'P':
            opt_pwfile = optarg;
            break;
        case 't':
            if (config_trust(optarg, &opt_trust) != 0)
                return fail(EXIT_USAGE, "invalid --trust '%s' (ask, accept-new or strict)", optarg);
            opt_trust_set = 1;
            break;
        case 'k':
            opt_kh = optarg;
            break;
        case 'c':
            opt_config = optarg;
            break;
        case 'L':
            opt_line = 1;
            break;
        case 'r':
            opt_room = optarg;
            break;
        case OPT_NO_RECONNECT:
            opt_no_reconnect = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("chatc %s (protocol %d)\n", CHATC_VERSION, CHAT_VERSION_MAX);
            return 0;
        default:
            fprintf(stderr, "Try 'chatc --help' for more information.\n");
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1)
        return fail(EXIT_USAGE, "%s", optind == argc ? "no server given" : "one server at a time");
    if (sodium_init() < 0)
        return fail(EXIT_SOFTWARE, "libsodium cannot start");

    char err[600];
    chatc_addr dest;
    if (addr_parse(argv[optind], &dest, err, sizeof err) != 0)
        return fail(EXIT_USAGE, "%s: %s", argv[optind], err);
    int line_mode = opt_line || !isatty(STDIN_FILENO);

    /* Configuration. */
    chatc_config cfg;
    config_defaults(&cfg);
    char cfgdir[FU_PATH_MAX], cfgpath[FU_PATH_MAX];
    if (dir_for(FU_XDG_CONFIG, cfgdir, sizeof cfgdir) != 0)
        return EXIT_CONFIG;
    if (opt_config != NULL)
        snprintf(cfgpath, sizeof cfgpath, "%s", opt_config);
    else if (fu_join(cfgpath, sizeof cfgpath, cfgdir, "chatc.conf", err, sizeof err) != FU_OK)
        return fail(EXIT_CONFIG, "%s", err);
    {
        char *text = NULL;
        size_t len = 0;
        int rc = fu_read_file_alloc(cfgpath, 1024 * 1024, &text, &len, 0, err, sizeof err);
        if (rc == FU_OK) {
            char perr[200];
            int prc = config_parse(&cfg, text, len, perr, sizeof perr);
            fu_free_wipe(text, len + 1);
            if (prc != 0)
                return fail(EXIT_CONFIG, "%s: %s", cfgpath, perr);
        } else if (rc != FU_E_NOENT || opt_config != NULL) {
            return fail(EXIT_CONFIG, "%s", err);
        }
    }

    /* Trust mode: the option, else the config file; line mode cannot ask. */
    trust_mode trust = opt_trust_set ? opt_trust : cfg.trust;
    if (line_mode) {
        if (opt_trust_set && opt_trust == TRUST_ASK)
            return fail(EXIT_USAGE, "--trust=ask needs a terminal; in line mode use "
                                    "accept-new or strict");
        if (!opt_trust_set && (!cfg.trust_set || cfg.trust == TRUST_ASK))
            trust = TRUST_STRICT;
    }
    if (opt_room != NULL && !line_mode)
        return fail(EXIT_USAGE, "--room is for line mode");

    /* User name. */
    char user[CHAT_NAME_MAX + 1] = "";
    if (dest.user[0] != '\0') {
        snprintf(user, sizeof user, "%s", dest.user);
    } else if (opt_user != NULL) {
        if (!chat_valid_name((const uint8_t *)opt_user, strlen(opt_user)))
            return fail(EXIT_USAGE, "invalid user name '%s'", opt_user);
        chat_name_fold(user, (const uint8_t *)opt_user, strlen(opt_user));
    } else if (cfg.user[0] != '\0') {
        snprintf(user, sizeof user, "%s", cfg.user);
    } else {
        const char *u = getenv("USER");
        if (u != NULL && chat_valid_name((const uint8_t *)u, strlen(u)))
            chat_name_fold(user, (const uint8_t *)u, strlen(u));
    }
    if (user[0] == '\0')
        return fail(EXIT_USAGE, "no user name: give one as user@host or with --user");

    char room[CHAT_ROOM_MAX + 1] = "";
    if (opt_room != NULL) {
        char tmp[CHAT_ROOM_MAX + 2];
        snprintf(tmp, sizeof tmp, "%s%s", opt_room[0] == '#' ? "" : "#", opt_room);
        if (!chat_valid_room((const uint8_t *)tmp, strlen(tmp)))
            return fail(EXIT_USAGE, "invalid room name '%s'", opt_room);
        chat_name_fold(room, (const uint8_t *)tmp, strlen(tmp));
    }

    /* Files. */
    char datadir[FU_PATH_MAX], statedir[FU_PATH_MAX];
    if (dir_for(FU_XDG_DATA, datadir, sizeof datadir) != 0 ||
        dir_for(FU_XDG_STATE, statedir, sizeof statedir) != 0)
        return EXIT_CONFIG;

    static session s;
    if (session_init(&s, NULL, NULL) != 0)
        return fail(EXIT_SOFTWARE, "out of memory");
    int rc = 0;
    snprintf(s.host, sizeof s.host, "%s", dest.host);
    s.port = dest.port ? dest.port : opt_port ? opt_port : CHATC_DEFAULT_PORT;
    snprintf(s.user, sizeof s.user, "%s", user);
    s.trust = trust;
    s.reconnect = cfg.reconnect && !opt_no_reconnect;
    s.kdf_opslimit = cfg.kdf_opslimit;
    s.kdf_memlimit_kib = cfg.kdf_memlimit_kib;
    if (opt_kh != NULL)
        snprintf(s.known_hosts, sizeof s.known_hosts, "%s", opt_kh);
    else if (fu_join(s.known_hosts, sizeof s.known_hosts, datadir, "known_hosts", err,
                     sizeof err) != FU_OK) {
        rc = fail(EXIT_CONFIG, "%s", err);
        goto out;
    }
    if (fu_join(s.ignore_path, sizeof s.ignore_path, cfgdir, "ignore", err, sizeof err) != FU_OK ||
        ignore_load(&s.ignores, s.ignore_path, err, sizeof err) != 0) {
        rc = fail(EXIT_CONFIG, "%s", err);
        goto out;
    }

    /* Device key. */
    if (opt_identity != NULL) {
        if (kf_load(opt_identity, s.device_key, err, sizeof err) != KF_OK) {
            rc = fail(EXIT_CONFIG, "%s", err);
            goto out;
        }
    } else {
        char idpath[FU_PATH_MAX];
        int created = 0;
        if (fu_join(idpath, sizeof idpath, datadir, "identity", err, sizeof err) != FU_OK ||
            kf_load_or_create(idpath, s.device_key, &created, err, sizeof err) != KF_OK) {
            rc = fail(EXIT_CONFIG, "%s", err);
            goto out;
        }
        if (created)
            fprintf(stderr, "chatc: created a new device key in %s\n", idpath);
    }

    /* Password. */
    if (opt_pwfile != NULL) {
        if ((rc = load_password_file(&s, opt_pwfile)) != 0)
            goto out;
    } else if (line_mode) {
        rc = fail(EXIT_USAGE, "line mode needs --password-file (there is nobody to ask)");
        goto out;
    }

    if (sig_setup(line_mode) != 0) {
        rc = fail(EXIT_SOFTWARE, "cannot set up signal handling");
        goto out;
    }
    if (line_mode) {
        linemode_opts lo = {.room = room[0] ? room : NULL};
        rc = linemode_run(&s, &lo);
    } else {
        char histpath[FU_PATH_MAX];
        if (fu_join(histpath, sizeof histpath, statedir, "history", err, sizeof err) != FU_OK) {
            rc = fail(EXIT_CONFIG, "%s", err);
            goto out;
        }
        ui_opts uo = {.cfg = &cfg, .history_path = histpath};
        rc = ui_run(&s, &uo);
    }
out:
    session_free(&s);
    return rc;
}
