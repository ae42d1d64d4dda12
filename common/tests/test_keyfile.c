/* Tests for common/keyfile: every accepted format, interoperability with
 * the openssl command (when installed), strict PKCS#8 checking, permission
 * checks, and first-run key creation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sodium.h>
#include <sys/wait.h>

#include "chat/noise.h"
#include "fileutil.h"
#include "keyfile.h"
#include "testutil.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    char err[512];
    mode_t old_umask;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL || tu_mkdtemp(f->dir, sizeof f->dir, "kf-test") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/key", f->dir);
    f->old_umask = umask(022);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    umask(f->old_umask);
    int rc = tu_rm_rf(f->dir);
    free(f);
    return rc;
}

static void path_in(const fixture *f, char *out, size_t outlen, const char *name)
{
    int n = snprintf(out, outlen, "%s/%s", f->dir, name);
    assert_true(n > 0 && (size_t)n < outlen);
}

/* Run a shell command; its exit status, or -1. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static int have_openssl(void)
{
    return run("command -v openssl >/dev/null 2>&1") == 0;
}

/* The raw X25519 public key in `openssl pkey -pubout -outform DER` output
 * of the key file at path. */
static void openssl_public(const fixture *f, const char *path, uint8_t pub[32])
{
    char out[160];
    path_in(f, out, sizeof out, "pub.der");
    assert_int_equal(run("openssl pkey -in '%s' -pubout -outform DER -out '%s' 2>/dev/null", path,
                         out),
                     0);
    /* SubjectPublicKeyInfo: 30 2a 30 05 06 03 2b 65 6e 03 21 00 <32>. */
    static const uint8_t spki_prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                            0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00};
    uint8_t der[128];
    size_t len;
    char err[256];
    assert_int_equal(fu_read_file(out, der, sizeof der, &len, 0, err, sizeof err), FU_OK);
    assert_int_equal(len, 44);
    assert_memory_equal(der, spki_prefix, sizeof spki_prefix);
    memcpy(pub, der + 12, 32);
}

/* A PEM "PRIVATE KEY" around arbitrary DER, lines of 64 characters. */
static void make_pem(char *out, size_t outlen, const uint8_t *der, size_t der_len)
{
    char b64[1024];
    sodium_bin2base64(b64, sizeof b64, der, der_len, sodium_base64_VARIANT_ORIGINAL);
    size_t pos = (size_t)snprintf(out, outlen, "-----BEGIN PRIVATE KEY-----\n");
    size_t n = strlen(b64);
    for (size_t i = 0; i < n; i += 64) {
        size_t k = n - i < 64 ? n - i : 64;
        assert_true(pos + k + 2 < outlen);
        memcpy(out + pos, b64 + i, k);
        pos += k;
        out[pos++] = '\n';
    }
    int m = snprintf(out + pos, outlen - pos, "-----END PRIVATE KEY-----\n");
    assert_true(m > 0 && (size_t)m < outlen - pos);
}

static const uint8_t good_prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                        0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20};

/* ---- Round trips --------------------------------------------------- */

static void test_pem_save_load(void **state)
{
    fixture *f = *state;
    uint8_t key[32], back[32];
    kf_generate(key);
    /* Clamped like OpenSSL's keys. */
    assert_int_equal(key[0] & 7, 0);
    assert_int_equal(key[31] & 0xc0, 0x40);

    umask(0);
    assert_int_equal(kf_save(f->path, key, f->err, sizeof f->err), KF_OK);
    assert_int_equal(tu_mode(f->path), 0600);

    char pem[KF_PEM_SIZE], file[256];
    size_t len;
    assert_int_equal(kf_to_pem(key, pem, sizeof pem), KF_OK);
    assert_int_equal(strlen(pem), KF_PEM_SIZE - 1);
    assert_int_equal(fu_read_file(f->path, file, sizeof file, &len, 0, f->err, sizeof f->err),
                     FU_OK);
    assert_int_equal(len, strlen(pem));
    assert_memory_equal(file, pem, len);
    assert_true(strncmp(pem, "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEI", 47) == 0);

    memset(back, 0xff, sizeof back);
    assert_int_equal(kf_load(f->path, back, f->err, sizeof f->err), KF_OK);
    assert_memory_equal(back, key, 32);

    /* Saving again replaces the file, still 0600. */
    kf_generate(key);
    assert_int_equal(kf_save(f->path, key, f->err, sizeof f->err), KF_OK);
    assert_int_equal(tu_mode(f->path), 0600);
    assert_int_equal(kf_load(f->path, back, f->err, sizeof f->err), KF_OK);
    assert_memory_equal(back, key, 32);
    assert_int_equal(tu_count_entries(f->dir), 1);

    assert_int_equal(kf_to_pem(key, pem, KF_PEM_SIZE - 1), KF_E_INVAL);
}

