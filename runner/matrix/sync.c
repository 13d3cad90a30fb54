/* Parsing of /sync and /messages bodies into the plain structs of sync.h: which fields are
 * required, how each string is checked, and what a malformed event or room costs (itself). */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matrix/sync.h"
#include "util/json.h"

/* How one string field must look. Identifiers and tokens end up in logs, URLs and database
 * keys, so they may hold no control character at all; message text may hold any character
 * but NUL (read with json_get_text(), which turns what cannot be a character into U+FFFD).
 * A sigil, when set, is the required first byte. */
struct string_rule {
    size_t min, max;
    bool text;
    char sigil;
};

static const struct string_rule RULE_EVENT_ID = {1, SYNC_MAX_ID, false, '$'};
static const struct string_rule RULE_USER_ID = {1, SYNC_MAX_ID, false, '@'};
static const struct string_rule RULE_ROOM_ID = {1, SYNC_MAX_ID, false, '!'};
/* Event types, msgtypes, memberships and pagination tokens: opaque, bounded, printable. */
static const struct string_rule RULE_NAME = {1, SYNC_MAX_ID, false, 0};
/* The empty state key is the common one (m.room.name, m.room.power_levels ...). */
static const struct string_rule RULE_STATE_KEY = {0, SYNC_MAX_ID, false, 0};
static const struct string_rule RULE_TEXT = {0, SYNC_MAX_TEXT, true, 0};

#define HTML_FORMAT "org.matrix.custom.html"

/* Why an event is refused: the first check that fails writes it, as a phrase naming the
 * field. NULL where nobody asks (rooms, tokens, the informational relation). */
struct why {
    char text[SYNC_DROP_REASON_MAX];
};

_printf_(2, 3) static void why_set(struct why *why, const char *format, ...)
{
    va_list ap;

    if (!why || why->text[0])
        return;
    va_start(ap, format);
    vsnprintf(why->text, sizeof(why->text), format, ap);
    va_end(ap);
}

static bool chars_are_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* The string at token tok, checked against rule; field names it in *why. -EBADMSG for
 * another type or a string the rule refuses, -EILSEQ when an identifier cannot become a C
 * string (\u0000, a lone surrogate). */
static int string_read(const struct json_doc *d, int tok, const struct string_rule *rule,
                       const char *field, struct why *why, char **ret)
{
    _cleanup_free_ char *s = NULL;
    size_t len;
    int r;

    if (json_type(d, tok) != JSON_STRING) {
        why_set(why, "%s is not a string", field);
        return -EBADMSG;
    }
    r = rule->text ? json_get_text(d, tok, NULL, &s) : json_get_string(d, tok, NULL, &s);
    if (r == -EILSEQ)
        why_set(why, "%s holds \\u0000 or an unpaired surrogate", field);
    if (r < 0)
        return r;
    len = strlen(s);
    if (len < rule->min) {
        why_set(why, "%s is empty", field);
        return -EBADMSG;
    }
    if (len > rule->max) {
        why_set(why, "%s is %zu bytes, above %zu", field, len, rule->max);
        return -EBADMSG;
    }
    if (rule->sigil && s[0] != rule->sigil) {
        why_set(why, "%s does not start with '%c'", field, rule->sigil);
        return -EBADMSG;
    }
    /* json_get_string() gave valid UTF-8 without NULs; an identifier holds no control
     * character either. Text may. */
    if (!rule->text && !chars_are_printable(s, len)) {
        why_set(why, "%s holds a control character", field);
        return -EBADMSG;
    }
    *ret = TAKE_PTR(s);
    return 0;
}

/* The member key of object obj, or -ENOENT when it is absent or null: for every optional
 * field a null is read as absence. */
static int member_get(const struct json_doc *d, int obj, const char *key, int *ret_tok)
{
    int tok, r;

    r = json_get_key(d, obj, key, strlen(key), &tok);
    if (r < 0)
        return r;
    if (json_type(d, tok) == JSON_NULL)
        return -ENOENT;
    *ret_tok = tok;
    return 0;
}

