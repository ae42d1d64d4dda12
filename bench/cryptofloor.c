/* cryptofloor: what the server's cryptography alone costs on this machine,
 * so compare.sh can print chatd's figures as a fraction of it.
 *
 *   cryptofloor [-b BYTES] [-r ROUNDS] [-q]
 *
 * Measured with libsodium, the library chatd uses, each as the median of
 * ROUNDS timed rounds after a warm-up:
 *   - one ChaCha20-Poly1305 (IETF) encryption of BYTES bytes: the floor of
 *     one relayed delivery if every message were sealed alone;
 *   - the same over 4096 bytes, for the per-byte cost of a coalesced frame;
 *   - the server side of one login: the Noise XX responder's primitive
 *     sequence (1 key generation, 3 X25519, 8 SHA-256 MixHash, 12
 *     HMAC-SHA256 for 4 HKDFs with 2 outputs each, 4 small AEADs) plus one
 *     Ed25519 signature check, which is all the password proof costs the
 *     server (no Argon2id runs there).
 *
 * Prints one line:
 *   CRYPTO b=.. aead_ns=.. aead_per_s=.. aead4k_ns=.. hs_us=.. verify_us=..
 *          login_us=.. logins_per_s=..
 * Every measurement is a loop of real calls over buffers whose contents
 * change, and a checksum of the outputs is printed to stderr so the
 * compiler cannot drop the work. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#define AEAD_MAX 4096

static double now_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Everything the timed loops write lands here, and the sum of its bytes
 * is printed: the work has a visible result. */
static uint8_t g_sink[64];

static void absorb(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g_sink[i % sizeof g_sink] ^= p[i];
}

/* ---- AEAD ------------------------------------------------------------ */

typedef struct aead_ctx {
    uint8_t key[crypto_aead_chacha20poly1305_ietf_KEYBYTES];
    uint8_t msg[AEAD_MAX];
    uint8_t ct[AEAD_MAX];
    uint8_t tag[crypto_aead_chacha20poly1305_ietf_ABYTES];
    uint64_t n;
} aead_ctx;

static void aead_once(aead_ctx *c, size_t len)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = {0};
    /* A Noise nonce: 4 zero bytes, then the 64-bit counter. */
    memcpy(nonce + 4, &c->n, sizeof c->n);
    c->n++;
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(c->ct, c->tag, NULL, c->msg, len, NULL, 0,
                                                       NULL, nonce, c->key);
    c->msg[0] ^= c->tag[0]; /* the next message differs */
}

/* ns per encryption of len bytes, median over rounds. */
static double time_aead(size_t len, int rounds, int iters)
{
    aead_ctx c;
    randombytes_buf(c.key, sizeof c.key);
    randombytes_buf(c.msg, sizeof c.msg);
    c.n = 0;
    double *v = calloc((size_t)rounds, sizeof *v);
    if (v == NULL)
        return 0;
    for (int i = 0; i < iters; i++)
        aead_once(&c, len); /* warm-up */
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ns();
        for (int i = 0; i < iters; i++)
            aead_once(&c, len);
        v[r] = (now_ns() - t0) / iters;
    }
    absorb(c.tag, sizeof c.tag);
    double m = median(v, (size_t)rounds);
    free(v);
    return m;
}

/* ---- The server side of one login ------------------------------------ */

typedef struct login_ctx {
    uint8_t s_priv[32];        /* server static */
    uint8_t ie_pub[32];        /* initiator ephemeral, from HS1 */
    uint8_t is_pub[32];        /* initiator static, from HS3 */
    uint8_t ck[32], hh[32], k[32];
    uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t proof_msg[96];     /* context, handshake hash, user name */
    uint8_t sig[crypto_sign_BYTES];
    uint8_t buf[128], tag[16];
} login_ctx;

static void mix_hash(login_ctx *c, const uint8_t *data, size_t n)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, c->hh, sizeof c->hh);
    crypto_hash_sha256_update(&st, data, n);
    crypto_hash_sha256_final(&st, c->hh);
}

static void hmac(const uint8_t key[32], const uint8_t *data, size_t n, uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, 32);
    crypto_auth_hmacsha256_update(&st, data, n);
    crypto_auth_hmacsha256_final(&st, out);
}

/* Noise's HKDF with two outputs: 3 HMAC calls. */
static void hkdf2(login_ctx *c, const uint8_t *ikm, size_t n)
{
    uint8_t temp[32], in[33];
    hmac(c->ck, ikm, n, temp);
    in[0] = 1;
    hmac(temp, in, 1, c->ck);
    memcpy(in, c->ck, 32);
    in[32] = 2;
    hmac(temp, in, 33, c->k);
    sodium_memzero(temp, sizeof temp);
}

/* One X25519; a failure (a low-order point) cannot happen with these keys
 * but is counted in the checksum rather than ignored. */
static void x25519(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32])
{
    if (crypto_scalarmult(out, priv, pub) != 0)
        g_sink[1] ^= 1;
}

/* One small AEAD of the handshake. The responder encrypts two and decrypts
 * two; a successful decryption does the same work as an encryption
 * (ChaCha20 over the bytes plus Poly1305), whereas decrypting bytes that
 * were not sealed with this key would stop at the tag check and cost less.
 * So all four are timed as encryptions. */
static void small_aead(login_ctx *c, size_t len)
{
    uint8_t nonce[12] = {0};
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(c->buf, c->tag, NULL, c->buf, len, c->hh,
                                                       32, NULL, nonce, c->k);
    mix_hash(c, c->buf, len + 16);
}

