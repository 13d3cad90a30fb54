/* The supervisor <-> worker datagram protocol (see ipc.h for the wire format and the
 * vocabulary): a strict parser, a bounded builder, escaping, and the send/recv calls. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/ipc.h"
#include "util/macro.h"
#include "util/utf8.h"

/* The wire offsets fit the uint16_t fields of struct ipc_field. */
_Static_assert(IPC_MAX_DATAGRAM <= UINT16_MAX, "offsets must fit uint16_t");

static const char *const ipc_kind_keys[] = {
        [IPC_KIND_STATE] = IPC_STATE,     [IPC_KIND_SYNC] = IPC_SYNC,
        [IPC_KIND_MESSAGE] = IPC_MESSAGE, [IPC_KIND_LOG] = IPC_LOG,
        [IPC_KIND_NOTIFY] = IPC_NOTIFY,   [IPC_KIND_ROOM] = IPC_ROOM,
        [IPC_KIND_RESOLVE] = IPC_RESOLVE, [IPC_KIND_DATABASE] = IPC_DATABASE,
        [IPC_KIND_RECONFIGURE] = IPC_RECONFIGURE, [IPC_KIND_RECONFIGURED] = IPC_RECONFIGURED,
        [IPC_KIND_COUNTERS] = IPC_COUNTERS,
};

/* The fields of a COUNTERS datagram and where each lands in struct ipc_counters. */
static const struct {
    const char *key;
    size_t offset;
} counter_fields[] = {
        {"COMMANDS", offsetof(struct ipc_counters, commands)},
        {"REPLIES", offsetof(struct ipc_counters, replies)},
        {"PLUGIN_ERRORS", offsetof(struct ipc_counters, plugin_errors)},
        {"SKIPPED_OLD", offsetof(struct ipc_counters, skipped_old)},
        {"REFUSED", offsetof(struct ipc_counters, refused)},
};
_Static_assert(ELEMENTSOF(counter_fields) * sizeof(int64_t) == sizeof(struct ipc_counters),
               "every counter has its field");
_Static_assert(ELEMENTSOF(ipc_kind_keys) == IPC_KIND_COUNT, "the last kind has a key");

static bool key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || c == '_';
}

static bool key_valid(const char *key, size_t len)
{
    if (len == 0 || len > IPC_KEY_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!key_char(key[i]))
            return false;
    return true;
}

/* Unescape the wire value in[0..len) into out (room for len bytes; the result is never
 * longer). Returns the length written, or -EBADMSG. */
static int unescape_into(const char *in, size_t len, char *out)
{
    size_t o = 0;

    if (!utf8_is_valid(in, len) || memchr(in, '\0', len) || memchr(in, '\r', len) ||
        memchr(in, '\n', len))
        return -EBADMSG;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '\\') {
            out[o++] = in[i];
            continue;
        }
        if (++i == len)
            return -EBADMSG;
        switch (in[i]) {
        case '\\':
            out[o++] = '\\';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        default:
            return -EBADMSG;
        }
    }
    return (int)o;
}

/* The escaped form of one byte: its length, and the bytes in out. */
static size_t escape_byte(char c, char out[static 2])
{
    switch (c) {
    case '\\':
        out[0] = '\\', out[1] = '\\';
        return 2;
    case '\n':
        out[0] = '\\', out[1] = 'n';
        return 2;
    case '\r':
        out[0] = '\\', out[1] = 'r';
        return 2;
    default:
        out[0] = c;
        return 1;
    }
}

static size_t escaped_len(const char *s, size_t len)
{
    size_t n = 0;
    char tmp[2];

    for (size_t i = 0; i < len; i++)
        n += escape_byte(s[i], tmp);
    return n;
}

/* Is key already a field of m (among the first n)? */
static bool has_key(const struct ipc_message *m, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (streq(m->buf + m->fields[i].key, key))
            return true;
    return false;
}

/* Parse one line in[0..len) (without its '\n') into m at offset *pos of its buffer. */
static int parse_line(const char *in, size_t len, struct ipc_message *m, size_t *pos)
{
    const char *eq = memchr(in, '=', len);
    size_t klen, vstart;
    int n;

    if (!eq)
        return -EBADMSG;
    klen = (size_t)(eq - in);
    if (!key_valid(in, klen) || m->n_fields >= IPC_MAX_FIELDS)
        return -EBADMSG;

    /* "KEY=VALUE" becomes "KEY\0VALUE\0": the same length as the line with its '\n'. */
    memcpy(m->buf + *pos, in, klen);
    m->buf[*pos + klen] = '\0';
    if (has_key(m, m->n_fields, m->buf + *pos))
        return -EBADMSG;
    vstart = *pos + klen + 1;
    n = unescape_into(eq + 1, len - klen - 1, m->buf + vstart);
    if (n < 0)
        return n;
    m->buf[vstart + (size_t)n] = '\0';
    m->fields[m->n_fields++] = (struct ipc_field){.key = (uint16_t)*pos, .value = (uint16_t)vstart};
    *pos = vstart + (size_t)n + 1;
    return 0;
}

