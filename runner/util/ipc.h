/* The supervisor <-> worker protocol: small KEY=VALUE datagrams over one SOCK_SEQPACKET
 * socketpair per worker, in the manner of sd_notify. Parsing, building, escaping, send/recv.
 *
 * ---- Wire format -----------------------------------------------------------------------
 *
 * One datagram is 1..IPC_MAX_DATAGRAM bytes of lines, each `KEY=VALUE\n` (the last line
 * ends with '\n' too):
 *   - KEY is 1..IPC_KEY_MAX characters of [A-Z_];
 *   - VALUE (possibly empty) is valid UTF-8 holding no NUL, CR or LF; inside it a backslash
 *     starts an escape, and the only escapes are \\ (a backslash), \n (LF) and \r (CR).
 *     Senders escape with ipc_escape() (ipc_add() does it for them);
 *   - 1..IPC_MAX_FIELDS lines, no key twice.
 * Anything else is refused whole: a receiver never acts on part of a datagram.
 *
 * ---- Vocabulary ------------------------------------------------------------------------
 *
 * Each datagram carries exactly one of the kind keys below (ipc_kind() says which), with
 * the fields listed for it. Receivers ignore fields they do not know. Times are Unix
 * seconds in decimal (ipc_get_int64()).
 *
 * worker -> supervisor
 *   STATE=<state>        the instance entered <state>, one of the seed's instance states
 *                        (created configured enabled running stopped failed restarting).
 *     ERROR=<text>       optional: why (for failed), becomes the instance's last_error.
 *     ERROR_ROOM=<name>  optional: the subscription (as declared) ERROR is about; that
 *                        last_error is resolved once a ROOM report for it has no ERROR.
 *                        Without it, a last_error is resolved when the instance is next
 *                        running after not running.
 *   SYNC=<unix s>        a /sync succeeded at that time.
 *   MESSAGE=<unix s>     a message was handled at that time.
 *   ROOM=<name>          a subscription (as declared: room id or alias) changed:
 *     ROOM_ID=<id>       optional: the room id it names (absent while an alias is unresolved);
 *     JOINED=<0|1>       required: whether the bot is in the room;
 *     ERROR=<text>       optional: why the room is not served (resolving or joining failed).
 *   RECONFIGURED=<0|1>   the answer to RECONFIGURE: 1 the plugin took its new settings, 0
 *                        it cannot (the supervisor restarts the worker).
 *   DATABASE=<state>     the plugin's database entered <state> (migrating, active, failed):
 *     SCHEMA_VERSION=<n> required: its PRAGMA user_version then.
 *   COUNTERS=<unix s>    what the worker did since it started, as of that time (sent when a
 *                        count changed, at most once a second); each field required, a
 *                        decimal >= 0 that never shrinks within one worker's life:
 *     COMMANDS=<n>       commands handed to the plugin;
 *     REPLIES=<n>        messages (m.room.message) the homeserver accepted from it: replies,
 *                        and the admin notices of the notifications sender;
 *     PLUGIN_ERRORS=<n>  plugin callbacks (command, message, event, passive handlers) that
 *                        returned an error;
 *     SKIPPED_OLD=<n>    events not handed over as older than catch_up_max_age;
 *     REFUSED=<n>        events the sync parser refused (malformed or past its bounds).
 *   LOG=<ERROR|CRITICAL> the worker logged at that level (already redacted by its log):
 *     TEXT=<text>        required: the message, at most IPC_TEXT_MAX bytes on the wire;
 *     ROOM_ID=<id>       optional: the room it concerns (at most IPC_ID_MAX);
 *     EVENT_ID=<id>      optional: the event that triggered it (at most IPC_ID_MAX);
 *     ERROR_TYPE=<name>  optional: e.g. "M_FORBIDDEN", "ETIMEDOUT" (at most IPC_ERROR_TYPE_MAX);
 *     TRACE=<lines>      optional: the last lines of context, newline-separated, at most
 *                        IPC_TRACE_MAX bytes on the wire (ipc_add_tail() keeps the end).
 *
 * supervisor -> worker
 *   NOTIFY=<ERROR|CRITICAL>  post an admin notice (only to notifications.sender's worker):
 *     ROOM_ID=<room>     required: the admin room as declared (an id or an alias);
 *     TEXT=<text>        required: the finished room text (supervisor/notify.c formats it).
 *   RESOLVE=1            resolve the room aliases again (after a reload left it running).
 *   RECONFIGURE=1        the instance's settings changed, nothing else of it: read them
 *                        from the config and hand them to the plugin.
 *
 * The field bounds above add up to less than IPC_MAX_DATAGRAM, so a LOG datagram with every
 * field at its bound always fits (tests/unit/test_ipc.c checks it). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A datagram's size. Far above any message of the vocabulary, small enough to live on the
 * stack, and well under the default socket buffer so a send never fails for size. */
