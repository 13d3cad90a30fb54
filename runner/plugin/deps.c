/* A plugin's dependencies (maubot.yaml's `dependencies`), checked on this machine. Each is an
 * external program: NAME must be an executable file on PATH; NAME OP VERSION[, OP VERSION]
 * also runs `NAME --version` (no shell, stdin /dev/null, 10 s, 4 KiB of output) and compares
 * the first version in what it prints, component by component (numbers as numbers). */
#include "plugin/deps.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/macro.h"
#include "util/text.h"

/* A program answers --version at once; one that takes longer is hung, not slow. */
#define DEPS_TIMEOUT_MS 10000
#define DEPS_OUTPUT_MAX 4096u
#define DEPS_PATH_MAX   4096u

extern char **environ;

_printf_(4, 5) static int fail(int r, char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return r;
}

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '+' || c == '-';
}

static bool version_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '+' || c == '-';
}

int deps_parse(const char *spec, struct dep *ret)
{
    struct dep d = {0};
    const char *c = spec;
    size_t n;

    for (n = 0; name_char(c[n]); n++)
        ;
    if (n == 0 || n >= sizeof(d.name) || c[0] == '-' || c[0] == '.')
        return -EBADMSG;
    memcpy(d.name, c, n);
    c += n;
    while (*c) {
        struct dep_constraint *k;
        c += strspn(c, " ");
        if (d.n_constraints == DEPS_MAX_CONSTRAINTS)
            return -E2BIG;
        k = &d.constraints[d.n_constraints];
        n = strspn(c, "<>=!");
        if (n == 0 || n > 2 || n >= sizeof(k->op))
            return -EBADMSG;
        memcpy(k->op, c, n);
        if (!streq(k->op, ">=") && !streq(k->op, "<=") && !streq(k->op, "==") &&
            !streq(k->op, "!=") && !streq(k->op, ">") && !streq(k->op, "<"))
            return -EBADMSG;
        c += n;
        c += strspn(c, " ");
        for (n = 0; version_char(c[n]); n++)
            ;
        if (n == 0 || n >= sizeof(k->version))
            return -EBADMSG;
        memcpy(k->version, c, n);
        c += n;
        c += strspn(c, " ");
        d.n_constraints++;
        if (*c == ',')
            c++;
        else if (*c)
            return -EBADMSG;
    }
    *ret = d;
    return 0;
}

/* Compare two versions component by component; numeric components as numbers, others as
 * text, a missing component as less ("1.2" < "1.2.1"). */
int deps_version_compare(const char *a, const char *b)
{
    while (*a || *b) {
        size_t na = strcspn(a, ".-+"), nb = strcspn(b, ".-+");
        bool da = na > 0 && strspn(a, "0123456789") >= na, db = nb > 0 && strspn(b, "0123456789") >= nb;
        int c;

        if (na == 0 && nb == 0)
            c = 0;
        else if (na == 0 || nb == 0)
            return na == 0 ? -1 : 1;
        else if (da && db) {
            /* Without leading zeros, the longer number is the larger. */
            while (na > 1 && *a == '0')
                a++, na--;
            while (nb > 1 && *b == '0')
                b++, nb--;
            c = na != nb ? (na < nb ? -1 : 1) : strncmp(a, b, na);
        } else {
            c = strncmp(a, b, na < nb ? na : nb);
            if (c == 0 && na != nb)
                c = na < nb ? -1 : 1;
        }
        if (c != 0)
            return c < 0 ? -1 : 1;
        a += na;
        b += nb;
        if (*a)
            a++;
        if (*b)
            b++;
    }
    return 0;
}

static bool satisfies(const char *found, const struct dep_constraint *k)
{
    int c = deps_version_compare(found, k->version);

    return streq(k->op, ">=")   ? c >= 0
           : streq(k->op, ">")  ? c > 0
           : streq(k->op, "<=") ? c <= 0
           : streq(k->op, "<")  ? c < 0
           : streq(k->op, "==") ? c == 0
                                : c != 0;
}

