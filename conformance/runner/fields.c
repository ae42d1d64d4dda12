#include "fields.h"

#include <string.h>

#include "chat/chat.h"

#define F(n, k, e) {n, k, e}
#define END {NULL, 0, 0}

static const cf_fdef f_login[] = {F("user", FK_STR8, 0), END};
static const cf_fdef f_proof[] = {F("signature", FK_B64, 0), END};
static const cf_fdef f_room[] = {F("req", FK_U32, 0), F("room", FK_STR8, 0), END};
static const cf_fdef f_req[] = {F("req", FK_U32, 0), END};
static const cf_fdef f_topic[] = {F("req", FK_U32, 0), F("room", FK_STR8, 0),
                                  F("topic", FK_STR16, 0), END};
static const cf_fdef f_send[] = {F("req", FK_U32, 0), F("kind", FK_U8, FE_KIND),
                                 F("target", FK_STR8, 0), F("text", FK_STR16, 0), END};
static const cf_fdef f_passwd[] = {F("req", FK_U32, 0), F("salt", FK_B16, 0),
                                   F("opslimit", FK_U32, 0), F("memlimit_kib", FK_U32, 0),
                                   F("pk", FK_B32, 0), END};
static const cf_fdef f_add_user[] = {F("req", FK_U32, 0), F("user", FK_STR8, 0),
                                     F("role", FK_U8, FE_ROLE), F("salt", FK_B16, 0),
                                     F("opslimit", FK_U32, 0), F("memlimit_kib", FK_U32, 0),
                                     F("pk", FK_B32, 0), END};
static const cf_fdef f_del_user[] = {F("req", FK_U32, 0), F("user", FK_STR8, 0), END};
static const cf_fdef f_kick[] = {F("req", FK_U32, 0), F("user", FK_STR8, 0),
                                 F("reason", FK_STR8, 0), END};
static const cf_fdef f_shutdown[] = {F("req", FK_U32, 0), F("reason", FK_STR8, 0), END};
static const cf_fdef f_goodbye[] = {F("code", FK_U16, FE_CODE), F("text", FK_STR8, 0), END};
static const cf_fdef f_challenge[] = {F("salt", FK_B16, 0), F("opslimit", FK_U32, 0),
                                      F("memlimit_kib", FK_U32, 0), END};
static const cf_fdef f_login_failed[] = {F("code", FK_U16, FE_CODE),
                                         F("attempts_left", FK_U8, 0), F("text", FK_STR8, 0),
                                         END};
static const cf_fdef f_welcome[] = {F("user", FK_STR8, 0), F("role", FK_U8, FE_ROLE),
                                    F("time_ms", FK_U64, 0), F("motd", FK_STR16, 0), END};
static const cf_fdef f_error[] = {F("req", FK_U32, 0), F("code", FK_U16, FE_CODE),
                                  F("text", FK_STR8, 0), END};
static const cf_fdef f_room_list[] = {F("req", FK_U32, 0), F("flags", FK_U8, 0),
                                      F("count", FK_U16, 0), F("rooms", FK_ENTRIES, 0), END};
static const cf_fdef f_names[] = {F("req", FK_U32, 0), F("room", FK_STR8, 0),
                                  F("flags", FK_U8, 0), F("count", FK_U16, 0),
                                  F("users", FK_ENTRIES, 0), END};
static const cf_fdef f_user_list[] = {F("req", FK_U32, 0), F("flags", FK_U8, 0),
                                      F("count", FK_U16, 0), F("users", FK_ENTRIES, 0), END};
static const cf_fdef f_message[] = {F("kind", FK_U8, FE_KIND), F("flags", FK_U8, 0),
                                    F("target", FK_STR8, 0), F("from", FK_STR8, 0),
                                    F("seq", FK_U64, 0), F("time_ms", FK_U64, 0),
                                    F("text", FK_STR16, 0), END};
static const cf_fdef f_joined[] = {F("room", FK_STR8, 0), F("user", FK_STR8, 0),
                                   F("time_ms", FK_U64, 0), END};
