/*
 * EVIO_DETACH: flush, then hand the socket to the user.
 *
 * The client sends "detach:<N>\n"; `data` writes N bytes and returns EVIO_DETACH.
 * - The client receives the N pending bytes first (4 KiB, and 1 MiB which cannot be
 *   written in one go).
 * - `detached` gets a connected stream socket in blocking mode; the context is still
 *   there; evio_conn_write() on the detached connection is EVIO_ENOTCONN.
 * - `closed` is never called for it, and `data` is not called again: evio no longer
 *   watches the fd.
 * - A user thread echoes 20 KiB over the fd (checked byte for byte), also after the
 *   server has stopped (evio did not close it), then closes it; the client sees EOF.
 * - evio_conn_wake() on a referenced, detached connection returns EVIO_ENOTCONN.
 * - `detached` returning EVIO_SHUTDOWN stops the server and the fd stays usable.
 * Over tcp and unix.
 */
#include "ts.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#define MAGIC 0x44455441u
#define PATTERN_KEY 0xde7ac4ULL

typedef struct ctx {
    unsigned magic;
} ctx;

typedef struct dstate {
    int detached_returns_shutdown;
    ts_counter detached;
    atomic_int detached_fd;
    atomic_int closed_calls;
    atomic_int data_calls;
    atomic_int bad_fd_mode;
    evio_conn *conn; /* referenced in opened */
    pthread_mutex_t mu;
} dstate;

static evio_action on_opened(evio_conn *c, void *u) {
    dstate *st = TS_USER(u);
    ctx *x = malloc(sizeof *x);
    TS_CHECK(x != NULL);
    if (!x)
        return EVIO_CLOSE;
    x->magic = MAGIC;
    evio_conn_set_context(c, x);
    /* Keepalive set here is visible on the fd handed over (tcp only). */
    /* (The remote address: the local one is first asked for in `detached`.) */
    const struct sockaddr *ra = evio_conn_remote_addr(c, NULL);
    if (ra && ra->sa_family != AF_UNIX)
        TS_CHECK(evio_conn_set_keepalive(c, 7) == 0);
    evio_conn_ref(c);
    pthread_mutex_lock(&st->mu);
    TS_CHECK(st->conn == NULL);
    st->conn = c;
    pthread_mutex_unlock(&st->mu);
    return EVIO_NONE;
}

static evio_action on_data(evio_conn *c, const void *in, size_t len, void *u) {
    dstate *st = TS_USER(u);
    atomic_fetch_add(&st->data_calls, 1);
    unsigned long n = 0;
    char req[64];
    size_t k = len < sizeof req - 1 ? len : sizeof req - 1;
    memcpy(req, in, k);
    req[k] = '\0';
    if (len == 0 || sscanf(req, "detach:%lu\n", &n) != 1 || req[len - 1] != '\n') {
        ts_fail_at(__FILE__, __LINE__, "unexpected input to data (%zu bytes): not a request", len);
        return EVIO_CLOSE;
    }
    unsigned char *buf = malloc(n ? n : 1);
    TS_CHECK(buf != NULL);
    if (!buf)
        return EVIO_CLOSE;
    ts_stream_fill(PATTERN_KEY, 0, buf, n);
    /* Several writes: all of it must be flushed before the handover. */
    size_t half = n / 2;
    TS_CHECK(evio_conn_write(c, buf, half) == 0);
    TS_CHECK(evio_conn_write(c, buf + half, n - half) == 0);
    free(buf);
    return EVIO_DETACH;
}

static evio_action on_closed(evio_conn *c, int err, void *u) {
    (void)c;
    (void)err;
    dstate *st = TS_USER(u);
    atomic_fetch_add(&st->closed_calls, 1);
    ts_fail_at(__FILE__, __LINE__, "closed called for a detached connection");
    return EVIO_NONE;
}

