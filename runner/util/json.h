/* JSON for the whole runner: a strict RFC 8259 reader (jsmn tokens plus our own grammar check,
 * typed getters by path) and a bounded writer with a sticky error. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"

/* Nesting limit for both reader and writer. Matrix events nest a handful of levels
 * (content -> m.relates_to -> ...); 64 leaves ample room while bounding the recursion of any
 * caller that walks a document, and the writer's fixed nesting state. */
#define JSON_MAX_DEPTH 64

/* Hard ceiling on input text whatever the caller allows: jsmn keeps offsets in int, and no
 * response a bot should hold in memory comes near it. Callers bound their bodies lower. */
#define JSON_MAX_TEXT (64U * 1024 * 1024)

/* ---- Reader ------------------------------------------------------------------------------
 *
 * json_parse() accepts exactly RFC 8259 JSON texts (any value at the top, surrounded by
 * optional whitespace) in UTF-8. Beyond jsmn's tokenizer it checks: number grammar, the
 * literals true/false/null only, string keys, commas and colons where they belong, valid
 * escapes, no raw control characters in strings, strict UTF-8 (utf8_is_valid()), no trailing
 * garbage, no NUL byte anywhere, depth <= JSON_MAX_DEPTH, tokens <= max_tokens.
 *
 * A \u escape naming a lone surrogate or U+0000 is grammatical JSON and parses: refusing the
 * whole document would let one hostile event make a whole sync response unreadable. Such a
 * string is refused by json_get_string() alone (-EILSEQ), since it cannot become UTF-8 in a
 * C string.
 *
 * Tokens are ints: 0 is the root, every value, key and container is one token, in document
 * order. Duplicate keys are kept; lookups return the LAST occurrence (as JavaScript and
 * Python do, so we read what a homeserver written in those languages read), iteration
 * yields all of them.
 *
 * Errors (negative errno) used throughout the reader:
 *   -EBADMSG  not JSON (parse), or the token has the wrong type for the getter (a string
 *             asked for as a number, a fraction asked for as an integer, a path going
 *             through a non-object)
 *   -EILSEQ   raw bytes in a string are not UTF-8 (parse); the string holds U+0000 or an
 *             unpaired surrogate escape (json_get_string())
 *   -E2BIG    len > JSON_MAX_TEXT, more than max_tokens tokens, nesting > JSON_MAX_DEPTH
 *   -ENOENT   a key on the path is missing, an array index is out of range
 *   -ERANGE   a number does not fit the requested C type
 *   -EINVAL   bad arguments: a token not in the document, an empty path segment
 *   -ENOMEM
 */

enum json_type {
    JSON_INVALID = 0, /* not a token of this document */
    JSON_OBJECT,
    JSON_ARRAY,
    JSON_STRING,
    JSON_NUMBER,
    JSON_BOOL,
    JSON_NULL,
};

/* The text (a private copy) and its tokens. Opaque: use the functions below. */
struct json_doc;

/* Parse len bytes at text (no NUL terminator needed). The document keeps its own copy of the
 * text, so the caller's buffer may be freed right after. */
int json_parse(const char *text, size_t len, size_t max_tokens, struct json_doc **ret);
void json_doc_free(struct json_doc *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct json_doc *, json_doc_free)

/* Number of tokens; valid tokens are 0 .. count-1. */
int json_token_count(const struct json_doc *d);
/* JSON_INVALID when tok is not a token of d. */
enum json_type json_type(const struct json_doc *d, int tok);

/* The token's exact source text (for a string: with its quotes, escapes untouched), e.g. to
 * hand one event on as the homeserver sent it. Points into d; valid until d is freed. */
int json_token_raw(const struct json_doc *d, int tok, const char **ret, size_t *ret_len);

/* Follow a dot-separated path of object keys from tok ("rooms.join"); NULL or "" names tok
 * itself. Keys containing a dot are reached with json_get_key(). Keys are compared after
 * unescaping, so "\u0072ooms" matches "rooms". */
int json_get(const struct json_doc *d, int tok, const char *path, int *ret_tok);
/* Look up one literal key (key_len bytes, dots allowed) in object tok. Costs O(members of
 * tok): to visit every member, use json_object_iter(). A key holding \u0000 or a lone
 * surrogate matches nothing. */
int json_get_key(const struct json_doc *d, int tok, const char *key, size_t key_len, int *ret_tok);

/* Element count of array tok (>= 0), or -EBADMSG when tok is not an array. */
int json_array_len(const struct json_doc *d, int tok);
/* Element idx of array tok. Costs O(idx): to walk an array, use json_array_iter(). */
int json_array_at(const struct json_doc *d, int tok, size_t idx, int *ret_tok);

