/* The plugin host: loads a plugin directory (maubot.yaml and its shared objects), checks the
 * exported descriptor against the manifest and the ABI, and unloads it. */
#pragma once

#include <stddef.h>

#include "botrunner/plugin.h"
#include "plugin/manifest.h"
#include "util/macro.h"

struct plugin_host;

/* Load the plugin in dir: read and validate maubot.yaml (manifest_read()), dlopen each module
 * (RTLD_NOW | RTLD_LOCAL) from dir, find main_class in them and check the descriptor:
 * the rules of descriptor_check() (plugin/descriptor.h): ABI version, size, id and version
 * equal to maubot.yaml's, start, stop and command set.
 *
 * dlopen runs the modules' constructors: loading is for plugins the administrator declared,
 * and the checks catch mistakes, not malice.
 *
 * Returns 0, or a negative errno with a sentence in why (capacity why_cap): -ENOTDIR (dir is
 * not a directory), -ENOENT (no maubot.yaml, a module missing), -EBADMSG (bad manifest, a module
 * that does not load, main_class not exported, a descriptor that does not match), -EPROTO (another
 * ABI version), -E2BIG, -ENOMEM. */
int plugin_host_load(const char *dir, struct plugin_host **ret, char *why, size_t why_cap);
/* Unloads the modules: call only once no instance uses the plugin any more. NULL is fine. */
void plugin_host_free(struct plugin_host *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct plugin_host *, plugin_host_free)

/* The descriptor (the host's copy, zero past the plugin's size) and the manifest; both live
 * as long as the host. */
const struct br_plugin *plugin_host_plugin(const struct plugin_host *h);
const struct manifest *plugin_host_manifest(const struct plugin_host *h);
/* The directory the plugin was loaded from. */
const char *plugin_host_directory(const struct plugin_host *h);
