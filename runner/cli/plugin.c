/* `botrunner plugin pack DIR -o FILE.mbp` and `botrunner plugin inspect FILE.mbp [--json]`:
 * build a package from a plugin directory, and say what a package holds and whether the
 * runner would take it, by the same code that checks it in `check` and at start. */
#include "cli/plugin.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "plugin/deps.h"
#include "plugin/package.h"
#include "plugin/verify.h"
#include "util/json.h"
#include "util/macro.h"

enum { EXIT_OK = 0, EXIT_REJECTED = 1, EXIT_USAGE = 2 };

/* Inspect's output is bounded: a manifest is at most 64 KiB, the rest is short. */
#define INSPECT_JSON_MAX (256u * 1024u)

static void usage(FILE *f)
{
    fputs("usage: botrunner plugin pack DIR -o FILE.mbp   build a package from a plugin directory\n"
          "       botrunner plugin inspect FILE.mbp [--json]   what it holds; exit 0 valid, 1 rejected\n",
          f);
}

static int cmd_pack(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    const char *out = NULL;
    char why[512] = "";
    int opt, r;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:h", opts, NULL)) >= 0) {
        if (opt == 'o')
            out = optarg;
        else {
            usage(opt == 'h' ? stdout : stderr);
            return opt == 'h' ? EXIT_OK : EXIT_USAGE;
        }
    }
    if (!out || optind + 1 != argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    r = package_pack(argv[optind], out, why, sizeof(why));
    if (r < 0) {
        fprintf(stderr, "botrunner plugin pack: %s: %s\n", argv[optind], *why ? why : strerror(-r));
        return EXIT_REJECTED;
    }
    printf("%s\n", out);
    return EXIT_OK;
}

/* The verdict on a package that could be read: its modules, then its dependencies. */
struct verdict {
    int r;
    char why[512];
    char found[MANIFEST_MAX_DEPENDENCIES][64];
    int dep_r[MANIFEST_MAX_DEPENDENCIES];
    char dep_why[MANIFEST_MAX_DEPENDENCIES][256];
};

static void judge(const struct package *p, struct verdict *v)
{
    const struct manifest *m = &p->manifest;

    v->r = plugin_verify_package(p, v->why, sizeof(v->why));
    for (size_t i = 0; i < m->n_dependencies; i++) {
        v->dep_r[i] = deps_check(m->dependencies[i], v->found[i], sizeof(v->found[i]),
                                 v->dep_why[i], sizeof(v->dep_why[i]));
        if (v->dep_r[i] < 0 && v->r >= 0) {
            v->r = v->dep_r[i];
            snprintf(v->why, sizeof(v->why), "%s", v->dep_why[i]);
        }
    }
}

static void print_text(const char *path, const struct package *p, const struct verdict *v)
{
    const struct manifest *m = &p->manifest;

    printf("%s: %s %s%s%s%s\n", path, m->id, m->version, m->license ? " (" : "",
           m->license ? m->license : "", m->license ? ")" : "");
    printf("  sha256:        %s\n", p->sha256);
    printf("  size:          %zu bytes, %zu entr%s\n", p->size, p->n_entries,
           p->n_entries == 1 ? "y" : "ies");
    printf("  modules:      ");
    for (size_t i = 0; i < m->n_modules; i++)
        printf(" %s", m->modules[i]);
    printf("\n  main_class:    %s\n", m->main_class);
    printf("  database:      %s\n", m->database ? "yes" : "no");
    printf("  config:        %s\n", m->config ? "yes" : "no");
    printf("  config_schema: %s\n", m->config_schema_json ? m->config_schema_json : "none");
    printf("  dependencies: %s\n", m->n_dependencies ? "" : " none");
    for (size_t i = 0; i < m->n_dependencies; i++)
        printf("    %s: %s%s%s\n", m->dependencies[i], v->dep_r[i] >= 0 ? "found " : "",
               v->dep_r[i] >= 0 ? v->found[i] : "", v->dep_r[i] >= 0 ? "" : v->dep_why[i]);
    if (v->r >= 0)
        printf("verdict: valid\n");
    else
        printf("verdict: rejected: %s\n", v->why);
}

