/* Unit tests for matrix/sync: Synapse-shaped /sync and /messages bodies parsed into exactly the
 * expected structs, and hostile ones (truncated, nested, oversized, ill-typed) refused or
 * trimmed to what is valid. The realistic bodies are the fuzz seeds in tests/fuzz/corpus/sync. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matrix/sync.h"
#include "util/json.h"

#define CORPUS "tests/fuzz/corpus/sync/"

#define ALICE "@alice:example.org"
#define BOB   "@bob:matrix.org"
#define BOT   "@bot:example.org"
#define R1    "!cURbafjkfsMDVwdRDQ:example.org"
#define R2    "!OGEhHVWSdvArJzumhm:matrix.org"
#define R3    "!ehXvUhWNASUkSLvAGP:example.org"

/* ---- Helpers ----------------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long len;

    if (!f)
        fail_msg("cannot open %s (tests run from the repository root)", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    *ret_len = (size_t)len;
    return buf;
}

static struct mx_sync_batch *sync_file(const char *name)
{
    _cleanup_free_ char *body = NULL;
    struct mx_sync_batch *b = NULL;
    char path[256];
    size_t len;

    snprintf(path, sizeof(path), CORPUS "%s", name);
    body = read_file(path, &len);
    assert_int_equal(mx_sync_parse(body, len, &b), 0);
    assert_non_null(b);
    return b;
}

static int sync_str(const char *body, struct mx_sync_batch **ret)
{
    return mx_sync_parse(body, strlen(body), ret);
}

static int messages_str(const char *body, struct mx_messages_page **ret)
{
    return mx_messages_parse(body, strlen(body), ret);
}

/* A text built with printf-style formatting (the tests' bodies). */
static char *strf(const char *fmt, ...) _printf_(1, 2);
static char *strf(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    assert_true(vasprintf(&s, fmt, ap) >= 0);
    va_end(ap);
    return s;
}

/* A sync body with one joined room !r:h holding events_json (the inside of the array). */
static char *sync_events(const char *events_json)
{
    return strf("{\"next_batch\":\"s1\",\"rooms\":{\"join\":{\"!r:h\":{\"timeline\":"
                "{\"events\":[%s]}}}}}",
                events_json);
}

/* A plain m.text event with the given event id (without '$') and body JSON value. */
static char *text_event(const char *id, const char *body_json)
{
    return strf("{\"event_id\":\"$%s\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
                "\"origin_server_ts\":1,\"content\":{\"msgtype\":\"m.text\",\"body\":%s}}",
                id, body_json);
}

/* Parse a one-room body and return its timeline (the batch is kept in *ret_b). */
static const struct mx_room_timeline *one_room(const char *events_json,
                                               struct mx_sync_batch **ret_b)
{
    _cleanup_free_ char *body = sync_events(events_json);

    assert_int_equal(sync_str(body, ret_b), 0);
    assert_int_equal((*ret_b)->n_joined, 1);
    assert_string_equal((*ret_b)->joined[0].room_id, "!r:h");
    return &(*ret_b)->joined[0];
}

static void assert_str_or_null(const char *got, const char *want)
{
    if (!want) {
        if (got)
            fail_msg("expected NULL, got \"%s\"", got);
        return;
    }
    if (!got)
        fail_msg("expected \"%s\", got NULL", want);
    assert_string_equal(got, want);
}

struct expect {
    const char *event_id, *type, *sender, *state_key;
    int64_t ts;
    const char *content_json, *msgtype, *body, *formatted_body, *in_reply_to, *membership;
    bool redacted;
};
/* The fields every event has, then designated ones for the rest (unnamed: NULL, false). */
#define EXPECT(id, t, s, sk, time, content, ...)                                                   \
    {                                                                                              \
        .event_id = (id), .type = (t), .sender = (s), .state_key = (sk), .ts = (time),             \
        .content_json = (content), __VA_ARGS__                                                     \
    }

static void assert_event(const struct mx_event *e, const struct expect *x)
{
    assert_str_or_null(e->event_id, x->event_id);
    assert_str_or_null(e->type, x->type);
    assert_str_or_null(e->sender, x->sender);
    assert_str_or_null(e->state_key, x->state_key);
    assert_int_equal(e->origin_server_ts, x->ts);
    assert_str_or_null(e->content_json, x->content_json);
    assert_str_or_null(e->msgtype, x->msgtype);
    assert_str_or_null(e->body, x->body);
    assert_str_or_null(e->formatted_body, x->formatted_body);
    assert_str_or_null(e->in_reply_to, x->in_reply_to);
    assert_str_or_null(e->membership, x->membership);
    assert_int_equal(e->redacted, x->redacted);
}

/* ---- Realistic bodies -------------------------------------------------------------------- */

static void test_initial_sync(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = sync_file("initial_sync.json");
    const struct mx_room_timeline *t;
    static const struct expect want[] = {
            EXPECT("$-ohHsMMxgyc_WUVQizHDIIqeTs5YykcjOgVijY26N5k", "m.room.create", ALICE, "",
                   1718000000000, "{\"room_version\":\"10\",\"creator\":\"" ALICE "\"}"),
            EXPECT("$GgAo7Wzsp8D8pZPLa17fiGStUdnM24ZHS-o7S-PjDqI", "m.room.member", ALICE, ALICE,
                   1718000000001,
                   "{\"membership\":\"join\",\"displayname\":\"Alice\",\"avatar_url\":null}",
                   .membership = "join"),
            EXPECT("$B9cV7baW-19ij3KY5dchftTSvfxTR6HFX-4wgyJn8h0", "m.room.power_levels", ALICE, "",
                   1718000000002,
                   "{\"users\":{\"" ALICE "\":100,\"" BOT
                   "\":50},\"users_default\":0,\"events\":{\"m.room."
                   "name\":50,\"m.room.power_levels\":100},\"events_default\":0,\"state_default\":"
                   "50,"
                   "\"ban\":50,\"kick\":50,\"redact\":50,\"invite\":0,\"historical\":100}"),
            EXPECT("$SbN1tG4dG1rIUBhhMulueWIWAhODMykSyA6Hy43mANM", "m.room.join_rules", ALICE, "",
                   1718000000003, "{\"join_rule\":\"invite\"}"),
            EXPECT("$JZqo75iouR3ldM2QQTjvZDJAwjCAzyTaR5Om8QpD-p0", "m.room.history_visibility",
                   ALICE, "", 1718000000004, "{\"history_visibility\":\"shared\"}"),
            EXPECT("$evCgZgUCqcKi8ldkWDnDVWQ4t-57H8xj_OkjT0V9-Dc", "m.room.member", ALICE, BOT,
                   1718000000005, "{\"membership\":\"invite\",\"displayname\":\"bot\"}",
                   .membership = "invite"),
            EXPECT("$EP4g61OZg4zHn-N4SmyIYcACc4oWcAr9XDHJCXL2Ono", "m.room.member", BOT, BOT,
                   1718000000006, "{\"membership\":\"join\",\"displayname\":\"bot\"}",
                   .membership = "join"),
            EXPECT("$LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ", "m.room.message", ALICE, NULL,
                   1718000000007, "{\"msgtype\":\"m.text\",\"body\":\"!ping\"}",
                   .msgtype = "m.text", .body = "!ping"),
    };

    (void)state;
    assert_string_equal(b->next_batch, "s72594_4483_1934_1_1_1_1_1_1_1");
    assert_int_equal(b->n_joined, 1);
    assert_int_equal(b->n_invites, 0);
    assert_int_equal(b->n_left, 0);
    assert_int_equal(b->n_dropped, 0);
    assert_int_equal(b->n_rooms_dropped, 0);
    t = &b->joined[0];
    assert_string_equal(t->room_id, R1);
    assert_false(t->limited);
    assert_string_equal(t->prev_batch, "t1-72590_4483_1934_1_1_1_1_1_1_1");
    assert_int_equal(t->n_events, ELEMENTSOF(want));
    for (size_t i = 0; i < ELEMENTSOF(want); i++)
        assert_event(&t->events[i], &want[i]);
}

