/* The recorder's writer: a transcript's own text, with its wire lines and
 * its @kind, @key, @random and @time headers regenerated from what an
 * in-process run did (docs/TRANSCRIPTS.md §10). Everything else (steps,
 * comments, layout) is kept, so a re-recording after an intended protocol
 * change shows up in review as a diff of wire lines. */
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "rng.h"

#define GROUPS_PER_LINE 8

static void put_hex_lines(cf_buf *out, const char *prefix, const uint8_t *p, size_t n,
                          const char *desc)
{
    size_t indent = strlen(prefix);
    cf_buf_printf(out, "%s", prefix);
    size_t groups = (n + 3) / 4;
    for (size_t g = 0; g < groups; g++) {
        if (g > 0 && g % GROUPS_PER_LINE == 0) {
            cf_buf_printf(out, " \\\n%*s", (int)indent, "");
        } else if (g > 0) {
            cf_buf_byte(out, ' ');
        }
        for (size_t i = g * 4; i < n && i < g * 4 + 4; i++)
            cf_buf_printf(out, "%02x", p[i]);
    }
    if (desc != NULL && desc[0])
        cf_buf_printf(out, "  # %s", desc);
    cf_buf_byte(out, '\n');
}

static int is_wire_line(const cf_transcript *t, int line)
{
    for (size_t i = 0; i < t->nsteps; i++)
        if (t->steps[i].verb == CF_VERB_WIRE && line >= t->steps[i].line &&
            line <= t->steps[i].line_end)
            return 1;
    return 0;
}

static void put_items(const cf_transcript *t, const cf_recording *rec, size_t step, cf_buf *out)
{
    size_t clients = 0;
    for (size_t i = 0; i < t->nactors; i++)
        clients += !t->actors[i].is_server;
    for (size_t i = 0; i < rec->n; i++) {
        const cf_wire_item *it = &rec->items[i];
        if (it->step != step)
            continue;
        char prefix[128];
        const char *dir = it->dir == CF_DIR_C2S ? "c>s" : "s>c";
        if (clients > 1)
            cf_fmt(prefix, sizeof prefix, "%s wire %s ", t->actors[it->actor].name, dir);
        else
            cf_fmt(prefix, sizeof prefix, "wire %s ", dir);
        if (it->eof) {
            cf_buf_printf(out, "%seof\n", prefix);
            continue;
        }
        if (it->n == 0)
            continue;
        put_hex_lines(out, prefix, it->p, it->n, it->desc);
    }
}

int cf_record_write(const cf_transcript *t, const cf_recording *rec, uint64_t mono0,
                    uint64_t wall0, cf_buf *out, char *err, size_t cap)
{
    /* Line starts. */
    size_t nl = (size_t)t->nlines;
    size_t *start = cf_xcalloc(nl + 2, sizeof *start);
    size_t l = 1;
    start[1] = 0;
    for (size_t i = 0; i < t->srclen && l <= nl; i++)
        if (t->src[i] == '\n')
            start[++l] = i + 1;
    size_t last_line = l;
    int have_kind = 0;
    if (t->last_header_line <= 0) {
        free(start);
        cf_fmt(err, cap, "%s: no headers to extend", t->file);
        return -1;
    }
    for (size_t line = 1; line <= last_line; line++) {
        size_t b = start[line];
        size_t e = line < last_line ? start[line + 1] : t->srclen;
        uint8_t cls = line <= nl ? t->line_hdr[line] : 0;
        int skip = cls == CF_HDR_KEY || cls == CF_HDR_RANDOM || cls == CF_HDR_TIME ||
                   is_wire_line(t, (int)line);
        if (cls == CF_HDR_KIND) {
            cf_buf_printf(out, "@kind kat\n");
            have_kind = 1;
        } else if (!skip) {
            cf_buf_add(out, t->src + b, e - b);
            if (e == t->srclen && e > b && t->src[e - 1] != '\n')
                cf_buf_byte(out, '\n');
        }
        if ((int)line == t->last_header_line) {
            if (!have_kind)
                cf_buf_printf(out, "@kind kat\n");
            cf_buf_printf(out, "@time mono=%llu wall=%llu\n", (unsigned long long)mono0,
                          (unsigned long long)wall0);
            uint8_t key[32];
            cf_static_key(t, "server", key);
            put_hex_lines(out, "@key server.static ", key, 32, NULL);
            for (size_t i = 0; i < t->nactors; i++) {
                if (t->actors[i].is_server)
                    continue;
                char prefix[128];
                cf_fmt(prefix, sizeof prefix, "@key %s.static ", t->actors[i].name);
                cf_static_key(t, t->actors[i].name, key);
                put_hex_lines(out, prefix, key, 32, NULL);
            }
            for (size_t i = 0; i < rec->ndraws; i++) {
                char prefix[128];
                cf_fmt(prefix, sizeof prefix, "@random %s %s ", rec->draws[i].actor,
                       rec->draws[i].purpose);
                put_hex_lines(out, prefix, rec->draws[i].v, rec->draws[i].n, NULL);
            }
        }
        /* After the last line of a step: what moved while it ran. */
        for (size_t s = 0; s < t->nsteps; s++)
            if (t->steps[s].line_end == (int)line && t->steps[s].verb != CF_VERB_WIRE)
                put_items(t, rec, s, out);
    }
    free(start);
    return 0;
}
