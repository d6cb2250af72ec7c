/*
 * Outbound connections (since 1.2): evio_dial / evio_server_dial.
 *
 * - A dial from another thread reaches a plain listener: `opened` once, with the dial's
 *   ctx as context and addr_index -1; bytes flow both ways; `closed` at the peer's close.
 * - Each failure is reported once to `dial_failed` with the dial's ctx, never `opened`:
 *   refused (nothing listens), timed out (a listener whose backlog is full), unknown host,
 *   cancelled (the server stopped first).
 * - A host name is resolved off the loop and its addresses tried in turn ("localhost" to a
 *   listener on 127.0.0.1 only connects whatever order IPv6 and IPv4 come in).
 * - A dial from a callback lands on the calling loop; a front/back pair on two loops'
 *   server forwards bytes (a tiny proxy) with no locking.
 * - unix and connected UDP dials; bad input is refused at once and calls nothing.
 */
#include "ts.h"

#include <netinet/in.h>
#include <sys/un.h>

#define NCTX 8

typedef struct dstate {
    ts_counter opened, failed, closed, data;
    int ctx_opened[NCTX]; /* per ctx index: times `opened` saw it */
    int ctx_failed[NCTX]; /* times `dial_failed` saw it */
    int fail_err[NCTX];   /* the error it got */
    int addr_index[NCTX]; /* evio_conn_addr_index of the dialed connection */
    pthread_t thread[NCTX];
    char got[256];
    size_t got_len;
    const char *greeting; /* written by `opened` of a dialed connection */
    pthread_mutex_t mu;
} dstate;

static int ctxs[NCTX]; /* the dials' ctx pointers: &ctxs[i] */

static int ctx_index(void *ctx) {
    int *p = ctx;
    return (p >= ctxs && p < ctxs + NCTX) ? (int)(p - ctxs) : -1;
}

static void ds_init(dstate *st) {
    memset(st, 0, sizeof *st);
    ts_counter_init(&st->opened);
    ts_counter_init(&st->failed);
    ts_counter_init(&st->closed);
    ts_counter_init(&st->data);
    pthread_mutex_init(&st->mu, NULL);
}

static void ds_destroy(dstate *st) {
    ts_counter_destroy(&st->opened);
    ts_counter_destroy(&st->failed);
    ts_counter_destroy(&st->closed);
    ts_counter_destroy(&st->data);
    pthread_mutex_destroy(&st->mu);
}

static evio_action d_opened(evio_conn *c, void *u) {
    dstate *st = u;
    int i = ctx_index(evio_conn_context(c));
    if (i >= 0) {
        pthread_mutex_lock(&st->mu);
        st->ctx_opened[i]++;
        st->addr_index[i] = evio_conn_addr_index(c);
        st->thread[i] = pthread_self();
        pthread_mutex_unlock(&st->mu);
        if (st->greeting)
            TS_CHECK(evio_conn_write(c, st->greeting, strlen(st->greeting)) == 0);
    }
    ts_counter_add(&st->opened, 1);
    return EVIO_NONE;
}

static evio_action d_failed(void *ctx, int err, void *u) {
    dstate *st = u;
    int i = ctx_index(ctx);
    TS_CHECKF(i >= 0, "dial_failed with a ctx no dial was given");
    if (i >= 0) {
        pthread_mutex_lock(&st->mu);
        st->ctx_failed[i]++;
        st->fail_err[i] = err;
        pthread_mutex_unlock(&st->mu);
    }
    ts_counter_add(&st->failed, 1);
    return EVIO_NONE;
}

static evio_action d_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)c;
    dstate *st = u;
    pthread_mutex_lock(&st->mu);
    if (st->got_len + len <= sizeof st->got) {
        memcpy(st->got + st->got_len, in, len);
        st->got_len += len;
    }
    pthread_mutex_unlock(&st->mu);
    ts_counter_add(&st->data, (long)len);
    return EVIO_NONE;
}

static evio_action d_closed(evio_conn *c, int err, void *u) {
    (void)c;
    (void)err;
    ts_counter_add(&((dstate *)u)->closed, 1);
    return EVIO_NONE;
}

