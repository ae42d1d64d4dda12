/* chatd's configuration: defaults, the config file (chatd.conf(5)) and the
 * command-line overrides, in that order of precedence (a flag wins).
 *
 * File syntax: one `key = value` per line; blank lines and lines whose
 * first non-blank character is `#` are ignored (a `#` elsewhere is part of
 * the value, so `default_rooms = #lobby` works). A value may be written in
 * double quotes to keep surrounding spaces; inside quotes, \" \\ and \n are
 * escapes. Unknown keys, bad values and malformed lines are errors reported
 * as FILE:LINE: message. Relative paths in the file are taken relative to
 * the file's directory. */
#ifndef CHATD_CONFIG_H
#define CHATD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "chat/chat.h"
#include "fileutil.h"

#define CHATD_DEFAULT_PORT 7447
#define CHATD_LISTEN_MAX 16
#define CHATD_LISTEN_LEN 64
#define CHATD_ROOMS_MAX 16

typedef struct chatd_config {
    char listen[CHATD_LISTEN_MAX][CHATD_LISTEN_LEN]; /* empty list: all addresses */
    size_t nlisten;
    uint32_t port;
    char state_dir[FU_PATH_MAX]; /* "" = the default */
    char key_file[FU_PATH_MAX];  /* "" = <state_dir>/server.key */
    uint32_t log_level;          /* chatd_log_level */

    /* front-end limits (reloaded on SIGHUP) */
    uint32_t max_connections;
    uint32_t max_per_address;
    uint32_t drain_timeout_ms;

    /* hub limits (need a restart) */
    uint32_t login_timeout_ms;
    uint32_t idle_timeout_ms;
    uint64_t out_max;
    uint32_t history_len;
    uint32_t max_rooms;
    uint32_t max_rooms_per_user;
    uint32_t login_attempts;
    uint32_t user_fail_limit;
    uint32_t addr_fail_limit;
    uint32_t fail_window_ms;
    uint32_t min_opslimit;
    uint32_t min_memlimit_kib;
    char rooms[CHATD_ROOMS_MAX][CHAT_ROOM_MAX + 1];
    size_t nrooms;

    /* MOTD (reloaded on SIGHUP): `motd` text, or the contents of motd_file */
    char motd[CHAT_MOTD_MAX + 1];
    char motd_file[FU_PATH_MAX];
    char motd_text[CHAT_MOTD_MAX + 1]; /* resolved by chatd_config_build */

    char source[FU_PATH_MAX]; /* the file read, "" if none */
} chatd_config;

/* Command-line settings, applied after the file. */
#define CHATD_OVERRIDES_MAX 64
typedef struct chatd_overrides {
    struct {
        const char *key;
        const char *value;
    } v[CHATD_OVERRIDES_MAX];
    size_t n;
} chatd_overrides;

/* 0, or -1 when the list is full. */
int chatd_overrides_add(chatd_overrides *o, const char *key, const char *value);

/* Results of chatd_config_build. */
enum {
    CHATD_CFG_OK = 0,
    CHATD_CFG_E_NOENT = -1,  /* an explicitly named file does not exist */
    CHATD_CFG_E_IO = -2,     /* a file cannot be read */
    CHATD_CFG_E_INVAL = -3   /* a syntax error or a bad value */
};

/* Defaults, then path (if not NULL; a missing file is an error only when
 * required), then the overrides, then checks and the MOTD. On failure the
 * message in err names the file and line or the option. */
int chatd_config_build(chatd_config *cfg, const char *path, int required,
                       const chatd_overrides *ov, char *err, size_t errlen);

/* Set one key from text, as a file line would (base_dir: directory for
 * relative paths, NULL for the current one). */
int chatd_config_set(chatd_config *cfg, const char *key, const char *value,
                     const char *base_dir, char *err, size_t errlen);

/* 1 if the key exists. */
int chatd_config_known_key(const char *key);

/* Write the effective configuration in file syntax. */
void chatd_config_print(const chatd_config *cfg, FILE *out);

/* Names of settings that differ between a and b and only take effect on a
 * restart, comma-separated, into out ("" if none). */
void chatd_config_restart_diff(const chatd_config *a, const chatd_config *b, char *out,
                               size_t cap);

/* Parse a listen address ("*", "0.0.0.0", "127.0.0.1:7000", "::1",
 * "[::1]:7000", "*:7000"); port is used when none is given. *any is set for
 * "*" (listen on every address, IPv6 and IPv4). 0 or -1. */
int chatd_parse_listen(const char *s, uint32_t port, struct sockaddr_storage *ss,
                       socklen_t *sslen, int *any);

#endif
