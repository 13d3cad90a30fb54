/* libFuzzer target for matrix/sync: any bytes through both parsers; whatever they accept must
 * keep every promise of sync.h (required fields, string rules, caps, content that is JSON). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matrix/sync.h"
#include "util/json.h"
#include "util/utf8.h"

/* A property that failed: abort so libFuzzer keeps the input. Not assert(): it must not
 * vanish under NDEBUG. */
#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* An identifier or token as sync.h promises it: bounded, UTF-8, no control characters, with
 * its sigil. min is 0 for a state key. */
static void check_id(const char *s, size_t min, char sigil)
{
    size_t len;

    CHECK(s);
    len = strlen(s);
    CHECK(len >= min && len <= SYNC_MAX_ID);
    CHECK(utf8_is_valid(s, len));
    for (size_t i = 0; i < len; i++)
        CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
    if (sigil)
        CHECK(s[0] == sigil);
}

static void check_optional_id(const char *s, char sigil)
{
    if (s)
        check_id(s, 1, sigil);
}

/* Message text: bounded, valid UTF-8 (a C string, so no NUL), control characters allowed. */
static void check_text(const char *s)
{
    if (s)
        CHECK(strlen(s) <= SYNC_MAX_TEXT && utf8_is_valid(s, strlen(s)));
}

/* A refused event's description: each id empty or valid, the reason a non-empty phrase. */
static void check_drops(const struct mx_drop *drops, size_t n, size_t total)
{
    CHECK(n <= SYNC_MAX_DROPS && n <= total);
    CHECK(n == total || n == SYNC_MAX_DROPS);
    for (size_t i = 0; i < n; i++) {
        const struct mx_drop *d = &drops[i];
        if (d->event_id[0])
            check_id(d->event_id, 1, '$');
        if (d->sender[0])
            check_id(d->sender, 1, '@');
        if (d->room_id[0])
            check_id(d->room_id, 1, '!');
        CHECK(d->reason[0] && utf8_is_valid(d->reason, strlen(d->reason)));
    }
}

static void check_event(const struct mx_event *e)
{
    _cleanup_(json_doc_freep) struct json_doc *content = NULL;
    bool message, member;

    check_id(e->event_id, 1, '$');
    check_id(e->type, 1, 0);
    check_id(e->sender, 1, '@');
    if (e->state_key)
        check_id(e->state_key, 0, 0);
    CHECK(e->origin_server_ts >= 0);

    CHECK(e->content_json && strlen(e->content_json) <= SYNC_MAX_CONTENT);
    CHECK(json_parse(e->content_json, strlen(e->content_json), SYNC_MAX_TOKENS, &content) == 0);
    CHECK(json_type(content, 0) == JSON_OBJECT);

    message = streq(e->type, "m.room.message");
    member = streq(e->type, "m.room.member");
    CHECK(message || (!e->msgtype && !e->body && !e->formatted_body && !e->in_reply_to));
    CHECK(member || !e->membership);
    check_optional_id(e->msgtype, 0);
    check_text(e->body);
    check_text(e->formatted_body);
    check_optional_id(e->in_reply_to, '$');
    check_optional_id(e->membership, 0);
    /* Every field read from content came from a real content object. */
    if (streq(e->content_json, "{}"))
        CHECK(!e->msgtype && !e->body && !e->formatted_body && !e->in_reply_to && !e->membership);
}

/* The n elements at base, each starting with a room id, are distinct valid room ids. */
static void check_rooms(const void *base, size_t n, size_t stride)
{
    CHECK(n <= SYNC_MAX_ROOMS);
    for (size_t i = 0; i < n; i++) {
        const char *a = *(char *const *)((const char *)base + i * stride);
        check_id(a, 1, '!');
        for (size_t j = 0; j < i; j++)
            CHECK(!streq(a, *(char *const *)((const char *)base + j * stride)));
    }
}

static void check_batch(const struct mx_sync_batch *b)
{
    check_id(b->next_batch, 1, 0);
    check_rooms(b->joined, b->n_joined, sizeof(*b->joined));
    check_rooms(b->invites, b->n_invites, sizeof(*b->invites));
    check_rooms(b->left, b->n_left, sizeof(*b->left));
    for (size_t i = 0; i < b->n_joined; i++) {
        const struct mx_room_timeline *t = &b->joined[i];
        check_optional_id(t->prev_batch, 0);
        CHECK(t->n_events <= SYNC_MAX_EVENTS);
        CHECK(t->n_events == 0 || t->events);
        for (size_t j = 0; j < t->n_events; j++)
            check_event(&t->events[j]);
    }
    for (size_t i = 0; i < b->n_invites; i++) {
        check_optional_id(b->invites[i].inviter, '@');
        check_optional_id(b->invites[i].invitee, '@');
    }
    check_drops(b->drops, b->n_drops, b->n_dropped);
}

/* Every element of chunk is either an event of the page or counted as dropped. */
static void check_page(const struct mx_messages_page *p, const uint8_t *data, size_t size)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    int chunk;

    check_optional_id(p->end, 0);
    CHECK(p->n_events <= SYNC_MAX_EVENTS);
    for (size_t i = 0; i < p->n_events; i++)
        check_event(&p->events[i]);
    CHECK(json_parse((const char *)data, size, SYNC_MAX_TOKENS, &d) == 0);
    CHECK(json_get_key(d, 0, "chunk", 5, &chunk) == 0);
    CHECK(p->n_events + p->n_dropped == (size_t)json_array_len(d, chunk));
    check_drops(p->drops, p->n_drops, p->n_dropped);
    for (size_t i = 0; i < p->n_drops; i++)
        CHECK(!p->drops[i].room_id[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
    _cleanup_(mx_messages_page_freep) struct mx_messages_page *p = NULL;
    int r;

    r = mx_sync_parse((const char *)data, size, &b);
    if (r < 0)
        CHECK((r == -EBADMSG || r == -E2BIG) && !b);
    else
        check_batch(b);

    r = mx_messages_parse((const char *)data, size, &p);
    if (r < 0)
        CHECK((r == -EBADMSG || r == -E2BIG) && !p);
    else
        check_page(p, data, size);
    return 0;
}
