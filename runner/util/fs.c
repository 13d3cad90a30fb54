/* Making and emptying the runner's own directories. Everything works relative to open
 * directory descriptors (openat, unlinkat with O_NOFOLLOW), so a symlink planted inside a
 * directory being emptied is removed as a link and never leads the removal elsewhere. */
#include "util/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/macro.h"

int fs_ensure_dir(const char *path, mode_t mode)
{
    struct stat st;

    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return negative_errno();
    if (lstat(path, &st) < 0)
        return negative_errno();
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (st.st_uid != geteuid())
        return -EPERM;
    if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0)
        return negative_errno();
    return 0;
}

static void keep_first(int *first, int r)
{
    if (r < 0 && *first == 0)
        *first = r;
}

static int empty_at(int dfd, dev_t dev, unsigned depth)
{
    DIR *d;
    struct dirent *de;
    int first = 0, fd;

    if (depth > FS_MAX_DEPTH)
        return -ELOOP;
    /* fdopendir takes the descriptor: work on a duplicate, the caller keeps dfd. */
    fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return negative_errno();
    d = fdopendir(fd);
    if (!d) {
        keep_first(&first, negative_errno());
        close(fd);
        return first;
    }
    while ((errno = 0, de = readdir(d))) {
        struct stat st;
        int sub;

        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            keep_first(&first, negative_errno());
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (unlinkat(dirfd(d), de->d_name, 0) < 0)
                keep_first(&first, negative_errno());
            continue;
        }
        if (st.st_dev != dev) {
            keep_first(&first, -EXDEV);
            continue;
        }
        sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
            keep_first(&first, negative_errno());
            continue;
        }
        /* A directory we may not list yet (mode 0500 from an extraction): make it ours. */
        (void)fchmod(sub, 0700);
        keep_first(&first, empty_at(sub, dev, depth + 1));
        close(sub);
        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0)
            keep_first(&first, negative_errno());
    }
    if (errno)
        keep_first(&first, negative_errno());
    closedir(d);
    return first;
}

int fs_empty_dir(int dfd)
{
    struct stat st;

    if (fstat(dfd, &st) < 0)
        return negative_errno();
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    return empty_at(dfd, st.st_dev, 0);
}

int fs_remove_tree(const char *path)
{
    _cleanup_close_ int fd = -EBADF;
    struct stat st;
    int r;

    if (lstat(path, &st) < 0)
        return negative_errno();
    if (!S_ISDIR(st.st_mode))
        return unlink(path) < 0 ? negative_errno() : 0;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return negative_errno();
    (void)fchmod(fd, 0700);
    r = fs_empty_dir(fd);
    if (rmdir(path) < 0 && r == 0)
        r = negative_errno();
    return r;
}
