/* Handing timeline events to the plugin, each exactly once: one bot.db transaction marks
 * the event handled and holds every send the plugin queued for it, so after a crash either
 * both happened (the replies go out with their stored transaction ids) or neither did (the
 * event is handled again). Sends wait for the commit before they reach the network. */
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

    if (!wanted(w, room_id, ev, cutoff_ms, skipped_old))
        return 0;
    r = store_transaction_begin(w->store);
    if (r < 0)
        return r;
    r = store_event_mark_handled(w->store, w->inst->id, ev->event_id, now / 1000);
    if (r == -EEXIST) {
        store_transaction_rollback(w->store);
        return 0;
    }
    if (r < 0) {
        store_transaction_rollback(w->store);
        return r;
    }
    w->dispatching = true;
    outbox_mark(w);
    r = is_message(ev) ? deliver_message(w, room_id, ev) : deliver_event(w, room_id, ev);
    w->dispatching = false;
    /* A plugin's failure is its own: the event counts as handled, not retried forever. */
    if (r < 0) {
        w->counters.plugin_errors++;
        log_room(LOG_ERR, room_id, ev->event_id, "Plugin %s failed on event %s: %s",
                 w->inst->plugin, ev->event_id, strerror(-r));
    }
    if (is_message(ev)) {
        (void)store_instance_touch_message(w->store, w->inst->id, now / 1000);
        link_message(w, now / 1000);
    }
    r = store_transaction_commit(w->store);
    if (r < 0) {
        outbox_drop_marked(w);
        return r;
    }
    return 0;
}
