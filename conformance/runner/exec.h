/* Running one transcript through an adapter (docs/TRANSCRIPTS.md §5-§7). */
#ifndef CF_EXEC_H
#define CF_EXEC_H

#include <stdio.h>

#include "adapter.h"
#include "transcript.h"

enum { CF_PASS = 0, CF_FAIL = 1, CF_SKIP = 2 };

typedef struct cf_result {
    int status;
    char msg[4096]; /* FAIL: "file:line: expected ..., got ..."; SKIP: the reason */
} cf_result;

/* What moved on the wire during a run (the recorder's input). */
typedef struct cf_wire_item {
    size_t step;     /* index of the top-level step during which it moved */
    int actor;       /* the client actor whose connection it is */
    uint8_t dir;     /* CF_DIR_C2S or CF_DIR_S2C */
    uint8_t eof;
    uint8_t *p;
    size_t n;
    char desc[160];  /* "HS1", "TRANSPORT: CHALLENGE", ... */
} cf_wire_item;

typedef struct cf_recording {
    cf_wire_item *items;
    size_t n, cap;
    cf_draw *draws;
    size_t ndraws;
} cf_recording;

void cf_recording_free(cf_recording *rec);

typedef struct cf_run_opts {
    unsigned role;        /* the role to run in: CF_ROLE_SERVER or CF_ROLE_CLIENT */
    uint32_t timeout_ms;  /* how long to wait for an event (adapters that wait) */
    FILE *trace;          /* non-NULL: narrate steps and events */
    cf_recording *record; /* non-NULL: record (server role, scenario-style delivery) */
} cf_run_opts;

/* Capabilities the transcript needs in this role; 0 with *why set when it
 * cannot run in that role at all. */
unsigned cf_needs(const cf_transcript *t, unsigned role, char *why, size_t cap);

/* Run t through the adapter. r->status is PASS, FAIL or SKIP. */
void cf_run(const cf_transcript *t, cf_adapter *ad, const cf_run_opts *o, cf_result *r);

/* Write a known-answer transcript: t's text with its wire lines, @kind,
 * @key, @random and @time headers regenerated from the recording. */
int cf_record_write(const cf_transcript *t, const cf_recording *rec, uint64_t mono0,
                    uint64_t wall0, cf_buf *out, char *err, size_t cap);

#endif