/* Iteration: set *cursor = 0 first, then each call yields the next member and returns 1,
 * or returns 0 at the end (a negative errno when tok has the wrong type or the cursor was
 * not produced by these functions). Each step is O(1).
 *     for (int cur = 0, k, v; json_object_iter(d, obj, &cur, &k, &v) > 0;) ...        */
int json_object_iter(const struct json_doc *d, int tok, int *cursor, int *ret_key, int *ret_value);
int json_array_iter(const struct json_doc *d, int tok, int *cursor, int *ret_elem);

/* Typed getters: resolve path from tok as json_get() does, then convert. */

/* Unescaped, NUL-terminated, malloc'd UTF-8 (no NUL inside: U+0000 gives -EILSEQ). */
int json_get_string(const struct json_doc *d, int tok, const char *path, char **ret);
/* The same for text that must not be lost for one bad character (a message's body): each
 * \u0000 and each unpaired surrogate escape becomes U+FFFD instead of failing. Never
 * -EILSEQ; the result is valid UTF-8 without NUL, at most as long as the escaped text. */
int json_get_text(const struct json_doc *d, int tok, const char *path, char **ret);
/* Integers only (no fraction, no exponent); -ERANGE outside int64_t. "-0" reads as 0. */
int json_get_int64(const struct json_doc *d, int tok, const char *path, int64_t *ret);
/* Any number; -ERANGE when its magnitude overflows a double (1e400). Underflow rounds
 * towards zero silently, as strtod does. */
int json_get_double(const struct json_doc *d, int tok, const char *path, double *ret);
int json_get_bool(const struct json_doc *d, int tok, const char *path, bool *ret);
/* 1 when the value is null, 0 when it is present and not null, negative errno otherwise. */
int json_is_null(const struct json_doc *d, int tok, const char *path);
/* 1 when the string at path equals s (after unescaping), 0 when it differs or cannot be
 * unescaped, -EBADMSG when it is not a string. No allocation: for checks like event types. */
int json_string_equals(const struct json_doc *d, int tok, const char *path, const char *s);

/* ---- Writer ------------------------------------------------------------------------------
 *
 * Builds one JSON text in a growing buffer of at most max bytes (not counting the NUL that
 * json_writer_steal() adds). The first error is kept in .error and every later call is a
 * no-op, so call sites check once, at json_writer_steal(). Commas and colons are inserted
 * automatically. Errors:
 *   -EINVAL  misuse: a value where a key is needed, a key outside an object, an end that does
 *            not match its begin, a second top-level value; at steal: unclosed containers,
 *            a key without its value, or nothing written
 *   -EILSEQ  a string or key that is not valid UTF-8
 *   -EDOM    json_double() of NaN or an infinity
 *   -E2BIG   the text would exceed max, or nesting would exceed JSON_MAX_DEPTH
 *   -ENOMEM
 * Strings are escaped: '"', '\\', control characters (\b \f \n \r \t, others as \u00XX), and
 * U+2028/U+2029 as \u2028/\u2029 (they end lines in JavaScript). Embedded NULs (through
 * json_string_len()) become \u0000.
 */
struct json_writer {
    char *buf;
    size_t len, cap, max;
    int error;
    /* Nesting state: open containers, and for each whether it is an object and whether it
     * has members yet (a comma is due before the next one). */
    unsigned depth;
    bool after_key;    /* a key was written, its value comes next */
    bool root_started; /* the one top-level value has begun */
    bool is_object[JSON_MAX_DEPTH];
    bool has_members[JSON_MAX_DEPTH];
};

void json_writer_init(struct json_writer *w, size_t max_size);
/* Frees the buffer; safe to call twice, and after json_writer_steal(). */
void json_writer_done(struct json_writer *w);
void json_begin_object(struct json_writer *w);
void json_end_object(struct json_writer *w);
void json_begin_array(struct json_writer *w);
void json_end_array(struct json_writer *w);
void json_key(struct json_writer *w, const char *key);                  /* escapes like a string */
void json_string(struct json_writer *w, const char *s);                 /* NULL emits null */
void json_string_len(struct json_writer *w, const char *s, size_t len); /* NULL emits null */
void json_int(struct json_writer *w, int64_t v);
/* Shortest of %.15g/%.16g/%.17g that reads back as the same double; -EDOM if not finite. */
void json_double(struct json_writer *w, double v);
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);
/* A value of a parsed document, copied as its source text (already checked by json_parse,
 * so it is valid JSON): for passing on parts of what a homeserver sent. */
void json_value_raw(struct json_writer *w, const struct json_doc *d, int tok);
/* 0 and the complete text (NUL-terminated, malloc'd; *ret_len may be NULL), or the sticky
 * error. Either way the writer gives up its buffer: on error it is freed. */
int json_writer_steal(struct json_writer *w, char **ret, size_t *ret_len);