/* An optional string member: NULL when absent, an error when present but refused. field is
 * its name in *why (the key itself when NULL). */
static int string_optional(const struct json_doc *d, int obj, const char *key,
                           const struct string_rule *rule, const char *field, struct why *why,
                           char **ret)
{
    int tok, r;

    r = member_get(d, obj, key, &tok);
    if (r == -ENOENT) {
        *ret = NULL;
        return 0;
    }
    if (r < 0)
        return r;
    return string_read(d, tok, rule, field ? field : key, why, ret);
}

static int string_required(const struct json_doc *d, int obj, const char *key,
                           const struct string_rule *rule, struct why *why, char **ret)
{
    int tok, r;

    r = member_get(d, obj, key, &tok);
    if (r == -ENOENT)
        why_set(why, "no %s", key);
    if (r < 0)
        return r == -ENOENT ? -EBADMSG : r;
    return string_read(d, tok, rule, key, why, ret);
}

/* An optional member that must be an object when present: -ENOENT when absent or null. */
static int object_optional(const struct json_doc *d, int obj, const char *key, const char *field,
                           struct why *why, int *ret_tok)
{
    int tok, r;

    r = member_get(d, obj, key, &tok);
    if (r < 0)
        return r;
    if (json_type(d, tok) != JSON_OBJECT) {
        why_set(why, "%s is not an object", field ? field : key);
        return -EBADMSG;
    }
    *ret_tok = tok;
    return 0;
}

/* Members of object obj, counted up to limit (json.h has no O(1) member count). */
static size_t members_upto(const struct json_doc *d, int obj, size_t limit)
{
    size_t n = 0;

    for (int cur = 0; n < limit && json_object_iter(d, obj, &cur, NULL, NULL) > 0;)
        n++;
    return n;
}

/* ---- Events ------------------------------------------------------------------------------ */

void mx_event_done(struct mx_event *e)
{
    if (!e)
        return;
    free(e->event_id);
    free(e->type);
    free(e->sender);
    free(e->state_key);
    free(e->content_json);
    free(e->msgtype);
    free(e->body);
    free(e->formatted_body);
    free(e->in_reply_to);
    free(e->relation);
    free(e->relates_to);
    free(e->membership);
    *e = (struct mx_event){0};
}

/* content.m.relates_to.m.in_reply_to.event_id. The keys hold dots, hence one lookup per
 * level rather than a path. Absent anywhere on the way: no reply. */
static int reply_parse(const struct json_doc *d, int content, struct why *why, char **ret)
{
    int relates, in_reply_to, r;

    r = object_optional(d, content, "m.relates_to", "content.m.relates_to", why, &relates);
    if (r >= 0)
        r = object_optional(d, relates, "m.in_reply_to", "content.m.relates_to.m.in_reply_to",
                            why, &in_reply_to);
    if (r == -ENOENT) {
        *ret = NULL;
        return 0;
    }
    if (r < 0)
        return r;
    return string_optional(d, in_reply_to, "event_id", &RULE_EVENT_ID,
                           "content.m.relates_to.m.in_reply_to.event_id", why, ret);
}

/* content.m.relates_to's rel_type and event_id, for any event: what an edit, a thread reply
 * or a reaction points at. Informational, like the timestamp: a malformed relation reads as
 * none rather than costing the event. */
static int relation_parse(const struct json_doc *d, int content, struct mx_event *e)
{
    _cleanup_free_ char *rel_type = NULL, *target = NULL;
    int relates;

    if (object_optional(d, content, "m.relates_to", NULL, NULL, &relates) < 0)
        return 0;
    if (string_optional(d, relates, "rel_type", &RULE_NAME, NULL, NULL, &rel_type) == -ENOMEM ||
        string_optional(d, relates, "event_id", &RULE_EVENT_ID, NULL, NULL, &target) == -ENOMEM)
        return -ENOMEM;
    if (!rel_type || !target)
        return 0;
    e->relation = TAKE_PTR(rel_type);
    e->relates_to = TAKE_PTR(target);
    return 0;
}

