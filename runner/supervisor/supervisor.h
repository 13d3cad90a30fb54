/* The supervisor: the unit's main process. It owns the config, the state directory, one
 * worker process per enabled instance (fork and exec of this binary), the status endpoint
 * and the admin notifications. Its parts share this state: supervisor.c (the loop, signals,
 * systemd), children.c (workers, backoff, their reports), reload.c (SIGHUP), report.c
 * (status document, metrics, health, notifications). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "config/config.h"
#include "util/ipc.h"

struct store;
struct status_http;
struct notifier;

/* Backoff for a worker that exits: 1 s doubling to 5 min, back to 1 s once a worker has
 * run 10 min (the brief's numbers: fast recovery from a one-off crash, no hot loop). */
#define SUP_BACKOFF_MIN_MS   1000u
#define SUP_BACKOFF_MAX_MS   (5u * 60u * 1000u)
#define SUP_BACKOFF_RESET_MS (10u * 60u * 1000u)
/* On SIGTERM (or a stop on reload), a worker gets this long to finish before SIGKILL. */
#define SUP_STOP_TIMEOUT_MS 10000u
/* The status document is rebuilt at least this often: health depends on the clock. */
#define SUP_TICK_MS 2000u
/* Notifications waiting for the sender's worker to be up, at most. */
#define SUP_PENDING_NOTICES 50u

enum child_phase {
    CHILD_IDLE,       /* not running: disabled, or not started yet */
    CHILD_RUNNING,    /* a worker process exists */
    CHILD_STOPPING,   /* asked to stop; waiting for it to exit */
    CHILD_BACKOFF,    /* exited unexpectedly; restart scheduled */
};

/* A room as the worker last reported it (supervisor/rooms.c). */
struct child_room {
    char *name;    /* as declared: a room id or an alias */
    char *room_id; /* resolved, or NULL */
    bool joined;
    char *error;   /* why it is not served, or NULL */
};

struct child {
    struct supervisor *sup;
    char *id;
    char *fingerprint;        /* the declaration as text: a change means a restart */
    char *settings;           /* its settings (JSON): a change alone is handed to the plugin */
    const struct config_instance *decl; /* in sup->config */
    bool enabled;
    bool removed;             /* no longer declared: archive its database once stopped */
    bool restart_after_stop;  /* changed on reload: start again once stopped */
    enum child_phase phase;
    pid_t pid;
    int ipc_fd;
    sd_event_source *exit_source, *ipc_source, *timer;
    uint64_t backoff_ms;
    int64_t started_at, state_since, last_sync_at, last_message_at, last_error_at;
    char state[16];           /* the seed's state machine, as shown in /status */
    char *last_error;
    /* When the condition last_error describes was seen to be over (0 while it lasts): the
     * room it was about is joined without error, or, for an error about no room, the
     * instance is running again. The text stays, for /status to show what happened. */
    int64_t last_error_resolved_at;
    char *last_error_room;    /* the subscription last_error is about, or NULL */
    int64_t restarts;
    struct child_room *rooms; /* reported by the current worker, at most one per declared room */
    size_t n_rooms;
    char db_state[16];        /* the plugin database's, as reported ("" for none yet) */
    int64_t db_version;
    /* The instance's counts across its workers, for /metrics: each worker reports its own
     * since it started (COUNTERS), and what it adds is added here. */
    struct ipc_counters counters;
    struct ipc_counters counters_reported; /* the current worker's last report */
};

struct pending_notice {
    char *severity;
    char *text;
};

/* Plugins bot.db knows that the config no longer declares (trashed, deleted), for /status;
 * and the plugins a refused reload rejected, with why. Both bounded: a few are normal. */
#define SUP_GONE_PLUGINS    64u
#define SUP_REJECTED_PLUGINS 32u
struct gone_plugin {
    char *id;
    char *version;
    char state[16];
};

struct supervisor {
    sd_event *event;
    char *config_path;
    struct config *config;
    struct store *store;
    struct status_http *http;
    struct notifier *notifier;
    struct child **children;
    size_t n_children;
    struct pending_notice pending[SUP_PENDING_NOTICES];
    size_t n_pending;
    sd_event_source *tick;
    sd_event_source *publish; /* deferred rebuild of the status document */
    int64_t started_at;
    bool stopping;
    bool ready_sent;
    char last_status[96];     /* the last STATUS= sent to systemd */
    int64_t health_error_window_s, health_sync_max_age_s;
    struct gone_plugin gone[SUP_GONE_PLUGINS];
    size_t n_gone;
    char *rejected[SUP_REJECTED_PLUGINS]; /* "plugins[N].path: reason" of the last refused
                                           * reload; cleared by an accepted one */
    size_t n_rejected;
    /* The last reload (SIGHUP), for /status and health: when (unix s; 0 before the first),
     * and for a refused one its error count and first error ("path: message (line N)").
     * A refused reload keeps health degraded until one is accepted. */
    int64_t reload_at;
    bool reload_refused;
    size_t reload_errors;
    char *reload_first_error;
};

/* supervisor.c */
int supervisor_main(const char *config_path);
int64_t sup_now_ms(void);
void sup_state_changed(struct supervisor *s);
void sup_child_gone(struct supervisor *s); /* a worker is gone for good: maybe exit */

/* children.c */
int child_new(struct supervisor *s, const struct config_instance *decl, struct child **ret);
void child_free(struct child *c);
int child_start(struct child *c);
void child_stop(struct child *c);
/* Stop it and start it again once it is gone (a changed declaration). */
void child_restart(struct child *c);
void child_set_state(struct child *c, const char *state, const char *error);
/* The same for an error about one subscription (room: its name as declared, or NULL). */
void child_set_state_room(struct child *c, const char *state, const char *error,
                          const char *room);
/* A report says room is joined, without error: resolve the last error when it was about
 * that room. */
void child_room_error_over(struct child *c, const char *room);
size_t children_alive(const struct supervisor *s);


/* rooms.c */
struct ipc_message;
/* A ROOM datagram: 0, or -EBADMSG for a room the instance does not declare or a malformed
 * field (nothing is recorded then), -ENOMEM. */
int child_room_report(struct child *c, const struct ipc_message *m);
const struct child_room *child_room_find(const struct child *c, const char *name);
void child_rooms_clear(struct child *c);
/* Whether a subscription (or the admin room it posts to) is an alias, resolved by its worker. */
bool child_has_alias(const struct child *c);

/* plugins.c: the declared plugins' states in bot.db, package extractions, the trash. */
void plugins_prepare(struct supervisor *s);
void plugins_gone_clear(struct supervisor *s);

/* reload.c */
void supervisor_reload(struct supervisor *s);

/* report.c */
void report_publish(struct supervisor *s);
struct notification_in;
void report_notify(struct supervisor *s, int priority, const struct notification_in *in);
void report_flush_pending(struct supervisor *s);
