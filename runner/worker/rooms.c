/* The instance's rooms: each subscription, named by room id or by alias, is resolved (an
 * alias, through the room directory), joined and retried with backoff when either fails (the
 * failure shows in the instance's last error and in /status); invites to subscribed rooms
 * are accepted and all others declined; events elsewhere are ignored by the dispatcher.
 * Callbacks get a struct worker_room: the array is made once and outlives every request. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/matrix_ids.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macro.h"
#include "worker/worker.h"

struct worker_room *rooms_find(struct worker *w, const char *room_id)
{
    for (size_t i = 0; i < w->n_rooms; i++)
        if (w->rooms[i].room_id && streq(w->rooms[i].room_id, room_id))
            return &w->rooms[i];
    return NULL;
}

static struct worker_room *find_name(struct worker *w, const char *name)
{
    for (size_t i = 0; i < w->n_rooms; i++)
        if (streq(w->rooms[i].name, name))
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

static int room_add(struct worker *w, const char *name, bool post_only)
{
    struct worker_room *r = &w->rooms[w->n_rooms];

    r->worker = w;
    r->name = strdup(name);
    if (!r->name)
        return -ENOMEM;
    r->is_alias = name[0] == '#';
    if (!r->is_alias) {
        r->room_id = strdup(name);
        if (!r->room_id)
            return -ENOMEM;
    }
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

/* The room's error, for /status and the instance's last error; NULL clears it (and the
 * supervisor then marks an instance error about this room resolved). */
static void set_error(struct worker_room *room, const char *error)
{
    free(room->error);
    room->error = error ? strdup(error) : NULL;
    link_room(room->worker, room);
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
        log_room(LOG_ERR, room->name, NULL, "Cannot schedule a retry for %s: %s", room->name,
                 strerror(-r));
    room->retry_ms = room->retry_ms * 2 > WORKER_JOIN_RETRY_MAX_MS ? WORKER_JOIN_RETRY_MAX_MS
                                                                   : room->retry_ms * 2;
}

/* A room that failed: say why at prio, record it, and try again later. */
static void failed(struct worker_room *room, int prio, const char *what, int r,
                   const struct mx_result *res)
{
    struct worker *w = room->worker;
    char msg[512];

    snprintf(msg, sizeof(msg), "%s %s: %s%s%s", what, room->name,
             res && res->errcode ? res->errcode : strerror(-r), res && res->error ? " " : "",
             res && res->error ? res->error : "");
    log_room(prio, room->room_id ? room->room_id : room->name, NULL, "%s; retrying in %llu s",
             msg, (unsigned long long)(room->retry_ms / 1000));
    set_error(room, msg);
    worker_set_state_room(w, w->first_sync_done ? "running" : "configured", msg, room->name);
    schedule_retry(room);
}

static void on_joined(int r, const struct mx_result *res, void *userdata)
{
    struct worker_room *room = userdata;

    room->join_in_flight = false;
    if (r < 0)
        return failed(room, LOG_WARNING, "cannot join", r, res);
    log_room(LOG_INFO, room->room_id, NULL, "Joined %s%s%s", room->room_id,
             room->is_alias ? " as " : "", room->is_alias ? room->name : "");
    room->joined = true;
    room->retry_ms = WORKER_JOIN_RETRY_MS;
    set_error(room, NULL);
}

static void flush_held(struct worker *w);
static void settle_invites(struct worker *w);

/* The alias names room_id now. A new id replaces the old one: the old room is no longer
 * served (its events are ignored from here on), the new one is joined. */
static void resolved(struct worker_room *room, const char *room_id)
{
    if (room->room_id && streq(room->room_id, room_id))
        return;
    if (room->room_id)
        log_room(LOG_INFO, room_id, NULL, "Room alias %s now names %s (was %s)", room->name,
                 room_id, room->room_id);
    else
        log_room(LOG_INFO, room_id, NULL, "Room alias %s names %s", room->name, room_id);
    free(room->room_id);
    room->room_id = strdup(room_id);
    room->joined = false;
    if (!room->room_id)
        worker_fail(room->worker, -ENOMEM, "Cannot track a room");
}

