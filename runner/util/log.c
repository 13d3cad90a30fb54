/* Logging for the whole runner: formatting, the level filter, redaction of secrets, and the
 * two targets (journald with structured fields, or one escaped line per message on stderr).
 *
 * A process has exactly one log, so its settings live in one static struct (log_state)
 * rather than in a handle passed everywhere: the level, the target, the instance this
 * process serves, the registered secrets and the observer. The runner is single-threaded
 * (one sd-event loop per process); nothing here takes a lock.
 *
 * Every message is formatted into a bounded buffer, redacted (registered secrets and the
 * token patterns below), and only then handed to a target or the observer. The unredacted
 * text lives on the stack for the duration of one call and is wiped before returning. */

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
/* We pass the caller's CODE_FILE/LINE/FUNC; without this, sd-journal.h appends log.c's. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "util/log.h"
#include "util/utf8.h"

/* One formatted message, NUL included: room for an HTTP error excerpt and a path or two.
 * A longer message is cut and marked, never split over several entries. */
#define LOG_MESSAGE_MAX 4096
/* Escaping turns one byte into at most four ("\xNN"). */
#define LOG_ESCAPED_MAX (4 * LOG_MESSAGE_MAX)
/* Fixed parts of a stderr line or journal field around the message: level, instance,
 * room and event ids, field names. Generous; the ids below are bounded. */
#define LOG_DECORATION_MAX 1024
/* Matrix room and event ids are at most 255 bytes (Client-Server API, "Identifier
 * grammar"); anything longer is not an id and is dropped rather than logged. */
#define LOG_ID_MAX 255
/* Instance ids are short slugs ([a-z0-9-]+); a longer one is cut, not refused, since
 * log_set_instance() cannot fail. */
#define LOG_INSTANCE_MAX 64
/* Secrets held at once: a worker holds a handful (secret key, registration token, its
 * password and access token); the supervisor may hold one password and token per
 * instance. 128 covers a large fleet; past it registration fails loudly (-ENOSPC). */
#define LOG_REDACT_MAX_SECRETS 128
/* Total bytes of all secrets, kept in one locked libsodium allocation: 128 secrets of
 * 256 bytes, or one maximal credential (4096 bytes) among many small ones. */
#define LOG_REDACT_ARENA_SIZE (32 * 1024)
/* The longest secret accepted: the longest credential a config key may name. */
#define LOG_REDACT_SECRET_MAX 4096

#define LOG_REDACTED       "[redacted]"
#define LOG_TRUNCATED_MARK "...[truncated]"

struct log_secret {
    size_t offset; /* into log_state.arena */
    size_t len;
};

static struct {
    int max_level;
    enum log_target target; /* LOG_TARGET_AUTO until resolved */
    char instance[LOG_INSTANCE_MAX + 1];

    unsigned char *arena; /* sodium_malloc'd on first use; sodium_free wipes it */
    size_t arena_used;
    struct log_secret secrets[LOG_REDACT_MAX_SECRETS];
    size_t n_secrets;

    log_observer_t observer;
    void *observer_userdata;
    bool in_observer; /* an observer that logs does not see its own messages */
    const char *observed_room_id, *observed_event_id; /* during an observer call only */
} log_state = {
        .max_level = LOG_INFO,
        .target = LOG_TARGET_AUTO,
};

/* The contract's level names, exact and case-sensitive. */
static const struct {
    const char *name;
    int priority;
} log_levels[] = {
        {"DEBUG", LOG_DEBUG}, {"INFO", LOG_INFO},     {"WARN", LOG_WARNING},
        {"ERROR", LOG_ERR},   {"CRITICAL", LOG_CRIT},
};
_Static_assert(ELEMENTSOF(log_levels) == LOG_LEVEL_COUNT, "one name per contract level");

/* Prefixes for stderr lines, for every syslog priority (NOTICE, ALERT and EMERG are not
 * contract levels but a caller may still use them). */
static const char *const priority_prefixes[] = {
        [LOG_EMERG] = "EMERG", [LOG_ALERT] = "ALERT",  [LOG_CRIT] = "CRITICAL",
        [LOG_ERR] = "ERROR",   [LOG_WARNING] = "WARN", [LOG_NOTICE] = "NOTICE",
        [LOG_INFO] = "INFO",   [LOG_DEBUG] = "DEBUG",
};

