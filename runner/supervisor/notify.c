/* Admin notifications: the rate limit and its summaries, the ring of recent ones for
 * /status, and the room text. Nothing here posts: the supervisor sends the text it gets.
 *
 * Every string that came from outside goes through clean() before it is kept or shown:
 * redacted as it came (so a secret holding a tab is still recognised), stripped of control
 * characters and invalid UTF-8, redacted again (the stripping cannot join a secret's parts,
 * as it only replaces, but the patterns see "Bearer<TAB>x" differently), then cut. The
 * finished room text is redacted once more as a whole. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "supervisor/notify.h"
#include "util/json.h"
#include "util/log.h"
#include "util/utf8.h"

/* Raw input considered at all: the worker's datagrams and the store's text are 4 KiB, so
 * this only stops a runaway caller from making redaction cost whatever it likes. */
#define NOTIFY_INPUT_MAX (64U * 1024)
/* The stored context object: four bounded strings, escaped; far more than they can need. */
#define NOTIFY_CONTEXT_JSON_MAX (16U * 1024)
/* Tokens of a context object: four members are nine tokens; a few more for tolerance. */
#define NOTIFY_CONTEXT_TOKENS 64
#define NOTIFY_CUT_MARK       "..."
/* U+FFFD REPLACEMENT CHARACTER, in place of anything that must not reach a room. */
#define NOTIFY_REPLACEMENT "\xef\xbf\xbd"

struct notifier {
    unsigned max_per_minute;
    /* Times of the last max_per_minute posts, oldest at posts_head. */
    int64_t *posts;
    size_t posts_head, n_posts;
    /* Held back since the last summary, and when the first of them was. */
    uint64_t suppressed;
    int64_t suppressed_since;
    /* The recent notifications; ring_next is where the next one goes. */
    struct notification ring[NOTIFY_KEEP];
    size_t ring_next, ring_count;
};

/* ---- Cleaning text ---------------------------------------------------------------------- */

/* A redacted copy of s[0..len). When truncated (s goes on past len), the copy is exactly len
 * bytes with no terminator in them, which is how log_redact_buffer() learns that a secret
 * may have been cut short at the end. Otherwise it has room to grow: a redaction marker is
 * longer than the shortest things it replaces. */
static char *redact_dup(const char *s, size_t len, bool truncated)
{
    size_t cap = truncated ? len : 3 * len + 16;
    char *buf = malloc(cap + 1);

    if (!buf)
        return NULL;
    memcpy(buf, s, len);
    memset(buf + len, 0, cap + 1 - len);
    log_redact_buffer(buf, cap);
    return buf;
}

/* Characters that must not reach a room: C0 and C1 controls, DEL, the Unicode line and
 * paragraph separators, and the bidirectional overrides and isolates (they make text read
 * other than it is). */
static bool unwanted(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e ||
           cp == 0x200f;
}

/* Copy s with tab and CR as spaces, LF kept when multiline (else a space), and invalid
 * UTF-8 and other unwanted characters as U+FFFD. One byte becomes at most three. */
static char *sanitize(const char *s, bool multiline)
{
    size_t len = strlen(s), o = 0;
    char *out = malloc(3 * len + 1);

    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = utf8_decode(s + i, len - i, &cp);

        if (k < 0) {
            memcpy(out + o, NOTIFY_REPLACEMENT, 3), o += 3, i++;
            continue;
        }
        if (cp == '\t' || cp == '\r' || (cp == '\n' && !multiline))
            out[o++] = ' ';
        else if (cp == '\n')
            out[o++] = '\n';
        else if (unwanted(cp))
            memcpy(out + o, NOTIFY_REPLACEMENT, 3), o += 3;
        else
            memcpy(out + o, s + i, (size_t)k), o += (size_t)k;
        i += (size_t)k;
    }
    out[o] = '\0';
    return out;
}

