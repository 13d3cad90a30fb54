/* JSON reader (our strict grammar check, then jsmn for the token tree, then getters over the
 * tokens) and the bounded JSON writer. The only file that includes jsmn's implementation. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "util/json.h"
#include "util/utf8.h"

/* First allocation of a writer's buffer: most bodies we send (a message, a receipt, a
 * filter) fit in it, larger ones double from there. */
#define JSON_WRITER_INITIAL 256

struct json_doc {
    /* Copy of the input followed by ' ' and NUL: jsmn in strict mode only ends a primitive
     * at a delimiter, so a top-level number or literal needs one after it. */
    char *text;
    size_t len;
    jsmntok_t *tokens;
    int *next; /* next[i]: the index just past token i and all its descendants */
    int count;
};

/* ---- Grammar check ---------------------------------------------------------------------
 *
 * jsmn, even in strict mode, accepts "[1 2]", "[1,,]", "{"a":1,}", "tru", "01", raw control
 * characters in strings, and stops silently at a NUL. So before jsmn sees a text, this scanner
 * checks the RFC 8259 grammar completely, counts the tokens jsmn will produce, and enforces
 * the depth and token limits. It is iterative: nesting costs one bool of a fixed array. */

enum scan_state {
    SCAN_VALUE,       /* a value must come next */
    SCAN_KEY,         /* a key (and its colon) must come next */
    SCAN_AFTER_VALUE, /* a comma, a closing bracket, or the end of the text */
    SCAN_END,
};

