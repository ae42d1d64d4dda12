/* X25519 private key files: format detection, a strict PKCS#8 reader and
 * writer, and 0600 atomic saving. See keyfile.h. */
#include "keyfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "fileutil.h"


/* What openssl genpkey writes to get an X25519 key. */
#define HOWTO "openssl genpkey -algorithm X25519"

/* ---- PKCS#8 ----------------------------------------------------------
 *
 * RFC 5208 / RFC 8410 (OneAsymmetricKey, version 0), for X25519:
 *
 *   30 2e                  SEQUENCE, 46 bytes
 *      02 01 00            INTEGER 0 (version)
 *      30 05               SEQUENCE (AlgorithmIdentifier)
 *         06 03 2b 65 6e   OID 1.3.101.110 (X25519), no parameters
 *      04 22               OCTET STRING (privateKey)
 *         04 20 <32>       OCTET STRING: CurvePrivateKey
 */
static const uint8_t pkcs8_prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                         0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20};
#define PKCS8_LEN (sizeof pkcs8_prefix + KF_KEY_LEN)
static const uint8_t oid_x25519[3] = {0x2b, 0x65, 0x6e};

#define TAG_INTEGER 0x02
#define TAG_OCTET_STRING 0x04
#define TAG_OID 0x06
#define TAG_SEQUENCE 0x30

/* A DER cursor over p[0..n). */
typedef struct der {
    const uint8_t *p;
    size_t n;
} der;

/* Read one element with the given tag from d into *content. DER only:
 * definite, minimal lengths (keys are small: at most two length bytes). */
static int der_next(der *d, uint8_t tag, der *content, const char *what, char *err,
                    size_t errlen)
{
    if (d->n == 0)
        return fu_fail(err, errlen, KF_E_FORMAT, "the PKCS#8 structure ends before %s", what);
    if (d->p[0] != tag)
        return fu_fail(err, errlen, KF_E_FORMAT,
                    "the PKCS#8 structure has an unexpected element (tag 0x%02x) where %s "
                    "should be",
                    d->p[0], what);
    if (d->n < 2)
        return fu_fail(err, errlen, KF_E_FORMAT, "the PKCS#8 structure is truncated in %s", what);
    size_t len, hdr;
    uint8_t l0 = d->p[1];
    if (l0 < 0x80) {
        len = l0;
        hdr = 2;
    } else if (l0 == 0x81 && d->n >= 3 && d->p[2] >= 0x80) {
        len = d->p[2];
        hdr = 3;
    } else if (l0 == 0x82 && d->n >= 4 && d->p[2] != 0) {
        len = (size_t)d->p[2] << 8 | d->p[3];
        hdr = 4;
    } else {
        return fu_fail(err, errlen, KF_E_FORMAT,
                    "the PKCS#8 structure has an invalid or non-DER length in %s", what);
    }
    if (len > d->n - hdr)
        return fu_fail(err, errlen, KF_E_FORMAT, "the PKCS#8 structure is truncated in %s", what);
    content->p = d->p + hdr;
    content->n = len;
    d->p += hdr + len;
    d->n -= hdr + len;
    return KF_OK;
}

/* Dotted form of an OID's content bytes, for messages. */
static void oid_text(const der *oid, char *out, size_t outlen)
{
    size_t pos = 0;
    uint64_t arc = 0;
    int first = 1;
    out[0] = '\0';
    for (size_t i = 0; i < oid->n; i++) {
        if (arc > (UINT64_MAX >> 7)) {
            (void)snprintf(out, outlen, "(invalid)");
            return;
        }
        arc = arc << 7 | (oid->p[i] & 0x7f);
        if (oid->p[i] & 0x80)
            continue;
        int n;
        if (first) {
            uint64_t a = arc < 40 ? 0 : arc < 80 ? 1 : 2;
            n = snprintf(out + pos, outlen - pos, "%llu.%llu", (unsigned long long)a,
                         (unsigned long long)(arc - 40 * a));
            first = 0;
        } else {
            n = snprintf(out + pos, outlen - pos, ".%llu", (unsigned long long)arc);
        }
        if (n < 0 || (size_t)n >= outlen - pos)
            return;
        pos += (size_t)n;
        arc = 0;
    }
    if (oid->n == 0 || (oid->p[oid->n - 1] & 0x80))
        (void)snprintf(out, outlen, "(invalid)");
}

