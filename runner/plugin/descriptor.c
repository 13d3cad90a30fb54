/* Checks a plugin descriptor against its maubot.yaml and the runner's ABI: one set of rules
 * for `check` (which reads the module file) and the worker (which loads it). */
#include "plugin/descriptor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/macro.h"
#include "util/text.h"

_printf_(4, 5) static int fail(int r, char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return r;
}

/* A descriptor string equal to the manifest's, read without running off the end. */
static bool same_string(const char *theirs, const char *ours)
{
    return theirs && strnlen(theirs, DESCRIPTOR_STRING_MAX) < DESCRIPTOR_STRING_MAX &&
           streq(theirs, ours);
}

int descriptor_check(const struct manifest *m, const struct descriptor_facts *d, char *why,
                     size_t cap)
{
    if (d->abi_version != BR_ABI_VERSION)
        return fail(-EPROTO, why, cap,
                    "%s was built for plugin ABI %u, the runner has %u%s", m->main_class,
                    d->abi_version, BR_ABI_VERSION,
                    d->abi_version < BR_ABI_VERSION ? ": rebuild it against this runner's plugin.h"
                                                    : ": it needs a newer runner");
    if (d->size < DESCRIPTOR_MIN_SIZE)
        return fail(-EBADMSG, why, cap, "%s is %u bytes, smaller than ABI %u's %zu", m->main_class,
                    d->size, BR_ABI_VERSION, DESCRIPTOR_MIN_SIZE);
    if (!same_string(d->id, m->id))
        return fail(-EBADMSG, why, cap, "%s says id %s, maubot.yaml says %s", m->main_class,
                    d->id ? TEXT_QUOTE(d->id) : "(none)", m->id);
    if (!same_string(d->version, m->version))
        return fail(-EBADMSG, why, cap, "%s says version %s, maubot.yaml says %s", m->main_class,
                    d->version ? TEXT_QUOTE(d->version) : "(none)", m->version);
    if (!d->has_start || !d->has_stop || !d->has_command)
        return fail(-EBADMSG, why, cap, "%s lacks one of start, stop, command", m->main_class);
    return 0;
}
