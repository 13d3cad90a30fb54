/* Commands: splitting a message body into the instance's command prefix, the command name
 * and its arguments, as struct br_plugin.command receives them. */
#pragma once

#include <stddef.h>

/* The word after the prefix may be a URL (the Instagram plugin takes `!ig URL`), and 2048
 * bytes is the URL length that browsers and servers commonly keep to; a longer first word
 * is no command name. */
#define COMMAND_NAME_MAX 2048u

/* Pointers into the body that was parsed, valid as long as it is. */
struct command {
    const char *name; /* the word after the prefix; name_len 0 when none */
    size_t name_len;
    const char *args; /* the rest, surrounding whitespace removed; args_len 0 when none */
    size_t args_len;
};

/* A command is a body that starts with prefix (exactly, case-sensitive) followed by
 * whitespace or its end; "!ig" is a command in "!ig ping" and "!ig", not in "!igx" nor in
 * " !ig". Whitespace is ASCII's: space, tab, line feed, carriage return, form feed and
 * vertical tab.
 *
 * Returns 1 and fills *ret for a command, 0 when body is none (or prefix is NULL or ""),
 * -E2BIG when its name is longer than COMMAND_NAME_MAX. */
int command_parse(const char *body, const char *prefix, struct command *ret);

/* The name and the arguments as NUL-terminated copies, for the plugin's command callback. */
int command_dup(const struct command *c, char **ret_name, char **ret_args);
