#include "wpeer.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

void cf_wpeer_init(cf_wpeer *w, int initiator, const uint8_t static_priv[32], chat_rng rng)
{
    memset(w, 0, sizeof *w);
    w->initiator = initiator;
    w->rng = rng;
    memcpy(w->static_priv, static_priv, 32);
    w->next_req = 1;
    w->state = WP_START;
}

void cf_wpeer_free(cf_wpeer *w)
{
    chat_handshake_wipe(&w->hs);
    chat_cipher_wipe(&w->tx);
    chat_cipher_wipe(&w->rx);
    cf_buf_free(&w->in);
    cf_buf_free(&w->pending);
    cf_evq_free(&w->ev);
    sodium_memzero(w->static_priv, sizeof w->static_priv);
}

static void frame_out(cf_buf *out, uint8_t type, const uint8_t *body, size_t n)
{
    uint8_t hdr[CHAT_FRAME_HEADER];
    chat_frame_header(hdr, type, n);
    cf_buf_add(out, hdr, sizeof hdr);
    cf_buf_add(out, body, n);
}

static int init_hs(cf_wpeer *w, char *err, size_t cap)
{
    if (w->hs_init)
        return 0;
    int rc = chat_handshake_init(&w->hs, CHAT_NOISE_PROTOCOL, w->initiator,
                                 (const uint8_t *)CHAT_PROLOGUE, CHAT_PROLOGUE_LEN,
                                 w->static_priv, NULL, w->rng);
    if (rc != CHAT_OK) {
        cf_fmt(err, cap, "handshake init: %s", chat_strerror(rc));
        return -1;
    }
    w->hs_init = 1;
    return 0;
}

int cf_wpeer_hs1(cf_wpeer *w, const uint8_t *payload, size_t n, cf_buf *out, char *err, size_t cap)
{
    if (!w->initiator || w->state != WP_START) {
        cf_fmt(err, cap, "HS1 can only be the first thing a client sends");
        return -1;
    }
    if (init_hs(w, err, cap) != 0)
        return -1;
    uint8_t body[CHAT_NOISE_MAX_MSG];
    size_t len = 0;
    int rc = chat_handshake_write(&w->hs, payload, n, body, sizeof body, &len);
    if (rc != CHAT_OK) {
        cf_fmt(err, cap, "HS1: %s", chat_strerror(rc));
        return -1;
    }
    frame_out(out, CHAT_FRAME_HS1, body, len);
    w->state = WP_SENT_HS1;
    return 0;
}

int cf_wpeer_hs2(cf_wpeer *w, const uint8_t *payload, size_t n, cf_buf *out, char *err, size_t cap)
{
    if (w->initiator || w->state != WP_GOT_HS1) {
        cf_fmt(err, cap, "HS2 answers an HS1 that has not been received");
        return -1;
    }
    uint8_t body[CHAT_NOISE_MAX_MSG];
    size_t len = 0;
    int rc = chat_handshake_write(&w->hs, payload, n, body, sizeof body, &len);
    if (rc != CHAT_OK) {
        cf_fmt(err, cap, "HS2: %s", chat_strerror(rc));
        return -1;
    }
    frame_out(out, CHAT_FRAME_HS2, body, len);
    w->state = WP_SENT_HS2;
    return 0;
}

int cf_wpeer_hs3(cf_wpeer *w, const uint8_t *payload, size_t n, cf_buf *out, char *err, size_t cap)
{
    if (!w->initiator || w->state != WP_AWAIT_TRUST) {
        cf_fmt(err, cap, "HS3 needs an HS2 first");
        return -1;
    }
    uint8_t body[CHAT_NOISE_MAX_MSG];
    size_t len = 0;
    int rc = chat_handshake_write(&w->hs, payload, n, body, sizeof body, &len);
    if (rc == CHAT_OK) {
        memcpy(w->h, chat_handshake_hash(&w->hs), 32);
        rc = chat_handshake_split(&w->hs, &w->tx, &w->rx);
    }
    if (rc != CHAT_OK) {
        cf_fmt(err, cap, "HS3: %s", chat_strerror(rc));
        return -1;
    }
    frame_out(out, CHAT_FRAME_HS3, body, len);
    w->state = WP_KEYS;
    /* Remember the LOGIN inside, if it is one. */
    const uint8_t *p = payload;
    size_t left = n;
    chat_msg m;
    if (chat_msg_next(&p, &left, &m) == CHAT_OK && m.type == CHAT_MSG_LOGIN)
        chat_name_fold(w->login_user, m.u.login.user.p, m.u.login.user.n);
    return 0;
}

void cf_wpeer_queue(cf_wpeer *w, const uint8_t *msg, size_t n)
{
    cf_buf_add(&w->pending, msg, n);
}

