/* chat-conformance: run protocol transcripts against an implementation.
 *
 *   chat-conformance [options] PATH...      run transcripts (files or directories)
 *   chat-conformance --list PATH...         list them
 *   chat-conformance --record OUT IN        record IN in process into a known-answer OUT
 *
 * One line per transcript (PASS, FAIL with file:line and expected vs
 * actual, SKIP with the reason), then exactly "N passed, M failed, K
 * skipped"; the exit status is 1 when anything failed. See
 * docs/TRANSCRIPTS.md. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "exec.h"

#define EXIT_USAGE 64

static void usage(FILE *f)
{
    fputs("usage: chat-conformance [options] PATH...\n"
          "       chat-conformance --record OUT.chat IN.chat\n"
          "Runs the protocol transcripts in PATH (files, or directories searched for\n"
          "*.chat) against an implementation and prints one line per transcript, then\n"
          "'N passed, M failed, K skipped'. Exit status 1 if any failed.\n"
          "\n"
          "Implementation under test:\n"
          "  --adapter inproc     libchat in this process (default): hub and client,\n"
          "                       injected randomness, virtual clock\n"
          "  --tcp HOST:PORT      a running server over TCP; accounts are made (and deleted\n"
          "                       after) through --admin-user; transcripts with settings or\n"
          "                       a fixed server key are skipped\n"
          "  --chatd PATH         over TCP against a fresh chatd started per transcript\n"
          "                       (temporary state dir, loopback, ephemeral port, the\n"
          "                       transcript's settings, accounts and server key)\n"
          "  --chatd-set KEY=VAL  an extra chatd setting (repeatable)\n"
          "  --admin-user U, --admin-pass-file F\n"
          "                       an admin account of the --tcp server (password: the\n"
          "                       first line of F)\n"
          "  --shim PATH          a separate program, a shim, that puts an implementation\n"
          "                       (server or client) behind the shim protocol of\n"
          "                       docs/SHIM.md; started per transcript\n"
          "  --shim-arg ARG       an argument for the shim (repeatable), e.g.\n"
          "                       --shim chat-shim --shim-arg --role --shim-arg server\n"
          "\n"
          "Selection and output:\n"
          "  --only PREFIX        run only transcripts whose @id starts with PREFIX\n"
          "                       (repeatable), e.g. --only login/\n"
          "  --role ROLE          server, client or both (default: what the transcript and\n"
          "                       the adapter support)\n"
          "  --list               list transcripts (id, kind, roles, file, description)\n"
          "  --check              parse only\n"
          "  -v, --verbose        narrate every step, byte count and event\n"
          "  --timeout MS         how long adapters that wait may wait for an event [2000]\n"
          "\n"
          "Recording:\n"
          "  --record OUT IN      run IN in process (server role) and write it as a\n"
          "                       known-answer transcript with every frame (OUT may be IN)\n"
          "  --record-check       for each known-answer transcript given, re-record it and\n"
          "                       fail if the file differs (the transcripts are current)\n"
          "\n"
          "Testing the suite itself:\n"
          "  --bug NAME           make the in-process server deviate from the protocol in\n"
          "                       one way: lost-passwd, extra-attempt, reject-code,\n"
          "                       slow-idle, keep-deleted (the suite must then fail);\n"
          "                       the project's chat-shim takes the same --bug\n",
          f);
}

typedef struct opts {
    const char **only;
    size_t nonly;
    unsigned roles; /* 0: all */
    int list, check, verbose, record_check;
    uint32_t timeout_ms;
    int bug;
} opts;

/* ---- collecting files ---------------------------------------------------------------- */

typedef struct paths {
    char **p;
    size_t n, cap;
} paths;

