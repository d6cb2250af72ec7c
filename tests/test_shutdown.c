/*
 * Shutdown: evio's TestShutdown, made strict.
 *
 * - Ten clients connected; EVIO_SHUTDOWN returned by `tick`, by `data` or by `opened`:
 *   evio_serve() returns 0, `closed` ran exactly once per open connection with err 0,
 *   every client reads EOF, the unix socket file is gone. Over tcp and unix, 1 and 3 loops.
 * - `serving` returning EVIO_SHUTDOWN: evio_serve() returns 0 at once, no other callback
 *   runs, and the port / socket file are released.
 * - Shutdown while every client is streaming data: `closed` once per connection, no hang.
 * - Two servers in one process: stopping one leaves the other serving.
 * - `closed` of one connection, during shutdown, writes to another one that is still open
 *   (a goodbye broadcast): refused or accepted, nothing leaks (ASAN's leak check) and the
 *   write to an already closed one is EVIO_ENOTCONN.
 */
#include "ts.h"

#include <netinet/in.h>
#include <poll.h>
#include <time.h>

#define NCLIENTS 10
#define MAGIC 0x53485554u

typedef enum { BY_TICK, BY_DATA, BY_OPENED } how_t;

typedef struct state {
    how_t how;
    int opened_limit; /* BY_OPENED: the opened call that returns SHUTDOWN */
    ts_counter opened;
    ts_counter closed;
    atomic_int closed_twice;
    atomic_int closed_err;
    ts_counter data_calls;
    atomic_int other_calls;
} sd_state;

typedef struct ctx {
    unsigned magic;
    int closed;
} ctx;

static evio_action on_opened(evio_conn *c, void *udata) {
    sd_state *st = TS_USER(udata);
    ctx *x = calloc(1, sizeof *x);
    TS_CHECK(x != NULL);
    if (!x)
        return EVIO_CLOSE;
    x->magic = MAGIC;
    evio_conn_set_context(c, x);
    long n = ts_counter_add(&st->opened, 1);
    if (st->how == BY_OPENED && n == st->opened_limit)
        return EVIO_SHUTDOWN;
    return EVIO_NONE;
}

static evio_action on_closed(evio_conn *c, int err, void *udata) {
    sd_state *st = TS_USER(udata);
    ctx *x = evio_conn_context(c);
    TS_CHECKF(x && x->magic == MAGIC, "context lost in closed");
    if (x && ++x->closed > 1)
        atomic_fetch_add(&st->closed_twice, 1);
    if (err != 0) {
        atomic_fetch_add(&st->closed_err, 1);
        fprintf(stderr, "[shutdown] closed with err %d (%s)\n", err, evio_strerror(err));
    }
    /* Freed here: a second `closed` for the same connection would be a use after free,
     * which the ASAN build reports. */
    if (x) {
        x->magic = 0;
        free(x);
    }
    evio_conn_set_context(c, NULL);
    ts_counter_add(&st->closed, 1);
    return EVIO_NONE;
}

static evio_action on_data(evio_conn *c, const void *in, size_t len, void *udata) {
    sd_state *st = TS_USER(udata);
    ts_counter_add(&st->data_calls, 1);
    if (st->how == BY_DATA && len == 4 && in && !memcmp(in, "stop", 4))
        return EVIO_SHUTDOWN;
    TS_CHECK(evio_conn_write(c, in, len) == 0);
    return EVIO_NONE;
}