static const cf_fdef f_parted[] = {F("room", FK_STR8, 0), F("user", FK_STR8, 0),
                                   F("reason", FK_U16, FE_CODE), F("time_ms", FK_U64, 0), END};
static const cf_fdef f_topic_changed[] = {F("room", FK_STR8, 0), F("by", FK_STR8, 0),
                                          F("time_ms", FK_U64, 0), F("topic", FK_STR16, 0),
                                          END};
/* Frame payloads (the HS1 payload and the REJECT body). */
static const cf_fdef f_hs1[] = {F("magic", FK_B4, 0), F("version_min", FK_U8, 0),
                                F("version_max", FK_U8, 0), END};
static const cf_fdef f_hs2[] = {F("version", FK_U8, 0), END};
static const cf_fdef f_hs3[] = {F("user", FK_STR8, 0), END};
static const cf_fdef f_reject[] = {F("magic", FK_B4, 0), F("version_min", FK_U8, 0),
                                   F("version_max", FK_U8, 0), F("code", FK_U16, FE_CODE),
                                   F("text", FK_STR8, 0), END};
/* Events. */
static const cf_fdef f_server_key[] = {F("key", FK_B32, 0), F("version", FK_U8, 0),
                                       F("fingerprint", FK_TEXT, 0), END};
static const cf_fdef f_closed[] = {F("origin", FK_U8, FE_ORIGIN), F("code", FK_U16, FE_CODE),
                                   F("text", FK_TEXT, 0), END};

#define C2S CF_D_C2S
#define S2C CF_D_S2C

static const cf_mdef defs[] = {
    {"LOGIN", CHAT_MSG_LOGIN, C2S, f_login},
    {"PROOF", CHAT_MSG_PROOF, C2S, f_proof},
    {"JOIN", CHAT_MSG_JOIN, C2S, f_room},
    {"PART", CHAT_MSG_PART, C2S, f_room},
    {"LIST", CHAT_MSG_LIST, C2S, f_req},
    {"WHO", CHAT_MSG_WHO, C2S, f_room},
    {"TOPIC", CHAT_MSG_TOPIC, C2S, f_topic},
    {"SEND", CHAT_MSG_SEND, C2S, f_send},
    {"PASSWD", CHAT_MSG_PASSWD, C2S, f_passwd},
    {"PING", CHAT_MSG_PING, C2S, f_req},
    {"ADD_USER", CHAT_MSG_ADD_USER, C2S, f_add_user},
    {"DEL_USER", CHAT_MSG_DEL_USER, C2S, f_del_user},
    {"USERS", CHAT_MSG_USERS, C2S, f_req},
    {"KICK", CHAT_MSG_KICK, C2S, f_kick},
    {"SHUTDOWN", CHAT_MSG_SHUTDOWN, C2S, f_shutdown},
    {"GOODBYE", CHAT_MSG_GOODBYE, C2S | S2C, f_goodbye},
    {"CHALLENGE", CHAT_MSG_CHALLENGE, S2C, f_challenge},
    {"LOGIN_FAILED", CHAT_MSG_LOGIN_FAILED, S2C, f_login_failed},
    {"WELCOME", CHAT_MSG_WELCOME, S2C, f_welcome},
    {"OK", CHAT_MSG_OK, S2C, f_req},
    {"ERROR", CHAT_MSG_ERROR, S2C, f_error},
    {"ROOM_LIST", CHAT_MSG_ROOM_LIST, S2C, f_room_list},
    {"NAMES", CHAT_MSG_NAMES, S2C, f_names},
    {"USER_LIST", CHAT_MSG_USER_LIST, S2C, f_user_list},
    {"MESSAGE", CHAT_MSG_MESSAGE, S2C, f_message},
    {"JOINED", CHAT_MSG_JOINED, S2C, f_joined},
    {"PARTED", CHAT_MSG_PARTED, S2C, f_parted},
    {"TOPIC_CHANGED", CHAT_MSG_TOPIC_CHANGED, S2C, f_topic_changed},
    {"HS1", CF_T_HS1, C2S | CF_D_FRAME, f_hs1},
    {"HS2", CF_T_HS2, S2C | CF_D_FRAME, f_hs2},
    {"HS3", CF_T_HS3, C2S | CF_D_FRAME, f_hs3},
    {"REJECT", CF_T_REJECT, S2C | CF_D_FRAME | CF_D_EVENT, f_reject},
    {"SERVER_KEY", CF_T_SERVER_KEY, CF_D_EVENT, f_server_key},
    {"CLOSED", CF_T_CLOSED, CF_D_EVENT, f_closed},
};

