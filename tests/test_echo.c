/*
 * Echo: evio's TestServe, made strict.
 *
 * Ten clients each read a greeting, then send 3-4 random blocks of 0-1 MiB and read every
 * block back (writing and reading concurrently, since the server applies backpressure);
 * every byte is compared. Run over tcp and unix, with 1, 5 and one-per-CPU loops, under
 * each load-balancing mode. The last `closed` returns EVIO_SHUTDOWN, and evio_serve()
 * must then return 0.
 *
 * Also checked: callbacks of a connection run on one thread; round-robin and
 * least-connections spread ten sequentially connected clients evenly over the loops;
 * keepalive is accepted on tcp and refused (EVIO_ENOTSUP) on unix; `closed` sees the
 * context set in `opened`, err 0, exactly once; the unix socket file is removed at
 * shutdown.
 */
#include "ts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NCLIENTS 10
#define MAX_BLOCK (1024 * 1024)
#define GREETING "sweetness\r\n"
#define CTX_MAGIC 0x45434830u

typedef struct echo_cfg {
    int is_unix;
    int loops;
    evio_load_balance lb;
} echo_cfg;

typedef struct echo_state {
    int is_unix;
    atomic_int opened;
    atomic_int closed;
    pthread_mutex_t mu;
    pthread_t loop_threads[64];
    int loop_conns[64];
    int nloop_threads;
} echo_state;

typedef struct conn_ctx {
    unsigned magic;
    pthread_t thread;
    int closed;
    size_t bytes;
} conn_ctx;

static evio_action on_opened(evio_conn *conn, void *udata) {
    echo_state *st = TS_USER(udata);
    conn_ctx *ctx = calloc(1, sizeof *ctx);
    TS_CHECK(ctx != NULL);
    if (!ctx)
        return EVIO_CLOSE;
    ctx->magic = CTX_MAGIC;
    ctx->thread = pthread_self();
    evio_conn_set_context(conn, ctx);
    TS_CHECK(evio_conn_context(conn) == ctx);

    pthread_mutex_lock(&st->mu);
    int i;
    for (i = 0; i < st->nloop_threads; i++)
        if (pthread_equal(st->loop_threads[i], ctx->thread))
            break;
    if (i == st->nloop_threads && i < 64)
        st->loop_threads[st->nloop_threads++] = ctx->thread;
    if (i < 64)
        st->loop_conns[i]++;
    pthread_mutex_unlock(&st->mu);

    int ka = evio_conn_set_keepalive(conn, 300);
    if (st->is_unix)
        TS_CHECKF(ka == EVIO_ENOTSUP, "keepalive on a unix socket: %d, want EVIO_ENOTSUP", ka);
    else
        TS_CHECKF(ka == 0, "keepalive on tcp: %d", ka);
    TS_CHECK(evio_conn_local_addr(conn, NULL) != NULL);
    TS_CHECK(evio_conn_remote_addr(conn, NULL) != NULL);
    TS_CHECK(evio_conn_write(conn, GREETING, strlen(GREETING)) == 0);
    atomic_fetch_add(&st->opened, 1);
    return EVIO_NONE;
}

static evio_action on_data(evio_conn *conn, const void *in, size_t len, void *udata) {
    (void)udata;
    conn_ctx *ctx = evio_conn_context(conn);
    TS_CHECK(ctx != NULL && ctx->magic == CTX_MAGIC);
    if (ctx) {
        TS_CHECKF(pthread_equal(ctx->thread, pthread_self()),
                  "data ran on another thread than opened");
        ctx->bytes += len;
    }
    TS_CHECKF(in != NULL && len > 0, "data without input (in=%p len=%zu) but no wake was sent", in,
              len);
    int r = evio_conn_write(conn, in, len);
    TS_CHECKF(r == 0, "evio_conn_write: %d", r);
    return EVIO_NONE;
}

static evio_action on_closed(evio_conn *conn, int err, void *udata) {
    echo_state *st = TS_USER(udata);
    conn_ctx *ctx = evio_conn_context(conn);
    TS_CHECKF(ctx != NULL && ctx->magic == CTX_MAGIC, "context lost in closed");
    TS_CHECKF(err == 0, "orderly client close gave err %d (%s)", err, evio_strerror(err));
    if (ctx) {
        TS_CHECKF(pthread_equal(ctx->thread, pthread_self()),
                  "closed ran on another thread than opened");
        TS_CHECKF(++ctx->closed == 1, "closed called %d times", ctx->closed);
        ctx->magic = 0;
        free(ctx);
    }
    int n = atomic_fetch_add(&st->closed, 1) + 1;
    if (n == NCLIENTS && atomic_load(&st->opened) == NCLIENTS)
        return EVIO_SHUTDOWN;
    return EVIO_NONE;
}