struct scanner {
    const char *s;
    size_t len, pos;
    size_t tokens, max_tokens;
    unsigned depth;
    bool in_object[JSON_MAX_DEPTH];
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void scan_ws(struct scanner *sc)
{
    while (sc->pos < sc->len) {
        char c = sc->s[sc->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        sc->pos++;
    }
}

static int scan_count_token(struct scanner *sc)
{
    if (sc->tokens >= sc->max_tokens)
        return -E2BIG;
    sc->tokens++;
    return 0;
}

/* An escape starts at s[i] == '\\'; returns its length, or -EBADMSG. */
static int scan_escape(const struct scanner *sc, size_t i)
{
    if (sc->len - i < 2)
        return -EBADMSG;
    switch (sc->s[i + 1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return 2;
    case 'u':
        if (sc->len - i < 6)
            return -EBADMSG;
        for (size_t k = 2; k < 6; k++)
            if (hex_value(sc->s[i + k]) < 0)
                return -EBADMSG;
        return 6;
    default:
        return -EBADMSG;
    }
}

/* A string from its opening quote at sc->pos to just past its closing quote. */
static int scan_string(struct scanner *sc)
{
    size_t i = sc->pos + 1;

    for (;;) {
        unsigned char c;
        uint32_t cp;
        int n;

        if (i >= sc->len)
            return -EBADMSG;
        c = (unsigned char)sc->s[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return -EBADMSG;
        if (c == '\\')
            n = scan_escape(sc, i);
        else if (c < 0x80)
            n = 1;
        else if ((n = utf8_decode(sc->s + i, sc->len - i, &cp)) < 0)
            n = -EILSEQ;
        if (n < 0)
            return n;
        i += (size_t)n;
    }
    sc->pos = i + 1;
    return 0;
}

static void scan_digits(struct scanner *sc)
{
    while (sc->pos < sc->len && is_digit(sc->s[sc->pos]))
        sc->pos++;
}

/* RFC 8259: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?  What may follow is checked
 * by SCAN_AFTER_VALUE, which is what rejects "01" and "1x". */
static int scan_number(struct scanner *sc)
{
    if (sc->s[sc->pos] == '-')
        sc->pos++;
    if (sc->pos >= sc->len || !is_digit(sc->s[sc->pos]))
        return -EBADMSG;
    if (sc->s[sc->pos] == '0')
        sc->pos++;
    else
        scan_digits(sc);

    if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
        sc->pos++;
        if (sc->pos >= sc->len || !is_digit(sc->s[sc->pos]))
            return -EBADMSG;
        scan_digits(sc);
    }
    if (sc->pos < sc->len && (sc->s[sc->pos] == 'e' || sc->s[sc->pos] == 'E')) {
        sc->pos++;
        if (sc->pos < sc->len && (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-'))
            sc->pos++;
        if (sc->pos >= sc->len || !is_digit(sc->s[sc->pos]))
            return -EBADMSG;
        scan_digits(sc);
    }
    return 0;
}

static int scan_literal(struct scanner *sc)
{
    static const char *const literals[] = {"true", "false", "null"};

    for (size_t i = 0; i < ELEMENTSOF(literals); i++) {
        size_t n = strlen(literals[i]);
        if (sc->len - sc->pos >= n && memcmp(sc->s + sc->pos, literals[i], n) == 0) {
            sc->pos += n;
            return 0;
        }
    }
    return -EBADMSG;
}

/* Opens a container (closing it at once when empty) or reads a whole scalar. */
static int scan_value(struct scanner *sc, enum scan_state *state)
{
    char c, close;
    int r;

    if (sc->pos >= sc->len)
        return -EBADMSG;
    r = scan_count_token(sc);
    if (r < 0)
        return r;

    c = sc->s[sc->pos];
    if (c == '{' || c == '[') {
        if (sc->depth >= JSON_MAX_DEPTH)
            return -E2BIG;
        close = c == '{' ? '}' : ']';
        sc->in_object[sc->depth++] = c == '{';
        sc->pos++;
        scan_ws(sc);
        if (sc->pos < sc->len && sc->s[sc->pos] == close) {
            sc->pos++;
            sc->depth--;
            *state = SCAN_AFTER_VALUE;
        } else
            *state = c == '{' ? SCAN_KEY : SCAN_VALUE;
        return 0;
    }

    *state = SCAN_AFTER_VALUE;
    if (c == '"')
        return scan_string(sc);
    if (c == '-' || is_digit(c))
        return scan_number(sc);
    return scan_literal(sc);
}

static int scan_key(struct scanner *sc, enum scan_state *state)
{
    int r;

    if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
        return -EBADMSG;
    r = scan_count_token(sc);
    if (r < 0)
        return r;
    r = scan_string(sc);
    if (r < 0)
        return r;
    scan_ws(sc);
    if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
        return -EBADMSG;
    sc->pos++;
    *state = SCAN_VALUE;
    return 0;
}

static int scan_after_value(struct scanner *sc, enum scan_state *state)
{
    bool object;

    if (sc->depth == 0) {
        /* The top-level value is complete: only whitespace may follow, and it was skipped. */
        if (sc->pos != sc->len)
            return -EBADMSG;
        *state = SCAN_END;
        return 0;
    }
    if (sc->pos >= sc->len)
        return -EBADMSG;

    object = sc->in_object[sc->depth - 1];
    if (sc->s[sc->pos] == ',') {
        sc->pos++;
        *state = object ? SCAN_KEY : SCAN_VALUE;
        return 0;
    }
    if (sc->s[sc->pos] == (object ? '}' : ']')) {
        sc->pos++;
        sc->depth--;
        *state = SCAN_AFTER_VALUE;
        return 0;
    }
    return -EBADMSG;
}

/* Each step consumes at least one byte, except the last (SCAN_AFTER_VALUE at the end of the
 * text), so the loop is bounded by len. */
static int scan_document(const char *s, size_t len, size_t max_tokens, size_t *ret_tokens)
{
    struct scanner sc = {.s = s, .len = len, .max_tokens = max_tokens};
    enum scan_state state = SCAN_VALUE;
    int r = 0;

    while (state != SCAN_END) {
        scan_ws(&sc);
        switch (state) {
        case SCAN_VALUE:
            r = scan_value(&sc, &state);
            break;
        case SCAN_KEY:
            r = scan_key(&sc, &state);
            break;
        case SCAN_AFTER_VALUE:
            r = scan_after_value(&sc, &state);
            break;
        case SCAN_END:
            break;
        }
        if (r < 0)
            return r;
    }
    *ret_tokens = sc.tokens;
    return 0;
}

/* ---- Parsing ---------------------------------------------------------------------------- */

void json_doc_free(struct json_doc *d)
{
    if (!d)
        return;
    free(d->text);
    free(d->tokens);
    free(d->next);
    free(d);
}

/* next[] lets lookups skip a whole subtree in one step. Tokens come in document order and
 * every descendant of i has an index above i, so walking backwards and pushing each token's
 * end into its parent settles every subtree before its parent is read. */
static void link_subtrees(struct json_doc *d)
{
    for (int i = 0; i < d->count; i++)
        d->next[i] = i + 1;
    for (int i = d->count - 1; i > 0; i--) {
        int p = d->tokens[i].parent;
        if (d->next[p] < d->next[i])
            d->next[p] = d->next[i];
    }
}

int json_parse(const char *text, size_t len, size_t max_tokens, struct json_doc **ret)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    jsmn_parser parser;
    size_t count;
    int n, r;

    assert(ret);
    if (!text && len > 0)
        return -EINVAL;
    if (len > JSON_MAX_TEXT)
        return -E2BIG;

    r = scan_document(text, len, max_tokens, &count);
    if (r < 0)
        return r;

    d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->text = malloc(len + 2);
    d->tokens = calloc(count, sizeof(jsmntok_t));
    d->next = calloc(count, sizeof(int));
    if (!d->text || !d->tokens || !d->next)
        return -ENOMEM;
    memcpy(d->text, text, len);
    d->text[len] = ' ';
    d->text[len + 1] = '\0';
    d->len = len;

    jsmn_init(&parser);
    n = jsmn_parse(&parser, d->text, len + 1, d->tokens, (unsigned)count);
    /* The grammar check passed, so jsmn must agree on every token; if it does not, neither
     * can be trusted with this text. */
    if (n < 0 || (size_t)n != count)
        return -EBADMSG;
    d->count = n;
    link_subtrees(d);

    *ret = TAKE_PTR(d);
    return 0;
}

/* ---- Token access ----------------------------------------------------------------------- */

static bool tok_ok(const struct json_doc *d, int tok)
{
    return d && tok >= 0 && tok < d->count;
}

int json_token_count(const struct json_doc *d)
{
    return d ? d->count : 0;
}

enum json_type json_type(const struct json_doc *d, int tok)
{
    if (!tok_ok(d, tok))
        return JSON_INVALID;
    switch (d->tokens[tok].type) {
    case JSMN_OBJECT:
        return JSON_OBJECT;
    case JSMN_ARRAY:
        return JSON_ARRAY;
    case JSMN_STRING:
        return JSON_STRING;
    case JSMN_PRIMITIVE:
        /* The grammar check admitted only numbers and the three literals. */
        switch (d->text[d->tokens[tok].start]) {
        case 't':
        case 'f':
            return JSON_BOOL;
        case 'n':
            return JSON_NULL;
        default:
            return JSON_NUMBER;
        }
    default:
        return JSON_INVALID;
    }
}

int json_token_raw(const struct json_doc *d, int tok, const char **ret, size_t *ret_len)
{
    int start, end;

    if (!tok_ok(d, tok))
        return -EINVAL;
    start = d->tokens[tok].start;
    end = d->tokens[tok].end;
    /* jsmn's string tokens exclude the quotes; the raw text includes them. */
    if (d->tokens[tok].type == JSMN_STRING) {
        start--;
        end++;
    }
    *ret = d->text + start;
    if (ret_len)
        *ret_len = (size_t)(end - start);
    return 0;
}

static uint32_t hex4(const char *s)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = (v << 4) | (uint32_t)hex_value(s[i]);
    return v;
}

/* U+FFFD REPLACEMENT CHARACTER, what json_get_text() puts where a character cannot be. */
#define REPLACEMENT_CHARACTER "\xef\xbf\xbd"

/* The code point of the \uXXXX escape at s[*i] (a surrogate pair counts as one), advancing
 * *i past what it consumed: false for U+0000 or an unpaired surrogate, of which only the
 * one escape is consumed (what follows a lone high surrogate is read next, on its own). */
static bool escape_decode(const char *s, size_t end, size_t *i, uint32_t *ret_cp)
{
    uint32_t cp = hex4(s + *i + 2), low;

    *i += 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return false; /* a low surrogate with no high one before it */
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - *i < 6 || s[*i] != '\\' || s[*i + 1] != 'u')
            return false;
        low = hex4(s + *i + 2);
        if (low < 0xDC00 || low > 0xDFFF)
            return false;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        *i += 6;
    }
    *ret_cp = cp;
    return cp != 0;
}

/* Decode one character of a string token's content at *pos (< end) into out and advance.
 * Returns its byte count (1..4), or -EILSEQ for U+0000 or an unpaired surrogate, which have
 * no place in a C string of UTF-8; with lossy, such an escape becomes U+FFFD instead.
 * Escapes were checked by the grammar, so they are complete; raw bytes are copied one at a
 * time (they were checked as UTF-8 too). */
static int string_next(const char *s, size_t end, size_t *pos, bool lossy,
                       char out[static UTF8_MAX_BYTES])
{
    size_t i = *pos;
    uint32_t cp = 0;
    int n = -EILSEQ;

    if (s[i] != '\\') {
        out[0] = s[i];
        *pos = i + 1;
        return 1;
    }

    switch (s[i + 1]) {
    case 'b':
        out[0] = '\b';
        break;
    case 'f':
        out[0] = '\f';
        break;
    case 'n':
        out[0] = '\n';
        break;
    case 'r':
        out[0] = '\r';
        break;
    case 't':
        out[0] = '\t';
        break;
    case 'u':
        out[0] = 0;
        break;
    default: /* '"', '\\', '/' stand for themselves */
        out[0] = s[i + 1];
        break;
    }
    if (s[i + 1] != 'u') {
        *pos = i + 2;
        return 1;
    }

    if (escape_decode(s, end, &i, &cp))
        n = utf8_encode(cp, out);
    if (n < 0) {
        if (!lossy)
            return -EILSEQ;
        memcpy(out, REPLACEMENT_CHARACTER, 3);
        n = 3;
    }
    *pos = i;
    return n;
}

/* Does string token tok, unescaped, equal the n bytes at s? */
static bool string_token_equals(const struct json_doc *d, int tok, const char *s, size_t n)
{
    size_t pos = (size_t)d->tokens[tok].start, end = (size_t)d->tokens[tok].end;
    size_t k = 0;

    /* Keys are almost never escaped: compare the bytes directly then. */
    if (!memchr(d->text + pos, '\\', end - pos))
        return end - pos == n && (n == 0 || memcmp(d->text + pos, s, n) == 0);

    while (pos < end) {
        char c[UTF8_MAX_BYTES];
        int m = string_next(d->text, end, &pos, false, c);
        if (m < 0 || n - k < (size_t)m || memcmp(s + k, c, (size_t)m) != 0)
            return false;
        k += (size_t)m;
    }
    return k == n;
}

int json_get_key(const struct json_doc *d, int tok, const char *key, size_t key_len, int *ret_tok)
{
    int found = -1;

    if (!tok_ok(d, tok) || (!key && key_len > 0))
        return -EINVAL;
    if (d->tokens[tok].type != JSMN_OBJECT)
        return -EBADMSG;

    /* Members are key tokens, each followed by its value; next[key] skips both. The last
     * match wins (see json.h), so the scan does not stop at the first. */
    for (int k = tok + 1; k < d->next[tok]; k = d->next[k])
        if (string_token_equals(d, k, key, key_len))
            found = k + 1;
    if (found < 0)
        return -ENOENT;
    *ret_tok = found;
    return 0;
}

static bool path_ok(const char *path)
{
    const char *p = path;

    for (;;) {
        const char *dot = strchrnul(p, '.');
        if (dot == p)
            return false;
        if (*dot == '\0')
            return true;
        p = dot + 1;
    }
}

int json_get(const struct json_doc *d, int tok, const char *path, int *ret_tok)
{
    int cur = tok;

    if (!tok_ok(d, tok))
        return -EINVAL;
    if (path && *path) {
        if (!path_ok(path))
            return -EINVAL;
        for (const char *p = path;;) {
            const char *dot = strchrnul(p, '.');
            int r = json_get_key(d, cur, p, (size_t)(dot - p), &cur);
            if (r < 0)
                return r;
            if (*dot == '\0')
                break;
            p = dot + 1;
        }
    }
    *ret_tok = cur;
    return 0;
}

int json_array_len(const struct json_doc *d, int tok)
{
    if (!tok_ok(d, tok))
        return -EINVAL;
    if (d->tokens[tok].type != JSMN_ARRAY)
        return -EBADMSG;
    return d->tokens[tok].size;
}

int json_array_at(const struct json_doc *d, int tok, size_t idx, int *ret_tok)
{
    int cursor = 0, elem;

    for (size_t i = 0;; i++) {
        int r = json_array_iter(d, tok, &cursor, &elem);
        if (r < 0)
            return r;
        if (r == 0)
            return -ENOENT;
        if (i == idx)
            break;
    }
    *ret_tok = elem;
    return 0;
}

/* Common to both iterators: the position of the next member of container tok, or 0 at the
 * end. A cursor is 0 (start) or a value an iterator stored: a direct child of tok. */
static int iter_position(const struct json_doc *d, int tok, jsmntype_t type, const int *cursor)
{
    int pos;

    if (!tok_ok(d, tok) || !cursor)
        return -EINVAL;
    if (d->tokens[tok].type != type)
        return -EBADMSG;
    pos = *cursor == 0 ? tok + 1 : *cursor;
    if (pos <= tok || pos > d->next[tok])
        return -EINVAL;
    if (pos == d->next[tok])
        return 0;
    if (d->tokens[pos].parent != tok)
        return -EINVAL;
    return pos;
}

int json_object_iter(const struct json_doc *d, int tok, int *cursor, int *ret_key, int *ret_value)
{
    int pos = iter_position(d, tok, JSMN_OBJECT, cursor);

    if (pos <= 0)
        return pos;
    if (ret_key)
        *ret_key = pos;
    if (ret_value)
        *ret_value = pos + 1;
    *cursor = d->next[pos];
    return 1;
}

int json_array_iter(const struct json_doc *d, int tok, int *cursor, int *ret_elem)
{
    int pos = iter_position(d, tok, JSMN_ARRAY, cursor);

    if (pos <= 0)
        return pos;
    if (ret_elem)
        *ret_elem = pos;
    *cursor = d->next[pos];
    return 1;
}

/* ---- Typed getters ---------------------------------------------------------------------- */

/* Resolve path and check the type in one step, for every getter below. */
static int get_typed(const struct json_doc *d, int tok, const char *path, enum json_type type,
                     int *ret_tok)
{
    int t, r;

    r = json_get(d, tok, path, &t);
    if (r < 0)
        return r;
    if (json_type(d, t) != type)
        return -EBADMSG;
    *ret_tok = t;
    return 0;
}

static int string_get(const struct json_doc *d, int tok, const char *path, bool lossy,
                      char **ret)
{
    _cleanup_free_ char *s = NULL;
    size_t pos, end, o = 0;
    int t, r;

    r = get_typed(d, tok, path, JSON_STRING, &t);
    if (r < 0)
        return r;

    pos = (size_t)d->tokens[t].start;
    end = (size_t)d->tokens[t].end;
    /* Unescaping never lengthens: 2 bytes -> 1, \uXXXX -> at most 3, a pair of 12 -> 4. */
    s = malloc(end - pos + 1);
    if (!s)
        return -ENOMEM;
    while (pos < end) {
        char c[UTF8_MAX_BYTES];
        int n = string_next(d->text, end, &pos, lossy, c);
        if (n < 0)
            return n;
        memcpy(s + o, c, (size_t)n);
        o += (size_t)n;
    }
    s[o] = '\0';
    *ret = TAKE_PTR(s);
    return 0;
}

int json_get_string(const struct json_doc *d, int tok, const char *path, char **ret)
{
    return string_get(d, tok, path, false, ret);
}

int json_get_text(const struct json_doc *d, int tok, const char *path, char **ret)
{
    return string_get(d, tok, path, true, ret);
}

int json_get_int64(const struct json_doc *d, int tok, const char *path, int64_t *ret)
{
    const char *p, *end;
    uint64_t mag = 0, limit;
    bool negative;
    int t, r;

    r = get_typed(d, tok, path, JSON_NUMBER, &t);
    if (r < 0)
        return r;

    p = d->text + d->tokens[t].start;
    end = d->text + d->tokens[t].end;
    negative = *p == '-';
    if (negative)
        p++;
    limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; p < end; p++) {
        unsigned digit;
        if (!is_digit(*p))
            return -EBADMSG; /* a fraction or an exponent: not an integer */
        digit = (unsigned)(*p - '0');
        if (mag > (limit - digit) / 10)
            return -ERANGE;
        mag = mag * 10 + digit;
    }
    if (!negative)
        *ret = (int64_t)mag;
    else if (mag == (uint64_t)INT64_MAX + 1)
        *ret = INT64_MIN;
    else
        *ret = -(int64_t)mag;
    return 0;
}