#define IPC_MAX_DATAGRAM 4096
/* Fields in one datagram: LOG and COUNTERS, the largest kinds, have six. */
#define IPC_MAX_FIELDS 16
/* Key length: the longest key of the vocabulary is 14 (SCHEMA_VERSION); room for more
 * without bloat. */
#define IPC_KEY_MAX 32

/* Wire-size bounds of the vocabulary's values (escaped bytes, as ipc_add_head() and
 * ipc_add_tail() measure them). 1024 + 2048 + 2 * 255 + 128 plus the keys and the LOG
 * level stay below IPC_MAX_DATAGRAM. */
#define IPC_TEXT_MAX       1024
#define IPC_TRACE_MAX      2048
#define IPC_ID_MAX         255 /* the Matrix spec's bound on room and event ids */
#define IPC_ERROR_TYPE_MAX 128

/* The vocabulary's keys, to keep call sites free of typos. */
#define IPC_STATE      "STATE"
#define IPC_ERROR      "ERROR"
#define IPC_ERROR_ROOM "ERROR_ROOM"
#define IPC_SYNC       "SYNC"
#define IPC_MESSAGE    "MESSAGE"
#define IPC_LOG        "LOG"
#define IPC_TEXT       "TEXT"
#define IPC_ROOM_ID    "ROOM_ID"
#define IPC_EVENT_ID   "EVENT_ID"
#define IPC_ERROR_TYPE "ERROR_TYPE"
#define IPC_TRACE      "TRACE"
#define IPC_NOTIFY     "NOTIFY"
#define IPC_ROOM       "ROOM"
#define IPC_JOINED     "JOINED"
#define IPC_RESOLVE    "RESOLVE"
#define IPC_DATABASE   "DATABASE"
#define IPC_RECONFIGURE "RECONFIGURE"
#define IPC_RECONFIGURED "RECONFIGURED"
#define IPC_COUNTERS   "COUNTERS"

enum ipc_kind {
    IPC_KIND_STATE,
    IPC_KIND_SYNC,
    IPC_KIND_MESSAGE,
    IPC_KIND_LOG,
    IPC_KIND_NOTIFY,
    IPC_KIND_ROOM,
    IPC_KIND_RESOLVE,
    IPC_KIND_DATABASE,
    IPC_KIND_RECONFIGURE,
    IPC_KIND_RECONFIGURED,
    IPC_KIND_COUNTERS,
    IPC_KIND_COUNT, /* not a kind: how many there are */
};

/* The counts of a COUNTERS datagram. */
struct ipc_counters {
    int64_t commands;
    int64_t replies;
    int64_t plugin_errors;
    int64_t skipped_old;
    int64_t refused;
};

/* A parsed datagram. Keys and unescaped values are NUL-terminated strings in buf; fields
 * hold offsets (not pointers) so the struct may be copied. Read it with the functions
 * below. */
struct ipc_field {
    uint16_t key;   /* offset into buf */
    uint16_t value; /* offset into buf */
};
struct ipc_message {
    char buf[IPC_MAX_DATAGRAM];
    struct ipc_field fields[IPC_MAX_FIELDS];
    size_t n_fields;
};

/* Parse len bytes at data. 0 and *ret filled, or -EBADMSG for anything outside the wire
 * format above (including len 0 and len > IPC_MAX_DATAGRAM); *ret is untouched then. */