/* Largest n <= max such that s[0..n) ends on a character boundary (s is valid UTF-8). */
static size_t utf8_floor(const char *s, size_t max)
{
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

/* Cut s in place to at most max bytes, marking the cut. */
static void cut(char *s, size_t max)
{
    size_t mark = strlen(NOTIFY_CUT_MARK);

    assert(max >= mark);
    if (strlen(s) <= max)
        return;
    size_t n = utf8_floor(s, max - mark);
    memcpy(s + n, NOTIFY_CUT_MARK, mark + 1);
}

/* The one road for outside text: redact, sanitize, redact, cut to max bytes (SIZE_MAX: no
 * cut). Beyond NOTIFY_INPUT_MAX only the head is looked at. -ENOMEM. */
static int clean(const char *in, size_t max, bool multiline, char **ret)
{
    size_t len = strnlen(in, NOTIFY_INPUT_MAX + 1);
    bool truncated = len > NOTIFY_INPUT_MAX;
    _cleanup_free_ char *a = NULL, *b = NULL;
    char *c;

    a = redact_dup(in, truncated ? NOTIFY_INPUT_MAX : len, truncated);
    if (!a)
        return -ENOMEM;
    b = sanitize(a, multiline);
    if (!b)
        return -ENOMEM;
    c = redact_dup(b, strlen(b), false);
    if (!c)
        return -ENOMEM;
    if (max != SIZE_MAX)
        cut(c, max);
    *ret = c;
    return 0;
}

/* Beyond NOTIFY_INPUT_MAX a trace keeps its end, and drops the line the cut fell in (a cut
 * through a secret at the start could not be recognised). */
static const char *trace_window(const char *trace)
{
    size_t len = strlen(trace);
    const char *start, *nl;

    if (len <= NOTIFY_INPUT_MAX)
        return trace;
    start = trace + len - NOTIFY_INPUT_MAX;
    nl = strchr(start, '\n');
    return nl ? nl + 1 : trace + len;
}

/* The last NOTIFY_TRACE_LINES lines of a cleaned trace (trailing blank lines and trailing
 * spaces dropped), each cut to NOTIFY_TRACE_LINE_MAX, joined by LF; NULL when empty. */
static int trace_tail(const char *s, char **ret)
{
    struct {
        const char *p;
        size_t len;
    } lines[NOTIFY_TRACE_LINES];
    size_t n = 0, end = strlen(s), total = 0, o = 0;
    char *out;

    while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == ' '))
        end--;
    while (end > 0 && n < NOTIFY_TRACE_LINES) {
        size_t start = end;
        while (start > 0 && s[start - 1] != '\n')
            start--;
        size_t len = end - start;
        while (len > 0 && s[start + len - 1] == ' ')
            len--;
        lines[n++] = (typeof(lines[0])){.p = s + start, .len = len};
        total += len + 1;
        if (start == 0)
            break;
        end = start - 1;
    }
    if (n == 0) {
        *ret = NULL;
        return 0;
    }
    out = malloc(total + 1);
    if (!out)
        return -ENOMEM;
    for (size_t i = n; i-- > 0;) {
        size_t len = lines[i].len;
        if (len > NOTIFY_TRACE_LINE_MAX) {
            len = utf8_floor(lines[i].p, NOTIFY_TRACE_LINE_MAX - strlen(NOTIFY_CUT_MARK));
            memcpy(out + o, lines[i].p, len);
            memcpy(out + o + len, NOTIFY_CUT_MARK, strlen(NOTIFY_CUT_MARK));
            len += strlen(NOTIFY_CUT_MARK);
        } else
            memcpy(out + o, lines[i].p, len);
        o += len;
        out[o++] = i > 0 ? '\n' : '\0';
    }
    *ret = out;
    return 0;
}

static int clean_trace(const char *trace, char **ret)
{
    _cleanup_free_ char *c = NULL;
    int r;

    r = clean(trace_window(trace), SIZE_MAX, true, &c);
    if (r < 0)
        return r;
    return trace_tail(c, ret);
}

static const char *severity_canonical(const char *s)
{
    if (s && streq(s, "ERROR"))
        return "ERROR";
    if (s && streq(s, "CRITICAL"))
        return "CRITICAL";
    return NULL;
}

/* ---- The entity ------------------------------------------------------------------------- */

static void notification_done(struct notification *n)
{
    free(n->source_instance);
    free(n->severity);
    free(n->message);
    free(n->context_json);
    *n = (struct notification){0};
}

