/* Handing timeline events to the plugin, each exactly once. The plugin runs outside any
 * bot.db transaction (so a slow one holds no lock another bot waits for): its sends are
 * staged in memory, and the batch's one short transaction writes them with the events'
 * handled marks, so after a crash either both happened (the replies go out with their
 * stored transaction ids) or neither did (the event is handled again). Sends wait for the
 * commit before they reach the network.
 *
 * Poison events: before the plugin sees an event, bot.db records it as the one in flight,
 * with the attempts so far. An event still in flight when its worker died is handed over
 * again event_retries times; then it is skipped, marked handled, logged with its id and
 * sender and reported as an ERROR, so one bad message costs a restart or two, not a crash
 * loop while it is younger than catch_up_max_age. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/command.h"
#include "plugin/host.h"
#include "plugin/passive.h"
#include "store/store.h"
#include "util/log.h"
#include "util/macro.h"
#include "worker/worker.h"

bool dispatch_in_progress(const struct worker *w)
{
    /* Inside any bot.db transaction of the batch: sends wait for its commit. */
    return w->dispatching || w->batch_open;
}

/* Where a reply to ev goes. The ids are at most SYNC_MAX_ID (= BR_ID_MAX) bytes, checked by
 * the sync parser, so they fit. */
static void target_of(const char *room_id, const struct mx_event *ev, struct br_target *ret)
{
    bool threaded = ev->relation && streq(ev->relation, "m.thread");

    memset(ret, 0, sizeof(*ret));
    snprintf(ret->room_id, sizeof(ret->room_id), "%s", room_id);
    snprintf(ret->event_id, sizeof(ret->event_id), "%s", ev->event_id);
    if (threaded)
        snprintf(ret->thread_root, sizeof(ret->thread_root), "%s", ev->relates_to);
}

static struct br_message message_of(const char *room_id, const struct mx_event *ev,
                                    const struct br_target *target)
{
    return (struct br_message){
        .room_id = room_id,
        .event_id = ev->event_id,
        .sender = ev->sender,
        .msgtype = ev->msgtype ? ev->msgtype : "",
        .body = ev->body ? ev->body : "",
        .formatted_body = ev->formatted_body,
        .origin_server_ts = ev->origin_server_ts,
        .content_json = ev->content_json,
        .relation = ev->relation,
        .target = target,
    };
}

static int deliver_message(struct worker *w, const char *room_id, const struct mx_event *ev)
{
    const struct br_plugin *p = plugin_host_plugin(w->plugin);
    struct br_target target;
    struct br_message msg;
    struct command cmd;
    int r;

    target_of(room_id, ev, &target);
    msg = message_of(room_id, ev, &target);

    r = command_parse(msg.body, w->inst->command_prefix, &cmd);
    if (r > 0) {
        _cleanup_free_ char *name = NULL, *args = NULL;
        r = command_dup(&cmd, &name, &args);
        if (r < 0)
            return r;
        w->counters.commands++;
        return p->command(w->plugin_state, &msg, name, args);
    }
    if (r < 0) /* a first word too long to be a command name: an ordinary message */
        log_room(LOG_DEBUG, room_id, ev->event_id, "Not a command: %s", strerror(-r));
    if (w->passive && passive_count(w->passive) > 0) {
        r = passive_run(w->passive, w->plugin_state, &msg);
        if (r < 0) {
            w->counters.plugin_errors++;
            log_room(LOG_WARNING, room_id, ev->event_id, "A passive handler failed: %s",
                     strerror(-r));
        }
    }
    return p->message ? p->message(w->plugin_state, &msg) : 0;
}

static int deliver_event(struct worker *w, const char *room_id, const struct mx_event *ev)
{
    const struct br_plugin *p = plugin_host_plugin(w->plugin);
    struct br_target target;
    struct br_event e = {
        .target = &target,
        .room_id = room_id,
        .event_id = ev->event_id,
        .sender = ev->sender,
        .type = ev->type,
        .state_key = ev->state_key,
        .origin_server_ts = ev->origin_server_ts,
        .content_json = ev->content_json,
    };

    target_of(room_id, ev, &target);
    return p->event ? p->event(w->plugin_state, &e) : 0;
}

/* A callback that kept the loop this long stalled the bot: said, with the plugin's name. */
static void time_callback(struct worker *w, const char *room_id, const struct mx_event *ev,
                          int64_t started_ms)
{
    int64_t took = worker_now_ms() - started_ms;

    if (took >= WORKER_SLOW_CALLBACK_MS)
        log_room(LOG_WARNING, room_id, ev->event_id,
                 "Plugin %s blocked its event loop for %.1f s handling %s (callbacks must not "
                 "block: use spawn, timers and the runner's HTTP)",
                 w->inst->plugin, (double)took / 1000.0, ev->event_id);
}

static int remember_handled(struct worker *w, const char *event_id)
{
    char *copy;

    if (w->n_batch_handled == w->cap_batch_handled) {
        size_t cap = w->cap_batch_handled ? w->cap_batch_handled * 2 : 64;
        char **grown = reallocarray(w->batch_handled, cap, sizeof(char *));
        if (!grown)
            return -ENOMEM;
        w->batch_handled = grown;
        w->cap_batch_handled = cap;
    }
    copy = strdup(event_id);
    if (!copy)
        return -ENOMEM;
    w->batch_handled[w->n_batch_handled++] = copy;
    return 0;
}

