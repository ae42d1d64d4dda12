/* A parsed transcript (docs/TRANSCRIPTS.md): headers, actors and steps.
 *
 * cf_transcript_parse is total: any input gives a transcript or an error
 * "file:line: message", never a crash. Names (message types, fields,
 * codes, verbs, actors) are checked while parsing, so a transcript that
 * parses only fails at run time on what the implementation does. */
#ifndef CF_TRANSCRIPT_H
#define CF_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "fields.h"
#include "util.h"

#define CF_MAX_ACTORS 16
#define CF_MAX_SRC (4u << 20)     /* bytes in one transcript file */
#define CF_MAX_LINE (1u << 20)    /* bytes in one logical line */
#define CF_MAX_STEPS 20000
#define CF_MAX_VALUE (1u << 17)   /* bytes in one value after repetition */
#define CF_MAX_VALUES (1u << 20)  /* bytes in all values of a transcript, likewise */

enum { CF_KIND_SCENARIO = 1, CF_KIND_KAT = 2 };
/* Roles of the implementation under test (a bit set). */
#define CF_ROLE_SERVER 0x1u
#define CF_ROLE_CLIENT 0x2u

/* Value kinds. */
enum {
    CF_V_NONE = 0, /* a bare flag: `silent` */
    CF_V_WORD,     /* a bare word: numbers, names, unquoted strings */
    CF_V_STR,      /* a "quoted" string, escapes resolved */
    CF_V_HEX,      /* 0x... */
    CF_V_VAR,      /* $name (p/n: the name) */
    CF_V_ANY       /* * */
};

enum { CF_OP_EQ = 1, CF_OP_NE, CF_OP_GE, CF_OP_LE, CF_OP_GT, CF_OP_LT, CF_OP_HAS };

typedef struct cf_value {
    uint8_t kind;
    const uint8_t *p; /* NUL-terminated copy in the arena */
    size_t n;
} cf_value;

typedef struct cf_arg {
    const char *key;
    uint8_t op;
    cf_value v;
} cf_arg;

/* One piece of a byte-string expression (raw, send-plain, wire). */
typedef struct cf_piece {
    uint8_t is_var;
    const uint8_t *p; /* bytes, or the variable name */
    size_t n;
} cf_piece;

/* Hostile modifiers of a sent frame (`send ... | xor at=-1 mask=0x01`). */
enum {
    CF_MOD_XOR = 1, /* a=offset into the body (negative: from the end), b=mask */
    CF_MOD_TRUNCATE, /* a=bytes removed from the body's end, length fixed up */
    CF_MOD_CUT,      /* a=only the first a bytes of the frame are sent */
    CF_MOD_SPLIT,    /* a=sent in two writes, split at byte a */
    CF_MOD_REPLAY,   /* the frame is sent twice */
    CF_MOD_REORDER,  /* held back, sent right after this actor's next frame */
    CF_MOD_DROP,     /* sealed (nonce used) but never sent */
    CF_MOD_CAPTURE,  /* var=the frame's bytes are stored in $var */
    CF_MOD_LENGTH,   /* a=the frame's length field is overwritten */
    CF_MOD_TYPE      /* a=the frame's type byte is overwritten */
};

typedef struct cf_mod {
    uint8_t kind;
    int64_t a;
    uint8_t b;
    const char *var;
} cf_mod;

enum {
    CF_VERB_CONNECT = 1,
    CF_VERB_LOGIN,
    CF_VERB_SEND,
    CF_VERB_QUEUE,
    CF_VERB_FLUSH,
    CF_VERB_SEND_FRAME,
    CF_VERB_SEND_PLAIN,
    CF_VERB_RAW,
    CF_VERB_EXPECT,
    CF_VERB_AWAIT,
    CF_VERB_EXPECT_CLOSE,
    CF_VERB_EXPECT_NOTHING,
    CF_VERB_DRAIN,
    CF_VERB_CLOSE,
    CF_VERB_QUIT,
    CF_VERB_PAUSE,
    CF_VERB_RESUME,
    CF_VERB_WIRE,
    CF_VERB_TIME,
    CF_VERB_ANY,
    CF_VERB_FAULT
};
const char *cf_verb_name(int verb);

