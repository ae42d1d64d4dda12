/* chatd: the chat server. Argument parsing, subcommands and startup; the
 * event loop is loop.c, files state.c, offline administration admin.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <sodium.h>

#include "admin.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "state.h"

#ifndef CHATD_VERSION
#define CHATD_VERSION "unknown"
#endif

static const char usage_text[] =
    "Usage: chatd [OPTION]...                 run the server in the foreground\n"
    "       chatd [OPTION]... COMMAND [ARG]... administer it (also while it runs)\n"
    "\n"
    "The chat server: encrypted (Noise_XX_25519_ChaChaPoly_SHA256), password\n"
    "logins proven with Argon2id-derived Ed25519 keys, rooms, private messages.\n"
    "\n"
    "Commands:\n"
    "  (none)                 run the server\n"
    "  fingerprint            print the server key's fingerprint (SHA256:...),\n"
    "                         generating the key if there is none yet\n"
    "  add-user NAME          create an account; --role user|admin (default user),\n"
    "                         password from --password-file FILE or asked twice\n"
    "  passwd NAME            set a new password for an account\n"
    "  list-users             list the accounts and their roles\n"
    "  check-config           check the configuration and print it in effect\n"
    "\n"
    "Options (a flag wins over the config file):\n"
    "  -c, --config FILE          config file (default: see FILES; a missing default\n"
    "                             file is fine, a missing FILE is an error)\n"
    "  -l, --listen ADDR          listen on ADDR (IPv4, IPv6, or * for both, with an\n"
    "                             optional :PORT, e.g. 127.0.0.1, [::1]:7000);\n"
    "                             repeatable; default: * (every address, IPv6 and IPv4)\n"
    "  -p, --port PORT            port for addresses without one (default 7447;\n"
    "                             0 = any free port, see --port-file)\n"
    "      --port-file FILE       write the port listened on to FILE once listening\n"
    "  -s, --state-dir DIR        state directory: server key and database\n"
    "  -k, --key FILE             server key to use (raw, base64, hex or OpenSSL\n"
    "                             X25519 PEM; mode 0600); never generated\n"
    "  -L, --log-level LEVEL      error, warn, info (default) or debug\n"
    "  -o, --set KEY=VALUE        any config file setting (see chatd.conf(5))\n"
    "      --admin NAME           name of the first admin account (default admin)\n"
    "      --admin-password-file FILE\n"
    "                             its password (first line of FILE), when there is\n"
    "                             no admin yet; otherwise asked on the terminal\n"
    "      --role ROLE            add-user: user or admin\n"
    "      --password-file FILE   add-user, passwd: the password (first line of FILE)\n"
    "  -h, --help                 show this help and exit\n"
    "  -V, --version              show the version and exit\n"
    "\n"
    "Files:\n"
    "  config     $CONFIGURATION_DIRECTORY/chatd.conf under systemd, else\n"
    "             ${XDG_CONFIG_HOME:-~/.config}/chatd/chatd.conf\n"
    "  state dir  $STATE_DIRECTORY under systemd, else\n"
    "             ${XDG_STATE_HOME:-~/.local/state}/chatd (mode 0700)\n"
    "  key        STATE/server.key (generated on first start, mode 0600)\n"
    "  database   STATE/chatd.db (SQLite, WAL, mode 0600)\n"
    "\n"
    "Signals: SIGTERM, SIGINT: tell every client and stop; SIGHUP: reload the\n"
    "config (MOTD, log level, connection limits; never the key).\n"
    "\n"
    "Exit status:\n"
    "  0 success             64 usage error          65 bad data (user exists, bad\n"
    "  66 a named file is missing                       key or password file)\n"
    "  69 cannot listen      70 internal error       71 system error\n"
    "  73 cannot create a file                       74 I/O or database error\n"
    "  75 interrupted        77 permission (key file readable by others, port < 1024)\n"
    "  78 configuration error (bad config; no admin and no way to ask for a password)\n"
    "\n"
    "See chatd(8) and chatd.conf(5).\n";

static void try_help(void)
{
    fprintf(stderr, "Try 'chatd --help' for more information.\n");
}

enum {
    OPT_PORT_FILE = 256,
    OPT_ADMIN,
    OPT_ADMIN_PW,
    OPT_ROLE,
    OPT_PW_FILE
};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, 'l'},
    {"port", required_argument, NULL, 'p'},
    {"port-file", required_argument, NULL, OPT_PORT_FILE},
    {"state-dir", required_argument, NULL, 's'},
    {"key", required_argument, NULL, 'k'},
    {"log-level", required_argument, NULL, 'L'},
    {"set", required_argument, NULL, 'o'},
    {"admin", required_argument, NULL, OPT_ADMIN},
    {"admin-password-file", required_argument, NULL, OPT_ADMIN_PW},
    {"role", required_argument, NULL, OPT_ROLE},
    {"password-file", required_argument, NULL, OPT_PW_FILE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

typedef struct options {
    const char *config;
    const char *port_file;
    const char *admin;
    const char *admin_pw;
    const char *role;
    const char *pw_file;
    chatd_overrides ov;
} options;

/* What SIGHUP needs to rebuild the configuration. */
typedef struct reload_ctx {
    const char *path;
    int required;
    const chatd_overrides *ov;
} reload_ctx;