static int message_parse(const struct json_doc *d, int content, struct mx_event *e,
                         struct why *why)
{
    int r;

    r = string_optional(d, content, "msgtype", &RULE_NAME, "content.msgtype", why, &e->msgtype);
    if (r < 0)
        return r;
    r = string_optional(d, content, "body", &RULE_TEXT, "content.body", why, &e->body);
    if (r < 0)
        return r;
    /* formatted_body in any other format is not HTML we could use: ignored. */
    if (json_string_equals(d, content, "format", HTML_FORMAT) == 1) {
        r = string_optional(d, content, "formatted_body", &RULE_TEXT, "content.formatted_body",
                            why, &e->formatted_body);
        if (r < 0)
            return r;
    }
    return reply_parse(d, content, why, &e->in_reply_to);
}

/* The content object as the server sent it; "{}" when absent or not an object, and then
 * *ret_tok is -1 (no content fields to read). */
static int content_parse(const struct json_doc *d, int event, struct why *why, char **ret,
                         int *ret_tok)
{
    const char *raw = "{}";
    size_t len = 2;
    int tok, r;
    char *s;

    r = json_get_key(d, event, "content", strlen("content"), &tok);
    if (r < 0 && r != -ENOENT)
        return r;
    if (r < 0 || json_type(d, tok) != JSON_OBJECT)
        tok = -1;
    else {
        r = json_token_raw(d, tok, &raw, &len);
        if (r < 0)
            return r;
        if (len > SYNC_MAX_CONTENT) {
            why_set(why, "content is %zu bytes of JSON, above %u", len, SYNC_MAX_CONTENT);
            return -E2BIG;
        }
    }
    s = strndup(raw, len);
    if (!s)
        return -ENOMEM;
    *ret = s;
    *ret_tok = tok;
    return 0;
}

/* unsigned.redacted_because present (and not null). */
static bool redacted_get(const struct json_doc *d, int event)
{
    int unsigned_tok, because;

    return object_optional(d, event, "unsigned", NULL, NULL, &unsigned_tok) == 0 &&
           member_get(d, unsigned_tok, "redacted_because", &because) == 0;
}

/* One timeline event. -ENOMEM is the caller's problem; any other error means this event is
 * malformed and is to be dropped, and *why says why. */
static int event_parse(const struct json_doc *d, int tok, struct mx_event *ret, struct why *why)
{
    _cleanup_(mx_event_done) struct mx_event e = {0};
    int content, ts_tok, r;

    if (json_type(d, tok) != JSON_OBJECT) {
        why_set(why, "not a JSON object");
        return -EBADMSG;
    }
    r = string_required(d, tok, "event_id", &RULE_EVENT_ID, why, &e.event_id);
    if (r >= 0)
        r = string_required(d, tok, "type", &RULE_NAME, why, &e.type);
    if (r >= 0)
        r = string_required(d, tok, "sender", &RULE_USER_ID, why, &e.sender);
    if (r >= 0)
        r = string_optional(d, tok, "state_key", &RULE_STATE_KEY, NULL, why, &e.state_key);
    if (r >= 0)
        r = content_parse(d, tok, why, &e.content_json, &content);
    if (r < 0)
        return r;

    /* A timestamp is informational: a bad one is not worth the event. */
    if (member_get(d, tok, "origin_server_ts", &ts_tok) < 0 ||
        json_get_int64(d, ts_tok, NULL, &e.origin_server_ts) < 0 || e.origin_server_ts < 0)
        e.origin_server_ts = 0;

    if (content >= 0)
        r = relation_parse(d, content, &e);
    if (r >= 0 && content >= 0 && streq(e.type, "m.room.message"))
        r = message_parse(d, content, &e, why);
    else if (r >= 0 && content >= 0 && streq(e.type, "m.room.member"))
        r = string_optional(d, content, "membership", &RULE_NAME, "content.membership", why,
                            &e.membership);
    if (r < 0)
        return r;

    e.redacted = redacted_get(d, tok);
    *ret = e;
    e = (struct mx_event){0};
    return 0;
}