int cf_wpeer_seal_plain(cf_wpeer *w, const uint8_t *pt, size_t n, cf_buf *out, char *err,
                        size_t cap)
{
    if (!w->tx.has_key) {
        cf_fmt(err, cap, "no transport keys yet (the handshake is not done)");
        return -1;
    }
    if (n + CHAT_NOISE_TAGLEN > CHAT_FRAME_BODY_MAX) {
        cf_fmt(err, cap, "plaintext of %zu bytes does not fit a frame", n);
        return -1;
    }
    uint8_t *ct = cf_xmalloc(n + CHAT_NOISE_TAGLEN);
    int rc = chat_cipher_encrypt(&w->tx, NULL, 0, pt, n, ct);
    if (rc != CHAT_OK) {
        free(ct);
        cf_fmt(err, cap, "encrypt: %s", chat_strerror(rc));
        return -1;
    }
    frame_out(out, CHAT_FRAME_TRANSPORT, ct, n + CHAT_NOISE_TAGLEN);
    free(ct);
    return 0;
}

int cf_wpeer_seal(cf_wpeer *w, cf_buf *out, char *err, size_t cap)
{
    if (w->pending.len == 0)
        return 0;
    int rc = cf_wpeer_seal_plain(w, w->pending.p, w->pending.len, out, err, cap);
    sodium_memzero(w->pending.p, w->pending.len);
    cf_buf_reset(&w->pending);
    return rc;
}

/* ---- input ------------------------------------------------------------------ */

static void local_close(cf_wpeer *w, const char *why)
{
    cf_event ev;
    cf_event_closed(&ev, CF_ORIGIN_LOCAL, CHAT_CODE_PROTOCOL, why, strlen(why));
    cf_evq_push(&w->ev, &ev);
    w->state = WP_DONE;
}

static void on_message(cf_wpeer *w, const uint8_t *msg, size_t n, const chat_msg *m)
{
    if (m->type == CHAT_MSG_GOODBYE) {
        cf_event ev;
        cf_event_closed(&ev, CF_ORIGIN_PEER, m->u.goodbye.code, m->u.goodbye.text.p,
                        m->u.goodbye.text.n);
        cf_evq_push(&w->ev, &ev);
        w->state = WP_DONE;
        return;
    }
    if (m->type == CHAT_MSG_CHALLENGE && w->initiator) {
        memcpy(w->chal_salt, m->u.challenge.salt, 16);
        w->chal_ops = m->u.challenge.opslimit;
        w->chal_mem = m->u.challenge.memlimit_kib;
        w->have_chal = 1;
    }
    if (m->type == CHAT_MSG_LOGIN && !w->initiator)
        chat_name_fold(w->login_user, m->u.login.user.p, m->u.login.user.n);
    cf_event ev;
    cf_event_msg(&ev, msg, n);
    cf_evq_push(&w->ev, &ev);
}

static void on_transport(cf_wpeer *w, const chat_frame *f)
{
    if (f->body_len < CHAT_NOISE_TAGLEN) {
        local_close(w, "transport frame shorter than a tag");
        return;
    }
    size_t pn = f->body_len - CHAT_NOISE_TAGLEN;
    uint8_t *pt = cf_xmalloc(pn + 1);
    if (chat_cipher_decrypt(&w->rx, NULL, 0, f->body, f->body_len, pt) != CHAT_OK) {
        free(pt);
        local_close(w, "transport frame failed authentication");
        return;
    }
    if (pn == 0) {
        free(pt);
        local_close(w, "empty transport frame");
        return;
    }
    const uint8_t *p = pt;
    size_t left = pn;
    while (left > 0 && w->state != WP_DONE) {
        const uint8_t *q = p;
        chat_msg m;
        if (chat_msg_next(&p, &left, &m) != CHAT_OK) {
            char why[96];
            unsigned type = left >= 3 ? q[2] : 0;
            cf_fmt(why, sizeof why, "malformed message (type 0x%02x) in a transport frame", type);
            local_close(w, why);
            break;
        }
        on_message(w, q + 2, (size_t)(p - q) - 2, &m);
    }
    sodium_memzero(pt, pn);
    free(pt);
}

