/* The transcript parser: what it accepts, the file:line errors it gives,
 * and that it is total (any bytes give a transcript or an error). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transcript.h"

static const char valid[] =
    "# a comment\n"
    "@version 1\n"
    "@id test/valid\n"
    "@desc a transcript   \n"
    "@covers 6.1 9.2 8.1:AWAIT_PROOF\n"
    "@server motd=\"hi\\nthere\" rooms=#a,#b login-timeout=5s\n"
    "@account alice password=\"pw\" role=admin\n"
    "@actor alice client password=\"pw\"\n"
    "@actor bob client user=Bob auto=no addr=2\n"
    "\n"
    "alice connect\n"
    "alice expect WELCOME user=alice role=admin  # folded\n"
    "alice send SEND target=#a text=\"caf\\u{e9} \\x41\" | xor at=-1 mask=0x80 | replay\n"
    "alice send JOIN room=#lobby\n"
    "bob connect hs1=no\n"
    "bob send-plain 0x0001 ff \"ab\" 0x00*3\n"
    "bob send PROOF signature=0x0102 0304\n"
    "any { alice expect-close code=PROTOCOL | alice expect-close silent }\n"
    "alice expect ERROR code!=BAD_LOGIN req>=2 text~\"no\" \\\n"
    "    \n"
    "time +1500ms\n";

static cf_transcript *parse_ok(const char *src)
{
    cf_transcript *t = NULL;
    char err[512];
    int rc = cf_transcript_parse("t.chat", (const uint8_t *)src, strlen(src), &t, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "unexpected error: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(t);
    return t;
}

static void test_valid(void **state)
{
    (void)state;
    cf_transcript *t = parse_ok(valid);
    assert_string_equal(t->id, "test/valid");
    assert_string_equal(t->desc, "a transcript");
    assert_int_equal(t->kind, CF_KIND_SCENARIO);
    assert_int_equal(t->roles, CF_ROLE_SERVER);
    assert_int_equal(t->ncovers, 3);
    assert_string_equal(t->covers[2], "8.1:AWAIT_PROOF");
    assert_int_equal(t->naccounts, 1);
    assert_int_equal(t->accounts[0].role, 1);
    assert_int_equal(t->nactors, 2);
    assert_string_equal(t->actors[1].user, "Bob");
    assert_int_equal(t->actors[1].auto_login, 0);
    assert_int_equal(t->actors[1].addr, 2);
    assert_int_equal(t->nsteps, 10);

    const cf_step *send = &t->steps[2];
    assert_int_equal(send->verb, CF_VERB_SEND);
    assert_string_equal(send->m->name, "SEND");
    const cf_arg *text = cf_arg_find(send->args, send->nargs, "text");
    assert_non_null(text);
    assert_int_equal(text->v.n, 7);
    assert_memory_equal(text->v.p, "caf\xc3\xa9 A", 7);
    const cf_arg *room = cf_arg_find(send->args, send->nargs, "target");
    assert_memory_equal(room->v.p, "#a", 2); /* '#' inside a word is not a comment */
    assert_int_equal(send->nmods, 2);
    assert_int_equal(send->mods[0].kind, CF_MOD_XOR);
    assert_int_equal(send->mods[0].a, -1);
    assert_int_equal(send->mods[0].b, 0x80);
    assert_int_equal(send->mods[1].kind, CF_MOD_REPLAY);

    const cf_step *plain = &t->steps[5];
    size_t total = 0;
    for (size_t i = 0; i < plain->ndata; i++)
        total += plain->data[i].n;
    assert_int_equal(total, 3 + 2 + 3);

    const cf_arg *sig = cf_arg_find(t->steps[6].args, t->steps[6].nargs, "signature");
    assert_int_equal(sig->v.n, 4); /* hex continues over a space */

    assert_int_equal(t->steps[7].verb, CF_VERB_ANY);
    assert_int_equal(t->steps[7].nalts, 2);

    const cf_step *err = &t->steps[8];
    assert_int_equal(err->line, 19);
    assert_int_equal(err->line_end, 20); /* continued */
    assert_int_equal(err->args[0].op, CF_OP_NE);
    assert_int_equal(err->args[1].op, CF_OP_GE);
    assert_int_equal(err->args[2].op, CF_OP_HAS);
    assert_int_equal(t->steps[9].ms, 1500);
    cf_transcript_free(t);
}

/* Each input must fail with this line number and a message containing
 * this text. */