/* Where refused events are counted, and the first SYNC_MAX_DROPS described. */
struct drops {
    size_t *count;
    struct mx_drop *items;
    size_t *n_items;
    const char *room_id; /* NULL in a /messages page */
};

/* An id of a refused event for its description: copied when it is valid, else "". */
static void drop_id(const struct json_doc *d, int event, const char *key,
                    const struct string_rule *rule, char out[static SYNC_MAX_ID + 1])
{
    _cleanup_free_ char *s = NULL;

    out[0] = '\0';
    if (json_type(d, event) == JSON_OBJECT && string_required(d, event, key, rule, NULL, &s) == 0)
        snprintf(out, SYNC_MAX_ID + 1, "%s", s);
}

static void drop_describe(const struct json_doc *d, int event, const char *reason,
                          struct drops *dr)
{
    struct mx_drop *it;

    if (*dr->n_items >= SYNC_MAX_DROPS)
        return;
    it = &dr->items[(*dr->n_items)++];
    drop_id(d, event, "event_id", &RULE_EVENT_ID, it->event_id);
    drop_id(d, event, "sender", &RULE_USER_ID, it->sender);
    snprintf(it->room_id, sizeof(it->room_id), "%s", dr->room_id ? dr->room_id : "");
    snprintf(it->reason, sizeof(it->reason), "%s", reason);
}

/* Parse array tok into a fresh array of at most SYNC_MAX_EVENTS events, in order. Malformed
 * events and those past the cap are counted and described in dr. Only -ENOMEM fails. */
static int events_parse(const struct json_doc *d, int tok, struct mx_event **ret, size_t *ret_n,
                        struct drops *dr)
{
    struct mx_event *events = NULL;
    size_t n = 0, total, cap;
    int cur = 0, elem, r;

    r = json_array_len(d, tok);
    assert(r >= 0);
    total = (size_t)r;
    cap = total < SYNC_MAX_EVENTS ? total : SYNC_MAX_EVENTS;
    if (cap > 0) {
        events = calloc(cap, sizeof(*events));
        if (!events)
            return -ENOMEM;
    }
    /* Bounded by what was allocated, not only by the cap: the iteration yields as many
     * elements as json_array_len() counted, but nothing here should rest on that. */
    while (n < cap && json_array_iter(d, tok, &cur, &elem) > 0) {
        struct why why = {{0}};
        r = event_parse(d, elem, &events[n], &why);
        if (r == -ENOMEM) {
            for (size_t i = 0; i < n; i++)
                mx_event_done(&events[i]);
            free(events);
            return r;
        }
        if (r >= 0)
            n++;
        else
            drop_describe(d, elem, why.text[0] ? why.text : "malformed", dr);
    }
    /* Malformed events do not count towards the cap; the rest, past it, are refused too
     * (described while there is room: the walk stops there). */
    while (*dr->n_items < SYNC_MAX_DROPS && json_array_iter(d, tok, &cur, &elem) > 0) {
        char reason[SYNC_DROP_REASON_MAX];
        snprintf(reason, sizeof(reason), "past the %u events kept of one timeline",
                 SYNC_MAX_EVENTS);
        drop_describe(d, elem, reason, dr);
    }
    *dr->count += total - n;
    *ret = events;
    *ret_n = n;
    return 0;
}

/* ---- /sync ------------------------------------------------------------------------------- */

static void room_timeline_done(struct mx_room_timeline *t)
{
    for (size_t i = 0; i < t->n_events; i++)
        mx_event_done(&t->events[i]);
    free(t->events);
    free(t->room_id);
    free(t->prev_batch);
    *t = (struct mx_room_timeline){0};
}