/* The context members, cleaned; any may be NULL. */
struct context {
    char *room_id, *event_id, *error_type, *trace;
};

static void context_done(struct context *c)
{
    free(c->room_id);
    free(c->event_id);
    free(c->error_type);
    free(c->trace);
}

static int clean_opt(const char *in, size_t max, char **ret)
{
    if (!in || !*in) {
        *ret = NULL;
        return 0;
    }
    return clean(in, max, false, ret);
}

static int context_clean(const char *room_id, const char *event_id, const char *error_type,
                         const char *trace, struct context *ret)
{
    _cleanup_(context_done) struct context c = {0};
    int r;

    r = clean_opt(room_id, NOTIFY_ID_MAX, &c.room_id);
    if (r >= 0)
        r = clean_opt(event_id, NOTIFY_ID_MAX, &c.event_id);
    if (r >= 0)
        r = clean_opt(error_type, NOTIFY_ERROR_TYPE_MAX, &c.error_type);
    if (r >= 0 && trace)
        r = clean_trace(trace, &c.trace);
    if (r < 0)
        return r;
    ret->room_id = TAKE_PTR(c.room_id);
    ret->event_id = TAKE_PTR(c.event_id);
    ret->error_type = TAKE_PTR(c.error_type);
    ret->trace = TAKE_PTR(c.trace);
    return 0;
}

static void json_member(struct json_writer *w, const char *key, const char *value)
{
    if (!value)
        return;
    json_key(w, key);
    json_string(w, value);
}

/* The seed's context object, or NULL when every member is absent. */
static int context_to_json(const struct context *c, char **ret)
{
    struct json_writer w;

    if (!c->room_id && !c->event_id && !c->error_type && !c->trace) {
        *ret = NULL;
        return 0;
    }
    json_writer_init(&w, NOTIFY_CONTEXT_JSON_MAX);
    json_begin_object(&w);
    json_member(&w, "room_id", c->room_id);
    json_member(&w, "event_id", c->event_id);
    json_member(&w, "exception_type", c->error_type);
    json_member(&w, "stack_trace", c->trace);
    json_end_object(&w);
    return json_writer_steal(&w, ret, NULL);
}

/* Read a context object back; anything unreadable is simply absent. */
static int context_from_json(const char *json, struct context *ret)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    _cleanup_free_ char *room_id = NULL, *event_id = NULL, *error_type = NULL, *trace = NULL;

    if (json && json_parse(json, strnlen(json, NOTIFY_CONTEXT_JSON_MAX + 1), NOTIFY_CONTEXT_TOKENS,
                           &d) == 0) {
        (void)json_get_string(d, 0, "room_id", &room_id);
        (void)json_get_string(d, 0, "event_id", &event_id);
        (void)json_get_string(d, 0, "exception_type", &error_type);
        (void)json_get_string(d, 0, "stack_trace", &trace);
    }
    return context_clean(room_id, event_id, error_type, trace, ret);
}

/* Build the remembered form of in: every string cleaned. */
static int notification_make(int64_t now, const struct notification_in *in,
                             struct notification *ret)
{
    _cleanup_(notification_done) struct notification n = {.timestamp = now};
    _cleanup_(context_done) struct context c = {0};
    const char *severity = severity_canonical(in->severity);
    int r;

    if (!severity || !in->message || !*in->message)
        return -EINVAL;
    n.severity = strdup(severity);
    if (!n.severity)
        return -ENOMEM;
    r = clean(in->message, NOTIFY_MESSAGE_MAX, false, &n.message);
    if (r >= 0)
        r = clean_opt(in->source_instance, NOTIFY_ID_MAX, &n.source_instance);
    if (r >= 0)
        r = context_clean(in->room_id, in->event_id, in->error_type, in->trace, &c);
    if (r >= 0)
        r = context_to_json(&c, &n.context_json);
    if (r < 0)
        return r;
    *ret = (struct notification){.timestamp = n.timestamp};
    ret->source_instance = TAKE_PTR(n.source_instance);
    ret->severity = TAKE_PTR(n.severity);
    ret->message = TAKE_PTR(n.message);
    ret->context_json = TAKE_PTR(n.context_json);
    return 0;
}