int log_level_from_string(const char *s, int *ret_priority)
{
    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < ELEMENTSOF(log_levels); i++)
        if (streq(s, log_levels[i].name)) {
            if (ret_priority)
                *ret_priority = log_levels[i].priority;
            return 0;
        }
    return -EINVAL;
}

/* NULL for priorities that are not one of the five contract levels. */
const char *log_level_to_string(int priority)
{
    for (size_t i = 0; i < ELEMENTSOF(log_levels); i++)
        if (log_levels[i].priority == priority)
            return log_levels[i].name;
    return NULL;
}

static int clamp_priority(int priority)
{
    return priority < LOG_EMERG ? LOG_EMERG : priority > LOG_DEBUG ? LOG_DEBUG : priority;
}

void log_set_max_level(int priority)
{
    log_state.max_level = clamp_priority(priority);
}

int log_get_max_level(void)
{
    return log_state.max_level;
}

/* stderr is the journal stream when $JOURNAL_STREAM ("DEVICE:INODE", set by systemd)
 * names the file stderr is open on; a redirected stderr under systemd is not. */
static enum log_target log_target_detect(void)
{
    unsigned long long dev, ino;
    struct stat st;
    char tail;

    const char *e = getenv("JOURNAL_STREAM");
    if (!e || sscanf(e, "%llu:%llu%c", &dev, &ino, &tail) != 2)
        return LOG_TARGET_STDERR;
    if (fstat(STDERR_FILENO, &st) < 0)
        return LOG_TARGET_STDERR;
    if ((unsigned long long)st.st_dev != dev || (unsigned long long)st.st_ino != ino)
        return LOG_TARGET_STDERR;
    return LOG_TARGET_JOURNAL;
}

/* AUTO is decided here, once, so every later message goes to the same place. */
void log_set_target(enum log_target target)
{
    log_state.target = target == LOG_TARGET_AUTO ? log_target_detect() : target;
}

/* The instance id is copied as printable ASCII only (anything else becomes '?'), since it
 * is printed verbatim on every stderr line. */
void log_set_instance(const char *instance_id)
{
    size_t i = 0;

    if (instance_id)
        for (; i < LOG_INSTANCE_MAX && instance_id[i]; i++) {
            char c = instance_id[i];
            log_state.instance[i] = c > 0x20 && c < 0x7f ? c : '?';
        }
    log_state.instance[i] = '\0';
}

const char *log_observed_room_id(void)
{
    return log_state.observed_room_id;
}

const char *log_observed_event_id(void)
{
    return log_state.observed_event_id;
}

void log_set_observer(log_observer_t observer, void *userdata)
{
    log_state.observer = observer;
    log_state.observer_userdata = userdata;
}

/* ---- Secrets ----------------------------------------------------------------------- */

static const unsigned char *secret_data(size_t i)
{
    return log_state.arena + log_state.secrets[i].offset;
}

static bool secret_known(const void *secret, size_t len)
{
    for (size_t i = 0; i < log_state.n_secrets; i++)
        if (log_state.secrets[i].len == len && memcmp(secret_data(i), secret, len) == 0)
            return true;
    return false;
}

/* All secrets share one sodium_malloc'd arena: locked (not swapped out), fenced by guard
 * pages, and wiped by sodium_free. A secret registered twice (a reload reading the same
 * file again) takes no second slot. */
int log_redact_add(const void *secret, size_t len)
{
    if (!secret || len < LOG_REDACT_MIN)
        return -EINVAL;
    if (len > LOG_REDACT_SECRET_MAX)
        return -E2BIG;
    if (log_state.arena && secret_known(secret, len))
        return 0;
    if (log_state.n_secrets >= LOG_REDACT_MAX_SECRETS ||
        len > LOG_REDACT_ARENA_SIZE - log_state.arena_used)
        return -ENOSPC;

    if (!log_state.arena) {
        if (sodium_init() < 0)
            return -EIO;
        log_state.arena = sodium_malloc(LOG_REDACT_ARENA_SIZE);
        if (!log_state.arena)
            return -ENOMEM;
    }

    memcpy(log_state.arena + log_state.arena_used, secret, len);
    log_state.secrets[log_state.n_secrets++] = (struct log_secret){
            .offset = log_state.arena_used,
            .len = len,
    };
    log_state.arena_used += len;
    return 0;
}

void log_redact_clear(void)
{
    if (log_state.arena)
        sodium_free(log_state.arena);
    log_state.arena = NULL;
    log_state.arena_used = 0;
    log_state.n_secrets = 0;
}

