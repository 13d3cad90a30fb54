/* libFuzzer target for util/ipc: any bytes either parse or are refused with -EBADMSG; what
 * parses, re-built field by field with the builder, is byte-identical and parses again to
 * the same fields. The helpers (kind, int64, unescape) must agree with the parse. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/ipc.h"
#include "util/macro.h"
#include "util/utf8.h"

/* A property that failed: abort so libFuzzer keeps the input. Not assert(): it must not
 * vanish under NDEBUG. */
#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_fields(const struct ipc_message *m)
{
    int64_t v;

    CHECK(m->n_fields >= 1 && m->n_fields <= IPC_MAX_FIELDS);
    for (size_t i = 0; i < m->n_fields; i++) {
        const char *key = ipc_field_key(m, i), *value = ipc_field_value(m, i);
        size_t klen = strlen(key);
        _cleanup_free_ char *esc = NULL, *back = NULL;

        CHECK(klen >= 1 && klen <= IPC_KEY_MAX);
        CHECK(ipc_get(m, key) == value); /* keys are unique: lookup finds this field */
        CHECK(utf8_is_valid(value, strlen(value)));
        CHECK(ipc_escape(value, &esc) == 0);
        CHECK(!strchr(esc, '\n') && !strchr(esc, '\r'));
        CHECK(ipc_unescape(esc, &back) == 0 && streq(back, value));

        int r = ipc_get_int64(m, key, &v);
        CHECK(r == 0 || r == -EBADMSG || r == -ERANGE);
        if (r == 0) {
            char s[32];
            snprintf(s, sizeof s, "%" PRId64, v);
            CHECK(streq(s, value));
        }
    }
    int kind = ipc_kind(m);
    CHECK(kind == -EBADMSG || (kind >= IPC_KIND_STATE && kind < IPC_KIND_COUNT));

    /* The counters' reader agrees with the field reader: all five, each a decimal >= 0. */
    struct ipc_counters c;
    static const char *const counters[] = {"COMMANDS", "REPLIES", "PLUGIN_ERRORS",
                                           "SKIPPED_OLD", "REFUSED"};
    bool all = true;
    for (size_t i = 0; i < ELEMENTSOF(counters); i++)
        all &= ipc_get_int64(m, counters[i], &v) == 0 && v >= 0;
    CHECK((ipc_get_counters(m, &c) == 0) == all);
}

static void check_rebuild(const uint8_t *data, size_t size, const struct ipc_message *m)
{
    struct ipc_builder b;
    struct ipc_message m2;
    const char *out;
    size_t len;

    ipc_builder_init(&b);
    for (size_t i = 0; i < m->n_fields; i++)
        ipc_add(&b, ipc_field_key(m, i), ipc_field_value(m, i));
    CHECK(ipc_builder_result(&b, &out, &len) == 0);
    /* Escaping is canonical (one escape per byte that needs one), so the bytes come back. */
    CHECK(len == size && memcmp(out, data, size) == 0);

    CHECK(ipc_parse(out, len, &m2) == 0);
    CHECK(m2.n_fields == m->n_fields);
    for (size_t i = 0; i < m->n_fields; i++) {
        CHECK(streq(ipc_field_key(&m2, i), ipc_field_key(m, i)));
        CHECK(streq(ipc_field_value(&m2, i), ipc_field_value(m, i)));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ipc_message m;
    int r;

    r = ipc_parse((const char *)data, size, &m);
    if (r < 0) {
        CHECK(r == -EBADMSG);
        return 0;
    }
    CHECK(size <= IPC_MAX_DATAGRAM);
    check_fields(&m);
    check_rebuild(data, size, &m);
    return 0;
}
