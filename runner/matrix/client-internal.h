/* Shared by the client's files: the full form of a request (streamed bodies, timeouts, a
 * cancel hook for composite operations) and the builder of escaped paths and queries. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "matrix/client.h"

/* Paths with their query strings: ids are at most 255 bytes (x3 escaped), tokens and file
 * names a few hundred; 4 KiB leaves room and keeps the URL inside every server's limit. */
#define MX_MAX_PATH 4096

/* JSON request bodies we build (login, register, profile, redaction) and the event content
 * a caller hands us: the spec bounds a whole event to 65536 bytes, so a larger content
 * could never be accepted. */
#define MX_MAX_REQUEST_BODY 65536u

/* Parsing bound for responses other than /sync (which uses SYNC_MAX_TOKENS): 256 Ki tokens
 * covers a full default-size body of ordinary JSON (>= 32 bytes a token) while a body of
 * pathological "[1,1,1,...]" is refused rather than allocating 16 bytes per 2 bytes read. */
#define MX_MAX_TOKENS (256u * 1024u)

#define MX_CLIENT_V3 "/_matrix/client/v3"

/* Called instead of done when a request is dropped without an answer (the client is being
 * freed), so a composite operation can free the state it passed as userdata. */
typedef void (*mx_cancel_t)(void *userdata);

struct mx_call_args {
    const char *method;
    const char *path; /* escaped, with its query string */
    const char *body; /* JSON text (body_len bytes, or strlen when 0) or NULL */
    size_t body_len;
    const char *content_type; /* default "application/json" when there is a body */
    int fd;                   /* > 0: stream the body from it, fd_size bytes */
    uint64_t fd_size;
    unsigned flags;      /* enum mx_flags */
    uint64_t timeout_ms; /* 0: the client's request timeout */
};

int mx_start(struct mx_client *c, const struct mx_call_args *a, mx_done_t done, void *userdata,
             mx_cancel_t cancel);

/* A path under construction in a fixed buffer, with a sticky error (-E2BIG, -EINVAL) that
 * mx_path_done() reports once. */
struct mx_path {
    char buf[MX_MAX_PATH];
    size_t len;
    bool in_query;
    int error;
};

void mx_path_init(struct mx_path *p, const char *prefix);
void mx_path_literal(struct mx_path *p, const char *s);
/* "/" and the escaped segment; NULL or empty is -EINVAL. */
void mx_path_segment(struct mx_path *p, const char *segment);
/* "?key=value" or "&key=value", both escaped; skipped when value is NULL. */
void mx_path_query(struct mx_path *p, const char *key, const char *value);
int mx_path_done(const struct mx_path *p);