static void invite_done(struct mx_invite *inv)
{
    free(inv->room_id);
    free(inv->inviter);
    free(inv->invitee);
    *inv = (struct mx_invite){0};
}

void mx_sync_batch_free(struct mx_sync_batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_joined; i++)
        room_timeline_done(&b->joined[i]);
    for (size_t i = 0; i < b->n_invites; i++)
        invite_done(&b->invites[i]);
    for (size_t i = 0; i < b->n_left; i++)
        free(b->left[i]);
    free(b->joined);
    free(b->invites);
    free(b->left);
    free(b->next_batch);
    free(b);
}

/* The room limit and the wire's limit for the one JSON text, as one errno for the caller. */
static int body_parse(const char *body, size_t len, struct json_doc **ret)
{
    int r;

    if (len > SYNC_MAX_BODY)
        return -E2BIG;
    r = json_parse(body, len, SYNC_MAX_TOKENS, ret);
    if (r == -EILSEQ)
        return -EBADMSG; /* raw bytes that are not UTF-8: not JSON either */
    return r;
}

/* One joined room: its timeline's events, limited and prev_batch. A missing or ill-typed
 * timeline leaves the room without events; the room itself is still joined. */
static int timeline_parse(const struct json_doc *d, int room, struct mx_room_timeline *t,
                          struct mx_sync_batch *b)
{
    struct drops dr = {&b->n_dropped, b->drops, &b->n_drops, t->room_id};
    int timeline, events, r;
    bool limited;

    if (object_optional(d, room, "timeline", NULL, NULL, &timeline) < 0)
        return 0;
    if (json_get_bool(d, timeline, "limited", &limited) == 0)
        t->limited = limited;
    /* Without prev_batch a gap cannot be filled, but the events are still worth having. */
    r = string_optional(d, timeline, "prev_batch", &RULE_NAME, NULL, NULL, &t->prev_batch);
    if (r == -ENOMEM)
        return r;
    if (member_get(d, timeline, "events", &events) < 0 || json_type(d, events) != JSON_ARRAY)
        return 0;
    return events_parse(d, events, &t->events, &t->n_events, &dr);
}

/* Index of room_id among the n elements at base (each stride bytes, starting with its room
 * id), or n. Elements are structs whose first member is the room id, or plain char *. */
_Static_assert(offsetof(struct mx_room_timeline, room_id) == 0, "room_find() reads it first");
_Static_assert(offsetof(struct mx_invite, room_id) == 0, "room_find() reads it first");
static size_t room_find(const void *base, size_t n, size_t stride, const char *room_id)
{
    for (size_t i = 0; i < n; i++) {
        const char *id = *(char *const *)((const char *)base + i * stride);
        if (streq(id, room_id))
            return i;
    }
    return n;
}

/* Common to the three sections: the room id of member key, checked, and whether its value
 * is an object. Bounded to SYNC_MAX_ROOMS members per section: *seen counts them, so the
 * duplicate search above costs at most SYNC_MAX_ROOMS^2 / 2 comparisons. 1 when the member
 * is to be parsed, 0 when it is dropped (counted), -ENOMEM. */
static int room_member_read(const struct json_doc *d, int key, int value, size_t *seen,
                            struct mx_sync_batch *b, char **ret_room_id)
{
    int r;

    if ((*seen)++ >= SYNC_MAX_ROOMS || json_type(d, value) != JSON_OBJECT) {
        b->n_rooms_dropped++;
        return 0;
    }
    r = string_read(d, key, &RULE_ROOM_ID, "room id", NULL, ret_room_id);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        b->n_rooms_dropped++;
        return 0;
    }
    return 1;
}

/* The array for one section: room for its first SYNC_MAX_ROOMS members. Returns 1 and the
 * array, 0 when the section has no members (nothing to parse), or -ENOMEM. Each section is
 * parsed once, into the fresh batch: no room is stored yet, so the room_find() in its loop
 * only ever sees rooms that loop stored, each with its id. */
