/*
 * Fuzz target: the text form of addresses.
 *
 * 1. evio_addr_string() on random sockaddr bytes of a random length (in a buffer of
 *    exactly that length, so ASAN sees any read past it) and random output sizes: it
 *    returns EVIO_EINVAL or the full length; the text is NUL-terminated, truncated to the
 *    buffer, the same whatever the buffer size, and for IPv4/IPv6 it is what inet_ntop and
 *    the port give ("1.2.3.4:80", "[::1]:80"); for a unix address, the path up to its NUL.
 * 2. A round trip through servers: an address the input builds (127.x.y.z, ::1, or a
 *    unix socket name in the current directory; port 0; tcp/udp and their 4/6 forms) is
 *    written with evio_addr_string(), served, and the server's evio_server_addr_string()
 *    is served again: both servers bind the address that was built (the second one the
 *    very port the first got), and the second one's text is the first one's.
 *
 * The process works in a fresh temporary directory under $TMPDIR (unix socket files land
 * there).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <evio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz_bytes.h"
#include "fuzz_check.h"

static char g_dir[4096];

static void remove_dir(void) {
    if (chdir("/") == 0)
        rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR"); /* scripts/fuzz and replay.sh give one they remove */
    snprintf(g_dir, sizeof g_dir, "%s/evio-fuzz-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    CHECK(mkdtemp(g_dir) != NULL);
    CHECK(chdir(g_dir) == 0);
    atexit(remove_dir);
    return 0;
}

/* ---- 1. random bytes -------------------------------------------------------------------- */

/* What the text must be, from the bytes alone; -1 where EVIO_EINVAL is due. */
static int expected_text(const unsigned char *raw, size_t len, char *out, size_t outlen) {
    sa_family_t family;
    if (len < sizeof family)
        return -1;
    memcpy(&family, raw, sizeof family);
    char host[INET6_ADDRSTRLEN];
    if (family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in sin;
        memcpy(&sin, raw, sizeof sin);
        inet_ntop(AF_INET, &sin.sin_addr, host, sizeof host);
        return snprintf(out, outlen, "%s:%u", host, ntohs(sin.sin_port));
    }
    if (family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, raw, sizeof sin6);
        inet_ntop(AF_INET6, &sin6.sin6_addr, host, sizeof host);
        return snprintf(out, outlen, "[%s]:%u", host, ntohs(sin6.sin6_port));
    }
    if (family == AF_UNIX) {
        size_t off = offsetof(struct sockaddr_un, sun_path), max = sizeof(struct sockaddr_un);
        const char *path = (const char *)raw + off;
        size_t plen = len > off ? (len < max ? len : max) - off : 0;
        plen = strnlen(path, plen);
        return snprintf(out, outlen, "%.*s", (int)plen, path);
    }
    return -1;
}

static void random_bytes(fuzz_bytes *fb) {
    size_t len = fuzz_below(fb, sizeof(struct sockaddr_storage) + 1);
    sa_family_t families[] = {AF_INET, AF_INET6, AF_UNIX};
    uint8_t pick = fuzz_u8(fb);
    const uint8_t *src;
    size_t got = fuzz_take(fb, len, &src);
    unsigned char *raw = malloc(len ? len : 1); /* exactly `len` bytes: over-reads show */
    CHECK(raw != NULL);
    memset(raw, 0, len);
    memcpy(raw, src, got);
    if (pick < 192 && len >= sizeof(sa_family_t)) /* mostly a known family */
        memcpy(raw, &families[pick % 3], sizeof(sa_family_t));

    char want[256];
    int k = expected_text(raw, len, want, sizeof want);
    int rc = evio_addr_string((const struct sockaddr *)raw, (socklen_t)len, NULL, 0);
    if (k < 0) {
        CHECK(rc == EVIO_EINVAL);
    } else {
        CHECK(rc == k);
        size_t buflen = fuzz_below(fb, (size_t)k + 3);
        char *buf = malloc(buflen ? buflen : 1);
        CHECK(buf != NULL);
        CHECK(evio_addr_string((const struct sockaddr *)raw, (socklen_t)len, buflen ? buf : NULL,
                               buflen) == k);
        if (buflen > 0) {
            size_t shown = (size_t)k < buflen - 1 ? (size_t)k : buflen - 1;
            CHECK(buf[shown] == '\0' && memcmp(buf, want, shown) == 0);
        }
        free(buf);
    }
    free(raw);
}

/* ---- 2. the round trip through servers ------------------------------------------------- */

typedef struct {
    struct sockaddr_storage addr;
    socklen_t len;
    char text[256];
} bound;

