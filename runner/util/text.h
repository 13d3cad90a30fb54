/* Small string helpers: quoting untrusted text for messages, edit distance for "did you
 * mean", and character-class checks used by the validators. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Room for a quoted value in a message: long enough to recognise it, short enough that a
 * hostile 64 KiB value cannot flood a terminal or a log. */
#define TEXT_QUOTE_MAX 96

/* Write s as a double-quoted string into buf (capacity cap >= 8), escaping control bytes,
 * quotes, backslashes and bytes >= 0x80 that are not part of valid UTF-8, and cutting long
 * text with "...". Returns buf. */
char *text_quote(const char *s, char *buf, size_t cap);
#define TEXT_QUOTE(s) text_quote((s), (char[TEXT_QUOTE_MAX + 8]){0}, TEXT_QUOTE_MAX + 8)

/* Levenshtein distance, capped: returns limit + 1 as soon as it must exceed limit. */
size_t text_distance(const char *a, const char *b, size_t limit);

/* True when every byte of s is in the set (a C string of allowed characters). */
bool text_only_chars(const char *s, const char *allowed);

#define CHARS_LOWER_DIGITS "abcdefghijklmnopqrstuvwxyz0123456789"