static evio_action on_detached(evio_conn *c, int fd, void *u) {
    dstate *st = TS_USER(u);
    TS_CHECKF(fd >= 0, "detached fd %d", fd);
    int fl = fcntl(fd, F_GETFL);
    TS_CHECKF(fl >= 0, "detached fd %d is not open: %s", fd, strerror(errno));
    if (fl < 0 || (fl & O_NONBLOCK)) {
        atomic_fetch_add(&st->bad_fd_mode, 1);
        ts_fail_at(__FILE__, __LINE__, "detached fd is not in blocking mode (flags 0x%x)", fl);
    }
    int type = 0;
    socklen_t tl = sizeof type;
    TS_CHECK(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM);
    struct sockaddr_storage peer;
    socklen_t pl = sizeof peer;
    TS_CHECKF(getpeername(fd, (struct sockaddr *)&peer, &pl) == 0,
              "detached fd is not connected: %s", strerror(errno));
    struct sockaddr_storage me = {0};
    socklen_t ml = sizeof me;
    if (getsockname(fd, (struct sockaddr *)&me, &ml) == 0 && me.ss_family != AF_UNIX) {
        int on = 0, idle = 0, intvl = 0;
        socklen_t l = sizeof on;
        getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &l);
        l = sizeof idle;
        getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, &l);
        l = sizeof intvl;
        getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, &l);
        TS_CHECKF(on && idle == 7 && intvl == 7,
                  "evio_conn_set_keepalive(7) not in effect: SO_KEEPALIVE %d, idle %d, "
                  "interval %d",
                  on, idle, intvl);
    }
    /* The connection's addresses are still there (the fd is the user's now). */
    socklen_t cl = 0;
    const struct sockaddr *la = evio_conn_local_addr(c, &cl);
    TS_CHECKF(la && cl > 0 && la->sa_family == me.ss_family, "evio_conn_local_addr in detached: %s",
              la ? "wrong family" : evio_last_error());
    TS_CHECK(evio_conn_remote_addr(c, NULL) != NULL);
    ctx *x = evio_conn_context(c);
    TS_CHECKF(x && x->magic == MAGIC, "context lost in detached");
    free(x);
    evio_conn_set_context(c, NULL);
    int w = evio_conn_write(c, "x", 1);
    TS_CHECKF(w == EVIO_ENOTCONN, "evio_conn_write in detached: %d, want EVIO_ENOTCONN", w);
    atomic_store(&st->detached_fd, fd);
    ts_counter_add(&st->detached, 1);
    return st->detached_returns_shutdown ? EVIO_SHUTDOWN : EVIO_NONE;
}

/* The user's side of the detached socket: blocking echo until EOF, then close. */
static void *fd_echo_main(void *p) {
    int fd = *(int *)p;
    ts_set_timeouts(fd, TS_IO_TIMEOUT_MS);
    char buf[8192];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            ts_fail_at(__FILE__, __LINE__, "read on the detached fd: %s", strerror(errno));
            break;
        }
        if (ts_write_all(fd, buf, (size_t)r) != 0) {
            ts_fail_at(__FILE__, __LINE__, "write on the detached fd: %s", strerror(errno));
            break;
        }
    }
    close(fd);
    return NULL;
}

static int roundtrip(int fd, size_t n, uint64_t seed) {
    unsigned char *buf = malloc(n);
    ts_rng r;
    ts_rng_seed(&r, seed);
    ts_rng_fill(&r, buf, n);
    char err[256];
    int rc = ts_echo_verify(fd, buf, n, err, sizeof err);
    if (rc != 0)
        ts_fail_at(__FILE__, __LINE__, "round trip of %zu bytes over the detached fd: %s", n, err);
    free(buf);
    return rc;
}

