/* chatc's configuration file, $XDG_CONFIG_HOME/chatc/chatc.conf (or -c FILE):
 * lines of `key = value`, blank lines and `#` comments ignored. Keys are
 * listed in chatc(1) and in config_keys below. Parsing is pure. */
#ifndef CHATC_CONFIG_H
#define CHATC_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum trust_mode { TRUST_ASK = 0, TRUST_ACCEPT_NEW, TRUST_STRICT } trust_mode;

typedef struct chatc_config {
    int bell;              /* bell on a mention or a private message [on] */
    int trust_set;         /* trust given in the file */
    trust_mode trust;      /* [ask] */
    int colours;           /* [on] */
    char timestamps[32];   /* strftime format for message times ["%H:%M"]; "" = none */
    int nicklist;          /* nick list pane [on] */
    unsigned history_size; /* input history entries kept [1000] */
    unsigned scrollback;   /* lines kept per window [2000] */
    int reconnect;         /* reconnect automatically [on] */
    unsigned paste_lines;  /* confirm a paste of at least this many lines [2]; 0 = never */
    char user[33];         /* default user name [""] */
    uint32_t kdf_opslimit; /* Argon2id limits for new passwords [0 = libchat's defaults] */
    uint32_t kdf_memlimit_kib;
} chatc_config;

void config_defaults(chatc_config *c);

/* Parse text[0..len) into c (which holds the defaults or earlier values).
 * 0, or -1 with "line N: what is wrong" in err. */
int config_parse(chatc_config *c, const char *text, size_t len, char *err, size_t errlen);

/* Parse a trust mode name; 0 or -1. */
int config_trust(const char *s, trust_mode *out);
const char *config_trust_name(trust_mode t);

#endif
