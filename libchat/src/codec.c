/* Wire codec for protocol v1: frames (PROTOCOL.md §2), the HS1 payload and
 * REJECT (§3.2, §3.4), field rules (§5) and application messages (§6).
 *
 * Everything here is a pure function over caller buffers. Decoding goes
 * through a `reader` cursor whose `bad` flag is sticky: once a read runs
 * past the end or a field fails validation, every later read yields zero
 * and the caller checks the flag once at the end. Encoding mirrors it with
 * a `writer` that keeps counting when the buffer is full (so we can tell
 * "too small a buffer" from "too big a message") and a sticky `inval`
 * flag for invalid content. Both sides validate fields with the same
 * helper (field_ok), so whatever the encoder accepts the decoder accepts.
 *
 * Purity: no writable static data and no tables of pointers (they would
 * need relocations in PIC builds); names are returned from switches. */
#include "chat/codec.h"

#include <string.h>

/* ---------------------------------------------------------------------
 * Field rules (§5)
 * ------------------------------------------------------------------- */

/* Kinds of string field; each has its own length range and character set. */
enum field_kind {
    F_USER,   /* user name, 1..32 */
    F_ROOM,   /* room name, 2..33 */
    F_TARGET, /* user or room name */
    F_TEXT,   /* message text, 1..4000 */
    F_TOPIC,  /* topic, 0..300 */
    F_REASON, /* reason / error text, 0..200 */
    F_MOTD    /* MOTD, 0..4000, LF allowed */
};

static int is_letter(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_name_char(uint8_t c)
{
    return is_letter(c) || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

int chat_valid_name(const uint8_t *s, size_t n)
{
    if (s == NULL || n < 1 || n > CHAT_NAME_MAX)
        return 0;
    if (!is_letter(s[0]))
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (!is_name_char(s[i]))
            return 0;
    }
    return 1;
}

int chat_valid_room(const uint8_t *s, size_t n)
{
    if (s == NULL || n < 2 || n > CHAT_ROOM_MAX || s[0] != '#')
        return 0;
    return chat_valid_name(s + 1, n - 1);
}

/* Code points §5.3 forbids in any text: they could move a terminal cursor,
 * change its state or reorder what is displayed. */
static int code_point_allowed(uint32_t c, int allow_lf)
{
    if (c < 0x20)
        return c == 0x0A && allow_lf;
    if (c >= 0x7F && c <= 0x9F) /* DEL and C1 */
        return 0;
    if (c == 0x2028 || c == 0x2029) /* line / paragraph separator */
        return 0;
    if (c >= 0x202A && c <= 0x202E) /* bidi embeddings and overrides */
        return 0;
    if (c >= 0x2066 && c <= 0x2069) /* bidi isolates */
        return 0;
    return 1;
}

int chat_valid_text(const uint8_t *s, size_t n, int allow_lf)
{
    if (n > 0 && s == NULL)
        return 0;
    size_t i = 0;
    while (i < n) {
        /* Printable ASCII (0x20..0x7E, all of it allowed) is most chat
         * text, and every client checks every message it receives, so skip
         * it eight bytes at a time; decoding byte by byte was 19% of a
         * receiving client's CPU. For the eight bytes of w: `lo` is nonzero
         * iff one is below 0x20 (a borrow starts only at such a byte), `hi`
         * iff one is 0x7F or above (adding 1 carries out of a byte only
         * when it is 0xFF, which has its top bit set anyway). */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, sizeof w);
            uint64_t lo = (w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull;
            uint64_t hi = ((w + 0x0101010101010101ull) | w) & 0x8080808080808080ull;
            if ((lo | hi) != 0)
                break;
            i += 8;
        }
        if (i == n)
            break;
        uint8_t b = s[i];
        if (b >= 0x20 && b < 0x7F) {
            i++;
            continue;
        }
        uint32_t c;
        size_t more;   /* continuation bytes that follow the lead byte */
        uint32_t min;  /* smallest code point that needs this many bytes */
        if (b < 0x80) {
            c = b;
            more = 0;
            min = 0;
        } else if (b >= 0xC2 && b <= 0xDF) { /* C0/C1 leads are always overlong */
            c = b & 0x1Fu;
            more = 1;
            min = 0x80;
        } else if (b >= 0xE0 && b <= 0xEF) {
            c = b & 0x0Fu;
            more = 2;
            min = 0x800;
        } else if (b >= 0xF0 && b <= 0xF4) { /* F5..FF would exceed U+10FFFF */
            c = b & 0x07u;
            more = 3;
            min = 0x10000;
        } else {
            return 0; /* stray continuation byte or impossible lead */
        }
        if (more > n - i - 1)
            return 0; /* sequence truncated by the end of the field */
        for (size_t k = 1; k <= more; k++) {
            uint8_t cb = s[i + k];
            if ((cb & 0xC0u) != 0x80u)
                return 0;
            c = (c << 6) | (cb & 0x3Fu);
        }
        if (c < min)
            return 0; /* overlong: not the shortest form */
        if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        if (!code_point_allowed(c, allow_lf))
            return 0;
        i += more + 1;
    }
    return 1;
}

size_t chat_name_fold(char *out, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c - 'A' + 'a');
        out[i] = (char)c;
    }
    out[n] = '\0';
    return n;
}