static void on_frame(cf_wpeer *w, const chat_frame *f)
{
    uint8_t payload[CHAT_NOISE_MAX_MSG];
    size_t pn = 0;
    w->frames_in++;
    if (w->initiator) {
        if (w->state == WP_SENT_HS1 && f->type == CHAT_FRAME_HS2) {
            if (chat_handshake_read(&w->hs, f->body, f->body_len, payload, sizeof payload, &pn) !=
                    CHAT_OK ||
                pn != CHAT_HS2_PAYLOAD_LEN) {
                local_close(w, "bad HS2");
                return;
            }
            const uint8_t *rs = chat_handshake_remote_static(&w->hs);
            if (rs == NULL) {
                local_close(w, "bad HS2");
                return;
            }
            memcpy(w->server_key, rs, 32);
            w->version = payload[0];
            cf_event ev;
            memset(&ev, 0, sizeof ev);
            ev.type = CF_T_SERVER_KEY;
            ev.valid = -1;
            memcpy(ev.key, rs, 32);
            ev.version = payload[0];
            cf_evq_push(&w->ev, &ev);
            w->state = WP_AWAIT_TRUST;
            return;
        }
        if (w->state == WP_SENT_HS1 && f->type == CHAT_FRAME_REJECT) {
            chat_reject r;
            if (chat_reject_decode(f->body, f->body_len, &r) != CHAT_OK) {
                local_close(w, "bad REJECT");
                return;
            }
            cf_event ev;
            cf_event_closed(&ev, CF_ORIGIN_PEER, r.code, r.text.p, r.text.n);
            ev.type = CF_T_REJECT;
            ev.vmin = r.version_min;
            ev.vmax = r.version_max;
            cf_evq_push(&w->ev, &ev);
            cf_event_closed(&ev, CF_ORIGIN_PEER, r.code, r.text.p, r.text.n);
            cf_evq_push(&w->ev, &ev);
            w->state = WP_DONE;
            return;
        }
        if (w->state == WP_KEYS && f->type == CHAT_FRAME_TRANSPORT) {
            on_transport(w, f);
            return;
        }
    } else {
        if (w->state == WP_START && f->type == CHAT_FRAME_HS1) {
            char err[128];
            if (init_hs(w, err, sizeof err) != 0 ||
                chat_handshake_read(&w->hs, f->body, f->body_len, payload, sizeof payload, &pn) !=
                    CHAT_OK) {
                local_close(w, "bad HS1");
                return;
            }
            cf_event ev;
            memset(&ev, 0, sizeof ev);
            ev.type = CF_T_HS1;
            ev.valid = -1;
            ev.msg = cf_xmalloc(pn);
            memcpy(ev.msg, payload, pn);
            ev.len = pn;
            cf_evq_push(&w->ev, &ev);
            w->state = WP_GOT_HS1;
            return;
        }
        if (w->state == WP_SENT_HS2 && f->type == CHAT_FRAME_HS3) {
            if (chat_handshake_read(&w->hs, f->body, f->body_len, payload, sizeof payload, &pn) !=
                CHAT_OK) {
                local_close(w, "HS3 failed to authenticate");
                return;
            }
            memcpy(w->h, chat_handshake_hash(&w->hs), 32);
            /* Responder: the first CipherState decrypts (client -> server). */
            if (chat_handshake_split(&w->hs, &w->rx, &w->tx) != CHAT_OK) {
                local_close(w, "split failed");
                return;
            }
            w->state = WP_KEYS;
            const uint8_t *p = payload;
            size_t left = pn;
            chat_msg m;
            if (chat_msg_next(&p, &left, &m) != CHAT_OK || left != 0) {
                local_close(w, "HS3 payload is not one message");
                return;
            }
            on_message(w, payload + 2, pn - 2, &m);
            return;
        }
        if (w->state == WP_KEYS && f->type == CHAT_FRAME_TRANSPORT) {
            on_transport(w, f);
            return;
        }
    }
    char why[64];
    cf_fmt(why, sizeof why, "unexpected frame type 0x%02x", f->type);
    local_close(w, why);
}

void cf_wpeer_feed(cf_wpeer *w, const uint8_t *p, size_t n)
{
    if (w->state == WP_DONE) {
        w->bytes_after_close += n;
        return;
    }
    cf_buf_add(&w->in, p, n);
    size_t off = 0;
    while (w->state != WP_DONE) {
        chat_frame f;
        size_t used = 0;
        int rc = chat_frame_decode(w->in.p + off, w->in.len - off, &f, &used);
        if (rc == CHAT_E_AGAIN)
            break;
        if (rc != CHAT_OK) {
            local_close(w, "bad frame header (length 0 or unknown type)");
            break;
        }
        on_frame(w, &f);
        off += used;
    }
    if (w->state == WP_DONE) {
        w->bytes_after_close += w->in.len - off;
        cf_buf_reset(&w->in);
    } else {
        cf_buf_consume(&w->in, off);
    }
}

void cf_wpeer_eof(cf_wpeer *w)
{
    if (w->eof)
        return;
    w->eof = 1;
    if (w->state == WP_DONE)
        return;
    static const char lost[] = "connection lost";
    cf_event ev;
    cf_event_closed(&ev, CF_ORIGIN_LOST, CHAT_CODE_CONN_LOST, lost, sizeof lost - 1);
    cf_evq_push(&w->ev, &ev);
    w->state = WP_DONE;
}