static int section_alloc(const struct json_doc *d, int section, size_t size, void **ret)
{
    size_t cap = members_upto(d, section, SYNC_MAX_ROOMS);
    void *items;

    if (cap == 0)
        return 0;
    items = calloc(cap, size);
    if (!items)
        return -ENOMEM;
    *ret = items;
    return 1;
}

static int joined_parse(const struct json_doc *d, int join, struct mx_sync_batch *b)
{
    size_t seen = 0;
    void *items;
    int r;

    assert(b->n_joined == 0);
    r = section_alloc(d, join, sizeof(*b->joined), &items);
    if (r <= 0)
        return r;
    b->joined = items;
    for (int cur = 0, k, v; json_object_iter(d, join, &cur, &k, &v) > 0;) {
        _cleanup_(room_timeline_done) struct mx_room_timeline t = {0};
        size_t i;

        r = room_member_read(d, k, v, &seen, b, &t.room_id);
        if (r <= 0) {
            if (r < 0)
                return r;
            continue;
        }
        r = timeline_parse(d, v, &t, b);
        if (r < 0)
            return r;
        i = room_find(b->joined, b->n_joined, sizeof(*b->joined), t.room_id);
        if (i == b->n_joined)
            b->n_joined++;
        else
            room_timeline_done(&b->joined[i]);
        b->joined[i] = t;
        t = (struct mx_room_timeline){0};
    }
    return 0;
}

/* The sender and state key of the last invite membership event in invite_state (see sync.h
 * for why the last). Stripped state has no event ids, so this does not use event_parse(). */
static int invite_parse(const struct json_doc *d, int room, struct mx_invite *inv)
{
    int state, events, last = -1, r;

    if (object_optional(d, room, "invite_state", NULL, NULL, &state) < 0 ||
        member_get(d, state, "events", &events) < 0 || json_type(d, events) != JSON_ARRAY)
        return 0;
    for (int cur = 0, ev; json_array_iter(d, events, &cur, &ev) > 0;)
        if (json_type(d, ev) == JSON_OBJECT &&
            json_string_equals(d, ev, "type", "m.room.member") == 1 &&
            json_string_equals(d, ev, "content.membership", "invite") == 1)
            last = ev;
    if (last < 0)
        return 0;
    /* A bad field leaves that field NULL rather than falling back to an earlier event. */
    r = string_optional(d, last, "sender", &RULE_USER_ID, NULL, NULL, &inv->inviter);
    if (r == -ENOMEM)
        return r;
    r = string_optional(d, last, "state_key", &RULE_USER_ID, NULL, NULL, &inv->invitee);
    if (r == -ENOMEM)
        return r;
    return 0;
}

static int invites_parse(const struct json_doc *d, int invite, struct mx_sync_batch *b)
{
    size_t seen = 0;
    void *items;
    int r;

    assert(b->n_invites == 0);
    r = section_alloc(d, invite, sizeof(*b->invites), &items);
    if (r <= 0)
        return r;
    b->invites = items;
    for (int cur = 0, k, v; json_object_iter(d, invite, &cur, &k, &v) > 0;) {
        _cleanup_(invite_done) struct mx_invite inv = {0};
        size_t i;

        r = room_member_read(d, k, v, &seen, b, &inv.room_id);
        if (r <= 0) {
            if (r < 0)
                return r;
            continue;
        }
        r = invite_parse(d, v, &inv);
        if (r < 0)
            return r;
        i = room_find(b->invites, b->n_invites, sizeof(*b->invites), inv.room_id);
        if (i == b->n_invites)
            b->n_invites++;
        else
            invite_done(&b->invites[i]);
        b->invites[i] = inv;
        inv = (struct mx_invite){0};
    }
    return 0;
}