static int field_ok(chat_str s, enum field_kind kind)
{
    if (s.n > 0 && s.p == NULL)
        return 0;
    switch (kind) {
    case F_USER:
        return chat_valid_name(s.p, s.n);
    case F_ROOM:
        return chat_valid_room(s.p, s.n);
    case F_TARGET:
        return chat_valid_name(s.p, s.n) || chat_valid_room(s.p, s.n);
    case F_TEXT:
        return s.n >= 1 && s.n <= CHAT_TEXT_MAX && chat_valid_text(s.p, s.n, 0);
    case F_TOPIC:
        return s.n <= CHAT_TOPIC_MAX && chat_valid_text(s.p, s.n, 0);
    case F_REASON:
        return s.n <= CHAT_REASON_MAX && chat_valid_text(s.p, s.n, 0);
    case F_MOTD:
        return s.n <= CHAT_MOTD_MAX && chat_valid_text(s.p, s.n, 1);
    }
    return 0;
}

/* kind, role and online are all two-valued. */
static int enum01_ok(uint8_t v)
{
    return v <= 1;
}

/* MESSAGE and the lists define bit 0 only (HISTORY / MORE). */
static int flags_ok(uint8_t f)
{
    return (f & ~0x01u) == 0;
}

/* §4.1: opslimit >= 1, memlimit_kib >= 8. */
static int limits_ok(uint32_t opslimit, uint32_t memlimit_kib)
{
    return opslimit >= 1 && memlimit_kib >= 8;
}

/* ---------------------------------------------------------------------
 * Reader
 * ------------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    size_t left;
    int bad; /* sticky: a read ran short or a field was invalid */
} reader;

/* Take n bytes; NULL (and bad set) if they are not there. Never does
 * arithmetic on a NULL pointer, even for n == 0. */
static const uint8_t *rd_take(reader *r, size_t n)
{
    if (r->bad || n > r->left) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *q = r->p;
    if (n > 0) {
        r->p += n;
        r->left -= n;
    }
    return q;
}

static uint8_t rd_u8(reader *r)
{
    const uint8_t *q = rd_take(r, 1);
    return q ? q[0] : 0;
}

static uint16_t rd_u16(reader *r)
{
    const uint8_t *q = rd_take(r, 2);
    return q ? (uint16_t)((unsigned)q[0] << 8 | q[1]) : 0;
}

static uint32_t rd_u32(reader *r)
{
    const uint8_t *q = rd_take(r, 4);
    if (q == NULL)
        return 0;
    return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}

static uint64_t rd_u64(reader *r)
{
    uint64_t hi = rd_u32(r);
    uint64_t lo = rd_u32(r);
    return hi << 32 | lo;
}

static void rd_copy(reader *r, uint8_t *dst, size_t n)
{
    const uint8_t *q = rd_take(r, n);
    if (q != NULL)
        memcpy(dst, q, n);
    else
        memset(dst, 0, n);
}

static chat_str rd_str(reader *r, size_t n, enum field_kind kind)
{
    chat_str s = {NULL, 0};
    const uint8_t *q = rd_take(r, n);
    if (q == NULL)
        return s;
    s.p = q;
    s.n = n;
    if (!field_ok(s, kind)) {
        r->bad = 1;
        s.p = NULL;
        s.n = 0;
    }
    return s;
}

static chat_str rd_str8(reader *r, enum field_kind kind)
{
    size_t n = rd_u8(r);
    return rd_str(r, n, kind);
}

static chat_str rd_str16(reader *r, enum field_kind kind)
{
    size_t n = rd_u16(r);
    return rd_str(r, n, kind);
}

/* A u8 that must be 0 or 1. */
static uint8_t rd_enum01(reader *r)
{
    uint8_t v = rd_u8(r);
    if (!enum01_ok(v))
        r->bad = 1;
    return v;
}

static uint8_t rd_flags(reader *r)
{
    uint8_t v = rd_u8(r);
    if (!flags_ok(v))
        r->bad = 1;
    return v;
}

static void rd_verifier(reader *r, chat_verifier *v)
{
    rd_copy(r, v->salt, CHAT_SALT_LEN);
    v->opslimit = rd_u32(r);
    v->memlimit_kib = rd_u32(r);
    rd_copy(r, v->pk, CHAT_PK_LEN);
    if (!limits_ok(v->opslimit, v->memlimit_kib))
        r->bad = 1;
}

static void rd_room_entry(reader *r, chat_room_entry *e)
{
    e->room = rd_str8(r, F_ROOM);
    e->members = rd_u32(r);
    e->topic = rd_str16(r, F_TOPIC);
}

static void rd_user_entry(reader *r, chat_user_entry *e)
{
    e->user = rd_str8(r, F_USER);
    e->role = rd_enum01(r);
    e->online = rd_enum01(r);
}

static void rd_name_entry(reader *r, chat_name_entry *e)
{
    e->user = rd_str8(r, F_USER);
}

/* Read `count` entries of list message `type`; stops at the first bad one.
 * The caller then checks that nothing is left over. */
