/*
 * evio_conn_wake() and the thread rules.
 *
 * - Wakes from another thread, one at a time: each is followed by a `data` call with
 *   in == NULL, len == 0, on the connection's loop thread; output written there arrives.
 * - A burst of wakes from two threads: coalescing allowed (1 .. N calls), but a call
 *   follows the last wake.
 * - A wake from inside a callback (loop thread) works too.
 * - Loop-thread-only functions called from the test thread, or from a callback of a
 *   connection on another loop, return EVIO_EPERM and do nothing.
 * - Wakes hammered while the connection closes (client FIN, client reset, server
 *   EVIO_CLOSE): memory-safe (ASAN build), no `data` after `closed`, and once `closed`
 *   has run evio_conn_wake() returns EVIO_ENOTCONN. Also after the server stopped.
 * - References: several refs, unref after evio_serve() returned.
 */
#include "ts.h"

#include <sched.h>

#define MAGIC 0x57414b45u

typedef struct wctx {
    unsigned magic;
    int closed;
    pthread_t thread;
    int write_on_wake;
} wctx;

typedef struct wstate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    evio_conn *conns[8]; /* the first 8 published by opened (referenced) */
    pthread_t threads[8];
    evio_conn *latest; /* the last one published */
    int nconns;        /* published so far */
    int taken;
    ts_counter nulls;     /* data calls with no input */
    ts_counter max_seq;   /* the highest wake sequence a NULL call saw */
    atomic_long wake_seq; /* stored before each wake of the burst test */
    ts_counter closed;
    atomic_int data_after_close;
    atomic_int wrong_thread;
    atomic_int null_bad_args;
    int refs_per_conn;
    int write_on_wake;
    atomic_int wake_action; /* returned by data(NULL) */
    /* cross-loop EPERM check */
    atomic_int cross_result;
    atomic_int cross_same_thread;
} wstate;

static evio_action on_opened(evio_conn *c, void *u) {
    wstate *st = TS_USER(u);
    wctx *x = calloc(1, sizeof *x);
    TS_CHECK(x != NULL);
    if (!x)
        return EVIO_CLOSE;
    x->magic = MAGIC;
    x->thread = pthread_self();
    x->write_on_wake = st->write_on_wake;
    evio_conn_set_context(c, x);
    for (int i = 0; i < st->refs_per_conn; i++)
        evio_conn_ref(c);
    pthread_mutex_lock(&st->mu);
    if (st->nconns < 8) {
        st->threads[st->nconns] = pthread_self();
        st->conns[st->nconns] = c;
    }
    st->latest = c;
    st->nconns++;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return EVIO_NONE;
}

static evio_action on_data(evio_conn *c, const void *in, size_t len, void *u) {
    wstate *st = TS_USER(u);
    wctx *x = evio_conn_context(c);
    if (!x || x->magic != MAGIC || x->closed) {
        atomic_fetch_add(&st->data_after_close, 1);
        return EVIO_NONE;
    }
    if (!pthread_equal(x->thread, pthread_self()))
        atomic_fetch_add(&st->wrong_thread, 1);
    if (in == NULL || len == 0) {
        if (in != NULL || len != 0)
            atomic_fetch_add(&st->null_bad_args, 1);
        long seq = atomic_load(&st->wake_seq);
        ts_counter_add(&st->nulls,
                       1); /* before max_seq: the test waits on max_seq, then reads nulls */
        if (seq > ts_counter_get(&st->max_seq))
            ts_counter_add(&st->max_seq, seq - ts_counter_get(&st->max_seq));
        if (x->write_on_wake)
            TS_CHECK(evio_conn_write(c, "w", 1) == 0);
        return (evio_action)atomic_load(&st->wake_action);
    }
    if (len == 4 && !memcmp(in, "wake", 4)) {
        int r = evio_conn_wake(c); /* from the loop thread itself */
        TS_CHECKF(r == 0, "evio_conn_wake from the loop thread: %d", r);
        return EVIO_NONE;
    }
    if (len == 5 && !memcmp(in, "close", 5))
        return EVIO_CLOSE;
    if (len == 5 && !memcmp(in, "cross", 5)) {
        /* Touch the other connection (on another loop) from this loop's thread. */
        pthread_mutex_lock(&st->mu);
        evio_conn *other = st->conns[0] == c ? st->conns[1] : st->conns[0];
        pthread_t other_thread = st->conns[0] == c ? st->threads[1] : st->threads[0];
        pthread_mutex_unlock(&st->mu);
        atomic_store(&st->cross_same_thread, pthread_equal(other_thread, pthread_self()));
        int a = evio_conn_write(other, "X", 1);
        int b = evio_conn_set_keepalive(other, 10);
        int d = evio_conn_set_reuse_input(other, 1);
        atomic_store(&st->cross_result,
                     (a == EVIO_EPERM && b == EVIO_EPERM && d == EVIO_EPERM) ? 1 : -1);
        if (a != EVIO_EPERM || b != EVIO_EPERM || d != EVIO_EPERM)
            fprintf(stderr, "[wake] cross-loop calls: write %d keepalive %d reuse %d\n", a, b, d);
        TS_CHECK(evio_conn_write(c, "done", 4) == 0);
        return EVIO_NONE;
    }
    if (len == 4 && !memcmp(in, "tell", 4)) {
        /* Write to the other connection: allowed from this loop's thread when both
         * connections are on this loop. */
        pthread_mutex_lock(&st->mu);
        evio_conn *other = st->conns[0] == c ? st->conns[1] : st->conns[0];
        pthread_mutex_unlock(&st->mu);
        int r = evio_conn_write(other, "told", 4);
        TS_CHECKF(r == 0, "write to another connection of the same loop: %d", r);
        return EVIO_NONE;
    }
    if (len == 4 && !memcmp(in, "ping", 4)) {
        TS_CHECK(evio_conn_write(c, "pong", 4) == 0);
        return EVIO_NONE;
    }
    return EVIO_NONE;
}

