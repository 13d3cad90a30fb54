/* The status subcommand: fetches /status with libcurl (bounded in time and size), reads the
 * document as hostile input, and prints it as aligned tables with relative ages. */
#include "cli/status.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "matrix/curl_dl.h"
#include "util/macro.h"
#include "util/text.h"
#include "util/utf8.h"

enum { EXIT_SHOWN = 0, EXIT_UNREADABLE = 1, EXIT_USAGE = 2 };

/* A --url longer than this is not one we were given by an operator. */
#define STATUS_URL_MAX 2048

/* Rows shown per table: a fleet has tens of instances; a document listing 100 000 must not
 * turn a terminal into a scroll of them (the count of the rest is printed). */
#define STATUS_MAX_ROWS          1000
#define STATUS_MAX_NOTIFICATIONS 20
#define STATUS_MAX_LIST          20 /* reasons, failed instances, used_by entries */

/* Widths, in code points, past which a cell is cut with "…": ids and plugin ids of the
 * contract are far shorter; messages get a line's worth. */
#define WIDTH_ID      40
#define WIDTH_SHORT   16
#define WIDTH_LIST    60
#define WIDTH_MESSAGE 100
#define CELL_BYTES(w) ((w)*UTF8_MAX_BYTES + 4)

#define TABLE_MAX_COLS 8

/* ---- Where ------------------------------------------------------------------------------- */

int status_base_from_config(const char *path, char *buf, size_t cap, char *reason,
                            size_t reason_cap)
{
    struct config_status st = {0};
    struct diag_list d = {0};
    const char *host;
    int r, n;

    r = config_load_status(path, &d, &st);
    if (r < 0) {
        const struct diag *it = d.n > 0 ? &d.items[0] : NULL;
        if (it && it->line)
            (void)snprintf(reason, reason_cap, "%s: %s%s%s (line %u)%s", path, it->path,
                           *it->path ? ": " : "", it->message, it->line,
                           d.n_errors > 1 ? " and more" : "");
        else if (it)
            (void)snprintf(reason, reason_cap, "%s: %s%s%s%s", path, it->path,
                           *it->path ? ": " : "", it->message, d.n_errors > 1 ? " and more" : "");
        else
            (void)snprintf(reason, reason_cap, "%s: %s", path, strerror(-r));
        diag_list_done(&d);
        return r == -ENOMEM ? r : -EINVAL;
    }
    diag_list_done(&d);
    /* A wildcard listens on loopback too, and is asked there (as the NixOS health timer
     * does); an IPv6 literal goes in brackets, unless the config wrote them. */
    host = streq(st.address, "0.0.0.0") ? "127.0.0.1"
           : streq(st.address, "::") || streq(st.address, "[::]") ? "::1"
                                                                  : st.address;
    n = snprintf(buf, cap, strchr(host, ':') && host[0] != '[' ? "http://[%s]:%u" : "http://%s:%u",
                 host, (unsigned)st.port);
    free(st.address);
    if (n < 0 || (size_t)n >= cap) {
        (void)snprintf(reason, reason_cap, "%s: the status address is too long", path);
        return -ENOBUFS;
    }
    return 0;
}

/* ---- Fetching ---------------------------------------------------------------------------- */

int status_url(const char *base_url, char *buf, size_t cap)
{
    size_t len;
    int n;

    if (!base_url)
        return -EINVAL;
    len = strnlen(base_url, STATUS_URL_MAX + 1);
    if (len > STATUS_URL_MAX ||
        (strncasecmp(base_url, "http://", 7) != 0 && strncasecmp(base_url, "https://", 8) != 0))
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)base_url[i] <= ' ' || base_url[i] == 0x7f)
            return -EINVAL;
    while (len > 0 && base_url[len - 1] == '/')
        len--;
    n = snprintf(buf, cap, "%.*s/status", (int)len, base_url);
    return n < 0 || (size_t)n >= cap ? -ENOBUFS : 0;
}