static void run_shutdown(how_t how, int is_unix, int loops) {
    ts_reset_failures();
    sd_state st;
    memset(&st, 0, sizeof st);
    st.how = how;
    st.opened_limit = 3;
    ts_counter_init(&st.opened);
    ts_counter_init(&st.closed);
    ts_counter_init(&st.data_calls);

    char dir[256] = "", addr[600], path[300] = "";
    if (is_unix) {
        assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
        snprintf(path, sizeof path, "%s/shutdown.sock", dir);
        snprintf(addr, sizeof addr, "unix://%s", path);
    } else {
        snprintf(addr, sizeof addr, "tcp://127.0.0.1:0");
    }
    const char *addrs[] = {addr};
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = loops;
    ev.load_balance = EVIO_LB_ROUND_ROBIN;
    ev.opened = on_opened;
    ev.closed = on_closed;
    ev.data = on_data;
    ts_server s;
    int r = ts_server_start(&s, &ev, &st, addrs, 1);
    if (r != 0)
        fail_msg("evio_serve(%s): %d %s / %s", addr, r, evio_strerror(r), s.last_error);
    if (is_unix)
        TS_CHECKF(ts_exists(path), "unix socket file %s missing while serving", path);

    int n = how == BY_OPENED ? st.opened_limit : NCLIENTS;
    int fds[NCLIENTS];
    int nfds = 0;
    for (int i = 0; i < n; i++) {
        int fd = ts_connect_server(&s, 0);
        if (fd < 0) {
            ts_fail_at(__FILE__, __LINE__, "connect %d: %s", i, strerror(errno));
            break;
        }
        fds[nfds++] = fd;
        /* Each connection is opened before the next one (for BY_OPENED, the last one's
         * `opened` is the one returning EVIO_SHUTDOWN). */
        if (how != BY_OPENED || i + 1 < n)
            TS_CHECKF(ts_counter_wait_ge(&st.opened, i + 1, TS_WAIT_TIMEOUT_MS) == 0,
                      "opened not called for client %d", i);
    }

    if (how == BY_TICK) {
        r = ts_server_stop(&s);
    } else {
        if (how == BY_DATA && nfds > 0)
            TS_CHECK(ts_write_all(fds[nfds / 2], "stop", 4) == 0);
        r = ts_server_wait(&s, TS_WAIT_TIMEOUT_MS);
        TS_CHECKF(r != EVIO_ETIMEDOUT, "EVIO_SHUTDOWN from %s did not stop the server",
                  how == BY_DATA ? "data" : "opened");
        if (r == EVIO_ETIMEDOUT)
            r = ts_server_stop(&s);
    }
    assert_int_equal(r, 0);

    /* Every client sees the end of the stream. */
    for (int i = 0; i < nfds; i++) {
        int e = ts_read_eof(fds[i]);
        TS_CHECKF(e == 0, "client %d: want EOF after shutdown, got %s", i,
                  e > 0 ? "data" : strerror(errno));
        close(fds[i]);
    }
    TS_ASSERT_NO_FAILURES();
    assert_int_equal(ts_counter_get(&st.opened), nfds);
    assert_int_equal(ts_counter_get(&st.closed), ts_counter_get(&st.opened));
    assert_int_equal(atomic_load(&st.closed_twice), 0);
    assert_int_equal(atomic_load(&st.closed_err), 0);
    if (is_unix) {
        if (ts_exists(path))
            fail_msg("unix socket file %s left after shutdown", path);
        ts_rmtree(dir);
    }
    ts_counter_destroy(&st.opened);
    ts_counter_destroy(&st.closed);
    ts_counter_destroy(&st.data_calls);
}

static void test_tick_tcp(void **s) {
    (void)s;
    run_shutdown(BY_TICK, 0, 1);
}
static void test_tick_unix(void **s) {
    (void)s;
    run_shutdown(BY_TICK, 1, 1);
}
static void test_tick_tcp_3loops(void **s) {
    (void)s;
    run_shutdown(BY_TICK, 0, 3);
}
static void test_data_tcp(void **s) {
    (void)s;
    run_shutdown(BY_DATA, 0, 1);
}
static void test_data_unix_3loops(void **s) {
    (void)s;
    run_shutdown(BY_DATA, 1, 3);
}
static void test_opened_tcp(void **s) {
    (void)s;
    run_shutdown(BY_OPENED, 0, 1);
}
static void test_opened_tcp_3loops(void **s) {
    (void)s;
    run_shutdown(BY_OPENED, 0, 3);
}

/* ---- serving returns EVIO_SHUTDOWN ------------------------------------------------------ */

typedef struct serving_state {
    int serving;
    int others;
    int port;
} serving_state;