const cf_mdef *cf_mdef_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (strcmp(defs[i].name, name) == 0)
            return &defs[i];
    return NULL;
}

const cf_mdef *cf_mdef_by_type(int type)
{
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (defs[i].type == type)
            return &defs[i];
    return NULL;
}

int cf_field_index(const cf_mdef *m, const char *name)
{
    for (int i = 0; m->f[i].name != NULL; i++)
        if (strcmp(m->f[i].name, name) == 0)
            return i;
    return -1;
}

int cf_send_pseudo(const cf_mdef *m, const char *name)
{
    if (strcmp(name, "trailer") == 0)
        return 1;
    if ((m->type == CHAT_MSG_PASSWD || m->type == CHAT_MSG_ADD_USER) &&
        strcmp(name, "password") == 0)
        return 1;
    if ((m->type == CF_T_HS1 || m->type == CF_T_HS2 || m->type == CF_T_HS3) &&
        strcmp(name, "payload") == 0)
        return 1;
    if ((m->type == CHAT_MSG_NAMES || m->type == CHAT_MSG_USER_LIST ||
         m->type == CHAT_MSG_ROOM_LIST) &&
        strcmp(name, "entries") == 0)
        return 1;
    return 0;
}

int cf_expect_pseudo(const cf_mdef *m, const char *name)
{
    return m->type == CHAT_MSG_PROOF && strcmp(name, "valid") == 0;
}

/* ---- numbers and names -------------------------------------------------- */

static int eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

int cf_parse_num(const char *s, size_t n, uint8_t en, uint64_t *out)
{
    if (n == 0)
        return -1;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        uint64_t v = 0;
        if (n - 2 > 16)
            return -1;
        for (size_t i = 2; i < n; i++) {
            int d = cf_hexval((unsigned char)s[i]);
            if (d < 0)
                return -1;
            v = v << 4 | (uint64_t)d;
        }
        *out = v;
        return 0;
    }
    if (s[0] >= '0' && s[0] <= '9') {
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return -1;
            uint64_t d = (uint64_t)(s[i] - '0');
            if (v > (UINT64_MAX - d) / 10)
                return -1;
            v = v * 10 + d;
        }
        *out = v;
        return 0;
    }
    switch (en) {
    case FE_CODE:
        for (unsigned c = 0; c < 256; c++) {
            const char *name = chat_code_name(c);
            if (name != NULL && eq(s, n, name)) {
                *out = c;
                return 0;
            }
        }
        return -1;
    case FE_ROLE:
        if (eq(s, n, "user"))
            *out = CHAT_ROLE_USER;
        else if (eq(s, n, "admin"))
            *out = CHAT_ROLE_ADMIN;
        else
            return -1;
        return 0;
    case FE_KIND:
        if (eq(s, n, "say"))
            *out = CHAT_KIND_SAY;
        else if (eq(s, n, "action"))
            *out = CHAT_KIND_ACTION;
        else
            return -1;
        return 0;
    case FE_ORIGIN:
        if (eq(s, n, "peer"))
            *out = CF_ORIGIN_PEER;
        else if (eq(s, n, "local"))
            *out = CF_ORIGIN_LOCAL;
        else if (eq(s, n, "lost"))
            *out = CF_ORIGIN_LOST;
        else
            return -1;
        return 0;
    case FE_BOOL:
        if (eq(s, n, "yes") || eq(s, n, "true") || eq(s, n, "on"))
            *out = 1;
        else if (eq(s, n, "no") || eq(s, n, "false") || eq(s, n, "off"))
            *out = 0;
        else
            return -1;
        return 0;
    default:
        return -1;
    }
}

