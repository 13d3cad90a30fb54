/* The rules a plugin's descriptor must meet, whether it was read from the module file
 * (plugin/elf.c, for `check`) or found by dlsym in a loaded module (plugin/host.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "botrunner/plugin.h"
#include "plugin/manifest.h"

/* The descriptor fields the host reads: everything up to and including migrations (ABI 2's
 * last). A plugin whose descriptor says it is smaller was built against a header this ABI
 * never had. */
#define DESCRIPTOR_MIN_SIZE                                                                        \
    (offsetof(struct br_plugin, migrations) + sizeof(((struct br_plugin *)0)->migrations))
/* The descriptor's id and version are compared with the manifest's; both are far shorter
 * (64 bytes), so a string is never read further than this. */
#define DESCRIPTOR_STRING_MAX 128u

/* What a descriptor says, wherever it was read from. id and version may be NULL. */
struct descriptor_facts {
    uint32_t abi_version;
    uint32_t size;
    const char *id;
    const char *version;
    bool has_start, has_stop, has_command;
};

/* 0 when the descriptor named main_class matches manifest m and the runner's ABI; else
 * -EPROTO (another ABI version) or -EBADMSG, with a sentence in why. */
int descriptor_check(const struct manifest *m, const struct descriptor_facts *d, char *why,
                     size_t why_cap);