static void test_text_and_raw_formats(void **state)
{
    fixture *f = *state;
    uint8_t key[32], back[32];
    kf_generate(key);
    key[5] = 0x00; /* a NUL inside a raw key is fine */

    char hex[65], b64[64], text[256];
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    char hex_upper[65];
    for (size_t i = 0; i < sizeof hex; i++)
        hex_upper[i] = (char)((hex[i] >= 'a' && hex[i] <= 'f') ? hex[i] - 'a' + 'A' : hex[i]);

    /* raw */
    assert_int_equal(tu_write(f->path, key, 32, 0600), 0);
    assert_int_equal(kf_load(f->path, back, f->err, sizeof f->err), KF_OK);
    assert_memory_equal(back, key, 32);

    const char *variants[8];
    char forms[8][256];
    size_t nforms = 0;
    sodium_bin2base64(b64, sizeof b64, key, 32, sodium_base64_VARIANT_ORIGINAL);
    snprintf(forms[nforms++], 256, "%s\n", b64);           /* padded + newline */
    snprintf(forms[nforms++], 256, "  \t%s \r\n\n", b64);   /* surrounding space */
    sodium_bin2base64(b64, sizeof b64, key, 32, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    snprintf(forms[nforms++], 256, "%s", b64);             /* unpadded */
    snprintf(forms[nforms++], 256, "%s\n", b64);
    snprintf(forms[nforms++], 256, "%s", hex);             /* hex */
    snprintf(forms[nforms++], 256, "%s\r\n", hex_upper);
    char pem[KF_PEM_SIZE];
    assert_int_equal(kf_to_pem(key, pem, sizeof pem), KF_OK);
    snprintf(forms[nforms++], 256, "\n%s\n\n", pem);       /* PEM with blank lines around */
    /* PEM with CRLF line ends */
    size_t k = 0;
    for (size_t i = 0; pem[i] != '\0'; i++) {
        if (pem[i] == '\n')
            text[k++] = '\r';
        text[k++] = pem[i];
    }
    text[k] = '\0';
    snprintf(forms[nforms++], 256, "%s", text);

    for (size_t i = 0; i < nforms; i++) {
        variants[i] = forms[i];
        assert_int_equal(tu_write(f->path, variants[i], strlen(variants[i]), 0600), 0);
        memset(back, 0, sizeof back);
        int rc = kf_load(f->path, back, f->err, sizeof f->err);
        if (rc != KF_OK)
            fail_msg("form %zu: %s", i, f->err);
        assert_memory_equal(back, key, 32);
        /* kf_parse on the same bytes agrees. */
        memset(back, 0, sizeof back);
        assert_int_equal(
            kf_parse((const uint8_t *)variants[i], strlen(variants[i]), back, NULL, 0), KF_OK);
        assert_memory_equal(back, key, 32);
    }
}

/* ---- openssl interoperability ----------------------------------------- */

static void test_openssl_genpkey_loads(void **state)
{
    fixture *f = *state;
    if (!have_openssl())
        skip();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            run("openssl genpkey -algorithm X25519 -out '%s' 2>/dev/null", f->path), 0);
        assert_int_equal(chmod(f->path, 0600), 0);
        uint8_t key[32], pub[32], ossl_pub[32];
        assert_int_equal(kf_load(f->path, key, f->err, sizeof f->err), KF_OK);
        assert_int_equal(chat_x25519_public(pub, key), CHAT_OK);
        openssl_public(f, f->path, ossl_pub);
        assert_memory_equal(pub, ossl_pub, 32);
        /* The file is byte for byte what kf_to_pem would write. */
        char pem[KF_PEM_SIZE], file[256];
        size_t len;
        assert_int_equal(kf_to_pem(key, pem, sizeof pem), KF_OK);
        assert_int_equal(fu_read_file(f->path, file, sizeof file, &len, 0, NULL, 0), FU_OK);
        assert_int_equal(len, strlen(pem));
        assert_memory_equal(file, pem, len);
    }
}