static void rd_entries(reader *r, uint8_t type, uint16_t count)
{
    for (unsigned i = 0; i < count && !r->bad; i++) {
        switch (type) {
        case CHAT_MSG_ROOM_LIST: {
            chat_room_entry e;
            rd_room_entry(r, &e);
            break;
        }
        case CHAT_MSG_USER_LIST: {
            chat_user_entry e;
            rd_user_entry(r, &e);
            break;
        }
        case CHAT_MSG_NAMES: {
            chat_name_entry e;
            rd_name_entry(r, &e);
            break;
        }
        default:
            r->bad = 1;
            break;
        }
    }
}

/* ---------------------------------------------------------------------
 * Writer
 * ------------------------------------------------------------------- */

typedef struct writer {
    uint8_t *p;
    size_t cap;
    size_t len;  /* bytes the output needs so far, even past cap */
    int inval;   /* sticky: some field was invalid */
} writer;

/* Append n bytes if they fit; count them either way (saturating, so a
 * silly caller length cannot wrap the count). */
static void wr_bytes(writer *w, const uint8_t *src, size_t n)
{
    if (n == 0)
        return;
    if (w->len <= w->cap && n <= w->cap - w->len)
        memcpy(w->p + w->len, src, n);
    w->len = (n > SIZE_MAX - w->len) ? SIZE_MAX : w->len + n;
}

static void wr_u8(writer *w, uint8_t v)
{
    wr_bytes(w, &v, 1);
}

static void wr_u16(writer *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    wr_bytes(w, b, 2);
}

static void wr_u32(writer *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    wr_bytes(w, b, 4);
}

static void wr_u64(writer *w, uint64_t v)
{
    wr_u32(w, (uint32_t)(v >> 32));
    wr_u32(w, (uint32_t)v);
}

/* A string with a `prefix`-byte (1 or 2) length. Invalid content marks the
 * writer and writes nothing, so no pointer from a bad chat_str is read. */
static void wr_str(writer *w, chat_str s, enum field_kind kind, int prefix)
{
    size_t max = prefix == 1 ? 0xFFu : 0xFFFFu;
    if (s.n > max || !field_ok(s, kind)) {
        w->inval = 1;
        return;
    }
    if (prefix == 1)
        wr_u8(w, (uint8_t)s.n);
    else
        wr_u16(w, (uint16_t)s.n);
    wr_bytes(w, s.p, s.n);
}

static void wr_str8(writer *w, chat_str s, enum field_kind kind)
{
    wr_str(w, s, kind, 1);
}

static void wr_str16(writer *w, chat_str s, enum field_kind kind)
{
    wr_str(w, s, kind, 2);
}

static void wr_enum01(writer *w, uint8_t v)
{
    if (!enum01_ok(v))
        w->inval = 1;
    wr_u8(w, v);
}

static void wr_flags(writer *w, uint8_t v)
{
    if (!flags_ok(v))
        w->inval = 1;
    wr_u8(w, v);
}

static void wr_verifier(writer *w, const chat_verifier *v)
{
    if (!limits_ok(v->opslimit, v->memlimit_kib))
        w->inval = 1;
    wr_bytes(w, v->salt, CHAT_SALT_LEN);
    wr_u32(w, v->opslimit);
    wr_u32(w, v->memlimit_kib);
    wr_bytes(w, v->pk, CHAT_PK_LEN);
}

/* Check that entries[0..len) holds exactly `count` valid entries of list
 * type `type`, then copy them. */
static void wr_entries(writer *w, uint8_t type, uint16_t count, const uint8_t *entries,
                       size_t len)
{
    if (len > 0 && entries == NULL) {
        w->inval = 1;
        return;
    }
    reader r = {entries, len, 0};
    rd_entries(&r, type, count);
    if (r.bad || r.left != 0) {
        w->inval = 1;
        return;
    }
    wr_bytes(w, entries, len);
}

/* ---------------------------------------------------------------------
 * Frames (§2)
 * ------------------------------------------------------------------- */

static int frame_type_known(uint8_t t)
{
    return t >= CHAT_FRAME_HS1 && t <= CHAT_FRAME_TRANSPORT;
}

int chat_frame_decode(const uint8_t *in, size_t len, chat_frame *f, size_t *used)
{
    f->type = 0;
    f->body = NULL;
    f->body_len = 0;
    *used = 0;
    if (len < 2)
        return CHAT_E_AGAIN;
    size_t flen = (size_t)in[0] << 8 | in[1];
    if (flen == 0)
        return CHAT_E_PROTO;
    if (len < CHAT_FRAME_HEADER)
        return CHAT_E_AGAIN;
    /* Reject an unknown type before waiting for the body (§2). */
    if (!frame_type_known(in[2]))
        return CHAT_E_PROTO;
    if (len - 2 < flen)
        return CHAT_E_AGAIN;
    f->type = in[2];
    f->body = in + CHAT_FRAME_HEADER;
    f->body_len = flen - 1;
    *used = 2 + flen;
    return CHAT_OK;
}

void chat_frame_header(uint8_t out[CHAT_FRAME_HEADER], uint8_t type, size_t body_len)
{
    /* Precondition body_len <= CHAT_FRAME_BODY_MAX; the cast truncates
     * otherwise, which the caller must not rely on. */
    size_t flen = body_len + 1;
    out[0] = (uint8_t)(flen >> 8);
    out[1] = (uint8_t)flen;
    out[2] = type;
}