static evio_action on_closed(evio_conn *c, int err, void *u) {
    (void)err;
    wstate *st = TS_USER(u);
    wctx *x = evio_conn_context(c);
    TS_CHECK(x && x->magic == MAGIC && !x->closed);
    if (x) {
        x->closed = 1;
        x->magic = 0;
        free(x);
    }
    evio_conn_set_context(c, NULL);
    ts_counter_add(&st->closed, 1);
    return EVIO_NONE;
}

static void st_init(wstate *st, int refs, int write_on_wake) {
    memset(st, 0, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    ts_counter_init(&st->nulls);
    ts_counter_init(&st->max_seq);
    ts_counter_init(&st->closed);
    st->refs_per_conn = refs;
    st->write_on_wake = write_on_wake;
}

static void st_destroy(wstate *st) {
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    ts_counter_destroy(&st->nulls);
    ts_counter_destroy(&st->max_seq);
    ts_counter_destroy(&st->closed);
}

/* Wait for the next connection `opened` published (clients connect one at a time). */
static evio_conn *take_conn(wstate *st) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += TS_WAIT_TIMEOUT_MS / 1000;
    evio_conn *c = NULL;
    pthread_mutex_lock(&st->mu);
    while (st->taken >= st->nconns)
        if (pthread_cond_timedwait(&st->cv, &st->mu, &dl) != 0)
            break;
    if (st->taken < st->nconns) {
        c = st->taken < 8 ? st->conns[st->taken] : st->latest;
        st->taken++;
    }
    pthread_mutex_unlock(&st->mu);
    return c;
}

static int start(ts_server *s, wstate *st, int loops) {
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = loops;
    ev.load_balance = EVIO_LB_ROUND_ROBIN;
    ev.opened = on_opened;
    ev.data = on_data;
    ev.closed = on_closed;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    return ts_server_start(s, &ev, st, addrs, 1);
}

/* Two clients connected one after the other, and their server-side connections (each
 * holding the reference `opened` took). */
typedef struct conn_pair {
    int fd[2];
    evio_conn *c[2];
} conn_pair;

static int connect_pair(ts_server *s, wstate *st, conn_pair *p) {
    for (int i = 0; i < 2; i++) {
        p->fd[i] = ts_connect_server(s, 0);
        p->c[i] = p->fd[i] >= 0 ? take_conn(st) : NULL;
    }
    return p->c[0] && p->c[1];
}

static void release_pair(conn_pair *p) {
    for (int i = 0; i < 2; i++) {
        if (p->fd[i] >= 0)
            close(p->fd[i]);
        if (p->c[i])
            evio_conn_unref(p->c[i]);
    }
}