static evio_events d_events(dstate *st, int loops) {
    evio_events ev = EVIO_EVENTS_INIT;
    ev.udata = st;
    ev.num_loops = loops;
    ev.opened = d_opened;
    ev.dial_failed = d_failed;
    ev.data = d_data;
    ev.closed = d_closed;
    return ev;
}

/* A plain listener on 127.0.0.1:0 (or ::1), with `backlog`; its port in *port. */
static int listen_on(int family, int backlog, int *port) {
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0) {
        close(fd);
        return -1;
    }
    len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *port = ts_sa_port((struct sockaddr *)&ss);
    return fd;
}

static int accept_timed(int lfd) {
    if (ts_wait_readable(lfd, TS_WAIT_TIMEOUT_MS) != 1)
        return -1;
    int fd = accept(lfd, NULL, NULL);
    if (fd >= 0)
        ts_set_timeouts(fd, TS_IO_TIMEOUT_MS);
    return fd;
}

static evio_server *start_dialer(dstate *st, int loops) {
    evio_events ev = d_events(st, loops);
    evio_server *srv = NULL;
    assert_int_equal(evio_server_start(&ev, NULL, 0, &srv), 0);
    return srv;
}

static void stop_dialer(evio_server *srv) {
    assert_int_equal(evio_server_stop(srv, 0), 0);
    assert_int_equal(evio_server_wait(srv), 0);
    evio_server_free(srv);
}

static void test_dial_from_any_thread(void **state) {
    (void)state;
    dstate st;
    ds_init(&st);
    st.greeting = "hello upstream";
    int port;
    int lfd = listen_on(AF_INET, 16, &port);
    assert_true(lfd >= 0);
    evio_server *srv = start_dialer(&st, 2);
    char addr[64];
    snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", port);
    assert_int_equal(evio_server_dial(srv, -1, addr, NULL, &ctxs[0]), 0);
    int fd = accept_timed(lfd);
    assert_true(fd >= 0);
    char buf[64] = {0};
    assert_int_equal(ts_read_full(fd, buf, strlen(st.greeting)), 0);
    assert_string_equal(buf, st.greeting);
    assert_int_equal(ts_write_all(fd, "pong", 4), 0);
    assert_int_equal(ts_counter_wait_ge(&st.data, 4, TS_WAIT_TIMEOUT_MS), 0);
    pthread_mutex_lock(&st.mu);
    assert_memory_equal(st.got, "pong", 4);
    assert_int_equal(st.ctx_opened[0], 1);
    assert_int_equal(st.addr_index[0], -1);
    pthread_mutex_unlock(&st.mu);
    close(fd); /* the peer closes: `closed` for the dialed connection */
    assert_int_equal(ts_counter_wait_ge(&st.closed, 1, TS_WAIT_TIMEOUT_MS), 0);
    stop_dialer(srv);
    assert_int_equal(ts_counter_get(&st.failed), 0);
    close(lfd);
    TS_ASSERT_NO_FAILURES();
    ds_destroy(&st);
}

/* Fills a listener's backlog so that a further connect is never answered (SYNs dropped). */
static int fill_backlog(int port, int *fds, int max) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    int n = 0;
    for (; n < max; n++) {
        fds[n] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(fds[n], (struct sockaddr *)&a, sizeof a) != 0 && errno == EINPROGRESS) {
            /* Not answered at once: the backlog is full. */
            n++;
            break;
        }
    }
    return n;
}