static void login_handshake(login_ctx *c)
{
    uint8_t e_priv[32], e_pub[32], dh[32];
    memset(c->ck, 0x11, sizeof c->ck);
    memset(c->hh, 0x11, sizeof c->hh);
    mix_hash(c, c->ie_pub, 32);          /* HS1: e */
    mix_hash(c, c->buf, 16);             /* HS1: payload */
    randombytes_buf(e_priv, sizeof e_priv);
    crypto_scalarmult_base(e_pub, e_priv); /* HS2: e */
    mix_hash(c, e_pub, 32);
    x25519(dh, e_priv, c->ie_pub); /* ee */
    hkdf2(c, dh, 32);
    small_aead(c, 32);                /* HS2: s, encrypted */
    x25519(dh, c->s_priv, c->ie_pub); /* es */
    hkdf2(c, dh, 32);
    small_aead(c, 16);                /* HS2: payload (version) */
    small_aead(c, 32);                /* HS3: s, decrypted */
    x25519(dh, e_priv, c->is_pub); /* se */
    hkdf2(c, dh, 32);
    small_aead(c, 24);                /* HS3: payload (LOGIN) */
    hkdf2(c, NULL, 0);                   /* Split */
    absorb(c->k, sizeof c->k);
    sodium_memzero(e_priv, sizeof e_priv);
    sodium_memzero(dh, sizeof dh);
}

static void login_verify(login_ctx *c)
{
    memcpy(c->proof_msg + 32, c->hh, 32);
    int ok = crypto_sign_verify_detached(c->sig, c->proof_msg, sizeof c->proof_msg, c->sign_pk);
    g_sink[0] ^= (uint8_t)(ok + 1);
}

/* Median µs per call of fn over rounds. */
static double time_login(login_ctx *c, void (*fn)(login_ctx *), int rounds, int iters)
{
    double *v = calloc((size_t)rounds, sizeof *v);
    if (v == NULL)
        return 0;
    for (int i = 0; i < iters; i++)
        fn(c);
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ns();
        for (int i = 0; i < iters; i++)
            fn(c);
        v[r] = (now_ns() - t0) / iters / 1000.0;
    }
    double m = median(v, (size_t)rounds);
    free(v);
    return m;
}

static void login_full(login_ctx *c)
{
    login_handshake(c);
    login_verify(c);
}

static void login_init(login_ctx *c)
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES], priv[32];
    randombytes_buf(c->s_priv, sizeof c->s_priv);
    randombytes_buf(priv, sizeof priv);
    crypto_scalarmult_base(c->ie_pub, priv);
    randombytes_buf(priv, sizeof priv);
    crypto_scalarmult_base(c->is_pub, priv);
    randombytes_buf(c->buf, sizeof c->buf);
    memset(c->tag, 0, sizeof c->tag);
    memset(c->hh, 0, sizeof c->hh);
    crypto_sign_keypair(c->sign_pk, sk);
    randombytes_buf(c->proof_msg, sizeof c->proof_msg);
    /* A valid signature, so the verify takes its normal (accepting) path. */
    crypto_sign_detached(c->sig, NULL, c->proof_msg, sizeof c->proof_msg, sk);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(priv, sizeof priv);
}

static void usage(void)
{
    fprintf(stderr, "usage: cryptofloor [-b BYTES] [-r ROUNDS] [-q]\n"
                    "  -b BYTES   AEAD message size (default 100, at most %d)\n"
                    "  -r ROUNDS  timed rounds per measurement (default 9)\n"
                    "  -q         quick: fewer iterations per round\n",
            AEAD_MAX);
}

int main(int argc, char **argv)
{
    long bytes = 100;
    int rounds = 9, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-b") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            bytes = strtol(argv[++i], &end, 10);
            if (errno != 0 || *end != '\0' || bytes < 1 || bytes > AEAD_MAX) {
                fprintf(stderr, "cryptofloor: -b wants 1..%d\n", AEAD_MAX);
                return 2;
            }
        } else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
            if (rounds < 1 || rounds > 1000) {
                fprintf(stderr, "cryptofloor: -r wants 1..1000\n");
                return 2;
            }
        } else if (strcmp(argv[i], "-q") == 0) {
            quick = 1;
        } else {
            usage();
            return 2;
        }
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "cryptofloor: sodium_init failed\n");
        return 1;
    }
    /* Iterations per round: each round lasts some tens of milliseconds,
     * long enough for the 1 ms-scale noise of a shared machine to average
     * out, short enough for compare.sh --quick. */
    int div = quick ? 4 : 1;
    double aead = time_aead((size_t)bytes, rounds, 100000 / div);
    double aead4k = time_aead(AEAD_MAX, rounds, 20000 / div);
    login_ctx lc;
    login_init(&lc);
    double hs = time_login(&lc, login_handshake, rounds, 400 / div);
    double ver = time_login(&lc, login_verify, rounds, 400 / div);
    double login = time_login(&lc, login_full, rounds, 300 / div);
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof g_sink; i++)
        sum += g_sink[i];
    fprintf(stderr, "cryptofloor: checksum %u\n", sum);
    printf("CRYPTO b=%ld aead_ns=%.1f aead_per_s=%.0f aead4k_ns=%.1f hs_us=%.1f verify_us=%.1f "
           "login_us=%.1f logins_per_s=%.0f\n",
           bytes, aead, 1e9 / aead, aead4k, hs, ver, login, 1e6 / login);
    sodium_memzero(&lc, sizeof lc);
    return 0;
}