static int reload_config(void *ctx, chatd_config *out, char *err, size_t errlen)
{
    const reload_ctx *r = ctx;
    return chatd_config_build(out, r->path, r->required, r->ov, err, errlen) == CHATD_CFG_OK ? 0
                                                                                             : -1;
}

static int build_config(const options *o, chatd_config *cfg, char *path, size_t pathlen,
                        int *required)
{
    char err[1024] = "";
    *required = o->config != NULL;
    if (o->config != NULL) {
        (void)snprintf(path, pathlen, "%s", o->config);
    } else if (chatd_default_config_path(path, pathlen, err, sizeof err) != EX_OK) {
        fprintf(stderr, "chatd: cannot find the config file: %s\n", err);
        return EX_CONFIG;
    }
    int rc = chatd_config_build(cfg, path, *required, &o->ov, err, sizeof err);
    if (rc == CHATD_CFG_OK)
        return EX_OK;
    fprintf(stderr, "chatd: %s\n", err);
    return rc == CHATD_CFG_E_NOENT ? EX_NOINPUT : rc == CHATD_CFG_E_IO ? EX_IOERR : EX_CONFIG;
}

static int fail(int rc, const char *err)
{
    log_error("%s", err);
    return rc;
}

static int serve(const options *o, chatd_config *cfg, const char *cfg_path, int required)
{
    char err[1024] = "";
    chatd_log_set_level((chatd_log_level)cfg->log_level);
    log_info("starting version=%s pid=%ld config=%s", CHATD_VERSION, (long)getpid(),
             cfg->source[0] != '\0' ? cfg->source : "(none)");
    if (geteuid() == 0)
        log_warn("RUNNING AS ROOT: chatd needs no privileges; run it as an unprivileged user "
                 "(the shipped systemd unit uses DynamicUser=yes)");

    chatd_paths p;
    int rc = chatd_paths_resolve(cfg, &p, err, sizeof err);
    if (rc == EX_OK)
        rc = chatd_state_dir_prepare(&p, err, sizeof err);
    if (rc != EX_OK)
        return fail(rc, err);

    uint8_t key[32];
    int created = 0;
    rc = chatd_key_load(&p, 1, key, &created, err, sizeof err);
    if (rc != EX_OK)
        return fail(rc, err);
    uint8_t pub[32];
    crypto_scalarmult_base(pub, key);
    char fp[CHAT_FINGERPRINT_LEN + 1];
    chat_fingerprint(fp, pub);
    log_info("server-key %s path=%s fingerprint=%s", created ? "generated" : "loaded", p.key_file,
             fp);

    chatd_store *st = NULL;
    rc = chatd_db_open(&p, &st, err, sizeof err);
    if (rc != EX_OK) {
        sodium_memzero(key, sizeof key);
        return fail(rc, err);
    }
    int made = 0;
    rc = chatd_bootstrap_admin(st, cfg, o->admin != NULL ? o->admin : "admin", o->admin_pw, &made,
                               err, sizeof err);
    if (rc != EX_OK) {
        chatd_store_close(st);
        sodium_memzero(key, sizeof key);
        return fail(rc, err);
    }
    if (made)
        log_info("admin-created user=%s", o->admin != NULL ? o->admin : "admin");
    /* From here on a store call must never hold the loop up for long. */
    chatd_store_set_busy_timeout(st, 250);

    chatd_signals_block();
    reload_ctx rctx = {cfg_path, required, &o->ov};
    chatd_server_params sp;
    memset(&sp, 0, sizeof sp);
    sp.cfg = cfg;
    sp.key = key;
    sp.store = chatd_store_vtable(st);
    sp.port_file = o->port_file;
    sp.reload = reload_config;
    sp.reload_ctx = &rctx;
    chatd_server *srv = NULL;
    rc = chatd_server_new(&srv, &sp, err, sizeof err);
    sodium_memzero(key, sizeof key);
    if (rc != EX_OK) {
        chatd_store_close(st);
        return fail(rc, err);
    }
    log_info("ready fingerprint=%s", fp);
    rc = chatd_server_run(srv);
    chatd_server_free(srv);
    chatd_store_close(st);
    log_info("stopped status=%d", rc);
    return rc;
}

static int check_config(const chatd_config *cfg)
{
    char err[1024] = "";
    chatd_paths p;
    if (chatd_paths_resolve(cfg, &p, err, sizeof err) != EX_OK) {
        fprintf(stderr, "chatd: %s\n", err);
        return EX_CONFIG;
    }
    printf("# config file: %s\n", cfg->source[0] != '\0' ? cfg->source : "(none)");
    printf("# state directory: %s\n# key file: %s\n# database: %s\n", p.state_dir, p.key_file,
           p.db_file);
    chatd_config_print(cfg, stdout);
    return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
}