struct body {
    char *buf;
    size_t len;
    bool too_big;
};

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * nmemb;
    char *p;

    if (n > STATUS_FETCH_MAX_BODY - b->len) {
        b->too_big = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    p = realloc(b->buf, b->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, data, n);
    b->buf = p;
    b->len += n;
    b->buf[b->len] = '\0';
    return n;
}

/* One easy handle and the table that frees it. */
struct transfer {
    const struct curl_dl *curl;
    CURL *e;
};

static void transfer_done(struct transfer *t)
{
    if (t->e)
        t->curl->easy_cleanup(t->e);
}

static int setup(const struct curl_dl *curl, CURL *e, const char *url, struct body *b, char *errbuf)
{
    /* No proxy (the endpoint is on this host, and http_proxy in the environment must not send
     * a health check elsewhere), no redirects, HTTP/1.1, one overall deadline. */
    bool ok = curl->easy_setopt(e, CURLOPT_URL, url) == CURLE_OK &&
#if LIBCURL_VERSION_NUM >= 0x075500
              curl->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
#else
              curl->easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
                      CURLE_OK &&
#endif
              curl->easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK &&
              curl->easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
              curl->easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) == CURLE_OK &&
              curl->easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl->easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)STATUS_FETCH_TIMEOUT_MS) == CURLE_OK &&
              curl->easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)STATUS_FETCH_MAX_BODY) ==
                      CURLE_OK &&
              curl->easy_setopt(e, CURLOPT_USERAGENT, "botrunner/" BOTRUNNER_VERSION) == CURLE_OK &&
              curl->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
              curl->easy_setopt(e, CURLOPT_WRITEDATA, b) == CURLE_OK &&
              curl->easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
    return ok ? 0 : -ENOMEM;
}