static evio_action s_serving(evio_server *srv, void *u) {
    serving_state *st = u;
    st->serving++;
    const struct sockaddr *sa = evio_server_addr(srv, 0, NULL);
    st->port = sa ? ts_sa_port(sa) : -1;
    return EVIO_SHUTDOWN;
}
static evio_action s_opened(evio_conn *c, void *u) {
    (void)c;
    ((serving_state *)u)->others++;
    return EVIO_NONE;
}
static evio_action s_closed(evio_conn *c, int e, void *u) {
    (void)c;
    (void)e;
    ((serving_state *)u)->others++;
    return EVIO_NONE;
}
static evio_action s_detached(evio_conn *c, int fd, void *u) {
    (void)c;
    (void)fd;
    ((serving_state *)u)->others++;
    return EVIO_NONE;
}
static void s_prewrite(evio_conn *c, void *u) {
    (void)c;
    ((serving_state *)u)->others++;
}
static evio_action s_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)c;
    (void)in;
    (void)len;
    ((serving_state *)u)->others++;
    return EVIO_NONE;
}
static evio_action s_tick(int64_t *d, void *u) {
    (void)d;
    ((serving_state *)u)->others++;
    return EVIO_NONE;
}

static void test_serving_shutdown(void **state) {
    (void)state;
    char dir[256], uaddr[512], path[300];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/s.sock", dir);
    snprintf(uaddr, sizeof uaddr, "unix://%s", path);
    const char *addrs[] = {"tcp://127.0.0.1:0", uaddr, "udp://127.0.0.1:0"};
    serving_state st = {0, 0, 0};
    evio_events ev = EVIO_EVENTS_INIT;
    ev.udata = &st;
    ev.num_loops = 4;
    ev.serving = s_serving;
    ev.opened = s_opened;
    ev.closed = s_closed;
    ev.detached = s_detached;
    ev.prewrite = s_prewrite;
    ev.data = s_data;
    ev.tick = s_tick;
    int64_t t0 = ts_now_ns();
    int r = evio_serve(&ev, addrs, 3);
    int64_t el = ts_now_ns() - t0;
    if (r != 0)
        fail_msg("evio_serve: %d %s / %s", r, evio_strerror(r), evio_last_error());
    assert_int_equal(st.serving, 1);
    assert_int_equal(st.others, 0); /* not even a tick */
    if (el > 900 * 1000000LL)
        fail_msg("evio_serve took %.1f ms to return after serving said shutdown", el / 1e6);
    if (ts_exists(path))
        fail_msg("unix socket file %s left behind", path);
    ts_rmtree(dir);

    /* The listening port is released: we can bind it ourselves. */
    assert_true(st.port > 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)st.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("port %d still bound after evio_serve returned: %s", st.port, strerror(errno));
    close(fd);

    /* And many times in a row (no leaked threads or descriptors that block it). */
    for (int i = 0; i < 50; i++) {
        st.serving = 0;
        assert_int_equal(evio_serve(&ev, addrs, 1), 0);
        assert_int_equal(st.serving, 1);
    }
    assert_int_equal(st.others, 0);
}

/* ---- shutdown while clients stream ------------------------------------------------------ */

typedef struct streamer {
    int fd;
    int result; /* 0 = saw EOF or reset */
} streamer;

static void *stream_main(void *p) {
    streamer *sm = p;
    unsigned char buf[16384];
    memset(buf, 'z', sizeof buf);
    ts_set_nonblock(sm->fd, 1);
    sm->result = -1;
    for (;;) {
        struct pollfd pf = {sm->fd, POLLIN | POLLOUT, 0};
        int r = poll(&pf, 1, TS_IO_TIMEOUT_MS);
        if (r <= 0) {
            ts_fail_at(__FILE__, __LINE__, "streaming client stuck: neither EOF nor error");
            break;
        }
        if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t k = read(sm->fd, buf, sizeof buf);
            if (k == 0 || (k < 0 && errno != EAGAIN)) {
                sm->result = 0;
                break;
            }
        }
        if (pf.revents & POLLOUT) {
            ssize_t w = send(sm->fd, buf, sizeof buf, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN) {
                sm->result = 0;
                break;
            }
        }
    }
    close(sm->fd);
    return NULL;
}