/* ---------------------------------------------------------------------
 * HS1 payload and REJECT (§3.2, §3.4)
 * ------------------------------------------------------------------- */

static int version_range_ok(uint8_t vmin, uint8_t vmax)
{
    return vmin >= 1 && vmin <= vmax;
}

void chat_hs1_payload_encode(uint8_t out[CHAT_HS1_PAYLOAD_LEN], uint8_t vmin, uint8_t vmax)
{
    memcpy(out, CHAT_MAGIC, CHAT_MAGIC_LEN);
    out[4] = vmin;
    out[5] = vmax;
}

int chat_hs1_payload_decode(const uint8_t *in, size_t len, uint8_t *vmin, uint8_t *vmax)
{
    *vmin = 0;
    *vmax = 0;
    if (in == NULL || len != CHAT_HS1_PAYLOAD_LEN)
        return CHAT_E_PROTO;
    if (memcmp(in, CHAT_MAGIC, CHAT_MAGIC_LEN) != 0)
        return CHAT_E_PROTO;
    if (!version_range_ok(in[4], in[5]))
        return CHAT_E_PROTO;
    *vmin = in[4];
    *vmax = in[5];
    return CHAT_OK;
}

int chat_reject_encode(const chat_reject *r, uint8_t *out, size_t cap, size_t *len)
{
    *len = 0;
    writer w = {out, cap, 0, 0};
    if (!version_range_ok(r->version_min, r->version_max))
        w.inval = 1;
    wr_bytes(&w, (const uint8_t *)CHAT_MAGIC, CHAT_MAGIC_LEN);
    wr_u8(&w, r->version_min);
    wr_u8(&w, r->version_max);
    wr_u16(&w, r->code);
    wr_str8(&w, r->text, F_REASON);
    if (w.inval)
        return CHAT_E_INVAL;
    if (w.len > cap)
        return CHAT_E_FULL;
    *len = w.len;
    return CHAT_OK;
}

int chat_reject_decode(const uint8_t *in, size_t len, chat_reject *r)
{
    memset(r, 0, sizeof *r);
    if (in == NULL)
        return CHAT_E_PROTO;
    reader rd = {in, len, 0};
    const uint8_t *magic = rd_take(&rd, CHAT_MAGIC_LEN);
    if (magic == NULL || memcmp(magic, CHAT_MAGIC, CHAT_MAGIC_LEN) != 0)
        return CHAT_E_PROTO;
    uint8_t vmin = rd_u8(&rd);
    uint8_t vmax = rd_u8(&rd);
    uint16_t code = rd_u16(&rd);
    chat_str text = rd_str8(&rd, F_REASON);
    if (rd.bad || rd.left != 0 || !version_range_ok(vmin, vmax))
        return CHAT_E_PROTO;
    r->version_min = vmin;
    r->version_max = vmax;
    r->code = code;
    r->text = text;
    return CHAT_OK;
}

/* ---------------------------------------------------------------------
 * List entries
 * ------------------------------------------------------------------- */

/* Entries are put in two passes so that a failed put writes nothing: a
 * dry run with a zero-capacity writer validates the entry and sizes it,
 * then the real pass writes it. */
static int entry_fits(const writer *dry, size_t cap, size_t len)
{
    if (dry->inval)
        return CHAT_E_INVAL;
    if (len > cap || dry->len > cap - len)
        return CHAT_E_FULL;
    return CHAT_OK;
}

static void wr_room_entry(writer *w, const chat_room_entry *e)
{
    wr_str8(w, e->room, F_ROOM);
    wr_u32(w, e->members);
    wr_str16(w, e->topic, F_TOPIC);
}

static void wr_user_entry(writer *w, const chat_user_entry *e)
{
    wr_str8(w, e->user, F_USER);
    wr_enum01(w, e->role);
    wr_enum01(w, e->online);
}

static void wr_name_entry(writer *w, const chat_name_entry *e)
{
    wr_str8(w, e->user, F_USER);
}

int chat_entry_put_room(uint8_t *out, size_t cap, size_t *len, const chat_room_entry *e)
{
    writer dry = {NULL, 0, 0, 0};
    wr_room_entry(&dry, e);
    int rc = entry_fits(&dry, cap, *len);
    if (rc != CHAT_OK)
        return rc;
    writer w = {out, cap, *len, 0};
    wr_room_entry(&w, e);
    *len = w.len;
    return CHAT_OK;
}

int chat_entry_put_user(uint8_t *out, size_t cap, size_t *len, const chat_user_entry *e)
{
    writer dry = {NULL, 0, 0, 0};
    wr_user_entry(&dry, e);
    int rc = entry_fits(&dry, cap, *len);
    if (rc != CHAT_OK)
        return rc;
    writer w = {out, cap, *len, 0};
    wr_user_entry(&w, e);
    *len = w.len;
    return CHAT_OK;
}

int chat_entry_put_name(uint8_t *out, size_t cap, size_t *len, const chat_name_entry *e)
{
    writer dry = {NULL, 0, 0, 0};
    wr_name_entry(&dry, e);
    int rc = entry_fits(&dry, cap, *len);
    if (rc != CHAT_OK)
        return rc;
    writer w = {out, cap, *len, 0};
    wr_name_entry(&w, e);
    *len = w.len;
    return CHAT_OK;
}

