/*
 * Work from any thread (since 1.1): evio_conn_send, evio_conn_post, evio_server_post.
 *
 * - 8 threads each send numbered messages to every connection of a round while half of
 *   the connections are reset by their clients mid-way; rounds reopen them. What a client
 *   receives is, per sender, 0, 1, 2, … with no gap (nothing lost while it was open, in
 *   the order sent); on the connections that stayed open every message arrives.
 * - Posted functions racing a close all run exactly once, with status 0 or EVIO_ENOTCONN,
 *   and free their argument (the ASAN build's leak check sees any that did not run);
 *   inside one with status 0 the loop-thread-only API works.
 * - After close evio_conn_send and evio_conn_post are EVIO_ENOTCONN; bad arguments are
 *   EVIO_EINVAL.
 * - A posted function closes its connection with evio_conn_close: its output arrives, then
 *   the end of the stream; `closed` is not run inside the call.
 */
#include "ts.h"

#define NSEND 8
#define NCONN 6
#define NMSG 400
#define ROUNDS 4

typedef struct msg {
    uint32_t sender, seq;
} msg;

typedef struct xstate {
    pthread_mutex_t mu;
    evio_conn *conns[NCONN]; /* this round's, referenced */
    int nconns;
    ts_counter opened, closed, ran;
    atomic_int bad_status;
    atomic_int write_in_post;
} xstate;

static evio_action x_opened(evio_conn *c, void *u) {
    xstate *st = TS_USER(u);
    evio_conn_ref(c);
    pthread_mutex_lock(&st->mu);
    if (st->nconns < NCONN)
        st->conns[st->nconns++] = c;
    else
        evio_conn_unref(c);
    pthread_mutex_unlock(&st->mu);
    ts_counter_add(&st->opened, 1);
    return EVIO_NONE;
}

static evio_action x_closed(evio_conn *c, int err, void *u) {
    (void)c;
    (void)err;
    ts_counter_add(&((xstate *)TS_USER(u))->closed, 1);
    return EVIO_NONE;
}

