/* The hub's requests in READY (PROTOCOL.md §9): rooms, messages,
 * history, topics, private messages, lists, PASSWD and the admin actions. */
#include "hub_internal.h"

#include <string.h>

#include <sodium.h>

/* ---------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------- */

static void send_ok(chat_hub *h, hub_conn *c, uint32_t req)
{
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_OK;
    m.req = req;
    (void)chat__conn_send(h, c, &m);
}

static void send_error(chat_hub *h, hub_conn *c, uint32_t req, uint16_t code)
{
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_ERROR;
    m.req = req;
    m.u.error.code = code;
    const char *t = chat__code_text(code);
    m.u.error.text.p = (const uint8_t *)t;
    m.u.error.text.n = strlen(t);
    (void)chat__conn_send(h, c, &m);
}

static chat_str str_of(const char *s)
{
    chat_str r = {(const uint8_t *)s, strlen(s)};
    return r;
}

/* ---------------------------------------------------------------------
 * List messages, split with the MORE flag when they do not fit one
 * ------------------------------------------------------------------- */

typedef struct list_builder {
    hub_conn *c;
    uint8_t type;
    uint32_t req;
    const char *room; /* NAMES only */
    size_t cap;       /* room for entries in one message */
    size_t len;
    uint16_t count;
} list_builder;

static void lb_init(chat_hub *h, list_builder *b, hub_conn *c, uint8_t type, uint32_t req,
                    const char *room)
{
    (void)h;
    memset(b, 0, sizeof *b);
    b->c = c;
    b->type = type;
    b->req = req;
    b->room = room;
    /* u16 length, type, req, [room:str8], flags, count */
    size_t hdr = 2 + 1 + 4 + 1 + 2;
    if (type == CHAT_MSG_NAMES)
        hdr += 1 + strlen(room);
    b->cap = CHAT_MSG_MAX - hdr;
}

static int lb_flush(chat_hub *h, list_builder *b, int more)
{
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = b->type;
    m.req = b->req;
    uint8_t flags = more ? CHAT_LIST_MORE : 0;
    if (b->type == CHAT_MSG_NAMES) {
        m.u.names.room = str_of(b->room);
        m.u.names.flags = flags;
        m.u.names.count = b->count;
        m.u.names.entries = h->ent;
        m.u.names.entries_len = b->len;
    } else {
        m.u.list.flags = flags;
        m.u.list.count = b->count;
        m.u.list.entries = h->ent;
        m.u.list.entries_len = b->len;
    }
    b->len = 0;
    b->count = 0;
    return chat__conn_send(h, b->c, &m);
}

/* Add one entry (exactly one of the three pointers set). 0, or -1 when
 * the connection closed (nothing more can be sent). */
