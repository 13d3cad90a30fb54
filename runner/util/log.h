/* Logging: one call site API for the whole runner. Under systemd (stderr connected to the
 * journal) entries go to journald with structured fields; elsewhere readable lines go to
 * stderr. Every message passes the redaction layer before it leaves the process. */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <syslog.h>

#include "util/macro.h"

/* The five levels of the contract map to syslog priorities, as journald expects. */
#define LOG_LEVEL_COUNT 5

/* Where messages go. AUTO picks the journal when stderr is the journal stream
 * ($JOURNAL_STREAM names stderr's device and inode, as systemd sets it), else stderr. */
enum log_target {
    LOG_TARGET_AUTO,
    LOG_TARGET_STDERR,
    LOG_TARGET_JOURNAL,
};

/* "DEBUG" | "INFO" | "WARN" | "ERROR" | "CRITICAL" -> LOG_DEBUG .. LOG_CRIT. */
int log_level_from_string(const char *s, int *ret_priority);
const char *log_level_to_string(int priority);

void log_set_max_level(int priority);
int log_get_max_level(void);
void log_set_target(enum log_target target);
/* The instance this process serves (a worker has exactly one); NULL for none. The string
 * is copied. Added as INSTANCE= to journal entries and as a prefix on stderr. */
void log_set_instance(const char *instance_id);

/* Register a secret: from now on every occurrence of it in a message is replaced by
 * "[redacted]". Secrets shorter than LOG_REDACT_MIN bytes are refused with -EINVAL
 * (they would redact ordinary words). The copy is kept in locked, wiped memory. */
#define LOG_REDACT_MIN 4
int log_redact_add(const void *secret, size_t len);
void log_redact_clear(void);
/* Apply redaction to buf in place (NUL-terminated, capacity cap). Also masks the value of
 * "Authorization: Bearer ...", access_token=..., and JSON "access_token"/"password"/
 * "token" string values. Exposed for tests and for text leaving by other routes (admin
 * notifications, the status endpoint). */
void log_redact_buffer(char *buf, size_t cap);

/* Observer: called with each message that passed the level filter, after redaction; the
 * supervisor uses it for admin notifications and /status. NULL to remove. */
typedef void (*log_observer_t)(int priority, const char *message, void *userdata);
void log_set_observer(log_observer_t observer, void *userdata);
/* During an observer call: the room and event ids the message was logged with (checked
 * printable ids), else NULL. For context in admin notifications. */
const char *log_observed_room_id(void);
const char *log_observed_event_id(void);

/* Returns -abs(error) (or 0 when error == 0) so callers can write
 * `return log_error_errno(r, "Failed to open %s: %m", path);`. %m prints strerror(abs(error)). */
int log_internal(int priority, int error, const char *room_id, const char *event_id,
                 const char *file, int line, const char *func, const char *format, ...)
        _printf_(8, 9);

#define log_full_errno(prio, error, ...)                                                       \
    log_internal((prio), (error), NULL, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_room(prio, room_id, event_id, ...)                                                 \
    log_internal((prio), 0, (room_id), (event_id), __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_debug(...)   (void)log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)    (void)log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_warning(...) (void)log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)   (void)log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_crit(...)    (void)log_full_errno(LOG_CRIT, 0, __VA_ARGS__)

#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, (e), __VA_ARGS__)
#define log_crit_errno(e, ...)    log_full_errno(LOG_CRIT, (e), __VA_ARGS__)
/* Out of memory, said once where it happened: returns -ENOMEM. */
#define log_oom()                 log_full_errno(LOG_ERR, -ENOMEM, "Out of memory")
