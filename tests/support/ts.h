/*
 * Test support for the evio C test suite.
 *
 * Everything here uses only the public API (<evio.h>) and POSIX. It provides:
 *  - failure recording from any thread (cmocka's asserts may only run on the test thread),
 *  - a server runner: evio_serve() on a background thread, with the bound addresses read
 *    back in `serving` and a stop flag polled by a `tick` callback,
 *  - blocking client helpers with timeouts on every socket,
 *  - a seeded PRNG, a monotonic clock, temporary directories and a waitable counter.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef EVIO_TEST_SUPPORT_H
#define EVIO_TEST_SUPPORT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <evio.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <setjmp.h> /* before cmocka.h, which needs jmp_buf */

#include <cmocka.h>

/* Timeout of every blocking client operation (a hung server fails, never hangs). */
#define TS_IO_TIMEOUT_MS 20000
/* Timeout of waits on server-side events (counters, serving). */
#define TS_WAIT_TIMEOUT_MS 20000
#define TS_MAX_ADDRS 16
#define TS_ADDR_LEN 512

/* ---- failures recorded from any thread ------------------------------------------------ */

void ts_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Number of failures recorded since the last ts_reset_failures(). */
int ts_failures(void);
/* The first recorded failure message ("" if none). */
const char *ts_first_failure(void);
void ts_reset_failures(void);

/* Check a condition on any thread; records the failure instead of jumping. */
#define TS_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ts_fail_at(__FILE__, __LINE__, "check failed: %s", #cond);                             \
    } while (0)
#define TS_CHECKF(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ts_fail_at(__FILE__, __LINE__, __VA_ARGS__);                                           \
    } while (0)

/* On the cmocka test thread: fail the test if any thread recorded a failure. */
#define TS_ASSERT_NO_FAILURES()                                                                    \
    do {                                                                                           \
        if (ts_failures() != 0)                                                                    \
            fail_msg("%d failure(s) recorded; first: %s", ts_failures(), ts_first_failure());      \
    } while (0)

/* ---- server runner ---------------------------------------------------------------------- */

/*
 * A server running on a background thread. The callbacks of `ev` receive the ts_server as
 * `udata`; the test's own state is in `user` (TS_USER(udata)). `serving` and `tick` are
 * wrapped: the wrapper records the bound addresses and then calls the test's `serving`;
 * the tick wrapper returns EVIO_SHUTDOWN once ts_server_stop() set the stop flag, and
 * otherwise calls the test's `tick` (if any; else it asks to be called again in 5 ms).
 */
typedef struct ts_server {
    void *user;
    evio_events ev; /* what the test asked for (callbacks, loops, balance) */
    char addrbuf[TS_MAX_ADDRS][TS_ADDR_LEN];
    const char *addrs[TS_MAX_ADDRS];
    size_t naddrs;

    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int serving_called; /* under mu */
    int returned;       /* under mu */
    int ret;            /* evio_serve's return value, once returned */
    char last_error[512];

    /* filled by the serving wrapper */
    int num_addrs;
    int num_loops;
    struct sockaddr_storage addr[TS_MAX_ADDRS];
    socklen_t addrlen[TS_MAX_ADDRS];
    char addrstr[TS_MAX_ADDRS][TS_ADDR_LEN]; /* evio_server_addr_string */
    pthread_t serve_thread;                  /* the thread that called evio_serve() */
    evio_events run_ev;                      /* what evio_serve() really got (wrappers installed) */

    atomic_int stop;
    atomic_int ticks; /* number of tick wrapper calls */
} ts_server;

#define TS_USER(udata) (((ts_server *)(udata))->user)

/*
 * Start evio_serve(ev, addrs, n) on a new thread and wait for `serving`. Returns 0 once
 * `serving` ran; otherwise the (negative) evio_serve result after the thread is joined,
 * or EVIO_ETIMEDOUT if neither happened in time.
 */
int ts_server_start(ts_server *s, const evio_events *ev, void *user, const char *const *addrs,
                    size_t n);
/* Ask the tick wrapper to shut the server down; join; return evio_serve's result. */
int ts_server_stop(ts_server *s);
/* Join without asking (a callback shuts it down); EVIO_ETIMEDOUT if it does not return
 * within timeout_ms (then the thread is left running and the test fails). */