static void paths_add(paths *ps, const char *p)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 64;
        ps->p = cf_xrealloc(ps->p, ps->cap * sizeof *ps->p);
    }
    ps->p[ps->n++] = cf_xstrdup(p);
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int collect(paths *ps, const char *path, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "chat-conformance: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        paths_add(ps, path);
        return 0;
    }
    if (depth > 8)
        return 0;
    DIR *d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "chat-conformance: %s: %s\n", path, strerror(errno));
        return -1;
    }
    paths sub = {0};
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        size_t n = strlen(path) + strlen(de->d_name) + 2;
        char *full = cf_xmalloc(n);
        snprintf(full, n, "%s/%s", path, de->d_name);
        struct stat s2;
        if (stat(full, &s2) == 0 && (S_ISDIR(s2.st_mode) || ends_with(de->d_name, ".chat")))
            paths_add(&sub, full);
        free(full);
    }
    closedir(d);
    qsort(sub.p, sub.n, sizeof *sub.p, cmp_path);
    int rc = 0;
    for (size_t i = 0; i < sub.n; i++) {
        rc |= collect(ps, sub.p[i], depth + 1);
        free(sub.p[i]);
    }
    free(sub.p);
    return rc;
}

/* ---- running -------------------------------------------------------------------------- */

static int selected(const opts *o, const char *id)
{
    if (o->nonly == 0)
        return 1;
    for (size_t i = 0; i < o->nonly; i++)
        if (strncmp(id, o->only[i], strlen(o->only[i])) == 0)
            return 1;
    return 0;
}

static const char *roles_name(unsigned roles)
{
    return roles == (CF_ROLE_SERVER | CF_ROLE_CLIENT) ? "server,client"
           : roles == CF_ROLE_CLIENT                  ? "client"
                                                      : "server";
}

/* Run one transcript in every role asked for; fold into one result. */
static void run_one(const cf_transcript *t, cf_adapter *ad, const opts *o, cf_result *out,
                    unsigned *passed_roles)
{
    unsigned roles = t->roles & (o->roles ? o->roles : (CF_ROLE_SERVER | CF_ROLE_CLIENT));
    *passed_roles = 0;
    memset(out, 0, sizeof *out);
    out->status = CF_SKIP;
    if (roles == 0) {
        cf_fmt(out->msg, sizeof out->msg, "tests a %s, --role excludes it", roles_name(t->roles));
        return;
    }
    cf_buf skips = {0};
    for (unsigned role = CF_ROLE_SERVER; role <= CF_ROLE_CLIENT; role <<= 1) {
        if (!(roles & role))
            continue;
        cf_run_opts ro;
        memset(&ro, 0, sizeof ro);
        ro.role = role;
        ro.timeout_ms = o->timeout_ms;
        ro.trace = o->verbose ? stdout : NULL;
        if (o->verbose)
            printf("--- %s (%s role) ---\n", t->id, role == CF_ROLE_SERVER ? "server" : "client");
        cf_result r;
        cf_run(t, ad, &ro, &r);
        if (r.status == CF_FAIL) {
            out->status = CF_FAIL;
            cf_fmt(out->msg, sizeof out->msg, "[%s] %s", role == CF_ROLE_SERVER ? "server" : "client",
                   r.msg);
            cf_buf_free(&skips);
            return;
        }
        if (r.status == CF_PASS) {
            out->status = CF_PASS;
            *passed_roles |= role;
        } else {
            cf_buf_printf(&skips, "%s%s role: %s", skips.len ? "; " : "",
                          role == CF_ROLE_SERVER ? "server" : "client", r.msg);
        }
    }
    if (out->status == CF_SKIP)
        cf_fmt(out->msg, sizeof out->msg, "%s", skips.p != NULL ? (const char *)skips.p : "");
    cf_buf_free(&skips);
}

