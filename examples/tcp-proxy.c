/*
 * tcp-proxy — a TCP proxy: every client connection is paired with a connection dialed to
 * an upstream, on the same loop, and bytes are copied both ways.
 *
 *   tcp-proxy [ADDRESS...] --upstream ADDR [--upstream ADDR...] [--connect-timeout MS]
 *             [--loops N] [--balance random|round-robin|least-connections]
 *
 * ADDRESS (where clients come in, default tcp://127.0.0.1:7000) and ADDR (where they are
 * sent) use evio's syntax: tcp://127.0.0.1:6379, tcp://localhost:8080, unix:///tmp/s.sock.
 * Try it:  redis-server --port 6379 &   tcp-proxy tcp://127.0.0.1:7000 --upstream
 * tcp://127.0.0.1:6379 &   redis-cli -p 7000 ping
 *
 * What it does, and how (each is a few lines below):
 * - Upstreams in turn (round-robin over every loop). A dial that fails (refused, timed
 *   out after --connect-timeout, default 3000 ms) tries the next upstream; a failed
 *   upstream is skipped by new clients for a second. With none left the client is closed.
 * - The client is not read until its upstream is connected (evio_conn_pause_read in
 *   `opened`), so nothing needs buffering meanwhile.
 * - Backpressure both ways: after copying input to the other side, if that side's pending
 *   output passed the high watermark, the reading side is paused; the other side's
 *   `drained` event (at the low watermark) resumes it. A slow reader on either side thus
 *   holds the proxy's memory per pair near the watermark, whatever the fast side sends.
 *   A half is never paused for its own output (evio_conn_set_read_backpressure(c, 0)):
 *   with an upstream that answers while it reads (an echo), that would deadlock.
 * - Half-close: a side's end of input (`input_closed`) shuts down the other side's sending
 *   direction once its output has left (evio_conn_shutdown_write), so a client that sends
 *   a request and then its FIN still gets the whole response. A side that is done in both
 *   directions is closed by evio.
 * - A side that closes (or fails) closes the other once its pending output has left.
 *
 * The dialed connection lives on the client's loop (evio_dial from its callback), so the
 * pair is touched by one thread only and needs no lock. The pair is freed when both sides
 * are closed and no dial is in flight.
 *
 * SPDX-License-Identifier: MIT
 */
#include <evio.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example.h" /* main(): the command line, Ctrl-C, the "serving on" line */

#define MAX_UPSTREAMS 64
#define UPSTREAM_DOWN_NS 1000000000LL /* a failed upstream is skipped this long */

static const char *upstreams[MAX_UPSTREAMS];
static _Atomic int64_t down_until[MAX_UPSTREAMS]; /* monotonic ns; shared by the loops */
static int nupstreams;
static atomic_uint next_upstream;
static int64_t connect_timeout_ns = 3000LL * 1000 * 1000;

typedef struct pair {
    evio_conn *client;   /* NULL once closed */
    evio_conn *upstream; /* NULL until connected, and once closed */
    int dialing;         /* a dial is in flight: its ctx is this pair */
    int tried;           /* upstreams tried for this client */
    int upstream_index;  /* the one dialed last */
} pair;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int is_upstream(evio_conn *c) {
    return evio_conn_addr_index(c) == -1; /* dialed */
}

static evio_conn *other_side(pair *p, evio_conn *c) {
    return c == p->client ? p->upstream : p->client;
}

static void free_if_done(pair *p) {
    if (!p->client && !p->upstream && !p->dialing) free(p);
}

/* The next upstream in turn that is not marked down (any, if all are). */
static int pick_upstream(void) {
    const int64_t now = now_ns();
    unsigned first = atomic_fetch_add(&next_upstream, 1);
    for (int k = 0; k < nupstreams; k++) {
        int i = (int)((first + (unsigned)k) % (unsigned)nupstreams);
        if (atomic_load(&down_until[i]) <= now) return i;
    }
    return (int)(first % (unsigned)nupstreams);
}

/* Dials upstreams until one dial is under way; 0, or -1 when every one was tried. */
static int dial_next(pair *p) {
    evio_dial_options opts = EVIO_DIAL_OPTIONS_INIT;
    opts.timeout_ns = connect_timeout_ns;
    while (p->tried < nupstreams) {
        p->tried++;
        p->upstream_index = pick_upstream();
        if (evio_dial(upstreams[p->upstream_index], &opts, p) == 0) {
            p->dialing = 1;
            return 0;
        }
        fprintf(stderr, "tcp-proxy: %s\n", evio_last_error());
    }
    return -1;
}

