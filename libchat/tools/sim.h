/* An in-memory network for libchat: one hub, several client sessions, a
 * virtual clock and a deterministic random stream. Bytes move through
 * memory when sim_pump is called; every client event is recorded as one
 * text line (common/eventfmt.h, the format of chatc's line mode), so tests
 * assert on lines and the self-check prints them.
 *
 * Not part of libchat: a test and demonstration harness. */
#ifndef CHAT_SIM_H
#define CHAT_SIM_H

#include "chat/chat.h"

#define SIM_MAX_CLIENTS 16
#define SIM_LINE_MAX 512

typedef struct sim sim;

typedef struct sim_options {
    const char *motd;
    const char *const *default_rooms; /* NULL-terminated, or NULL */
    uint64_t seed;                    /* for the deterministic rng */
    uint32_t login_timeout_ms;        /* 0: hub default */
    uint32_t idle_timeout_ms;         /* 0: hub default */
    size_t out_max;                   /* 0: hub default */
} sim_options;

sim *sim_new(const sim_options *opt);
void sim_free(sim *s);
chat_hub *sim_hub(sim *s);
chat_store_mem *sim_store(sim *s);
/* Fast Argon2id limits used for every verifier in the simulation. */
#define SIM_OPSLIMIT 1u
#define SIM_MEMLIMIT_KIB 8u

/* Create an account directly in the store. 0 on success. */
int sim_add_account(sim *s, const char *name, const char *password, chat_role role);

/* Open a connection for `user` with `password`; the client trusts the
 * server key and answers challenges by itself. Returns a client index. */
int sim_connect(sim *s, const char *user, const char *password);
chat_client *sim_client(sim *s, int i);
chat_conn_id sim_conn(sim *s, int i);
/* Change the password the client answers the next challenge with. */
void sim_set_password(sim *s, int i, const char *password);

/* Move bytes between every client and the hub, and handle events, until
 * nothing moves. Hub-closed connections are released once drained. */
void sim_pump(sim *s);
/* Advance the virtual clock, tick the hub and clients, then pump. */
void sim_advance(sim *s, uint64_t ms);
/* Cut a client's connection without GOODBYE (as a TCP reset would). */
void sim_drop(sim *s, int i);

/* The client's event log: the next unread line, or NULL. */
const char *sim_next_line(sim *s, int i);
/* Skip lines until one starts with prefix; return it or NULL (all read). */
const char *sim_find_line(sim *s, int i, const char *prefix);
/* Print every unread line of every client to stdout with a prefix. */
void sim_print(sim *s, int i, const char *who);
/* 1 when the client is closed. */
int sim_closed(sim *s, int i);

#endif