static void test_dial_failures(void **state) {
    (void)state;
    dstate st;
    ds_init(&st);
    /* A port nobody listens on: bind and close a listener to find one. */
    int dead_port;
    int tmp = listen_on(AF_INET, 1, &dead_port);
    assert_true(tmp >= 0);
    close(tmp);
    /* A listener that never accepts, its backlog full: a connect to it hangs. */
    int full_port;
    int full = listen_on(AF_INET, 0, &full_port);
    assert_true(full >= 0);
    int fillers[16];
    int nfill = fill_backlog(full_port, fillers, 16);

    evio_server *srv = start_dialer(&st, 1);
    char addr[64];
    snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", dead_port);
    assert_int_equal(evio_server_dial(srv, 0, addr, NULL, &ctxs[0]), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", full_port);
    evio_dial_options opts = EVIO_DIAL_OPTIONS_INIT;
    opts.timeout_ns = 100 * 1000 * 1000;
    const int64_t t0 = ts_now_ns();
    assert_int_equal(evio_server_dial(srv, 0, addr, &opts, &ctxs[1]), 0);
    assert_int_equal(evio_server_dial(srv, 0, "tcp://nosuch-host.invalid:80", NULL, &ctxs[2]), 0);
    assert_int_equal(ts_counter_wait_ge(&st.failed, 3, TS_WAIT_TIMEOUT_MS), 0);
    const int64_t waited_ms = (ts_now_ns() - t0) / 1000000;
    /* The last one is cancelled by the stop: a connect that never ends. */
    opts.timeout_ns = INT64_MAX;
    assert_int_equal(evio_server_dial(srv, 0, addr, &opts, &ctxs[3]), 0);
    stop_dialer(srv);
    pthread_mutex_lock(&st.mu);
    assert_int_equal(st.fail_err[0], EVIO_ECONNREFUSED);
    assert_int_equal(st.fail_err[1], EVIO_ETIMEDOUT);
    assert_int_equal(st.fail_err[2], EVIO_ENOENT);
    assert_int_equal(st.fail_err[3], EVIO_ECANCELED);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(st.ctx_failed[i], 1);
        assert_int_equal(st.ctx_opened[i], 0);
    }
    pthread_mutex_unlock(&st.mu);
    assert_int_equal(ts_counter_get(&st.opened), 0);
    assert_true(waited_ms >= 100); /* the timeout did not fire early */
    for (int i = 0; i < nfill; i++)
        close(fillers[i]);
    close(full);
    TS_ASSERT_NO_FAILURES();
    ds_destroy(&st);
}

static void test_host_name_tries_each_address(void **state) {
    (void)state;
    dstate st;
    ds_init(&st);
    int port;
    int lfd = listen_on(AF_INET, 16, &port); /* IPv4 only: a ::1 first is refused */
    assert_true(lfd >= 0);
    evio_server *srv = start_dialer(&st, 1);
    char addr[64];
    snprintf(addr, sizeof addr, "tcp://localhost:%d", port);
    assert_int_equal(evio_server_dial(srv, 0, addr, NULL, &ctxs[0]), 0);
    int fd = accept_timed(lfd);
    assert_true(fd >= 0);
    assert_int_equal(ts_counter_wait_ge(&st.opened, 1, TS_WAIT_TIMEOUT_MS), 0);
    stop_dialer(srv);
    pthread_mutex_lock(&st.mu);
    assert_int_equal(st.ctx_opened[0], 1);
    assert_int_equal(st.ctx_failed[0], 0);
    pthread_mutex_unlock(&st.mu);
    close(fd);
    close(lfd);
    TS_ASSERT_NO_FAILURES();
    ds_destroy(&st);
}

/* ---- a dial from a callback: a tiny proxy on one server ------------------------------- */

/* Address 0 is the front (clients come in), address 1 the back (an echo). A front
 * connection dials the back from `opened`; the dialed connection is its pair. */
typedef struct pstate {
    dstate d;
    char back_addr[TS_ADDR_LEN];
    atomic_int same_loop;  /* dialed connections opened on their front's loop */
    atomic_int other_loop; /* … or not */
} pstate;

typedef struct pair {
    evio_conn *front, *back;
    pthread_t front_thread;
} pair;

static evio_action p_opened(evio_conn *c, void *u) {
    pstate *st = u;
    int idx = evio_conn_addr_index(c);
    if (idx == 0) { /* a client: dial the back for it */
        pair *p = calloc(1, sizeof *p);
        p->front = c;
        p->front_thread = pthread_self();
        evio_conn_set_context(c, p);
        TS_CHECK(evio_dial(st->back_addr, NULL, p) == 0);
        evio_conn_pause_read(c); /* until the back is there */
    } else if (idx == -1) {
        pair *p = evio_conn_context(c);
        p->back = c;
        atomic_fetch_add(
            pthread_equal(p->front_thread, pthread_self()) ? &st->same_loop : &st->other_loop, 1);
        evio_conn_resume_read(p->front);
    }
    return EVIO_NONE;
}