static void test_openssl_reads_saved(void **state)
{
    fixture *f = *state;
    if (!have_openssl())
        skip();
    uint8_t key[32], pub[32], ossl_pub[32];
    kf_generate(key);
    assert_int_equal(kf_save(f->path, key, f->err, sizeof f->err), KF_OK);
    assert_int_equal(run("openssl pkey -in '%s' -noout 2>/dev/null", f->path), 0);
    assert_int_equal(chat_x25519_public(pub, key), CHAT_OK);
    openssl_public(f, f->path, ossl_pub);
    assert_memory_equal(pub, ossl_pub, 32);

    /* Unclamped keys too: X25519 clamps when it computes, so any 32
     * bytes give the same public key in both. */
    memset(key, 0xff, sizeof key);
    assert_int_equal(kf_save(f->path, key, f->err, sizeof f->err), KF_OK);
    assert_int_equal(chat_x25519_public(pub, key), CHAT_OK);
    openssl_public(f, f->path, ossl_pub);
    assert_memory_equal(pub, ossl_pub, 32);

    /* An Ed25519 key from openssl is refused with a clear reason. */
    assert_int_equal(run("openssl genpkey -algorithm ED25519 -out '%s' 2>/dev/null", f->path), 0);
    assert_int_equal(chmod(f->path, 0600), 0);
    assert_int_equal(kf_load(f->path, key, f->err, sizeof f->err), KF_E_FORMAT);
    assert_true(tu_has(f->err, "Ed25519"));
    assert_true(tu_has(f->err, "1.3.101.112"));
    assert_true(tu_has(f->err, f->path));
}

/* ---- Malformed input --------------------------------------------------- */

static void expect_bad_der(const uint8_t *der, size_t len, const char *reason)
{
    char pem[2048], err[512];
    uint8_t key[32];
    make_pem(pem, sizeof pem, der, len);
    memset(key, 0xaa, sizeof key);
    err[0] = '\0';
    int rc = kf_parse((const uint8_t *)pem, strlen(pem), key, err, sizeof err);
    if (rc != KF_E_FORMAT || !tu_has(err, reason))
        fail_msg("want \"%s\", got %d \"%s\"", reason, rc, err);
    /* Nothing of a rejected key is left in the output. */
    static const uint8_t zero[32];
    assert_memory_equal(key, zero, 32);
}