/* ---- Redaction ---------------------------------------------------------------------
 * Redaction first marks every byte that belongs to a secret in a mask over the original
 * text, then copies the text with each run of marked bytes replaced by one "[redacted]".
 * Marking on the original text means overlapping or adjacent secrets are hidden entirely
 * (replacing one secret cannot break the match of another), and nothing in the marker
 * can itself be mistaken for a secret. */

static void mark(uint8_t *mask, size_t from, size_t to)
{
    if (to > from)
        memset(mask + from, 1, to - from);
}

/* When the text was cut, its last bytes may be the beginning of a secret that did not fit:
 * mark the longest tail that is a prefix of the secret. */
static void mark_secret_prefix_at_end(const char *in, size_t len, const unsigned char *s,
                                      size_t slen, uint8_t *mask)
{
    size_t start = len >= slen ? len - slen + 1 : 0;

    for (; start < len; start++)
        if ((unsigned char)in[start] == s[0] && memcmp(in + start, s, len - start) == 0) {
            mark(mask, start, len);
            return;
        }
}

static void mark_secrets(const char *in, size_t len, bool truncated, uint8_t *mask)
{
    for (size_t i = 0; i < log_state.n_secrets; i++) {
        const unsigned char *s = secret_data(i);
        size_t slen = log_state.secrets[i].len;

        /* Advance by one byte after a hit so that overlapping occurrences are found too. */
        for (const char *p = in; (p = memmem(p, (size_t)(in + len - p), s, slen)); p++)
            mark(mask, (size_t)(p - in), (size_t)(p - in) + slen);
        if (truncated)
            mark_secret_prefix_at_end(in, len, s, slen, mask);
    }
}

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Does in[0..len) start with word (lower case), ignoring ASCII case? */
static bool has_prefix_ci(const char *in, size_t len, const char *word)
{
    size_t n = strlen(word);

    if (len < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower(in[i]) != word[i])
            return false;
    return true;
}

/* Length of the run at in[0..len) of bytes not in stop. */
static size_t span_until(const char *in, size_t len, const char *stop)
{
    size_t n = 0;

    while (n < len && !memchr(stop, in[n], strlen(stop)))
        n++;
    return n;
}

/* "Bearer <token>", in an Authorization header or anywhere else: the token ends at
 * whitespace, a quote or a separator. Masking a little too much is harmless. */
static void mark_bearer(const char *in, size_t len, uint8_t *mask)
{
    static const char word[] = "bearer";

    for (size_t i = 0; i < len; i++) {
        if (!has_prefix_ci(in + i, len - i, word))
            continue;
        size_t j = i + strlen(word);
        if (j >= len || (in[j] != ' ' && in[j] != '\t'))
            continue;
        while (j < len && (in[j] == ' ' || in[j] == '\t'))
            j++;
        mark(mask, j, j + span_until(in + j, len - j, " \t\r\n\"',;"));
    }
}

/* access_token=<value> in a URL or query string; the value ends where a query value ends. */
static void mark_access_token_param(const char *in, size_t len, uint8_t *mask)
{
    static const char word[] = "access_token=";

    for (size_t i = 0; i < len; i++) {
        if (!has_prefix_ci(in + i, len - i, word))
            continue;
        size_t j = i + strlen(word);
        mark(mask, j, j + span_until(in + j, len - j, "&# \t\r\n\"'<>;,"));
    }
}

/* JSON keys whose string values are secrets (Matrix login, UIA and registration bodies). */
static const char *const json_secret_keys[] = {
        "access_token", "password", "new_password", "token", "registration_token", "secret",
};

static size_t skip_json_space(const char *in, size_t len, size_t j)
{
    while (j < len && (in[j] == ' ' || in[j] == '\t' || in[j] == '\r' || in[j] == '\n'))
        j++;
    return j;
}

/* If in[i] opens one of the keys above followed by ':' and a string, return the offset of
 * the value's first byte, else 0 (a value can never start at offset 0). */
static size_t json_secret_value_start(const char *in, size_t len, size_t i)
{
    for (size_t k = 0; k < ELEMENTSOF(json_secret_keys); k++) {
        size_t klen = strlen(json_secret_keys[k]);
        if (len - i < klen + 2 || memcmp(in + i + 1, json_secret_keys[k], klen) != 0 ||
            in[i + 1 + klen] != '"')
            continue;
        size_t j = skip_json_space(in, len, i + klen + 2);
        if (j >= len || in[j] != ':')
            continue;
        j = skip_json_space(in, len, j + 1);
        if (j >= len || in[j] != '"')
            continue;
        return j + 1;
    }
    return 0;
}