static void test_shutdown_while_streaming(void **state) {
    (void)state;
    ts_reset_failures();
    sd_state st;
    memset(&st, 0, sizeof st);
    st.how = BY_TICK;
    ts_counter_init(&st.opened);
    ts_counter_init(&st.closed);
    ts_counter_init(&st.data_calls);
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = 2;
    ev.opened = on_opened;
    ev.closed = on_closed;
    ev.data = on_data;
    ts_server s;
    assert_int_equal(ts_server_start(&s, &ev, &st, addrs, 1), 0);
    streamer sm[NCLIENTS];
    pthread_t th[NCLIENTS];
    int n = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        sm[i].fd = ts_connect_server(&s, 0);
        if (sm[i].fd < 0) {
            ts_fail_at(__FILE__, __LINE__, "connect: %s", strerror(errno));
            break;
        }
        if (pthread_create(&th[i], NULL, stream_main, &sm[i]) != 0) {
            close(sm[i].fd);
            break;
        }
        n++;
    }
    TS_CHECK(ts_counter_wait_ge(&st.opened, n, TS_WAIT_TIMEOUT_MS) == 0);
    /* Wait until data is flowing. */
    TS_CHECK(ts_counter_wait_ge(&st.data_calls, 4L * n, TS_WAIT_TIMEOUT_MS) == 0);
    int r = ts_server_stop(&s);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(r, 0);
    TS_ASSERT_NO_FAILURES();
    for (int i = 0; i < n; i++)
        assert_int_equal(sm[i].result, 0);
    assert_int_equal(ts_counter_get(&st.closed), ts_counter_get(&st.opened));
    assert_int_equal(atomic_load(&st.closed_twice), 0);
    assert_int_equal(atomic_load(&st.closed_err), 0);
    ts_counter_destroy(&st.opened);
    ts_counter_destroy(&st.closed);
    ts_counter_destroy(&st.data_calls);
}

/* ---- two servers in one process --------------------------------------------------------- */

static evio_action echo_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)u;
    TS_CHECK(evio_conn_write(c, in, len) == 0);
    return EVIO_NONE;
}

static void test_two_servers(void **state) {
    (void)state;
    ts_reset_failures();
    evio_events ev = EVIO_EVENTS_INIT;
    ev.data = echo_data;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server a, b;
    assert_int_equal(ts_server_start(&a, &ev, NULL, addrs, 1), 0);
    int r = ts_server_start(&b, &ev, NULL, addrs, 1);
    if (r != 0) {
        ts_server_stop(&a);
        fail_msg("second server: %d", r);
    }
    int fa = ts_connect_server(&a, 0);
    int fb = ts_connect_server(&b, 0);
    TS_CHECK(fa >= 0 && fb >= 0);
    TS_CHECK(ts_write_all(fa, "aaaa", 4) == 0);
    char buf[4];
    TS_CHECK(ts_read_full(fa, buf, 4) == 0 && !memcmp(buf, "aaaa", 4));
    int ra = ts_server_stop(&a);
    TS_CHECK(ts_read_eof(fa) == 0);
    /* b is unaffected. */
    for (int i = 0; i < 10; i++) {
        TS_CHECK(ts_write_all(fb, "bbbb", 4) == 0);
        TS_CHECK(ts_read_full(fb, buf, 4) == 0 && !memcmp(buf, "bbbb", 4));
    }
    int fb2 = ts_connect_server(&b, 0);
    TS_CHECK(fb2 >= 0);
    TS_CHECK(ts_write_all(fb2, "cccc", 4) == 0);
    TS_CHECK(ts_read_full(fb2, buf, 4) == 0 && !memcmp(buf, "cccc", 4));
    int rb = ts_server_stop(&b);
    close(fa);
    close(fb);
    close(fb2);
    assert_int_equal(ra, 0);
    assert_int_equal(rb, 0);
    TS_ASSERT_NO_FAILURES();
}

/* ---- writes from `closed` during shutdown ----------------------------------------------- */

typedef struct bcast {
    evio_conn *conns[2]; /* loop thread only (one loop) */
    int n;
    int enotconn, ok;
} bcast;

static evio_action b_opened(evio_conn *c, void *u) {
    bcast *b = TS_USER(u);
    if (b->n < 2)
        b->conns[b->n++] = c;
    evio_conn_ref(c); /* kept until the test ends, so `closed` may name the other one */
    return EVIO_NONE;
}

static evio_action b_closed(evio_conn *c, int err, void *u) {
    (void)err;
    bcast *b = TS_USER(u);
    for (int i = 0; i < b->n; i++) {
        if (b->conns[i] == c)
            continue;
        int r = evio_conn_write(b->conns[i], "goodbye", 7);
        TS_CHECKF(r == 0 || r == EVIO_ENOTCONN, "write from closed: %d", r);
        b->ok += r == 0;
        b->enotconn += r == EVIO_ENOTCONN;
    }
    return EVIO_NONE;
}

