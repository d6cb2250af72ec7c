/*
 * example.h — the part every example server shares, so that each example's file is its
 * protocol: the command line, Ctrl-C, and the "serving on" line.
 *
 * An example fills an evio_events with its callbacks and hands it over:
 *
 *     int main(int argc, char **argv) {
 *         evio_events ev = EVIO_EVENTS_INIT;
 *         ev.opened = opened;
 *         ev.data = data;
 *         return example_main("echo-server", "tcp://127.0.0.1:5000", &ev, argc, argv);
 *     }
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef EVIO_EXAMPLE_H
#define EVIO_EXAMPLE_H

#include <evio.h>

/*
 * Parses the command line, then runs evio_serve(ev, ...) until SIGINT or SIGTERM (or a
 * callback returns EVIO_SHUTDOWN), and returns main()'s exit status: 0 when served and
 * stopped (or after --help), 1 when evio_serve() failed (the error is printed on stderr,
 * prefixed with `name`), 2 for a bad command line (the usage is printed on stderr).
 *
 *   NAME [ADDRESS...] [--loops N] [--balance random|round-robin|least-connections]
 *
 * ADDRESS uses evio's syntax; with none, `default_addr` is served. `--loops` sets
 * ev->num_loops and `--balance` ev->load_balance.
 *
 * It sets ev->serving and ev->tick to its own callbacks, which call the example's if it set
 * them: `serving` prints "NAME: serving on ADDRESS (loops: N, engine: E)" for each address
 * (scripts read the address from this line), and `tick` returns EVIO_SHUTDOWN once a
 * signal came (it runs at least five times a second). stdout is line-buffered.
 */
int example_main(const char *name, const char *default_addr, evio_events *ev, int argc,
                 char **argv);

/*
 * `opened` and `closed` for a protocol server that parses with an evio_input_stream: each
 * connection gets its own stream as its context (freed in `closed`), and reads into the
 * loop's shared buffer (evio_conn_set_reuse_input), since the stream copies whatever is
 * left over between `data` calls. `data` finds the stream with evio_conn_context().
 */
evio_action example_stream_opened(evio_conn *conn, void *udata);
evio_action example_stream_closed(evio_conn *conn, int err, void *udata);

#endif
