/* UTF-8 per RFC 3629: validation (plain and "text" without controls), decoding of one code
 * point, encoding of one code point. Table 3-7 of the Unicode standard is the reference. */
#include <errno.h>

#include "util/utf8.h"

static bool is_continuation(unsigned char b)
{
    return (b & 0xC0) == 0x80;
}

/* The range the second byte must fall in depends on the lead byte: this is where overlongs
 * (E0 80.., F0 80..), surrogates (ED A0..) and values above U+10FFFF (F4 90..) are cut off,
 * so the later bytes only need to be continuation bytes. */
static bool second_byte_ok(unsigned char lead, unsigned char b)
{
    switch (lead) {
    case 0xE0:
        return b >= 0xA0 && b <= 0xBF;
    case 0xED:
        return b >= 0x80 && b <= 0x9F;
    case 0xF0:
        return b >= 0x90 && b <= 0xBF;
    case 0xF4:
        return b >= 0x80 && b <= 0x8F;
    default:
        return is_continuation(b);
    }
}

int utf8_decode(const char *s, size_t len, uint32_t *ret_cp)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n;
    uint32_t cp;

    if (len == 0)
        return -EINVAL;

    if (u[0] < 0x80) {
        *ret_cp = u[0];
        return 1;
    }
    /* C0 and C1 could only start overlong two-byte forms; F5..FF start nothing valid. */
    if (u[0] >= 0xC2 && u[0] <= 0xDF) {
        n = 2;
        cp = u[0] & 0x1F;
    } else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
        n = 3;
        cp = u[0] & 0x0F;
    } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
        n = 4;
        cp = u[0] & 0x07;
    } else
        return -EILSEQ;

    if (len < n || !second_byte_ok(u[0], u[1]))
        return -EILSEQ;
    for (size_t i = 1; i < n; i++) {
        if (!is_continuation(u[i]))
            return -EILSEQ;
        cp = (cp << 6) | (u[i] & 0x3F);
    }
    *ret_cp = cp;
    return (int)n;
}

static bool validate(const char *s, size_t len, bool text)
{
    size_t i = 0;

    while (i < len) {
        unsigned char b = (unsigned char)s[i];
        uint32_t cp;
        int n;

        if (b < 0x80) {
            if (text && b < 0x20 && b != '\t' && b != '\n' && b != '\r')
                return false;
            i++;
            continue;
        }
        n = utf8_decode(s + i, len - i, &cp);
        if (n < 0)
            return false;
        i += (size_t)n;
    }
    return true;
}

bool utf8_is_valid(const char *s, size_t len)
{
    return validate(s, len, false);
}

bool utf8_is_valid_text(const char *s, size_t len)
{
    return validate(s, len, true);
}

int utf8_encode(uint32_t cp, char out[static UTF8_MAX_BYTES])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return -EINVAL;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > UTF8_MAX_CODEPOINT)
        return -EINVAL;
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
