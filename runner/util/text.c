/* Implementation of the small string helpers in text.h. Everything here is bounded by its
 * arguments and allocates nothing on the heap. */
#include "util/text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not valid. */
static size_t utf8_seq_len(const unsigned char *s)
{
    uint32_t cp;
    size_t n;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

char *text_quote(const char *s, char *buf, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;

    buf[o++] = '"';
    while (*p) {
        char esc[8];
        size_t n = utf8_seq_len(p), elen;

        if (n == 1 && (*p < 0x20 || *p == 0x7f))
            elen = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *p);
        else if (n == 1 && (*p == '"' || *p == '\\'))
            elen = (size_t)snprintf(esc, sizeof(esc), "\\%c", *p);
        else if (n == 0)
            elen = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *p), n = 1;
        else
            memcpy(esc, p, n), elen = n;
        /* The last character needs room for the closing quote and the NUL only; any
         * other also for "..." in case what follows does not fit. */
        size_t reserve = p[n] ? 5 : 2;
        if (o + elen + reserve > cap) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, esc, elen);
        o += elen;
        p += n;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

size_t text_distance(const char *a, const char *b, size_t limit)
{
    /* Two rows of the classic dynamic programme; keys are short, and longer strings are
     * cut at 64 bytes since a suggestion for them would not help anyway. */
    enum { MAXLEN = 64 };
    size_t la = strnlen(a, MAXLEN), lb = strnlen(b, MAXLEN);
    size_t prev[MAXLEN + 1], cur[MAXLEN + 1];

    if ((la > lb ? la - lb : lb - la) > limit)
        return limit + 1;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t best;
        cur[0] = i;
        best = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            if (cur[j] < best)
                best = cur[j];
        }
        if (best > limit)
            return limit + 1;
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb] > limit ? limit + 1 : prev[lb];
}

bool text_only_chars(const char *s, const char *allowed)
{
    return strspn(s, allowed) == strlen(s);
}