int ipc_parse(const char *data, size_t len, struct ipc_message *ret);

/* The unescaped value of key, or NULL when the datagram has no such field. Points into m. */
const char *ipc_get(const struct ipc_message *m, const char *key);
/* Field i (0 .. n_fields-1, in datagram order). */
const char *ipc_field_key(const struct ipc_message *m, size_t i);
const char *ipc_field_value(const struct ipc_message *m, size_t i);
/* key's value as a decimal int64 ([-]digits, no sign '+', no spaces, no leading zeros but
 * "0"): -ENOENT when missing, -EBADMSG when not such a number, -ERANGE outside int64_t. */
int ipc_get_int64(const struct ipc_message *m, const char *key, int64_t *ret);
/* Which kind of datagram this is: returns an enum ipc_kind, or -EBADMSG when it holds none
 * or more than one of the kind keys. The other fields are for the caller to check. */
int ipc_kind(const struct ipc_message *m);
/* The counts of a COUNTERS datagram: 0, or -EBADMSG when a field is missing, not a decimal,
 * or negative (*ret untouched then). */
int ipc_get_counters(const struct ipc_message *m, struct ipc_counters *ret);

/* Escape a value for the wire: '\\' -> "\\\\", LF -> "\\n", CR -> "\\r". -EILSEQ when value
 * is not valid UTF-8. *ret is malloc'd. */
int ipc_escape(const char *value, char **ret);
/* The inverse; -EBADMSG for an unknown escape, a backslash at the end, a raw CR or LF, or
 * bytes that are not UTF-8. *ret is malloc'd. */
int ipc_unescape(const char *escaped, char **ret);

/* Builds one datagram in place. Every call after the first error is a no-op and the error
 * is kept (check once, at ipc_send() or ipc_builder_result()):
 *   -EINVAL  a key outside [A-Z_]{1,IPC_KEY_MAX}, a key given twice, a NULL value
 *   -EILSEQ  a value that is not valid UTF-8
 *   -E2BIG   more than IPC_MAX_FIELDS fields, or past IPC_MAX_DATAGRAM bytes */
struct ipc_builder {
    char buf[IPC_MAX_DATAGRAM];
    size_t len;
    size_t n_fields;
    int error;
};
void ipc_builder_init(struct ipc_builder *b);
void ipc_add(struct ipc_builder *b, const char *key, const char *value);
void ipc_add_int64(struct ipc_builder *b, const char *key, int64_t value);
/* A whole COUNTERS datagram's fields, as of unix time at. */
void ipc_add_counters(struct ipc_builder *b, int64_t at, const struct ipc_counters *c);
/* Add the longest start (head) or end (tail) of value whose escaped form is at most
 * max_bytes, cut on a UTF-8 character boundary. For TEXT (head) and TRACE (tail), whose
 * sources are not bounded. */
void ipc_add_head(struct ipc_builder *b, const char *key, const char *value, size_t max_bytes);
void ipc_add_tail(struct ipc_builder *b, const char *key, const char *value, size_t max_bytes);
/* The datagram built so far: 0 with its bytes (pointing into b), the sticky error, or
 * -EINVAL when no field was added (an empty datagram would read as end-of-file). */
int ipc_builder_result(const struct ipc_builder *b, const char **ret_data, size_t *ret_len);

/* Send the datagram on a SOCK_SEQPACKET socket, never blocking and never raising SIGPIPE
 * (MSG_NOSIGNAL | MSG_DONTWAIT). 0, the builder's error, -EAGAIN when the socket buffer is
 * full, -EPIPE when the peer is gone, or another negative errno of send(2). */
int ipc_send(int fd, const struct ipc_builder *b);
/* Receive and parse one datagram, without blocking. 0 and *ret filled; -EAGAIN when none is
 * waiting; -ECONNRESET when the peer closed its end (a read of 0 bytes: ipc_send() never
 * sends an empty datagram); -EMSGSIZE when the datagram was longer than IPC_MAX_DATAGRAM
 * (it is consumed and dropped); -EBADMSG when it is malformed (likewise); another negative
 * errno of recv(2). */
int ipc_recv(int fd, struct ipc_message *ret);
