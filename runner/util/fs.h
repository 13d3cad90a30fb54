/* File system helpers for directories the runner owns (the work directories, package
 * extractions, the trash): making them safely and emptying them without following links. */
#pragma once

#include <sys/types.h>

/* Depth removed below a directory: plugins' job directories and packages are a few levels
 * deep; past this the removal stops with -ELOOP rather than recursing without bound. */
#define FS_MAX_DEPTH 32

/* path as a directory of ours with exactly mode: made (its parent must exist) or, when it
 * exists, checked to be a directory (not a symlink) owned by us, then chmod'ed. */
int fs_ensure_dir(const char *path, mode_t mode);

/* Remove everything inside the directory open at dfd (not dfd itself): symlinks are removed,
 * never followed; subdirectories on another file system are left alone (-EXDEV at the end).
 * Goes on past errors and returns the first. */
int fs_empty_dir(int dfd);

/* Remove path and everything below it, as fs_empty_dir(). -ENOENT when there is nothing. */
int fs_remove_tree(const char *path);
