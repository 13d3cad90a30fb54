/* botrunner.echo: the smallest useful plugin, for the demo, the tests and the benchmarks.
 * `<prefix> ping` answers "pong (took N ms)", `<prefix> echo TEXT` answers TEXT, each as a
 * notice replying to the command (bots answer with notices: clients show them as a bot's). */
#include <botrunner/plugin.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A sender's clock may run a little ahead of ours; a timestamp more than a minute in the
 * future is a broken clock or a lie, and a latency computed from it would be nonsense. */
#define PING_FUTURE_SLACK_MS 60000

/* The last br_runner function this plugin calls: the runner's table must reach it. */
#define RUNNER_MIN_SIZE (offsetof(struct br_runner, command_prefix) + sizeof(void *))

struct echo {
    struct br_instance *inst;
    const struct br_runner *runner;
};

static int echo_start(struct br_instance *inst, const struct br_runner *runner, void **ret_state)
{
    struct echo *e;

    if (runner->abi_version != BR_ABI_VERSION || runner->size < RUNNER_MIN_SIZE)
        return -EPROTO;
    e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->inst = inst;
    e->runner = runner;
    *ret_state = e;
    return 0;
}

static void echo_stop(void *state)
{
    free(state);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int reply(struct echo *e, const struct br_message *msg, const char *text)
{
    return e->runner->reply(e->inst, msg->target, text, NULL, BR_SEND_NOTICE, NULL, NULL);
}

static int ping(struct echo *e, const struct br_message *msg)
{
    int64_t now = now_ms(), ts = msg->origin_server_ts;
    char text[64];

    /* No timestamp, or one that cannot be true: answer without a number. */
    if (ts <= 0 || ts > now + PING_FUTURE_SLACK_MS)
        return reply(e, msg, "pong");
    /* A little ahead (clock skew) counts as no time at all. */
    snprintf(text, sizeof(text), "pong (took %lld ms)", (long long)(now > ts ? now - ts : 0));
    return reply(e, msg, text);
}

static int usage(struct echo *e, const struct br_message *msg)
{
    const char *prefix = e->runner->command_prefix(e->inst);
    size_t len;
    char *text;
    int r;

    /* Sized to fit whole: the prefix is UTF-8, and a cut one would not be. */
    if (!prefix)
        prefix = "";
    len = 2 * strlen(prefix) + 64;
    text = malloc(len);
    if (!text)
        return -ENOMEM;
    snprintf(text, len, "Usage: %s ping | %s echo TEXT", prefix, prefix);
    r = reply(e, msg, text);
    free(text);
    return r;
}

static int echo_command(void *state, const struct br_message *msg, const char *name,
                        const char *args)
{
    struct echo *e = state;

    if (strcmp(name, "ping") == 0)
        return ping(e, msg);
    /* args is UTF-8 already, trimmed by the runner: send it back as it came. A text longer
     * than a send may be (the runner logs that refusal) gets a short answer instead. */
    if (strcmp(name, "echo") == 0 && args[0] != '\0') {
        int r = reply(e, msg, args);
        if (r == -E2BIG) {
            char text[128];
            snprintf(text, sizeof(text), "That is too long to echo: %zu bytes, at most %u.",
                     strlen(args), BR_TEXT_MAX);
            r = reply(e, msg, text);
        }
        return r;
    }
    return usage(e, msg);
}

BR_PLUGIN(EchoBot) = {
        .abi_version = BR_ABI_VERSION,
        .size = sizeof(struct br_plugin),
        .id = "botrunner.echo",
        .version = "0.1.0",
        .start = echo_start,
        .stop = echo_stop,
        .command = echo_command,
};
