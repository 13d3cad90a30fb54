/* Proves a declared plugin loadable without loading it, for `botrunner check` and the
 * supervisor's start: its modules are there and are what the worker's dlopen will accept. */
#pragma once

#include <stddef.h>

#include "plugin/manifest.h"

/* The plugin directory dir with manifest m (read from it by manifest_read()): every module
 * is a regular file and an ELF shared object for this machine; the first that exports
 * m->main_class exports a data object meeting descriptor_check(). Nothing of the plugin runs.
 * 0, or a negative errno with a sentence in why naming the module and the reason: -ENOENT (a
 * module missing), -ENOEXEC (not ELF), -EXDEV (another architecture), -EPROTO (another ABI),
 * -EBADMSG (anything else wrong with a module or the descriptor). */
int plugin_verify_directory(const char *dir, const struct manifest *m, char *why, size_t why_cap);
/* The same for a package read by package_open(), from its entries in memory. */
struct package;
int plugin_verify_package(const struct package *p, char *why, size_t why_cap);