int chat_entry_get_room(const uint8_t **p, size_t *left, chat_room_entry *e)
{
    reader r = {*p, *left, 0};
    rd_room_entry(&r, e);
    if (r.bad) {
        memset(e, 0, sizeof *e);
        return CHAT_E_PROTO;
    }
    *p = r.p;
    *left = r.left;
    return CHAT_OK;
}

int chat_entry_get_user(const uint8_t **p, size_t *left, chat_user_entry *e)
{
    reader r = {*p, *left, 0};
    rd_user_entry(&r, e);
    if (r.bad) {
        memset(e, 0, sizeof *e);
        return CHAT_E_PROTO;
    }
    *p = r.p;
    *left = r.left;
    return CHAT_OK;
}

int chat_entry_get_name(const uint8_t **p, size_t *left, chat_name_entry *e)
{
    reader r = {*p, *left, 0};
    rd_name_entry(&r, e);
    if (r.bad) {
        memset(e, 0, sizeof *e);
        return CHAT_E_PROTO;
    }
    *p = r.p;
    *left = r.left;
    return CHAT_OK;
}

/* ---------------------------------------------------------------------
 * Messages (§6)
 * ------------------------------------------------------------------- */

/* Largest [type][body]: the whole plaintext minus the u16 length prefix. */
#define MSG_BODY_MAX (CHAT_MSG_MAX - 2)

int chat_msg_encode(const chat_msg *m, uint8_t *out, size_t cap, size_t *len)
{
    *len = 0;
    writer w = {out, cap, 0, 0};
    wr_u16(&w, 0); /* length prefix, filled in at the end */
    wr_u8(&w, m->type);

    switch (m->type) {
    case CHAT_MSG_LOGIN:
        wr_str8(&w, m->u.login.user, F_USER);
        break;
    case CHAT_MSG_PROOF:
        wr_bytes(&w, m->u.proof.sig, CHAT_SIG_LEN);
        break;
    case CHAT_MSG_JOIN:
    case CHAT_MSG_PART:
    case CHAT_MSG_WHO:
        wr_u32(&w, m->req);
        wr_str8(&w, m->u.room.room, F_ROOM);
        break;
    case CHAT_MSG_LIST:
    case CHAT_MSG_PING:
    case CHAT_MSG_USERS:
    case CHAT_MSG_OK:
        wr_u32(&w, m->req);
        break;
    case CHAT_MSG_TOPIC:
        wr_u32(&w, m->req);
        wr_str8(&w, m->u.topic.room, F_ROOM);
        wr_str16(&w, m->u.topic.topic, F_TOPIC);
        break;
    case CHAT_MSG_SEND:
        wr_u32(&w, m->req);
        wr_enum01(&w, m->u.send.kind);
        wr_str8(&w, m->u.send.target, F_TARGET);
        wr_str16(&w, m->u.send.text, F_TEXT);
        break;
    case CHAT_MSG_PASSWD:
        wr_u32(&w, m->req);
        wr_verifier(&w, &m->u.passwd.v);
        break;
    case CHAT_MSG_ADD_USER:
        wr_u32(&w, m->req);
        wr_str8(&w, m->u.add_user.user, F_USER);
        wr_enum01(&w, m->u.add_user.role);
        wr_verifier(&w, &m->u.add_user.v);
        break;
    case CHAT_MSG_DEL_USER:
        wr_u32(&w, m->req);
        wr_str8(&w, m->u.del_user.user, F_USER);
        break;
    case CHAT_MSG_KICK:
        wr_u32(&w, m->req);
        wr_str8(&w, m->u.kick.user, F_USER);
        wr_str8(&w, m->u.kick.reason, F_REASON);
        break;
    case CHAT_MSG_SHUTDOWN:
        wr_u32(&w, m->req);
        wr_str8(&w, m->u.shutdown.reason, F_REASON);
        break;
    case CHAT_MSG_GOODBYE:
        wr_u16(&w, m->u.goodbye.code);
        wr_str8(&w, m->u.goodbye.text, F_REASON);
        break;
    case CHAT_MSG_CHALLENGE:
        if (!limits_ok(m->u.challenge.opslimit, m->u.challenge.memlimit_kib))
            w.inval = 1;
        wr_bytes(&w, m->u.challenge.salt, CHAT_SALT_LEN);
        wr_u32(&w, m->u.challenge.opslimit);
        wr_u32(&w, m->u.challenge.memlimit_kib);
        break;
    case CHAT_MSG_LOGIN_FAILED:
        wr_u16(&w, m->u.login_failed.code);
        wr_u8(&w, m->u.login_failed.attempts_left);
        wr_str8(&w, m->u.login_failed.text, F_REASON);
        break;
    case CHAT_MSG_WELCOME:
        wr_str8(&w, m->u.welcome.user, F_USER);
        wr_enum01(&w, m->u.welcome.role);
        wr_u64(&w, m->u.welcome.time_ms);
        wr_str16(&w, m->u.welcome.motd, F_MOTD);
        break;
    case CHAT_MSG_ERROR:
        wr_u32(&w, m->req);
        wr_u16(&w, m->u.error.code);
        wr_str8(&w, m->u.error.text, F_REASON);
        break;
    case CHAT_MSG_ROOM_LIST:
    case CHAT_MSG_USER_LIST:
        wr_u32(&w, m->req);
        wr_flags(&w, m->u.list.flags);
        wr_u16(&w, m->u.list.count);
        wr_entries(&w, m->type, m->u.list.count, m->u.list.entries, m->u.list.entries_len);
        break;
    case CHAT_MSG_NAMES:
        wr_u32(&w, m->req);
        wr_str8(&w, m->u.names.room, F_ROOM);
        wr_flags(&w, m->u.names.flags);
        wr_u16(&w, m->u.names.count);
        wr_entries(&w, m->type, m->u.names.count, m->u.names.entries, m->u.names.entries_len);
        break;
    case CHAT_MSG_MESSAGE:
        wr_enum01(&w, m->u.message.kind);
        wr_flags(&w, m->u.message.flags);
        wr_str8(&w, m->u.message.target, F_TARGET);
        wr_str8(&w, m->u.message.from, F_USER);
        wr_u64(&w, m->u.message.seq);
        wr_u64(&w, m->u.message.time_ms);
        wr_str16(&w, m->u.message.text, F_TEXT);
        break;
    case CHAT_MSG_JOINED:
        wr_str8(&w, m->u.joined.room, F_ROOM);
        wr_str8(&w, m->u.joined.user, F_USER);
        wr_u64(&w, m->u.joined.time_ms);
        break;
    case CHAT_MSG_PARTED:
        wr_str8(&w, m->u.parted.room, F_ROOM);
        wr_str8(&w, m->u.parted.user, F_USER);
        wr_u16(&w, m->u.parted.reason);
        wr_u64(&w, m->u.parted.time_ms);
        break;
    case CHAT_MSG_TOPIC_CHANGED:
        wr_str8(&w, m->u.topic_changed.room, F_ROOM);
        wr_str8(&w, m->u.topic_changed.by, F_USER);
        wr_u64(&w, m->u.topic_changed.time_ms);
        wr_str16(&w, m->u.topic_changed.topic, F_TOPIC);
        break;
    default:
        return CHAT_E_INVAL;
    }

    if (w.inval)
        return CHAT_E_INVAL;
    /* Only a list can get this big; the server must split it (§6.2). */
    if (w.len > CHAT_MSG_MAX)
        return CHAT_E_TOOBIG;
    if (w.len > cap)
        return CHAT_E_FULL;
    size_t body = w.len - 2;
    out[0] = (uint8_t)(body >> 8);
    out[1] = (uint8_t)body;
    *len = w.len;
    return CHAT_OK;
}

