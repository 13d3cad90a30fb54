/* Tests for the echo plugin (plugins/echo), loaded as the runner loads it ($(BUILD)/plugins/
 * echo/echo.so) and driven through its descriptor with a fake runner that records replies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fixture_dirs.h"
#include "botrunner/plugin.h"
#include "util/macro.h"

#define MAX_REPLIES 8

/* The fake runner's side of an instance: what the plugin asked for. */
struct br_instance {
    const char *prefix;
    int reply_result;
    unsigned n_replies;
    char *replies[MAX_REPLIES];
    const struct br_target *reply_to[MAX_REPLIES];
    unsigned flags[MAX_REPLIES];
};

static int fake_reply(struct br_instance *inst, const struct br_target *to, const char *text,
                      const char *html, unsigned flags, br_sent_t sent, void *userdata)
{
    /* As the runner: a text past BR_TEXT_MAX is refused, and nothing is sent. */
    if (strlen(text) > BR_TEXT_MAX)
        return -E2BIG;
    assert_true(inst->n_replies < MAX_REPLIES);
    assert_null(html);
    assert_null(sent);
    assert_null(userdata);
    inst->reply_to[inst->n_replies] = to;
    inst->flags[inst->n_replies] = flags;
    inst->replies[inst->n_replies] = strdup(text);
    assert_non_null(inst->replies[inst->n_replies]);
    inst->n_replies++;
    return inst->reply_result;
}

static const char *fake_command_prefix(struct br_instance *inst)
{
    return inst->prefix;
}

static const struct br_runner runner = {
        .abi_version = BR_ABI_VERSION,
        .size = sizeof(struct br_runner),
        .reply = fake_reply,
        .command_prefix = fake_command_prefix,
};

struct fixture {
    void *handle;
    const struct br_plugin *plugin;
    struct br_instance inst;
    void *state;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char build[PATH_MAX], path[PATH_MAX + 32];

    if (!f || fixture_build_dir(build, sizeof(build)) < 0) {
        free(f);
        return -1;
    }
    /* The plugin is $(BUILD)/plugins/echo/echo.so. */
    snprintf(path, sizeof(path), "%s/plugins/echo/echo.so", build);
    f->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!f->handle) {
        fprintf(stderr, "%s\n", dlerror());
        free(f);
        return -1;
    }
    f->plugin = dlsym(f->handle, "EchoBot");
    f->inst.prefix = "!echo";
    if (!f->plugin || f->plugin->start(&f->inst, &runner, &f->state) != 0)
        return -1;
    *state = f;
    return 0;
}