static void test_malformed_pkcs8(void **state)
{
    (void)state;
    uint8_t der[128];
    uint8_t k[32];
    memset(k, 0x11, sizeof k);

    /* The good one parses. */
    memcpy(der, good_prefix, 16);
    memcpy(der + 16, k, 32);
    {
        char pem[512];
        uint8_t key[32];
        make_pem(pem, sizeof pem, der, 48);
        assert_int_equal(kf_parse((const uint8_t *)pem, strlen(pem), key, NULL, 0), KF_OK);
        assert_memory_equal(key, k, 32);
    }

    /* Wrong OIDs: Ed25519, X448. */
    der[11] = 0x70;
    expect_bad_der(der, 48, "for Ed25519 (algorithm OID 1.3.101.112), not for X25519");
    der[11] = 0x6f;
    expect_bad_der(der, 48, "X448");
    der[11] = 0x6e;

    /* An unknown long OID (EC public key 1.2.840.10045.2.1). */
    {
        static const uint8_t ec[] = {0x30, 0x32, 0x02, 0x01, 0x00, 0x30, 0x09, 0x06, 0x07,
                                     0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x04, 0x22,
                                     0x04, 0x20};
        uint8_t b[sizeof ec + 32];
        memcpy(b, ec, sizeof ec);
        memcpy(b + sizeof ec, k, 32);
        expect_bad_der(b, sizeof b, "1.2.840.10045.2.1");
    }

    /* Version 1 (OneAsymmetricKey), version 2. */
    der[4] = 0x01;
    expect_bad_der(der, 48, "version 1 keys");
    der[4] = 0x02;
    expect_bad_der(der, 48, "version is not 0");
    der[4] = 0x00;

    /* Parameters present: AlgorithmIdentifier { OID, NULL }. */
    {
        static const uint8_t p[] = {0x30, 0x30, 0x02, 0x01, 0x00, 0x30, 0x07, 0x06, 0x03, 0x2b,
                                    0x65, 0x6e, 0x05, 0x00, 0x04, 0x22, 0x04, 0x20};
        uint8_t b[sizeof p + 32];
        memcpy(b, p, sizeof p);
        memcpy(b + sizeof p, k, 32);
        expect_bad_der(b, sizeof b, "has parameters");
    }

    /* Key lengths 31 and 33. */
    {
        static const uint8_t p31[] = {0x30, 0x2d, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                      0x03, 0x2b, 0x65, 0x6e, 0x04, 0x21, 0x04, 0x1f};
        static const uint8_t p33[] = {0x30, 0x2f, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                      0x03, 0x2b, 0x65, 0x6e, 0x04, 0x23, 0x04, 0x21};
        uint8_t b[16 + 33];
        memset(b, 0x22, sizeof b);
        memcpy(b, p31, 16);
        expect_bad_der(b, 16 + 31, "is 31 bytes long");
        memcpy(b, p33, 16);
        expect_bad_der(b, 16 + 33, "is 33 bytes long");
    }

    /* Not wrapped twice: the key directly in the outer OCTET STRING. */
    {
        static const uint8_t p[] = {0x30, 0x2c, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                    0x03, 0x2b, 0x65, 0x6e, 0x04, 0x20};
        uint8_t b[sizeof p + 32];
        memcpy(b, p, sizeof p);
        memset(b + sizeof p, 0x04, 32); /* even starting with an OCTET STRING tag */
        expect_bad_der(b, sizeof b, "privateKey field has 26 unexpected bytes");
    }

    /* Truncated: the lengths claim more than there is. */
    expect_bad_der(der, 47, "truncated");
    expect_bad_der(der, 10, "truncated");
    expect_bad_der(der, 1, "truncated");

    /* Bytes after the SEQUENCE, and an extra field inside it. */
    der[48] = 0x00;
    expect_bad_der(der, 49, "followed by 1 unexpected bytes");
    {
        uint8_t b[64];
        memcpy(b, der, 48);
        b[1] = 0x30; /* SEQUENCE length 48: the key + attributes [0] {} */
        b[48] = 0xa0;
        b[49] = 0x00;
        expect_bad_der(b, 50, "fields after the private key");
    }

    /* Non-minimal DER length (0x81 0x2e for 46). */
    {
        uint8_t b[64];
        b[0] = 0x30;
        b[1] = 0x81;
        b[2] = 0x2e;
        memcpy(b + 3, der + 2, 46);
        expect_bad_der(b, 49, "non-DER length");
    }

    /* Wrong outer tag. */
    {
        uint8_t b[48];
        memcpy(b, der, 48);
        b[0] = 0x31;
        expect_bad_der(b, 48, "unexpected element");
    }

    /* An empty DER. */
    expect_bad_der(der, 0, "ends before");
}

static void expect_bad_text(const char *text, const char *reason)
{
    char err[512] = "";
    uint8_t key[32];
    memset(key, 0xaa, sizeof key);
    int rc = kf_parse((const uint8_t *)text, strlen(text), key, err, sizeof err);
    if (rc != KF_E_FORMAT || !tu_has(err, reason))
        fail_msg("input \"%s\": want \"%s\", got %d \"%s\"", text, reason, rc, err);
    static const uint8_t zero[32];
    assert_memory_equal(key, zero, 32);
}

