/* The instance's rooms: the subscriptions are joined at start and retried with backoff when
 * a join fails (the failure shows in the instance's last error); invites to subscribed rooms
 * are accepted and all others declined; events elsewhere are ignored by the dispatcher.
 * Callbacks get a struct worker_room: the array is made once and outlives every request. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/macro.h"
#include "worker/worker.h"

struct worker_room *rooms_find(struct worker *w, const char *room_id)
{
    for (size_t i = 0; i < w->n_rooms; i++)
        if (streq(w->rooms[i].room_id, room_id))
            return &w->rooms[i];
    return NULL;
}

/* The admin room, when this instance posts the notifications and does not serve it. */
static const char *admin_room(struct worker *w)
{
    const struct config_notifications *n = w->config->notifications;

    if (!n || !streq(n->sender, w->inst->id))
        return NULL;
    for (uint32_t i = 0; i < w->inst->room_subscriptions_count; i++)
        if (streq(w->inst->room_subscriptions[i], n->room))
            return NULL;
    return n->room;
}

static int room_add(struct worker *w, const char *room_id, bool post_only)
{
    struct worker_room *r = &w->rooms[w->n_rooms];

    r->worker = w;
    r->room_id = strdup(room_id);
    if (!r->room_id)
        return -ENOMEM;
    r->retry_ms = WORKER_JOIN_RETRY_MS;
    r->post_only = post_only;
    w->n_rooms++;
    return 0;
}

static int rooms_init(struct worker *w)
{
    const char *admin = admin_room(w);
    int r = 0;

    if (w->rooms)
        return 0;
    w->rooms = calloc(w->inst->room_subscriptions_count + 1, sizeof(*w->rooms));
    if (!w->rooms)
        return -ENOMEM;
    for (uint32_t i = 0; i < w->inst->room_subscriptions_count && r >= 0; i++)
        r = room_add(w, w->inst->room_subscriptions[i], false);
    if (r >= 0 && admin)
        r = room_add(w, admin, true);
    return r;
}

static void join(struct worker_room *room);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
    struct worker_room *room = userdata;

    (void)s;
    (void)usec;
    room->retry = sd_event_source_disable_unref(room->retry);
    join(room);
    return 0;
}

static void schedule_retry(struct worker_room *room)
{
    int r = sd_event_add_time_relative(room->worker->event, &room->retry, CLOCK_MONOTONIC,
                                       room->retry_ms * 1000, 0, on_retry, room);

    if (r < 0)
        log_room(LOG_ERR, room->room_id, NULL, "Cannot schedule a join retry: %s", strerror(-r));
    room->retry_ms = room->retry_ms * 2 > WORKER_JOIN_RETRY_MAX_MS ? WORKER_JOIN_RETRY_MAX_MS
                                                                   : room->retry_ms * 2;
}

static void on_joined(int r, const struct mx_result *res, void *userdata)
{
    struct worker_room *room = userdata;
    char msg[512];

    room->join_in_flight = false;
    if (r >= 0) {
        log_room(LOG_INFO, room->room_id, NULL, "Joined %s", room->room_id);
        room->joined = true;
        room->retry_ms = WORKER_JOIN_RETRY_MS;
        return;
    }
    snprintf(msg, sizeof(msg), "cannot join %s: %s%s%s", room->room_id,
             res && res->errcode ? res->errcode : strerror(-r), res && res->error ? " " : "",
             res && res->error ? res->error : "");
    log_room(LOG_WARNING, room->room_id, NULL, "%s; retrying in %llu s", msg,
             (unsigned long long)(room->retry_ms / 1000));
    worker_set_state(room->worker, room->worker->first_sync_done ? "running" : "configured", msg);
    schedule_retry(room);
}

static void join(struct worker_room *room)
{
    int r;

    assert(room->worker); /* set by room_add() for every room */
    if (room->joined || room->join_in_flight || room->retry)
        return;
    r = mx_join(room->worker->mx, room->room_id, on_joined, room);
    if (r < 0) {
        log_room(LOG_WARNING, room->room_id, NULL, "Cannot start joining: %s", strerror(-r));
        schedule_retry(room);
        return;
    }
    room->join_in_flight = true;
}

void rooms_join_all(struct worker *w)
{
    int r = rooms_init(w);

    if (r < 0)
        return worker_fail(w, r, "Cannot track the rooms");
    for (size_t i = 0; i < w->n_rooms; i++)
        join(&w->rooms[i]);
}

static void on_declined(int r, const struct mx_result *res, void *userdata)
{
    (void)userdata;
    if (r < 0)
        log_warning("Cannot decline an invite: %s", res && res->errcode ? res->errcode
                                                                        : strerror(-r));
}

void rooms_handle_invite(struct worker *w, const struct mx_invite *inv)
{
    struct worker_room *room = rooms_find(w, inv->room_id);

    /* An invite in our sync is ours, but stripped state can be forged by the inviting
     * server: act only on an invite that names us. */
    if (inv->invitee && !streq(inv->invitee, w->user_id))
        return;
    if (room) {
        log_room(LOG_INFO, inv->room_id, NULL, "Invited to subscribed room %s by %s; joining",
                 inv->room_id, inv->inviter ? inv->inviter : "?");
        room->joined = false;
        room->retry = sd_event_source_disable_unref(room->retry);
        join(room);
        return;
    }
    log_room(LOG_INFO, inv->room_id, NULL, "Declining an invite to %s from %s: not subscribed",
             inv->room_id, inv->inviter ? inv->inviter : "?");
    if (mx_leave(w->mx, inv->room_id, on_declined, w) < 0)
        log_room(LOG_WARNING, inv->room_id, NULL, "Cannot start declining the invite");
}

void rooms_handle_joined(struct worker *w, const char *room_id)
{
    struct worker_room *room = rooms_find(w, room_id);

    if (room && !room->joined) {
        room->joined = true;
        room->retry = sd_event_source_disable_unref(room->retry);
    }
}

void rooms_handle_left(struct worker *w, const char *room_id)
{
    struct worker_room *room = rooms_find(w, room_id);

    if (!room || !room->joined)
        return;
    log_room(LOG_WARNING, room_id, NULL, "No longer in subscribed room %s; joining again", room_id);
    room->joined = false;
    join(room);
}

void rooms_free(struct worker *w)
{
    for (size_t i = 0; i < w->n_rooms; i++) {
        sd_event_source_disable_unref(w->rooms[i].retry);
        free(w->rooms[i].room_id);
    }
    free(w->rooms);
    w->rooms = NULL;
    w->n_rooms = 0;
}
