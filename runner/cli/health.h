/* `botrunner health [--url URL | -c FILE]`: ask the supervisor's /status whether the fleet is healthy,
 * print one line saying why, and exit with the verdict (for the NixOS health timer). */
#pragma once

#include <stddef.h>

enum {
    HEALTH_EXIT_HEALTHY = 0,
    HEALTH_EXIT_DEGRADED = 1,
    HEALTH_EXIT_FAILED = 2, /* also: unreachable, not a readable document, bad usage */
};

/* The verdict on a /status body fetched from url (named in messages): the exit code, and in
 * line one line without a newline ("healthy: 3/3 instances running", "degraded: echo-2 not
 * synced for 700 s", "failed: http://127.0.0.1:29316/status answered malformed JSON"). The
 * body is hostile: anything unreadable is a failure, never a crash. */
int health_verdict(const char *url, const char *body, size_t len, char *line, size_t cap);

/* argv[0] is "health". Returns the process exit code (HEALTH_*). */
int cli_health(int argc, char **argv);