int ts_server_wait(ts_server *s, int timeout_ms);

/* Connect to bound address `index` of a running server (timeouts set). -1 on error. */
int ts_connect_server(const ts_server *s, int index);

/* ---- sockets ---------------------------------------------------------------------------- */

/* Blocking connect with SO_RCVTIMEO/SO_SNDTIMEO = TS_IO_TIMEOUT_MS. -1 (errno) on error. */
int ts_connect(const struct sockaddr *sa, socklen_t len);
int ts_set_timeouts(int fd, int ms);
int ts_set_nonblock(int fd, int on);
/* Write everything (MSG_NOSIGNAL). 0, or -1 with errno. */
int ts_write_all(int fd, const void *buf, size_t n);
/* Read exactly n bytes. 0 ok; 1 EOF before n bytes; -1 error (errno; EAGAIN = timeout). */
int ts_read_full(int fd, void *buf, size_t n);
/* Expect end of stream: 0 = EOF (read returned 0); 1 = data arrived instead;
 * -1 = error (errno: ECONNRESET, EAGAIN for timeout, …). */
int ts_read_eof(int fd);
/* Wait until fd is readable, or timeout: 1 readable, 0 timeout, -1 error. */
int ts_wait_readable(int fd, int timeout_ms);
/* Close with SO_LINGER 0: the peer gets a reset. */
void ts_close_reset(int fd);
/* Fill a sockaddr_un for `path`; returns its length, or 0 if the path is too long. */
struct sockaddr_un;
socklen_t ts_unix_addr(struct sockaddr_un *un, const char *path);
/* Port of an AF_INET/AF_INET6 address (host order); -1 for others. */
int ts_sa_port(const struct sockaddr *sa);
/* 1 if an IPv6 loopback socket can be bound (the machine has ::1). */
int ts_have_ipv6(void);

/*
 * Send the `n` bytes of `out` while reading the echo concurrently (poll loop, so a server
 * that applies backpressure cannot deadlock us); every byte received is compared with
 * `out`. Returns 0, or -1 with a description in err.
 */
int ts_echo_verify(int fd, const unsigned char *out, size_t n, char *err, size_t errlen);

/* ---- randomness, time, files ------------------------------------------------------------ */

typedef struct ts_rng {
    uint64_t s;
} ts_rng;
/* The suite's seed: $TS_SEED if set, else from the clock; printed once. */
uint64_t ts_seed(void);
void ts_rng_seed(ts_rng *r, uint64_t seed);
uint64_t ts_rng_next(ts_rng *r);
/* Uniform in [0, n). */
uint64_t ts_rng_below(ts_rng *r, uint64_t n);
void ts_rng_fill(ts_rng *r, void *buf, size_t n);
/* Byte `i` of a fixed pseudo-random stream identified by `key` (any offset, cheap). */
void ts_stream_fill(uint64_t key, uint64_t offset, void *buf, size_t n);

int64_t ts_now_ns(void);
/* Create a fresh temporary directory (mkdtemp); 0 or -1. */
int ts_tmpdir(char *out, size_t outlen);
/* Remove a directory made by ts_tmpdir and its (flat) contents. */
void ts_rmtree(const char *dir);
/* 1 if path exists. */
int ts_exists(const char *path);

/* ---- a counter threads can wait on ------------------------------------------------------ */

typedef struct ts_counter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long v;
} ts_counter;
void ts_counter_init(ts_counter *c);
void ts_counter_destroy(ts_counter *c);
long ts_counter_add(ts_counter *c, long d); /* returns the new value */
long ts_counter_get(ts_counter *c);
/* Wait until the value is >= target: 0, or -1 on timeout. */
int ts_counter_wait_ge(ts_counter *c, long target, int timeout_ms);

/* The number of loops num_loops = -1 may legitimately give ("one per CPU"). */
int ts_ncpu_online(void);
int ts_ncpu_affinity(void);

/* main(): optional argv[1] is a cmocka test-name filter (wildcards * and ?). */
#define TS_MAIN(tests)                                                                             \
    int main(int argc, char **argv) {                                                              \
        if (argc > 1)                                                                              \
            cmocka_set_test_filter(argv[1]);                                                       \
        return cmocka_run_group_tests(tests, NULL, NULL);                                          \
    }

#endif