const char *cf_num_name(uint8_t en, uint64_t v)
{
    switch (en) {
    case FE_CODE:
        return v <= 0xffff ? chat_code_name((unsigned)v) : NULL;
    case FE_ROLE:
        return v == CHAT_ROLE_USER ? "user" : v == CHAT_ROLE_ADMIN ? "admin" : NULL;
    case FE_KIND:
        return v == CHAT_KIND_SAY ? "say" : v == CHAT_KIND_ACTION ? "action" : NULL;
    case FE_ORIGIN:
        return v == CF_ORIGIN_PEER    ? "peer"
               : v == CF_ORIGIN_LOCAL ? "local"
               : v == CF_ORIGIN_LOST  ? "lost"
                                      : NULL;
    case FE_BOOL:
        return v == 1 ? "yes" : v == 0 ? "no" : NULL;
    default:
        return NULL;
    }
}

/* ---- records ------------------------------------------------------------ */

static cf_rval *rec_add(cf_rec *rec, const char *name, uint8_t kind, uint8_t en)
{
    if (rec->n >= sizeof rec->f / sizeof rec->f[0])
        return NULL;
    cf_rval *v = &rec->f[rec->n++];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->kind = kind;
    v->en = en;
    return v;
}

void cf_rec_num(cf_rec *rec, const char *name, uint8_t en, uint64_t x)
{
    cf_rval *v = rec_add(rec, name, FK_U64, en);
    if (v != NULL) {
        v->isnum = 1;
        v->num = x;
    }
}

void cf_rec_bytes(cf_rec *rec, const char *name, uint8_t kind, const uint8_t *p, size_t n)
{
    cf_rval *v = rec_add(rec, name, kind, 0);
    if (v != NULL) {
        v->p = p;
        v->n = n;
    }
}

const cf_rval *cf_rec_get(const cf_rec *rec, const char *name)
{
    for (size_t i = 0; i < rec->n; i++)
        if (strcmp(rec->f[i].name, name) == 0)
            return &rec->f[i];
    return NULL;
}

void cf_rec_free(cf_rec *rec)
{
    cf_buf_free(&rec->own);
    rec->n = 0;
}

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Render list entries as the matcher sees them:
 *   NAMES users     "alice,bob"           (sorted, so order does not matter)
 *   USER_LIST users "alice:admin:online,bob:user:offline"  (in order)
 *   ROOM_LIST rooms "#a:2,#b:1:the topic"                    (in order) */
static int cmp_str(const void *a, const void *b)
{
    const chat_str *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->p, y->p, n);
    return c != 0 ? c : (x->n > y->n) - (x->n < y->n);
}

#include <stdlib.h>

static void render_entries(cf_buf *out, int type, const uint8_t *p, size_t left)
{
    if (type == CHAT_MSG_NAMES) {
        size_t cap = left / 2 + 1, n = 0;
        chat_str *v = cf_xcalloc(cap, sizeof *v);
        chat_name_entry e;
        while (left > 0 && n < cap && chat_entry_get_name(&p, &left, &e) == CHAT_OK)
            v[n++] = e.user;
        qsort(v, n, sizeof *v, cmp_str);
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                cf_buf_byte(out, ',');
            cf_buf_add(out, v[i].p, v[i].n);
        }
        free(v);
        return;
    }
    int first = 1;
    while (left > 0) {
        if (!first)
            cf_buf_byte(out, ',');
        first = 0;
        if (type == CHAT_MSG_USER_LIST) {
            chat_user_entry e;
            if (chat_entry_get_user(&p, &left, &e) != CHAT_OK)
                break;
            cf_buf_add(out, e.user.p, e.user.n);
            cf_buf_printf(out, ":%s:%s", e.role == CHAT_ROLE_ADMIN ? "admin" : "user",
                          e.online ? "online" : "offline");
        } else {
            chat_room_entry e;
            if (chat_entry_get_room(&p, &left, &e) != CHAT_OK)
                break;
            cf_buf_add(out, e.room.p, e.room.n);
            cf_buf_printf(out, ":%u", (unsigned)e.members);
            if (e.topic.n > 0) {
                cf_buf_byte(out, ':');
                cf_buf_add(out, e.topic.p, e.topic.n);
            }
        }
    }
}

