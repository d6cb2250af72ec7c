/*
 * echo-load — an echo client built on evio: it dials its connections (evio_server_dial)
 * on N loops of a server with no address, sends messages, checks every byte that comes
 * back, and reports requests per second. The client side of evio, next to echo-server.
 *
 *   echo-load ADDR [--conns C] [--requests R] [--size S] [--loops N]
 *
 * Each of the C connections sends R messages of S bytes, one at a time (the next when the
 * echo of the last has come back whole), with a pseudo-random pattern per connection, and
 * closes. Exit status 0 when every byte came back as sent, 1 otherwise (the first
 * difference or failure is printed).
 * Try it:  echo-server tcp://127.0.0.1:5000 &   echo-load tcp://127.0.0.1:5000 --conns 50
 *
 * SPDX-License-Identifier: MIT
 */
#include <evio.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct client {
    uint64_t seed;     /* the connection's pattern */
    uint64_t sent;     /* bytes sent so far (the offset in the pattern) */
    uint64_t checked;  /* bytes echoed and checked */
    long requests;     /* messages whose echo came back whole */
} client;

static struct {
    const char *addr;
    int conns, loops;
    long requests;
    size_t size;
    atomic_int finished; /* connections closed or failed */
    atomic_int failures;
    atomic_long done_requests;
    client *clients;
} L = {NULL, 10, 2, 1000, 64, 0, 0, 0, NULL};

static unsigned char pattern_byte(uint64_t seed, uint64_t i) {
    uint64_t x = (seed + i / 8) * 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    return (unsigned char)(x >> (8 * (i % 8)));
}

static void send_message(evio_conn *conn, client *c) {
    unsigned char buf[65536];
    size_t left = L.size;
    while (left > 0) {
        size_t n = left < sizeof buf ? left : sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = pattern_byte(c->seed, c->sent + i);
        evio_conn_write(conn, buf, n);
        c->sent += n;
        left -= n;
    }
}

static void finish(void) {
    atomic_fetch_add(&L.finished, 1);
}

static evio_action serving(evio_server *srv, void *udata) {
    (void)udata;
    for (int i = 0; i < L.conns; i++) {
        L.clients[i].seed = (uint64_t)i * 7919 + 1;
        if (evio_server_dial(srv, -1, L.addr, NULL, &L.clients[i]) != 0) {
            fprintf(stderr, "echo-load: %s\n", evio_last_error());
            return EVIO_SHUTDOWN;
        }
    }
    return EVIO_NONE;
}

static evio_action opened(evio_conn *conn, void *udata) {
    (void)udata;
    evio_conn_set_reuse_input(conn, 1); /* checked at once, never kept */
    send_message(conn, evio_conn_context(conn));
    return EVIO_NONE;
}

static evio_action data(evio_conn *conn, const void *in, size_t len, void *udata) {
    (void)udata;
    client *c = evio_conn_context(conn);
    const unsigned char *p = in;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != pattern_byte(c->seed, c->checked + i)) {
            fprintf(stderr, "echo-load: byte %llu of connection %d differs\n",
                    (unsigned long long)(c->checked + i), (int)(c - L.clients));
            atomic_fetch_add(&L.failures, 1);
            return EVIO_CLOSE;
        }
    }
    c->checked += len;
    if (c->checked > c->sent) {
        atomic_fetch_add(&L.failures, 1);
        return EVIO_CLOSE; /* more came back than was sent */
    }
    if (c->checked < c->sent) return EVIO_NONE; /* the rest of this echo is on its way */
    c->requests++;
    atomic_fetch_add(&L.done_requests, 1);
    if (c->requests == L.requests) return EVIO_CLOSE;
    send_message(conn, c);
    return EVIO_NONE;
}

static evio_action closed(evio_conn *conn, int err, void *udata) {
    (void)udata;
    client *c = evio_conn_context(conn);
    if (err != 0 || c->requests != L.requests) {
        fprintf(stderr, "echo-load: connection %d closed after %ld requests: %s\n",
                (int)(c - L.clients), c->requests, err ? evio_strerror(err) : "by the server");
        atomic_fetch_add(&L.failures, 1);
    }
    finish();
    return atomic_load(&L.finished) == L.conns ? EVIO_SHUTDOWN : EVIO_NONE;
}

static evio_action dial_failed(void *ctx, int err, void *udata) {
    (void)udata;
    fprintf(stderr, "echo-load: connection %d: %s: %s\n", (int)((client *)ctx - L.clients), L.addr,
            evio_strerror(err));
    atomic_fetch_add(&L.failures, 1);
    finish();
    return atomic_load(&L.finished) == L.conns ? EVIO_SHUTDOWN : EVIO_NONE;
}

static int parse(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--conns") && v) L.conns = atoi(argv[++i]);
        else if (!strcmp(a, "--requests") && v) L.requests = atol(argv[++i]);
        else if (!strcmp(a, "--size") && v) L.size = (size_t)atol(argv[++i]);
        else if (!strcmp(a, "--loops") && v) L.loops = atoi(argv[++i]);
        else if (a[0] != '-' && !L.addr) L.addr = a;
        else return -1;
    }
    return L.addr && L.conns > 0 && L.requests > 0 && L.size > 0 && L.loops > 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (parse(argc, argv) != 0) {
        fprintf(stderr, "usage: echo-load ADDR [--conns C] [--requests R] [--size S] "
                        "[--loops N]\n");
        return 2;
    }
    L.clients = calloc((size_t)L.conns, sizeof *L.clients);
    if (!L.clients) return 1;
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = L.loops;
    ev.serving = serving;
    ev.opened = opened;
    ev.data = data;
    ev.closed = closed;
    ev.dial_failed = dial_failed;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    evio_server *srv = NULL; /* no address: a server that only dials */
    int rc = evio_server_start(&ev, NULL, 0, &srv);
    if (rc == 0) {
        rc = evio_server_wait(srv); /* until the last connection's `closed` shuts it down */
        evio_server_free(srv);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    long reqs = atomic_load(&L.done_requests);
    printf("echo-load: %ld requests of %zu bytes on %d connections, %d loops: %.0f requests/s\n",
           reqs, L.size, L.conns, L.loops, secs > 0 ? (double)reqs / secs : 0.0);
    free(L.clients);
    if (rc != 0) {
        fprintf(stderr, "echo-load: %s\n", evio_last_error());
        return 1;
    }
    return atomic_load(&L.failures) == 0 && reqs == L.requests * L.conns ? 0 : 1;
}