static void test_incremental_messages(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = sync_file("incremental_messages.json");
    const struct mx_room_timeline *t;
    static const char *html_id = "$5eI5VgvBJaIP8qwf6lCRW8GY3U9bUlbsRHqKceABMrM";

    (void)state;
    assert_string_equal(b->next_batch, "s72601_4491_1935_1_1_1_1_1_1_1");
    assert_int_equal(b->n_joined, 2);
    assert_int_equal(b->n_dropped, 0);

    t = &b->joined[0];
    assert_string_equal(t->room_id, R1);
    assert_string_equal(t->prev_batch, "t35-72600_4490_1934_1_1_1_1_1_1_1");
    assert_int_equal(t->n_events, 4);
    /* HTML: the unescaped formatted body, the plain body beside it. */
    assert_string_equal(t->events[0].event_id, html_id);
    assert_string_equal(t->events[0].body, "**bold** and a link");
    assert_string_equal(t->events[0].formatted_body,
                        "<strong>bold</strong> and a <a href=\"https://example.org/?a=1&amp;b=2\">"
                        "link</a>");
    assert_null(t->events[0].in_reply_to);
    /* The reply names the event it answers; its body keeps the line breaks. */
    assert_string_equal(t->events[1].sender, BOB);
    assert_string_equal(t->events[1].in_reply_to, html_id);
    assert_string_equal(t->events[1].body, "> <" ALICE "> **bold** and a link\n\nthanks!");
    assert_non_null(strstr(t->events[1].formatted_body, "<mx-reply><blockquote>"));
    assert_non_null(strstr(t->events[1].content_json,
                           "\"m.relates_to\":{\"m.in_reply_to\":{\"event_id\":\"$5eI5"));
    assert_string_equal(t->events[2].msgtype, "m.emote");
    assert_string_equal(t->events[2].body, "waves");
    assert_null(t->events[2].formatted_body);
    assert_string_equal(t->events[3].msgtype, "m.notice");
    assert_string_equal(t->events[3].sender, BOT);
    assert_int_equal(t->events[3].origin_server_ts, 1718000000103);

    t = &b->joined[1];
    assert_string_equal(t->room_id, R2);
    assert_int_equal(t->n_events, 1);
    assert_event(
            &t->events[0],
            &(struct expect)EXPECT("$Dmw3MfKsYpDzxsp8PCLz54zrVfvkDT_WwmO4RG55z6E", "m.room.message",
                                   BOB, NULL, 1718000000104,
                                   "{\"msgtype\":\"m.text\",\"body\":\"hello from matrix.org\"}",
                                   .msgtype = "m.text", .body = "hello from matrix.org"));
}

static void test_limited_prev_batch(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = sync_file("limited_timeline.json");
    const struct mx_room_timeline *t = &b->joined[0];

    (void)state;
    assert_int_equal(b->n_joined, 1);
    assert_true(t->limited);
    assert_string_equal(t->prev_batch, "t40-79990_5000_2000_1_1_1_1_1_1_1");
    assert_int_equal(t->n_events, 3);
    assert_string_equal(t->events[0].body, "catch-up 0");
    assert_string_equal(t->events[1].body, "catch-up 1");
    assert_string_equal(t->events[2].body, "catch-up 2");
    assert_string_equal(t->events[2].event_id, "$xWMxQJoy6tBZuZMaXWAt4uSwAEBm2E0OWUIy7IOVQSs");
}

static void test_invites(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = sync_file("invite.json");

    (void)state;
    assert_string_equal(b->next_batch, "s80100_5001_2000_1_1_1_1_1_1_1");
    assert_int_equal(b->n_joined, 0);
    assert_int_equal(b->n_invites, 2);
    assert_string_equal(b->invites[0].room_id, R3);
    assert_string_equal(b->invites[0].inviter, ALICE);
    assert_string_equal(b->invites[0].invitee, BOT);
    assert_string_equal(b->invites[1].room_id, R2);
    assert_string_equal(b->invites[1].inviter, BOB);
    assert_string_equal(b->invites[1].invitee, BOT);
}

/* The last invite membership wins: the one Synapse appends after the remote's stripped state.
 * A bad sender there leaves the inviter unknown rather than trusting an earlier event. */
static void test_invite_inviter_rules(void **state)
{
    static const struct {
        const char *events;
        const char *inviter, *invitee;
    } cases[] = {
            {"{\"type\":\"m.room.member\",\"state_key\":\"@bot:h\",\"sender\":\"@admin:h\","
             "\"content\":{\"membership\":\"invite\"}},"
             "{\"type\":\"m.room.member\",\"state_key\":\"@bot:h\",\"sender\":\"@real:h\","
             "\"content\":{\"membership\":\"invite\"}}",
             "@real:h", "@bot:h"},
            {"{\"type\":\"m.room.member\",\"state_key\":\"@bot:h\",\"sender\":\"@admin:h\","
             "\"content\":{\"membership\":\"invite\"}},"
             "{\"type\":\"m.room.member\",\"state_key\":\"@bot:h\",\"sender\":42,"
             "\"content\":{\"membership\":\"invite\"}}",
             NULL, "@bot:h"},
            /* Memberships other than invite, and other types, are not the invite. */
            {"{\"type\":\"m.room.member\",\"state_key\":\"@x:h\",\"sender\":\"@x:h\","
             "\"content\":{\"membership\":\"join\"}},"
             "{\"type\":\"m.room.name\",\"state_key\":\"\",\"sender\":\"@y:h\","
             "\"content\":{\"membership\":\"invite\"}}",
             NULL, NULL},
            {"", NULL, NULL},
            {"null,7,\"x\",{\"type\":\"m.room.member\",\"content\":\"invite\"}", NULL, NULL},
    };

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
        _cleanup_free_ char *body = strf("{\"next_batch\":\"s\",\"rooms\":{\"invite\":{\"!i:h\":"
                                         "{\"invite_state\":{\"events\":[%s]}}}}}",
                                         cases[i].events);

        assert_int_equal(sync_str(body, &b), 0);
        assert_int_equal(b->n_invites, 1);
        assert_string_equal(b->invites[0].room_id, "!i:h");
        assert_str_or_null(b->invites[0].inviter, cases[i].inviter);
        assert_str_or_null(b->invites[0].invitee, cases[i].invitee);
    }

    /* Without any usable invite_state the invite is still reported. */
    {
        _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
        assert_int_equal(sync_str("{\"next_batch\":\"s\",\"rooms\":{\"invite\":{\"!a:h\":{},"
                                  "\"!b:h\":{\"invite_state\":[]}}}}",
                                  &b),
                         0);
        assert_int_equal(b->n_invites, 2);
        assert_null(b->invites[0].inviter);
        assert_null(b->invites[1].inviter);
    }
}

static void test_leave(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = sync_file("leave.json");

    (void)state;
    assert_int_equal(b->n_left, 2);
    assert_string_equal(b->left[0], R2);
    assert_string_equal(b->left[1], R3);
    /* The leave timelines are not joined rooms. */
    assert_int_equal(b->n_joined, 1);
    assert_string_equal(b->joined[0].room_id, R1);
    assert_int_equal(b->joined[0].n_events, 1);
    assert_string_equal(b->joined[0].events[0].body, "bye bob");
}