static void test_malformed_text(void **state)
{
    (void)state;
    char pem[KF_PEM_SIZE];
    uint8_t key[32];
    memset(key, 0x33, sizeof key);
    assert_int_equal(kf_to_pem(key, pem, sizeof pem), KF_OK);
    char buf[512];

    /* PEM framing. */
    snprintf(buf, sizeof buf, "%sgarbage\n", pem);
    expect_bad_text(buf, "unexpected data after the -----END PRIVATE KEY----- line");
    snprintf(buf, sizeof buf, "%s%s", pem, pem);
    expect_bad_text(buf, "unexpected data after");
    expect_bad_text("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEI@@@@\n"
                    "-----END PRIVATE KEY-----\n",
                    "not valid base64");
    expect_bad_text("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEI\n"
                    "-----END PRIVATE KEY-----\n",
                    "not valid base64");
    expect_bad_text("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEI\n", "no -----END");
    expect_bad_text("-----BEGIN PRIVATE KEY-----", "no -----END");
    expect_bad_text("-----BEGIN PRIVATE KEY----- x\nAAAA\n-----END PRIVATE KEY-----",
                    "BEGIN line is malformed");
    expect_bad_text("-----BEGIN PRIVATE KEY\nAAAA\n-----END PRIVATE KEY-----",
                    "BEGIN line is malformed");
    expect_bad_text("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
                    "PEM type \"EC PRIVATE KEY\" is not supported");
    expect_bad_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n"
                    "-----END ENCRYPTED PRIVATE KEY-----\n",
                    "encrypted");
    expect_bad_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                    "public key");
    expect_bad_text("-----BEGIN PRIVATE KEY-----\nAAAA-----END PRIVATE KEY-----\n",
                    "does not start a line");

    /* Other text. */
    expect_bad_text("hello world", "not a key in a known format");
    expect_bad_text("   \n", "only whitespace");
    expect_bad_text("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", "decodes to 31 bytes");
    expect_bad_text("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "decodes to 35 bytes");
    expect_bad_text("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
                    "has 63 digits");
    expect_bad_text("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef00",
                    "has 66 digits");
    /* Base64 with whitespace inside is not accepted outside PEM. */
    char b64[64];
    sodium_bin2base64(b64, sizeof b64, key, 32, sodium_base64_VARIANT_ORIGINAL);
    snprintf(buf, sizeof buf, "%.20s %s", b64, b64 + 20);
    expect_bad_text(buf, "not a key in a known format");
    /* URL-safe base64 is not the standard alphabet. */
    uint8_t k2[32];
    memset(k2, 0xfb, sizeof k2);
    sodium_bin2base64(b64, sizeof b64, k2, 32, sodium_base64_VARIANT_URLSAFE);
    expect_bad_text(b64, "not a key in a known format");

    /* A PEM file cut to 32 bytes is not taken for a raw key. */
    expect_bad_text("-----BEGIN PRIVATE KEY-----\nMC4C", "no -----END");

    /* Raw lengths other than 32. */
    uint8_t raw[33];
    memset(raw, 0x80, sizeof raw);
    char err[256];
    assert_int_equal(kf_parse(raw, 33, key, err, sizeof err), KF_E_FORMAT);
    assert_int_equal(kf_parse(raw, 31, key, err, sizeof err), KF_E_FORMAT);
    assert_int_equal(kf_parse(raw, 0, key, err, sizeof err), KF_E_FORMAT);
    assert_true(tu_has(err, "empty"));
    assert_int_equal(kf_parse(NULL, 5, key, err, sizeof err), KF_E_INVAL);
}