int chat_msg_decode(const uint8_t *in, size_t len, chat_msg *m)
{
    memset(m, 0, sizeof *m);
    /* A [type][body] bigger than a transport plaintext allows can never
     * arrive in a valid frame, and the encoder never produces one. */
    if (in == NULL || len < 1 || len > MSG_BODY_MAX)
        return CHAT_E_PROTO;
    reader r = {in, len, 0};
    m->type = rd_u8(&r);

    switch (m->type) {
    case CHAT_MSG_LOGIN:
        m->u.login.user = rd_str8(&r, F_USER);
        break;
    case CHAT_MSG_PROOF:
        rd_copy(&r, m->u.proof.sig, CHAT_SIG_LEN);
        break;
    case CHAT_MSG_JOIN:
    case CHAT_MSG_PART:
    case CHAT_MSG_WHO:
        m->req = rd_u32(&r);
        m->u.room.room = rd_str8(&r, F_ROOM);
        break;
    case CHAT_MSG_LIST:
    case CHAT_MSG_PING:
    case CHAT_MSG_USERS:
    case CHAT_MSG_OK:
        m->req = rd_u32(&r);
        break;
    case CHAT_MSG_TOPIC:
        m->req = rd_u32(&r);
        m->u.topic.room = rd_str8(&r, F_ROOM);
        m->u.topic.topic = rd_str16(&r, F_TOPIC);
        break;
    case CHAT_MSG_SEND:
        m->req = rd_u32(&r);
        m->u.send.kind = rd_enum01(&r);
        m->u.send.target = rd_str8(&r, F_TARGET);
        m->u.send.text = rd_str16(&r, F_TEXT);
        break;
    case CHAT_MSG_PASSWD:
        m->req = rd_u32(&r);
        rd_verifier(&r, &m->u.passwd.v);
        break;
    case CHAT_MSG_ADD_USER:
        m->req = rd_u32(&r);
        m->u.add_user.user = rd_str8(&r, F_USER);
        m->u.add_user.role = rd_enum01(&r);
        rd_verifier(&r, &m->u.add_user.v);
        break;
    case CHAT_MSG_DEL_USER:
        m->req = rd_u32(&r);
        m->u.del_user.user = rd_str8(&r, F_USER);
        break;
    case CHAT_MSG_KICK:
        m->req = rd_u32(&r);
        m->u.kick.user = rd_str8(&r, F_USER);
        m->u.kick.reason = rd_str8(&r, F_REASON);
        break;
    case CHAT_MSG_SHUTDOWN:
        m->req = rd_u32(&r);
        m->u.shutdown.reason = rd_str8(&r, F_REASON);
        break;
    case CHAT_MSG_GOODBYE:
        m->u.goodbye.code = rd_u16(&r);
        m->u.goodbye.text = rd_str8(&r, F_REASON);
        break;
    case CHAT_MSG_CHALLENGE:
        rd_copy(&r, m->u.challenge.salt, CHAT_SALT_LEN);
        m->u.challenge.opslimit = rd_u32(&r);
        m->u.challenge.memlimit_kib = rd_u32(&r);
        if (!limits_ok(m->u.challenge.opslimit, m->u.challenge.memlimit_kib))
            r.bad = 1;
        break;
    case CHAT_MSG_LOGIN_FAILED:
        m->u.login_failed.code = rd_u16(&r);
        m->u.login_failed.attempts_left = rd_u8(&r);
        m->u.login_failed.text = rd_str8(&r, F_REASON);
        break;
    case CHAT_MSG_WELCOME:
        m->u.welcome.user = rd_str8(&r, F_USER);
        m->u.welcome.role = rd_enum01(&r);
        m->u.welcome.time_ms = rd_u64(&r);
        m->u.welcome.motd = rd_str16(&r, F_MOTD);
        break;
    case CHAT_MSG_ERROR:
        m->req = rd_u32(&r);
        m->u.error.code = rd_u16(&r);
        m->u.error.text = rd_str8(&r, F_REASON);
        break;
    case CHAT_MSG_ROOM_LIST:
    case CHAT_MSG_USER_LIST:
        m->req = rd_u32(&r);
        m->u.list.flags = rd_flags(&r);
        m->u.list.count = rd_u16(&r);
        /* The entries are the rest of the message: exactly `count` of them. */
        m->u.list.entries = r.p;
        m->u.list.entries_len = r.left;
        rd_entries(&r, m->type, m->u.list.count);
        break;
    case CHAT_MSG_NAMES:
        m->req = rd_u32(&r);
        m->u.names.room = rd_str8(&r, F_ROOM);
        m->u.names.flags = rd_flags(&r);
        m->u.names.count = rd_u16(&r);
        m->u.names.entries = r.p;
        m->u.names.entries_len = r.left;
        rd_entries(&r, m->type, m->u.names.count);
        break;
    case CHAT_MSG_MESSAGE:
        m->u.message.kind = rd_enum01(&r);
        m->u.message.flags = rd_flags(&r);
        m->u.message.target = rd_str8(&r, F_TARGET);
        m->u.message.from = rd_str8(&r, F_USER);
        m->u.message.seq = rd_u64(&r);
        m->u.message.time_ms = rd_u64(&r);
        m->u.message.text = rd_str16(&r, F_TEXT);
        break;
    case CHAT_MSG_JOINED:
        m->u.joined.room = rd_str8(&r, F_ROOM);
        m->u.joined.user = rd_str8(&r, F_USER);
        m->u.joined.time_ms = rd_u64(&r);
        break;
    case CHAT_MSG_PARTED:
        m->u.parted.room = rd_str8(&r, F_ROOM);
        m->u.parted.user = rd_str8(&r, F_USER);
        m->u.parted.reason = rd_u16(&r);
        m->u.parted.time_ms = rd_u64(&r);
        break;
    case CHAT_MSG_TOPIC_CHANGED:
        m->u.topic_changed.room = rd_str8(&r, F_ROOM);
        m->u.topic_changed.by = rd_str8(&r, F_USER);
        m->u.topic_changed.time_ms = rd_u64(&r);
        m->u.topic_changed.topic = rd_str16(&r, F_TOPIC);
        break;
    default:
        r.bad = 1;
        break;
    }

    if (r.bad || r.left != 0) {
        memset(m, 0, sizeof *m);
        return CHAT_E_PROTO;
    }
    return CHAT_OK;
}