/* name on PATH, as execvp would find it: the first executable regular file. */
static int find_program(const char *name, char *ret, size_t cap)
{
    const char *path = getenv("PATH");

    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        struct stat st;
        int k = snprintf(ret, cap, "%.*s%s%s", (int)n, p, n ? "/" : "", name);
        if (k > 0 && (size_t)k < cap && stat(ret, &st) == 0 && S_ISREG(st.st_mode) &&
            access(ret, X_OK) == 0)
            return 0;
        p += n;
        if (*p == ':')
            p++;
    }
    return -ENOENT;
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* `program --version`, its stdout and stderr together, bounded in bytes and time. */
static int run_version(const char *program, char *out, size_t cap)
{
    char *const argv[] = {(char *)program, (char *)"--version", NULL};
    posix_spawn_file_actions_t fa;
    int pipefd[2], status, r = 0;
    size_t len = 0;
    int64_t deadline;
    pid_t pid;

    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return negative_errno();
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    r = -posix_spawn(&pid, program, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (r < 0) {
        close(pipefd[0]);
        return r;
    }
    deadline = now_ms() + DEPS_TIMEOUT_MS;
    for (;;) {
        struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
        int64_t left = deadline - now_ms();
        ssize_t n;
        if (left <= 0) {
            r = -ETIME;
            break;
        }
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
            r = negative_errno();
            break;
        }
        if (!(p.revents & (POLLIN | POLLHUP)))
            continue;
        n = read(pipefd[0], out + len, len + 1 < cap ? cap - 1 - len : 0);
        if (n <= 0 || len + 1 >= cap)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    close(pipefd[0]);
    if (r < 0)
        (void)kill(pid, SIGKILL);
    (void)waitpid(pid, &status, 0);
    return r;
}

/* The first version-looking word in text: digits, then one or more ".x" parts. */
static bool first_version(const char *text, char *ret, size_t cap)
{
    for (const char *c = text; *c; c++) {
        size_t n;
        if (!isdigit((unsigned char)*c) || (c > text && (isalnum((unsigned char)c[-1]))))
            continue;
        for (n = 0; version_char(c[n]); n++)
            ;
        while (n > 0 && strchr(".+-", c[n - 1]))
            n--;
        if (memchr(c, '.', n) && n < cap) {
            memcpy(ret, c, n);
            ret[n] = '\0';
            return true;
        }
    }
    return false;
}

int deps_check(const char *spec, char *found, size_t found_cap, char *why, size_t cap)
{
    char program[DEPS_PATH_MAX], out[DEPS_OUTPUT_MAX];
    struct dep d;
    int r;

    snprintf(found, found_cap, "-");
    r = deps_parse(spec, &d);
    if (r < 0)
        return fail(-EBADMSG, why, cap, "dependency %s is not NAME or NAME>=VERSION",
                    TEXT_QUOTE(spec));
    if (find_program(d.name, program, sizeof(program)) < 0)
        return fail(-ENOENT, why, cap, "dependency %s: no program %s on PATH", TEXT_QUOTE(spec),
                    d.name);
    snprintf(found, found_cap, "found");
    if (d.n_constraints == 0)
        return 0;
    r = run_version(program, out, sizeof(out));
    if (r < 0)
        return fail(r, why, cap, "dependency %s: `%s --version` %s", TEXT_QUOTE(spec), d.name,
                    r == -ETIME ? "did not answer in 10 s" : strerror(-r));
    if (!first_version(out, found, found_cap))
        return fail(-EBADMSG, why, cap, "dependency %s: `%s --version` printed no version",
                    TEXT_QUOTE(spec), d.name);
    for (size_t i = 0; i < d.n_constraints; i++)
        if (!satisfies(found, &d.constraints[i]))
            return fail(-ERANGE, why, cap, "dependency %s: %s is version %s", TEXT_QUOTE(spec),
                        d.name, found);
    return 0;
}

int deps_check_all(const struct manifest *m, char *why, size_t cap)
{
    char found[64];

    for (size_t i = 0; i < m->n_dependencies; i++) {
        int r = deps_check(m->dependencies[i], found, sizeof(found), why, cap);
        if (r < 0)
            return r;
    }
    return 0;
}
