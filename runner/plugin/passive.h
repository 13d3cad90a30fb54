/* Passive handlers: the regular expressions a plugin registers (br_runner.add_passive), run
 * on the body of every message that is not a command. */
#pragma once

#include <stddef.h>

#include "botrunner/plugin.h"
#include "util/macro.h"

/* A plugin registers a few patterns (links it reacts to, keywords); 32 is plenty, and each
 * costs a regexec per message. */
#define PASSIVE_MAX_HANDLERS 32u
/* The longest pattern accepted: regcomp's memory grows with it. */
#define PASSIVE_MAX_PATTERN 1024u
/* match[0] and up to 9 groups, as br_passive_t receives them. */
#define PASSIVE_MAX_MATCH 10u
/* Only the first 16 KiB of a body are matched (cut at a character boundary): what a passive
 * handler looks for (a link, a keyword) sits in ordinary messages, and the bound keeps the
 * cost of every pattern on a hostile 64 KiB body in check. */
#define PASSIVE_MAX_BODY (16u * 1024u)

struct passive_registry;

int passive_registry_new(struct passive_registry **ret);
void passive_registry_free(struct passive_registry *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct passive_registry *, passive_registry_free)

/* Compile regex (POSIX extended, case-insensitive, in a UTF-8 locale when the system has
 * C.UTF-8) and add it with its handler. Back-references (\1..\9) are refused: they make
 * matching exponential in the body's length. Returns 0, -EINVAL (a NULL or empty pattern, a
 * back-reference, or a pattern regcomp refuses; regerror's sentence in why), -E2BIG (longer
 * than PASSIVE_MAX_PATTERN), -ENOSPC (PASSIVE_MAX_HANDLERS already), -ENOMEM. */
int passive_add(struct passive_registry *p, const char *regex, br_passive_t handler, char *why,
                size_t why_cap);

size_t passive_count(const struct passive_registry *p);

/* Run every handler whose pattern matches msg->body, in the order they were added, with the
 * match and its groups as NUL-terminated copies (NULL for a group that took no part), and
 * state as the handler's first argument. A match whose pieces are not valid UTF-8 (a
 * pattern cutting a character in half) is not delivered. Every matching handler runs even
 * when one fails. Returns the number of handlers that matched (>= 0), or the first negative
 * value a handler returned, or -ENOMEM. */
int passive_run(const struct passive_registry *p, void *state, const struct br_message *msg);
