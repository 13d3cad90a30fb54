/* Test helper: implements fixture_dirs.h, the build directory of the running test binary and
 * the removal of a temporary tree, for the tests that load built plugins or make files. */
#include "fixture_dirs.h"

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fixture_build_dir(char *buf, size_t cap)
{
    ssize_t n;
    char *slash;

    if (cap < 2)
        return -1;
    n = readlink("/proc/self/exe", buf, cap - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    for (int i = 0; i < 2; i++) {
        slash = strrchr(buf, '/');
        if (!slash)
            return -1;
        *slash = '\0';
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int fixture_rmtree(const char *dir)
{
    return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