static evio_action p_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)u;
    int idx = evio_conn_addr_index(c);
    if (idx == 1) { /* the back: an echo */
        TS_CHECK(evio_conn_write(c, in, len) == 0);
        return EVIO_NONE;
    }
    pair *p = evio_conn_context(c);
    evio_conn *other = idx == 0 ? p->back : p->front;
    if (other)
        TS_CHECK(evio_conn_write(other, in, len) == 0); /* same loop: no locking */
    return EVIO_NONE;
}

static evio_action p_closed(evio_conn *c, int err, void *u) {
    (void)err;
    (void)u;
    int idx = evio_conn_addr_index(c);
    if (idx == 1)
        return EVIO_NONE;
    pair *p = evio_conn_context(c);
    if (idx == 0) {
        p->front = NULL;
        if (p->back)
            evio_conn_close(p->back);
    } else {
        p->back = NULL;
        if (p->front)
            evio_conn_close(p->front);
    }
    if (!p->front && !p->back)
        free(p);
    return EVIO_NONE;
}

static evio_action p_serving(evio_server *srv, void *u) {
    pstate *st = TS_USER(u);
    evio_server_addr_string(srv, 1, st->back_addr, sizeof st->back_addr);
    return EVIO_NONE;
}

static evio_action p_opened_w(evio_conn *c, void *u) {
    return p_opened(c, TS_USER(u));
}
static evio_action p_data_w(evio_conn *c, const void *in, size_t len, void *u) {
    return p_data(c, in, len, TS_USER(u));
}
static evio_action p_closed_w(evio_conn *c, int err, void *u) {
    return p_closed(c, err, TS_USER(u));
}