static void test_redacted(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = sync_file("redacted.json");
    const struct mx_room_timeline *t = &b->joined[0];

    (void)state;
    assert_int_equal(t->n_events, 2);
    /* Redacted: content stripped to {}, so no body, and flagged. */
    assert_event(&t->events[0],
                 &(struct expect)EXPECT("$K7gNU3sdo-OL0wNhqoVWhr3g6s1xYv72ol_pe_Unols",
                                        "m.room.message", ALICE, NULL, 1718000000500, "{}",
                                        .redacted = true));
    assert_event(&t->events[1],
                 &(struct expect)EXPECT("$_Ymi8YvbXASeeq7tPIyQ7VGFQnAakH-svP-VCrq4DBg",
                                        "m.room.redaction", ALICE, NULL, 1718000000501,
                                        "{\"reason\":\"oops\",\"redacts\":"
                                        "\"$K7gNU3sdo-OL0wNhqoVWhr3g6s1xYv72ol_pe_Unols\"}"));
}

/* Raw UTF-8 (as Synapse writes it) and \u escapes with surrogate pairs read the same. */
static void test_unicode(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *raw = sync_file("unicode.json");
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *esc = sync_file("unicode_escaped.json");
    static const char *bodies[] = {
            "deploy done \xf0\x9f\x9a\x80\xf0\x9f\x8e\x89 "
            "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb "
            "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
            "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 "
            "\xd8\xa8\xd8\xa7\xd9\x84\xd8\xb9\xd8\xa7\xd9\x84"
            "\xd9\x85 \xe2\x80\x94 \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d "
            "\xd7\xa2\xd7\x95\xd7\x9c\xd7\x9d",
            "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c "
            "\xe3\x81\x93\xe3\x82\x93\xe3"
            "\x81\xab\xe3\x81\xa1\xe3\x81\xaf \xf0\xa0\x9c\x8e\xf0\xa0\x9c\xb1\xf0\x9d\x8c\x86",
            "e\xcc\x81 \xc3\x85\xe2\x80\x8b zero\xe2\x80\x8dwidth \xe2\x80\xa8line sep",
            "*\xf0\x9f\x98\x80*",
    };

    (void)state;
    assert_int_equal(raw->joined[0].n_events, ELEMENTSOF(bodies));
    assert_int_equal(esc->joined[0].n_events, ELEMENTSOF(bodies));
    for (size_t i = 0; i < ELEMENTSOF(bodies); i++) {
        assert_string_equal(raw->joined[0].events[i].body, bodies[i]);
        assert_string_equal(esc->joined[0].events[i].body, bodies[i]);
        assert_string_equal(raw->joined[0].events[i].event_id, esc->joined[0].events[i].event_id);
    }
    assert_string_equal(raw->joined[0].events[4].formatted_body,
                        "<em>\xf0\x9f\x98\x80</em> <code>\xce\xbbx.x</code>");
    /* content_json is the text as sent: raw stays raw, escapes stay escaped. */
    assert_non_null(strstr(raw->joined[0].events[4].content_json, "\xf0\x9f\x98\x80"));
    assert_non_null(strstr(esc->joined[0].events[4].content_json, "\\ud83d\\ude00"));
}

static void test_state_events(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = sync_file("state_events.json");
    const struct mx_room_timeline *t = &b->joined[0];

    (void)state;
    assert_int_equal(t->n_events, 5);
    assert_string_equal(t->events[0].type, "m.room.name");
    assert_string_equal(t->events[0].state_key, "");
    assert_null(t->events[0].membership);
    assert_null(t->events[0].body);
    assert_string_equal(t->events[2].membership, "join");
    assert_string_equal(t->events[2].state_key, BOB);
    assert_string_equal(t->events[3].membership, "ban");
    assert_string_equal(t->events[3].sender, ALICE);
    /* A tombstone has a body in its content, but is no message. */
    assert_string_equal(t->events[4].type, "m.room.tombstone");
    assert_null(t->events[4].body);
}

static void test_relations(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = sync_file("relations.json");
    const struct mx_room_timeline *t = &b->joined[0];

    (void)state;
    assert_int_equal(t->n_events, 6);
    /* An edit relates to an event but answers none. */
    assert_string_equal(t->events[0].body, " * fixed typo");
    assert_null(t->events[0].in_reply_to);
    /* A thread message carries its fallback reply. */
    assert_string_equal(t->events[1].in_reply_to, "$LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ");
    assert_string_equal(t->events[2].type, "m.reaction");
    assert_null(t->events[2].in_reply_to);
    assert_string_equal(t->events[3].type, "m.room.encrypted");
    assert_null(t->events[3].body);
    assert_null(t->events[4].body); /* m.sticker: not m.room.message */
    assert_string_equal(t->events[5].msgtype, "m.image");
    assert_string_equal(t->events[5].body, "screenshot.png");
}

static void test_empty_poll(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = sync_file("empty_poll.json");

    (void)state;
    assert_string_equal(b->next_batch, "s80700_5007_2000_1_1_1_1_1_1_1");
    assert_int_equal(b->n_joined + b->n_invites + b->n_left + b->n_dropped, 0);
    assert_null(b->joined);
}

/* ---- Refused documents ------------------------------------------------------------------- */

static void expect_sync_error(const char *body, size_t len, int error)
{
    struct mx_sync_batch *b = NULL;
    int r = mx_sync_parse(body, len, &b);

    if (r != error)
        print_error("body <%.*s>: got %d, expected %d\n", (int)(len > 200 ? 200 : len), body, r,
                    error);
    assert_int_equal(r, error);
    assert_null(b);
}

static void expect_messages_error(const char *body, size_t len, int error)
{
    struct mx_messages_page *p = NULL;
    int r = mx_messages_parse(body, len, &p);

    if (r != error)
        print_error("body <%.*s>: got %d, expected %d\n", (int)(len > 200 ? 200 : len), body, r,
                    error);
    assert_int_equal(r, error);
    assert_null(p);
}

static void test_next_batch_required(void **state)
{
    static const char *bad[] = {
            "{}",
            "{\"rooms\":{\"join\":{}}}",
            "{\"next_batch\":null}",
            "{\"next_batch\":42}",
            "{\"next_batch\":[\"s1\"]}",
            "{\"next_batch\":\"\"}",
            "{\"next_batch\":\"s\\u0000\"}",
            "{\"next_batch\":\"s\\ud800\"}",
            "{\"next_batch\":\"s\\n1\"}",
            "{\"errcode\":\"M_UNKNOWN_TOKEN\",\"error\":\"Invalid access token passed.\"}",
    };
    _cleanup_free_ char *id255 = NULL, *at255 = NULL, *at256 = NULL;
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        expect_sync_error(bad[i], strlen(bad[i]), -EBADMSG);

    id255 = malloc(SYNC_MAX_ID + 1);
    assert_non_null(id255);
    memset(id255, 's', SYNC_MAX_ID);
    id255[SYNC_MAX_ID] = '\0';
    at255 = strf("{\"next_batch\":\"%s\"}", id255);
    at256 = strf("{\"next_batch\":\"%ss\"}", id255);
    expect_sync_error(at256, strlen(at256), -EBADMSG);
    assert_int_equal(sync_str(at255, &b), 0);
    assert_string_equal(b->next_batch, id255);
}

