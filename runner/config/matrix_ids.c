/* Implements the identifier and address grammars of matrix_ids.h, following the Matrix
 * spec's appendices on server names and identifiers, tightened where the seed says so. */
#include "config/matrix_ids.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/macro.h"
#include "util/text.h"

#define HOST_CHARS    CHARS_LOWER_DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-"
#define BASE64URL     CHARS_LOWER_DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
#define V12_ID_LENGTH 43

static bool port_is_valid(const char *s)
{
    char *end;
    long v;

    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 5)
        return false;
    v = strtol(s, &end, 10);
    return v >= 1 && v <= 65535;
}

static bool dns_name_is_valid(const char *s, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > 230)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (strchr(HOST_CHARS, s[i]) && s[i] != '.') {
            if (++label > 63)
                return false;
        } else
            return false;
    }
    return label > 0;
}

bool http_host_is_valid(const char *host)
{
    return dns_name_is_valid(host, strlen(host));
}

bool matrix_server_name_is_valid(const char *s)
{
    char host[256];
    const char *colon;
    size_t hlen;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || (size_t)(close - s - 1) >= sizeof(host))
            return false;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return false;
        return close[1] == '\0' || (close[1] == ':' && port_is_valid(close + 2));
    }
    colon = strchr(s, ':');
    hlen = colon ? (size_t)(colon - s) : strlen(s);
    if (colon && !port_is_valid(colon + 1))
        return false;
    return dns_name_is_valid(s, hlen);
}

bool matrix_user_id_is_valid(const char *s, const char *server_name)
{
    const char *colon;
    size_t llen;

    if (s[0] != '@' || strlen(s) > MATRIX_ID_MAX)
        return false;
    colon = strchr(s, ':');
    if (!colon)
        return false;
    llen = (size_t)(colon - s - 1);
    if (llen == 0 || strspn(s + 1, CHARS_LOWER_DIGITS "-") != llen)
        return false;
    return streq(colon + 1, server_name);
}

bool matrix_room_id_is_valid(const char *s)
{
    const char *colon;
    size_t olen;

    if (s[0] != '!' || strlen(s) > MATRIX_ID_MAX)
        return false;
    colon = strchr(s, ':');
    if (!colon)
        return strlen(s + 1) == V12_ID_LENGTH && text_only_chars(s + 1, BASE64URL);
    olen = (size_t)(colon - s - 1);
    if (olen == 0)
        return false;
    for (size_t i = 1; i <= olen; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return matrix_server_name_is_valid(colon + 1);
}

bool matrix_room_alias_is_valid(const char *s)
{
    const char *colon;

    if (s[0] != '#' || strlen(s) > MATRIX_ID_MAX)
        return false;
    colon = strchr(s, ':');
    if (!colon || colon == s + 1)
        return false;
    for (const char *c = s + 1; c < colon; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return false;
    return matrix_server_name_is_valid(colon + 1);
}

enum addr_class addr_classify(const char *host)
{
    char buf[64];
    struct in_addr a4;
    struct in6_addr a6;
    size_t len = strlen(host);

    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
        return ADDR_LOCALHOST;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127 ? ADDR_LOOPBACK : ADDR_OTHER_IP;
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof(buf)) {
        memcpy(buf, host + 1, len - 2);
        buf[len - 2] = '\0';
        host = buf;
    }
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) ? ADDR_LOOPBACK : ADDR_OTHER_IP;
    return ADDR_INVALID;
}

int http_url_parse(const char *url, struct http_url *ret, const char **why)
{
    struct http_url u = {0};
    const char *p, *host_end, *port = NULL;
    size_t hlen;

    if (strncmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        p = url + 8, u.https = true;
    else
        return *why = "must start with http:// or https://", -EINVAL;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end)
            return *why = "has an unterminated IPv6 literal", -EINVAL;
        host_end++;
    } else
        host_end = p + strcspn(p, ":/?#@");
    if (*host_end == '@' || strchr(p, '@'))
        return *why = "must not contain user information (credentials belong in *_file keys)",
               -EINVAL;
    hlen = (size_t)(host_end - p);
    if (hlen == 0)
        return *why = "has no host", -EINVAL;
    if (hlen >= sizeof(u.host))
        return *why = "has a host name longer than 255 bytes", -EINVAL;
    memcpy(u.host, p, hlen);
    u.host[hlen] = '\0';
    p = host_end;
    if (*p == ':') {
        char digits[8] = "";
        size_t n = strspn(p + 1, "0123456789");
        if (n == 0 || n >= sizeof(digits))
            return *why = "has an invalid port", -EINVAL;
        memcpy(digits, p + 1, n);
        port = digits;
        if (!port_is_valid(port))
            return *why = "has a port outside 1..65535", -EINVAL;
        u.port = (uint16_t)atoi(port);
        p += 1 + n;
    } else
        u.port = u.https ? 443 : 80;
    if (!(*p == '\0' || (p[0] == '/' && p[1] == '\0')))
        return *why = "must not have a path, query or fragment", -EINVAL;
    *ret = u;
    return 0;
}
