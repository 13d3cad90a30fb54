/* Command parsing: prefix, name, arguments. Pure string work over the body the worker already
 * validated as UTF-8; splitting only at ASCII whitespace keeps every piece valid UTF-8. */
#include "plugin/command.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/macro.h"

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static const char *skip_space(const char *p)
{
    while (is_space(*p))
        p++;
    return p;
}

int command_parse(const char *body, const char *prefix, struct command *ret)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    const char *p, *name, *name_end, *end;

    if (plen == 0 || strncmp(body, prefix, plen) != 0)
        return 0;
    p = body + plen;
    if (*p != '\0' && !is_space(*p))
        return 0;

    name = skip_space(p);
    for (p = name; *p != '\0' && !is_space(*p); p++)
        if ((size_t)(p - name) >= COMMAND_NAME_MAX)
            return -E2BIG;
    name_end = p;

    /* Arguments: from the next non-blank to the last non-blank. */
    p = skip_space(p);
    end = p + strlen(p);
    while (end > p && is_space(end[-1]))
        end--;

    *ret = (struct command){
            .name = name,
            .name_len = (size_t)(name_end - name),
            .args = p,
            .args_len = (size_t)(end - p),
    };
    return 1;
}

int command_dup(const struct command *c, char **ret_name, char **ret_args)
{
    _cleanup_free_ char *name = NULL, *args = NULL;

    name = strndup(c->name ? c->name : "", c->name_len);
    args = strndup(c->args ? c->args : "", c->args_len);
    if (!name || !args)
        return -ENOMEM;
    *ret_name = TAKE_PTR(name);
    *ret_args = TAKE_PTR(args);
    return 0;
}
