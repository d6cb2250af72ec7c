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
 * Parses the command line, starts the server with evio_server_start(ev, ...) and waits
 * for it (evio_server_wait) until SIGINT or SIGTERM (or a callback returns EVIO_SHUTDOWN),
 * and returns main()'s exit status: 0 when served and stopped (or after --help), 1 when
 * the server failed (the error is printed on stderr, prefixed with `name`), 2 for a bad
 * command line (the usage is printed on stderr). A clean Ctrl-C: the signal handler calls
 * evio_server_stop(), which is async-signal-safe — the first signal drains (no new
 * connections or input; each connection closes once its output has left; 5 s at most),
 * a second one closes everything at once.
 *
 *   NAME [ADDRESS...] [--loops N] [--balance random|round-robin|least-connections]
 *
 * ADDRESS uses evio's syntax; with none, `default_addr` is served. `--loops` sets
 * ev->num_loops and `--balance` ev->load_balance.
 *
 * It sets ev->serving to its own callback, which calls the example's if it set one: it
 * prints "NAME: serving on ADDRESS (loops: N, engine: E)" for each address (scripts read
 * the address from this line). stdout is line-buffered.
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
