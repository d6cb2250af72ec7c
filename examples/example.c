/*
 * example.c — what the example servers share (see example.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "example.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRAIN_NS (5LL * 1000 * 1000 * 1000) /* Ctrl-C: connections get 5 s to finish */

static evio_server *volatile g_server;
static volatile sig_atomic_t g_signals;
static const char *g_name;
static evio_action (*g_serving)(evio_server *, void *); /* the example's own, if any */

/* evio_server_stop() is async-signal-safe: the first Ctrl-C drains (stop accepting, let
 * every connection send what it owes, then close it); a second one closes at once. */
static void on_signal(int sig) {
    (void)sig;
    int n = ++g_signals;
    if (g_server) evio_server_stop(g_server, n == 1 ? DRAIN_NS : 0);
}

static evio_action serving(evio_server *srv, void *udata) {
    char addr[256];
    for (int i = 0; i < evio_server_num_addrs(srv); i++) {
        if (evio_server_addr_string(srv, i, addr, sizeof addr) >= 0)
            printf("%s: serving on %s (loops: %d, engine: %s)\n", g_name, addr,
                   evio_server_num_loops(srv), evio_server_engine(srv));
    }
    fflush(stdout);
    return g_serving ? g_serving(srv, udata) : EVIO_NONE;
}

static void usage(FILE *f, const char *default_addr) {
    fprintf(f,
            "usage: %s [ADDRESS...] [--loops N] [--balance random|round-robin|least-connections]\n"
            "  ADDRESS  e.g. %s (default), tcp://127.0.0.1:0 (any free port), unix:///tmp/%s.sock\n"
            "  --loops  event loops (threads): 1 (default), N, or -1 for one per CPU\n",
            g_name, default_addr, g_name);
}

int example_main(const char *name, const char *default_addr, evio_events *ev, int argc,
                 char **argv) {
    const char *addrs[64];
    size_t naddrs = 0;

    g_name = name;
    setvbuf(stdout, NULL, _IOLBF, 0); /* each line reaches a log file at once */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--loops") && i + 1 < argc) {
            ev->num_loops = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--balance") && i + 1 < argc) {
            const char *b = argv[++i];
            if (!strcmp(b, "random")) ev->load_balance = EVIO_LB_RANDOM;
            else if (!strcmp(b, "round-robin")) ev->load_balance = EVIO_LB_ROUND_ROBIN;
            else if (!strcmp(b, "least-connections")) ev->load_balance = EVIO_LB_LEAST_CONNECTIONS;
            else {
                usage(stderr, default_addr);
                return 2;
            }
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout, default_addr);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            usage(stderr, default_addr);
            return 2;
        } else if (naddrs < sizeof addrs / sizeof addrs[0]) {
            addrs[naddrs++] = argv[i];
        }
    }
    if (naddrs == 0) addrs[naddrs++] = default_addr;

    g_serving = ev->serving;
    ev->serving = serving;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* The server runs on threads of its own; this thread only waits for its end. */
    evio_server *srv = NULL;
    int rc = evio_server_start(ev, addrs, naddrs, &srv);
    if (rc < 0) {
        fprintf(stderr, "%s: %s (%s)\n", name, evio_last_error(), evio_strerror(rc));
        return 1;
    }
    g_server = srv;
    if (g_signals) evio_server_stop(srv, DRAIN_NS); /* a signal came while starting */
    rc = evio_server_wait(srv);
    g_server = NULL;
    evio_server_free(srv);
    if (rc < 0) {
        fprintf(stderr, "%s: %s (%s)\n", name, evio_last_error(), evio_strerror(rc));
        return 1;
    }
    return 0;
}

evio_action example_stream_opened(evio_conn *conn, void *udata) {
    (void)udata;
    evio_input_stream *is = malloc(sizeof *is);
    if (!is) return EVIO_CLOSE;
    *is = (evio_input_stream)EVIO_INPUT_STREAM_INIT;
    evio_conn_set_context(conn, is);
    evio_conn_set_reuse_input(conn, 1); /* leftovers are copied by the input stream */
    return EVIO_NONE;
}

evio_action example_stream_closed(evio_conn *conn, int err, void *udata) {
    (void)err;
    (void)udata;
    evio_input_stream *is = evio_conn_context(conn);
    if (is) {
        evio_input_stream_free(is);
        free(is);
        evio_conn_set_context(conn, NULL);
    }
    return EVIO_NONE;
}