enum { CF_DIR_C2S = 1, CF_DIR_S2C = 2 };

typedef struct cf_step cf_step;
struct cf_step {
    uint8_t verb;
    int actor;     /* index into actors, -1 for global steps */
    int line;      /* first source line */
    int line_end;  /* last source line (continuations) */
    const cf_mdef *m; /* send/queue/expect/await */
    cf_arg *args;
    size_t nargs;
    cf_mod *mods;
    size_t nmods;
    cf_piece *data; /* raw, send-plain, wire */
    size_t ndata;
    uint8_t dir;    /* wire */
    uint8_t eof;    /* wire ... eof */
    uint64_t ms;    /* time */
    cf_step *alts;  /* any */
    size_t nalts;
};

typedef struct cf_actor {
    const char *name;
    int line;
    uint8_t is_server;
    const char *user;   /* NULL: the actor's name */
    const uint8_t *pass; /* NULL: none */
    size_t pass_len;
    uint8_t auto_login; /* answer SERVER_KEY and CHALLENGE by itself [yes] */
    uint8_t trust;      /* accept the server key [yes] */
    uint8_t addr;       /* in-process peer address; 0: the shared default */
    uint8_t vmin, vmax; /* HS1 range [1, 1] */
    uint32_t max_opslimit, max_memlimit_kib; /* IUT client limits; 0: default */
    uint8_t has_key;
    uint8_t key[32];    /* @key NAME.static */
} cf_actor;

typedef struct cf_account {
    const char *name;
    int line;
    const uint8_t *pass;
    size_t pass_len;
    uint8_t role;
    uint32_t opslimit, memlimit_kib;
    uint8_t has_salt, has_pk;
    uint8_t salt[16];
    uint8_t pk[32];
} cf_account;

typedef struct cf_random {
    const char *actor;   /* actor name or "server" */
    const char *purpose; /* ephemeral, salt, static */
    const uint8_t *p;
    size_t n;
    int line;
} cf_random;

/* Header lines the recorder regenerates. */
enum { CF_HDR_OTHER = 0, CF_HDR_KIND, CF_HDR_KEY, CF_HDR_RANDOM, CF_HDR_TIME };

typedef struct cf_transcript {
    cf_arena arena;
    const char *file;
    const char *id;
    const char *desc;
    uint8_t kind;
    unsigned roles;
    const char **covers;
    size_t ncovers;
    const char **requires;
    size_t nrequires;
    uint64_t seed;
    uint64_t mono0, wall0;
    uint8_t has_time;
    cf_actor actors[CF_MAX_ACTORS];
    size_t nactors;
    cf_account *accounts;
    size_t naccounts;
    uint8_t has_server_key;
    uint8_t server_key[32];
    cf_random *randoms;
    size_t nrandoms;
    cf_arg *server_cfg;
    size_t nserver_cfg;
    cf_step *steps;
    size_t nsteps;
    int last_header_line;
    /* Per source line (1-based; index 0 unused): CF_HDR_* of header lines. */
    uint8_t *line_hdr;
    int nlines;
    const char *src; /* the source, NUL-terminated copy */
    size_t srclen;
} cf_transcript;

/* Parse src[0..n) read from `file`. 0 and *out, or -1 and err holds
 * "file:line: message". */
int cf_transcript_parse(const char *file, const uint8_t *src, size_t n, cf_transcript **out,
                        char *err, size_t errcap);
/* Read and parse a file. */
int cf_transcript_load(const char *path, cf_transcript **out, char *err, size_t errcap);
void cf_transcript_free(cf_transcript *t);

/* Index of the actor called name, or -1. */
int cf_actor_index(const cf_transcript *t, const char *name);
/* The first argument with this key, or NULL. */
const cf_arg *cf_arg_find(const cf_arg *args, size_t n, const char *key);
/* A duration ("500ms", "30s", "5m", "250"): 0 on success. */
int cf_parse_duration(const uint8_t *p, size_t n, uint64_t *ms);
/* 1 if key is an @server setting (docs/TRANSCRIPTS.md §4). */
int cf_server_key_known(const char *key);
/* An unsigned number from a WORD value (decimal or 0x). */
int cf_value_u64(const cf_value *v, uint64_t *out);

#endif