/* "key": "value" for the keys above: the value up to its closing unescaped quote (or the
 * end of the text, when the JSON was cut) is masked; the quotes stay. */
static void mark_json_values(const char *in, size_t len, uint8_t *mask)
{
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '"')
            continue;
        size_t start = json_secret_value_start(in, len, i);
        if (start == 0)
            continue;
        size_t j = start;
        while (j < len && in[j] != '"')
            j += in[j] == '\\' ? 2 : 1;
        if (j > len)
            j = len;
        mark(mask, start, j);
        i = j;
    }
}

/* Drop an incomplete UTF-8 sequence left at the end of s[0..n) by a cut. */
static size_t utf8_cut(const char *s, size_t n)
{
    size_t i = n, k = 0;

    while (i > 0 && k < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        k++;
    }
    if (i == 0)
        return n;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return need > k + 1 ? i - 1 : n;
}

/* Copy in[0..len) to out (capacity cap, NUL included) with each masked run replaced by one
 * marker. Returns false when the result had to be cut to fit; out is always terminated. */
static bool render(const char *in, size_t len, const uint8_t *mask, char *out, size_t cap)
{
    size_t o = 0, m = strlen(LOG_REDACTED);
    bool fit = true;

    assert(cap > 0);
    for (size_t i = 0; i < len && fit;) {
        if (mask[i]) {
            if (o + m >= cap) {
                fit = false;
                break;
            }
            memcpy(out + o, LOG_REDACTED, m);
            o += m;
            while (i < len && mask[i])
                i++;
        } else if (o + 1 >= cap)
            fit = false;
        else
            out[o++] = in[i++];
    }
    if (!fit)
        o = utf8_cut(out, o);
    out[o] = '\0';
    return fit;
}

/* Redact in[0..len) into out. mask is scratch space of at least len bytes. in and out must
 * not overlap. */
static bool redact_copy(const char *in, size_t len, bool truncated, uint8_t *mask, char *out,
                        size_t cap)
{
    memset(mask, 0, len);
    mark_secrets(in, len, truncated, mask);
    mark_bearer(in, len, mask);
    mark_access_token_param(in, len, mask);
    mark_json_values(in, len, mask);
    return render(in, len, mask, out, cap);
}

/* A buffer that is not NUL-terminated within cap is treated as cut at its last byte. When
 * memory for the scratch space cannot be had, the whole text is replaced: failing closed
 * is the only safe choice for a redactor. Bytes freed up by a shorter result are wiped,
 * since they held the original text. No truncation marker is added here. */
void log_redact_buffer(char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return;

    size_t len = strnlen(buf, cap);
    bool truncated = len == cap;
    if (truncated)
        buf[--len] = '\0';

    _cleanup_free_ uint8_t *mask = malloc(len + 1);
    _cleanup_free_ char *out = malloc(cap);
    if (!mask || !out) {
        explicit_bzero(buf, cap);
        snprintf(buf, cap, "%s", LOG_REDACTED);
        return;
    }

    redact_copy(buf, len, truncated, mask, out, cap);
    size_t n = strlen(out);
    memcpy(buf, out, n + 1);
    if (len > n)
        explicit_bzero(buf + n + 1, len - n);
}

/* ---- Output ------------------------------------------------------------------------ */

/* Make a redacted message safe to print: control characters (C0, DEL and the C1 range,
 * which terminals interpret) and bytes that are not UTF-8 become \xNN, CR and LF become
 * \r and \n unless keep_newlines (the journal stores multi-line messages as they are).
 * Stops early rather than overflow; out is always terminated. */
static void escape(const char *in, bool keep_newlines, char *out, size_t cap)
{
    size_t o = 0, n = strlen(in);

    assert(cap > 0);
    for (size_t i = 0; i < n;) {
        const unsigned char *s = (const unsigned char *)in + i;
        uint32_t cp = 0;
        int k = utf8_decode(in + i, n - i, &cp);
        bool control = (cp < 0x20 && cp != '\t') || (cp >= 0x7f && cp < 0xa0);
        char esc[8];
        const char *piece;
        size_t plen;

        if (k < 0 || control) {
            if (keep_newlines && s[0] == '\n')
                piece = "\n", plen = 1;
            else if (s[0] == '\n')
                piece = "\\n", plen = 2;
            else if (s[0] == '\r')
                piece = "\\r", plen = 2;
            else {
                snprintf(esc, sizeof esc, "\\x%02x", s[0]);
                piece = esc, plen = 4;
            }
            i++;
        } else {
            piece = (const char *)s, plen = (size_t)k;
            i += (size_t)k;
        }
        if (o + plen >= cap)
            break;
        memcpy(out + o, piece, plen);
        o += plen;
    }
    out[o] = '\0';
}