/* Why a transfer got no answer, as a short phrase, and the errno that stands for it. */
static int transfer_error(const struct transfer *t, CURLcode code, const char *errbuf, char *phrase,
                          size_t cap)
{
    long os_errno = 0;

    if (code == CURLE_OPERATION_TIMEDOUT) {
        (void)snprintf(phrase, cap, "no answer within %u s", STATUS_FETCH_TIMEOUT_MS / 1000u);
        return -ETIMEDOUT;
    }
    /* An errno is small and positive; anything else from curl is not one. */
    if (t->curl->easy_getinfo(t->e, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno > 0 &&
        os_errno < 4096) {
        (void)snprintf(phrase, cap, "%s", strerror((int)os_errno));
        return -(int)os_errno;
    }
    (void)snprintf(phrase, cap, "%s", errbuf[0] ? errbuf : t->curl->easy_strerror(code));
    return code == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO;
}

int status_fetch(const char *base_url, char **ret_body, size_t *ret_len, char *reason,
                 size_t reason_cap)
{
    _cleanup_(transfer_done) struct transfer t = {0};
    char url[STATUS_URL_MAX + 16], errbuf[CURL_ERROR_SIZE] = "", phrase[CURL_ERROR_SIZE + 64];
    struct body b = {0};
    CURLcode code;
    long http_status = 0;
    int r;

    if (status_url(base_url, url, sizeof(url)) < 0) {
        (void)snprintf(reason, reason_cap, "not an http:// or https:// URL: %s",
                       TEXT_QUOTE(base_url ? base_url : ""));
        return -EINVAL;
    }
    r = curl_dl_load(&t.curl);
    if (r < 0) {
        (void)snprintf(reason, reason_cap, "cannot reach %s: %s cannot be loaded", url,
                       CURL_DL_SONAME);
        return r;
    }
    t.e = t.curl->easy_init();
    if (!t.e || setup(t.curl, t.e, url, &b, errbuf) < 0) {
        (void)snprintf(reason, reason_cap, "cannot reach %s: out of memory", url);
        return -ENOMEM;
    }
    code = t.curl->easy_perform(t.e);
    if (b.too_big || code == CURLE_FILESIZE_EXCEEDED) {
        free(b.buf);
        (void)snprintf(reason, reason_cap, "%s answered more than %u KiB", url,
                       STATUS_FETCH_MAX_BODY / 1024u);
        return -E2BIG;
    }
    if (code != CURLE_OK) {
        free(b.buf);
        r = transfer_error(&t, code, errbuf, phrase, sizeof(phrase));
        (void)snprintf(reason, reason_cap, "cannot reach %s: %s", url, phrase);
        return r;
    }
    (void)t.curl->easy_getinfo(t.e, CURLINFO_RESPONSE_CODE, &http_status);
    if (http_status != 200) {
        free(b.buf);
        (void)snprintf(reason, reason_cap, "%s answered HTTP %ld", url, http_status);
        return -EPROTO;
    }
    if (!b.buf) {
        b.buf = strdup("");
        if (!b.buf) {
            (void)snprintf(reason, reason_cap, "cannot read %s: out of memory", url);
            return -ENOMEM;
        }
    }
    *ret_body = b.buf;
    *ret_len = b.len;
    return 0;
}

int status_parse(const char *body, size_t len, struct json_doc **ret)
{
    /* Every token takes at least two bytes of text counting its separator: this many tokens
     * admits any document of len bytes, so only the size bound ever refuses one. */
    return json_parse(body, len, len / 2 + 2, ret);
}

/* ---- Reading the document ---------------------------------------------------------------- */

/* Code points a terminal must not receive from a hostile document: C0 and C1 controls, DEL,
 * and the invisible format characters that reorder or hide text (bidi overrides, zero-width
 * marks, line and paragraph separators, the BOM). */
static bool unprintable(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || (cp >= 0x200b && cp <= 0x200f) ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff ||
           (cp >= 0xfff9 && cp <= 0xfffb);
}

/* Copy UTF-8 s for a terminal (see status_get_clean()). */
static void clean_copy(const char *s, size_t max_chars, char *buf, size_t cap)
{
    size_t in = 0, out = 0, chars = 0, len = strlen(s);

    while (in < len && out + UTF8_MAX_BYTES + 1 < cap) {
        uint32_t cp;
        int n = utf8_decode(s + in, len - in, &cp);

        if (chars == max_chars) {
            memcpy(buf + out, "\xe2\x80\xa6", 3); /* … */
            out += 3;
            break;
        }
        if (n < 0) { /* cannot happen after json_get_string(); cut rather than guess */
            break;
        }
        if (unprintable(cp))
            buf[out++] = '?';
        else {
            memcpy(buf + out, s + in, (size_t)n);
            out += (size_t)n;
        }
        in += (size_t)n;
        chars++;
    }
    buf[out] = '\0';
}

int status_get_clean(const struct json_doc *d, int tok, const char *path, size_t max_chars,
                     char *buf, size_t cap)
{
    _cleanup_free_ char *s = NULL;
    int r;

    if (cap < 2)
        return -ENOBUFS;
    if (json_is_null(d, tok, path) == 1) {
        buf[0] = '\0';
        return 0;
    }
    r = json_get_string(d, tok, path, &s);
    if (r < 0) {
        (void)snprintf(buf, cap, "?");
        return r;
    }
    clean_copy(s, max_chars, buf, cap);
    return 1;
}

static bool digits(const char *s, size_t n, int *ret)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return true;
}

int status_parse_time(const char *s, time_t *ret)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    struct tm tm = {0};
    int year, mon, day, hour, min, sec;
    size_t i = 19;
    time_t t;

    /* YYYY-MM-DDTHH:MM:SS, then an optional fraction, then Z and nothing else. */
    if (!s || strnlen(s, 20) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || !digits(s, 4, &year) || !digits(s + 5, 2, &mon) ||
        !digits(s + 8, 2, &day) || !digits(s + 11, 2, &hour) || !digits(s + 14, 2, &min) ||
        !digits(s + 17, 2, &sec))
        return -EINVAL;
    if (s[i] == '.') {
        size_t start = ++i;

        while (s[i] >= '0' && s[i] <= '9' && i - start < 9)
            i++;
        if (i == start)
            return -EINVAL;
    }
    if (s[i] != 'Z' || s[i + 1] != '\0')
        return -EINVAL;
    if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || hour > 23 || min > 59 || sec > 60)
        return -EINVAL;
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    t = timegm(&tm);
    /* timegm() normalises Feb 30 into March: a day that does not exist moves the month. */
    if (t == (time_t)-1 || tm.tm_mon != mon - 1)
        return -EINVAL;
    *ret = t;
    return 0;
}