static int left_parse(const struct json_doc *d, int leave, struct mx_sync_batch *b)
{
    size_t seen = 0;
    void *items;
    int r;

    assert(b->n_left == 0);
    r = section_alloc(d, leave, sizeof(*b->left), &items);
    if (r <= 0)
        return r;
    b->left = items;
    for (int cur = 0, k, v; json_object_iter(d, leave, &cur, &k, &v) > 0;) {
        _cleanup_free_ char *room_id = NULL;

        r = room_member_read(d, k, v, &seen, b, &room_id);
        if (r <= 0) {
            if (r < 0)
                return r;
            continue;
        }
        if (room_find(b->left, b->n_left, sizeof(*b->left), room_id) == b->n_left)
            b->left[b->n_left++] = TAKE_PTR(room_id);
    }
    return 0;
}

/* rooms.join, rooms.invite, rooms.leave; a section that is absent or not an object is
 * empty, as is a rooms that is not an object. Only -ENOMEM fails. */
static int rooms_parse(const struct json_doc *d, struct mx_sync_batch *b)
{
    int rooms, section, r;

    if (object_optional(d, 0, "rooms", NULL, NULL, &rooms) < 0)
        return 0;
    if (object_optional(d, rooms, "join", NULL, NULL, &section) == 0) {
        r = joined_parse(d, section, b);
        if (r < 0)
            return r;
    }
    if (object_optional(d, rooms, "invite", NULL, NULL, &section) == 0) {
        r = invites_parse(d, section, b);
        if (r < 0)
            return r;
    }
    if (object_optional(d, rooms, "leave", NULL, NULL, &section) == 0)
        return left_parse(d, section, b);
    return 0;
}

int mx_sync_parse(const char *body, size_t len, struct mx_sync_batch **ret)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    int r;

    assert(body || len == 0);
    assert(ret);

    r = body_parse(body, len, &d);
    if (r < 0)
        return r;
    return mx_sync_parse_doc(d, ret);
}

int mx_sync_parse_doc(const struct json_doc *d, struct mx_sync_batch **ret)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
    int r;

    assert(d);
    assert(ret);
    if (json_type(d, 0) != JSON_OBJECT)
        return -EBADMSG;
    b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    /* Without a position to continue from, nothing in the batch can be acknowledged. */
    r = string_required(d, 0, "next_batch", &RULE_NAME, NULL, &b->next_batch);
    if (r < 0)
        return r == -ENOMEM ? r : -EBADMSG;
    r = rooms_parse(d, b);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(b);
    return 0;
}

/* ---- /messages --------------------------------------------------------------------------- */

void mx_messages_page_free(struct mx_messages_page *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_events; i++)
        mx_event_done(&p->events[i]);
    free(p->events);
    free(p->end);
    free(p);
}

int mx_messages_parse(const char *body, size_t len, struct mx_messages_page **ret)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    int r;

    assert(body || len == 0);
    assert(ret);

    r = body_parse(body, len, &d);
    if (r < 0)
        return r;
    return mx_messages_parse_doc(d, ret);
}

int mx_messages_parse_doc(const struct json_doc *d, struct mx_messages_page **ret)
{
    _cleanup_(mx_messages_page_freep) struct mx_messages_page *p = NULL;
    int chunk, r;

    assert(d);
    assert(ret);
    if (json_type(d, 0) != JSON_OBJECT)
        return -EBADMSG;
    if (json_get_key(d, 0, "chunk", strlen("chunk"), &chunk) < 0 ||
        json_type(d, chunk) != JSON_ARRAY)
        return -EBADMSG;
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    /* A bad token would make the caller page from the wrong place or loop: refuse it. */
    r = string_optional(d, 0, "end", &RULE_NAME, NULL, NULL, &p->end);
    if (r < 0)
        return r == -ENOMEM ? r : -EBADMSG;
    r = events_parse(d, chunk, &p->events, &p->n_events,
                     &(struct drops){&p->n_dropped, p->drops, &p->n_drops, NULL});
    if (r < 0)
        return r;
    *ret = TAKE_PTR(p);
    return 0;
}