/* ---- The room text ---------------------------------------------------------------------- */

/* The text being assembled: appends stop, marked, at NOTIFY_TEXT_MAX. */
struct text {
    char buf[NOTIFY_TEXT_MAX + 1];
    size_t len;
    bool full;
};

static void text_add(struct text *t, const char *s)
{
    size_t n = strlen(s), mark = strlen(NOTIFY_CUT_MARK);

    if (t->full)
        return;
    if (n <= NOTIFY_TEXT_MAX - t->len) {
        memcpy(t->buf + t->len, s, n + 1);
        t->len += n;
        return;
    }
    t->full = true;
    if (NOTIFY_TEXT_MAX - t->len < mark)
        return;
    n = utf8_floor(s, NOTIFY_TEXT_MAX - t->len - mark);
    memcpy(t->buf + t->len, s, n);
    memcpy(t->buf + t->len + n, NOTIFY_CUT_MARK, mark + 1);
    t->len += n + mark;
}

static void text_line(struct text *t, const char *label, const char *value)
{
    if (!value)
        return;
    text_add(t, "\n");
    text_add(t, label);
    text_add(t, value);
}

static void text_trace(struct text *t, const char *trace)
{
    if (!trace)
        return;
    text_add(t, "\ntrace:");
    for (const char *p = trace; p;) {
        const char *nl = strchr(p, '\n');
        char line[NOTIFY_TRACE_LINE_MAX + 1];

        snprintf(line, sizeof line, "%.*s", (int)(nl ? (size_t)(nl - p) : strlen(p)), p);
        text_add(t, "\n  ");
        text_add(t, line);
        p = nl ? nl + 1 : NULL;
    }
}

int notify_format(const struct notification *n, char **ret_text)
{
    _cleanup_free_ char *source = NULL, *message = NULL, *out = NULL;
    _cleanup_(context_done) struct context c = {0};
    _cleanup_free_ struct text *t = NULL;
    const char *severity;
    int r;

    assert(n && ret_text);
    severity = severity_canonical(n->severity);
    if (!severity || !n->message || !*n->message)
        return -EINVAL;
    r = clean(n->message, NOTIFY_MESSAGE_MAX, false, &message);
    if (r >= 0)
        r = clean_opt(n->source_instance, NOTIFY_ID_MAX, &source);
    if (r >= 0)
        r = context_from_json(n->context_json, &c);
    if (r < 0)
        return r;
    t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;

    text_add(t, "[");
    text_add(t, severity);
    text_add(t, "] ");
    if (source) {
        text_add(t, source);
        text_add(t, ": ");
    }
    text_add(t, message);
    text_line(t, "room: ", c.room_id);
    text_line(t, "event: ", c.event_id);
    text_line(t, "error type: ", c.error_type);
    text_trace(t, c.trace);
    log_redact_buffer(t->buf, sizeof t->buf);

    out = strdup(t->buf);
    if (!out)
        return -ENOMEM;
    *ret_text = TAKE_PTR(out);
    return 0;
}

/* ---- Rate limit and ring ---------------------------------------------------------------- */

int notifier_new(unsigned max_per_minute, struct notifier **ret)
{
    _cleanup_(notifier_freep) struct notifier *n = NULL;

    assert(ret);
    if (max_per_minute < 1 || max_per_minute > NOTIFY_MAX_PER_MINUTE)
        return -EINVAL;
    n = calloc(1, sizeof *n);
    if (!n)
        return -ENOMEM;
    n->max_per_minute = max_per_minute;
    n->posts = calloc(max_per_minute, sizeof *n->posts);
    if (!n->posts)
        return -ENOMEM;
    *ret = TAKE_PTR(n);
    return 0;
}

void notifier_free(struct notifier *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < NOTIFY_KEEP; i++)
        notification_done(&n->ring[i]);
    free(n->posts);
    free(n);
}

static int64_t newest_post(const struct notifier *n)
{
    return n->posts[(n->posts_head + n->n_posts - 1) % n->max_per_minute];
}

/* A clock that stepped back would otherwise hold every notification back until it caught
 * up again: forget the window instead (at worst one extra burst). Called when committing;
 * rate_allows() and summary_due() already read the state as if it had been called. */