/* "42 s", "3 min", "5 h", "2 d" for a positive number of seconds. */
static void format_span(int64_t s, char *buf, size_t cap)
{
    if (s < 60)
        (void)snprintf(buf, cap, "%lld s", (long long)s);
    else if (s < 3600)
        (void)snprintf(buf, cap, "%lld min", (long long)(s / 60));
    else if (s < 2 * 86400)
        (void)snprintf(buf, cap, "%lld h", (long long)(s / 3600));
    else
        (void)snprintf(buf, cap, "%lld d", (long long)(s / 86400));
}

void status_format_age(int64_t seconds_ago, char *buf, size_t cap)
{
    /* Within this many seconds either way is "just now": clocks of two processes on one host
     * agree, but a time stamped as the document was built is a second or so old. */
    const int64_t now_slack = 5;
    char span[32];

    if (seconds_ago > -now_slack && seconds_ago < now_slack) {
        (void)snprintf(buf, cap, "just now");
        return;
    }
    if (seconds_ago < 0) {
        format_span(seconds_ago == INT64_MIN ? INT64_MAX : -seconds_ago, span, sizeof(span));
        (void)snprintf(buf, cap, "in %s", span);
        return;
    }
    format_span(seconds_ago, span, sizeof(span));
    (void)snprintf(buf, cap, "%s ago", span);
}

/* ---- Cells ------------------------------------------------------------------------------- */

static void text_cell(const struct json_doc *d, int tok, const char *path, size_t width,
                      const char *null_text, char *buf, size_t cap)
{
    if (status_get_clean(d, tok, path, width, buf, cap) == 0)
        (void)snprintf(buf, cap, "%s", null_text);
    else if (buf[0] == '\0')
        (void)snprintf(buf, cap, "\"\"");
}

static void time_cell(const struct json_doc *d, int tok, const char *path, time_t now,
                      const char *null_text, char *buf, size_t cap)
{
    char s[CELL_BYTES(WIDTH_SHORT * 2)];
    time_t t;
    int r = status_get_clean(d, tok, path, WIDTH_SHORT * 2, s, sizeof(s));

    if (r == 0)
        (void)snprintf(buf, cap, "%s", null_text);
    else if (r < 0 || status_parse_time(s, &t) < 0)
        (void)snprintf(buf, cap, "?");
    else
        status_format_age((int64_t)now - (int64_t)t, buf, cap);
}

static void int_cell(const struct json_doc *d, int tok, const char *path, char *buf, size_t cap)
{
    int64_t v;

    if (json_get_int64(d, tok, path, &v) < 0)
        (void)snprintf(buf, cap, "?");
    else
        (void)snprintf(buf, cap, "%lld", (long long)v);
}

/* The strings of an array, joined with sep; "?" for a value that is not an array, "-" for an
 * empty one; entries that are not strings show as "?". */
static void list_cell(const struct json_doc *d, int tok, const char *path, const char *sep,
                      size_t width, char *buf, size_t cap)
{
    char item[CELL_BYTES(WIDTH_ID)], joined[CELL_BYTES(WIDTH_LIST) * 4] = "";
    int arr, elem, cursor = 0, n;
    size_t shown = 0;

    if (json_get(d, tok, path, &arr) < 0 || (n = json_array_len(d, arr)) < 0) {
        (void)snprintf(buf, cap, "?");
        return;
    }
    if (n == 0) {
        (void)snprintf(buf, cap, "-");
        return;
    }
    while (json_array_iter(d, arr, &cursor, &elem) > 0 && shown < STATUS_MAX_LIST) {
        text_cell(d, elem, NULL, WIDTH_ID, "-", item, sizeof(item));
        (void)snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s",
                       shown ? sep : "", item);
        shown++;
    }
    if ((size_t)n > shown)
        (void)snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s(and %zu more)",
                       sep, (size_t)n - shown);
    clean_copy(joined, width, buf, cap);
}