/* Matrix ids go into journal fields and stderr lines as they are, so only printable ASCII
 * of a sane length is accepted; they are redacted like the message. Returns false (drop
 * the field) for anything else. */
static bool prepare_id(const char *id, char out[static LOG_ID_MAX + 1])
{
    uint8_t mask[LOG_ID_MAX];
    size_t len;

    if (!id)
        return false;
    for (len = 0; id[len]; len++)
        if (len >= LOG_ID_MAX || id[len] < 0x20 || id[len] > 0x7e)
            return false;
    if (len == 0)
        return false;
    redact_copy(id, len, false, mask, out, LOG_ID_MAX + 1);
    return true;
}

struct log_entry {
    int priority;
    int error;           /* positive errno, or 0 */
    const char *message; /* redacted */
    const char *room_id; /* validated and redacted, or NULL */
    const char *event_id;
    const char *file;
    int line;
    const char *func;
};

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, buf, len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report it */
        }
        buf += k;
        len -= (size_t)k;
    }
}

/* Appends at most what fits, always leaving room for the terminating NUL. */
static void append(char *buf, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);

    if (*len + n >= cap)
        n = cap - 1 - *len;
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

/* "2026-12-02T19:40:18.123Z ": when, in UTC to the millisecond, for a line on stderr that
 * no journal stamps. "" when the clock cannot be read (a line without a time beats none). */
static void format_time(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    char date[32];

    buf[0] = '\0';
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !gmtime_r(&ts.tv_sec, &tm) ||
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        return;
    snprintf(buf, cap, "%s.%03ldZ ", date, ts.tv_nsec / 1000000L);
}

/* One line per message: "TIME LEVEL [instance] message (room R, event E)\n", TIME as above
 * when with_time (not when the line is the journal's fallback: journald stamps its own).
 * One write(), so lines from the supervisor and its workers sharing stderr do not
 * interleave mid-line. */
static void emit_stderr(const struct log_entry *e, bool with_time)
{
    char escaped[LOG_ESCAPED_MAX];
    char line[LOG_ESCAPED_MAX + LOG_DECORATION_MAX];
    char when[64];
    size_t len = 0;

    escape(e->message, false, escaped, sizeof escaped);

    /* Leave one byte for the newline, which must survive any cut. */
    size_t cap = sizeof line - 1;
    if (with_time) {
        format_time(when, sizeof(when));
        append(line, cap, &len, when);
    }
    append(line, cap, &len, priority_prefixes[e->priority]);
    append(line, cap, &len, " ");
    if (log_state.instance[0]) {
        append(line, cap, &len, "[");
        append(line, cap, &len, log_state.instance);
        append(line, cap, &len, "] ");
    }
    append(line, cap, &len, escaped);
    if (e->room_id || e->event_id) {
        append(line, cap, &len, " (");
        if (e->room_id) {
            append(line, cap, &len, "room ");
            append(line, cap, &len, e->room_id);
        }
        if (e->event_id) {
            append(line, cap, &len, e->room_id ? ", event " : "event ");
            append(line, cap, &len, e->event_id);
        }
        append(line, cap, &len, ")");
    }
    line[len++] = '\n';
    write_all(STDERR_FILENO, line, len);
}

/* Structured entry through the native protocol (sd_journal_sendv): every value is passed
 * as data in an iovec, never as a format string. */