int chat_msg_next(const uint8_t **p, size_t *left, chat_msg *m)
{
    memset(m, 0, sizeof *m);
    const uint8_t *in = *p;
    size_t n = *left;
    if (in == NULL || n < 2)
        return CHAT_E_PROTO;
    size_t mlen = (size_t)in[0] << 8 | in[1];
    if (mlen < 1 || mlen > n - 2)
        return CHAT_E_PROTO;
    int rc = chat_msg_decode(in + 2, mlen, m);
    if (rc != CHAT_OK)
        return rc;
    *p = in + 2 + mlen;
    *left = n - 2 - mlen;
    return CHAT_OK;
}

/* ---------------------------------------------------------------------
 * Names and directions
 * ------------------------------------------------------------------- */

unsigned chat_msg_direction(unsigned type)
{
    switch (type) {
    case CHAT_MSG_LOGIN:
    case CHAT_MSG_PROOF:
    case CHAT_MSG_JOIN:
    case CHAT_MSG_PART:
    case CHAT_MSG_LIST:
    case CHAT_MSG_WHO:
    case CHAT_MSG_TOPIC:
    case CHAT_MSG_SEND:
    case CHAT_MSG_PASSWD:
    case CHAT_MSG_PING:
    case CHAT_MSG_ADD_USER:
    case CHAT_MSG_DEL_USER:
    case CHAT_MSG_USERS:
    case CHAT_MSG_KICK:
    case CHAT_MSG_SHUTDOWN:
        return CHAT_DIR_C2S;
    case CHAT_MSG_GOODBYE:
        return CHAT_DIR_C2S | CHAT_DIR_S2C;
    case CHAT_MSG_CHALLENGE:
    case CHAT_MSG_LOGIN_FAILED:
    case CHAT_MSG_WELCOME:
    case CHAT_MSG_OK:
    case CHAT_MSG_ERROR:
    case CHAT_MSG_ROOM_LIST:
    case CHAT_MSG_NAMES:
    case CHAT_MSG_USER_LIST:
    case CHAT_MSG_MESSAGE:
    case CHAT_MSG_JOINED:
    case CHAT_MSG_PARTED:
    case CHAT_MSG_TOPIC_CHANGED:
        return CHAT_DIR_S2C;
    default:
        return 0;
    }
}

