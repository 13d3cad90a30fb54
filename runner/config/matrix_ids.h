/* Grammar checks for the Matrix identifiers and addresses the config holds: server names,
 * user ids, room ids, and the homeserver and status addresses. Pure functions, no I/O. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The spec caps user and room ids at 255 bytes. */
#define MATRIX_ID_MAX 255

/* hostname, IPv4 literal or [IPv6] literal, optionally ":port". */
bool matrix_server_name_is_valid(const char *s);
/* "@localpart:server_name" where server_name is exactly the given one and localpart is
 * [a-z0-9-]+ (the seed's rule for bot accounts, stricter than the spec's historical grammar). */
bool matrix_user_id_is_valid(const char *s, const char *server_name);
/* "!opaque:server" (room versions 1-11) or "!" + 43 unpadded base64url characters (room
 * version 12, whose ids carry no server). */
bool matrix_room_id_is_valid(const char *s);
/* "#localpart:server": a room alias. localpart is one or more bytes that are neither
 * controls, space nor ':' (UTF-8 beyond ASCII allowed); at most 255 bytes in all. */
bool matrix_room_alias_is_valid(const char *s);

enum addr_class {
    ADDR_INVALID,   /* not an IP literal */
    ADDR_LOCALHOST, /* the name "localhost": refused with its own explanation */
    ADDR_LOOPBACK,  /* 127.0.0.0/8 or ::1 */
    ADDR_OTHER_IP,  /* an IP literal off loopback */
};
/* Classify an address written as in a URL host ("127.0.0.1", "[::1]") or bare ("::1"). */
enum addr_class addr_classify(const char *host);

struct http_url {
    bool https;
    char host[256]; /* as written, IPv6 with its brackets */
    uint16_t port;  /* the explicit port, else 80 / 443 */
};
/* A host name in a URL: DNS labels of [A-Za-z0-9-] separated by dots. */
bool http_host_is_valid(const char *host);

/* Parse scheme://host[:port][/] strictly: no user info, path, query or fragment (the
 * Client-Server API lives at the root). Returns 0 or -EINVAL with a reason in why. */
int http_url_parse(const char *url, struct http_url *ret, const char **why);