int main(int argc, char **argv)
{
    options o;
    memset(&o, 0, sizeof o);
    int c;
    while ((c = getopt_long(argc, argv, "c:l:p:s:k:L:o:hV", long_opts, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case 'c':
            o.config = optarg;
            break;
        case 'l':
            key = "listen";
            break;
        case 'p':
            key = "port";
            break;
        case 's':
            key = "state_dir";
            break;
        case 'k':
            key = "key_file";
            break;
        case 'L':
            key = "log_level";
            break;
        case 'o': {
            char *eq = strchr(optarg, '=');
            if (eq == NULL) {
                fprintf(stderr, "chatd: --set needs KEY=VALUE, not \"%s\"\n", optarg);
                try_help();
                return EX_USAGE;
            }
            *eq = '\0';
            if (!chatd_config_known_key(optarg)) {
                fprintf(stderr, "chatd: --set: unknown setting \"%s\"\n", optarg);
                try_help();
                return EX_USAGE;
            }
            if (chatd_overrides_add(&o.ov, optarg, eq + 1) != 0) {
                fprintf(stderr, "chatd: too many settings on the command line\n");
                return EX_USAGE;
            }
            break;
        }
        case OPT_PORT_FILE:
            o.port_file = optarg;
            break;
        case OPT_ADMIN:
            o.admin = optarg;
            break;
        case OPT_ADMIN_PW:
            o.admin_pw = optarg;
            break;
        case OPT_ROLE:
            o.role = optarg;
            break;
        case OPT_PW_FILE:
            o.pw_file = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
        case 'V':
            printf("chatd %s (protocol %d-%d)\n", CHATD_VERSION, CHAT_VERSION_MIN,
                   CHAT_VERSION_MAX);
            return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
        default:
            try_help();
            return EX_USAGE;
        }
        if (key != NULL && chatd_overrides_add(&o.ov, key, optarg) != 0) {
            fprintf(stderr, "chatd: too many settings on the command line\n");
            return EX_USAGE;
        }
    }
    const char *cmd = optind < argc ? argv[optind] : NULL;
    int nargs = optind < argc ? argc - optind - 1 : 0;
    char **args = argv + optind + 1;

    /* Which options and how many arguments each command takes. */
    int want_args = 0;
    int is_serve = cmd == NULL;
    if (cmd == NULL || strcmp(cmd, "fingerprint") == 0 || strcmp(cmd, "list-users") == 0 ||
        strcmp(cmd, "check-config") == 0)
        want_args = 0;
    else if (strcmp(cmd, "add-user") == 0 || strcmp(cmd, "passwd") == 0)
        want_args = 1;
    else {
        fprintf(stderr, "chatd: unknown command \"%s\"\n", cmd);
        try_help();
        return EX_USAGE;
    }
    if (nargs != want_args) {
        fprintf(stderr, "chatd: %s takes %s\n", cmd != NULL ? cmd : "the server",
                want_args ? "one argument: the user name" : "no arguments");
        try_help();
        return EX_USAGE;
    }
    if (!is_serve && (o.port_file != NULL || o.admin != NULL || o.admin_pw != NULL)) {
        fprintf(stderr, "chatd: --port-file, --admin and --admin-password-file are for running "
                        "the server, not for %s\n",
                cmd);
        try_help();
        return EX_USAGE;
    }
    if (o.role != NULL && (cmd == NULL || strcmp(cmd, "add-user") != 0)) {
        fprintf(stderr, "chatd: --role is for add-user\n");
        try_help();
        return EX_USAGE;
    }
    if (o.pw_file != NULL &&
        (cmd == NULL || (strcmp(cmd, "add-user") != 0 && strcmp(cmd, "passwd") != 0))) {
        fprintf(stderr, "chatd: --password-file is for add-user and passwd (the server takes "
                        "--admin-password-file)\n");
        try_help();
        return EX_USAGE;
    }

    if (sodium_init() < 0) {
        fprintf(stderr, "chatd: cannot initialise libsodium\n");
        return EX_SOFTWARE;
    }
    /* Everything chatd creates is private (files also get exact modes). */
    umask(077);

    chatd_config *cfg = malloc(sizeof *cfg);
    if (cfg == NULL) {
        fprintf(stderr, "chatd: out of memory\n");
        return EX_OSERR;
    }
    char *cfg_path = malloc(FU_PATH_MAX);
    int required = 0;
    int rc = cfg_path == NULL ? EX_OSERR : build_config(&o, cfg, cfg_path, FU_PATH_MAX, &required);
    if (rc == EX_OK) {
        if (is_serve)
            rc = serve(&o, cfg, cfg_path, required);
        else if (strcmp(cmd, "fingerprint") == 0)
            rc = chatd_cmd_fingerprint(cfg);
        else if (strcmp(cmd, "add-user") == 0)
            rc = chatd_cmd_add_user(cfg, args[0], o.role, o.pw_file);
        else if (strcmp(cmd, "passwd") == 0)
            rc = chatd_cmd_passwd(cfg, args[0], o.pw_file);
        else if (strcmp(cmd, "list-users") == 0)
            rc = chatd_cmd_list_users(cfg);
        else
            rc = check_config(cfg);
    }
    free(cfg_path);
    free(cfg);
    return rc;
}