static void json_strings(struct json_writer *w, char *const *v, size_t n)
{
    json_begin_array(w);
    for (size_t i = 0; i < n; i++)
        json_string(w, v[i]);
    json_end_array(w);
}

static void json_manifest(struct json_writer *w, const struct package *p, const struct verdict *v)
{
    const struct manifest *m = &p->manifest;
    _cleanup_(json_doc_freep) struct json_doc *schema = NULL;

    json_key(w, "id");
    json_string(w, m->id);
    json_key(w, "version");
    json_string(w, m->version);
    json_key(w, "license");
    json_string(w, m->license);
    json_key(w, "modules");
    json_strings(w, m->modules, m->n_modules);
    json_key(w, "main_class");
    json_string(w, m->main_class);
    json_key(w, "database");
    json_bool(w, m->database);
    json_key(w, "config");
    json_bool(w, m->config);
    json_key(w, "config_schema");
    if (m->config_schema_json &&
        json_parse(m->config_schema_json, strlen(m->config_schema_json), INSPECT_JSON_MAX, &schema) >= 0)
        json_value_raw(w, schema, 0);
    else
        json_null(w);
    json_key(w, "dependencies");
    json_begin_array(w);
    for (size_t i = 0; i < m->n_dependencies; i++) {
        json_begin_object(w);
        json_key(w, "spec");
        json_string(w, m->dependencies[i]);
        json_key(w, "found");
        json_string(w, v->dep_r[i] >= 0 ? v->found[i] : NULL);
        json_key(w, "ok");
        json_bool(w, v->dep_r[i] >= 0);
        json_key(w, "reason");
        json_string(w, v->dep_r[i] >= 0 ? NULL : v->dep_why[i]);
        json_end_object(w);
    }
    json_end_array(w);
}

static int print_json(const char *path, const struct package *p, const struct verdict *v)
{
    _cleanup_free_ char *text = NULL;
    struct json_writer w;
    int r;

    json_writer_init(&w, INSPECT_JSON_MAX);
    json_begin_object(&w);
    json_key(&w, "path");
    json_string(&w, path);
    json_key(&w, "sha256");
    json_string(&w, p ? p->sha256 : NULL);
    json_key(&w, "size");
    if (p)
        json_int(&w, (int64_t)p->size);
    else
        json_null(&w);
    if (p)
        json_manifest(&w, p, v);
    json_key(&w, "verdict");
    json_string(&w, v->r >= 0 ? "valid" : "rejected");
    json_key(&w, "reason");
    json_string(&w, v->r >= 0 ? NULL : v->why);
    json_end_object(&w);
    r = json_writer_steal(&w, &text, NULL);
    json_writer_done(&w);
    if (r < 0)
        return r;
    puts(text);
    return 0;
}

static int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    _cleanup_(package_freep) struct package *p = NULL;
    struct verdict v = {0};
    bool as_json = false;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
        if (opt == 'j')
            as_json = true;
        else {
            usage(opt == 'h' ? stdout : stderr);
            return opt == 'h' ? EXIT_OK : EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    v.r = package_open(argv[optind], &p, v.why, sizeof(v.why));
    if (v.r >= 0)
        judge(p, &v);
    if (as_json) {
        if (print_json(argv[optind], p, &v) < 0)
            return EXIT_REJECTED;
    } else if (p)
        print_text(argv[optind], p, &v);
    else
        printf("%s: verdict: rejected: %s\n", argv[optind], v.why);
    return v.r >= 0 ? EXIT_OK : EXIT_REJECTED;
}

int cli_plugin(int argc, char **argv)
{
    if (argc >= 2 && streq(argv[1], "pack"))
        return cmd_pack(argc - 1, argv + 1);
    if (argc >= 2 && streq(argv[1], "inspect"))
        return cmd_inspect(argc - 1, argv + 1);
    usage(stderr);
    return EXIT_USAGE;
}
