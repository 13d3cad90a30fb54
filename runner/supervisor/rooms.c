/* What each worker last reported of its rooms (ROOM datagrams): for every subscription, the
 * room id its alias resolved to, whether the bot is in the room, and why not. /status shows
 * it; a report about a room the instance does not declare is refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/matrix_ids.h"
#include "supervisor/supervisor.h"
#include "util/ipc.h"
#include "util/macro.h"

/* The admin room counts as the sender's room: its worker joins it to post the notices. */
static bool declared(const struct child *c, const char *name)
{
    const struct config_notifications *n = c->sup->config->notifications;

    if (!c->decl)
        return false;
    for (uint32_t i = 0; i < c->decl->room_subscriptions_count; i++)
        if (streq(c->decl->room_subscriptions[i], name))
            return true;
    return n && streq(n->sender, c->id) && streq(n->room, name);
}

const struct child_room *child_room_find(const struct child *c, const char *name)
{
    for (size_t i = 0; i < c->n_rooms; i++)
        if (streq(c->rooms[i].name, name))
            return &c->rooms[i];
    return NULL;
}

static void room_done(struct child_room *r)
{
    free(r->name);
    free(r->room_id);
    free(r->error);
}

void child_rooms_clear(struct child *c)
{
    for (size_t i = 0; i < c->n_rooms; i++)
        room_done(&c->rooms[i]);
    free(c->rooms);
    c->rooms = NULL;
    c->n_rooms = 0;
}

int child_room_report(struct child *c, const struct ipc_message *m)
{
    const char *name = ipc_get(m, "ROOM"), *id = ipc_get(m, "ROOM_ID"), *joined = ipc_get(m, "JOINED");
    const char *error = ipc_get(m, "ERROR");
    struct child_room r = {0}, *grown;

    if (!name || !declared(c, name) || (id && !matrix_room_id_is_valid(id)) || !joined ||
        (!streq(joined, "0") && !streq(joined, "1")))
        return -EBADMSG;
    r.name = strdup(name);
    r.room_id = id ? strdup(id) : NULL;
    r.error = error ? strdup(error) : NULL;
    r.joined = streq(joined, "1");
    if (!r.name || (id && !r.room_id) || (error && !r.error)) {
        room_done(&r);
        return -ENOMEM;
    }
    /* Served again: an error about this room is over (a report without error but not yet
     * joined is a worker starting, or a join under way). */
    if (!error && r.joined)
        child_room_error_over(c, name);
    for (size_t i = 0; i < c->n_rooms; i++)
        if (streq(c->rooms[i].name, name)) {
            room_done(&c->rooms[i]);
            c->rooms[i] = r;
            return 0;
        }
    /* Bounded by the declaration: each declared room appears once. */
    grown = reallocarray(c->rooms, c->n_rooms + 1, sizeof(*c->rooms));
    if (!grown) {
        room_done(&r);
        return -ENOMEM;
    }
    c->rooms = grown;
    c->rooms[c->n_rooms++] = r;
    return 0;
}

bool child_has_alias(const struct child *c)
{
    const struct config_notifications *n = c->sup->config->notifications;

    if (!c->decl)
        return false;
    for (uint32_t i = 0; i < c->decl->room_subscriptions_count; i++)
        if (c->decl->room_subscriptions[i][0] == '#')
            return true;
    return n && streq(n->sender, c->id) && n->room[0] == '#';
}