static atomic_ullong echoed_bytes;

typedef struct client_arg {
    int fd;
    uint64_t seed;
    int index;
} client_arg;

static void *client_main(void *p) {
    client_arg *a = p;
    ts_rng rng;
    ts_rng_seed(&rng, a->seed);
    int nblocks = 3 + (int)ts_rng_below(&rng, 2);
    unsigned char *buf = malloc(MAX_BLOCK);
    TS_CHECK(buf != NULL);
    for (int b = 0; buf && b < nblocks; b++) {
        size_t n = (size_t)ts_rng_below(&rng, MAX_BLOCK);
        ts_rng_fill(&rng, buf, n);
        char err[256];
        if (ts_echo_verify(a->fd, buf, n, err, sizeof err) != 0) {
            ts_fail_at(__FILE__, __LINE__, "client %d block %d (%zu bytes): %s", a->index, b, n,
                       err);
            break;
        }
        atomic_fetch_add(&echoed_bytes, n);
    }
    free(buf);
    close(a->fd);
    return NULL;
}

static void run_echo(void **state) {
    const echo_cfg *cfg = *state;
    ts_reset_failures();
    echo_state st;
    memset(&st, 0, sizeof st);
    pthread_mutex_init(&st.mu, NULL);
    st.is_unix = cfg->is_unix;

    char dir[256] = "", addr[512];
    if (cfg->is_unix) {
        assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
        snprintf(addr, sizeof addr, "unix://%s/echo.sock", dir);
    } else {
        snprintf(addr, sizeof addr, "tcp://127.0.0.1:0");
    }
    const char *addrs[] = {addr};

    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = cfg->loops;
    ev.load_balance = cfg->lb;
    ev.opened = on_opened;
    ev.data = on_data;
    ev.closed = on_closed;

    ts_server s;
    int r = ts_server_start(&s, &ev, &st, addrs, 1);
    if (r != 0)
        fail_msg("evio_serve(%s) failed: %d %s / %s", addr, r, evio_strerror(r), s.last_error);

    if (cfg->loops > 0)
        TS_CHECKF(s.num_loops == cfg->loops, "num_loops %d, asked for %d", s.num_loops, cfg->loops);
    else
        TS_CHECKF(s.num_loops == ts_ncpu_online() || s.num_loops == ts_ncpu_affinity(),
                  "num_loops -1 gave %d loops; CPUs online %d, usable %d", s.num_loops,
                  ts_ncpu_online(), ts_ncpu_affinity());
    int nloops = s.num_loops;

    /* Connect one at a time (each greeting proves `opened` ran), so the spread over the
     * loops is deterministic for round-robin and least-connections. */
    client_arg args[NCLIENTS];
    int nconnected = 0;
    uint64_t seed = ts_seed();
    for (int i = 0; i < NCLIENTS; i++) {
        int fd = ts_connect_server(&s, 0);
        if (fd < 0) {
            ts_fail_at(__FILE__, __LINE__, "connect %d: %s", i, strerror(errno));
            break;
        }
        args[nconnected].fd = fd;
        args[nconnected].seed = seed + (uint64_t)i * 7919 + (uint64_t)cfg->loops * 131 + cfg->lb;
        args[nconnected].index = i;
        nconnected++;
        char g[sizeof GREETING - 1];
        int rr = ts_read_full(fd, g, sizeof g);
        if (rr != 0 || memcmp(g, GREETING, sizeof g) != 0) {
            ts_fail_at(__FILE__, __LINE__, "client %d: no greeting before sending (read %d: %s)", i,
                       rr, strerror(errno));
            break;
        }
    }

    if (ts_failures() == 0) {
        TS_CHECK(atomic_load(&st.opened) == NCLIENTS);
        pthread_mutex_lock(&st.mu);
        int used = st.nloop_threads;
        int minc = NCLIENTS, maxc = 0;
        for (int i = 0; i < used; i++) {
            if (st.loop_conns[i] < minc)
                minc = st.loop_conns[i];
            if (st.loop_conns[i] > maxc)
                maxc = st.loop_conns[i];
        }
        pthread_mutex_unlock(&st.mu);
        TS_CHECKF(used >= 1 && used <= nloops, "connections ran on %d threads, %d loops", used,
                  nloops);
        if (cfg->lb != EVIO_LB_RANDOM || nloops == 1) {
            int want = nloops < NCLIENTS ? nloops : NCLIENTS;
            TS_CHECKF(used == want && maxc - minc <= 1,
                      "load balance %d over %d loops: %d loops used (want %d), "
                      "min %d max %d connections per loop",
                      cfg->lb, nloops, used, want, minc, maxc);
        }
    }

    atomic_store(&echoed_bytes, 0);
    if (ts_failures() == 0) {
        pthread_t th[NCLIENTS];
        int started = 0;
        for (int i = 0; i < nconnected; i++, started++)
            if (pthread_create(&th[i], NULL, client_main, &args[i]) != 0)
                break;
        for (int i = 0; i < started; i++)
            pthread_join(th[i], NULL);
        for (int i = started; i < nconnected; i++)
            close(args[i].fd);
        /* The last `closed` returns EVIO_SHUTDOWN. */
        r = ts_server_wait(&s, TS_WAIT_TIMEOUT_MS);
        TS_CHECKF(r != EVIO_ETIMEDOUT,
                  "server did not shut down from `closed` (opened %d, closed %d)",
                  atomic_load(&st.opened), atomic_load(&st.closed));
    } else {
        for (int i = 0; i < nconnected; i++)
            close(args[i].fd);
        r = EVIO_ETIMEDOUT;
    }
    if (r == EVIO_ETIMEDOUT)
        r = ts_server_stop(&s);
    assert_int_equal(r, 0);
    TS_ASSERT_NO_FAILURES();
    fprintf(stderr, "[echo] %d clients, %d loops: %llu bytes echoed and checked\n", NCLIENTS,
            nloops, (unsigned long long)atomic_load(&echoed_bytes));
    assert_int_equal(atomic_load(&st.opened), NCLIENTS);
    assert_int_equal(atomic_load(&st.closed), NCLIENTS);
    if (cfg->is_unix) {
        char path[600];
        snprintf(path, sizeof path, "%s/echo.sock", dir);
        if (ts_exists(path))
            fail_msg("unix socket file %s not removed at shutdown", path);
        ts_rmtree(dir);
    }
    pthread_mutex_destroy(&st.mu);
}