static void clear_replies(struct br_instance *inst)
{
    for (unsigned i = 0; i < inst->n_replies; i++)
        free(inst->replies[i]);
    inst->n_replies = 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    f->plugin->stop(f->state);
    clear_replies(&f->inst);
    dlclose(f->handle);
    free(f);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send one command and return the one reply it caused (owned by the fixture). */
static const char *command(struct fixture *f, const char *name, const char *args, int64_t ts)
{
    struct br_target target = {.room_id = "!r:x", .event_id = "$e"};
    struct br_message msg = {.room_id = "!r:x",
                             .event_id = "$e",
                             .target = &target,
                             .sender = "@u:x",
                             .msgtype = "m.text",
                             .body = "",
                             .origin_server_ts = ts};

    clear_replies(&f->inst);
    assert_int_equal(f->plugin->command(f->state, &msg, name, args), 0);
    assert_int_equal(f->inst.n_replies, 1);
    /* A notice replying to the command: clients show it as a bot's. */
    assert_ptr_equal(f->inst.reply_to[0], &target);
    assert_int_equal(f->inst.flags[0], BR_SEND_NOTICE);
    return f->inst.replies[0];
}

static void test_descriptor(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(f->plugin->abi_version, BR_ABI_VERSION);
    assert_int_equal(f->plugin->size, sizeof(struct br_plugin));
    assert_string_equal(f->plugin->id, "botrunner.echo");
    assert_string_equal(f->plugin->version, "0.1.0");
    assert_null(f->plugin->message);
    assert_null(f->plugin->event);
    assert_null(f->plugin->config);
}

static void test_start_checks_the_runner(void **state)
{
    struct fixture *f = *state;
    struct br_runner other = runner;
    void *s = (void *)1;

    other.abi_version = BR_ABI_VERSION + 1;
    assert_int_equal(f->plugin->start(&f->inst, &other, &s), -EPROTO);
    other = runner;
    other.size = offsetof(struct br_runner, command_prefix);
    assert_int_equal(f->plugin->start(&f->inst, &other, &s), -EPROTO);
    assert_ptr_equal(s, (void *)1);
}

static void test_ping(void **state)
{
    struct fixture *f = *state;
    const char *reply;
    long long took = -1;

    reply = command(f, "ping", "", now_ms() - 1500);
    assert_int_equal(sscanf(reply, "pong (took %lld ms)", &took), 1);
    assert_true(took >= 1500 && took < 1500 + 5000);
    assert_string_equal(reply + strlen(reply) - 4, " ms)");
    /* Arguments after ping change nothing. */
    reply = command(f, "ping", "extra words", now_ms());
    assert_int_equal(strncmp(reply, "pong (took ", 11), 0);
}

static void test_ping_without_a_true_timestamp(void **state)
{
    struct fixture *f = *state;

    assert_string_equal(command(f, "ping", "", 0), "pong");
    assert_string_equal(command(f, "ping", "", -5), "pong");
    assert_string_equal(command(f, "ping", "", now_ms() + 120000), "pong");
    assert_string_equal(command(f, "ping", "", INT64_MAX), "pong");
    /* A little ahead is clock skew: no time at all. */
    assert_string_equal(command(f, "ping", "", now_ms() + 10000), "pong (took 0 ms)");
}

static void test_echo_unicode(void **state)
{
    static const char *const texts[] = {
            "hello world",
            "\xF0\x9F\x91\x8B\xF0\x9F\x8F\xBD", /* waving hand, skin tone (4-byte) */
            "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D \xD7\xA2\xD7\x95\xD7\x9C\xD7\x9D", /* Hebrew, RTL */
            "\xD8\xA7\xD9\x84\xD8\xB3\xD9\x84\xD8\xA7\xD9\x85 abc", /* Arabic then Latin */
            "\xF0\x9D\x84\x9E \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF",   /* U+1D11E, U+1F600, U+10FFFF */
            "e\xCC\x81 \xE2\x80\x8F\xE2\x80\x8D",                   /* combining accent, RLM, ZWJ */
            "line one\nline two",
    };
    struct fixture *f = *state;

    for (size_t i = 0; i < ELEMENTSOF(texts); i++)
        assert_string_equal(command(f, "echo", texts[i], 0), texts[i]);
}

/* A text the runner cannot send back (over BR_TEXT_MAX) gets a short answer saying so; the
 * longest that fits is echoed whole. */
static void test_echo_too_long(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *text = malloc(BR_TEXT_MAX + 2);
    char want[128];

    assert_non_null(text);
    memset(text, 'a', BR_TEXT_MAX + 1);
    text[BR_TEXT_MAX + 1] = '\0';
    snprintf(want, sizeof(want), "That is too long to echo: %u bytes, at most %u.",
             BR_TEXT_MAX + 1, BR_TEXT_MAX);
    assert_string_equal(command(f, "echo", text, 0), want);
    text[BR_TEXT_MAX] = '\0';
    assert_string_equal(command(f, "echo", text, 0), text);
}

static void test_usage(void **state)
{
    static const char usage[] = "Usage: !echo ping | !echo echo TEXT";
    struct fixture *f = *state;

    assert_string_equal(command(f, "echo", "", 0), usage);
    assert_string_equal(command(f, "", "", 0), usage);
    assert_string_equal(command(f, "help", "", 0), usage);
    assert_string_equal(command(f, "PING", "", 0), usage);
    /* A prefix that is not ASCII comes out whole. */
    f->inst.prefix = "\xF0\x9F\xA4\x96";
    assert_string_equal(command(f, "x", "", 0),
                        "Usage: \xF0\x9F\xA4\x96 ping | \xF0\x9F\xA4\x96 echo TEXT");
    f->inst.prefix = NULL;
    assert_string_equal(command(f, "x", "", 0), "Usage:  ping |  echo TEXT");
    f->inst.prefix = "!echo";
}

static void test_reply_errors_are_returned(void **state)
{
    struct fixture *f = *state;
    struct br_message msg = {.body = "", .origin_server_ts = 0};

    clear_replies(&f->inst);
    f->inst.reply_result = -EAGAIN;
    assert_int_equal(f->plugin->command(f->state, &msg, "echo", "x"), -EAGAIN);
    assert_int_equal(f->plugin->command(f->state, &msg, "ping", ""), -EAGAIN);
    assert_int_equal(f->plugin->command(f->state, &msg, "nope", ""), -EAGAIN);
    f->inst.reply_result = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_descriptor),
            cmocka_unit_test(test_start_checks_the_runner),
            cmocka_unit_test(test_ping),
            cmocka_unit_test(test_ping_without_a_true_timestamp),
            cmocka_unit_test(test_echo_unicode),
            cmocka_unit_test(test_echo_too_long),
            cmocka_unit_test(test_usage),
            cmocka_unit_test(test_reply_errors_are_returned),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