static void test_not_json(void **state)
{
    _cleanup_free_ char *html = NULL;
    size_t len;
    static const char *bad[] = {
            "",
            " ",
            "null",
            "[]",
            "\"s1\"",
            "42",
            "{\"next_batch\":\"s1\"",
            "{\"next_batch\":\"s1\",}",
            "{\"next_batch\":\"s1\"} x",
            "{'next_batch':'s1'}",
            /* Raw bytes that are not UTF-8 make the whole text not JSON. */
            "{\"next_batch\":\"s1\",\"x\":\"\xff\"}",
            "{\"next_batch\":\"s1\",\"x\":\"\xed\xa0\x80\"}",
    };

    (void)state;
    html = read_file(CORPUS "error_page.html", &len);
    expect_sync_error(html, len, -EBADMSG);
    expect_messages_error(html, len, -EBADMSG);
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        expect_sync_error(bad[i], strlen(bad[i]), -EBADMSG);
        expect_messages_error(bad[i], strlen(bad[i]), -EBADMSG);
    }
    /* An embedded NUL ends nothing: the text is refused, not cut short. */
    expect_sync_error("{\"next_batch\":\"s1\"}\0", 20, -EBADMSG);
}

/* Every prefix of a valid body, in a buffer of exactly its length (ASan sees any overread),
 * is refused; the whole body parses. */
static void test_every_prefix(void **state)
{
    static const char *files[] = {"incremental_messages.json", "invite.json", "leave.json",
                                  "messages_page.json"};

    (void)state;
    for (size_t f = 0; f < ELEMENTSOF(files); f++) {
        _cleanup_free_ char *body = NULL;
        char path[256];
        bool is_page = strstr(files[f], "messages_page") != NULL;
        size_t len;

        snprintf(path, sizeof(path), CORPUS "%s", files[f]);
        body = read_file(path, &len);
        for (size_t n = 0; n < len; n++) {
            _cleanup_free_ char *prefix = malloc(n ? n : 1);
            assert_non_null(prefix);
            memcpy(prefix, body, n);
            if (is_page)
                expect_messages_error(prefix, n, -EBADMSG);
            else
                expect_sync_error(prefix, n, -EBADMSG);
        }
        if (is_page) {
            _cleanup_(mx_messages_page_freep) struct mx_messages_page *p = NULL;
            assert_int_equal(mx_messages_parse(body, len, &p), 0);
        } else {
            _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
            assert_int_equal(mx_sync_parse(body, len, &b), 0);
        }
    }
}

/* Content nested right up to JSON_MAX_DEPTH is kept verbatim; one level more refuses the
 * whole document (json.h's bound, so no walker of it recurses deeper). */
static char *nested_content_body(unsigned levels)
{
    char *opens = calloc(levels + 1, 1), *closes = calloc(levels + 1, 1), *s;

    assert_non_null(opens);
    assert_non_null(closes);
    memset(opens, '[', levels);
    memset(closes, ']', levels);
    s = strf("{\"next_batch\":\"s1\",\"rooms\":{\"join\":{\"!r:h\":{\"timeline\":{\"events\":"
             "[{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
             "\"content\":{\"body\":\"deep\",\"x\":%s1%s}}]}}}}}",
             opens, closes);
    free(opens);
    free(closes);
    return s;
}

static void test_deep_content(void **state)
{
    /* root, rooms, join, room, timeline, events, event, content: 8 levels before "x". */
    const unsigned outer = 8, levels = JSON_MAX_DEPTH - outer;
    /* After the content object: event, events, timeline, room, join, rooms, root. */
    _cleanup_free_ char *ok = nested_content_body(levels);
    _cleanup_free_ char *deep = nested_content_body(levels + 1);
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
    const char *content;

    (void)state;
    assert_int_equal(sync_str(ok, &b), 0);
    assert_int_equal(b->joined[0].n_events, 1);
    assert_string_equal(b->joined[0].events[0].body, "deep");
    content = strstr(ok, "{\"body\"");
    assert_int_equal(strlen(b->joined[0].events[0].content_json), strlen(content) - 7);
    assert_memory_equal(b->joined[0].events[0].content_json, content, strlen(content) - 7);
    expect_sync_error(deep, strlen(deep), -E2BIG);
}

/* A body of exactly SYNC_MAX_BODY bytes parses; one byte more is refused before parsing,
 * even though it is valid JSON with a next_batch. */
static void test_body_size_bound(void **state)
{
    static const char head[] = "{\"next_batch\":\"s1\",\"pad\":\"", tail[] = "\"}";
    size_t len = SYNC_MAX_BODY + 1;
    _cleanup_free_ char *body = malloc(len);
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;

    (void)state;
    assert_non_null(body);
    memcpy(body, head, sizeof(head) - 1);
    memset(body + sizeof(head) - 1, 'a', len - (sizeof(head) - 1) - (sizeof(tail) - 1));
    memcpy(body + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
    expect_sync_error(body, len, -E2BIG);
    expect_messages_error(body, len, -E2BIG);

    /* Drop one pad byte: now exactly at the bound. */
    memmove(body + len - 3, body + len - 2, 2);
    assert_int_equal(mx_sync_parse(body, len - 1, &b), 0);
    assert_string_equal(b->next_batch, "s1");
}

static void test_token_bound(void **state)
{
    /* {"next_batch":"s1","pad":[0,0,...]}: 5 tokens and one per zero, so one past the bound. */
    size_t zeros = SYNC_MAX_TOKENS - 4, len = 0;
    _cleanup_free_ char *body = malloc(32 + 2 * zeros);

    (void)state;
    assert_non_null(body);
    len += (size_t)sprintf(body, "{\"next_batch\":\"s1\",\"pad\":[");
    for (size_t i = 0; i < zeros; i++) {
        body[len++] = '0';
        body[len++] = ',';
    }
    body[len - 1] = ']';
    body[len++] = '}';
    expect_sync_error(body, len, -E2BIG);

    /* One zero fewer is within the bound. */
    memmove(body + len - 4, body + len - 2, 2);
    {
        _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
        assert_int_equal(mx_sync_parse(body, len - 2, &b), 0);
    }
}

/* ---- Malformed events and rooms ---------------------------------------------------------- */

/* Message text keeps every character a homeserver accepts: control characters pass, and
 * what cannot be a character of a C string (\ud800, \u0000) becomes U+FFFD instead of
 * costing the message. The events around stay in order; nothing is dropped. */
static void test_text_keeps_every_character(void **state)
{
#define FFFD "\xEF\xBF\xBD"
    static const struct {
        const char *json, *body;
    } cases[] = {
            {"\"bad \\ud800 half\"", "bad " FFFD " half"},
            {"\"\\udc00\"", FFFD},
            {"\"a\\u0000b\"", "a" FFFD "b"},
            {"\"bell \\u0007\"", "bell \x07"},
            {"\"esc \\u001b[2J\"", "esc \x1b[2J"},
            {"\"start \\u0001 end\"", "start \x01 end"},
            {"\"del \\u007f, c1 \\u0085\"", "del \x7f, c1 \xC2\x85"},
    };
#undef FFFD

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
        _cleanup_free_ char *e1 = text_event("one", "\"first\"");
        _cleanup_free_ char *e2 = text_event("two", cases[i].json);
        _cleanup_free_ char *e3 = text_event("three", "\"third\\ttab\\nline\"");
        _cleanup_free_ char *events = strf("%s,%s,%s", e1, e2, e3);
        const struct mx_room_timeline *t = one_room(events, &b);

        assert_int_equal(t->n_events, 3);
        assert_int_equal(b->n_dropped, 0);
        assert_int_equal(b->n_drops, 0);
        assert_string_equal(t->events[0].body, "first");
        assert_string_equal(t->events[1].event_id, "$two");
        assert_string_equal(t->events[1].body, cases[i].body);
        assert_string_equal(t->events[2].body, "third\ttab\nline");
    }

    /* formatted_body reads the same way. */
    {
        _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
        const struct mx_room_timeline *t = one_room(
                "{\"event_id\":\"$h\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
                "\"content\":{\"body\":\"x\",\"format\":\"org.matrix.custom.html\","
                "\"formatted_body\":\"<b>\\u0001\\u0000</b>\"}}",
                &b);
        assert_int_equal(t->n_events, 1);
        assert_string_equal(t->events[0].formatted_body, "<b>\x01\xEF\xBF\xBD</b>");
    }
}