static void test_load_messages(void **state)
{
    fixture *f = *state;
    uint8_t key[32];
    /* A malformed file: the message names the file and the reason. */
    assert_int_equal(tu_write(f->path, "non-sense!\n", 11, 0600), 0);
    assert_int_equal(kf_load(f->path, key, f->err, sizeof f->err), KF_E_FORMAT);
    assert_true(tu_has(f->err, f->path));
    assert_true(tu_has(f->err, "not a key in a known format"));

    /* Too large. */
    char big[KF_FILE_MAX + 10];
    memset(big, 'A', sizeof big);
    assert_int_equal(tu_write(f->path, big, sizeof big, 0600), 0);
    assert_int_equal(kf_load(f->path, key, f->err, sizeof f->err), KF_E_FORMAT);
    assert_true(tu_has(f->err, "too large"));

    /* Missing. */
    char p[160];
    path_in(f, p, sizeof p, "missing");
    assert_int_equal(kf_load(p, key, f->err, sizeof f->err), KF_E_NOENT);
    assert_true(tu_has(f->err, p));
    assert_int_equal(kf_load(NULL, key, f->err, sizeof f->err), KF_E_INVAL);
}

/* ---- Permissions ------------------------------------------------------- */

static void test_permissions(void **state)
{
    fixture *f = *state;
    uint8_t key[32], back[32];
    kf_generate(key);
    assert_int_equal(kf_save(f->path, key, f->err, sizeof f->err), KF_OK);

    static const mode_t bad[] = {0644, 0640, 0604, 0660, 0666, 0620};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(chmod(f->path, bad[i]), 0);
        memset(back, 0x55, sizeof back);
        assert_int_equal(kf_load(f->path, back, f->err, sizeof f->err), KF_E_PERM);
        assert_true(tu_has(f->err, f->path));
        assert_true(tu_has(f->err, "chmod 600"));
    }
    assert_int_equal(chmod(f->path, 0600), 0);
    assert_int_equal(kf_load(f->path, back, f->err, sizeof f->err), KF_OK);
    assert_memory_equal(back, key, 32);
    assert_int_equal(chmod(f->path, 0400), 0);
    assert_int_equal(kf_load(f->path, back, f->err, sizeof f->err), KF_OK);
}

/* ---- First run ------------------------------------------------------ */

static void test_load_or_create(void **state)
{
    fixture *f = *state;
    uint8_t key[32], again[32];
    int created = -1;
    umask(0);
    assert_int_equal(kf_load_or_create(f->path, key, &created, f->err, sizeof f->err), KF_OK);
    assert_int_equal(created, 1);
    assert_int_equal(tu_mode(f->path), 0600);
    assert_int_equal(kf_load_or_create(f->path, again, &created, f->err, sizeof f->err), KF_OK);
    assert_int_equal(created, 0);
    assert_memory_equal(key, again, 32);

    /* An unprotected existing key is refused, not replaced. */
    assert_int_equal(chmod(f->path, 0644), 0);
    assert_int_equal(kf_load_or_create(f->path, again, &created, f->err, sizeof f->err),
                     KF_E_PERM);
    assert_int_equal(created, 0);
    assert_int_equal(chmod(f->path, 0600), 0);
    assert_int_equal(kf_load(f->path, again, f->err, sizeof f->err), KF_OK);
    assert_memory_equal(key, again, 32);

    /* kf_create never overwrites. */
    kf_generate(again);
    assert_int_equal(kf_create(f->path, again, f->err, sizeof f->err), KF_E_EXISTS);
    assert_int_equal(kf_load(f->path, again, f->err, sizeof f->err), KF_OK);
    assert_memory_equal(key, again, 32);

    /* A missing directory is reported. */
    char p[160];
    path_in(f, p, sizeof p, "nodir/key");
    assert_int_equal(kf_load_or_create(p, key, NULL, f->err, sizeof f->err), KF_E_NOENT);
    assert_true(tu_has(f->err, p));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_pem_save_load),
        T(test_text_and_raw_formats),
        T(test_openssl_genpkey_loads),
        T(test_openssl_reads_saved),
        T(test_malformed_pkcs8),
        T(test_malformed_text),
        T(test_load_messages),
        T(test_permissions),
        T(test_load_or_create),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