static void test_dial_from_callback_same_loop(void **state) {
    (void)state;
    pstate st;
    memset(&st, 0, sizeof st);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = 2;
    ev.load_balance = EVIO_LB_ROUND_ROBIN;
    ev.serving = p_serving;
    ev.opened = p_opened_w;
    ev.data = p_data_w;
    ev.closed = p_closed_w;
    const char *addrs[] = {"tcp://127.0.0.1:0", "tcp://127.0.0.1:0"};
    ts_server s;
    assert_int_equal(ts_server_start(&s, &ev, &st, addrs, 2), 0);
    enum { CLIENTS = 6 };
    int fds[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        fds[i] = ts_connect_server(&s, 0);
        assert_true(fds[i] >= 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        char msg[32], back[32];
        int n = snprintf(msg, sizeof msg, "through the pair %d", i);
        assert_int_equal(ts_write_all(fds[i], msg, (size_t)n), 0);
        assert_int_equal(ts_read_full(fds[i], back, (size_t)n), 0);
        assert_memory_equal(back, msg, (size_t)n);
    }
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
    assert_int_equal(ts_server_stop(&s), 0);
    assert_int_equal(atomic_load(&st.same_loop), CLIENTS);
    assert_int_equal(atomic_load(&st.other_loop), 0);
    TS_ASSERT_NO_FAILURES();
}

/* ---- unix and UDP ------------------------------------------------------------------------ */

static void test_dial_unix_and_udp(void **state) {
    (void)state;
    dstate st;
    ds_init(&st);
    st.greeting = "ping";
    char dir[128], path[192], addr[256];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/up.sock", dir);
    int ufd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un;
    socklen_t ulen = ts_unix_addr(&un, path);
    assert_int_equal(bind(ufd, (struct sockaddr *)&un, ulen), 0);
    assert_int_equal(listen(ufd, 4), 0);
    /* A UDP peer on 127.0.0.1. */
    int dfd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in da;
    memset(&da, 0, sizeof da);
    da.sin_family = AF_INET;
    da.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(dfd, (struct sockaddr *)&da, sizeof da), 0);
    socklen_t dlen = sizeof da;
    getsockname(dfd, (struct sockaddr *)&da, &dlen);
    ts_set_timeouts(dfd, TS_IO_TIMEOUT_MS);

    evio_server *srv = start_dialer(&st, 1);
    snprintf(addr, sizeof addr, "unix://%s", path);
    assert_int_equal(evio_server_dial(srv, 0, addr, NULL, &ctxs[0]), 0);
    int fd = accept_timed(ufd);
    assert_true(fd >= 0);
    char buf[16] = {0};
    assert_int_equal(ts_read_full(fd, buf, 4), 0);
    assert_string_equal(buf, "ping");

    snprintf(addr, sizeof addr, "udp://127.0.0.1:%d", ntohs(da.sin_port));
    assert_int_equal(evio_server_dial(srv, 0, addr, NULL, &ctxs[1]), 0);
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    memset(buf, 0, sizeof buf);
    ssize_t n = recvfrom(dfd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    assert_int_equal(n, 4); /* the greeting, one datagram */
    assert_string_equal(buf, "ping");
    assert_int_equal(sendto(dfd, "", 0, 0, (struct sockaddr *)&from, flen), 0); /* empty */
    assert_int_equal(sendto(dfd, "pong", 4, 0, (struct sockaddr *)&from, flen), 4);
    assert_int_equal(ts_counter_wait_ge(&st.data, 4, TS_WAIT_TIMEOUT_MS), 0);
    pthread_mutex_lock(&st.mu);
    assert_memory_equal(st.got, "pong", 4);
    assert_int_equal(st.ctx_opened[0], 1);
    assert_int_equal(st.ctx_opened[1], 1);
    pthread_mutex_unlock(&st.mu);
    assert_int_equal(ts_counter_get(&st.closed), 0); /* the empty datagram is no end */
    stop_dialer(srv);
    assert_int_equal(ts_counter_get(&st.closed), 2);
    close(fd);
    close(ufd);
    close(dfd);
    ts_rmtree(dir);
    TS_ASSERT_NO_FAILURES();
    ds_destroy(&st);
}

static void test_dial_ipv6(void **state) {
    (void)state;
    if (!ts_have_ipv6())
        skip();
    dstate st;
    ds_init(&st);
    int port;
    int lfd = listen_on(AF_INET6, 4, &port);
    assert_true(lfd >= 0);
    evio_server *srv = start_dialer(&st, 1);
    char addr[64];
    snprintf(addr, sizeof addr, "tcp6://[::1]:%d", port);
    assert_int_equal(evio_server_dial(srv, 0, addr, NULL, &ctxs[0]), 0);
    int fd = accept_timed(lfd);
    assert_true(fd >= 0);
    assert_int_equal(ts_counter_wait_ge(&st.opened, 1, TS_WAIT_TIMEOUT_MS), 0);
    stop_dialer(srv);
    close(fd);
    close(lfd);
    TS_ASSERT_NO_FAILURES();
    ds_destroy(&st);
}

/* ---- dials racing a stop: each ends exactly once ---------------------------------------- */

#define RACE_DIALS 200
static atomic_int race_ends[RACE_DIALS];
static int race_ctx[RACE_DIALS];

static int race_index(void *ctx) {
    int *p = ctx;
    return (p >= race_ctx && p < race_ctx + RACE_DIALS) ? (int)(p - race_ctx) : -1;
}

static evio_action r_opened(evio_conn *c, void *u) {
    (void)u;
    int i = race_index(evio_conn_context(c));
    TS_CHECK(i >= 0);
    if (i >= 0)
        atomic_fetch_add(&race_ends[i], 1);
    return EVIO_NONE;
}

static evio_action r_failed(void *ctx, int err, void *u) {
    (void)u;
    int i = race_index(ctx);
    TS_CHECK(i >= 0);
    TS_CHECKF(err == EVIO_ECANCELED || err == EVIO_ECONNREFUSED, "unexpected %d", err);
    if (i >= 0)
        atomic_fetch_add(&race_ends[i], 1);
    return EVIO_NONE;
}

static void test_dials_racing_stop_end_once(void **state) {
    (void)state;
    int port;
    int lfd = listen_on(AF_INET, 512, &port);
    assert_true(lfd >= 0);
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < RACE_DIALS; i++)
            atomic_store(&race_ends[i], 0);
        evio_events ev = EVIO_EVENTS_INIT;
        ev.num_loops = 2;
        ev.opened = r_opened;
        ev.dial_failed = r_failed;
        evio_server *srv = NULL;
        assert_int_equal(evio_server_start(&ev, NULL, 0, &srv), 0);
        char numeric[64], named[64];
        snprintf(numeric, sizeof numeric, "tcp://127.0.0.1:%d", port);
        snprintf(named, sizeof named, "tcp://localhost:%d", port);
        for (int i = 0; i < RACE_DIALS; i++)
            assert_int_equal(evio_server_dial(srv, -1, i % 2 ? named : numeric, NULL, &race_ctx[i]),
                             0);
        /* Stop at once (round 0), or after some have connected. */
        assert_int_equal(evio_server_stop(srv, round % 2 ? 1000000 : 0), 0);
        assert_int_equal(evio_server_wait(srv), 0);
        evio_server_free(srv);
        for (int i = 0; i < RACE_DIALS; i++)
            if (atomic_load(&race_ends[i]) != 1)
                fail_msg("round %d: dial %d ended %d times", round, i, atomic_load(&race_ends[i]));
        /* Empty the listener's queue for the next round. */
        ts_set_nonblock(lfd, 1);
        int fd;
        while ((fd = accept(lfd, NULL, NULL)) >= 0)
            close(fd);
        ts_set_nonblock(lfd, 0);
    }
    close(lfd);
    TS_ASSERT_NO_FAILURES();
}