static evio_action keep_bound(evio_server *s, void *udata) {
    bound *b = udata;
    const struct sockaddr *sa = evio_server_addr(s, 0, &b->len);
    CHECK(sa != NULL && b->len <= sizeof b->addr);
    memcpy(&b->addr, sa, b->len);
    int k = evio_server_addr_string(s, 0, b->text, sizeof b->text);
    CHECK(k > 0 && (size_t)k < sizeof b->text);
    return EVIO_SHUTDOWN;
}

static int serve_once(const char *text, bound *b) {
    memset(b, 0, sizeof *b);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.udata = b;
    ev.num_loops = 1;
    ev.serving = keep_bound;
    const char *addrs[] = {text};
    return evio_serve(&ev, addrs, 1);
}

/* The same host (and path) as `want`; the port too when `same_port`. */
static int same_address(const bound *got, const struct sockaddr_storage *want, int same_port) {
    if (got->addr.ss_family != want->ss_family)
        return 0;
    if (want->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)&got->addr, *b = (const void *)want;
        return a->sin_addr.s_addr == b->sin_addr.s_addr &&
               (!same_port || a->sin_port == b->sin_port);
    }
    if (want->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)&got->addr, *b = (const void *)want;
        return memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0 &&
               (!same_port || a->sin6_port == b->sin6_port);
    }
    const struct sockaddr_un *a = (const void *)&got->addr, *b = (const void *)want;
    return strcmp(a->sun_path, b->sun_path) == 0;
}

/* A bindable address built from the input, and its scheme. */
static const char *build_address(fuzz_bytes *fb, struct sockaddr_storage *ss, socklen_t *len) {
    static const char *const v4[] = {"tcp", "tcp4", "udp", "udp4"};
    static const char *const v6[] = {"tcp", "tcp6", "udp", "udp6"};
    memset(ss, 0, sizeof *ss);
    uint8_t kind = fuzz_u8(fb) % 3;
    if (kind == 0) {
        struct sockaddr_in *sin = (void *)ss;
        sin->sin_family = AF_INET;
        uint32_t host = 0x7f000000u | (uint32_t)fuzz_below(fb, 1u << 24);
        if ((host & 0xff) == 0 || (host & 0xff) == 0xff)
            host = (host & ~0xffu) | 1; /* not a network or broadcast address */
        sin->sin_addr.s_addr = htonl(host);
        *len = sizeof *sin;
        return v4[fuzz_u8(fb) % 4];
    }
    if (kind == 1) {
        struct sockaddr_in6 *sin6 = (void *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_addr = in6addr_loopback;
        *len = sizeof *sin6;
        return v6[fuzz_u8(fb) % 4];
    }
    /* A name of 1..100 bytes from a set that needs no quoting in an address, starting with
     * a letter (so never "." or ".."). */
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    struct sockaddr_un *un = (void *)ss;
    un->sun_family = AF_UNIX;
    size_t n = 1 + fuzz_below(fb, 100);
    for (size_t i = 0; i < n; i++)
        un->sun_path[i] = chars[fuzz_u8(fb) % (i == 0 ? 52 : sizeof chars - 1)];
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return "unix";
}

static void round_trip(fuzz_bytes *fb) {
    struct sockaddr_storage ss;
    socklen_t len;
    const char *scheme = build_address(fb, &ss, &len);
    char host[256], text[300];
    int k = evio_addr_string((const struct sockaddr *)&ss, len, host, sizeof host);
    CHECK(k > 0 && (size_t)k < sizeof host);
    snprintf(text, sizeof text, "%s://%s", scheme, host);

    bound first, second;
    int rc = serve_once(text, &first);
    if (rc == EVIO_EADDRNOTAVAIL && ss.ss_family == AF_INET6)
        return; /* no IPv6 here */
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", text, evio_last_error());
    CHECK(rc == 0);
    CHECK(same_address(&first, &ss, 0));
    rc = serve_once(first.text, &second);
    if (rc == EVIO_EADDRINUSE && ss.ss_family != AF_UNIX)
        return; /* the port was taken by another program in between */
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", first.text, evio_last_error());
    CHECK(rc == 0);
    CHECK(same_address(&second, &first.addr, 1));
    CHECK(strcmp(second.text, first.text) == 0);
    CHECK(ss.ss_family != AF_UNIX || access(((struct sockaddr_un *)&ss)->sun_path, F_OK) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_bytes fb = {data, size};
    if (fuzz_u8(&fb) % 8 == 0)
        round_trip(&fb);
    else
        random_bytes(&fb);
    return 0;
}