static void freelocalep(locale_t *l)
{
    if (*l)
        freelocale(*l);
}

/* Numbers are read and written in the C locale whatever the process's locale is (a plugin
 * may call setlocale()): JSON's decimal point is always '.'. */
static locale_t c_numeric_locale(void)
{
    return newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

int json_get_double(const struct json_doc *d, int tok, const char *path, double *ret)
{
    _cleanup_(freelocalep) locale_t loc = (locale_t)0;
    char *end;
    double v;
    int t, r;

    r = get_typed(d, tok, path, JSON_NUMBER, &t);
    if (r < 0)
        return r;
    loc = c_numeric_locale();
    if (!loc)
        return -ENOMEM;

    /* The number is followed by a delimiter in the text (or the ' ' json_parse() appended),
     * so strtod stops at its end. */
    v = strtod_l(d->text + d->tokens[t].start, &end, loc);
    if (end != d->text + d->tokens[t].end)
        return -EBADMSG;
    if (isinf(v))
        return -ERANGE;
    *ret = v;
    return 0;
}

int json_get_bool(const struct json_doc *d, int tok, const char *path, bool *ret)
{
    int t, r;

    r = get_typed(d, tok, path, JSON_BOOL, &t);
    if (r < 0)
        return r;
    *ret = d->text[d->tokens[t].start] == 't';
    return 0;
}

int json_is_null(const struct json_doc *d, int tok, const char *path)
{
    int t, r;

    r = json_get(d, tok, path, &t);
    if (r < 0)
        return r;
    return json_type(d, t) == JSON_NULL;
}

int json_string_equals(const struct json_doc *d, int tok, const char *path, const char *s)
{
    int t, r;

    if (!s)
        return -EINVAL;
    r = get_typed(d, tok, path, JSON_STRING, &t);
    if (r < 0)
        return r;
    return string_token_equals(d, t, s, strlen(s));
}

/* ---- Writer ----------------------------------------------------------------------------- */

static void writer_fail(struct json_writer *w, int error)
{
    if (w->error == 0)
        w->error = error;
}

void json_writer_init(struct json_writer *w, size_t max_size)
{
    assert(w);
    *w = (struct json_writer){0};
    /* One byte is always kept for the NUL that steal adds, so max + 1 must not wrap. */
    w->max = max_size < SIZE_MAX ? max_size : SIZE_MAX - 1;
}

void json_writer_done(struct json_writer *w)
{
    if (!w)
        return;
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

static void put(struct json_writer *w, const char *data, size_t n)
{
    if (w->error || n == 0)
        return;
    if (n > w->max - w->len) {
        writer_fail(w, -E2BIG);
        return;
    }
    /* len + n <= max <= SIZE_MAX - 1: the "+ 1" for the final NUL cannot wrap. */
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : JSON_WRITER_INITIAL;
        char *b;

        while (cap < w->len + n + 1 && cap <= w->max)
            cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
        if (cap > w->max + 1)
            cap = w->max + 1;
        b = realloc(w->buf, cap);
        if (!b) {
            writer_fail(w, -ENOMEM);
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, n);
    w->len += n;
}

static void put_str(struct json_writer *w, const char *s)
{
    put(w, s, strlen(s));
}

/* The escape for byte s[i] (and how many bytes it covers), or NULL if it goes out as is. */
static const char *escape_for(const unsigned char *s, size_t len, size_t i, char buf[static 7],
                              size_t *ret_skip)
{
    *ret_skip = 1;
    switch (s[i]) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        break;
    }
    if (s[i] < 0x20) {
        snprintf(buf, 7, "\\u%04x", s[i]);
        return buf;
    }
    /* U+2028 and U+2029 (E2 80 A8/A9) are line terminators to JavaScript. */
    if (s[i] == 0xE2 && len - i >= 3 && s[i + 1] == 0x80 &&
        (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
        *ret_skip = 3;
        return s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
    }
    return NULL;
}

/* A quoted, escaped string; runs of bytes needing no escape go out in one put(). */
static void put_escaped(struct json_writer *w, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0;

    if (!utf8_is_valid(s, len)) {
        writer_fail(w, -EILSEQ);
        return;
    }
    put(w, "\"", 1);
    for (size_t i = 0; i < len;) {
        char buf[7];
        size_t skip;
        const char *esc = escape_for(u, len, i, buf, &skip);

        if (!esc) {
            i++;
            continue;
        }
        put(w, s + run, i - run);
        put_str(w, esc);
        i += skip;
        run = i;
    }
    put(w, s + run, len - run);
    put(w, "\"", 1);
}

/* Called before every value: checks that a value may come here, writes the comma an array
 * needs, and records that the key's value (or the top-level value) has come. */
static bool before_value(struct json_writer *w)
{
    unsigned top;

    if (w->error)
        return false;
    if (w->depth == 0) {
        if (w->root_started) {
            writer_fail(w, -EINVAL);
            return false;
        }
        w->root_started = true;
        return true;
    }
    top = w->depth - 1;
    if (w->is_object[top]) {
        if (!w->after_key) {
            writer_fail(w, -EINVAL);
            return false;
        }
        w->after_key = false;
        return true;
    }
    if (w->has_members[top])
        put(w, ",", 1);
    w->has_members[top] = true;
    return w->error == 0;
}

static void begin(struct json_writer *w, bool object)
{
    if (!before_value(w))
        return;
    if (w->depth >= JSON_MAX_DEPTH) {
        writer_fail(w, -E2BIG);
        return;
    }
    w->is_object[w->depth] = object;
    w->has_members[w->depth] = false;
    w->depth++;
    put(w, object ? "{" : "[", 1);
}

static void end(struct json_writer *w, bool object)
{
    if (w->error)
        return;
    if (w->depth == 0 || w->is_object[w->depth - 1] != object || w->after_key) {
        writer_fail(w, -EINVAL);
        return;
    }
    w->depth--;
    put(w, object ? "}" : "]", 1);
}

void json_begin_object(struct json_writer *w)
{
    begin(w, true);
}

void json_end_object(struct json_writer *w)
{
    end(w, true);
}

void json_begin_array(struct json_writer *w)
{
    begin(w, false);
}

void json_end_array(struct json_writer *w)
{
    end(w, false);
}

void json_key(struct json_writer *w, const char *key)
{
    unsigned top;

    if (w->error)
        return;
    top = w->depth - 1;
    if (!key || w->depth == 0 || !w->is_object[top] || w->after_key) {
        writer_fail(w, -EINVAL);
        return;
    }
    if (w->has_members[top])
        put(w, ",", 1);
    w->has_members[top] = true;
    put_escaped(w, key, strlen(key));
    put(w, ":", 1);
    w->after_key = true;
}

void json_string_len(struct json_writer *w, const char *s, size_t len)
{
    if (!s) {
        json_null(w);
        return;
    }
    if (before_value(w))
        put_escaped(w, s, len);
}

void json_string(struct json_writer *w, const char *s)
{
    json_string_len(w, s, s ? strlen(s) : 0);
}

void json_int(struct json_writer *w, int64_t v)
{
    char buf[24]; /* "-9223372036854775808" and its NUL */

    if (!before_value(w))
        return;
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    put_str(w, buf);
}

void json_value_raw(struct json_writer *w, const struct json_doc *d, int tok)
{
    const char *raw;
    size_t len;
    int r = json_token_raw(d, tok, &raw, &len);

    if (r < 0) {
        writer_fail(w, r);
        return;
    }
    if (!before_value(w))
        return;
    put(w, raw, len);
}

/* The shortest of %.15g, %.16g, %.17g that reads back as v (%.17g always does). Every
 * finite double prints as a valid JSON number this way ("1e+300", "-0", "0.1"). */
static int format_double(double v, char buf[static 32])
{
    _cleanup_(freelocalep) locale_t loc = c_numeric_locale();
    locale_t old;

    if (!loc)
        return -ENOMEM;
    old = uselocale(loc);
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        if (strtod_l(buf, NULL, loc) == v)
            break;
    }
    uselocale(old);
    return 0;
}

void json_double(struct json_writer *w, double v)
{
    char buf[32];
    int r;

    if (w->error)
        return;
    if (!isfinite(v)) {
        writer_fail(w, -EDOM);
        return;
    }
    r = format_double(v, buf);
    if (r < 0) {
        writer_fail(w, r);
        return;
    }
    if (before_value(w))
        put_str(w, buf);
}

void json_bool(struct json_writer *w, bool v)
{
    if (before_value(w))
        put_str(w, v ? "true" : "false");
}

void json_null(struct json_writer *w)
{
    if (before_value(w))
        put_str(w, "null");
}

int json_writer_steal(struct json_writer *w, char **ret, size_t *ret_len)
{
    int r;

    assert(w);
    assert(ret);
    if (w->depth > 0 || w->after_key || !w->root_started)
        writer_fail(w, -EINVAL);
    if (w->error) {
        r = w->error;
        json_writer_done(w);
        return r;
    }
    w->buf[w->len] = '\0'; /* put() always leaves room for it */
    if (ret_len)
        *ret_len = w->len;
    *ret = TAKE_PTR(w->buf);
    w->len = w->cap = 0;
    return 0;
}
