/* Test helper: the directories unit tests share: $(BUILD), found from the test binary's own
 * path, and removing a temporary tree. */
#pragma once

#include <stddef.h>

/* $(BUILD) into buf: a test binary is $(BUILD)/tests/test_<name>. 0 or -1. */
int fixture_build_dir(char *buf, size_t cap);

/* Remove dir and everything below it, not following symlinks. 0 or -1. */
int fixture_rmtree(const char *dir);