static const struct {
    const char *src;
    int line;
    const char *msg;
} bad[] = {
    {"@version 2\n", 1, "only version 1"},
    {"@version 1\n@id x\n", 1, "no steps"},
    {"@version 1\nalice connect\n", 2, "@id must come"},
    {"@version 1\n@id x\n@bogus 1\n", 3, "unknown header"},
    {"@id x\n@actor a client\na connect\n@desc late\n", 4, "before the first step"},
    {"@id x\n@actor a client\na fly\n", 3, "expected a verb"},
    {"@id x\nbob connect\n", 2, "unknown actor or verb"},
    {"@id x\n@actor a client\na send NOPE\n", 3, "unknown message type"},
    {"@id x\n@actor a client\na send OK req=1\n", 3, "cannot send OK"},
    {"@id x\n@actor a client\na expect JOIN\n", 3, "does not receive JOIN"},
    {"@id x\n@actor a client\na send JOIN rooom=#x\n", 3, "no field 'rooom'"},
    {"@id x\n@actor a client\na send JOIN room=\"#x\n", 3, "unterminated string"},
    {"@id x\n@actor a client\na send JOIN room=\"\\q\"\n", 3, "unknown escape"},
    {"@id x\n@actor a client\na send PROOF signature=0x123\n", 3, "odd number"},
    {"@id x\n@actor a client\na send SEND text=\"a\"*99999999\n", 3, "repetition"},
    {"@id x\n@actor a client\na send SEND text=$\n", 3, "bad variable"},
    {"@id x\n@actor a client\na expect-close silent code=PROTOCOL\n", 3, "silent takes nothing"},
    {"@id x\n@actor a client\na send PING | flip\n", 3, "unknown modifier"},
    {"@id x\n@actor a client\na expect OK | replay\n", 3, "modifiers"},
    {"@id x\n@actor a client\nany { a expect OK }\n", 3, "at least two"},
    {"@id x\n@actor a client\nany { a send PING | a expect OK }\n", 3, "alternatives must be"},
    {"@id x\n@actor a client\nwire c>s 00\n", 3, "wire steps belong"},
    {"@id x\n@kind kat\n@actor a client\n@actor b client\nwire c>s 00\n", 5, "exactly one client"},
    {"@id x\n@actor a client\ntime 5s\n", 3, "time +DURATION"},
    {"@id x\n@actor a client\n@actor a client\n", 3, "declared twice"},
    {"@id x\n@actor wire client\n", 2, "cannot name an actor"},
    {"@id x\n@actor s server\n", 2, "@role client"},
    {"@id x\n@key a.static 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", 2, "no actor"},
    {"@id x\n@actor a client\n@key a.static 0011\n", 3, "32 bytes"},
    {"@id x\n@random server salt 00\n", 2, "16 bytes"},
    {"@id x\n@random server nonce 00\n", 2, "purpose"},
    {"@id x\n@server turbo=1\n", 2, "unknown setting"},
    {"@id x\n@covers 8.1:\n", 2, "8.1:STATE"},
    {"@id x\n@covers intro\n", 2, "section numbers"},
    {"@id x\n@server idle-timeout=soon\n", 2, "bad duration"},
    {"@id x\n@account 1abc password=\"x\"\n", 2, "valid user name"},
    {"@id x\n@account abc\n", 2, "password= or pk="},
    {"@id x\n@role client\n@actor a client\na send-plain 00\n", 4, "only an actor the runner plays"},
    {"@id x\n@role client\n@actor a client\na send LOGIN user=a\n", 4, "sends only requests"},
    {"@id x\n@role client\n@actor a client\na send PING req=3\n", 4, "chooses its request ids"},
    {"@id x\n@role both\n@actor a client\na connect\n", 1, "for kat"},
    {"@id x\n@actor a client\na connect\n\n\x01\x02\x00zz\n", 5, "NUL byte"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cf_transcript *t = NULL;
        char err[512];
        size_t n = strlen(bad[i].src);
        if (strstr(bad[i].msg, "NUL") != NULL)
            n = strlen(bad[i].src) + 4; /* the embedded NUL and what follows */
        int rc = cf_transcript_parse("bad.chat", (const uint8_t *)bad[i].src, n, &t, err,
                                     sizeof err);
        char want[64];
        snprintf(want, sizeof want, "bad.chat:%d: ", bad[i].line);
        if (rc != -1 || strncmp(err, want, strlen(want)) != 0 || strstr(err, bad[i].msg) == NULL)
            fprintf(stderr, "case %zu: rc=%d err=\"%s\", wanted \"%s...%s\"\n", i, rc, err, want,
                    bad[i].msg);
        assert_int_equal(rc, -1);
        assert_null(t);
        assert_int_equal(strncmp(err, want, strlen(want)), 0);
        assert_non_null(strstr(err, bad[i].msg));
    }
}