/* ---- Tables ------------------------------------------------------------------------------ */

struct table {
    size_t ncols, nrows, cap;
    const char *headers[TABLE_MAX_COLS];
    size_t width[TABLE_MAX_COLS];
    char **cells; /* nrows * ncols, each malloc'd */
};

static size_t display_width(const char *s)
{
    size_t w = 0;

    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

static void table_done(struct table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
}

/* Add a row of ncols cells (copied); -ENOMEM leaves the table as it was. */
static int table_add(struct table *t, char *const *row)
{
    size_t base = t->nrows * t->ncols;

    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **p = reallocarray(t->cells, cap * t->ncols, sizeof(*p));

        if (!p)
            return -ENOMEM;
        t->cells = p;
        t->cap = cap;
    }
    for (size_t c = 0; c < t->ncols; c++) {
        t->cells[base + c] = strdup(row[c]);
        if (!t->cells[base + c]) {
            while (c-- > 0)
                free(t->cells[base + c]);
            return -ENOMEM;
        }
    }
    t->nrows++;
    return 0;
}

static void table_print(FILE *out, const struct table *t)
{
    size_t width[TABLE_MAX_COLS];

    for (size_t c = 0; c < t->ncols; c++) {
        width[c] = display_width(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = display_width(t->cells[r * t->ncols + c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = r == 0 ? t->headers[c] : t->cells[(r - 1) * t->ncols + c];
            bool last = c + 1 == t->ncols;

            fputs(s, out);
            for (size_t pad = display_width(s); !last && pad < width[c] + 2; pad++)
                fputc(' ', out);
        }
        fputc('\n', out);
    }
}

/* ---- Sections ---------------------------------------------------------------------------- */

/* The array at key, or a line saying why there is none; false when there is nothing to list. */
static bool section_array(FILE *out, const struct json_doc *d, const char *title, const char *key,
                          int *ret_arr, int *ret_n)
{
    int arr, n;

    fprintf(out, "\n%s\n", title);
    if (json_get(d, 0, key, &arr) < 0 || (n = json_array_len(d, arr)) < 0) {
        fputs("?\n", out);
        return false;
    }
    if (n == 0) {
        fputs("(none)\n", out);
        return false;
    }
    *ret_arr = arr;
    *ret_n = n;
    return true;
}

static void section_end(FILE *out, struct table *t, int n, size_t shown)
{
    table_print(out, t);
    if ((size_t)n > shown)
        fprintf(out, "(and %zu more not shown)\n", (size_t)n - shown);
    table_done(t);
}

/* The last error, and when it is over, since when: "resolved 2 min ago: cannot join ...". */
static void error_cell(const struct json_doc *d, int inst, time_t now, char *buf, size_t cap)
{
    char text[CELL_BYTES(WIDTH_MESSAGE)], resolved[32]; /* an age: "12 min ago" */
    int tok;

    text_cell(d, inst, "last_error", WIDTH_MESSAGE, "-", text, sizeof(text));
    if (json_get(d, inst, "last_error_resolved_at", &tok) < 0 || json_type(d, tok) == JSON_NULL ||
        streq(text, "-")) {
        (void)snprintf(buf, cap, "%s", text);
        return;
    }
    time_cell(d, inst, "last_error_resolved_at", now, "?", resolved, sizeof(resolved));
    (void)snprintf(buf, cap, "resolved %s: %s", resolved, text);
}

static void print_instances(FILE *out, const struct json_doc *d, time_t now)
{
    struct table t = {.ncols = 8,
                      .headers = {"ID", "PLUGIN", "STATE", "SINCE", "RESTARTS", "LAST SYNC",
                                  "LAST MESSAGE", "LAST ERROR"}};
    char id[CELL_BYTES(WIDTH_ID)], plugin[CELL_BYTES(WIDTH_ID)], state[CELL_BYTES(WIDTH_SHORT)],
            since[64], restarts[32], sync[64], message[64], error[CELL_BYTES(WIDTH_MESSAGE) + 64];
    char *row[] = {id, plugin, state, since, restarts, sync, message, error};
    int arr, n, elem, cursor = 0;
    size_t shown = 0;

    if (!section_array(out, d, "INSTANCES", "instances", &arr, &n))
        return;
    while (json_array_iter(d, arr, &cursor, &elem) > 0 && shown < STATUS_MAX_ROWS) {
        text_cell(d, elem, "id", WIDTH_ID, "-", id, sizeof(id));
        text_cell(d, elem, "plugin", WIDTH_ID, "-", plugin, sizeof(plugin));
        text_cell(d, elem, "state", WIDTH_SHORT, "-", state, sizeof(state));
        time_cell(d, elem, "state_since", now, "-", since, sizeof(since));
        int_cell(d, elem, "restarts", restarts, sizeof(restarts));
        time_cell(d, elem, "last_sync_at", now, "never", sync, sizeof(sync));
        time_cell(d, elem, "last_message_at", now, "never", message, sizeof(message));
        error_cell(d, elem, now, error, sizeof(error));
        if (table_add(&t, row) < 0)
            break;
        shown++;
    }
    section_end(out, &t, n, shown);
}

/* One row per subscription of every instance: the room as declared (an alias shows the id
 * it resolved to beside it), whether the bot is in it, and why not. */
static void add_rooms(struct table *t, const struct json_doc *d, int inst, size_t *shown)
{
    char id[CELL_BYTES(WIDTH_ID)], room[CELL_BYTES(WIDTH_LIST)], room_id[CELL_BYTES(WIDTH_LIST)],
            joined[8], error[CELL_BYTES(WIDTH_MESSAGE)];
    char *row[] = {id, room, room_id, joined, error};
    int arr, elem, cursor = 0;
    bool in;

    if (json_get(d, inst, "rooms", &arr) < 0 || json_type(d, arr) != JSON_ARRAY)
        return;
    text_cell(d, inst, "id", WIDTH_ID, "-", id, sizeof(id));
    while (json_array_iter(d, arr, &cursor, &elem) > 0 && *shown < STATUS_MAX_ROWS) {
        text_cell(d, elem, "room", WIDTH_LIST, "-", room, sizeof(room));
        text_cell(d, elem, "room_id", WIDTH_LIST, "(not resolved)", room_id, sizeof(room_id));
        snprintf(joined, sizeof(joined), "%s",
                 json_get_bool(d, elem, "joined", &in) == 0 ? (in ? "yes" : "no") : "?");
        text_cell(d, elem, "error", WIDTH_MESSAGE, "-", error, sizeof(error));
        if (table_add(t, row) < 0)
            return;
        (*shown)++;
    }
}

static void print_rooms(FILE *out, const struct json_doc *d)
{
    struct table t = {.ncols = 5, .headers = {"INSTANCE", "ROOM", "ROOM ID", "JOINED", "ERROR"}};
    int arr, n, elem, cursor = 0;
    size_t shown = 0;

    if (!section_array(out, d, "ROOMS", "instances", &arr, &n))
        return;
    while (json_array_iter(d, arr, &cursor, &elem) > 0 && shown < STATUS_MAX_ROWS)
        add_rooms(&t, d, elem, &shown);
    if (t.nrows == 0) {
        fputs("(none)\n", out);
        table_done(&t);
        return;
    }
    section_end(out, &t, (int)shown, shown);
}

static void print_plugins(FILE *out, const struct json_doc *d)
{
    struct table t = {.ncols = 5, .headers = {"ID", "VERSION", "STATE", "USED BY", "REASON"}};
    char id[CELL_BYTES(WIDTH_ID)], version[CELL_BYTES(WIDTH_SHORT)], state[CELL_BYTES(WIDTH_SHORT)],
            used_by[CELL_BYTES(WIDTH_LIST)], reason[CELL_BYTES(WIDTH_MESSAGE)];
    char *row[] = {id, version, state, used_by, reason};
    int arr, n, elem, cursor = 0;
    size_t shown = 0;

    if (!section_array(out, d, "PLUGINS", "plugins", &arr, &n))
        return;
    while (json_array_iter(d, arr, &cursor, &elem) > 0 && shown < STATUS_MAX_ROWS) {
        text_cell(d, elem, "id", WIDTH_ID, "-", id, sizeof(id));
        text_cell(d, elem, "version", WIDTH_SHORT, "-", version, sizeof(version));
        text_cell(d, elem, "state", WIDTH_SHORT, "-", state, sizeof(state));
        list_cell(d, elem, "used_by", ", ", WIDTH_LIST, used_by, sizeof(used_by));
        text_cell(d, elem, "reason", WIDTH_MESSAGE, "-", reason, sizeof(reason));
        if (table_add(&t, row) < 0)
            break;
        shown++;
    }
    section_end(out, &t, n, shown);
}

static void print_notifications(FILE *out, const struct json_doc *d, time_t now)
{
    struct table t = {.ncols = 4, .headers = {"TIME", "INSTANCE", "SEVERITY", "MESSAGE"}};
    char when[64], instance[CELL_BYTES(WIDTH_ID)], severity[CELL_BYTES(WIDTH_SHORT)],
            message[CELL_BYTES(WIDTH_MESSAGE)];
    char *row[] = {when, instance, severity, message};
    int arr, n, elem, cursor = 0;
    size_t shown = 0;

    if (!section_array(out, d, "RECENT NOTIFICATIONS", "notifications", &arr, &n))
        return;
    while (json_array_iter(d, arr, &cursor, &elem) > 0 && shown < STATUS_MAX_NOTIFICATIONS) {
        time_cell(d, elem, "timestamp", now, "?", when, sizeof(when));
        text_cell(d, elem, "source_instance", WIDTH_ID, "-", instance, sizeof(instance));
        text_cell(d, elem, "severity", WIDTH_SHORT, "-", severity, sizeof(severity));
        text_cell(d, elem, "message", WIDTH_MESSAGE, "-", message, sizeof(message));
        if (table_add(&t, row) < 0)
            break;
        shown++;
    }
    section_end(out, &t, n, shown);
}

/* One "key: value" line per entry of the string array at key; nothing for an empty array. */
static void print_list_lines(FILE *out, const struct json_doc *d, const char *label,
                             const char *key)
{
    char item[CELL_BYTES(WIDTH_MESSAGE)];
    int arr, n, elem, cursor = 0;
    size_t shown = 0;

    if (json_get(d, 0, key, &arr) < 0 || (n = json_array_len(d, arr)) < 0) {
        fprintf(out, "%-10s?\n", label);
        return;
    }
    while (json_array_iter(d, arr, &cursor, &elem) > 0 && shown < STATUS_MAX_LIST) {
        text_cell(d, elem, NULL, WIDTH_MESSAGE, "-", item, sizeof(item));
        fprintf(out, "%-10s%s\n", shown == 0 ? label : "", item);
        shown++;
    }
    if ((size_t)n > shown)
        fprintf(out, "%-10s(and %zu more)\n", "", (size_t)n - shown);
}

/* The last reload, when there was one: "accepted 3 min ago", or "refused 3 min ago: 2
 * errors, first: instances[1].user: ... (line 12)". */
static void print_reload(FILE *out, const struct json_doc *d, time_t now)
{
    char at[64], first[CELL_BYTES(WIDTH_MESSAGE)];
    int64_t errors = -1;
    bool refused;
    int tok;

    if (json_get(d, 0, "reload", &tok) < 0 || json_type(d, tok) != JSON_OBJECT)
        return;
    time_cell(d, tok, "at", now, "?", at, sizeof(at));
    if (json_get_bool(d, tok, "refused", &refused) < 0) {
        fprintf(out, "%-10s? %s\n", "reload:", at);
        return;
    }
    if (!refused) {
        fprintf(out, "%-10saccepted %s\n", "reload:", at);
        return;
    }
    (void)json_get_int64(d, tok, "error_count", &errors);
    text_cell(d, tok, "first_error", WIDTH_MESSAGE, "?", first, sizeof(first));
    if (errors >= 0)
        fprintf(out, "%-10srefused %s: %lld error%s, first: %s\n", "reload:", at,
                (long long)errors, errors == 1 ? "" : "s", first);
    else
        fprintf(out, "%-10srefused %s: ? errors, first: %s\n", "reload:", at, first);
}

static void print_service(FILE *out, const struct json_doc *d, time_t now)
{
    char service[CELL_BYTES(WIDTH_SHORT)], version[CELL_BYTES(WIDTH_SHORT)], active[32],
            enabled[32], up[32] = "?";
    int64_t uptime;

    text_cell(d, 0, "service_status", WIDTH_SHORT, "-", service, sizeof(service));
    text_cell(d, 0, "version", WIDTH_SHORT, "-", version, sizeof(version));
    int_cell(d, 0, "active_instances_count", active, sizeof(active));
    int_cell(d, 0, "enabled_instances_count", enabled, sizeof(enabled));
    if (json_get_int64(d, 0, "uptime_s", &uptime) == 0 && uptime >= 0) {
        if (uptime < 3600)
            format_span(uptime, up, sizeof(up));
        else
            (void)snprintf(up, sizeof(up), "%lld h %lld min", (long long)(uptime / 3600),
                           (long long)(uptime % 3600 / 60));
    }
    fprintf(out, "%-10s%s, %s of %s enabled instances running\n", "service:", service, active,
            enabled);
    fprintf(out, "%-10sbotrunner %s, up %s\n", "version:", version, up);
    print_reload(out, d, now);
    print_list_lines(out, d, "reasons:", "reasons");
    print_list_lines(out, d, "failed:", "failed_instances");
}

void status_render(FILE *out, const struct json_doc *d, time_t now)
{
    if (json_type(d, 0) != JSON_OBJECT) {
        fputs("service:  ? (the document is not a JSON object)\n", out);
        return;
    }
    print_service(out, d, now);
    print_instances(out, d, now);
    print_rooms(out, d);
    print_plugins(out, d);
    print_notifications(out, d, now);
}

/* ---- The command ------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: botrunner status [--url URL | -c FILE] [--json]   (the endpoint of FILE's "
               "status:, else %s)\n",
            STATUS_DEFAULT_URL);
}

int cli_status(int argc, char **argv)
{
    static const struct option opts[] = {
            {"url", required_argument, NULL, 'u'},
            {"config", required_argument, NULL, 'c'},
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {},
    };
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    _cleanup_free_ char *body = NULL;
    const char *url = NULL, *config = NULL;
    char reason[STATUS_URL_MAX + 512], full[STATUS_URL_MAX + 16], base[STATUS_URL_MAX];
    bool raw = false;
    size_t len = 0;
    int opt, r;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "hc:", opts, NULL)) >= 0) {
        switch (opt) {
        case 'u':
            url = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'j':
            raw = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_SHOWN;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc || (url && config)) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (config) {
        r = status_base_from_config(config, base, sizeof(base), reason, sizeof(reason));
        if (r < 0) {
            fprintf(stderr, "botrunner status: %s\n", reason);
            return EXIT_UNREADABLE;
        }
        url = base;
    }
    if (!url)
        url = STATUS_DEFAULT_URL;
    r = status_fetch(url, &body, &len, reason, sizeof(reason));
    if (r < 0) {
        fprintf(stderr, "botrunner status: %s\n", reason);
        return r == -EINVAL ? EXIT_USAGE : EXIT_UNREADABLE;
    }
    /* Parsed even for --json: what reaches the terminal is then known to be JSON text, which
     * holds no raw control character. */
    r = status_parse(body, len, &d);
    if (r < 0) {
        (void)status_url(url, full, sizeof(full));
        fprintf(stderr, "botrunner status: %s answered malformed JSON\n", full);
        return EXIT_UNREADABLE;
    }
    if (raw) {
        fwrite(body, 1, len, stdout);
        if (len == 0 || body[len - 1] != '\n')
            fputc('\n', stdout);
    } else
        status_render(stdout, d, time(NULL));
    return fflush(stdout) == 0 ? EXIT_SHOWN : EXIT_UNREADABLE;
}