/* An identifier keeps its strict rule: a control character or \u0000 in one refuses the
 * event, and the refusal says which event, whose, in which room, and why. */
static void test_refused_event_described(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
    const struct mx_room_timeline *t = one_room(
            "{\"event_id\":\"$ok\",\"type\":\"m.room.message\",\"sender\":\"@a:h\"},"
            "{\"event_id\":\"$tab\",\"type\":\"m.room.message\",\"sender\":\"@a:h\\u0009\"},"
            "{\"event_id\":\"$nul\\u0000\",\"type\":\"m.room.message\",\"sender\":\"@b:h\"},"
            "{\"event_id\":\"$t\",\"type\":\"m.room.message\",\"sender\":\"@c:h\","
            "\"content\":{\"msgtype\":\"m.text\",\"body\":[\"not text\"]}}",
            &b);

    (void)state;
    assert_int_equal(t->n_events, 1);
    assert_int_equal(b->n_dropped, 3);
    assert_int_equal(b->n_drops, 3);
    assert_string_equal(b->drops[0].event_id, "$tab");
    assert_string_equal(b->drops[0].sender, "");
    assert_string_equal(b->drops[0].room_id, "!r:h");
    assert_string_equal(b->drops[0].reason, "sender holds a control character");
    assert_string_equal(b->drops[1].event_id, "");
    assert_string_equal(b->drops[1].sender, "@b:h");
    assert_string_equal(b->drops[1].reason, "event_id holds \\u0000 or an unpaired surrogate");
    assert_string_equal(b->drops[2].event_id, "$t");
    assert_string_equal(b->drops[2].sender, "@c:h");
    assert_string_equal(b->drops[2].reason, "content.body is not a string");
}

/* One field at a time made wrong: the event is dropped, or kept with the field read as
 * sync.h says. */
static void test_wrong_types(void **state)
{
    static const struct {
        const char *event;
        bool kept;
    } cases[] = {
            /* Required fields. */
            {"{\"type\":\"m.room.message\",\"sender\":\"@a:h\"}", false},
            {"{\"event_id\":42,\"type\":\"m.room.message\",\"sender\":\"@a:h\"}", false},
            {"{\"event_id\":null,\"type\":\"m.room.message\",\"sender\":\"@a:h\"}", false},
            {"{\"event_id\":\"e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\"}", false},
            {"{\"event_id\":\"$e\",\"type\":[],\"sender\":\"@a:h\"}", false},
            {"{\"event_id\":\"$e\",\"type\":\"\",\"sender\":\"@a:h\"}", false},
            {"{\"event_id\":\"$e\",\"sender\":\"@a:h\"}", false},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\"}", false},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":{}}", false},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"alice\"}", false},
            {"{\"event_id\":\"$e\\u0009\",\"type\":\"m.room.message\",\"sender\":\"@a:h\"}", false},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\\u007f\"}", false},
            /* Optional fields: present with the wrong type drops, null is absence. */
            {"{\"event_id\":\"$e\",\"type\":\"m.room.name\",\"sender\":\"@a:h\",\"state_key\":5}",
             false},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.name\",\"sender\":\"@a:h\",\"state_key\":"
             "null}",
             true},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
             "\"content\":{\"body\":12}}",
             false},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
             "\"content\":{\"body\":null}}",
             true},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
             "\"content\":{\"msgtype\":true,\"body\":\"x\"}}",
             false},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
             "\"content\":{\"body\":\"x\",\"format\":\"org.matrix.custom.html\","
             "\"formatted_body\":[]}}",
             false},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
             "\"content\":{\"body\":\"x\",\"m.relates_to\":\"$x\"}}",
             false},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
             "\"content\":{\"body\":\"x\",\"m.relates_to\":{\"m.in_reply_to\":\"$x\"}}}",
             false},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
             "\"content\":{\"body\":\"x\",\"m.relates_to\":{\"m.in_reply_to\":{\"event_id\":1}}}}",
             false},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
             "\"content\":{\"body\":\"x\",\"m.relates_to\":{\"m.in_reply_to\":{\"event_id\":\"x\"}}"
             "}}",
             false},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.member\",\"sender\":\"@a:h\",\"state_key\":\"@"
             "a:h\","
             "\"content\":{\"membership\":1}}",
             false},
            /* Not an event at all. */
            {"null", false},
            {"\"$e\"", false},
            {"17", false},
            {"[]", false},
            /* Lenient: these read as their defaults and keep the event. */
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
             "\"origin_server_ts\":\"1718000000000\",\"content\":[]}",
             true},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
             "\"origin_server_ts\":1.5,\"content\":\"{}\",\"unsigned\":7}",
             true},
            {"{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
             "\"content\":{\"body\":\"x\",\"format\":7,\"formatted_body\":[]}}",
             true},
    };

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
        _cleanup_free_ char *good = text_event("good", "\"ok\"");
        _cleanup_free_ char *events = strf("%s,%s", cases[i].event, good);
        const struct mx_room_timeline *t = one_room(events, &b);

        if (t->n_events != (cases[i].kept ? 2u : 1u))
            print_error("case %zu <%s>: %zu events\n", i, cases[i].event, t->n_events);
        assert_int_equal(t->n_events, cases[i].kept ? 2 : 1);
        assert_int_equal(b->n_dropped, cases[i].kept ? 0 : 1);
        assert_string_equal(t->events[t->n_events - 1].event_id, "$good");
    }
}

static void test_lenient_fields(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
    const struct mx_room_timeline *t =
            one_room("{\"event_id\":\"$a\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
                     "\"origin_server_ts\":\"1718000000000\",\"content\":[1]},"
                     "{\"event_id\":\"$b\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
                     "\"origin_server_ts\":-5,\"content\":{\"body\":\"x\",\"format\":\"markdown\","
                     "\"formatted_body\":\"<b>x</b>\"}},"
                     "{\"event_id\":\"$c\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
                     "\"origin_server_ts\":99999999999999999999,\"state_key\":null,"
                     "\"content\":{\"body\":null,\"msgtype\":null,\"m.relates_to\":null},"
                     "\"unsigned\":{\"redacted_because\":null}},"
                     "{\"event_id\":\"$d\",\"type\":\"m.room.member\",\"sender\":\"@a:h\",\"state_"
                     "key\":\"\","
                     "\"content\":{\"membership\":\"leave\",\"body\":\"not a message\"},"
                     "\"unsigned\":{\"redacted_because\":{}}}",
                     &b);

    (void)state;
    assert_int_equal(t->n_events, 4);
    assert_int_equal(b->n_dropped, 0);
    assert_event(&t->events[0],
                 &(struct expect)EXPECT("$a", "m.room.message", "@a:h", NULL, 0, "{}"));
    assert_event(&t->events[1], &(struct expect)EXPECT("$b", "m.room.message", "@a:h", NULL, 0,
                                                       "{\"body\":\"x\",\"format\":\"markdown\","
                                                       "\"formatted_body\":\"<b>x</b>\"}",
                                                       .body = "x"));
    assert_event(&t->events[2],
                 &(struct expect)EXPECT("$c", "m.room.message", "@a:h", NULL, 0,
                                        "{\"body\":null,\"msgtype\":null,\"m.relates_to\":null}"));
    assert_event(&t->events[3],
                 &(struct expect)EXPECT("$d", "m.room.member", "@a:h", "", 0,
                                        "{\"membership\":\"leave\",\"body\":\"not a message\"}",
                                        .membership = "leave", .redacted = true));
}

