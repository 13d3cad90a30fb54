/* Paths and query strings for the Client-Server API: percent-encoding of ids and values
 * (RFC 3986 unreserved characters pass, all else is %XX) into a bounded buffer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "matrix/client-internal.h"

/* One segment or value escaped on its own (a file name, a long token); ids are <= 255. */
#define MX_MAX_SEGMENT (64u * 1024u)

static bool is_unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* Escape s into out (cap bytes, NUL-terminated); the escaped length, or -E2BIG. */
static int escape_into(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (n + 4 > cap)
            return -E2BIG;
        if (is_unreserved(*p))
            out[n++] = (char)*p;
        else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 0xf];
        }
    }
    if (n >= cap)
        return -E2BIG;
    out[n] = '\0';
    return (int)n;
}

int mx_escape_segment(const char *s, char **ret)
{
    _cleanup_free_ char *out = NULL;
    size_t len;
    int r;

    if (!s || !*s)
        return -EINVAL;
    len = strnlen(s, MX_MAX_SEGMENT + 1);
    if (len > MX_MAX_SEGMENT)
        return -E2BIG;
    out = malloc(len * 3 + 1);
    if (!out)
        return -ENOMEM;
    r = escape_into(s, out, len * 3 + 1);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(out);
    return 0;
}

void mx_path_init(struct mx_path *p, const char *prefix)
{
    p->len = 0;
    p->in_query = false;
    p->error = 0;
    p->buf[0] = '\0';
    mx_path_literal(p, prefix);
}

void mx_path_literal(struct mx_path *p, const char *s)
{
    size_t n = strlen(s);

    if (p->error < 0)
        return;
    if (n >= sizeof(p->buf) - p->len) {
        p->error = -E2BIG;
        return;
    }
    memcpy(p->buf + p->len, s, n + 1);
    p->len += n;
}

static void append_escaped(struct mx_path *p, const char *s)
{
    int r = escape_into(s, p->buf + p->len, sizeof(p->buf) - p->len);

    if (r < 0) {
        p->buf[p->len] = '\0';
        p->error = r;
        return;
    }
    p->len += (size_t)r;
}

void mx_path_segment(struct mx_path *p, const char *segment)
{
    if (p->error < 0)
        return;
    if (!segment || !*segment) {
        p->error = -EINVAL;
        return;
    }
    if (p->in_query) {
        p->error = -EINVAL; /* a segment after the query: a bug in the caller */
        return;
    }
    mx_path_literal(p, "/");
    append_escaped(p, segment);
}

void mx_path_query(struct mx_path *p, const char *key, const char *value)
{
    if (p->error < 0 || !value)
        return;
    mx_path_literal(p, p->in_query ? "&" : "?");
    p->in_query = true;
    if (p->error < 0)
        return;
    append_escaped(p, key);
    mx_path_literal(p, "=");
    if (p->error < 0)
        return;
    append_escaped(p, value);
}

int mx_path_done(const struct mx_path *p)
{
    return p->error;
}