static evio_action opened(evio_conn *c, void *udata) {
    (void)udata;
    evio_conn_set_reuse_input(c, 1); /* input is copied on at once: no copy of our own */
    /* A half is paused because of the *other* half's output (below), never because of its
     * own: that would deadlock with an upstream that answers while it reads (an echo
     * whose answers we stopped reading stops reading what we send it). */
    evio_conn_set_read_backpressure(c, 0);
    if (is_upstream(c)) {
        pair *p = evio_conn_context(c); /* the dial's ctx */
        p->dialing = 0;
        if (!p->client) return EVIO_CLOSE; /* the client left while we dialed */
        p->upstream = c;
        evio_conn_resume_read(p->client);
        return EVIO_NONE;
    }
    pair *p = calloc(1, sizeof *p);
    if (!p) return EVIO_CLOSE;
    p->client = c;
    evio_conn_set_context(c, p);
    evio_conn_pause_read(c); /* until the upstream is there */
    if (dial_next(p) != 0) {
        p->client = NULL;
        free(p);
        evio_conn_set_context(c, NULL);
        return EVIO_CLOSE;
    }
    return EVIO_NONE;
}

static evio_action dial_failed(void *ctx, int err, void *udata) {
    (void)udata;
    pair *p = ctx;
    p->dialing = 0;
    atomic_store(&down_until[p->upstream_index], now_ns() + UPSTREAM_DOWN_NS);
    fprintf(stderr, "tcp-proxy: upstream %s: %s\n", upstreams[p->upstream_index],
            evio_strerror(err));
    if (p->client && (err == EVIO_ECANCELED || dial_next(p) != 0)) /* stopping, or none left */
        evio_conn_close(p->client);
    free_if_done(p);
    return EVIO_NONE;
}

static evio_action data(evio_conn *c, const void *in, size_t len, void *udata) {
    (void)udata;
    pair *p = evio_conn_context(c);
    evio_conn *to = p ? other_side(p, c) : NULL;
    if (len == 0) return EVIO_NONE;
    if (!to || evio_conn_write(to, in, len) != 0) return EVIO_CLOSE;
    size_t pending = 0;
    if (evio_conn_pending(to, &pending) == 0 && pending > (1u << 20))
        evio_conn_pause_read(c); /* `to` is full: resumed by its `drained` */
    return EVIO_NONE;
}

static evio_action drained(evio_conn *c, void *udata) {
    (void)udata;
    pair *p = evio_conn_context(c);
    evio_conn *from = p ? other_side(p, c) : NULL;
    if (from) evio_conn_resume_read(from);
    return EVIO_NONE;
}

static evio_action input_closed(evio_conn *c, void *udata) {
    (void)udata;
    pair *p = evio_conn_context(c);
    evio_conn *to = p ? other_side(p, c) : NULL;
    if (!to) return EVIO_CLOSE;
    evio_conn_shutdown_write(to); /* the FIN goes on, after what is pending */
    return EVIO_NONE;
}

static evio_action closed(evio_conn *c, int err, void *udata) {
    (void)err;
    (void)udata;
    pair *p = evio_conn_context(c);
    if (!p) return EVIO_NONE;
    evio_conn *other = other_side(p, c);
    if (c == p->client)
        p->client = NULL;
    else
        p->upstream = NULL;
    if (other) evio_conn_close(other); /* after its pending output */
    free_if_done(p);
    return EVIO_NONE;
}

/* Takes --upstream and --connect-timeout out of argv (example_main knows the rest). */
static int take_options(int argc, char **argv) {
    int out = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--upstream") && i + 1 < argc) {
            if (nupstreams == MAX_UPSTREAMS) return -1;
            upstreams[nupstreams++] = argv[++i];
        } else if (!strcmp(argv[i], "--connect-timeout") && i + 1 < argc) {
            char *end;
            long ms = strtol(argv[++i], &end, 10);
            if (*end || ms <= 0) return -1;
            connect_timeout_ns = (int64_t)ms * 1000 * 1000;
        } else {
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    return nupstreams > 0 ? out : -1;
}

int main(int argc, char **argv) {
    argc = take_options(argc, argv);
    if (argc < 0) {
        fprintf(stderr, "usage: tcp-proxy [ADDRESS...] --upstream ADDR [--upstream ADDR...] "
                        "[--connect-timeout MS] [--loops N] [--balance MODE]\n");
        return 2;
    }
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = opened;
    ev.dial_failed = dial_failed;
    ev.data = data;
    ev.drained = drained;
    ev.input_closed = input_closed;
    ev.closed = closed;
    return example_main("tcp-proxy", "tcp://127.0.0.1:7000", &ev, argc, argv);
}