/* Identifiers up to SYNC_MAX_ID bytes and content up to SYNC_MAX_CONTENT are kept; one byte
 * more drops the event. */
static void test_field_bounds(void **state)
{
    char id[SYNC_MAX_ID + 2];

    (void)state;
    memset(id, 'x', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    for (int over = 0; over <= 1; over++) {
        /* SYNC_MAX_ID - 2 + over bytes: with a sigil or one more byte, the bound or past it. */
        const char *tail = id + 2 - over;
        _cleanup_free_ char *events = strf(
                "{\"event_id\":\"$%s\",\"type\":\"m.room.message\",\"sender\":\"@a:h\"},"
                "{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@%s\"},"
                "{\"event_id\":\"$e\",\"type\":\"m.%s\",\"sender\":\"@a:h\"},"
                "{\"event_id\":\"$e\",\"type\":\"m.x\",\"sender\":\"@a:h\",\"state_key\":\"%sx\"}",
                tail, tail, tail + 1, tail);
        _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
        const struct mx_room_timeline *t = one_room(events, &b);

        assert_int_equal(t->n_events, over ? 0 : 4);
        assert_int_equal(b->n_dropped, over ? 4 : 0);
        if (!over) {
            assert_int_equal(strlen(t->events[0].event_id), SYNC_MAX_ID);
            assert_int_equal(strlen(t->events[1].sender), SYNC_MAX_ID);
            assert_int_equal(strlen(t->events[2].type), SYNC_MAX_ID);
            assert_int_equal(strlen(t->events[3].state_key), SYNC_MAX_ID);
        }
    }

    /* The content's JSON text: {"pad":"aaa..."} is 10 bytes around the pad. */
    for (int over = 0; over <= 1; over++) {
        size_t n = SYNC_MAX_CONTENT - 10 + (size_t)over;
        _cleanup_free_ char *pad = malloc(n + 1);
        _cleanup_free_ char *events = NULL;
        _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
        const struct mx_room_timeline *t;

        assert_non_null(pad);
        memset(pad, 'a', n);
        pad[n] = '\0';
        events = strf("{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
                      "\"content\":{\"pad\":\"%s\"}}",
                      pad);
        t = one_room(events, &b);
        assert_int_equal(t->n_events, over ? 0 : 1);
        if (!over)
            assert_int_equal(strlen(t->events[0].content_json), SYNC_MAX_CONTENT);
        else {
            _cleanup_free_ char *why = strf("content is %zu bytes of JSON, above %u",
                                            (size_t)SYNC_MAX_CONTENT + 1, SYNC_MAX_CONTENT);
            assert_int_equal(b->n_drops, 1);
            assert_string_equal(b->drops[0].event_id, "$e");
            assert_string_equal(b->drops[0].reason, why);
        }
    }

    /* The body decoded: SYNC_MAX_TEXT bytes of é (\u00e9, 6 bytes escaped for 2) are kept,
     * though their JSON text is three times that; one byte more is refused. */
    for (int over = 0; over <= 1; over++) {
        size_t chars = SYNC_MAX_TEXT / 2;
        _cleanup_free_ char *text = malloc(6 * chars + 2);
        _cleanup_free_ char *events = NULL;
        _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
        const struct mx_room_timeline *t;

        assert_non_null(text);
        for (size_t i = 0; i < chars; i++)
            memcpy(text + 6 * i, "\\u00e9", 6);
        strcpy(text + 6 * chars, over ? "a" : "");
        events = strf("{\"event_id\":\"$e\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
                      "\"content\":{\"body\":\"%s\"}}",
                      text);
        t = one_room(events, &b);
        assert_int_equal(t->n_events, over ? 0 : 1);
        if (!over) {
            assert_int_equal(strlen(t->events[0].body), SYNC_MAX_TEXT);
            assert_memory_equal(t->events[0].body, "\xC3\xA9\xC3\xA9", 4);
        } else {
            _cleanup_free_ char *why = strf("content.body is %u bytes, above %u",
                                            SYNC_MAX_TEXT + 1, SYNC_MAX_TEXT);
            assert_string_equal(b->drops[0].reason, why);
        }
    }
}

/* What a person sends through Synapse, as Synapse escapes it in /sync: 24 KB of emoji (each
 * a surrogate pair, 12 bytes for 4), 60 KB of é (6 for 2), control characters (6 for 1).
 * Each is kept whole. */
static void test_escaped_large_messages(void **state)
{
    static const struct {
        const char *escape, *utf8;
        size_t count;
    } cases[] = {
            {"\\ud83d\\ude00", "\xF0\x9F\x98\x80", 6000},
            {"\\u00e9", "\xC3\xA9", 30000},
            {"\\u0001", "\x01", 20000},
            {"\\u001b", "\x1b", 65536},
    };

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        size_t esc = strlen(cases[i].escape), len = strlen(cases[i].utf8);
        _cleanup_free_ char *text = malloc(esc * cases[i].count + 1);
        _cleanup_free_ char *events = NULL;
        _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
        const struct mx_room_timeline *t;

        assert_non_null(text);
        for (size_t k = 0; k < cases[i].count; k++)
            memcpy(text + esc * k, cases[i].escape, esc);
        text[esc * cases[i].count] = '\0';
        events = strf("{\"event_id\":\"$big\",\"type\":\"m.room.message\",\"sender\":\"@a:h\","
                      "\"content\":{\"msgtype\":\"m.text\",\"body\":\"!echo echo %s\"}}",
                      text);
        t = one_room(events, &b);
        assert_int_equal(b->n_dropped, cases[i].count * len + 11 > SYNC_MAX_TEXT ? 1 : 0);
        if (b->n_dropped)
            continue; /* 65536 ESCs and the command: over the spec's bound, refused */
        assert_int_equal(t->n_events, 1);
        assert_int_equal(strlen(t->events[0].body), 11 + cases[i].count * len);
        assert_memory_equal(t->events[0].body + 11, cases[i].utf8, len);
        assert_memory_equal(t->events[0].body + strlen(t->events[0].body) - len, cases[i].utf8,
                            len);
    }
}

static void test_malformed_file(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = sync_file("malformed_events.json");
    const struct mx_room_timeline *t;

    (void)state;
    assert_string_equal(b->next_batch, "s9");
    /* "not-a-room" (no '!') and "!ok:example.org":[] (not an object) are dropped. */
    assert_int_equal(b->n_rooms_dropped, 2);
    assert_int_equal(b->n_joined, 1);
    t = &b->joined[0];
    assert_false(t->limited);   /* "yes" is no bool */
    assert_null(t->prev_batch); /* 7 is no token */
    /* $lone and $nul are kept, their bad escape read as U+FFFD. */
    assert_int_equal(t->n_events, 4);
    assert_int_equal(b->n_dropped, 10);
    assert_string_equal(t->events[0].body, "kept");
    assert_string_equal(t->events[1].body, "bad \xEF\xBF\xBD half");
    assert_string_equal(t->events[2].body, "a\xEF\xBF\xBD" "b");
    assert_string_equal(t->events[3].event_id, "$ts");
    assert_int_equal(t->events[3].origin_server_ts, 0);
    assert_string_equal(t->events[3].content_json, "{}");
    /* The first SYNC_MAX_DROPS refusals are described, each with its reason. */
    assert_int_equal(b->n_drops, SYNC_MAX_DROPS);
    {
        static const char *const reasons[][2] = {
                {"", "event_id is not a string"},
                {"$n", "type is not a string"},
                {"$s", "sender does not start with '@'"},
                {"$k", "state_key is not a string"},
                {"$b", "content.body is not a string"},
                {"$r", "content.m.relates_to is not an object"},
                {"", "not a JSON object"},
                {"", "not a JSON object"},
        };
        for (size_t i = 0; i < SYNC_MAX_DROPS; i++) {
            assert_string_equal(b->drops[i].event_id, reasons[i][0]);
            assert_string_equal(b->drops[i].reason, reasons[i][1]);
            assert_string_equal(b->drops[i].room_id, "!cURbafjkfsMDVwdRDQ:example.org");
        }
        assert_string_equal(b->drops[1].sender, "@alice:example.org");
    }
    assert_int_equal(b->n_invites, 1);
    assert_null(b->invites[0].inviter);
    assert_int_equal(b->n_left, 1);
    assert_string_equal(b->left[0], "!l:example.org");
}

