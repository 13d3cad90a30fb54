/* The instance's private work directory, where its plugin puts temporary files (a download
 * in progress) and where its subprocesses run: <base>/work/<instance-id>, 0700, emptied at
 * every start so that what a crash left behind is gone before the plugin runs again. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"
#include "worker/worker.h"

/* The base: the unit's RuntimeDirectory (systemd sets $RUNTIME_DIRECTORY; its first entry
 * when there are several), else the state directory, for a worker run by hand. Runtime is
 * tmpfs under systemd: a reboot empties it too, and downloads never touch the state disk. */
static int base_dir(const struct worker *w, char **ret)
{
    const char *rt = getenv("RUNTIME_DIRECTORY");
    size_t n = rt ? strcspn(rt, ":") : 0;

    if (rt && rt[0] == '/' && n > 1)
        return asprintf(ret, "%.*s", (int)n, rt) < 0 ? -ENOMEM : 0;
    return asprintf(ret, "%s", w->config->state_directory) < 0 ? -ENOMEM : 0;
}

int workdir_prepare(struct worker *w)
{
    _cleanup_free_ char *base = NULL, *work = NULL, *dir = NULL;
    _cleanup_close_ int fd = -EBADF;
    int r;

    r = base_dir(w, &base);
    if (r < 0)
        return log_oom();
    if (asprintf(&work, "%s/work", base) < 0 || asprintf(&dir, "%s/%s", work, w->inst->id) < 0)
        return log_oom();
    r = fs_ensure_dir(work, 0700);
    if (r >= 0)
        r = fs_ensure_dir(dir, 0700);
    if (r < 0)
        return log_error_errno(r, "Cannot make the work directory %s: %m", dir);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return log_error_errno(negative_errno(), "Cannot open the work directory %s: %m", dir);
    r = fs_empty_dir(fd);
    if (r < 0)
        log_warning_errno(r, "Cannot empty the work directory %s completely: %m", dir);
    free(w->work_dir);
    w->work_dir = TAKE_PTR(dir);
    return 0;
}

void workdir_free(struct worker *w)
{
    free(w->work_dir);
    w->work_dir = NULL;
}