static int lb_add(chat_hub *h, list_builder *b, const chat_room_entry *re,
                  const chat_user_entry *ue, const chat_name_entry *ne)
{
    for (int tries = 0; tries < 2; tries++) {
        int rc = CHAT_E_FULL;
        if (b->count < UINT16_MAX) {
            if (re != NULL)
                rc = chat_entry_put_room(h->ent, b->cap, &b->len, re);
            else if (ue != NULL)
                rc = chat_entry_put_user(h->ent, b->cap, &b->len, ue);
            else
                rc = chat_entry_put_name(h->ent, b->cap, &b->len, ne);
        }
        if (rc == CHAT_OK) {
            b->count++;
            return 0;
        }
        if (rc != CHAT_E_FULL || b->count == 0)
            return 0; /* cannot happen for valid names; skip the entry */
        if (lb_flush(h, b, 1) != 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Rooms
 * ------------------------------------------------------------------- */

static hub_room *room_find(chat_hub *h, const char *folded)
{
    return chat__map_get(h, &h->roomtab, folded);
}

static int room_member(const hub_room *r, const hub_conn *c)
{
    for (uint32_t i = 0; i < c->nrooms; i++)
        if (c->rooms[i].r == r)
            return 1;
    return 0;
}

void chat__room_free(chat_hub *h, hub_room *r)
{
    if (r->hist != NULL) {
        for (uint32_t i = 0; i < h->history_len; i++) {
            uint8_t *e = r->hist[i];
            if (e != NULL) {
                sodium_memzero(e, (size_t)(e[0] << 8 | e[1]) + 2);
                chat__free(&h->alloc, e);
            }
        }
        chat__free(&h->alloc, r->hist);
    }
    if (r->topic != NULL) {
        sodium_memzero(r->topic, r->topic_len);
        chat__free(&h->alloc, r->topic);
    }
    chat__free(&h->alloc, r->m);
    sodium_memzero(r, sizeof *r);
    chat__free(&h->alloc, r);
}

static hub_room *room_create(chat_hub *h, const char *folded)
{
    if (h->nrooms == h->caprooms) {
        uint32_t ncap = h->caprooms != 0 ? h->caprooms * 2 : 16;
        hub_room **nr = chat__realloc(&h->alloc, h->rooms, (size_t)ncap * sizeof *nr);
        if (nr == NULL)
            return NULL;
        h->rooms = nr;
        h->caprooms = ncap;
    }
    hub_room *r = chat__calloc(&h->alloc, sizeof *r);
    if (r == NULL)
        return NULL;
    memcpy(r->name, folded, strlen(folded) + 1);
    if (chat__map_put(h, &h->roomtab, r->name) != CHAT_OK) {
        chat__free(&h->alloc, r);
        return NULL;
    }
    /* Keep h->rooms sorted by name so LIST is in name order. */
    uint32_t lo = 0, hi = h->nrooms;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (strcmp(h->rooms[mid]->name, r->name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&h->rooms[lo + 1], &h->rooms[lo], (size_t)(h->nrooms - lo) * sizeof *h->rooms);
    h->rooms[lo] = r;
    h->nrooms++;
    return r;
}

static int room_add(chat_hub *h, hub_room *r, hub_conn *c)
{
    if (r->n == r->cap) {
        uint32_t ncap = r->cap != 0 ? r->cap * 2 : 4;
        hub_member *nm = chat__realloc(&h->alloc, r->m, (size_t)ncap * sizeof *nm);
        if (nm == NULL)
            return -1;
        r->m = nm;
        r->cap = ncap;
    }
    if (c->nrooms == c->caprooms) {
        uint32_t ncap = c->caprooms != 0 ? (uint32_t)c->caprooms * 2 : 1;
        if (ncap > UINT16_MAX)
            ncap = UINT16_MAX;
        hub_membership *nm = chat__realloc(&h->alloc, c->rooms, (size_t)ncap * sizeof *nm);
        if (nm == NULL)
            return -1;
        c->rooms = nm;
        c->caprooms = (uint16_t)ncap;
    }
    r->m[r->n].c = c;
    r->m[r->n].slot = c->nrooms;
    c->rooms[c->nrooms].r = r;
    c->rooms[c->nrooms].slot = r->n;
    r->n++;
    c->nrooms++;
    return 0;
}

/* Remove c from r (swap-remove on both sides) and shrink the arrays. */
static void room_remove(chat_hub *h, hub_room *r, hub_conn *c)
{
    uint32_t ci = 0;
    while (ci < c->nrooms && c->rooms[ci].r != r)
        ci++;
    if (ci == c->nrooms)
        return;
    uint32_t ri = c->rooms[ci].slot;

    uint32_t last = r->n - 1;
    if (ri != last) {
        r->m[ri] = r->m[last];
        r->m[ri].c->rooms[r->m[ri].slot].slot = ri;
    }
    r->n--;
    uint32_t clast = (uint32_t)c->nrooms - 1;
    if (ci != clast) {
        c->rooms[ci] = c->rooms[clast];
        c->rooms[ci].r->m[c->rooms[ci].slot].slot = ci;
    }
    c->nrooms--;

    if (r->n == 0) {
        chat__free(&h->alloc, r->m);
        r->m = NULL;
        r->cap = 0;
    } else if (r->cap > 16 && r->n <= r->cap / 4) {
        hub_member *nm = chat__realloc(&h->alloc, r->m, (size_t)(r->cap / 2) * sizeof *nm);
        if (nm != NULL) {
            r->m = nm;
            r->cap /= 2;
        }
    }
    if (c->nrooms == 0) {
        chat__free(&h->alloc, c->rooms);
        c->rooms = NULL;
        c->caprooms = 0;
    }
}

/* Queue the same encoded bytes to every member. */
static void room_broadcast(chat_hub *h, hub_room *r, const uint8_t *msg, size_t n)
{
    /* A member that turns out too slow is only marked closed here; its
     * memberships go later, so r->m does not change under the loop. */
    for (uint32_t i = 0; i < r->n; i++)
        (void)chat__conn_queue(h, r->m[i].c, msg, n);
}

static int encode_tx(chat_hub *h, const chat_msg *m, size_t *n)
{
    return chat_msg_encode(m, h->tx, sizeof h->tx, n) == CHAT_OK ? 0 : -1;
}

static void broadcast_parted(chat_hub *h, hub_room *r, const hub_conn *c, uint16_t code)
{
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_PARTED;
    m.u.parted.room = str_of(r->name);
    m.u.parted.user = str_of(c->name);
    m.u.parted.reason = code;
    m.u.parted.time_ms = h->now.wall_ms;
    size_t n;
    if (encode_tx(h, &m, &n) == 0)
        room_broadcast(h, r, h->tx, n);
}

void chat__room_leave(chat_hub *h, hub_room *r, hub_conn *c, uint16_t code)
{
    room_remove(h, r, c);
    broadcast_parted(h, r, c, code);
}

static void send_names(chat_hub *h, hub_conn *c, uint32_t req, hub_room *r)
{
    list_builder b;
    lb_init(h, &b, c, CHAT_MSG_NAMES, req, r->name);
    for (uint32_t i = 0; i < r->n; i++) {
        const hub_conn *mc = r->m[i].c;
        if (mc->state == HUB_CLOSED)
            continue; /* leaving; PARTED follows */
        chat_name_entry e = {str_of(mc->name)};
        if (lb_add(h, &b, NULL, NULL, &e) != 0)
            return;
    }
    (void)lb_flush(h, &b, 0);
}

static void history_push(chat_hub *h, hub_room *r, const uint8_t *msg, size_t n)
{
    if (r->hist == NULL) {
        r->hist = chat__calloc(&h->alloc, (size_t)h->history_len * sizeof *r->hist);
        if (r->hist == NULL)
            return; /* history is best effort under memory pressure */
    }
    uint8_t *copy = chat__alloc(&h->alloc, n);
    if (copy == NULL)
        return;
    memcpy(copy, msg, n);
    uint32_t slot = (r->hist_head + r->hist_n) % h->history_len;
    if (r->hist_n == h->history_len) {
        /* Full: the oldest (at head) is dropped. */
        uint8_t *old = r->hist[r->hist_head];
        sodium_memzero(old, (size_t)(old[0] << 8 | old[1]) + 2);
        chat__free(&h->alloc, old);
        r->hist_head = (r->hist_head + 1) % h->history_len;
        r->hist_n--;
    }
    r->hist[slot] = copy;
    r->hist_n++;
}

static void history_replay(chat_hub *h, hub_conn *c, hub_room *r)
{
    for (uint32_t i = 0; i < r->hist_n; i++) {
        const uint8_t *e = r->hist[(r->hist_head + i) % h->history_len];
        size_t n = (size_t)(e[0] << 8 | e[1]) + 2;
        memcpy(h->tx, e, n);
        /* [u16 len][type][kind][flags]: mark it as replayed. */
        h->tx[4] = CHAT_MESSAGE_HISTORY;
        int rc = chat__conn_queue(h, c, h->tx, n);
        sodium_memzero(h->tx, n);
        if (rc != 0)
            return;
    }
}

static void do_join(chat_hub *h, hub_conn *c, uint32_t req, const char *folded)
{
    hub_room *r = room_find(h, folded);
    if (r != NULL && room_member(r, c)) {
        send_error(h, c, req, CHAT_CODE_ALREADY_IN_ROOM);
        return;
    }
    if (c->nrooms >= h->max_rooms_per_user || (r == NULL && h->nrooms >= h->max_rooms)) {
        send_error(h, c, req, CHAT_CODE_LIMIT);
        return;
    }
    if (r == NULL)
        r = room_create(h, folded);
    if (r == NULL || room_add(h, r, c) != 0) {
        h->nomem = 1;
        send_error(h, c, req, CHAT_CODE_INTERNAL);
        return;
    }
    chat_msg m;
    memset(&m, 0, sizeof m);
    m.type = CHAT_MSG_JOINED;
    m.u.joined.room = str_of(r->name);
    m.u.joined.user = str_of(c->name);
    m.u.joined.time_ms = h->now.wall_ms;
    size_t n;
    if (encode_tx(h, &m, &n) == 0)
        room_broadcast(h, r, h->tx, n);
    if (c->state == HUB_CLOSED)
        return;
    if (r->topic_len > 0) {
        memset(&m, 0, sizeof m);
        m.type = CHAT_MSG_TOPIC_CHANGED;
        m.u.topic_changed.room = str_of(r->name);
        m.u.topic_changed.by = str_of(r->topic_by);
        m.u.topic_changed.time_ms = r->topic_time;
        m.u.topic_changed.topic.p = r->topic;
        m.u.topic_changed.topic.n = r->topic_len;
        if (chat__conn_send(h, c, &m) != 0)
            return;
    }
    history_replay(h, c, r);
    send_names(h, c, req, r);
}

void chat__hub_join_defaults(chat_hub *h, hub_conn *c)
{
    for (size_t i = 0; i < h->ndefrooms && c->state == HUB_READY; i++)
        do_join(h, c, 0, h->defrooms[i]);
}

/* Fold a room or user name from the wire (already validated, so it fits:
 * user names need CHAT_NAME_MAX + 1 bytes, rooms HUB_NAME_CAP). */
static void fold(char *out, chat_str s)
{
    chat_name_fold(out, s.p, s.n);
}

/* The room named s if c is a member; else answers the error and NULL. */
static hub_room *member_room(chat_hub *h, hub_conn *c, uint32_t req, chat_str s)
{
    char name[HUB_NAME_CAP];
    fold(name, s);
    hub_room *r = room_find(h, name);
    if (r == NULL) {
        send_error(h, c, req, CHAT_CODE_NO_SUCH_ROOM);
        return NULL;
    }
    if (!room_member(r, c)) {
        send_error(h, c, req, CHAT_CODE_NOT_IN_ROOM);
        return NULL;
    }
    return r;
}

static void on_part(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    hub_room *r = member_room(h, c, m->req, m->u.room.room);
    if (r == NULL)
        return;
    /* Every member, the leaver included, sees PARTED; then OK. */
    broadcast_parted(h, r, c, CHAT_CODE_PART);
    room_remove(h, r, c);
    send_ok(h, c, m->req);
}

static void on_list(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    list_builder b;
    lb_init(h, &b, c, CHAT_MSG_ROOM_LIST, m->req, NULL);
    for (uint32_t i = 0; i < h->nrooms; i++) {
        const hub_room *r = h->rooms[i];
        uint32_t members = 0;
        for (uint32_t j = 0; j < r->n; j++)
            members += r->m[j].c->state != HUB_CLOSED;
        chat_room_entry e;
        e.room = str_of(r->name);
        e.members = members;
        e.topic.p = r->topic;
        e.topic.n = r->topic_len;
        if (lb_add(h, &b, &e, NULL, NULL) != 0)
            return;
    }
    (void)lb_flush(h, &b, 0);
}

static void on_who(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    char name[HUB_NAME_CAP];
    fold(name, m->u.room.room);
    hub_room *r = room_find(h, name);
    if (r == NULL)
        send_error(h, c, m->req, CHAT_CODE_NO_SUCH_ROOM);
    else
        send_names(h, c, m->req, r);
}

static void on_topic(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    hub_room *r = member_room(h, c, m->req, m->u.topic.room);
    if (r == NULL)
        return;
    chat_str t = m->u.topic.topic;
    uint8_t *copy = NULL;
    if (t.n > 0) {
        copy = chat__alloc(&h->alloc, t.n);
        if (copy == NULL) {
            h->nomem = 1;
            send_error(h, c, m->req, CHAT_CODE_INTERNAL);
            return;
        }
        memcpy(copy, t.p, t.n);
    }
    chat__free(&h->alloc, r->topic);
    r->topic = copy;
    r->topic_len = (uint16_t)t.n;
    memcpy(r->topic_by, c->name, sizeof r->topic_by);
    r->topic_time = h->now.wall_ms;

    chat_msg out;
    memset(&out, 0, sizeof out);
    out.type = CHAT_MSG_TOPIC_CHANGED;
    out.u.topic_changed.room = str_of(r->name);
    out.u.topic_changed.by = str_of(c->name);
    out.u.topic_changed.time_ms = r->topic_time;
    out.u.topic_changed.topic = t;
    size_t n;
    if (encode_tx(h, &out, &n) == 0)
        room_broadcast(h, r, h->tx, n);
    send_ok(h, c, m->req);
}

static void on_send(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    chat_msg out;
    memset(&out, 0, sizeof out);
    out.type = CHAT_MSG_MESSAGE;
    out.u.message.kind = m->u.send.kind;
    out.u.message.flags = 0;
    out.u.message.from = str_of(c->name);
    out.u.message.time_ms = h->now.wall_ms;
    out.u.message.text = m->u.send.text;
    size_t n;
    if (m->u.send.target.n > 0 && m->u.send.target.p[0] == '#') {
        hub_room *r = member_room(h, c, m->req, m->u.send.target);
        if (r == NULL)
            return;
        out.u.message.target = str_of(r->name);
        out.u.message.seq = r->seq + 1;
        if (encode_tx(h, &out, &n) != 0) {
            send_error(h, c, m->req, CHAT_CODE_INTERNAL);
            return;
        }
        r->seq++;
        history_push(h, r, h->tx, n);
        room_broadcast(h, r, h->tx, n);
        sodium_memzero(h->tx, n);
    } else {
        char name[HUB_NAME_CAP];
        fold(name, m->u.send.target);
        char *key = chat__map_get(h, &h->users, name);
        if (key == NULL) {
            send_error(h, c, m->req, CHAT_CODE_NO_SUCH_USER);
            return;
        }
        hub_conn *t = (hub_conn *)(void *)(key - offsetof(hub_conn, name));
        out.u.message.target = str_of(t->name);
        out.u.message.seq = 0;
        if (encode_tx(h, &out, &n) != 0) {
            send_error(h, c, m->req, CHAT_CODE_INTERNAL);
            return;
        }
        (void)chat__conn_queue(h, t, h->tx, n);
        if (t != c)
            (void)chat__conn_queue(h, c, h->tx, n);
        sodium_memzero(h->tx, n);
    }
    send_ok(h, c, m->req);
}

/* ---------------------------------------------------------------------
 * Own password and admin actions
 * ------------------------------------------------------------------- */

static int weak(const chat_hub *h, const chat_verifier *v)
{
    return v->opslimit < h->min_opslimit || v->memlimit_kib < h->min_memlimit_kib;
}

static void on_passwd(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    if (weak(h, &m->u.passwd.v)) {
        send_error(h, c, m->req, CHAT_CODE_WEAK_VERIFIER);
        return;
    }
    chat_account a;
    memset(&a, 0, sizeof a);
    int rc = h->store.get(h->store.ctx, c->name, &a);
    if (rc == CHAT_OK) {
        a.verifier = m->u.passwd.v;
        rc = h->store.put(h->store.ctx, &a, 0);
    }
    sodium_memzero(&a, sizeof a);
    if (rc == CHAT_E_NOTFOUND) {
        send_error(h, c, m->req, CHAT_CODE_NO_SUCH_USER);
        return;
    }
    if (rc != CHAT_OK) {
        send_error(h, c, m->req, CHAT_CODE_INTERNAL);
        return;
    }
    chat__hub_event(h, CHAT_HUB_EV_ADMIN, c, c->name, c->name, CHAT_MSG_PASSWD, 0);
    send_ok(h, c, m->req);
}

static int require_admin(chat_hub *h, hub_conn *c, uint32_t req)
{
    if (c->role == CHAT_ROLE_ADMIN)
        return 1;
    send_error(h, c, req, CHAT_CODE_NOT_ALLOWED);
    return 0;
}

static void on_add_user(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    if (!require_admin(h, c, m->req))
        return;
    chat_account a;
    memset(&a, 0, sizeof a);
    fold(a.name, m->u.add_user.user);
    chat_account old;
    int rc = h->store.get(h->store.ctx, a.name, &old);
    sodium_memzero(&old, sizeof old);
    if (rc == CHAT_OK) {
        send_error(h, c, m->req, CHAT_CODE_USER_EXISTS);
        return;
    }
    if (rc != CHAT_E_NOTFOUND) {
        send_error(h, c, m->req, CHAT_CODE_INTERNAL);
        return;
    }
    if (weak(h, &m->u.add_user.v)) {
        send_error(h, c, m->req, CHAT_CODE_WEAK_VERIFIER);
        return;
    }
    a.role = m->u.add_user.role;
    a.verifier = m->u.add_user.v;
    rc = h->store.put(h->store.ctx, &a, 1);
    sodium_memzero(&a.verifier, sizeof a.verifier);
    if (rc == CHAT_E_EXISTS) {
        send_error(h, c, m->req, CHAT_CODE_USER_EXISTS);
        return;
    }
    if (rc != CHAT_OK) {
        send_error(h, c, m->req, CHAT_CODE_INTERNAL);
        return;
    }
    chat__hub_event(h, CHAT_HUB_EV_ADMIN, c, c->name, a.name, CHAT_MSG_ADD_USER, 0);
    send_ok(h, c, m->req);
}

static hub_conn *online(chat_hub *h, const char *folded)
{
    char *key = chat__map_get(h, &h->users, folded);
    return key != NULL ? (hub_conn *)(void *)(key - offsetof(hub_conn, name)) : NULL;
}

static void on_del_user(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    if (!require_admin(h, c, m->req))
        return;
    char name[HUB_NAME_CAP];
    fold(name, m->u.del_user.user);
    if (strcmp(name, c->name) == 0) {
        send_error(h, c, m->req, CHAT_CODE_NOT_ALLOWED);
        return;
    }
    int rc = h->store.del(h->store.ctx, name);
    if (rc == CHAT_E_NOTFOUND) {
        send_error(h, c, m->req, CHAT_CODE_NO_SUCH_USER);
        return;
    }
    if (rc != CHAT_OK) {
        send_error(h, c, m->req, CHAT_CODE_INTERNAL);
        return;
    }
    chat__hub_event(h, CHAT_HUB_EV_ADMIN, c, c->name, name, CHAT_MSG_DEL_USER, 0);
    hub_conn *t = online(h, name);
    if (t != NULL) {
        chat__conn_end(h, t, CHAT_CODE_DELETED, NULL, 1, 0);
        chat__hub_flush_leaves(h); /* PARTED(DELETED) before our OK */
    }
    send_ok(h, c, m->req);
}

typedef struct users_ctx {
    chat_hub *h;
    list_builder *b;
    int closed;
} users_ctx;

static int users_visit(void *arg, const chat_account *a)
{
    users_ctx *u = arg;
    chat_user_entry e;
    e.user = str_of(a->name);
    e.role = a->role == CHAT_ROLE_ADMIN ? CHAT_ROLE_ADMIN : CHAT_ROLE_USER;
    e.online = online(u->h, a->name) != NULL;
    if (!chat_valid_name(e.user.p, e.user.n))
        return 0; /* a store entry that is not a valid name: skip it */
    if (lb_add(u->h, u->b, NULL, &e, NULL) != 0) {
        u->closed = 1;
        return 1;
    }
    return 0;
}

static void on_users(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    if (!require_admin(h, c, m->req))
        return;
    list_builder b;
    lb_init(h, &b, c, CHAT_MSG_USER_LIST, m->req, NULL);
    users_ctx u = {h, &b, 0};
    size_t mark = c->out.len;
    int rc = h->store.list(h->store.ctx, users_visit, &u);
    if (u.closed || c->state == HUB_CLOSED)
        return;
    if (rc != CHAT_OK) {
        /* Take back the partial list, then report the failure. */
        if (mark == 0)
            chat__buf_free(&c->out, &h->alloc);
        else
            c->out.len = mark;
        send_error(h, c, m->req, CHAT_CODE_INTERNAL);
        return;
    }
    (void)lb_flush(h, &b, 0);
}

static void on_kick(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    if (!require_admin(h, c, m->req))
        return;
    char name[HUB_NAME_CAP];
    fold(name, m->u.kick.user);
    hub_conn *t = online(h, name);
    if (t == NULL) {
        send_error(h, c, m->req, CHAT_CODE_NO_SUCH_USER);
        return;
    }
    if (t == c) {
        /* The OK could not follow our own GOODBYE; quit instead. */
        send_error(h, c, m->req, CHAT_CODE_NOT_ALLOWED);
        return;
    }
    chat__hub_event(h, CHAT_HUB_EV_ADMIN, c, c->name, name, CHAT_MSG_KICK, 0);
    chat__conn_end(h, t, CHAT_CODE_KICKED, &m->u.kick.reason, 1, 0);
    chat__hub_flush_leaves(h); /* PARTED(KICKED) before our OK */
    send_ok(h, c, m->req);
}

static void on_shutdown(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    if (!require_admin(h, c, m->req))
        return;
    send_ok(h, c, m->req);
    chat__hub_event(h, CHAT_HUB_EV_SHUTDOWN, c, c->name, "", CHAT_CODE_SHUTDOWN, 0);
    chat__hub_shutdown_all(h, &m->u.shutdown.reason);
}

void chat__hub_dispatch(chat_hub *h, hub_conn *c, const chat_msg *m)
{
    char name[HUB_NAME_CAP];
    switch (m->type) {
    case CHAT_MSG_JOIN:
        fold(name, m->u.room.room);
        do_join(h, c, m->req, name);
        break;
    case CHAT_MSG_PART:
        on_part(h, c, m);
        break;
    case CHAT_MSG_LIST:
        on_list(h, c, m);
        break;
    case CHAT_MSG_WHO:
        on_who(h, c, m);
        break;
    case CHAT_MSG_TOPIC:
        on_topic(h, c, m);
        break;
    case CHAT_MSG_SEND:
        on_send(h, c, m);
        break;
    case CHAT_MSG_PASSWD:
        on_passwd(h, c, m);
        break;
    case CHAT_MSG_PING:
        send_ok(h, c, m->req);
        break;
    case CHAT_MSG_ADD_USER:
        on_add_user(h, c, m);
        break;
    case CHAT_MSG_DEL_USER:
        on_del_user(h, c, m);
        break;
    case CHAT_MSG_USERS:
        on_users(h, c, m);
        break;
    case CHAT_MSG_KICK:
        on_kick(h, c, m);
        break;
    case CHAT_MSG_SHUTDOWN:
        on_shutdown(h, c, m);
        break;
    default:
        chat__conn_fail(h, c);
        break;
    }
}