static void test_room_ids(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
    char id[SYNC_MAX_ID + 1];
    _cleanup_free_ char *body = NULL;

    (void)state;
    memset(id, 'r', sizeof(id));
    id[0] = '!';
    body = strf("{\"next_batch\":\"s\",\"rooms\":{\"join\":{"
                "\"\\u0021esc:h\":{},\"!nul\\u0000:h\":{},\"!half\\ud800:h\":{},\"\":{},"
                "\"!tab\\t:h\":{},\"%.*s\":{},\"%.*s\":{},\"!str:h\":\"x\",\"!null:h\":null,"
                "\"!ok:h\":{\"timeline\":7}},"
                "\"invite\":[],\"leave\":{\"@user:h\":{}}}}",
                (int)SYNC_MAX_ID, id, (int)SYNC_MAX_ID + 1, id);
    assert_int_equal(sync_str(body, &b), 0);
    assert_int_equal(b->n_joined, 3);
    assert_string_equal(b->joined[0].room_id, "!esc:h");
    assert_int_equal(strlen(b->joined[1].room_id), SYNC_MAX_ID);
    assert_string_equal(b->joined[2].room_id, "!ok:h");
    assert_int_equal(b->joined[2].n_events, 0);
    assert_int_equal(b->n_rooms_dropped, 8);
    assert_int_equal(b->n_invites, 0);
    assert_int_equal(b->n_left, 0);
}

/* A room twice in one section: one entry, at the first place, with the last contents; the same
 * for a repeated next_batch (json.h's last-wins rule, as a JavaScript or Python server reads
 * its own output). */
static void test_duplicate_rooms(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = sync_file("duplicate_rooms.json");

    (void)state;
    assert_string_equal(b->next_batch, "s11");
    assert_int_equal(b->n_joined, 2);
    assert_string_equal(b->joined[0].room_id, R1);
    assert_int_equal(b->joined[0].n_events, 1);
    assert_string_equal(b->joined[0].events[0].body, "second copy");
    assert_string_equal(b->joined[1].room_id, R2);
    assert_int_equal(b->n_left, 1);
    assert_string_equal(b->left[0], R3);
}

static void test_sections_of_wrong_type(void **state)
{
    static const char *bodies[] = {
            "{\"next_batch\":\"s\",\"rooms\":[]}",
            "{\"next_batch\":\"s\",\"rooms\":null}",
            "{\"next_batch\":\"s\",\"rooms\":{\"join\":[],\"invite\":\"x\",\"leave\":1}}",
            "{\"next_batch\":\"s\",\"rooms\":{\"join\":{},\"invite\":{},\"leave\":{}}}",
    };

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(bodies); i++) {
        _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
        assert_int_equal(sync_str(bodies[i], &b), 0);
        assert_int_equal(b->n_joined + b->n_invites + b->n_left + b->n_rooms_dropped, 0);
    }
}

/* ---- Caps -------------------------------------------------------------------------------- */

/* SYNC_MAX_ROOMS + 5 members in a section: the first SYNC_MAX_ROOMS kept, in order. */
static void test_room_cap(void **state)
{
    static const char *sections[] = {"join", "invite", "leave"};

    (void)state;
    for (size_t s = 0; s < ELEMENTSOF(sections); s++) {
        _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
        _cleanup_free_ char *body = NULL;
        size_t len = 0, n;
        FILE *f = open_memstream(&body, &len);

        assert_non_null(f);
        fprintf(f, "{\"next_batch\":\"s\",\"rooms\":{\"%s\":{", sections[s]);
        for (size_t i = 0; i < SYNC_MAX_ROOMS + 5; i++)
            fprintf(f, "%s\"!r%zu:h\":{}", i ? "," : "", i);
        fputs("}}}", f);
        assert_int_equal(fclose(f), 0);

        assert_int_equal(mx_sync_parse(body, len, &b), 0);
        n = s == 0 ? b->n_joined : s == 1 ? b->n_invites : b->n_left;
        assert_int_equal(n, SYNC_MAX_ROOMS);
        assert_int_equal(b->n_rooms_dropped, 5);
        for (size_t i = 0; i < n; i++) {
            char want[32];
            const char *got = s == 0   ? b->joined[i].room_id
                              : s == 1 ? b->invites[i].room_id
                                       : b->left[i];
            snprintf(want, sizeof(want), "!r%zu:h", i);
            assert_string_equal(got, want);
        }
    }
}

/* Events past SYNC_MAX_EVENTS are dropped and counted; malformed ones before them do not use
 * up the cap. */
static void test_event_cap(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
    _cleanup_free_ char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    const struct mx_room_timeline *t;

    (void)state;
    assert_non_null(f);
    fputs("{\"next_batch\":\"s\",\"rooms\":{\"join\":{\"!r:h\":{\"timeline\":{\"events\":"
          "[null,{\"event_id\":1},",
          f);
    for (size_t i = 0; i < SYNC_MAX_EVENTS + 3; i++)
        fprintf(f, "%s{\"event_id\":\"$e%zu\",\"type\":\"m.room.message\",\"sender\":\"@a:h\"}",
                i ? "," : "", i);
    fputs("]}}}}}", f);
    assert_int_equal(fclose(f), 0);

    assert_int_equal(mx_sync_parse(body, len, &b), 0);
    t = &b->joined[0];
    assert_int_equal(t->n_events, SYNC_MAX_EVENTS);
    assert_int_equal(b->n_dropped, 2 + 3);
    assert_string_equal(t->events[0].event_id, "$e0");
    assert_string_equal(t->events[SYNC_MAX_EVENTS - 1].event_id, "$e1023");
    /* The ones past the cap are described too, by id. */
    assert_int_equal(b->n_drops, 5);
    assert_string_equal(b->drops[1].reason, "event_id is not a string");
    assert_string_equal(b->drops[2].event_id, "$e1024");
    assert_string_equal(b->drops[4].event_id, "$e1026");
    assert_string_equal(b->drops[4].reason, "past the 1024 events kept of one timeline");
}

/* 10 rooms of 1000 events: everything kept, in order (the scale of a long catch-up). */
static void test_ten_thousand_events(void **state)
{
    _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *b = NULL;
    _cleanup_free_ char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);

    (void)state;
    assert_non_null(f);
    fputs("{\"next_batch\":\"s\",\"rooms\":{\"join\":{", f);
    for (int r = 0; r < 10; r++) {
        fprintf(f,
                "%s\"!room%d:h\":{\"timeline\":{\"limited\":true,\"prev_batch\":\"p%d\","
                "\"events\":[",
                r ? "," : "", r, r);
        for (int i = 0; i < 1000; i++)
            fprintf(f,
                    "%s{\"content\":{\"msgtype\":\"m.text\",\"body\":\"message %d.%d\"},"
                    "\"origin_server_ts\":%d,\"sender\":\"@u%d:h\",\"type\":\"m.room.message\","
                    "\"unsigned\":{\"age\":1},\"event_id\":\"$r%di%d\"}",
                    i ? "," : "", r, i, 1000 + i, i % 7, r, i);
        fputs("]}}", f);
    }
    fputs("}}}", f);
    assert_int_equal(fclose(f), 0);

    assert_int_equal(mx_sync_parse(body, len, &b), 0);
    assert_int_equal(b->n_joined, 10);
    assert_int_equal(b->n_dropped, 0);
    for (int r = 0; r < 10; r++) {
        const struct mx_room_timeline *t = &b->joined[r];
        assert_int_equal(t->n_events, 1000);
        for (int i = 0; i < 1000; i += 111) {
            char want[32];
            snprintf(want, sizeof(want), "message %d.%d", r, i);
            assert_string_equal(t->events[i].body, want);
            assert_int_equal(t->events[i].origin_server_ts, 1000 + i);
        }
    }
}

