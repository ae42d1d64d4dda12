/* Events: what one side of a connection observed, in the terms of the
 * transcript format. Both the runner's own peers and adapters that drive a
 * client under test produce them; `expect` steps match them. */
#ifndef CF_EVENT_H
#define CF_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "fields.h"

typedef struct cf_event {
    int type;         /* message type (1..255) or CF_T_SERVER_KEY, CF_T_REJECT, CF_T_CLOSED, CF_T_HS1 */
    uint8_t *msg;     /* messages: [type][body] (owned); HS1: the payload */
    size_t len;
    uint8_t key[32];  /* SERVER_KEY */
    uint8_t version;  /* SERVER_KEY */
    uint8_t vmin, vmax; /* REJECT */
    uint16_t code;    /* REJECT, CLOSED */
    uint8_t origin;   /* CLOSED: CF_ORIGIN_* */
    uint8_t *text;    /* REJECT, CLOSED (owned) */
    size_t text_len;
    uint8_t autod;    /* answered automatically (SERVER_KEY, CHALLENGE) */
    int8_t valid;     /* PROOF received by a runner server: 1/0, -1 unknown */
} cf_event;

typedef struct cf_evq {
    cf_event *e;
    size_t n, cap, head;
} cf_evq;

void cf_event_free(cf_event *ev);
/* Push a copy (the queue takes ownership of ev's buffers). */
void cf_evq_push(cf_evq *q, cf_event *ev);
/* The next unread event, or NULL. */
cf_event *cf_evq_peek(cf_evq *q);
void cf_evq_pop(cf_evq *q);
void cf_evq_free(cf_evq *q);
size_t cf_evq_pending(const cf_evq *q);

/* Helpers to build events. */
void cf_event_msg(cf_event *ev, const uint8_t *msg, size_t n);
void cf_event_closed(cf_event *ev, uint8_t origin, uint16_t code, const void *text, size_t n);

/* Fields of an event as a record (cf_rec_free after). 0, or -1 if the
 * event cannot be decoded. */
int cf_event_rec(const cf_event *ev, cf_rec *rec);
/* "TYPE f=v ..." */
void cf_event_render(const cf_event *ev, cf_buf *out);

#endif
