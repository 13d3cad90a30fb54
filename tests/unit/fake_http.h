/* Test helper: a tiny HTTP/1.1 server on 127.0.0.1 (ephemeral port, one thread) that plays a
 * script of canned answers and misbehaviours and records every request it read. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

/* What the server does with the request it has just read. */
enum fake_action {
    FAKE_RESPOND,   /* status, headers, body; then close */
    FAKE_HANG,      /* never answer; wait until the client gives up and closes */
    FAKE_RESET_MID, /* headers announcing the body, half of it, then a TCP reset */
    FAKE_CLOSE,     /* close without a byte of answer */
    FAKE_SLOW,      /* status and headers, then the body slow_chunk bytes every slow_ms */
};

struct fake_step {
    enum fake_action action;
    int status;
    const char *headers; /* extra header lines, each ending "\r\n", or NULL */
    const char *body;    /* NULL: empty */
    size_t body_len;     /* 0: strlen(body) */
    size_t slow_chunk;
    unsigned slow_ms;
    bool no_length; /* no Content-Length: the body ends when the connection closes */
};

/* Bodies kept per request (the rest is counted and hashed, so a 20 MB upload does not grow
 * the test process). */
#define FAKE_BODY_KEEP (16u * 1024u)
#define FAKE_MAX_STEPS 32

struct fake_request {
    char method[16];
    char path[4096];
    char headers[8192]; /* raw header block, lines ending "\r\n" */
    char *body;         /* first FAKE_BODY_KEEP bytes, NUL-terminated */
    size_t body_len;    /* all bytes received */
    uint64_t body_hash; /* FNV-1a of all bytes */
};

struct fake_http;

/* Start the server with n steps (copied; strings must outlive the server). Requests beyond
 * the script get 418 and count as unexpected. */
int fake_http_start(const struct fake_step *steps, size_t n, struct fake_http **ret);
void fake_http_stop(struct fake_http *f);
uint16_t fake_http_port(const struct fake_http *f);
/* "http://127.0.0.1:PORT" */
const char *fake_http_url(const struct fake_http *f);
size_t fake_http_count(struct fake_http *f);
size_t fake_http_unexpected(struct fake_http *f);
/* A copy of request i (valid until the server stops). */
const struct fake_request *fake_http_request(struct fake_http *f, size_t i);
/* The value of header name (case-insensitive) in request r, copied into buf; NULL if absent. */
const char *fake_header(const struct fake_request *r, const char *name, char *buf, size_t cap);

uint64_t fake_hash(uint64_t h, const void *data, size_t len);
#define FAKE_HASH_INIT 0xcbf29ce484222325ull

/* Run the loop until *flag is true or timeout_ms passes; true when the flag was set. */
bool fake_run_until(sd_event *e, const bool *flag, unsigned timeout_ms);
/* Run the loop until the server has recorded at least n requests; true when it has. */
bool fake_run_until_count(sd_event *e, struct fake_http *f, size_t n, unsigned timeout_ms);
/* Monotonic milliseconds. */
uint64_t fake_now_ms(void);

/* Peak RSS: reset it to the current RSS (Linux >= 4.0; false when not allowed), and read it
 * (VmHWM when peak, else VmRSS) in kB. */
bool fake_reset_peak_rss(void);
long fake_rss_kb(bool peak);
/* An unlinked temporary file of size bytes of a fixed pattern, positioned at 0; its FNV-1a
 * hash in *ret_hash. The fd, or a negative errno. */
int fake_make_file(size_t size, uint64_t *ret_hash);