/* The usual name of an algorithm OID found in keys, for messages. */
static const char *oid_name(const char *dotted)
{
    static const struct {
        const char *oid, *name;
    } names[] = {
        {"1.3.101.110", "X25519"},
        {"1.3.101.111", "X448"},
        {"1.3.101.112", "Ed25519"},
        {"1.3.101.113", "Ed448"},
        {"1.2.840.10045.2.1", "EC"},
        {"1.2.840.113549.1.1.1", "RSA"},
        {"1.2.840.113549.1.1.10", "RSA-PSS"},
        {"1.2.840.10040.4.1", "DSA"},
        {"1.2.840.113549.1.3.1", "DH"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(dotted, names[i].oid) == 0)
            return names[i].name;
    }
    return "an unknown algorithm";
}

/* Check a PKCS#8 DER blob field by field and extract the key. */
static int parse_pkcs8(const uint8_t *p, size_t n, uint8_t key[KF_KEY_LEN], char *err,
                       size_t errlen)
{
    der all = {p, n};
    der seq = {NULL, 0}, version = {NULL, 0}, alg = {NULL, 0}, oid = {NULL, 0};
    der outer = {NULL, 0}, inner = {NULL, 0};
    int rc;
    if ((rc = der_next(&all, TAG_SEQUENCE, &seq, "the PrivateKeyInfo SEQUENCE", err, errlen)) != 0)
        return rc;
    if (all.n != 0)
        return fu_fail(err, errlen, KF_E_FORMAT,
                    "the PKCS#8 structure is followed by %zu unexpected bytes", all.n);

    if ((rc = der_next(&seq, TAG_INTEGER, &version, "the version", err, errlen)) != 0)
        return rc;
    if (version.n != 1 || version.p[0] != 0) {
        if (version.n == 1 && version.p[0] == 1)
            return fu_fail(err, errlen, KF_E_FORMAT,
                        "PKCS#8 version 1 keys (OneAsymmetricKey with a public key) are "
                        "not supported; expected version 0, as written by " HOWTO);
        return fu_fail(err, errlen, KF_E_FORMAT, "the PKCS#8 version is not 0");
    }

    if ((rc = der_next(&seq, TAG_SEQUENCE, &alg, "the AlgorithmIdentifier", err, errlen)) != 0)
        return rc;
    if ((rc = der_next(&alg, TAG_OID, &oid, "the algorithm OID", err, errlen)) != 0)
        return rc;
    if (oid.n != sizeof oid_x25519 || memcmp(oid.p, oid_x25519, sizeof oid_x25519) != 0) {
        char dotted[96];
        oid_text(&oid, dotted, sizeof dotted);
        return fu_fail(err, errlen, KF_E_FORMAT,
                    "the key is for %s (algorithm OID %s), not for X25519 (1.3.101.110); "
                    "make one with " HOWTO,
                    oid_name(dotted), dotted);
    }
    if (alg.n != 0)
        return fu_fail(err, errlen, KF_E_FORMAT,
                    "the X25519 AlgorithmIdentifier has parameters; it must have none");

    if ((rc = der_next(&seq, TAG_OCTET_STRING, &outer, "the privateKey OCTET STRING", err,
                       errlen)) != 0)
        return rc;
    if (seq.n != 0)
        return fu_fail(err, errlen, KF_E_FORMAT,
                    "the PKCS#8 structure has fields after the private key (attributes or a "
                    "public key), which are not supported");
    if ((rc = der_next(&outer, TAG_OCTET_STRING, &inner, "the CurvePrivateKey OCTET STRING", err,
                       errlen)) != 0)
        return rc;
    if (outer.n != 0)
        return fu_fail(err, errlen, KF_E_FORMAT,
                    "the privateKey field has %zu unexpected bytes after the key", outer.n);
    if (inner.n != KF_KEY_LEN)
        return fu_fail(err, errlen, KF_E_FORMAT,
                    "the private key is %zu bytes long; an X25519 private key is %d bytes",
                    inner.n, KF_KEY_LEN);
    memcpy(key, inner.p, KF_KEY_LEN);
    return KF_OK;
}

/* ---- Text helpers ------------------------------------------------------ */

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int is_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int starts_with(const uint8_t *p, size_t n, const char *s)
{
    size_t sn = strlen(s);
    return n >= sn && memcmp(p, s, sn) == 0;
}

