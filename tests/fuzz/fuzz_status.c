/* libFuzzer target for the status endpoint and its readers: the router and reply builder
 * against an independent oracle, and the hostile-document readers of `health` and `status`.
 *
 * Input: one flags byte, then the method up to the first '\n', the URL up to the next '\n',
 * and the rest as the published /status document (also read back by the CLI side). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/health.h"
#include "cli/status.h"
#include "supervisor/status_http.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FLAG_HAS_BODY  0x01
#define FLAG_PUBLISHED 0x02

/* A NUL-terminated copy of the next field of [*p, end), up to '\n' (consumed) or the end. */
static char *next_field(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t len = (size_t)((nl ? nl : end) - *p);
    char *s = malloc(len + 1);

    CHECK(s);
    memcpy(s, *p, len);
    s[len] = '\0';
    *p += len + (nl ? 1 : 0);
    return s;
}

/* The routing rule written again, plainly: exact paths before any '?', GET and HEAD only. */
static enum status_route oracle(const char *method, const char *url)
{
    static const char *const paths[] = {STATUS_PATH_VERSION, STATUS_PATH_STATUS,
                                        STATUS_PATH_METRICS};
    static const enum status_route routes[] = {STATUS_ROUTE_VERSION, STATUS_ROUTE_STATUS,
                                               STATUS_ROUTE_METRICS};
    const char *q = strchr(url, '?');
    size_t len = q ? (size_t)(q - url) : strlen(url);

    for (size_t i = 0; i < 3; i++) {
        if (strlen(paths[i]) != len || strncmp(url, paths[i], len) != 0)
            continue;
        if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
            return routes[i];
        return STATUS_ROUTE_METHOD_NOT_ALLOWED;
    }
    return STATUS_ROUTE_NOT_FOUND;
}

static void check_reply(enum status_route route, bool has_body, const struct status_docs *docs)
{
    struct status_reply r;

    status_reply_build(route, has_body, docs, &r);
    CHECK(r.content_type && r.content_type[0]);
    CHECK(r.body || r.body_len == 0);
    CHECK((r.allow != NULL) == (r.code == 405));
    switch (route) {
    case STATUS_ROUTE_NOT_FOUND:
        CHECK(r.code == 404);
        return;
    case STATUS_ROUTE_METHOD_NOT_ALLOWED:
        CHECK(r.code == 405 && strcmp(r.allow, "GET, HEAD") == 0);
        return;
    default:
        break;
    }
    if (has_body) {
        CHECK(r.code == 413);
        return;
    }
    if (route == STATUS_ROUTE_VERSION) {
        CHECK(r.code == 200 && r.body_len > 0 && memchr(r.body, '{', r.body_len) == r.body);
        return;
    }
    if (!docs) {
        CHECK(r.code == 503);
        return;
    }
    CHECK(r.code == 200);
    if (route == STATUS_ROUTE_STATUS)
        CHECK(r.body == docs->status_json && r.body_len == docs->status_len);
    else
        CHECK(r.body == docs->metrics_text && r.body_len == docs->metrics_len);
}

/* The CLI readers: never a crash, a verdict in range, and nothing but printable text and
 * newlines on the way to a terminal. */
static void check_readers(const char *doc, size_t len)
{
    struct json_doc *d = NULL;
    char line[2048], *out = NULL;
    size_t out_len = 0;
    FILE *f;
    int code = health_verdict("http://127.0.0.1:29316/status", doc, len, line, sizeof(line));

    CHECK(code >= 0 && code <= 2);
    CHECK(strchr(line, '\n') == NULL);
    if (status_parse(doc, len, &d) < 0)
        return;
    f = open_memstream(&out, &out_len);
    CHECK(f);
    status_render(f, d, 1795629300);
    CHECK(fclose(f) == 0);
    for (size_t i = 0; i < out_len; i++)
        CHECK((unsigned char)out[i] >= 0x20 || out[i] == '\n');
    free(out);
    json_doc_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data + (size > 0), *end = data + size;
    uint8_t flags = size > 0 ? data[0] : 0;
    char *method, *url, *doc;
    size_t doc_len;
    enum status_route route;
    struct status_docs docs;
    time_t t;

    method = next_field(&p, end);
    url = next_field(&p, end);
    doc_len = (size_t)(end - p);
    doc = malloc(doc_len + 1);
    CHECK(doc);
    memcpy(doc, p, doc_len);
    doc[doc_len] = '\0';

    route = status_route(method, url);
    CHECK(route == oracle(method, url));
    docs = (struct status_docs){.status_json = doc,
                                .status_len = doc_len,
                                .metrics_text = url,
                                .metrics_len = strlen(url)};
    check_reply(route, flags & FLAG_HAS_BODY, flags & FLAG_PUBLISHED ? &docs : NULL);
    check_readers(doc, doc_len);
    if (status_parse_time(url, &t) == 0)
        CHECK(strlen(url) >= 20 && url[strlen(url) - 1] == 'Z');

    free(method);
    free(url);
    free(doc);
    return 0;
}
