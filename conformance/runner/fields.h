/* The protocol's messages, frames and events as the transcript format names
 * them (docs/TRANSCRIPTS.md §4): one table drives the lenient encoder of
 * `send` steps, the field extraction behind `expect` matchers and the
 * rendering of actual events in failure reports. */
#ifndef CF_FIELDS_H
#define CF_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Field kinds. */
enum {
    FK_U8 = 1,
    FK_U16,
    FK_U32,
    FK_U64,
    FK_STR8,
    FK_STR16,
    FK_B4,
    FK_B16,
    FK_B32,
    FK_B64,
    FK_ENTRIES, /* list entries: rendered, see cf_render_entries */
    FK_TEXT     /* event-only string field (not on the wire as such) */
};

/* How a numeric field's value may be named. */
enum { FE_NUM = 0, FE_CODE, FE_ROLE, FE_KIND, FE_ORIGIN, FE_BOOL };

/* Pseudo types for frames and non-message events (messages use their
 * wire type, 0x01..0xff). */
enum {
    CF_T_HS1 = 0x101,
    CF_T_HS2 = 0x102,
    CF_T_HS3 = 0x103,
    CF_T_REJECT = 0x104,
    CF_T_SERVER_KEY = 0x110,
    CF_T_CLOSED = 0x111
};

/* Where a type may appear. */
#define CF_D_C2S 0x1u    /* client -> server message or frame */
#define CF_D_S2C 0x2u    /* server -> client message or frame */
#define CF_D_EVENT 0x4u  /* an event only (expect) */
#define CF_D_FRAME 0x8u  /* a handshake/plaintext frame, not a message */

#define CF_MAX_FIELDS 10

typedef struct cf_fdef {
    const char *name;
    uint8_t kind;
    uint8_t en;
} cf_fdef;

typedef struct cf_mdef {
    const char *name;
    int type;
    unsigned dir;
    const cf_fdef *f; /* NULL-name terminated */
} cf_mdef;

const cf_mdef *cf_mdef_by_name(const char *name);
const cf_mdef *cf_mdef_by_type(int type);
/* Field index in m by name, or -1. */
int cf_field_index(const cf_mdef *m, const char *name);
/* Extra names `send` accepts for m beyond its fields (pass, trailer, ...):
 * 1 if name is one. */
int cf_send_pseudo(const cf_mdef *m, const char *name);
/* Extra names `expect` accepts (valid for PROOF, count/entries aliases). */
int cf_expect_pseudo(const cf_mdef *m, const char *name);

/* Parse a numeric value for a field with enum en: decimal, 0x hex, or a
 * name (BAD_LOGIN, admin, action, peer, yes). 0 on success. */
int cf_parse_num(const char *s, size_t n, uint8_t en, uint64_t *out);
/* Name of a numeric value (for rendering), or NULL. */
const char *cf_num_name(uint8_t en, uint64_t v);

/* Close origins of CLOSED events (as in chat/client.h). */
enum { CF_ORIGIN_PEER = 1, CF_ORIGIN_LOCAL = 2, CF_ORIGIN_LOST = 3 };

/* A decoded record: the fields of one event, by name. */
typedef struct cf_rval {
    const char *name;
    uint8_t kind, en;
    int isnum;
    uint64_t num;
    const uint8_t *p; /* bytes (not NUL-terminated) */
    size_t n;
} cf_rval;

typedef struct cf_rec {
    const cf_mdef *m;
    size_t n;
    cf_rval f[CF_MAX_FIELDS + 4];
    cf_buf own; /* storage for rendered entries */
} cf_rec;

/* Walk a message [type][body] by the table into rec (the message has been
 * validated by libchat's decoder before). 0, or -1 if it does not fit. */
int cf_rec_from_msg(cf_rec *rec, const uint8_t *msg, size_t n);
void cf_rec_free(cf_rec *rec);
/* Add a field to a record by hand (event fields). */
void cf_rec_num(cf_rec *rec, const char *name, uint8_t en, uint64_t v);
void cf_rec_bytes(cf_rec *rec, const char *name, uint8_t kind, const uint8_t *p, size_t n);
const cf_rval *cf_rec_get(const cf_rec *rec, const char *name);
/* "TYPE f=v f=v ..." in transcript syntax. */
void cf_rec_render(const cf_rec *rec, cf_buf *out);

#endif