/* First occurrence of needle in p[0..n), or NULL. */
static const uint8_t *find(const uint8_t *p, size_t n, const char *needle)
{
    size_t nn = strlen(needle);
    for (size_t i = 0; nn <= n && i <= n - nn; i++) {
        if (memcmp(p + i, needle, nn) == 0)
            return p + i;
    }
    return NULL;
}

/* ---- PEM --------------------------------------------------------------- */

#define PEM_BEGIN "-----BEGIN "
#define PEM_DASHES "-----"
#define PEM_LABEL "PRIVATE KEY"
#define PEM_HEADER "-----BEGIN PRIVATE KEY-----"
#define PEM_FOOTER "-----END PRIVATE KEY-----"

/* t[0..n) is trimmed text starting with "-----BEGIN ". */
static int parse_pem(const uint8_t *t, size_t n, uint8_t key[KF_KEY_LEN], char *err,
                     size_t errlen)
{
    /* The BEGIN line and its label. */
    const uint8_t *eol = memchr(t, '\n', n);
    size_t line_len = eol != NULL ? (size_t)(eol - t) : n;
    if (line_len > 0 && t[line_len - 1] == '\r')
        line_len--;
    const uint8_t *label = t + strlen(PEM_BEGIN);
    size_t rest = line_len - strlen(PEM_BEGIN);
    const uint8_t *close = find(label, rest, PEM_DASHES);
    if (close == NULL || close + strlen(PEM_DASHES) != t + line_len)
        return fu_fail(err, errlen, KF_E_FORMAT, "the PEM BEGIN line is malformed");
    size_t label_len = (size_t)(close - label);
    if (label_len != strlen(PEM_LABEL) || memcmp(label, PEM_LABEL, label_len) != 0) {
        if (label_len == strlen("ENCRYPTED PRIVATE KEY") &&
            memcmp(label, "ENCRYPTED PRIVATE KEY", label_len) == 0)
            return fu_fail(err, errlen, KF_E_FORMAT,
                        "the PEM key is encrypted; decrypt it first "
                        "(openssl pkey -in KEY -out PLAIN_KEY)");
        if (label_len == strlen("PUBLIC KEY") && memcmp(label, "PUBLIC KEY", label_len) == 0)
            return fu_fail(err, errlen, KF_E_FORMAT,
                        "this is a public key; the private key is needed");
        int shown = label_len > 40 ? 40 : (int)label_len;
        return fu_fail(err, errlen, KF_E_FORMAT,
                    "PEM type \"%.*s\" is not supported; expected \"PRIVATE KEY\" "
                    "(unencrypted PKCS#8, as written by " HOWTO ")",
                    shown, (const char *)label);
    }
    if (eol == NULL)
        return fu_fail(err, errlen, KF_E_FORMAT, "the PEM key has no " PEM_FOOTER " line");

    /* The END line: at the very end (t is trimmed), at a line start. */
    const uint8_t *body = eol + 1;
    size_t body_max = n - (size_t)(body - t);
    size_t foot_len = strlen(PEM_FOOTER);
    const uint8_t *foot = find(body, body_max, PEM_FOOTER);
    if (foot == NULL)
        return fu_fail(err, errlen, KF_E_FORMAT, "the PEM key has no " PEM_FOOTER " line");
    if (foot + foot_len != t + n)
        return fu_fail(err, errlen, KF_E_FORMAT,
                    "unexpected data after the " PEM_FOOTER " line");
    if (foot != body && foot[-1] != '\n')
        return fu_fail(err, errlen, KF_E_FORMAT,
                    "the " PEM_FOOTER " line does not start a line");
    size_t body_len = (size_t)(foot - body);

    uint8_t blob[256];
    size_t blob_len = 0;
    if (sodium_base642bin(blob, sizeof blob, (const char *)body, body_len, " \t\r\n", &blob_len,
                          NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
        int too_long = errno == ERANGE;
        sodium_memzero(blob, sizeof blob);
        return fu_fail(err, errlen, KF_E_FORMAT, "%s",
                    too_long ? "the PEM body is far too long for an X25519 key"
                             : "the PEM body is not valid base64");
    }
    int rc = parse_pkcs8(blob, blob_len, key, err, errlen);
    sodium_memzero(blob, sizeof blob);
    return rc;
}

int kf_to_pem(const uint8_t key[KF_KEY_LEN], char *out, size_t outlen)
{
    if (key == NULL || out == NULL || outlen < KF_PEM_SIZE)
        return KF_E_INVAL;
    uint8_t blob[PKCS8_LEN];
    char b64[sodium_base64_ENCODED_LEN(PKCS8_LEN, sodium_base64_VARIANT_ORIGINAL)];
    memcpy(blob, pkcs8_prefix, sizeof pkcs8_prefix);
    memcpy(blob + sizeof pkcs8_prefix, key, KF_KEY_LEN);
    sodium_bin2base64(b64, sizeof b64, blob, sizeof blob, sodium_base64_VARIANT_ORIGINAL);
    /* 64 base64 characters: exactly one PEM line. */
    int n = snprintf(out, outlen, PEM_HEADER "\n%s\n" PEM_FOOTER "\n", b64);
    sodium_memzero(blob, sizeof blob);
    sodium_memzero(b64, sizeof b64);
    if (n < 0 || (size_t)n >= outlen) {
        sodium_memzero(out, outlen);
        return KF_E_INVAL;
    }
    return KF_OK;
}

/* ---- Detection ------------------------------------------------------- */

static int parse_any(const uint8_t *data, size_t len, uint8_t key[KF_KEY_LEN], char *err,
                     size_t errlen)
{
    /* Raw: any 32 bytes. No text format has that length (hex is 64
     * characters, base64 at least 43), except a PEM file cut short, which
     * is reported as such rather than taken as key bytes. */
    if (len == KF_KEY_LEN && !starts_with(data, len, PEM_BEGIN)) {
        memcpy(key, data, KF_KEY_LEN);
        return KF_OK;
    }
    if (len == 0)
        return fu_fail(err, errlen, KF_E_FORMAT, "the key file is empty");

    const uint8_t *t = data;
    size_t n = len;
    while (n > 0 && is_space(t[0])) {
        t++;
        n--;
    }
    while (n > 0 && is_space(t[n - 1]))
        n--;
    if (n == 0)
        return fu_fail(err, errlen, KF_E_FORMAT, "the key file contains only whitespace");
    if (n > KF_FILE_MAX)
        return fu_fail(err, errlen, KF_E_FORMAT, "too long to be a key (%zu bytes)", len);

    if (starts_with(t, n, PEM_BEGIN))
        return parse_pem(t, n, key, err, errlen);

    int all_hex = n > 0;
    for (size_t i = 0; i < n && all_hex; i++)
        all_hex = is_hex(t[i]);
    if (all_hex && n == 2 * KF_KEY_LEN) {
        size_t bin_len = 0;
        if (sodium_hex2bin(key, KF_KEY_LEN, (const char *)t, n, NULL, &bin_len, NULL) != 0 ||
            bin_len != KF_KEY_LEN)
            return fu_fail(err, errlen, KF_E_FORMAT, "the hex key cannot be decoded");
        return KF_OK;
    }

    /* Base64, padded or not. Decoded into a scratch buffer first so a
     * wrong length can be reported. */
    uint8_t bin[KF_FILE_MAX];
    static const int variants[2] = {sodium_base64_VARIANT_ORIGINAL,
                                    sodium_base64_VARIANT_ORIGINAL_NO_PADDING};
    for (size_t v = 0; v < 2; v++) {
        size_t bin_len = 0;
        if (sodium_base642bin(bin, sizeof bin, (const char *)t, n, NULL, &bin_len, NULL,
                              variants[v]) != 0)
            continue;
        if (bin_len == KF_KEY_LEN) {
            memcpy(key, bin, KF_KEY_LEN);
            sodium_memzero(bin, sizeof bin);
            return KF_OK;
        }
        sodium_memzero(bin, sizeof bin);
        if (all_hex)
            break; /* more likely a hex key of the wrong length */
        return fu_fail(err, errlen, KF_E_FORMAT,
                    "the base64 text decodes to %zu bytes; an X25519 private key is %d bytes",
                    bin_len, KF_KEY_LEN);
    }
    sodium_memzero(bin, sizeof bin);
    if (all_hex)
        return fu_fail(err, errlen, KF_E_FORMAT,
                    "the hex key has %zu digits; an X25519 private key is %d hex digits", n,
                    2 * KF_KEY_LEN);
    return fu_fail(err, errlen, KF_E_FORMAT,
                "not a key in a known format: expected 32 raw bytes, 64 hex digits, base64 of "
                "32 bytes, or a PEM \"PRIVATE KEY\" as written by " HOWTO);
}

int kf_parse(const uint8_t *data, size_t len, uint8_t key[KF_KEY_LEN], char *err, size_t errlen)
{
    if (key == NULL || (data == NULL && len > 0))
        return fu_fail(err, errlen, KF_E_INVAL, "no key data");
    int rc = parse_any(data, len, key, err, errlen);
    if (rc != KF_OK)
        sodium_memzero(key, KF_KEY_LEN); /* nothing of a rejected key is returned */
    return rc;
}

/* ---- Files ----------------------------------------------------------- */

void kf_generate(uint8_t key[KF_KEY_LEN])
{
    randombytes_buf(key, KF_KEY_LEN);
    key[0] &= 248;
    key[31] &= 127;
    key[31] |= 64;
}

static int code_from_fu(int rc)
{
    switch (rc) {
    case FU_OK:
        return KF_OK;
    case FU_E_NOENT:
        return KF_E_NOENT;
    case FU_E_PERM:
        return KF_E_PERM;
    case FU_E_TOOBIG:
        return KF_E_FORMAT;
    case FU_E_INVAL:
        return KF_E_INVAL;
    case FU_E_EXISTS:
        return KF_E_EXISTS;
    default:
        return KF_E_IO;
    }
}

int kf_load(const char *path, uint8_t key[KF_KEY_LEN], char *err, size_t errlen)
{
    if (path == NULL || key == NULL)
        return fu_fail(err, errlen, KF_E_INVAL, "no key file given");
    uint8_t buf[KF_FILE_MAX];
    size_t len = 0;
    int rc = fu_read_file(path, buf, sizeof buf, &len, FU_READ_PRIVATE, err, errlen);
    if (rc != FU_OK) {
        sodium_memzero(buf, sizeof buf);
        if (rc == FU_E_TOOBIG)
            return fu_fail(err, errlen, KF_E_FORMAT,
                        "cannot load key %s: the file is too large to be a key", path);
        return code_from_fu(rc);
    }
    char why[384];
    rc = kf_parse(buf, len, key, why, sizeof why);
    sodium_memzero(buf, sizeof buf);
    if (rc != KF_OK) {
        sodium_memzero(key, KF_KEY_LEN);
        return fu_fail(err, errlen, rc, "cannot load key %s: %s", path, why);
    }
    return KF_OK;
}

static int store(const char *path, const uint8_t key[KF_KEY_LEN], int create, char *err,
                 size_t errlen)
{
    if (path == NULL || key == NULL)
        return fu_fail(err, errlen, KF_E_INVAL, "no key file given");
    char pem[KF_PEM_SIZE];
    int rc = kf_to_pem(key, pem, sizeof pem);
    if (rc != KF_OK)
        return fu_fail(err, errlen, rc, "cannot encode the key for %s", path);
    size_t n = strlen(pem);
    if (create)
        rc = fu_write_new(path, pem, n, 0600, err, errlen);
    else
        rc = fu_write_atomic(path, pem, n, 0600, err, errlen);
    sodium_memzero(pem, sizeof pem);
    return code_from_fu(rc);
}

int kf_save(const char *path, const uint8_t key[KF_KEY_LEN], char *err, size_t errlen)
{
    return store(path, key, 0, err, errlen);
}

int kf_create(const char *path, const uint8_t key[KF_KEY_LEN], char *err, size_t errlen)
{
    return store(path, key, 1, err, errlen);
}

int kf_load_or_create(const char *path, uint8_t key[KF_KEY_LEN], int *created, char *err,
                      size_t errlen)
{
    if (created != NULL)
        *created = 0;
    int rc = kf_load(path, key, err, errlen);
    if (rc != KF_E_NOENT)
        return rc;
    kf_generate(key);
    rc = kf_create(path, key, err, errlen);
    if (rc == KF_OK) {
        if (created != NULL)
            *created = 1;
        return KF_OK;
    }
    sodium_memzero(key, KF_KEY_LEN);
    if (rc == KF_E_EXISTS) /* created by someone else just now: use theirs */
        return kf_load(path, key, err, errlen);
    return rc;
}