const char *chat_msg_name(unsigned type)
{
    switch (type) {
    case CHAT_MSG_LOGIN: return "LOGIN";
    case CHAT_MSG_PROOF: return "PROOF";
    case CHAT_MSG_JOIN: return "JOIN";
    case CHAT_MSG_PART: return "PART";
    case CHAT_MSG_LIST: return "LIST";
    case CHAT_MSG_WHO: return "WHO";
    case CHAT_MSG_TOPIC: return "TOPIC";
    case CHAT_MSG_SEND: return "SEND";
    case CHAT_MSG_PASSWD: return "PASSWD";
    case CHAT_MSG_PING: return "PING";
    case CHAT_MSG_ADD_USER: return "ADD_USER";
    case CHAT_MSG_DEL_USER: return "DEL_USER";
    case CHAT_MSG_USERS: return "USERS";
    case CHAT_MSG_KICK: return "KICK";
    case CHAT_MSG_SHUTDOWN: return "SHUTDOWN";
    case CHAT_MSG_GOODBYE: return "GOODBYE";
    case CHAT_MSG_CHALLENGE: return "CHALLENGE";
    case CHAT_MSG_LOGIN_FAILED: return "LOGIN_FAILED";
    case CHAT_MSG_WELCOME: return "WELCOME";
    case CHAT_MSG_OK: return "OK";
    case CHAT_MSG_ERROR: return "ERROR";
    case CHAT_MSG_ROOM_LIST: return "ROOM_LIST";
    case CHAT_MSG_NAMES: return "NAMES";
    case CHAT_MSG_USER_LIST: return "USER_LIST";
    case CHAT_MSG_MESSAGE: return "MESSAGE";
    case CHAT_MSG_JOINED: return "JOINED";
    case CHAT_MSG_PARTED: return "PARTED";
    case CHAT_MSG_TOPIC_CHANGED: return "TOPIC_CHANGED";
    default: return NULL;
    }
}

const char *chat_code_name(unsigned code)
{
    switch (code) {
    case CHAT_CODE_PROTOCOL: return "PROTOCOL";
    case CHAT_CODE_VERSION: return "VERSION";
    case CHAT_CODE_BAD_LOGIN: return "BAD_LOGIN";
    case CHAT_CODE_AUTH_LIMIT: return "AUTH_LIMIT";
    case CHAT_CODE_ALREADY_ONLINE: return "ALREADY_ONLINE";
    case CHAT_CODE_RATE_LIMITED: return "RATE_LIMITED";
    case CHAT_CODE_NOT_ALLOWED: return "NOT_ALLOWED";
    case CHAT_CODE_NO_SUCH_USER: return "NO_SUCH_USER";
    case CHAT_CODE_NO_SUCH_ROOM: return "NO_SUCH_ROOM";
    case CHAT_CODE_NOT_IN_ROOM: return "NOT_IN_ROOM";
    case CHAT_CODE_ALREADY_IN_ROOM: return "ALREADY_IN_ROOM";
    case CHAT_CODE_USER_EXISTS: return "USER_EXISTS";
    case CHAT_CODE_WEAK_VERIFIER: return "WEAK_VERIFIER";
    case CHAT_CODE_LIMIT: return "LIMIT";
    case CHAT_CODE_SERVER_FULL: return "SERVER_FULL";
    case CHAT_CODE_INTERNAL: return "INTERNAL";
    case CHAT_CODE_QUIT: return "QUIT";
    case CHAT_CODE_KICKED: return "KICKED";
    case CHAT_CODE_SHUTDOWN: return "SHUTDOWN";
    case CHAT_CODE_TOO_SLOW: return "TOO_SLOW";
    case CHAT_CODE_IDLE: return "IDLE";
    case CHAT_CODE_DELETED: return "DELETED";
    case CHAT_CODE_CONN_LOST: return "CONN_LOST";
    case CHAT_CODE_PART: return "PART";
    case CHAT_CODE_LOGIN_TIMEOUT: return "LOGIN_TIMEOUT";
    default: return NULL;
    }
}

int chat_name_key(char key[CHAT_NAME_MAX + 1], const char *name)
{
    if (name == NULL)
        return 0;
    size_t n = 0;
    while (n <= CHAT_NAME_MAX && name[n] != '\0')
        n++;
    if (n > CHAT_NAME_MAX || !chat_valid_name((const uint8_t *)name, n))
        return 0;
    chat_name_fold(key, (const uint8_t *)name, n);
    return 1;
}
