/* UTF-8 validation, decoding and encoding, strict to RFC 3629: the one place that decides
 * which byte sequences are text, for the JSON layer and anything else taking outside input. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest Unicode scalar value; RFC 3629 forbids encoding anything above it. */
#define UTF8_MAX_CODEPOINT 0x10FFFFU
/* The longest encoding of one code point under RFC 3629. */
#define UTF8_MAX_BYTES 4

/* True when the len bytes at s are well-formed UTF-8: no overlong forms, no encoded
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence at the end.
 * NUL bytes (U+0000) are accepted: they are valid UTF-8. Use utf8_is_valid_text() where a
 * NUL or a control character must not get through. s may be NULL when len is 0. */
bool utf8_is_valid(const char *s, size_t len);

/* As utf8_is_valid(), and also rejects NUL and the C0 control characters (U+0001..U+001F)
 * other than tab, line feed and carriage return. DEL (U+007F) and C1 controls are accepted:
 * they are not C0. */
bool utf8_is_valid_text(const char *s, size_t len);

/* Decode the code point at the start of s (len bytes available). Returns the number of
 * bytes it takes (1..4) and writes *ret_cp; -EILSEQ when the bytes are not a well-formed
 * sequence (by the rules of utf8_is_valid()); -EINVAL when len is 0. */
int utf8_decode(const char *s, size_t len, uint32_t *ret_cp);

/* Encode cp into out. Returns the byte count (1..4); -EINVAL for a surrogate or a value
 * above U+10FFFF, which have no UTF-8 form. U+0000 encodes to one NUL byte. */
int utf8_encode(uint32_t cp, char out[static UTF8_MAX_BYTES]);