static void on_resolved(int r, const struct mx_result *res, void *userdata)
{
    struct worker_room *room = userdata;
    struct worker *w = room->worker;
    _cleanup_free_ char *room_id = NULL;

    room->resolve_in_flight = false;
    if (r >= 0 && (json_get_string(res->doc, res->root, "room_id", &room_id) < 0 ||
                   !matrix_room_id_is_valid(room_id)))
        r = -EBADMSG;
    if (r < 0)
        failed(room, LOG_ERR, "cannot resolve room alias", r, r == -EBADMSG ? NULL : res);
    else {
        resolved(room, room_id);
        room->retry_ms = WORKER_JOIN_RETRY_MS;
        set_error(room, NULL);
        join(room);
    }
    flush_held(w);
    settle_invites(w);
}

static void resolve(struct worker_room *room)
{
    int r = mx_resolve_alias(room->worker->mx, room->name, on_resolved, room);

    if (r < 0)
        return failed(room, LOG_ERR, "cannot start resolving room alias", r, NULL);
    room->resolve_in_flight = true;
}

/* Resolve (an alias not resolved yet) or join, unless that is under way or waiting. */
static void join(struct worker_room *room)
{
    int r;

    assert(room->worker); /* set by room_add() for every room */
    if (room->joined || room->join_in_flight || room->resolve_in_flight || room->retry)
        return;
    if (!room->room_id)
        return resolve(room);
    r = mx_join(room->worker->mx, room->room_id, on_joined, room);
    if (r < 0)
        return failed(room, LOG_WARNING, "cannot start joining", r, NULL);
    room->join_in_flight = true;
}

void rooms_join_all(struct worker *w)
{
    int r = rooms_init(w);

    if (r < 0)
        return worker_fail(w, r, "Cannot track the rooms");
    for (size_t i = 0; i < w->n_rooms; i++) {
        link_room(w, &w->rooms[i]);
        join(&w->rooms[i]);
    }
}

/* Resolve every alias again now (on reload, or when an invite may be to one of them), not
 * waiting for a retry timer. */
static void resolve_now(struct worker *w, bool all)
{
    for (size_t i = 0; i < w->n_rooms; i++) {
        struct worker_room *room = &w->rooms[i];
        if (!room->is_alias || room->resolve_in_flight || (!all && room->room_id))
            continue;
        room->retry = sd_event_source_disable_unref(room->retry);
        room->retry_ms = WORKER_JOIN_RETRY_MS;
        resolve(room);
    }
}

void rooms_resolve_again(struct worker *w)
{
    if (!w->rooms || !w->account_ready)
        return;
    log_info("Resolving the room aliases again");
    resolve_now(w, true);
}

static bool resolving(const struct worker *w)
{
    for (size_t i = 0; i < w->n_rooms; i++)
        if (w->rooms[i].resolve_in_flight)
            return true;
    return false;
}

static bool unresolved(const struct worker *w)
{
    for (size_t i = 0; i < w->n_rooms; i++)
        if (w->rooms[i].is_alias && !w->rooms[i].room_id)
            return true;
    return false;
}

/* ---- invites ------------------------------------------------------------------------------ */

static void on_declined(int r, const struct mx_result *res, void *userdata)
{
    (void)userdata;
    if (r < 0)
        log_warning("Cannot decline an invite: %s", res && res->errcode ? res->errcode
                                                                        : strerror(-r));
}

static void decline(struct worker *w, const char *room_id, const char *inviter)
{
    log_room(LOG_INFO, room_id, NULL, "Declining an invite to %s from %s: not subscribed", room_id,
             inviter ? inviter : "?");
    if (mx_leave(w->mx, room_id, on_declined, w) < 0)
        log_room(LOG_WARNING, room_id, NULL, "Cannot start declining the invite");
}

/* Invites to rooms no subscription names yet wait while an alias is being resolved: the
 * room may be the one it names (an alias made after the bot started, with an invite). */