static void test_wake_each(void **unused) {
    (void)unused;
    ts_reset_failures();
    wstate st;
    st_init(&st, 2, 1); /* two references: both must be dropped */
    ts_server s;
    assert_int_equal(start(&s, &st, 2), 0);
    int fd = ts_connect_server(&s, 0);
    evio_conn *c = fd >= 0 ? take_conn(&st) : NULL;
    TS_CHECK(fd >= 0 && c != NULL);
    const int N = 300;
    for (int i = 0; c && i < N && ts_failures() == 0; i++) {
        long before = ts_counter_get(&st.nulls);
        int r = evio_conn_wake(c);
        TS_CHECKF(r == 0, "wake %d: %d", i, r);
        TS_CHECKF(ts_counter_wait_ge(&st.nulls, before + 1, TS_WAIT_TIMEOUT_MS) == 0,
                  "wake %d was not followed by a data call", i);
    }
    long calls = ts_counter_get(&st.nulls);
    TS_CHECK(calls >= N);
    /* Every wake call wrote one byte: the client gets at least N of them. */
    if (fd >= 0) {
        char *buf = malloc((size_t)N);
        TS_CHECKF(ts_read_full(fd, buf, (size_t)N) == 0, "output written on wake missing");
        for (int i = 0; i < N; i++)
            TS_CHECK(buf[i] == 'w');
        free(buf);
        close(fd);
    }
    TS_CHECK(ts_counter_wait_ge(&st.closed, 1, TS_WAIT_TIMEOUT_MS) == 0);
    if (c)
        TS_CHECKF(evio_conn_wake(c) == EVIO_ENOTCONN, "wake after closed must be ENOTCONN");
    assert_int_equal(ts_server_stop(&s), 0);
    if (c) {
        evio_conn_unref(c);
        evio_conn_unref(c);
    }
    TS_ASSERT_NO_FAILURES();
    assert_int_equal(atomic_load(&st.data_after_close), 0);
    assert_int_equal(atomic_load(&st.wrong_thread), 0);
    assert_int_equal(atomic_load(&st.null_bad_args), 0);
    st_destroy(&st);
}

typedef struct burst_arg {
    wstate *st;
    evio_conn *c;
    int n;
} burst_arg;

static void *burst_main(void *p) {
    burst_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        atomic_fetch_add(&a->st->wake_seq, 1);
        int r = evio_conn_wake(a->c);
        if (r != 0) {
            ts_fail_at(__FILE__, __LINE__, "burst wake: %d", r);
            break;
        }
    }
    return NULL;
}

static void test_wake_burst(void **unused) {
    (void)unused;
    ts_reset_failures();
    wstate st;
    st_init(&st, 1, 0);
    ts_server s;
    assert_int_equal(start(&s, &st, 1), 0);
    int fd = ts_connect_server(&s, 0);
    evio_conn *c = fd >= 0 ? take_conn(&st) : NULL;
    TS_CHECK(fd >= 0 && c != NULL);
    const int per = 20000;
    if (c) {
        burst_arg a = {&st, c, per};
        pthread_t t1, t2;
        pthread_create(&t1, NULL, burst_main, &a);
        pthread_create(&t2, NULL, burst_main, &a);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        /* A data call that started after the last wake was requested. */
        TS_CHECKF(ts_counter_wait_ge(&st.max_seq, 2L * per, TS_WAIT_TIMEOUT_MS) == 0,
                  "no data call after the last of %d wakes (latest seen %ld)", 2 * per,
                  ts_counter_get(&st.max_seq));
        long calls = ts_counter_get(&st.nulls);
        TS_CHECKF(calls >= 1 && calls <= 2L * per, "%ld data calls for %d wakes", calls, 2 * per);
        fprintf(stderr, "[wake] %d wakes gave %ld data calls\n", 2 * per, calls);
    }
    if (fd >= 0)
        close(fd);
    assert_int_equal(ts_server_stop(&s), 0);
    /* After the server stopped, a referenced connection answers ENOTCONN. */
    if (c) {
        TS_CHECKF(evio_conn_wake(c) == EVIO_ENOTCONN, "wake after evio_serve returned");
        evio_conn_unref(c);
    }
    TS_ASSERT_NO_FAILURES();
    assert_int_equal(atomic_load(&st.data_after_close), 0);
    st_destroy(&st);
}

