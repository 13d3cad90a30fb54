/* Parsing /sync and /messages responses into plain structs: the joined rooms' timelines,
 * invites, and for each event the fields the runner dispatches on. Hostile input is the
 * norm here: every field is optional until checked, every string valid UTF-8 and bounded. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/json.h"
#include "util/macro.h"

/* Bounds. An event is at most 64 KiB in the spec (SYNC_MAX_EVENT, the PDU limit Synapse and
 * continuwuity enforce), counted in the canonical JSON, where text is raw UTF-8. A client
 * gets it escaped: Synapse sends every non-ASCII character as \uXXXX (an emoji as a pair of
 * them, 12 bytes for 4) and a control character takes 6 bytes for 1, so the JSON text of an
 * accepted event's content can be up to six times its size: SYNC_MAX_CONTENT bounds that raw
 * text, SYNC_MAX_TEXT each string decoded. A sync body is bounded by the filter's timeline
 * limit (50 events) at that size, 19.5 MiB, with room for the rest; a /messages page the
 * same (the worker asks for 50 events a page). Events per room and rooms per batch are
 * capped so one response cannot make the worker allocate without bound. */
#define SYNC_MAX_EVENT   65536u
#define SYNC_MAX_CONTENT (6u * SYNC_MAX_EVENT)
#define SYNC_MAX_TEXT    SYNC_MAX_EVENT
#define SYNC_MAX_BODY    (32u * 1024u * 1024u)
#define SYNC_MAX_TOKENS  (1u << 20)
#define SYNC_MAX_ROOMS   1024u
#define SYNC_MAX_EVENTS  1024u  /* per room timeline */
#define SYNC_MAX_ID      255u   /* event, room, user ids and tokens per the spec's bound */
/* Refused events described one by one (the rest only counted), and the length of a reason. */
#define SYNC_MAX_DROPS      8u
#define SYNC_DROP_REASON_MAX 128u

/* Strings: ids, types, msgtypes, memberships and tokens are 1..SYNC_MAX_ID bytes of UTF-8
 * without control characters (state_key may be empty), event ids start with '$', user ids
 * with '@', room ids with '!'. body and formatted_body are text: valid UTF-8 of at most
 * SYNC_MAX_TEXT bytes, any character but NUL, control characters included; an escaped NUL
 * (\u0000) or an unpaired surrogate escape in them reads as U+FFFD (a character they cannot
 * hold must not cost the message). A JSON null reads as an absent field. An event is refused
 * (dropped, counted, and described in the batch's drops) when event_id, type or sender is
 * missing or refused, or when state_key or a message/member field below is present but
 * refused (wrong type, too long), or its content's JSON text exceeds SYNC_MAX_CONTENT; a bad
 * origin_server_ts only reads as 0. */
struct mx_event {
    char *event_id;
    char *type;
    char *sender;
    char *state_key;          /* NULL for a non-state event */
    int64_t origin_server_ts; /* ms; 0 when missing or invalid */
    char *content_json;       /* the content object as raw JSON text ("{}" when absent) */
    /* content.m.relates_to, any event: rel_type ("m.replace", "m.thread", "m.annotation"...)
     * and the event it points at, both or neither (a malformed relation reads as none) */
    char *relation;
    char *relates_to;
    /* m.room.message */
    char *msgtype;        /* or NULL */
    char *body;           /* or NULL; valid UTF-8 */
    char *formatted_body; /* org.matrix.custom.html, or NULL */
    char *in_reply_to;    /* m.relates_to.m.in_reply_to.event_id, or NULL */
    /* m.room.member */
    char *membership; /* or NULL */
    bool redacted;    /* unsigned.redacted_because present */
};

struct mx_room_timeline {
    char *room_id;
    bool limited;
    char *prev_batch; /* or NULL */
    struct mx_event *events;
    size_t n_events;
};

struct mx_invite {
    char *room_id;
    /* From the LAST m.room.member event with membership "invite" in invite_state: Synapse
     * appends the invite event itself after the stripped state the inviting server sent, so
     * the last one is the real invite and earlier ones may be forged. Either is NULL when
     * there is no such event or its field is not a valid id. The caller checks that invitee
     * is its own user before trusting inviter. */
    char *inviter; /* its sender */
    char *invitee; /* its state_key: the user invited */
};

/* One refused event, for the log: which event (each id as far as it could be read and is
 * valid, else ""), in which room ("" in a /messages page: the caller knows the room), and
 * why, as a phrase ("body is 70000 bytes, above 65536"). */
struct mx_drop {
    char event_id[SYNC_MAX_ID + 1];
    char room_id[SYNC_MAX_ID + 1];
    char sender[SYNC_MAX_ID + 1];
    char reason[SYNC_DROP_REASON_MAX];
};

struct mx_sync_batch {
    char *next_batch;
    struct mx_room_timeline *joined;
    size_t n_joined;
    struct mx_invite *invites;
    size_t n_invites;
    char **left; /* rooms we left or were removed from */
    size_t n_left;
    size_t n_dropped;       /* events refused as malformed or past the cap (logged by the caller) */
    struct mx_drop drops[SYNC_MAX_DROPS]; /* the first n_drops of them, in document order */
    size_t n_drops;
    size_t n_rooms_dropped; /* rooms skipped: invalid id or value, or past SYNC_MAX_ROOMS */
};

/* Parse a /sync body. -EBADMSG when it is not JSON (invalid UTF-8 included), not an object,
 * or has no valid next_batch; -E2BIG past SYNC_MAX_BODY, SYNC_MAX_TOKENS or JSON_MAX_DEPTH;
 * -ENOMEM. A malformed event is dropped and counted, not fatal; so is a malformed room.
 * Events stay in the order the server sent them. A room id appearing twice in one section
 * keeps the place of its first appearance and the contents of its last (json.h's rule). */
int mx_sync_parse(const char *body, size_t len, struct mx_sync_batch **ret);
/* The same, on a document the Matrix client already parsed (its root token 0): the worker
 * hands over the client's parse instead of parsing the body a second time. */
int mx_sync_parse_doc(const struct json_doc *d, struct mx_sync_batch **ret);
void mx_sync_batch_free(struct mx_sync_batch *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct mx_sync_batch *, mx_sync_batch_free)

/* Parse a /messages body (dir=b): events newest first as the server sends them, and the
 * `end` token to continue from (NULL at the start of the room). -EBADMSG when it is not a
 * JSON object, has no chunk array, or has an `end` that is not a valid token (null counts as
 * absent); otherwise as mx_sync_parse(). Past SYNC_MAX_EVENTS events are dropped and counted:
 * ask for a limit below it. */
struct mx_messages_page {
    struct mx_event *events;
    size_t n_events;
    char *end;
    size_t n_dropped;
    struct mx_drop drops[SYNC_MAX_DROPS];
    size_t n_drops;
};
int mx_messages_parse(const char *body, size_t len, struct mx_messages_page **ret);
int mx_messages_parse_doc(const struct json_doc *d, struct mx_messages_page **ret);
void mx_messages_page_free(struct mx_messages_page *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct mx_messages_page *, mx_messages_page_free)

/* Frees the fields and zeroes e, so a second call is harmless. */
void mx_event_done(struct mx_event *e);
