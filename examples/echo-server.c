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

#include "example.h" /* main(): the command line, Ctrl-C, the "serving on" line */

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

int main(int argc, char **argv) {
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = opened;
    ev.data = data;
    return example_main("echo-server", "tcp://127.0.0.1:5000", &ev, argc, argv);
}