/* ---- bad input: refused at once, nothing called ---------------------------------------- */

static void test_bad_dials_refused(void **state) {
    (void)state;
    dstate st;
    ds_init(&st);
    assert_int_equal(evio_dial("tcp://127.0.0.1:80", NULL, &ctxs[0]), EVIO_EPERM);
    evio_server *srv = start_dialer(&st, 2);
    static const struct {
        const char *addr;
        int err;
    } bad[] = {
        {"tcp://127.0.0.1:0", EVIO_EINVAL},
        {"tcp://127.0.0.1", EVIO_EINVAL},
        {"tcp://", EVIO_EINVAL},
        {"bogus://127.0.0.1:1", EVIO_EINVAL},
        {"tcp://127.0.0.1:99999", EVIO_EINVAL},
        {"tcp://127.0.0.1:80?reuseport=1", EVIO_EINVAL},
        {"tcp4://[::1]:80", EVIO_EAFNOSUPPORT},
        {"unix://", EVIO_EINVAL},
        {"tcp://bad%host:80", EVIO_EINVAL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = evio_server_dial(srv, 0, bad[i].addr, NULL, &ctxs[0]);
        if (rc != bad[i].err)
            fail_msg("%s: %d (%s), want %d", bad[i].addr, rc, evio_last_error(), bad[i].err);
    }
    assert_int_equal(evio_server_dial(srv, 0, NULL, NULL, &ctxs[0]), EVIO_EINVAL);
    assert_int_equal(evio_server_dial(srv, 2, "tcp://127.0.0.1:80", NULL, &ctxs[0]), EVIO_EINVAL);
    assert_int_equal(evio_server_dial(srv, -2, "tcp://127.0.0.1:80", NULL, &ctxs[0]), EVIO_EINVAL);
    assert_int_equal(evio_server_dial(NULL, 0, "tcp://127.0.0.1:80", NULL, &ctxs[0]), EVIO_EINVAL);
    evio_dial_options opts = EVIO_DIAL_OPTIONS_INIT;
    opts.timeout_ns = -1;
    assert_int_equal(evio_server_dial(srv, 0, "tcp://127.0.0.1:80", &opts, &ctxs[0]), EVIO_EINVAL);
    opts.timeout_ns = 0;
    opts.size = 1;
    assert_int_equal(evio_server_dial(srv, 0, "tcp://127.0.0.1:80", &opts, &ctxs[0]), EVIO_EINVAL);
    assert_int_equal(evio_server_stop(srv, 0), 0);
    assert_int_equal(evio_server_wait(srv), 0);
    assert_int_equal(evio_server_dial(srv, 0, "tcp://127.0.0.1:80", NULL, &ctxs[0]), EVIO_ENOTCONN);
    evio_server_free(srv);
    assert_int_equal(ts_counter_get(&st.failed), 0);
    assert_int_equal(ts_counter_get(&st.opened), 0);
    TS_ASSERT_NO_FAILURES();
    ds_destroy(&st);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_dial_from_any_thread),
    cmocka_unit_test(test_dial_failures),
    cmocka_unit_test(test_host_name_tries_each_address),
    cmocka_unit_test(test_dial_from_callback_same_loop),
    cmocka_unit_test(test_dial_unix_and_udp),
    cmocka_unit_test(test_dial_ipv6),
    cmocka_unit_test(test_dials_racing_stop_end_once),
    cmocka_unit_test(test_bad_dials_refused),
};

TS_MAIN(tests)
