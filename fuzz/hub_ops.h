/* The opcode script of fuzz_hub_ops (shared with gen_corpus, which compiles
 * scenarios into it).
 *
 * A script is a sequence of operations. Each starts with one byte:
 *   op   = (byte >> 3) % HOPS_COUNT
 *   slot = (byte & 7) % HOPS_SLOTS       (a client connection slot)
 * followed by the operation's argument bytes (missing bytes read as 0).
 *
 * Messages of HOPS_MSG / _MSG2 / _SPLIT are built from argument bytes:
 *   t:u8    type = hops_types[t % 16]; t & 0x10: names and rooms in upper
 *           case (the hub must fold them)
 *   req:u8
 *   then per type (each a u8 index into a table, see fuzz_hub_ops.c):
 *   JOIN PART WHO: room | TOPIC: room topic | SEND: target text (target
 *   & 0x80: a user, else a room; target & 0x40: /me) | PASSWD: verifier |
 *   ADD_USER: user verifier (verifier & 0x40: admin) | DEL_USER: user |
 *   KICK: user reason | SHUTDOWN: reason | LOGIN: user | PROOF: user |
 *   GOODBYE: reason | LIST PING USERS: nothing.
 *   A verifier byte v picks user v % 5's verifier, v & 0x80 a weak one.
 */
#ifndef CHAT_FUZZ_HUB_OPS_H
#define CHAT_FUZZ_HUB_OPS_H

#define HOPS_SLOTS 6

enum hops_op {
    HOPS_ACCEPT = 0,  /* accept a connection in the slot, if free */
    HOPS_HS1,         /* the fixture HS1 */
    HOPS_HS3,         /* u: the fixture HS3 with LOGIN(user u % 5) */
    HOPS_PROOF,       /* x: PROOF for the slot's login; x & 1: a wrong one */
    HOPS_LOGIN,       /* u: LOGIN(user u % 5), encrypted (a retry) */
    HOPS_QUICK_LOGIN, /* u: whatever is missing of accept, HS1, HS3 or LOGIN, PROOF */
    HOPS_MSG,         /* message: one built message in one frame */
    HOPS_MSG2,        /* message message: two in one frame */
    HOPS_RAW_PLAIN,   /* n bytes[n]: any plaintext, encrypted */
    HOPS_RAW_BYTES,   /* n bytes[n]: fed unencrypted */
    HOPS_BAD_TAG,     /* a PING whose frame fails authentication */
    HOPS_GOODBYE,     /* GOODBYE(QUIT) */
    HOPS_RELEASE,     /* the socket is gone: chat_hub_release, slot freed */
    HOPS_DRAIN,       /* write all output; release the slot if the hub closed it */
    HOPS_DRAIN_ALL,   /* HOPS_DRAIN for every slot */
    HOPS_PARTIAL,     /* x: write only (x + 1) * 7 bytes of the output */
    HOPS_TIME,        /* x: advance the clock (table) and tick */
    HOPS_SHUTDOWN,    /* the front-end shuts the hub down */
    HOPS_PEEK,        /* peek without writing: output gets sealed and waits */
    HOPS_EVENTS,      /* pop the hub's events */
    HOPS_SPLIT,       /* cut message: one message, its frame fed in two parts */
    HOPS_MOTD,        /* x: replace the MOTD (table; one invalid) */
    HOPS_FAIL_ALLOC,  /* x: x & 0x80: every allocation of the next operation
                         fails; else the (x + 1)-th allocation from now */
    HOPS_COUNT
};

/* The byte that starts operation op on slot k. */
#define HOPS_BYTE(op, k) ((unsigned char)(((unsigned)(op) << 3) | ((unsigned)(k) & 7u)))

/* Message types of HOPS_MSG (t % 16). */
#define HOPS_T_JOIN 0
#define HOPS_T_PART 1
#define HOPS_T_LIST 2
#define HOPS_T_WHO 3
#define HOPS_T_TOPIC 4
#define HOPS_T_SEND 5
#define HOPS_T_PASSWD 6
#define HOPS_T_PING 7
#define HOPS_T_ADD_USER 8
#define HOPS_T_DEL_USER 9
#define HOPS_T_USERS 10
#define HOPS_T_KICK 11
#define HOPS_T_SHUTDOWN 12
#define HOPS_T_LOGIN 13
#define HOPS_T_PROOF 14
#define HOPS_T_GOODBYE 15
#define HOPS_T_UPPER 0x10

#endif