static void test_wake_from_loop_thread(void **unused) {
    (void)unused;
    ts_reset_failures();
    wstate st;
    st_init(&st, 0, 1);
    ts_server s;
    assert_int_equal(start(&s, &st, 1), 0);
    int fd = ts_connect_server(&s, 0);
    TS_CHECK(fd >= 0);
    if (fd >= 0) {
        TS_CHECK(ts_write_all(fd, "wake", 4) == 0);
        char w;
        TS_CHECKF(ts_read_full(fd, &w, 1) == 0 && w == 'w',
                  "no data call after a wake from the loop thread");
        close(fd);
    }
    assert_int_equal(ts_server_stop(&s), 0);
    TS_ASSERT_NO_FAILURES();
    st_destroy(&st);
}

static void test_wrong_thread(void **unused) {
    (void)unused;
    ts_reset_failures();
    wstate st;
    st_init(&st, 1, 0);
    ts_server s;
    assert_int_equal(start(&s, &st, 2), 0);
    conn_pair p;
    int ok = connect_pair(&s, &st, &p);
    TS_CHECK(ok);
    evio_conn *a = p.c[0];
    int fa = p.fd[0], fb = p.fd[1];
    if (ok) {
        /* From the test thread. */
        TS_CHECK(evio_conn_write(a, "X", 1) == EVIO_EPERM);
        TS_CHECK(evio_conn_set_keepalive(a, 10) == EVIO_EPERM);
        TS_CHECK(evio_conn_set_reuse_input(a, 1) == EVIO_EPERM);
        /* From the loop of the other connection (round robin: another loop). */
        TS_CHECK(ts_write_all(fa, "cross", 5) == 0);
        char done[4];
        TS_CHECK(ts_read_full(fa, done, 4) == 0 && !memcmp(done, "done", 4));
        TS_CHECKF(!atomic_load(&st.cross_same_thread),
                  "two connections with round robin over 2 loops ran on one thread");
        TS_CHECKF(atomic_load(&st.cross_result) == 1,
                  "loop-thread-only calls on a connection of another loop were not EPERM");
        /* Nothing was written by the refused calls: only "pong" arrives. */
        for (int i = 0; i < 2; i++) {
            int fd = i ? fb : fa;
            TS_CHECK(ts_write_all(fd, "ping", 4) == 0);
            char pong[4];
            TS_CHECK(ts_read_full(fd, pong, 4) == 0 && !memcmp(pong, "pong", 4));
            TS_CHECKF(ts_wait_readable(fd, 50) == 0, "a refused write was sent anyway");
        }
    }
    assert_int_equal(ts_server_stop(&s), 0);
    release_pair(&p);
    TS_ASSERT_NO_FAILURES();
    st_destroy(&st);
}

/* Writing to another connection of the same loop from a callback is allowed. */
static void test_write_other_conn_same_loop(void **unused) {
    (void)unused;
    ts_reset_failures();
    wstate st;
    st_init(&st, 1, 0);
    ts_server s;
    assert_int_equal(start(&s, &st, 1), 0);
    conn_pair p;
    int ok = connect_pair(&s, &st, &p);
    TS_CHECK(ok);
    int fa = p.fd[0], fb = p.fd[1];
    if (ok) {
        TS_CHECK(ts_write_all(fa, "tell", 4) == 0);
        char t[4];
        TS_CHECKF(ts_read_full(fb, t, 4) == 0 && !memcmp(t, "told", 4),
                  "output written to B from A's callback did not reach B");
    }
    assert_int_equal(ts_server_stop(&s), 0);
    release_pair(&p);
    TS_ASSERT_NO_FAILURES();
    st_destroy(&st);
}

/* Actions returned by the wake's data call apply: EVIO_CLOSE closes after the output,
 * EVIO_SHUTDOWN stops the server (a way to stop it from any thread). */
