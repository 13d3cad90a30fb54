/* Cleanup helpers and small macros used everywhere: scope-bound frees and closes in the
 * manner of systemd's _cleanup_, explicit ownership transfer, and array helpers. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f)    __attribute__((cleanup(f)))
#define _unused_        __attribute__((unused))
#define _printf_(a, b)  __attribute__((format(printf, a, b)))
#define _warn_unused_   __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Move ownership out of a cleanup-managed variable: the variable becomes NULL so the
 * cleanup at scope exit does nothing, and the value is handed to the caller. */
#define TAKE_PTR(p)                                                                            \
    ({                                                                                         \
        __typeof__(p) _p_ = (p);                                                               \
        (p) = NULL;                                                                            \
        _p_;                                                                                   \
    })
#define TAKE_FD(fd)                                                                            \
    ({                                                                                         \
        int _fd_ = (fd);                                                                       \
        (fd) = -EBADF;                                                                         \
        _fd_;                                                                                  \
    })

static inline void freep(void *p)
{
    free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        (void)close(*fd);
        errno = saved;
    }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f)
{
    if (*f)
        (void)fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Define a cleanup helper for a type with its own free function, e.g.
 * DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3 *, sqlite3_close) gives sqlite3_closep(). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                \
    static inline void func##p(type *p)                                                        \
    {                                                                                          \
        if (*p)                                                                                \
            func(*p);                                                                          \
    }

/* errno as a negative value, never 0: for call sites that failed but might not have set
 * errno (some libc paths), so the caller still gets an error. */
static inline int negative_errno(void)
{
    return errno > 0 ? -errno : -EIO;
}

#define streq(a, b) (strcmp((a), (b)) == 0)