/* ---- /messages --------------------------------------------------------------------------- */

static void test_messages_page(void **state)
{
    _cleanup_free_ char *body = NULL;
    _cleanup_(mx_messages_page_freep) struct mx_messages_page *p = NULL;
    size_t len;

    (void)state;
    body = read_file(CORPUS "messages_page.json", &len);
    assert_int_equal(mx_messages_parse(body, len, &p), 0);
    assert_string_equal(p->end, "t43-72580_4490_1934_1_1_1_1_1_1_1");
    assert_int_equal(p->n_events, 4);
    assert_int_equal(p->n_dropped, 0);
    /* Newest first, as the server sent them. */
    assert_event(&p->events[0],
                 &(struct expect)EXPECT("$odmCO53XCikrwCRKKUWzdKylWg0xcizykoyCpnVrwI4",
                                        "m.room.message", BOB, NULL, 1718000000000,
                                        "{\"msgtype\":\"m.text\",\"body\":\"older message 0\"}",
                                        .msgtype = "m.text", .body = "older message 0"));
    for (size_t i = 1; i < p->n_events; i++)
        assert_true(p->events[i].origin_server_ts < p->events[i - 1].origin_server_ts);
    assert_string_equal(p->events[3].body, "older message 3");
    /* A /messages page is not a sync batch. */
    expect_sync_error(body, len, -EBADMSG);
}

static void test_messages_start_of_room(void **state)
{
    _cleanup_free_ char *body = NULL;
    _cleanup_(mx_messages_page_freep) struct mx_messages_page *p = NULL;
    _cleanup_(mx_messages_page_freep) struct mx_messages_page *empty = NULL;
    size_t len;

    (void)state;
    body = read_file(CORPUS "messages_page_start.json", &len);
    assert_int_equal(mx_messages_parse(body, len, &p), 0);
    assert_null(p->end);
    assert_int_equal(p->n_events, 1);
    assert_string_equal(p->events[0].type, "m.room.create");
    assert_string_equal(p->events[0].state_key, "");

    assert_int_equal(messages_str("{\"chunk\":[],\"start\":\"t1\",\"end\":null}", &empty), 0);
    assert_null(empty->end);
    assert_int_equal(empty->n_events, 0);
    assert_null(empty->events);
}

static void test_messages_refused(void **state)
{
    static const char *bad[] = {
            "{}",
            "{\"chunk\":{}}",
            "{\"chunk\":null,\"end\":\"t1\"}",
            "{\"chunk\":[],\"end\":5}",
            "{\"chunk\":[],\"end\":\"\"}",
            "{\"chunk\":[],\"end\":\"t\\n1\"}",
            "{\"next_batch\":\"s1\"}",
            "[{\"event_id\":\"$e\"}]",
    };
    _cleanup_(mx_messages_page_freep) struct mx_messages_page *p = NULL;

    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        expect_messages_error(bad[i], strlen(bad[i]), -EBADMSG);

    /* Malformed events in a page are dropped and counted, like in a timeline. */
    assert_int_equal(messages_str("{\"chunk\":[1,{\"event_id\":\"$a\",\"type\":\"t\",\"sender\":"
                                  "\"@a:h\"},{}],\"end\":\"t2\"}",
                                  &p),
                     0);
    assert_int_equal(p->n_events, 1);
    assert_int_equal(p->n_dropped, 2);
    assert_string_equal(p->end, "t2");
    /* Described without a room: the page does not name it, the caller knows it. */
    assert_int_equal(p->n_drops, 2);
    assert_string_equal(p->drops[0].reason, "not a JSON object");
    assert_string_equal(p->drops[1].reason, "no event_id");
    assert_string_equal(p->drops[1].room_id, "");
}

static void test_messages_cap(void **state)
{
    _cleanup_(mx_messages_page_freep) struct mx_messages_page *p = NULL;
    _cleanup_free_ char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);

    (void)state;
    assert_non_null(f);
    fputs("{\"chunk\":[", f);
    for (size_t i = 0; i < SYNC_MAX_EVENTS + 1; i++)
        fprintf(f, "%s{\"event_id\":\"$e%zu\",\"type\":\"t\",\"sender\":\"@a:h\"}", i ? "," : "",
                i);
    fputs("],\"end\":\"t9\"}", f);
    assert_int_equal(fclose(f), 0);

    assert_int_equal(mx_messages_parse(body, len, &p), 0);
    assert_int_equal(p->n_events, SYNC_MAX_EVENTS);
    assert_int_equal(p->n_dropped, 1);
    assert_string_equal(p->events[SYNC_MAX_EVENTS - 1].event_id, "$e1023");
}

static void test_event_done_twice(void **state)
{
    struct mx_event e = {0};

    (void)state;
    e.body = strdup("x");
    e.event_id = strdup("$e");
    assert_non_null(e.body);
    mx_event_done(&e);
    assert_null(e.body);
    assert_null(e.event_id);
    mx_event_done(&e); /* harmless: the fields are NULL now */
    mx_event_done(NULL);
    mx_sync_batch_free(NULL);
    mx_messages_page_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_initial_sync),
            cmocka_unit_test(test_incremental_messages),
            cmocka_unit_test(test_limited_prev_batch),
            cmocka_unit_test(test_invites),
            cmocka_unit_test(test_invite_inviter_rules),
            cmocka_unit_test(test_leave),
            cmocka_unit_test(test_redacted),
            cmocka_unit_test(test_unicode),
            cmocka_unit_test(test_state_events),
            cmocka_unit_test(test_relations),
            cmocka_unit_test(test_empty_poll),
            cmocka_unit_test(test_next_batch_required),
            cmocka_unit_test(test_not_json),
            cmocka_unit_test(test_every_prefix),
            cmocka_unit_test(test_deep_content),
            cmocka_unit_test(test_body_size_bound),
            cmocka_unit_test(test_token_bound),
            cmocka_unit_test(test_text_keeps_every_character),
            cmocka_unit_test(test_refused_event_described),
            cmocka_unit_test(test_escaped_large_messages),
            cmocka_unit_test(test_wrong_types),
            cmocka_unit_test(test_lenient_fields),
            cmocka_unit_test(test_field_bounds),
            cmocka_unit_test(test_malformed_file),
            cmocka_unit_test(test_room_ids),
            cmocka_unit_test(test_duplicate_rooms),
            cmocka_unit_test(test_sections_of_wrong_type),
            cmocka_unit_test(test_room_cap),
            cmocka_unit_test(test_event_cap),
            cmocka_unit_test(test_ten_thousand_events),
            cmocka_unit_test(test_messages_page),
            cmocka_unit_test(test_messages_start_of_room),
            cmocka_unit_test(test_messages_refused),
            cmocka_unit_test(test_messages_cap),
            cmocka_unit_test(test_event_done_twice),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