int ipc_parse(const char *data, size_t len, struct ipc_message *ret)
{
    struct ipc_message m = {0};
    size_t pos = 0;

    assert(ret);
    if (!data || len == 0 || len > IPC_MAX_DATAGRAM || data[len - 1] != '\n')
        return -EBADMSG;

    for (size_t i = 0; i < len;) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t line = (size_t)(nl - (data + i)); /* nl exists: the data ends with '\n' */
        int r = parse_line(data + i, line, &m, &pos);
        if (r < 0)
            return r;
        i += line + 1;
    }
    *ret = m;
    return 0;
}

const char *ipc_get(const struct ipc_message *m, const char *key)
{
    assert(m && key);
    for (size_t i = 0; i < m->n_fields; i++)
        if (streq(m->buf + m->fields[i].key, key))
            return m->buf + m->fields[i].value;
    return NULL;
}

const char *ipc_field_key(const struct ipc_message *m, size_t i)
{
    assert(m && i < m->n_fields);
    return m->buf + m->fields[i].key;
}

const char *ipc_field_value(const struct ipc_message *m, size_t i)
{
    assert(m && i < m->n_fields);
    return m->buf + m->fields[i].value;
}

int ipc_get_int64(const struct ipc_message *m, const char *key, int64_t *ret)
{
    const char *s = ipc_get(m, key), *digits;
    uint64_t v = 0, limit;
    bool negative;

    if (!s)
        return -ENOENT;
    negative = s[0] == '-';
    digits = s + negative;
    if (digits[0] < '0' || digits[0] > '9' || (digits[0] == '0' && digits[1] != '\0') ||
        (negative && streq(digits, "0")))
        return -EBADMSG;
    limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (const char *p = digits; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EBADMSG;
        unsigned d = (unsigned)(*p - '0');
        if (v > (limit - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    /* -(INT64_MAX + 1) through unsigned arithmetic: no signed overflow. */
    *ret = negative ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int ipc_kind(const struct ipc_message *m)
{
    int kind = -EBADMSG;

    assert(m);
    for (size_t k = 0; k < ELEMENTSOF(ipc_kind_keys); k++) {
        if (!ipc_get(m, ipc_kind_keys[k]))
            continue;
        if (kind >= 0)
            return -EBADMSG;
        kind = (int)k;
    }
    return kind;
}

int ipc_get_counters(const struct ipc_message *m, struct ipc_counters *ret)
{
    struct ipc_counters c;

    assert(m && ret);
    for (size_t i = 0; i < ELEMENTSOF(counter_fields); i++) {
        int64_t *v = (int64_t *)((char *)&c + counter_fields[i].offset);
        if (ipc_get_int64(m, counter_fields[i].key, v) < 0 || *v < 0)
            return -EBADMSG;
    }
    *ret = c;
    return 0;
}

void ipc_add_counters(struct ipc_builder *b, int64_t at, const struct ipc_counters *c)
{
    ipc_add_int64(b, IPC_COUNTERS, at);
    for (size_t i = 0; i < ELEMENTSOF(counter_fields); i++)
        ipc_add_int64(b, counter_fields[i].key,
                      *(const int64_t *)((const char *)c + counter_fields[i].offset));
}

int ipc_escape(const char *value, char **ret)
{
    size_t len, o = 0;
    char *out;

    assert(value && ret);
    len = strlen(value);
    if (!utf8_is_valid(value, len))
        return -EILSEQ;
    out = malloc(escaped_len(value, len) + 1);
    if (!out)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++)
        o += escape_byte(value[i], out + o);
    out[o] = '\0';
    *ret = out;
    return 0;
}

int ipc_unescape(const char *escaped, char **ret)
{
    size_t len;
    _cleanup_free_ char *out = NULL;
    int n;

    assert(escaped && ret);
    len = strlen(escaped);
    out = malloc(len + 1);
    if (!out)
        return -ENOMEM;
    n = unescape_into(escaped, len, out);
    if (n < 0)
        return n;
    out[n] = '\0';
    *ret = TAKE_PTR(out);
    return 0;
}

/* ---- Builder ---------------------------------------------------------------------------- */

void ipc_builder_init(struct ipc_builder *b)
{
    assert(b);
    b->len = 0;
    b->n_fields = 0;
    b->error = 0;
}

/* Is "KEY=" already at the start of a line of b? */
static bool builder_has_key(const struct ipc_builder *b, const char *key, size_t klen)
{
    for (size_t i = 0; i < b->len;) {
        const char *nl = memchr(b->buf + i, '\n', b->len - i);
        size_t line = nl ? (size_t)(nl - (b->buf + i)) : b->len - i;
        if (line > klen && memcmp(b->buf + i, key, klen) == 0 && b->buf[i + klen] == '=')
            return true;
        i += line + 1;
    }
    return false;
}

/* Append "KEY=" + escaped value[0..len) + "\n". value[0..len) must be valid UTF-8. */
static void builder_append(struct ipc_builder *b, const char *key, const char *value, size_t len)
{
    size_t klen = strlen(key);

    if (b->error)
        return;
    if (!key_valid(key, klen) || builder_has_key(b, key, klen)) {
        b->error = -EINVAL;
        return;
    }
    if (b->n_fields >= IPC_MAX_FIELDS ||
        klen + 1 + escaped_len(value, len) + 1 > IPC_MAX_DATAGRAM - b->len) {
        b->error = -E2BIG;
        return;
    }
    memcpy(b->buf + b->len, key, klen);
    b->len += klen;
    b->buf[b->len++] = '=';
    for (size_t i = 0; i < len; i++)
        b->len += escape_byte(value[i], b->buf + b->len);
    b->buf[b->len++] = '\n';
    b->n_fields++;
}

void ipc_add(struct ipc_builder *b, const char *key, const char *value)
{
    assert(b && key);
    if (b->error)
        return;
    if (!value) {
        b->error = -EINVAL;
        return;
    }
    if (!utf8_is_valid(value, strlen(value))) {
        b->error = -EILSEQ;
        return;
    }
    builder_append(b, key, value, strlen(value));
}

void ipc_add_int64(struct ipc_builder *b, const char *key, int64_t value)
{
    char s[32];

    snprintf(s, sizeof s, "%" PRId64, value);
    ipc_add(b, key, s);
}

static bool is_continuation(char c)
{
    return ((unsigned char)c & 0xC0) == 0x80;
}

void ipc_add_head(struct ipc_builder *b, const char *key, const char *value, size_t max_bytes)
{
    size_t len, n = 0, wire = 0;
    char tmp[2];

    assert(b && key);
    if (b->error || !value || !utf8_is_valid(value, strlen(value))) {
        ipc_add(b, key, value); /* records the right error */
        return;
    }
    len = strlen(value);
    /* Grow n by whole bytes while the escaped size fits, then back off to a boundary. */
    while (n < len && wire + escape_byte(value[n], tmp) <= max_bytes)
        wire += escape_byte(value[n++], tmp);
    while (n > 0 && n < len && is_continuation(value[n]))
        n--;
    builder_append(b, key, value, n);
}

void ipc_add_tail(struct ipc_builder *b, const char *key, const char *value, size_t max_bytes)
{
    size_t len, start, wire = 0;
    char tmp[2];

    assert(b && key);
    if (b->error || !value || !utf8_is_valid(value, strlen(value))) {
        ipc_add(b, key, value);
        return;
    }
    len = strlen(value);
    start = len;
    while (start > 0 && wire + escape_byte(value[start - 1], tmp) <= max_bytes)
        wire += escape_byte(value[--start], tmp);
    while (start < len && is_continuation(value[start]))
        start++;
    builder_append(b, key, value + start, len - start);
}

int ipc_builder_result(const struct ipc_builder *b, const char **ret_data, size_t *ret_len)
{
    assert(b);
    if (b->error)
        return b->error;
    if (b->n_fields == 0)
        return -EINVAL;
    if (ret_data)
        *ret_data = b->buf;
    if (ret_len)
        *ret_len = b->len;
    return 0;
}

/* ---- Socket ----------------------------------------------------------------------------- */

int ipc_send(int fd, const struct ipc_builder *b)
{
    const char *data = NULL;
    size_t len = 0;
    ssize_t n;
    int r;

    r = ipc_builder_result(b, &data, &len);
    if (r < 0)
        return r;
    do
        n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return negative_errno();
    /* A SOCK_SEQPACKET send is all or nothing; anything else is not our socket type. */
    return (size_t)n == len ? 0 : -EIO;
}

int ipc_recv(int fd, struct ipc_message *ret)
{
    /* One byte more than the largest datagram: should MSG_TRUNC not report the full length,
     * a datagram filling the buffer is still known to be too long. */
    char buf[IPC_MAX_DATAGRAM + 1];
    ssize_t n;

    assert(ret);
    do
        n = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return negative_errno();
    if (n == 0)
        return -ECONNRESET;
    if ((size_t)n > IPC_MAX_DATAGRAM)
        return -EMSGSIZE;
    return ipc_parse(buf, (size_t)n, ret);
}