static void x_init(xstate *st) {
    memset(st, 0, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    ts_counter_init(&st->opened);
    ts_counter_init(&st->closed);
    ts_counter_init(&st->ran);
}

static void x_destroy(xstate *st) {
    pthread_mutex_destroy(&st->mu);
    ts_counter_destroy(&st->opened);
    ts_counter_destroy(&st->closed);
    ts_counter_destroy(&st->ran);
}

static int x_start(ts_server *srv, xstate *st) {
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = 3;
    ev.opened = x_opened;
    ev.closed = x_closed;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    return ts_server_start(srv, &ev, st, addrs, 1);
}

typedef struct sender {
    xstate *st;
    uint32_t id;
} sender;

static void *send_main(void *p) {
    sender *s = p;
    int open[NCONN];
    for (int i = 0; i < NCONN; i++)
        open[i] = 1;
    for (uint32_t seq = 0; seq < NMSG; seq++) {
        for (int i = 0; i < NCONN; i++) {
            if (!open[i])
                continue;
            msg m = {s->id, seq};
            int r = evio_conn_send(s->st->conns[i], &m, sizeof m);
            if (r == EVIO_ENOTCONN)
                open[i] = 0; /* closed: later sends would be refused too */
            else
                TS_CHECKF(r == 0, "send %u to %d: %d", seq, i, r);
        }
    }
    return NULL;
}

/* Reads what a client got: every message (complete), or what came before the end. */
static void check_stream(int fd, int complete, int conn) {
    uint32_t next[NSEND] = {0};
    size_t total = complete ? (size_t)NSEND * NMSG : 0;
    msg m;
    for (size_t n = 0; !complete || n < total; n++) {
        int r = ts_read_full(fd, &m, sizeof m);
        if (r != 0) {
            TS_CHECKF(!complete, "conn %d: stream ended after %zu of %zu messages", conn, n, total);
            return;
        }
        TS_CHECKF(m.sender < NSEND && m.seq == next[m.sender],
                  "conn %d: sender %u sent %u, expected %u", conn, m.sender, m.seq,
                  m.sender < NSEND ? next[m.sender] : 0);
        if (m.sender < NSEND)
            next[m.sender] = m.seq + 1;
    }
}

static void test_send_order_while_closing(void **s) {
    (void)s;
    ts_reset_failures();
    xstate st;
    x_init(&st);
    ts_server srv;
    assert_int_equal(x_start(&srv, &st), 0);
    for (int round = 0; round < ROUNDS && ts_failures() == 0; round++) {
        int fds[NCONN];
        st.nconns = 0;
        for (int i = 0; i < NCONN; i++)
            fds[i] = ts_connect_server(&srv, 0);
        assert_int_equal(ts_counter_wait_ge(&st.opened, (long)(round + 1) * NCONN,
                                            TS_WAIT_TIMEOUT_MS), 0);
        /* Senders write to every server-side connection; which client is which does not
         * matter: the even clients keep theirs open and must get every message. */
        pthread_t t[NSEND];
        sender sd[NSEND];
        for (int i = 0; i < NSEND; i++) {
            sd[i] = (sender){&st, (uint32_t)i};
            pthread_create(&t[i], NULL, send_main, &sd[i]);
        }
        /* Odd clients reset their connection while the senders run. */
        for (int i = 1; i < NCONN; i += 2)
            ts_close_reset(fds[i]);
        for (int i = 0; i < NSEND; i++) /* 25.6 KB per connection: the socket buffers hold it */
            pthread_join(t[i], NULL);
        for (int i = 0; i < NCONN; i += 2) {
            check_stream(fds[i], 1, i);
            close(fds[i]);
        }
        assert_int_equal(ts_counter_wait_ge(&st.closed, (long)(round + 1) * NCONN,
                                            TS_WAIT_TIMEOUT_MS), 0);
        for (int i = 0; i < NCONN; i++) {
            msg m = {0, 0};
            TS_CHECK(evio_conn_send(st.conns[i], &m, sizeof m) == EVIO_ENOTCONN);
            evio_conn_unref(st.conns[i]);
        }
    }
    assert_int_equal(ts_server_stop(&srv), 0);
    TS_ASSERT_NO_FAILURES();
    x_destroy(&st);
}

typedef struct post_arg {
    xstate *st;
    int magic;
} post_arg;

static void on_post(evio_conn *c, int status, void *p) {
    post_arg *a = p;
    TS_CHECK(a->magic == 0x5057);
    if (status == 0) {
        int r = evio_conn_write(c, "p", 1); /* the loop-thread-only API works here */
        if (r != 0)
            atomic_store(&a->st->write_in_post, r);
    } else if (status != EVIO_ENOTCONN) {
        atomic_store(&a->st->bad_status, status);
    }
    ts_counter_add(&a->st->ran, 1);
    free(a);
}

static void test_posts_race_close(void **s) {
    (void)s;
    ts_reset_failures();
    xstate st;
    x_init(&st);
    ts_server srv;
    assert_int_equal(x_start(&srv, &st), 0);
    long accepted = 0;
    for (int round = 0; round < 50; round++) {
        st.nconns = 0;
        int fd = ts_connect_server(&srv, 0);
        assert_int_equal(ts_counter_wait_ge(&st.opened, round + 1, TS_WAIT_TIMEOUT_MS), 0);
        evio_conn *c = st.conns[0];
        for (int i = 0; i < 200; i++) {
            if (i == 100)
                ts_close_reset(fd); /* the close races the posts */
            post_arg *a = malloc(sizeof *a);
            a->st = &st;
            a->magic = 0x5057;
            int r = evio_conn_post(c, on_post, a);
            if (r == 0)
                accepted++;
            else {
                TS_CHECKF(r == EVIO_ENOTCONN, "post: %d", r);
                free(a); /* refused: it will never run */
            }
        }
        assert_int_equal(ts_counter_wait_ge(&st.closed, round + 1, TS_WAIT_TIMEOUT_MS), 0);
        TS_CHECK(evio_conn_post(c, on_post, NULL) == EVIO_ENOTCONN);
        evio_conn_unref(c);
    }
    assert_int_equal(ts_counter_wait_ge(&st.ran, accepted, TS_WAIT_TIMEOUT_MS), 0);
    assert_int_equal(ts_server_stop(&srv), 0);
    assert_int_equal(ts_counter_get(&st.ran), accepted); /* exactly once each */
    assert_int_equal(atomic_load(&st.bad_status), 0);
    assert_int_equal(atomic_load(&st.write_in_post), 0);
    assert_int_equal(evio_conn_send(NULL, "x", 1), EVIO_EINVAL);
    assert_int_equal(evio_conn_post(NULL, on_post, NULL), EVIO_EINVAL);
    TS_ASSERT_NO_FAILURES();
    x_destroy(&st);
}

/* A posted function may close its connection (evio_conn_close): its output goes first. */
static void write_and_close(evio_conn *c, int status, void *p) {
    xstate *st = p;
    if (status == 0) {
        TS_CHECK(evio_conn_write(c, "bye", 3) == 0);
        TS_CHECK(evio_conn_close(c) == 0);
        TS_CHECK(ts_counter_get(&st->closed) == 0); /* not inside the call */
    }
    ts_counter_add(&st->ran, 1);
}

static void test_post_closes(void **s) {
    (void)s;
    ts_reset_failures();
    xstate st;
    x_init(&st);
    ts_server srv;
    assert_int_equal(x_start(&srv, &st), 0);
    int fd = ts_connect_server(&srv, 0);
    assert_int_equal(ts_counter_wait_ge(&st.opened, 1, TS_WAIT_TIMEOUT_MS), 0);
    assert_int_equal(evio_conn_post(st.conns[0], write_and_close, &st), 0);
    char bye[3];
    TS_CHECK(ts_read_full(fd, bye, 3) == 0 && memcmp(bye, "bye", 3) == 0);
    TS_CHECK(ts_read_eof(fd) == 0);
    assert_int_equal(ts_counter_wait_ge(&st.closed, 1, TS_WAIT_TIMEOUT_MS), 0);
    assert_int_equal(evio_conn_close(st.conns[0]), EVIO_ENOTCONN);
    evio_conn_unref(st.conns[0]);
    close(fd);
    assert_int_equal(ts_server_stop(&srv), 0);
    TS_ASSERT_NO_FAILURES();
    x_destroy(&st);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_send_order_while_closing),
    cmocka_unit_test(test_posts_race_close),
    cmocka_unit_test(test_post_closes),
};

TS_MAIN(tests)