/* Repetition cannot make a small file hold much memory: all values of a
 * transcript together are at most CF_MAX_VALUES bytes. */
static void test_value_budget(void **state)
{
    (void)state;
    cf_buf src = {0};
    cf_buf_printf(&src, "@id x\n@actor a client\na send SEND");
    size_t under = CF_MAX_VALUES / CF_MAX_VALUE - 1;
    for (size_t i = 0; i < under; i++)
        cf_buf_printf(&src, " text=\"a\"*%u", CF_MAX_VALUE);
    cf_buf_printf(&src, "\n");
    cf_transcript *t = parse_ok((const char *)src.p);
    cf_transcript_free(t);

    /* Two more values, on a line of their own: over the budget. */
    cf_buf_printf(&src, "a send SEND text=\"b\"*%u text=\"b\"*%u\n", CF_MAX_VALUE, CF_MAX_VALUE);
    char err[512];
    int rc = cf_transcript_parse("big.chat", src.p, src.len, &t, err, sizeof err);
    assert_int_equal(rc, -1);
    assert_null(t);
    assert_string_equal(err, "big.chat:4: values too long in total (after repetition)");
    cf_buf_free(&src);
}

/* Deterministic mutations of the valid transcript (and pure noise): the
 * parser never crashes, and a failure always names file and line. Run
 * under AddressSanitizer this is a small fuzzer. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static void test_total(void **state)
{
    (void)state;
    static const char *const pieces[] = {"\"", "\\", "|", "{", "}", "#", "=", "0x", "$", "*",
                                         "\n", " ", "@", "any", "wire", "c>s", "\\\n", "*99",
                                         "\\u{", "\\x", "!=", "~", "-", "eof", "send", "expect"};
    size_t base = strlen(valid);
    uint8_t *buf = malloc(base + 256);
    assert_non_null(buf);
    size_t ok = 0;
    for (int iter = 0; iter < 30000; iter++) {
        size_t n = base;
        memcpy(buf, valid, base);
        int edits = 1 + (int)(rnd() % 6);
        for (int e = 0; e < edits; e++) {
            size_t at = n > 0 ? (size_t)(rnd() % n) : 0;
            switch (rnd() % 4) {
            case 0: /* flip a byte */
                if (n > 0)
                    buf[at] = (uint8_t)rnd();
                break;
            case 1: /* truncate */
                n = at;
                break;
            case 2: { /* insert a meaningful piece */
                const char *p = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
                size_t pn = strlen(p);
                if (n + pn < base + 256) {
                    memmove(buf + at + pn, buf + at, n - at);
                    memcpy(buf + at, p, pn);
                    n += pn;
                }
                break;
            }
            default: /* delete a span */
                if (n > 0) {
                    size_t len = (size_t)(rnd() % 8);
                    if (len > n - at)
                        len = n - at;
                    memmove(buf + at, buf + at + len, n - at - len);
                    n -= len;
                }
                break;
            }
        }
        if (iter % 10 == 0) { /* pure noise */
            n = (size_t)(rnd() % 200);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)rnd();
        }
        cf_transcript *t = NULL;
        char err[512] = "";
        int rc = cf_transcript_parse("m.chat", buf, n, &t, err, sizeof err);
        if (rc == 0) {
            assert_non_null(t);
            ok++;
            cf_transcript_free(t);
        } else {
            assert_null(t);
            assert_int_equal(strncmp(err, "m.chat:", 7), 0);
        }
    }
    free(buf);
    /* Some mutations still parse (a flipped comment byte, say). */
    assert_true(ok > 0);
}

static void test_duration(void **state)
{
    (void)state;
    uint64_t ms = 0;
    assert_int_equal(cf_parse_duration((const uint8_t *)"250", 3, &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(cf_parse_duration((const uint8_t *)"+2s", 3, &ms), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(cf_parse_duration((const uint8_t *)"5m", 2, &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(cf_parse_duration((const uint8_t *)"7ms", 3, &ms), 0);
    assert_int_equal(ms, 7);
    assert_int_equal(cf_parse_duration((const uint8_t *)"s", 1, &ms), -1);
    assert_int_equal(cf_parse_duration((const uint8_t *)"3d", 2, &ms), -1);
    assert_int_equal(cf_parse_duration((const uint8_t *)"99999999999999999999h", 21, &ms), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_total),
        cmocka_unit_test(test_value_budget),
        cmocka_unit_test(test_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