static int emit_journal(const struct log_entry *e)
{
    char message[sizeof "MESSAGE=" + LOG_ESCAPED_MAX];
    char priority[32], code_file[LOG_DECORATION_MAX], code_line[32], code_func[256];
    char errno_field[32], instance[sizeof "INSTANCE=" + LOG_INSTANCE_MAX];
    char room[sizeof "ROOM_ID=" + LOG_ID_MAX], event[sizeof "EVENT_ID=" + LOG_ID_MAX];
    struct iovec iov[10];
    size_t n = 0;

    memcpy(message, "MESSAGE=", strlen("MESSAGE="));
    escape(e->message, true, message + strlen("MESSAGE="), sizeof message - strlen("MESSAGE="));

#define FIELD(buf, ...)                                                                            \
    do {                                                                                           \
        snprintf(buf, sizeof buf, __VA_ARGS__);                                                    \
        iov[n++] = (struct iovec){.iov_base = buf, .iov_len = strlen(buf)};                        \
    } while (0)

    iov[n++] = (struct iovec){.iov_base = message, .iov_len = strlen(message)};
    FIELD(priority, "PRIORITY=%d", e->priority);
    iov[n++] = (struct iovec){.iov_base = (char *)"SYSLOG_IDENTIFIER=botrunner",
                              .iov_len = strlen("SYSLOG_IDENTIFIER=botrunner")};
    FIELD(code_file, "CODE_FILE=%s", e->file ? e->file : "");
    FIELD(code_line, "CODE_LINE=%d", e->line);
    FIELD(code_func, "CODE_FUNC=%s", e->func ? e->func : "");
    if (e->error != 0)
        FIELD(errno_field, "ERRNO=%d", e->error);
    if (log_state.instance[0])
        FIELD(instance, "INSTANCE=%s", log_state.instance);
    if (e->room_id)
        FIELD(room, "ROOM_ID=%s", e->room_id);
    if (e->event_id)
        FIELD(event, "EVENT_ID=%s", e->event_id);
#undef FIELD

    assert(n <= ELEMENTSOF(iov));
    return sd_journal_sendv(iov, (int)n);
}

static void emit(const struct log_entry *e)
{
    if (log_state.target == LOG_TARGET_AUTO)
        log_set_target(LOG_TARGET_AUTO);
    /* An entry the journal refuses (a full socket buffer, a message too large) still
     * goes out through stderr, which systemd connects to the journal too. (libsystemd
     * itself drops entries silently when journald's socket does not exist at all.) */
    if (log_state.target == LOG_TARGET_JOURNAL && emit_journal(e) >= 0)
        return;
    emit_stderr(e, log_state.target != LOG_TARGET_JOURNAL);
}

static void notify_observer(int priority, const char *message)
{
    if (!log_state.observer || log_state.in_observer)
        return;
    log_state.in_observer = true;
    log_state.observer(priority, message, log_state.observer_userdata);
    log_state.in_observer = false;
}

/* abs() of INT_MIN is undefined; no errno is that large anyway. */
static int errno_abs(int error)
{
    return error == INT_MIN ? INT_MAX : error < 0 ? -error : error;
}

int log_internal(int priority, int error, const char *room_id, const char *event_id,
                 const char *file, int line, const char *func, const char *format, ...)
{
    int saved_errno = errno;
    int err = errno_abs(error);
    char raw[LOG_MESSAGE_MAX], message[LOG_MESSAGE_MAX];
    char room[LOG_ID_MAX + 1], event[LOG_ID_MAX + 1];
    uint8_t mask[LOG_MESSAGE_MAX];
    va_list ap;

    priority = clamp_priority(priority);
    if (priority > log_state.max_level)
        return -err;

    /* %m prints strerror(errno): make it the error being reported, as systemd does. */
    if (err != 0)
        errno = err;
    va_start(ap, format);
    int n = vsnprintf(raw, sizeof raw, format, ap);
    va_end(ap);
    if (n < 0)
        n = snprintf(raw, sizeof raw, "(message could not be formatted)");
    bool truncated = (size_t)n >= sizeof raw;

    /* Keep room for the truncation marker behind the redacted text. */
    bool fit = redact_copy(raw, strlen(raw), truncated, mask, message,
                           sizeof message - strlen(LOG_TRUNCATED_MARK));
    explicit_bzero(raw, sizeof raw);
    if (truncated || !fit)
        strncat(message, LOG_TRUNCATED_MARK, sizeof message - strlen(message) - 1);

    struct log_entry entry = {
            .priority = priority,
            .error = err,
            .message = message,
            .room_id = prepare_id(room_id, room) ? room : NULL,
            .event_id = prepare_id(event_id, event) ? event : NULL,
            .file = file,
            .line = line,
            .func = func,
    };
    emit(&entry);
    log_state.observed_room_id = entry.room_id;
    log_state.observed_event_id = entry.event_id;
    notify_observer(priority, message);
    log_state.observed_room_id = log_state.observed_event_id = NULL;

    errno = saved_errno;
    return -err;
}
