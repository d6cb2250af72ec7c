/*
 * Stress: byte-exact echo of large random streams with random chunking.
 *
 * For 1, 2 and 4 loops: 8 clients at once (half over TCP, half over a unix socket) each
 * stream 32 MiB of a pseudo-random byte stream (ts_stream_fill: any offset, nothing kept)
 * through an echo server and check every byte that comes back. The clients write pieces
 * of random sizes (1 byte to 256 KiB, log-uniform) and read with random sizes; the server
 * echoes each input in up to 4 evio_conn_write() calls split at random points. The engine
 * is the one EVIO_ENGINE names (scripts/test runs the stress label once per engine).
 * Bounded: each client stops at its socket timeout (TS_IO_TIMEOUT_MS without progress),
 * and the whole test must finish within TIME_BOUND_S.
 */
#include "stress.h"

#include <sys/un.h>

#define CLIENTS 8
#define STREAM_BYTES ((size_t)128 << 20)
#define MAX_PIECE ((size_t)256 << 10)
#define TIME_BOUND_S 150

static _Thread_local ts_rng loop_rng; /* each loop thread splits with its own generator */
static _Thread_local int loop_rng_ready;
static uint64_t g_seed;

static evio_action on_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)u;
    if (!loop_rng_ready) {
        ts_rng_seed(&loop_rng, g_seed ^ (uint64_t)(uintptr_t)&loop_rng);
        loop_rng_ready = 1;
    }
    const unsigned char *p = in;
    for (int piece = 0; len > 0; piece++) {
        size_t k = piece == 3 ? len : 1 + (size_t)ts_rng_below(&loop_rng, len);
        TS_CHECK(evio_conn_write(c, p, k) == 0);
        p += k;
        len -= k;
    }
    return EVIO_NONE;
}

typedef struct client {
    const ts_server *s;
    int index; /* which server address */
    uint64_t key, seed;
    size_t sent, got;
    char err[256];
} client;

/* A size from 1 to `most`, log-uniform: as many small pieces as large ones. */
static size_t random_size(ts_rng *r, size_t most) {
    size_t cap = (size_t)1 << ts_rng_below(r, 19);
    size_t k = 1 + (size_t)ts_rng_below(r, cap);
    return k < most ? k : most;
}

static int pump(client *cl, int fd) {
    ts_rng r;
    ts_rng_seed(&r, cl->seed);
    unsigned char *out = malloc(MAX_PIECE), *in = malloc(MAX_PIECE), *want = malloc(MAX_PIECE);
    size_t out_len = 0, out_off = 0;
    int rc = -1;
    if (!out || !in || !want)
        goto done;
    while (cl->got < STREAM_BYTES) {
        if (out_off == out_len && cl->sent < STREAM_BYTES) { /* the next piece to write */
            out_len = random_size(&r, STREAM_BYTES - cl->sent);
            ts_stream_fill(cl->key, cl->sent, out, out_len);
            out_off = 0;
        }
        struct pollfd p = {fd, (short)(POLLIN | (out_off < out_len ? POLLOUT : 0)), 0};
        int pr = poll(&p, 1, TS_IO_TIMEOUT_MS);
        if (pr <= 0) {
            snprintf(cl->err, sizeof cl->err, "no progress: sent %zu, got %zu", cl->sent, cl->got);
            goto done;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t k = recv(fd, in, random_size(&r, MAX_PIECE), 0);
            if (k <= 0 && !(k < 0 && errno == EAGAIN)) {
                snprintf(cl->err, sizeof cl->err, "recv after %zu bytes: %zd (%s)", cl->got, k,
                         strerror(errno));
                goto done;
            }
            if (k > 0) {
                ts_stream_fill(cl->key, cl->got, want, (size_t)k);
                if (memcmp(in, want, (size_t)k) != 0) {
                    size_t i = 0;
                    while (in[i] == want[i])
                        i++;
                    snprintf(cl->err, sizeof cl->err, "byte %zu differs", cl->got + i);
                    goto done;
                }
                cl->got += (size_t)k;
            }
        }
        if (out_off < out_len && (p.revents & POLLOUT)) {
            ssize_t w = send(fd, out + out_off, out_len - out_off, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN) {
                snprintf(cl->err, sizeof cl->err, "send: %s", strerror(errno));
                goto done;
            }
            if (w > 0) {
                out_off += (size_t)w;
                cl->sent += (size_t)w;
            }
        }
    }
    rc = 0;
done:
    free(out);
    free(in);
    free(want);
    return rc;
}

static void *client_main(void *arg) {
    client *cl = arg;
    int fd = ts_connect_server(cl->s, cl->index);
    if (fd < 0) {
        snprintf(cl->err, sizeof cl->err, "connect: %s", strerror(errno));
        return NULL;
    }
    ts_set_nonblock(fd, 1);
    if (pump(cl, fd) == 0) {
        /* Nothing more than was sent comes back: after our end of input the server closes
         * once its output has left, so the next thing is the end of the stream. */
        ts_set_nonblock(fd, 0);
        shutdown(fd, SHUT_WR);
        int r = ts_read_eof(fd);
        if (r == 0)
            cl->err[0] = '\0';
        else
            snprintf(cl->err, sizeof cl->err, "after the stream: %s",
                     r == 1 ? "more bytes" : strerror(errno));
    }
    close(fd);
    return NULL;
}

static char g_engine[32];

static evio_action on_serving(evio_server *srv, void *u) {
    (void)u;
    snprintf(g_engine, sizeof g_engine, "%s", evio_server_engine(srv));
    return EVIO_NONE;
}

static void run(int loops, int64_t deadline) {
    char dir[256], unix_addr[300];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
    snprintf(unix_addr, sizeof unix_addr, "unix://%s/echo.sock", dir);
    const char *addrs[] = {"tcp://127.0.0.1:0", unix_addr};
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = loops;
    ev.data = on_data;
    ev.serving = on_serving;
    static ts_server s; /* static: loop threads may still run if an assert fails */
    assert_int_equal(ts_server_start(&s, &ev, NULL, addrs, 2), 0);

    int64_t t0 = ts_now_ns();
    client cl[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = (client){.s = &s,
                         .index = i % 2,
                         .key = g_seed + (uint64_t)(loops * 100 + i),
                         .seed = g_seed ^ (uint64_t)(loops * 1000 + i)};
        snprintf(cl[i].err, sizeof cl[i].err, "did not finish");
        assert_int_equal(pthread_create(&th[i], NULL, client_main, &cl[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(ts_now_ns() - t0) / 1e9;
    assert_int_equal(ts_server_stop(&s), 0);
    ts_rmtree(dir);
    printf("[stress_echo] %s, %d loop(s): %d x %zu MiB echoed in %.2f s (%.0f MiB/s each way)\n",
           g_engine, loops, CLIENTS, STREAM_BYTES >> 20, secs,
           (double)(CLIENTS * (STREAM_BYTES >> 20)) / secs);
    for (int i = 0; i < CLIENTS; i++)
        if (cl[i].err[0])
            fail_msg("%d loops, client %d (%s): %s", loops, i, i % 2 ? "unix" : "tcp", cl[i].err);
    TS_ASSERT_NO_FAILURES();
    assert_true(ts_now_ns() < deadline);
}

static void test_echo_loops_1_2_4(void **unused) {
    (void)unused;
    ts_reset_failures();
    g_seed = ts_seed();
    int64_t deadline = ts_now_ns() + (int64_t)TIME_BOUND_S * 1000000000;
    run(1, deadline);
    run(2, deadline);
    run(4, deadline);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_echo_loops_1_2_4)};
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