static void defer_invite(struct worker *w, const char *room_id)
{
    char *copy;

    for (size_t i = 0; i < w->n_deferred_invites; i++)
        if (streq(w->deferred_invites[i], room_id))
            return;
    if (w->n_deferred_invites == WORKER_DEFERRED_INVITES || !(copy = strdup(room_id))) {
        decline(w, room_id, NULL);
        return;
    }
    w->deferred_invites[w->n_deferred_invites++] = copy;
}

/* Once no alias is being resolved: join the deferred invites that turned out to be ours
 * (join() was called by the resolution), decline the others. */
static void settle_invites(struct worker *w)
{
    if (resolving(w))
        return;
    for (size_t i = 0; i < w->n_deferred_invites; i++) {
        struct worker_room *room = rooms_find(w, w->deferred_invites[i]);
        if (room) {
            room->joined = false;
            join(room);
        } else
            decline(w, w->deferred_invites[i], NULL);
        free(w->deferred_invites[i]);
    }
    w->n_deferred_invites = 0;
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
    if (unresolved(w)) {
        log_room(LOG_INFO, inv->room_id, NULL,
                 "Invited to %s by %s; resolving the room aliases before answering",
                 inv->room_id, inv->inviter ? inv->inviter : "?");
        defer_invite(w, inv->room_id);
        resolve_now(w, false);
        settle_invites(w);
        return;
    }
    decline(w, inv->room_id, inv->inviter);
}

void rooms_handle_joined(struct worker *w, const char *room_id)
{
    struct worker_room *room = rooms_find(w, room_id);

    if (room && !room->joined) {
        room->joined = true;
        room->retry = sd_event_source_disable_unref(room->retry);
        set_error(room, NULL);
    }
}

void rooms_handle_left(struct worker *w, const char *room_id)
{
    struct worker_room *room = rooms_find(w, room_id);

    if (!room || !room->joined)
        return;
    log_room(LOG_WARNING, room_id, NULL, "No longer in subscribed room %s; joining again", room_id);
    room->joined = false;
    link_room(w, room);
    join(room);
}

/* ---- admin notices ------------------------------------------------------------------------ */

/* Notices for an admin room whose alias is not resolved yet wait for it, up to a bound. */
void rooms_post_notice(struct worker *w, const char *room, const char *content)
{
    struct worker_room *r;
    int q = rooms_init(w);

    r = q >= 0 ? find_name(w, room) : NULL;
    if (r && !r->room_id) {
        if (w->n_held_notices == WORKER_HELD_NOTICES) {
            log_warning("Dropping an admin notice: %s is still not resolved", room);
            return;
        }
        w->held_notices[w->n_held_notices] = strdup(content);
        if (w->held_notices[w->n_held_notices])
            w->n_held_notices++;
        return;
    }
    q = outbox_queue(w, r ? r->room_id : room, "m.room.message", content, NULL, NULL);
    if (q < 0)
        log_warning_errno(q, "Cannot queue an admin notice: %m");
}

static void flush_held(struct worker *w)
{
    const struct config_notifications *n = w->config->notifications;
    struct worker_room *r = n ? find_name(w, n->room) : NULL;
    size_t held = w->n_held_notices;

    if (!r || !r->room_id || !held)
        return;
    w->n_held_notices = 0;
    for (size_t i = 0; i < held; i++) {
        rooms_post_notice(w, n->room, w->held_notices[i]);
        free(w->held_notices[i]);
    }
}

void rooms_free(struct worker *w)
{
    for (size_t i = 0; i < w->n_rooms; i++) {
        sd_event_source_disable_unref(w->rooms[i].retry);
        free(w->rooms[i].name);
        free(w->rooms[i].room_id);
        free(w->rooms[i].error);
    }
    free(w->rooms);
    w->rooms = NULL;
    w->n_rooms = 0;
    for (size_t i = 0; i < w->n_deferred_invites; i++)
        free(w->deferred_invites[i]);
    w->n_deferred_invites = 0;
    for (size_t i = 0; i < w->n_held_notices; i++)
        free(w->held_notices[i]);
    w->n_held_notices = 0;
}
