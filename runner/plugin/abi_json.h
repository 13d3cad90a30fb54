/* The JSON functions of the plugin ABI (br_runner.json_*): the runner's own reader and writer
 * (util/json.c) behind the ABI's opaque types, so no plugin hand-parses or hand-builds JSON. */
#pragma once

#include "botrunner/plugin.h"

/* Bounds a plugin may ask for: a document of 16 MiB (yt-dlp's -J output of a long playlist
 * stays far below) and the writer's default, an event's size. */
#define ABI_JSON_MAX_TEXT    (16u * 1024u * 1024u)
#define ABI_JSON_WRITER_MAX  (16u * 1024u * 1024u)
#define ABI_JSON_WRITER_DFLT (64u * 1024u)

int abi_json_parse(const char *text, size_t len, size_t max_nodes, struct br_json **ret);
void abi_json_free(struct br_json *doc);
enum br_json_type abi_json_type(const struct br_json *doc, int node);
int abi_json_get(const struct br_json *doc, int node, const char *path, int *ret_node);
int abi_json_member(const struct br_json *doc, int node, const char *key, int *ret_node);
int abi_json_string(const struct br_json *doc, int node, const char *path, char **ret);
int abi_json_int64(const struct br_json *doc, int node, const char *path, int64_t *ret);
int abi_json_double(const struct br_json *doc, int node, const char *path, double *ret);
int abi_json_bool(const struct br_json *doc, int node, const char *path, bool *ret);
int abi_json_array_len(const struct br_json *doc, int node);
int abi_json_array_iter(const struct br_json *doc, int node, int *cursor, int *ret_elem);
int abi_json_object_iter(const struct br_json *doc, int node, int *cursor, int *ret_key,
                         int *ret_value);

int abi_json_writer_new(size_t max_bytes, struct br_json_writer **ret);
void abi_json_begin_object(struct br_json_writer *w);
void abi_json_end_object(struct br_json_writer *w);
void abi_json_begin_array(struct br_json_writer *w);
void abi_json_end_array(struct br_json_writer *w);
void abi_json_key(struct br_json_writer *w, const char *key);
void abi_json_put_string(struct br_json_writer *w, const char *s);
void abi_json_put_int(struct br_json_writer *w, int64_t v);
void abi_json_put_double(struct br_json_writer *w, double v);
void abi_json_put_bool(struct br_json_writer *w, bool v);
void abi_json_put_null(struct br_json_writer *w);
void abi_json_put_node(struct br_json_writer *w, const struct br_json *doc, int node);
int abi_json_finish(struct br_json_writer *w, char **ret);