int cf_rec_from_msg(cf_rec *rec, const uint8_t *msg, size_t n)
{
    rec->n = 0;
    if (n < 1)
        return -1;
    rec->m = cf_mdef_by_type(msg[0]);
    if (rec->m == NULL)
        return -1;
    size_t at = 1;
    for (const cf_fdef *f = rec->m->f; f->name != NULL; f++) {
        size_t w = 0;
        switch (f->kind) {
        case FK_U8:
            w = 1;
            break;
        case FK_U16:
            w = 2;
            break;
        case FK_U32:
            w = 4;
            break;
        case FK_U64:
            w = 8;
            break;
        case FK_B4:
            w = 4;
            break;
        case FK_B16:
            w = 16;
            break;
        case FK_B32:
            w = 32;
            break;
        case FK_B64:
            w = 64;
            break;
        case FK_STR8:
            if (at >= n)
                return -1;
            w = 1 + (size_t)msg[at];
            break;
        case FK_STR16:
            if (at + 2 > n)
                return -1;
            w = 2 + (size_t)be(msg + at, 2);
            break;
        case FK_ENTRIES: {
            /* Render into own storage; pointers are fixed up below. */
            size_t start = rec->own.len;
            render_entries(&rec->own, msg[0], msg + at, n - at);
            cf_rval *v = rec_add(rec, f->name, f->kind, f->en);
            if (v != NULL) {
                v->num = start; /* offset, resolved after the walk */
                v->n = rec->own.len - start;
            }
            at = n;
            continue;
        }
        default:
            return -1;
        }
        if (w > n - at)
            return -1;
        cf_rval *v = rec_add(rec, f->name, f->kind, f->en);
        if (v == NULL)
            return -1;
        if (f->kind <= FK_U64) {
            v->isnum = 1;
            v->num = be(msg + at, w);
        } else if (f->kind == FK_STR8) {
            v->p = msg + at + 1;
            v->n = w - 1;
        } else if (f->kind == FK_STR16) {
            v->p = msg + at + 2;
            v->n = w - 2;
        } else {
            v->p = msg + at;
            v->n = w;
        }
        at += w;
    }
    for (size_t i = 0; i < rec->n; i++) {
        if (rec->f[i].kind == FK_ENTRIES) {
            rec->f[i].p = rec->own.p != NULL ? rec->own.p + rec->f[i].num : (const uint8_t *)"";
            rec->f[i].num = 0;
        }
    }
    return at == n ? 0 : -1;
}

void cf_rec_render(const cf_rec *rec, cf_buf *out)
{
    cf_buf_printf(out, "%s", rec->m != NULL ? rec->m->name : "?");
    for (size_t i = 0; i < rec->n; i++) {
        const cf_rval *v = &rec->f[i];
        cf_buf_printf(out, " %s=", v->name);
        if (v->isnum) {
            const char *nm = cf_num_name(v->en, v->num);
            if (nm != NULL)
                cf_buf_printf(out, "%s", nm);
            else
                cf_buf_printf(out, "%llu", (unsigned long long)v->num);
        } else {
            int hex = v->kind == FK_B16 || v->kind == FK_B32 || v->kind == FK_B64;
            cf_render_value(out, v->p, v->n, hex);
        }
    }
}