static int record_to(const cf_transcript *t, cf_adapter *ad, cf_buf *out, char *err, size_t cap)
{
    cf_recording rec;
    memset(&rec, 0, sizeof rec);
    cf_run_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.role = CF_ROLE_SERVER;
    ro.timeout_ms = 2000;
    ro.record = &rec;
    cf_result r;
    cf_run(t, ad, &ro, &r);
    int rc = 0;
    if (r.status != CF_PASS) {
        cf_fmt(err, cap, "%s", r.status == CF_SKIP ? r.msg : r.msg);
        rc = -1;
    } else {
        rc = cf_record_write(t, &rec, t->mono0, t->wall0, out, err, cap);
    }
    cf_recording_free(&rec);
    return rc;
}

static int do_record(const char *outpath, const char *inpath, cf_adapter *ad)
{
    char err[4096];
    cf_transcript *t;
    if (cf_transcript_load(inpath, &t, err, sizeof err) != 0) {
        fprintf(stderr, "chat-conformance: %s\n", err);
        return 1;
    }
    cf_buf out = {0};
    int rc = record_to(t, ad, &out, err, sizeof err);
    cf_transcript_free(t);
    if (rc != 0) {
        fprintf(stderr, "chat-conformance: recording failed: %s\n", err);
        cf_buf_free(&out);
        return 1;
    }
    FILE *f = strcmp(outpath, "-") == 0 ? stdout : fopen(outpath, "wb");
    if (f == NULL) {
        fprintf(stderr, "chat-conformance: %s: %s\n", outpath, strerror(errno));
        cf_buf_free(&out);
        return 1;
    }
    int bad = fwrite(out.p, 1, out.len, f) != out.len;
    if (f != stdout)
        bad |= fclose(f) != 0;
    cf_buf_free(&out);
    if (bad) {
        fprintf(stderr, "chat-conformance: %s: write error\n", outpath);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts o;
    memset(&o, 0, sizeof o);
    o.timeout_ms = 2000;
    o.only = cf_xcalloc((size_t)argc + 1, sizeof *o.only);
    const char **inputs = cf_xcalloc((size_t)argc + 1, sizeof *inputs);
    size_t ninputs = 0;
    const char *record_out = NULL, *record_in = NULL;
    cf_tcp_opts tcpo;
    memset(&tcpo, 0, sizeof tcpo);
    const char **sets = cf_xcalloc((size_t)argc + 1, sizeof *sets);
    size_t nsets = 0;
    const char *admin_pass_file = NULL;
    /* The shim and its arguments (NULL-terminated). */
    const char **shim_argv = cf_xcalloc((size_t)argc + 2, sizeof *shim_argv);
    size_t nshim_args = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--adapter") == 0 && next != NULL) {
            i++;
            if (strcmp(next, "inproc") != 0) {
                fprintf(stderr, "chat-conformance: unknown adapter '%s' (inproc; --tcp and "
                                "--shim are options of their own)\n", next);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--shim") == 0 && next != NULL) {
            shim_argv[0] = next;
            i++;
        } else if (strcmp(a, "--shim-arg") == 0 && next != NULL) {
            shim_argv[1 + nshim_args++] = next;
            i++;
        } else if (strcmp(a, "--tcp") == 0 && next != NULL) {
            tcpo.hostport = next;
            i++;
        } else if (strcmp(a, "--chatd") == 0 && next != NULL) {
            tcpo.chatd = next;
            i++;
        } else if (strcmp(a, "--chatd-set") == 0 && next != NULL) {
            sets[nsets++] = next;
            i++;
        } else if (strcmp(a, "--admin-user") == 0 && next != NULL) {
            tcpo.admin_user = next;
            i++;
        } else if (strcmp(a, "--admin-pass-file") == 0 && next != NULL) {
            admin_pass_file = next;
            i++;
        } else if (strcmp(a, "--only") == 0 && next != NULL) {
            o.only[o.nonly++] = next;
            i++;
        } else if (strcmp(a, "--role") == 0 && next != NULL) {
            i++;
            if (strcmp(next, "server") == 0)
                o.roles = CF_ROLE_SERVER;
            else if (strcmp(next, "client") == 0)
                o.roles = CF_ROLE_CLIENT;
            else if (strcmp(next, "both") == 0)
                o.roles = CF_ROLE_SERVER | CF_ROLE_CLIENT;
            else {
                fprintf(stderr, "chat-conformance: --role server|client|both\n");
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--list") == 0) {
            o.list = 1;
        } else if (strcmp(a, "--check") == 0) {
            o.check = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            o.verbose = 1;
        } else if (strcmp(a, "--timeout") == 0 && next != NULL) {
            o.timeout_ms = (uint32_t)strtoul(next, NULL, 10);
            i++;
        } else if (strcmp(a, "--bug") == 0 && next != NULL) {
            o.bug = cf_bug_by_name(next);
            if (o.bug < 0) {
                fprintf(stderr, "chat-conformance: unknown bug '%s'\n", next);
                return EXIT_USAGE;
            }
            i++;
        } else if (strcmp(a, "--record") == 0 && next != NULL && i + 2 < argc) {
            record_out = next;
            record_in = argv[i + 2];
            i += 2;
        } else if (strcmp(a, "--record-check") == 0) {
            o.record_check = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "chat-conformance: unknown option or missing argument: %s\n", a);
            usage(stderr);
            return EXIT_USAGE;
        } else {
            inputs[ninputs++] = a;
        }
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "chat-conformance: libsodium failed to initialise\n");
        return 1;
    }
    if (tcpo.hostport != NULL && tcpo.chatd != NULL) {
        fprintf(stderr, "chat-conformance: --tcp and --chatd exclude each other\n");
        return EXIT_USAGE;
    }
    tcpo.sets = sets;
    char admin_pass[1024];
    admin_pass[0] = '\0';
    if (admin_pass_file != NULL) {
        FILE *f = fopen(admin_pass_file, "r");
        if (f == NULL || fgets(admin_pass, sizeof admin_pass, f) == NULL) {
            fprintf(stderr, "chat-conformance: %s: cannot read the admin password\n",
                    admin_pass_file);
            if (f != NULL)
                fclose(f);
            return EXIT_USAGE;
        }
        fclose(f);
        admin_pass[strcspn(admin_pass, "\r\n")] = '\0';
        tcpo.admin_pass = admin_pass;
    }
    if ((tcpo.admin_user == NULL) != (tcpo.admin_pass == NULL)) {
        fprintf(stderr, "chat-conformance: --admin-user and --admin-pass-file go together\n");
        return EXIT_USAGE;
    }
    if (shim_argv[0] == NULL && nshim_args > 0) {
        fprintf(stderr, "chat-conformance: --shim-arg without --shim\n");
        return EXIT_USAGE;
    }
    if (shim_argv[0] != NULL && (tcpo.hostport != NULL || tcpo.chatd != NULL || o.bug != 0)) {
        fprintf(stderr, "chat-conformance: --shim excludes --tcp, --chatd and --bug (give the "
                        "shim its own --shim-arg --bug NAME)\n");
        return EXIT_USAGE;
    }
    if (o.bug != 0 && (tcpo.hostport != NULL || tcpo.chatd != NULL)) {
        fprintf(stderr, "chat-conformance: --bug is for the in-process server only\n");
        return EXIT_USAGE;
    }
    cf_adapter ad;
    if (shim_argv[0] != NULL) {
        char err[600];
        int rc = cf_shim_new(shim_argv, &ad, err, sizeof err);
        free(shim_argv);
        if (rc != 0) {
            fprintf(stderr, "chat-conformance: --shim: %s\n", err);
            free(sets);
            free(o.only);
            free(inputs);
            return 1;
        }
    } else {
        free(shim_argv);
        ad = tcpo.hostport != NULL || tcpo.chatd != NULL ? cf_tcp_new(&tcpo)
                                                         : cf_inproc_new(o.bug);
    }
    int status = 0;
    if (record_out != NULL) {
        status = do_record(record_out, record_in, &ad);
        free(sets);
        ad.ops->destroy(ad.self);
        free(o.only);
        free(inputs);
        return status;
    }
    if (ninputs == 0) {
        usage(stderr);
        free(sets);
        ad.ops->destroy(ad.self);
        free(o.only);
        free(inputs);
        return EXIT_USAGE;
    }
    paths ps = {0};
    for (size_t i = 0; i < ninputs; i++)
        if (collect(&ps, inputs[i], 0) != 0)
            status = 1;

    size_t passed = 0, failed = 0, skipped = 0;
    char **ids = cf_xcalloc(ps.n + 1, sizeof *ids);
    size_t nids = 0;
    for (size_t i = 0; i < ps.n; i++) {
        char err[4096];
        cf_transcript *t = NULL;
        if (cf_transcript_load(ps.p[i], &t, err, sizeof err) != 0) {
            printf("FAIL %s: %s\n", ps.p[i], err);
            failed++;
            continue;
        }
        if (!selected(&o, t->id)) {
            cf_transcript_free(t);
            continue;
        }
        int dup = 0;
        for (size_t k = 0; k < nids; k++)
            dup |= strcmp(ids[k], t->id) == 0;
        if (dup) {
            printf("FAIL %s: %s:1: duplicate @id (another file has it)\n", t->id, t->file);
            failed++;
            cf_transcript_free(t);
            continue;
        }
        ids[nids++] = cf_xstrdup(t->id);
        if (o.list) {
            printf("%-40s %-8s %-13s %s  %s\n", t->id, t->kind == CF_KIND_KAT ? "kat" : "scenario",
                   roles_name(t->roles), t->file, t->desc);
            cf_transcript_free(t);
            continue;
        }
        if (o.check) {
            printf("PASS %s (parses)\n", t->id);
            passed++;
            cf_transcript_free(t);
            continue;
        }
        if (o.record_check) {
            if (t->kind != CF_KIND_KAT) {
                cf_transcript_free(t);
                continue;
            }
            cf_buf out = {0};
            if (record_to(t, &ad, &out, err, sizeof err) != 0) {
                printf("FAIL %s: re-recording failed: %s\n", t->id, err);
                failed++;
            } else if (out.len != t->srclen || memcmp(out.p, t->src, out.len) != 0) {
                size_t k = 0, line = 1;
                while (k < out.len && k < t->srclen && out.p[k] == (uint8_t)t->src[k])
                    line += t->src[k++] == '\n';
                printf("FAIL %s: %s:%zu: differs from a fresh recording (re-record it with "
                       "chat-conformance --record %s %s)\n",
                       t->id, t->file, line, t->file, t->file);
                failed++;
            } else {
                printf("PASS %s (recording is current)\n", t->id);
                passed++;
            }
            cf_buf_free(&out);
            cf_transcript_free(t);
            continue;
        }
        cf_result r;
        unsigned roles = 0;
        run_one(t, &ad, &o, &r, &roles);
        switch (r.status) {
        case CF_PASS:
            printf("PASS %s [%s]\n", t->id, roles_name(roles));
            passed++;
            break;
        case CF_FAIL:
            printf("FAIL %s %s\n", t->id, r.msg);
            failed++;
            break;
        default:
            printf("SKIP %s (%s)\n", t->id, r.msg);
            skipped++;
            break;
        }
        fflush(stdout);
        cf_transcript_free(t);
    }
    if (!o.list)
        printf("%zu passed, %zu failed, %zu skipped\n", passed, failed, skipped);
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    for (size_t i = 0; i < ps.n; i++)
        free(ps.p[i]);
    free(ps.p);
    ad.ops->destroy(ad.self);
    free(o.only);
    free(inputs);
    free(sets);
    return status != 0 || failed > 0 ? 1 : 0;
}