static void test_wake_actions(void **unused) {
    (void)unused;
    ts_reset_failures();
    wstate st;
    st_init(&st, 1, 1);
    ts_server s;
    assert_int_equal(start(&s, &st, 2), 0);
    conn_pair p;
    int ok = connect_pair(&s, &st, &p);
    TS_CHECK(ok);
    evio_conn *c1 = p.c[0], *c2 = p.c[1];
    int f1 = p.fd[0], f2 = p.fd[1];
    int r = EVIO_ETIMEDOUT;
    if (ok) {
        atomic_store(&st.wake_action, EVIO_CLOSE);
        TS_CHECK(evio_conn_wake(c1) == 0);
        char w;
        TS_CHECK(ts_read_full(f1, &w, 1) == 0 && w == 'w');
        TS_CHECKF(ts_read_eof(f1) == 0, "EVIO_CLOSE from a wake did not close");
        TS_CHECK(ts_counter_wait_ge(&st.closed, 1, TS_WAIT_TIMEOUT_MS) == 0);
        atomic_store(&st.wake_action, EVIO_SHUTDOWN);
        TS_CHECK(evio_conn_wake(c2) == 0);
        r = ts_server_wait(&s, TS_WAIT_TIMEOUT_MS);
        TS_CHECKF(r == 0, "EVIO_SHUTDOWN from a wake: evio_serve returned %d", r);
        TS_CHECK(ts_read_full(f2, &w, 1) == 0 && w == 'w');
        TS_CHECK(ts_read_eof(f2) == 0);
    }
    if (r == EVIO_ETIMEDOUT)
        r = ts_server_stop(&s);
    release_pair(&p);
    TS_ASSERT_NO_FAILURES();
    assert_int_equal(r, 0);
    assert_int_equal(ts_counter_get(&st.closed), 2);
    st_destroy(&st);
}

/* ---- wake racing close ------------------------------------------------------------------ */

typedef struct hammer_arg {
    evio_conn *c;
    atomic_int stop;
    int saw_enotconn;
    long wakes;
} hammer_arg;

static void *hammer_main(void *p) {
    hammer_arg *h = p;
    int64_t deadline = ts_now_ns() + (int64_t)TS_WAIT_TIMEOUT_MS * 1000000;
    while (!atomic_load(&h->stop) && ts_now_ns() < deadline) {
        int r = evio_conn_wake(h->c);
        h->wakes++;
        if (r == EVIO_ENOTCONN) {
            h->saw_enotconn = 1;
            break;
        }
        if (r != 0) {
            ts_fail_at(__FILE__, __LINE__, "wake during close: %d", r);
            break;
        }
        /* A coalesced wake is a few atomics, no system call: without a yield this thread
         * can hold valgrind's one-thread-at-a-time lock until its deadline, and the loop
         * never gets to close the connection. */
        sched_yield();
    }
    return NULL;
}

static void test_wake_races_close(void **unused) {
    (void)unused;
    ts_reset_failures();
    wstate st;
    st_init(&st, 1, 1);
    ts_server s;
    assert_int_equal(start(&s, &st, 2), 0);
    const int ITER = 400;
    for (int i = 0; i < ITER && ts_failures() == 0; i++) {
        int fd = ts_connect_server(&s, 0);
        evio_conn *c = fd >= 0 ? take_conn(&st) : NULL;
        TS_CHECK(fd >= 0 && c);
        if (!c) {
            if (fd >= 0)
                close(fd);
            break;
        }
        long closed_before = ts_counter_get(&st.closed);
        hammer_arg h = {c, 0, 0, 0};
        pthread_t t;
        pthread_create(&t, NULL, hammer_main, &h);
        switch (i % 3) {
        case 0:
            close(fd);
            break;
        case 1:
            ts_close_reset(fd);
            break;
        default:
            TS_CHECK(ts_write_all(fd, "close", 5) == 0);
            break;
        }
        TS_CHECKF(ts_counter_wait_ge(&st.closed, closed_before + 1, TS_WAIT_TIMEOUT_MS) == 0,
                  "iteration %d: closed not called", i);
        pthread_join(t, NULL);
        TS_CHECKF(h.saw_enotconn,
                  "iteration %d: wake never returned EVIO_ENOTCONN after close "
                  "(%ld wakes)",
                  i, h.wakes);
        TS_CHECKF(evio_conn_wake(c) == EVIO_ENOTCONN, "iteration %d: wake after closed", i);
        if (i % 3 == 2)
            close(fd);
        evio_conn_unref(c);
    }
    assert_int_equal(ts_server_stop(&s), 0);
    TS_ASSERT_NO_FAILURES();
    assert_int_equal(atomic_load(&st.data_after_close), 0);
    assert_int_equal(atomic_load(&st.wrong_thread), 0);
    st_destroy(&st);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_wake_each),
    cmocka_unit_test(test_wake_burst),
    cmocka_unit_test(test_wake_from_loop_thread),
    cmocka_unit_test(test_wrong_thread),
    cmocka_unit_test(test_write_other_conn_same_loop),
    cmocka_unit_test(test_wake_actions),
    cmocka_unit_test(test_wake_races_close),
};

TS_MAIN(tests)
