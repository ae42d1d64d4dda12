#include "event.h"

#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"

void cf_event_free(cf_event *ev)
{
    free(ev->msg);
    free(ev->text);
    ev->msg = NULL;
    ev->text = NULL;
}

void cf_evq_push(cf_evq *q, cf_event *ev)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        q->e = cf_xrealloc(q->e, cap * sizeof *q->e);
        q->cap = cap;
    }
    q->e[q->n++] = *ev;
    memset(ev, 0, sizeof *ev);
}

cf_event *cf_evq_peek(cf_evq *q)
{
    return q->head < q->n ? &q->e[q->head] : NULL;
}

void cf_evq_pop(cf_evq *q)
{
    if (q->head < q->n)
        q->head++;
}

size_t cf_evq_pending(const cf_evq *q)
{
    return q->n - q->head;
}

void cf_evq_free(cf_evq *q)
{
    for (size_t i = 0; i < q->n; i++)
        cf_event_free(&q->e[i]);
    free(q->e);
    memset(q, 0, sizeof *q);
}

void cf_event_msg(cf_event *ev, const uint8_t *msg, size_t n)
{
    memset(ev, 0, sizeof *ev);
    ev->type = n > 0 ? msg[0] : 0;
    ev->msg = cf_xmalloc(n);
    if (n > 0)
        memcpy(ev->msg, msg, n);
    ev->len = n;
    ev->valid = -1;
}

void cf_event_closed(cf_event *ev, uint8_t origin, uint16_t code, const void *text, size_t n)
{
    memset(ev, 0, sizeof *ev);
    ev->type = CF_T_CLOSED;
    ev->origin = origin;
    ev->code = code;
    ev->text = cf_xmalloc(n);
    if (n > 0)
        memcpy(ev->text, text, n);
    ev->text_len = n;
    ev->valid = -1;
}

int cf_event_rec(const cf_event *ev, cf_rec *rec)
{
    memset(rec, 0, sizeof *rec);
    switch (ev->type) {
    case CF_T_SERVER_KEY: {
        rec->m = cf_mdef_by_type(CF_T_SERVER_KEY);
        cf_rec_bytes(rec, "key", FK_B32, ev->key, 32);
        cf_rec_num(rec, "version", 0, ev->version);
        char fp[CHAT_FINGERPRINT_LEN + 1];
        chat_fingerprint(fp, ev->key);
        size_t at = rec->own.len;
        cf_buf_add(&rec->own, fp, strlen(fp));
        /* Resolved below: own may move while it grows. */
        cf_rec_bytes(rec, "fingerprint", FK_TEXT, NULL, strlen(fp));
        rec->f[rec->n - 1].p = rec->own.p + at;
        return 0;
    }
    case CF_T_REJECT:
        rec->m = cf_mdef_by_type(CF_T_REJECT);
        cf_rec_bytes(rec, "magic", FK_B4, (const uint8_t *)"CHAT", 4);
        cf_rec_num(rec, "version_min", 0, ev->vmin);
        cf_rec_num(rec, "version_max", 0, ev->vmax);
        cf_rec_num(rec, "code", FE_CODE, ev->code);
        cf_rec_bytes(rec, "text", FK_STR8, ev->text, ev->text_len);
        return 0;
    case CF_T_CLOSED:
        rec->m = cf_mdef_by_type(CF_T_CLOSED);
        cf_rec_num(rec, "origin", FE_ORIGIN, ev->origin);
        cf_rec_num(rec, "code", FE_CODE, ev->code);
        cf_rec_bytes(rec, "text", FK_TEXT, ev->text, ev->text_len);
        return 0;
    case CF_T_HS1:
        rec->m = cf_mdef_by_type(CF_T_HS1);
        if (ev->len == CHAT_HS1_PAYLOAD_LEN) {
            cf_rec_bytes(rec, "magic", FK_B4, ev->msg, 4);
            cf_rec_num(rec, "version_min", 0, ev->msg[4]);
            cf_rec_num(rec, "version_max", 0, ev->msg[5]);
        } else {
            cf_rec_bytes(rec, "magic", FK_B4, ev->msg, ev->len);
        }
        return 0;
    default:
        if (cf_rec_from_msg(rec, ev->msg, ev->len) != 0) {
            cf_rec_free(rec);
            return -1;
        }
        if (ev->type == CHAT_MSG_PROOF && ev->valid >= 0)
            cf_rec_num(rec, "valid", FE_BOOL, (uint64_t)ev->valid);
        return 0;
    }
}

void cf_event_render(const cf_event *ev, cf_buf *out)
{
    cf_rec rec;
    if (cf_event_rec(ev, &rec) != 0) {
        char *h = cf_xmalloc(2 * ev->len + 1);
        cf_hex(h, ev->msg, ev->len);
        cf_buf_printf(out, "undecodable message 0x%s", h);
        free(h);
        return;
    }
    cf_rec_render(&rec, out);
    cf_rec_free(&rec);
}
