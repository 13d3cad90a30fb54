/* The config contract as typed structs: what `botrunner check` validates and what the
 * supervisor and workers run from. Loading is check-then-load: see config.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/diag.h"

#define CONFIG_DEFAULT_STATUS_ADDRESS "127.0.0.1"
#define CONFIG_DEFAULT_STATUS_PORT    29316
#define CONFIG_DEFAULT_CATCH_UP       3600
#define CONFIG_DEFAULT_NOTIFY_RATE    10
/* Sends a second an instance's outbox allows: far above a conversation's pace, so it never
 * slows a bot that answers people, while a plugin in a loop cannot flood a room. */
#define CONFIG_DEFAULT_SEND_RATE      10
/* One more try after a crash while handling an event: a crash that was not the event's
 * fault (a kill, an OOM) is survived, one that is (a poison event) costs one restart. */
#define CONFIG_DEFAULT_EVENT_RETRIES  1
/* reserved_ports when absent: the seed's Matrix, Slack bridge and Forgejo ports. */
extern const uint16_t config_default_reserved_ports[3];

/* Strings in the config are identifiers, ids, paths and URLs; none needs more than this. */
#define CONFIG_STRING_MAX 4096
/* Instances and plugins per file, and rooms per instance: generous, but finite. */
#define CONFIG_MAX_INSTANCES 10000
#define CONFIG_MAX_PLUGINS   1000
#define CONFIG_MAX_ROOMS     1000
#define CONFIG_MAX_PORTS     256

struct config_homeserver {
    char *server_name;
    char *url;
    bool allow_remote;
};

struct config_status {
    char *address;
    uint16_t port;
    bool allow_non_loopback;
};

struct config_notifications {
    char *room;
    char *sender;
    int64_t max_per_minute;
};

struct config_logging {
    int level; /* syslog priority: LOG_DEBUG .. LOG_CRIT */
};

struct config_plugin {
    char *path;
    bool enabled;
    char *id;      /* from the package's maubot.yaml, filled by the validator */
    char *version; /* likewise */
    char *sha256;  /* a package's (lowercase hex), NULL for a plugin directory */
    char *digest;  /* a directory's: SHA-256 of maubot.yaml and its modules (lowercase hex),
                    * NULL for a package or when a file could not be read */
};

struct config_features {
    bool auto_fetch;
    bool rate_limiting;
    bool caching;
};

struct config_rate_limit {
    int64_t max_requests_per_minute;
    int64_t burst_size;
    int64_t backoff_seconds;
};

struct config_instance {
    char *id;
    char *plugin;
    char *user;
    char *password_file;
    bool enabled;
    char *displayname;
    char **room_subscriptions;
    uint32_t room_subscriptions_count;
    char *command_prefix;
    struct config_features features;
    struct config_rate_limit rate_limit;
    int error_notification_level; /* syslog priority */
    int64_t catch_up_max_age;
    int64_t send_rate;           /* Matrix sends a second; the guard on the outbox */
    int64_t event_retries;       /* times an event is handed over again after its worker died
                                  * handling it, before it is skipped */
    char *settings_json; /* the free-form `config:` subtree as JSON text ("{}" when absent) */
};

struct config {
    struct config_homeserver homeserver;
    char *state_directory;
    char *secret_key_file;
    char *registration_token_file;
    struct config_status status;
    uint16_t *reserved_ports;
    uint32_t reserved_ports_count;
    struct config_notifications *notifications; /* NULL when not configured */
    struct config_logging logging;
    struct config_plugin *plugins;
    uint32_t plugins_count;
    struct config_instance *instances;
    uint32_t instances_count;
};

enum config_check_flags {
    /* Do not read credential files: for checking a rendered config where the secrets are
     * not present (at Nix build time, or on another machine). */
    CONFIG_SKIP_CREDENTIALS = 1 << 0,
};

/* Read, validate and load path. Every problem found goes to diags (errors and warnings);
 * returns 0 and a config when there were no errors, -EINVAL when there were (all of them
 * in diags), or another negative errno for a failure that is not the file's fault. */
int config_load(const char *path, unsigned flags, struct diag_list *diags, struct config **ret);
/* The same for a config already in memory (len bytes, no NUL needed): config_load() calls it
 * after reading the file, and so do the tests and the fuzzer. */
int config_load_buffer(const char *buf, size_t len, unsigned flags, struct diag_list *diags,
                       struct config **ret);
/* Only the status endpoint's address and port from path, for `botrunner status -c` and
 * `health -c`: the file read and parsed as config_load() does, the status mapping checked
 * as it checks it (types, ranges, the loopback rule), the rest of the file not looked at
 * (its plugins and credentials need not be present). Defaults when absent; ret->address
 * is malloc'd. -EINVAL with the problems in diags. */
int config_load_status(const char *path, struct diag_list *diags, struct config_status *ret);
void config_free(struct config *c);
static inline void config_freep(struct config **c)
{
    if (*c)
        config_free(*c);
}

const struct config_instance *config_find_instance(const struct config *c, const char *id);
/* Everything of cfg a worker for instance in reads, but in's settings, as one text (malloc'd
 * JSON): a reload restarts the instance when this changes, and hands the plugin its new
 * settings when only settings_json does. */
int config_instance_fingerprint(const struct config *cfg, const struct config_instance *in,
                                char **ret);