static bool in_batch(const struct worker *w, const char *event_id)
{
    for (size_t i = 0; i < w->n_batch_handled; i++)
        if (streq(w->batch_handled[i], event_id))
            return true;
    return false;
}

/* Record ev as in flight; true (and the event skipped, reported) when it was in flight
 * through more worker deaths than event_retries allows. */
static int poisoned(struct worker *w, const char *room_id, const struct mx_event *ev)
{
    unsigned attempts = 0;
    int r = store_dispatch_begin(w->store, w->inst->id, ev->event_id, worker_now_ms() / 1000,
                                 &attempts);

    if (r < 0)
        return r;
    if (attempts <= (unsigned)w->inst->event_retries + 1) {
        if (attempts > 1)
            log_room(LOG_WARNING, room_id, ev->event_id,
                     "Event %s from %s was being handled when the worker died; handing it "
                     "over again (attempt %u of %lld)",
                     ev->event_id, ev->sender, attempts, (long long)w->inst->event_retries + 1);
        return 0;
    }
    w->counters.plugin_errors++;
    log_room(LOG_ERR, room_id, ev->event_id,
             "Skipped event %s from %s in %s: the worker died handling it %u times (plugin %s)",
             ev->event_id, ev->sender, room_id, attempts - 1, w->inst->plugin);
    return 1;
}

static bool is_message(const struct mx_event *ev)
{
    return streq(ev->type, "m.room.message") && ev->body && !ev->redacted;
}

/* Events the plugin never sees: our own, other rooms', and ones too old to answer. */
static bool wanted(struct worker *w, const char *room_id, const struct mx_event *ev,
                   int64_t cutoff_ms, size_t *skipped_old)
{
    const struct worker_room *room = rooms_find(w, room_id);

    if (!w->plugin_started || !room || room->post_only || streq(ev->sender, w->user_id))
        return false;
    if (ev->origin_server_ts > 0 && ev->origin_server_ts < cutoff_ms) {
        (*skipped_old)++;
        return false;
    }
    return true;
}

int dispatch_event(struct worker *w, const char *room_id, const struct mx_event *ev,
                   int64_t cutoff_ms, size_t *skipped_old)
{
    int64_t now = worker_now_ms();
    int r;

    if (!wanted(w, room_id, ev, cutoff_ms, skipped_old) || in_batch(w, ev->event_id))
        return 0;
    r = store_event_is_handled(w->store, w->inst->id, ev->event_id);
    if (r != 0)
        return r < 0 ? r : 0;
    r = poisoned(w, room_id, ev);
    if (r < 0)
        return r;
    if (r == 0) {
        w->dispatching = true;
        r = is_message(ev) ? deliver_message(w, room_id, ev) : deliver_event(w, room_id, ev);
        w->dispatching = false;
        time_callback(w, room_id, ev, now);
        /* A plugin's failure is its own: the event counts as handled, not retried forever. */
        if (r < 0) {
            w->counters.plugin_errors++;
            log_room(LOG_ERR, room_id, ev->event_id, "Plugin %s failed on event %s from %s: %s",
                     w->inst->plugin, ev->event_id, ev->sender, strerror(-r));
        }
    }
    if (is_message(ev)) {
        link_message(w, now / 1000);
        w->batch_messages = true;
    }
    return remember_handled(w, ev->event_id);
}

void dispatch_batch_begin(struct worker *w)
{
    w->batch_open = true;
    outbox_mark(w);
}

/* The batch's one write: every handled mark, every staged send, the in-flight record
 * cleared, the sync position; then the sends may go out. */
int dispatch_batch_commit(struct worker *w, const char *next_batch)
{
    int64_t now = worker_now_ms() / 1000;
    int r;

    r = store_transaction_begin(w->store);
    for (size_t i = 0; r >= 0 && i < w->n_batch_handled; i++) {
        r = store_event_mark_handled(w->store, w->inst->id, w->batch_handled[i], now);
        if (r == -EEXIST) /* handled meanwhile by another run of this instance: fine */
            r = 0;
    }
    if (r >= 0)
        r = outbox_commit_staged(w);
    if (r >= 0)
        r = store_dispatch_clear(w->store, w->inst->id);
    if (r >= 0 && w->batch_messages)
        r = store_instance_touch_message(w->store, w->inst->id, now);
    w->batch_messages = false;
    if (r >= 0 && next_batch)
        r = store_sync_position_set(w->store, w->inst->id, next_batch, w->filter_id);
    if (r >= 0)
        r = store_transaction_commit(w->store);
    else
        store_transaction_rollback(w->store);
    w->batch_open = false;
    for (size_t i = 0; i < w->n_batch_handled; i++)
        free(w->batch_handled[i]);
    w->n_batch_handled = 0;
    if (r < 0) {
        outbox_drop_marked(w);
        return r;
    }
    outbox_staged_written(w);
    return 0;
}

void dispatch_batch_abort(struct worker *w)
{
    w->batch_open = false;
    w->batch_messages = false;
    for (size_t i = 0; i < w->n_batch_handled; i++)
        free(w->batch_handled[i]);
    w->n_batch_handled = 0;
    outbox_drop_marked(w);
}

void dispatch_free(struct worker *w)
{
    for (size_t i = 0; i < w->n_batch_handled; i++)
        free(w->batch_handled[i]);
    free(w->batch_handled);
    w->batch_handled = NULL;
    w->n_batch_handled = w->cap_batch_handled = 0;
}
