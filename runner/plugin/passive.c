/* The passive handler registry: compiled patterns with their handlers, and the matching of
 * one message against all of them, bounded in patterns, body length and groups. */
#include "plugin/passive.h"

#include <errno.h>
#include <locale.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

struct passive_handler {
    regex_t re;
    br_passive_t handler;
};

struct passive_registry {
    struct passive_handler handlers[PASSIVE_MAX_HANDLERS];
    size_t n;
    /* C.UTF-8, so that "." and case folding work on characters, not bytes; (locale_t)0
     * when the system lacks it (then the process's locale applies). */
    locale_t utf8;
};

int passive_registry_new(struct passive_registry **ret)
{
    struct passive_registry *p = calloc(1, sizeof(*p));

    if (!p)
        return -ENOMEM;
    p->utf8 = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
    *ret = p;
    return 0;
}

void passive_registry_free(struct passive_registry *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        regfree(&p->handlers[i].re);
    if (p->utf8)
        freelocale(p->utf8);
    free(p);
}

size_t passive_count(const struct passive_registry *p)
{
    return p->n;
}

/* A backslash before 1..9 outside an escape pair. Inside a bracket expression "\1" is two
 * literal characters, and refusing it there too is the price of a simple check. */
static bool has_backreference(const char *s)
{
    for (; *s; s++)
        if (*s == '\\') {
            if (s[1] >= '1' && s[1] <= '9')
                return true;
            if (s[1] == '\0')
                return false;
            s++;
        }
    return false;
}

/* Make the registry's locale the thread's; returns the previous one for leave_locale(). */
static locale_t enter_locale(const struct passive_registry *p)
{
    return p->utf8 ? uselocale(p->utf8) : (locale_t)0;
}

static void leave_locale(locale_t previous)
{
    if (previous)
        (void)uselocale(previous);
}

int passive_add(struct passive_registry *p, const char *regex, br_passive_t handler, char *why,
                size_t cap)
{
    struct passive_handler *h;
    locale_t prev;
    int r;

    if (!regex || !*regex || !handler) {
        snprintf(why, cap, "an empty pattern or no handler");
        return -EINVAL;
    }
    if (strlen(regex) > PASSIVE_MAX_PATTERN) {
        snprintf(why, cap, "the pattern is longer than %u bytes", PASSIVE_MAX_PATTERN);
        return -E2BIG;
    }
    if (has_backreference(regex)) {
        snprintf(why, cap, "back-references (\\1..\\9) are not supported");
        return -EINVAL;
    }
    if (p->n >= PASSIVE_MAX_HANDLERS) {
        snprintf(why, cap, "more than %u passive handlers", PASSIVE_MAX_HANDLERS);
        return -ENOSPC;
    }
    h = &p->handlers[p->n];
    prev = enter_locale(p);
    r = regcomp(&h->re, regex, REG_EXTENDED | REG_ICASE);
    leave_locale(prev);
    if (r != 0) {
        regerror(r, &h->re, why, cap);
        return r == REG_ESPACE ? -ENOMEM : -EINVAL;
    }
    h->handler = handler;
    p->n++;
    return 0;
}

/* The match and its groups as NUL-terminated copies in one buffer; match[i] NULL for a
 * group that took no part. Returns the number of entries, or -EILSEQ when a piece is not
 * valid UTF-8, or -ENOMEM. */
static int copy_groups(const char *text, const regmatch_t *pm, size_t n, const char **match,
                       char **ret_buf)
{
    size_t total = 0, off = 0;
    char *buf;

    for (size_t i = 0; i < n; i++)
        if (pm[i].rm_so >= 0)
            total += (size_t)(pm[i].rm_eo - pm[i].rm_so) + 1;
    buf = malloc(total + 1);
    if (!buf)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t len = (size_t)(pm[i].rm_eo - pm[i].rm_so);

        match[i] = NULL;
        if (pm[i].rm_so < 0)
            continue;
        if (!utf8_is_valid(text + pm[i].rm_so, len)) {
            free(buf);
            return -EILSEQ;
        }
        memcpy(buf + off, text + pm[i].rm_so, len);
        buf[off + len] = '\0';
        match[i] = buf + off;
        off += len + 1;
    }
    *ret_buf = buf;
    return (int)n;
}

/* Match one handler; returns 1 when it matched (and ran, its result in *ret_result), 0 when
 * not, or -ENOMEM. */
static int run_one(const struct passive_handler *h, const char *text, void *state,
                   const struct br_message *msg, int *ret_result)
{
    regmatch_t pm[PASSIVE_MAX_MATCH];
    const char *match[PASSIVE_MAX_MATCH];
    _cleanup_free_ char *buf = NULL;
    size_t n = h->re.re_nsub + 1 < PASSIVE_MAX_MATCH ? h->re.re_nsub + 1 : PASSIVE_MAX_MATCH;
    int r;

    if (regexec(&h->re, text, PASSIVE_MAX_MATCH, pm, 0) != 0)
        return 0;
    r = copy_groups(text, pm, n, match, &buf);
    if (r == -EILSEQ)
        return 0;
    if (r < 0)
        return r;
    *ret_result = h->handler(state, msg, match, n);
    return 1;
}

int passive_run(const struct passive_registry *p, void *state, const struct br_message *msg)
{
    _cleanup_free_ char *cut = NULL;
    const char *text = msg->body ? msg->body : "";
    size_t len = strlen(text);
    int matched = 0, first_error = 0;
    locale_t prev;

    if (p->n == 0)
        return 0;
    if (len > PASSIVE_MAX_BODY) {
        /* Back up to the start of a character: a cut sequence would be no text. */
        len = PASSIVE_MAX_BODY;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--;
        cut = strndup(text, len);
        if (!cut)
            return -ENOMEM;
        text = cut;
    }

    prev = enter_locale(p);
    for (size_t i = 0; i < p->n; i++) {
        int result = 0, r = run_one(&p->handlers[i], text, state, msg, &result);

        if (r < 0 && first_error == 0)
            first_error = r;
        if (r > 0)
            matched++;
        if (r > 0 && result < 0 && first_error == 0)
            first_error = result;
    }
    leave_locale(prev);
    return first_error < 0 ? first_error : matched;
}