static void run_detach(int is_unix, size_t pending, int shutdown_in_detached) {
    ts_reset_failures();
    dstate st;
    memset(&st, 0, sizeof st);
    st.detached_returns_shutdown = shutdown_in_detached;
    ts_counter_init(&st.detached);
    atomic_init(&st.detached_fd, -1);
    pthread_mutex_init(&st.mu, NULL);

    char dir[256] = "", addr[512];
    if (is_unix) {
        assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
        snprintf(addr, sizeof addr, "unix://%s/detach.sock", dir);
    } else {
        snprintf(addr, sizeof addr, "tcp://127.0.0.1:0");
    }
    const char *addrs[] = {addr};
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = on_opened;
    ev.data = on_data;
    ev.closed = on_closed;
    ev.detached = on_detached;
    ts_server s;
    int r = ts_server_start(&s, &ev, &st, addrs, 1);
    if (r != 0)
        fail_msg("evio_serve(%s): %d / %s", addr, r, s.last_error);

    int fd = ts_connect_server(&s, 0);
    int stopped = 0;
    pthread_t echo_thread;
    int echo_started = 0;
    if (fd < 0) {
        ts_fail_at(__FILE__, __LINE__, "connect: %s", strerror(errno));
        goto out;
    }
    char req[64];
    int n = snprintf(req, sizeof req, "detach:%zu\n", pending);
    TS_CHECK(ts_write_all(fd, req, (size_t)n) == 0);

    /* The pending output comes first, complete and in order. */
    unsigned char *got = malloc(pending), *want = malloc(pending);
    ts_stream_fill(PATTERN_KEY, 0, want, pending);
    int rr = ts_read_full(fd, got, pending);
    TS_CHECKF(rr == 0, "pending output: read %d (%s)", rr, strerror(errno));
    TS_CHECKF(rr != 0 || memcmp(got, want, pending) == 0, "pending output corrupted");
    free(got);
    free(want);
    if (ts_failures())
        goto out;

    TS_CHECKF(ts_counter_wait_ge(&st.detached, 1, TS_WAIT_TIMEOUT_MS) == 0, "detached not called");
    if (ts_failures())
        goto out;
    int dfd = atomic_load(&st.detached_fd);

    if (shutdown_in_detached) {
        r = ts_server_wait(&s, TS_WAIT_TIMEOUT_MS);
        TS_CHECKF(r == 0, "EVIO_SHUTDOWN from detached: evio_serve returned %d", r);
        stopped = r != EVIO_ETIMEDOUT;
    }

    TS_CHECK(pthread_create(&echo_thread, NULL, fd_echo_main, &dfd) == 0);
    echo_started = 1;
    roundtrip(fd, 20 * 1024, ts_seed());

    /* evio does not watch the fd any more: its `data` was called only for the request. */
    TS_CHECKF(atomic_load(&st.data_calls) == 1, "data called %d times",
              atomic_load(&st.data_calls));
    /* A referenced, detached connection answers EVIO_ENOTCONN. */
    pthread_mutex_lock(&st.mu);
    evio_conn *c = st.conn;
    pthread_mutex_unlock(&st.mu);
    int w = evio_conn_wake(c);
    TS_CHECKF(w == EVIO_ENOTCONN, "evio_conn_wake on a detached connection: %d", w);

    /* Stop the server; the fd is still ours and still works. */
    if (!stopped) {
        r = ts_server_stop(&s);
        TS_CHECKF(r == 0, "evio_serve returned %d", r);
        stopped = 1;
    }
    roundtrip(fd, 1024, ts_seed() + 1);
    TS_CHECK(shutdown(fd, SHUT_WR) == 0);
    pthread_join(echo_thread, NULL);
    echo_started = 0;
    TS_CHECKF(ts_read_eof(fd) == 0, "client did not see EOF after the user closed the fd");

out:
    if (fd >= 0)
        close(fd);
    if (echo_started)
        pthread_join(echo_thread, NULL);
    if (!stopped)
        r = ts_server_stop(&s);
    if (st.conn)
        evio_conn_unref(st.conn);
    TS_ASSERT_NO_FAILURES();
    assert_int_equal(r, 0);
    assert_int_equal(atomic_load(&st.closed_calls), 0);
    assert_int_equal(atomic_load(&st.bad_fd_mode), 0);
    assert_int_equal(ts_counter_get(&st.detached), 1);
    if (is_unix)
        ts_rmtree(dir);
    ts_counter_destroy(&st.detached);
    pthread_mutex_destroy(&st.mu);
}

static void test_tcp_4k(void **s) {
    (void)s;
    run_detach(0, 4096, 0);
}
static void test_tcp_1m(void **s) {
    (void)s;
    run_detach(0, 1 << 20, 0);
}
static void test_unix_4k(void **s) {
    (void)s;
    run_detach(1, 4096, 0);
}
static void test_unix_1m(void **s) {
    (void)s;
    run_detach(1, 1 << 20, 0);
}
static void test_tcp_nothing_pending(void **s) {
    (void)s;
    run_detach(0, 0, 0);
}
static void test_tcp_shutdown_from_detached(void **s) {
    (void)s;
    run_detach(0, 4096, 1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tcp_4k),
    cmocka_unit_test(test_tcp_1m),
    cmocka_unit_test(test_unix_4k),
    cmocka_unit_test(test_unix_1m),
    cmocka_unit_test(test_tcp_nothing_pending),
    cmocka_unit_test(test_tcp_shutdown_from_detached),
};

TS_MAIN(tests)