static void test_closed_writes_during_shutdown(void **state) {
    (void)state;
    ts_reset_failures();
    bcast b = {0};
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = b_opened;
    ev.closed = b_closed;
    ev.data = echo_data;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server s;
    assert_int_equal(ts_server_start(&s, &ev, &b, addrs, 1), 0);
    int fd[2];
    for (int i = 0; i < 2; i++) { /* an echo each: both are open on the server */
        char x;
        fd[i] = ts_connect_server(&s, 0);
        TS_CHECK(fd[i] >= 0 && ts_write_all(fd[i], "x", 1) == 0 && ts_read_full(fd[i], &x, 1) == 0);
    }
    assert_int_equal(ts_server_stop(&s), 0);
    for (int i = 0; i < 2; i++) {
        if (fd[i] >= 0)
            close(fd[i]);
    }
    TS_ASSERT_NO_FAILURES();
    /* The first closed writes to the other, still open; the second to a closed one. */
    assert_int_equal(b.n, 2);
    assert_int_equal(b.ok, 1);
    assert_int_equal(b.enotconn, 1);
    for (int i = 0; i < b.n; i++)
        evio_conn_unref(b.conns[i]);
}

/* A tick that writes a lot, in small pieces (many output chunks), to a connection and then
 * returns EVIO_SHUTDOWN: every byte reaches the client before the end of the stream. */
#define TICK_BYTES 100000
typedef struct tick_out {
    _Atomic(evio_conn *) conn;
    atomic_int wrote;
} tick_out;

static evio_action to_opened(evio_conn *c, void *u) {
    atomic_store(&((tick_out *)TS_USER(u))->conn, c);
    return EVIO_NONE;
}

static evio_action to_tick(int64_t *delay, void *u) {
    tick_out *t = TS_USER(u);
    *delay = 1000000; /* 1 ms */
    evio_conn *c = atomic_load(&t->conn);
    if (c == NULL || atomic_load(&t->wrote))
        return EVIO_NONE;
    char piece[100];
    for (int i = 0; i < TICK_BYTES / 100; i++) {
        memset(piece, 'a' + i % 26, sizeof piece);
        TS_CHECK(evio_conn_write(c, piece, sizeof piece) == 0);
    }
    atomic_store(&t->wrote, 1);
    return EVIO_SHUTDOWN;
}

static void test_tick_output_before_shutdown(void **s) {
    (void)s;
    ts_reset_failures();
    tick_out t;
    memset(&t, 0, sizeof t);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = to_opened;
    ev.tick = to_tick;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server srv;
    assert_int_equal(ts_server_start(&srv, &ev, &t, addrs, 1), 0);
    int fd = ts_connect_server(&srv, 0);
    assert_true(fd >= 0);
    char *got = malloc(TICK_BYTES);
    int r = ts_read_full(fd, got, TICK_BYTES);
    int eof = ts_read_eof(fd);
    assert_int_equal(ts_server_wait(&srv, TS_WAIT_TIMEOUT_MS), 0);
    close(fd);
    assert_int_equal(r, 0);
    for (int i = 0; i < TICK_BYTES; i++)
        if (got[i] != 'a' + (i / 100) % 26)
            fail_msg("byte %d differs", i);
    assert_int_equal(eof, 0);
    free(got);
    TS_ASSERT_NO_FAILURES();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tick_tcp),
    cmocka_unit_test(test_tick_unix),
    cmocka_unit_test(test_tick_tcp_3loops),
    cmocka_unit_test(test_data_tcp),
    cmocka_unit_test(test_data_unix_3loops),
    cmocka_unit_test(test_opened_tcp),
    cmocka_unit_test(test_opened_tcp_3loops),
    cmocka_unit_test(test_serving_shutdown),
    cmocka_unit_test(test_shutdown_while_streaming),
    cmocka_unit_test(test_two_servers),
    cmocka_unit_test(test_closed_writes_during_shutdown),
    cmocka_unit_test(test_tick_output_before_shutdown),
};

TS_MAIN(tests)
