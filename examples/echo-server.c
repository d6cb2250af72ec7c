/*
 * echo-server — every byte received is written back (evio's echo example, in C).
 *
 *   echo-server [ADDRESS...] [--loops N] [--balance random|round-robin|least-connections]
 *
 * ADDRESS uses evio's syntax (default tcp://127.0.0.1:5000), e.g. tcp://:5000,
 * tcp://127.0.0.1:0 (any free port), unix:///tmp/echo.sock, udp://:5000.
 * Try it:  echo-server tcp://127.0.0.1:5000 &   then   echo-client 127.0.0.1:5000
 *
 * SPDX-License-Identifier: MIT
 */
#include <evio.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static evio_action serving(evio_server *srv, void *udata) {
    (void)udata;
    char addr[256];
    for (int i = 0; i < evio_server_num_addrs(srv); i++) {
        if (evio_server_addr_string(srv, i, addr, sizeof addr) >= 0)
            printf("echo-server: serving on %s (loops: %d, engine: %s)\n", addr, evio_server_num_loops(srv),
                   evio_server_engine(srv));
    }
    fflush(stdout);
    return EVIO_NONE;
}

static evio_action opened(evio_conn *conn, void *udata) {
    (void)udata;
    /* `in` may point into the loop's shared read buffer: we write it back at once, and
     * evio_conn_write() copies, so no per-connection copy of the input is needed. */
    evio_conn_set_reuse_input(conn, 1);
    return EVIO_NONE;
}

static evio_action data(evio_conn *conn, const void *in, size_t len, void *udata) {
    (void)udata;
    if (len > 0 && evio_conn_write(conn, in, len) < 0) return EVIO_CLOSE;
    return EVIO_NONE;
}

static evio_action tick(int64_t *delay_ns, void *udata) {
    (void)udata;
    *delay_ns = 200 * 1000 * 1000; /* check for Ctrl-C five times a second */
    return g_stop ? EVIO_SHUTDOWN : EVIO_NONE;
}

static void usage(FILE *f) {
    fprintf(f, "usage: echo-server [ADDRESS...] [--loops N] "
               "[--balance random|round-robin|least-connections]\n"
               "  ADDRESS  e.g. tcp://127.0.0.1:5000 (default), tcp://:0, unix:///tmp/e.sock\n"
               "  --loops  event loops (threads): 1 (default), N, or -1 for one per CPU\n");
}

int main(int argc, char **argv) {
    evio_events ev = EVIO_EVENTS_INIT;
    const char *addrs[64];
    size_t naddrs = 0;

    ev.num_loops = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--loops") && i + 1 < argc) {
            ev.num_loops = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--balance") && i + 1 < argc) {
            const char *b = argv[++i];
            if (!strcmp(b, "random")) ev.load_balance = EVIO_LB_RANDOM;
            else if (!strcmp(b, "round-robin")) ev.load_balance = EVIO_LB_ROUND_ROBIN;
            else if (!strcmp(b, "least-connections")) ev.load_balance = EVIO_LB_LEAST_CONNECTIONS;
            else { usage(stderr); return 2; }
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            usage(stderr);
            return 2;
        } else if (naddrs < sizeof addrs / sizeof addrs[0]) {
            addrs[naddrs++] = argv[i];
        }
    }
    if (naddrs == 0) addrs[naddrs++] = "tcp://127.0.0.1:5000";

    ev.serving = serving;
    ev.opened = opened;
    ev.data = data;
    ev.tick = tick;

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    int rc = evio_serve(&ev, addrs, naddrs);
    if (rc < 0) {
        fprintf(stderr, "echo-server: %s (%s)\n", evio_last_error(), evio_strerror(rc));
        return 1;
    }
    return 0;
}
