/*
 * Fuzz target: the address parser, through evio_serve().
 *
 * The input is a list of addresses, one a line (at most 4). evio_serve() gets them with a
 * `serving` callback that checks what the server reports and shuts it down at once.
 * Checked:
 *  - evio_serve() returns 0 exactly when `serving` ran, else a negative EVIO_E… code with
 *    a message in evio_last_error();
 *  - in `serving`: one bound address per address given, each of a known family, its text
 *    form (evio_server_addr_string) measured and written consistently, starting with a
 *    scheme evio accepts (with "-net" when one was given); indexes out of range are
 *    refused;
 *  - no unix socket file is left behind, whether the server ran or failed to start.
 *
 * Kept safe and fast (the fuzzer runs where other programs run):
 *  - the process works in a fresh temporary directory under $TMPDIR (LLVMFuzzerInitialize),
 *    and an address whose unix path has a '/' is skipped, so socket files land only there;
 *  - a host must be empty, "localhost" or numeric (no name lookups), and a port that
 *    would bind (1-65535) is skipped, unless EVIO_FUZZ_PRIVATE_NET=1 says the process runs
 *    in a network namespace of its own (scripts/fuzz does so where it can).
 * Skipped inputs return -1, so libFuzzer keeps none of them in the corpus.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <evio.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_check.h"

#define MAX_ADDRS 4
#define MAX_TEXT 1024

static char g_dir[4096];
static int g_private_net;

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
    const char *net = getenv("EVIO_FUZZ_PRIVATE_NET");
    g_private_net = net != NULL && strcmp(net, "1") == 0;
    return 0;
}

/* ---- which inputs may run (mirrors the parser's split of an address) --------------------- */

static int text_is(const char *p, size_t n, const char *lit) {
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* A host that needs no name lookup: empty, "localhost", or numeric. */
static int host_ok(const char *p, size_t n) {
    char h[128];
    if (n == 0 || text_is(p, n, "localhost"))
        return 1;
    if (n >= sizeof h)
        return 1; /* not numeric and not a name getaddrinfo looks up: refused long before */
    memcpy(h, p, n);
    h[n] = '\0';
    unsigned char a[16];
    return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

/* A port text that binds nothing real: 0, or one the parser refuses. */
static int port_ok(const char *p, size_t n) {
    if (g_private_net)
        return 1;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 1; /* refused: "invalid port" */
        if (v <= 65535)
            v = v * 10 + (unsigned long)(p[i] - '0');
    }
    return n == 0 || v == 0 || v > 65535;
}

static int address_ok(const char *a) {
    const char *sep = strstr(a, "://");
    const char *scheme = sep ? a : "tcp", *rest = sep ? sep + 3 : a;
    size_t slen = sep ? (size_t)(sep - a) : 3;
    if (slen > 4 && memcmp(scheme + slen - 4, "-net", 4) == 0)
        slen -= 4;
    if (text_is(scheme, slen, "unix"))
        return strchr(rest, '/') == NULL; /* a file in the current directory only */
    size_t rlen = strcspn(rest, "?");
    if (rlen == 0)
        return 1; /* every interface, port 0 */
    const char *host = rest, *port;
    size_t hlen;
    if (rest[0] == '[') {
        const char *close = memchr(rest, ']', rlen);
        if (!close || close + 1 >= rest + rlen || close[1] != ':')
            return 1; /* refused: no ']' or no port */
        host = rest + 1;
        hlen = (size_t)(close - host);
        port = close + 2;
    } else {
        const char *colon = NULL;
        for (const char *c = rest; c < rest + rlen; c++)
            if (*c == ':')
                colon = c;
        if (!colon)
            return 1; /* refused: no port */
        hlen = (size_t)(colon - rest);
        port = colon + 1;
    }
    return host_ok(host, hlen) && port_ok(port, (size_t)(rest + rlen - port));
}

/* ---- the checks ------------------------------------------------------------------------- */

/* tcp, tcp4, tcp6, udp, udp4, udp6 or unix, with or without "-net", then "://". */
static int starts_with_scheme(const char *s) {
    static const char *const schemes[] = {"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(s, schemes[i], n) != 0)
            continue;
        if (strncmp(s + n, "-net", 4) == 0)
            n += 4;
        if (strncmp(s + n, "://", 3) == 0)
            return 1;
    }
    return 0;
}

typedef struct {
    size_t naddrs;
    int served;
} run;

static evio_action serving(evio_server *s, void *udata) {
    run *r = udata;
    r->served = 1;
    CHECK(evio_server_num_addrs(s) == (int)r->naddrs);
    CHECK(evio_server_num_loops(s) >= 1);
    const char *engine = evio_server_engine(s);
    CHECK(engine && (strcmp(engine, "epoll") == 0 || strcmp(engine, "libuv") == 0));
    for (int i = 0; i < (int)r->naddrs; i++) {
        socklen_t len = 0;
        const struct sockaddr *sa = evio_server_addr(s, i, &len);
        CHECK(sa != NULL && len > 0);
        CHECK(sa->sa_family == AF_INET || sa->sa_family == AF_INET6 || sa->sa_family == AF_UNIX);
        int k = evio_server_addr_string(s, i, NULL, 0);
        CHECK(k > 0 && k < MAX_TEXT);
        char text[MAX_TEXT];
        CHECK(evio_server_addr_string(s, i, text, sizeof text) == k);
        CHECK(strlen(text) == (size_t)k && starts_with_scheme(text));
        char small[4];
        CHECK(evio_server_addr_string(s, i, small, sizeof small) == k);
        CHECK(strlen(small) == sizeof small - 1); /* truncated, NUL-terminated */
    }
    CHECK(evio_server_addr(s, (int)r->naddrs, NULL) == NULL);
    CHECK(evio_server_addr(s, -1, NULL) == NULL);
    char text[8];
    CHECK(evio_server_addr_string(s, (int)r->naddrs, text, sizeof text) < 0);
    return EVIO_SHUTDOWN;
}

static int dir_is_empty(void) {
    DIR *d = opendir(".");
    CHECK(d != NULL);
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            fprintf(stderr, "left behind: %s\n", e->d_name);
            empty = 0;
        }
    closedir(d);
    return empty;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= MAX_TEXT)
        return -1;
    char text[MAX_TEXT];
    memcpy(text, data, size);
    text[size] = '\0'; /* an embedded NUL ends the list, as it would for a C caller */
    const char *addrs[MAX_ADDRS];
    size_t n = 0;
    for (char *line = text, *next; line && n < MAX_ADDRS; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (!address_ok(line))
            return -1;
        addrs[n++] = line;
    }

    run r = {n, 0};
    evio_events ev = EVIO_EVENTS_INIT;
    ev.udata = &r;
    ev.num_loops = 1;
    ev.serving = serving;
    int rc = evio_serve(&ev, addrs, n);
    CHECK((rc == 0) == (r.served == 1));
    if (rc != 0) {
        CHECK(rc < 0 && rc > -4096);
        CHECK(evio_last_error()[0] != '\0');
        CHECK(evio_strerror(rc) != NULL);
    }
    CHECK(dir_is_empty());
    return 0;
}
