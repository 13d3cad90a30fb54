/* `botrunner status [--url URL | -c FILE] [--json]`: fetch the supervisor's /status and show it as
 * tables; also the fetch and the hostile-document readers that `botrunner health` shares. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "util/json.h"

/* Where the endpoint listens unless told otherwise (the config's default status address). */
#define STATUS_DEFAULT_URL "http://127.0.0.1:29316"

/* The whole fetch, connection included, gives up after this: the health timer must get an
 * answer, and the endpoint answers in milliseconds when the supervisor is alive. */
#define STATUS_FETCH_TIMEOUT_MS 5000

/* /status bodies larger than this are refused: a fleet's document is a few hundred bytes
 * per instance plus at most 1000 notifications, far below; a bigger one is not ours. */
#define STATUS_FETCH_MAX_BODY (1024u * 1024u)

/* GET base_url + "/status" (base_url: "http://127.0.0.1:29316", a trailing slash allowed).
 * On success the body (NUL-terminated, malloc'd) and its length; on failure a negative
 * errno and one line saying why in reason (e.g. "cannot reach http://127.0.0.1:29316/status:
 * Connection refused"). Errors: -EINVAL (not an http(s) URL), -ECONNREFUSED/-ETIMEDOUT/-EIO
 * (no answer), -EPROTO (an HTTP status other than 200), -E2BIG (past STATUS_FETCH_MAX_BODY),
 * -ENOMEM. */
int status_fetch(const char *base_url, char **ret_body, size_t *ret_len, char *reason,
                 size_t reason_cap);

/* The base URL of the endpoint a config file declares (its status: address and port, or the
 * defaults): "http://127.0.0.1:29316", "http://[::1]:29316". Only that mapping is read and
 * checked (config_load_status()). -EINVAL with the file's first problem in reason
 * ("FILE: status.port: ... (line 3)"), -ENOMEM. */
int status_base_from_config(const char *path, char *buf, size_t cap, char *reason,
                            size_t reason_cap);

/* The full URL fetched for base_url, as messages name it ("http://127.0.0.1:29316/status"). */
int status_url(const char *base_url, char *buf, size_t cap);

/* Parse a /status body as JSON (-EBADMSG, -EILSEQ, -E2BIG when it is not one we can read). */
int status_parse(const char *body, size_t len, struct json_doc **ret);

/* Copy the string at path (in object tok) for a terminal: control characters, bidi overrides
 * and other format characters become '?', and text past max_chars code points is cut with
 * "…". Returns 1 copied, 0 when the value is null (buf gets ""), negative errno when it is
 * missing or not a string (buf gets "?"). buf must hold max_chars * 4 + 4 bytes. */
int status_get_clean(const struct json_doc *d, int tok, const char *path, size_t max_chars,
                     char *buf, size_t cap);

/* "2026-11-25T17:55:00Z" (optionally with a fraction of a second) to a time_t; -EINVAL when
 * it is not that form or names no valid moment. */
int status_parse_time(const char *s, time_t *ret);

/* A relative age: "just now", "42 s ago", "3 min ago", "5 h ago", "2 d ago", or
 * "in 3 min" for a time ahead of now (a clock out of step). */
void status_format_age(int64_t seconds_ago, char *buf, size_t cap);

/* Print the document as the status command does (service line, instances, plugins, recent
 * notifications), ages computed against now. Anything missing or of the wrong type shows as
 * "?"; nothing in the document can make this fail or write a control character. */
void status_render(FILE *out, const struct json_doc *d, time_t now);

/* argv[0] is "status". Returns the process exit code: 0 shown, 1 unreachable or not a
 * readable document, 2 usage. */
int cli_status(int argc, char **argv);