static void clock_check(struct notifier *n, int64_t now)
{
    if (n->n_posts > 0 && now < newest_post(n))
        n->n_posts = 0, n->posts_head = 0;
    if (n->suppressed > 0 && now < n->suppressed_since)
        n->suppressed_since = now;
}

static bool rate_allows(const struct notifier *n, int64_t now)
{
    return n->n_posts < n->max_per_minute || now < newest_post(n) ||
           now - n->posts[n->posts_head] >= NOTIFY_WINDOW_S;
}

static void rate_record(struct notifier *n, int64_t now)
{
    if (n->n_posts < n->max_per_minute) {
        n->posts[(n->posts_head + n->n_posts++) % n->max_per_minute] = now;
        return;
    }
    n->posts[n->posts_head] = now;
    n->posts_head = (n->posts_head + 1) % n->max_per_minute;
}

int64_t notify_flush_at(const struct notifier *n)
{
    assert(n);
    return n->suppressed > 0 ? n->suppressed_since + NOTIFY_WINDOW_S : 0;
}

/* The summary text when one is due at now, else NULL (*ret); nothing is reset here. */
static int summary_due(const struct notifier *n, int64_t now, char **ret)
{
    char *s = NULL;

    if (n->suppressed > 0 && now >= notify_flush_at(n) &&
        asprintf(&s, "%" PRIu64 " more notification%s in the last minute (see the journal)",
                 n->suppressed, n->suppressed == 1 ? "" : "s") < 0)
        return -ENOMEM;
    *ret = s;
    return 0;
}

int notify_flush(struct notifier *n, int64_t now, char **ret_summary)
{
    char *s;
    int r;

    assert(n && ret_summary);
    r = summary_due(n, now, &s);
    if (r < 0)
        return r;
    clock_check(n, now);
    if (s)
        n->suppressed = 0;
    *ret_summary = s;
    return !!s;
}

static void ring_push(struct notifier *n, struct notification *e)
{
    notification_done(&n->ring[n->ring_next]);
    n->ring[n->ring_next] = *e;
    *e = (struct notification){0};
    n->ring_next = (n->ring_next + 1) % NOTIFY_KEEP;
    if (n->ring_count < NOTIFY_KEEP)
        n->ring_count++;
}

int notify_offer(struct notifier *n, int64_t now, const struct notification_in *in,
                 char **ret_summary, char **ret_text)
{
    _cleanup_(notification_done) struct notification e = {0};
    _cleanup_free_ char *summary = NULL, *text = NULL;
    bool post;
    int r;

    assert(n && in && ret_summary && ret_text);
    r = notification_make(now, in, &e);
    if (r < 0)
        return r;
    post = rate_allows(n, now);
    if (post) {
        r = notify_format(&e, &text);
        if (r < 0)
            return r;
    }
    r = summary_due(n, now, &summary);
    if (r < 0)
        return r;

    /* Nothing can fail from here on. The summary covers what came before this one. */
    clock_check(n, now);
    if (summary)
        n->suppressed = 0;
    if (post)
        rate_record(n, now);
    else {
        if (n->suppressed == 0)
            n->suppressed_since = now;
        n->suppressed++;
    }
    e.suppressed = !post;
    ring_push(n, &e);
    *ret_summary = TAKE_PTR(summary);
    *ret_text = TAKE_PTR(text);
    return post;
}

size_t notify_recent_count(const struct notifier *n)
{
    assert(n);
    return n->ring_count;
}

const struct notification *notify_recent(const struct notifier *n, size_t i)
{
    assert(n);
    if (i >= n->ring_count)
        return NULL;
    return &n->ring[(n->ring_next + NOTIFY_KEEP - 1 - i) % NOTIFY_KEEP];
}

/* ---- Levels ----------------------------------------------------------------------------- */

bool notify_wanted(int instance_level, int priority)
{
    return priority >= LOG_EMERG && priority <= LOG_ERR && priority <= instance_level;
}

const char *notify_severity(int priority)
{
    if (priority >= LOG_EMERG && priority <= LOG_CRIT)
        return "CRITICAL";
    if (priority == LOG_ERR)
        return "ERROR";
    return NULL;
}