#define CFG(name, u, l, b) static const echo_cfg name = {u, l, b};
CFG(tcp1r, 0, 1, EVIO_LB_RANDOM)
CFG(tcp1rr, 0, 1, EVIO_LB_ROUND_ROBIN)
CFG(tcp1lc, 0, 1, EVIO_LB_LEAST_CONNECTIONS)
CFG(tcp5r, 0, 5, EVIO_LB_RANDOM)
CFG(tcp5rr, 0, 5, EVIO_LB_ROUND_ROBIN)
CFG(tcp5lc, 0, 5, EVIO_LB_LEAST_CONNECTIONS)
CFG(tcpNr, 0, -1, EVIO_LB_RANDOM)
CFG(tcpNrr, 0, -1, EVIO_LB_ROUND_ROBIN)
CFG(tcpNlc, 0, -1, EVIO_LB_LEAST_CONNECTIONS)
CFG(unix1r, 1, 1, EVIO_LB_RANDOM)
CFG(unix1rr, 1, 1, EVIO_LB_ROUND_ROBIN)
CFG(unix1lc, 1, 1, EVIO_LB_LEAST_CONNECTIONS)
CFG(unix5r, 1, 5, EVIO_LB_RANDOM)
CFG(unix5rr, 1, 5, EVIO_LB_ROUND_ROBIN)
CFG(unix5lc, 1, 5, EVIO_LB_LEAST_CONNECTIONS)
CFG(unixNr, 1, -1, EVIO_LB_RANDOM)
CFG(unixNrr, 1, -1, EVIO_LB_ROUND_ROBIN)
CFG(unixNlc, 1, -1, EVIO_LB_LEAST_CONNECTIONS)

#define T(name, cfg)                                                                               \
    { name, run_echo, NULL, NULL, (void *)&cfg }

static const struct CMUnitTest tests[] = {
    T("tcp_loops1_random", tcp1r),
    T("tcp_loops1_round_robin", tcp1rr),
    T("tcp_loops1_least_connections", tcp1lc),
    T("tcp_loops5_random", tcp5r),
    T("tcp_loops5_round_robin", tcp5rr),
    T("tcp_loops5_least_connections", tcp5lc),
    T("tcp_loopsN_random", tcpNr),
    T("tcp_loopsN_round_robin", tcpNrr),
    T("tcp_loopsN_least_connections", tcpNlc),
    T("unix_loops1_random", unix1r),
    T("unix_loops1_round_robin", unix1rr),
    T("unix_loops1_least_connections", unix1lc),
    T("unix_loops5_random", unix5r),
    T("unix_loops5_round_robin", unix5rr),
    T("unix_loops5_least_connections", unix5lc),
    T("unix_loopsN_random", unixNr),
    T("unix_loopsN_round_robin", unixNrr),
    T("unix_loopsN_least_connections", unixNlc),
};

TS_MAIN(tests)
