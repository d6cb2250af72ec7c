/*
 * The rest of the API surface: bad arguments, versions, address forms.
 *
 * - Connection functions given NULL return EVIO_EINVAL / NULL / nothing, never crash;
 *   evio_conn_write(NULL buf, len > 0) is EVIO_EINVAL; a zero-length write is fine;
 *   keepalive rejects negative seconds and accepts 0 (off).
 * - evio_version()/evio_version_string() match the header.
 * - Address forms: "tcp://" (empty host:port) is ":0", every interface and a free port,
 *   as in Go's evio and net.Listen; "udp4://" likewise; an empty host with port 0 listens
 *   on every interface; a plain
 *   "host:port" is tcp; a stale unix socket file is replaced; a relative unix path is
 *   relative to the working directory; "?reuseport=false" is accepted.
 * - The "loop thread only" accessors (context, addresses) refuse other threads while the
 *   connection is open, and answer any thread holding a reference once it has closed.
 */
#include "ts.h"

#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>

static void test_null_conn(void **s) {
    (void)s;
    assert_int_equal(evio_conn_write(NULL, "x", 1), EVIO_EINVAL);
    assert_int_equal(evio_conn_wake(NULL), EVIO_EINVAL);
    assert_int_equal(evio_conn_set_keepalive(NULL, 1), EVIO_EINVAL);
    assert_int_equal(evio_conn_set_reuse_input(NULL, 1), EVIO_EINVAL);
    assert_true(evio_conn_addr_index(NULL) < 0);
    assert_null(evio_conn_context(NULL));
    assert_null(evio_conn_local_addr(NULL, NULL));
    assert_null(evio_conn_remote_addr(NULL, NULL));
    socklen_t len = 123;
    assert_null(evio_conn_local_addr(NULL, &len));
    evio_conn_set_context(NULL, &len); /* no crash */
    evio_conn_ref(NULL);
    evio_conn_unref(NULL);
}

static void test_version(void **s) {
    (void)s;
    assert_int_equal(evio_version(), EVIO_VERSION);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", EVIO_VERSION_MAJOR, EVIO_VERSION_MINOR,
             EVIO_VERSION_PATCH);
    assert_string_equal(evio_version_string(), want);
}

/* Argument checks inside a callback, where the connection is valid. */
typedef struct args_state {
    int write_null, write_zero, ka_neg, ka_zero, ka_on, reuse_on, reuse_off;
    int done;
} args_state;

static evio_action a_opened(evio_conn *c, void *u) {
    args_state *st = TS_USER(u);
    st->write_null = evio_conn_write(c, NULL, 5);
    st->write_zero = evio_conn_write(c, "", 0);
    st->ka_neg = evio_conn_set_keepalive(c, -1);
    st->ka_on = evio_conn_set_keepalive(c, 30);
    st->ka_zero = evio_conn_set_keepalive(c, 0);
    st->reuse_on = evio_conn_set_reuse_input(c, 1);
    st->reuse_off = evio_conn_set_reuse_input(c, 0);
    TS_CHECK(evio_conn_write(c, "k", 1) == 0);
    return EVIO_CLOSE;
}

static void test_conn_arguments(void **s) {
    (void)s;
    ts_reset_failures();
    args_state st;
    memset(&st, 0, sizeof st);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = a_opened;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server srv;
    assert_int_equal(ts_server_start(&srv, &ev, &st, addrs, 1), 0);
    int fd = ts_connect_server(&srv, 0);
    TS_CHECK(fd >= 0);
    if (fd >= 0) {
        char k;
        TS_CHECK(ts_read_full(fd, &k, 1) == 0 && k == 'k'); /* the zero-length write sent nothing */
        TS_CHECK(ts_read_eof(fd) == 0);
        close(fd);
    }
    assert_int_equal(ts_server_stop(&srv), 0);
    TS_ASSERT_NO_FAILURES();
    assert_int_equal(st.write_null, EVIO_EINVAL);
    assert_int_equal(st.write_zero, 0);
    assert_int_equal(st.ka_neg, EVIO_EINVAL);
    assert_int_equal(st.ka_on, 0);
    assert_int_equal(st.ka_zero, 0);
    assert_int_equal(st.reuse_on, 0);
    assert_int_equal(st.reuse_off, 0);
}

/* ---- address forms ---------------------------------------------------------------------- */

typedef struct addr_state {
    struct sockaddr_storage addr;
    socklen_t len;
    char str[512];
} addr_state;

static evio_action record_serving(evio_server *srv, void *u) {
    addr_state *st = u;
    const struct sockaddr *sa = evio_server_addr(srv, 0, &st->len);
    if (sa)
        memcpy(&st->addr, sa, st->len);
    evio_server_addr_string(srv, 0, st->str, sizeof st->str);
    return EVIO_SHUTDOWN;
}

static int serve_record(const char *addr, addr_state *st) {
    memset(st, 0, sizeof *st);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.udata = st;
    ev.serving = record_serving;
    const char *addrs[] = {addr};
    return evio_serve(&ev, addrs, 1);
}

static void test_address_forms(void **s) {
    (void)s;
    addr_state st;
    /* "tcp://": an empty host:port is ":0", as Go's evio and net.Listen take it. */
    assert_int_equal(serve_record("tcp://", &st), 0);
    assert_true(ts_sa_port((struct sockaddr *)&st.addr) > 0);
    assert_int_equal(serve_record("udp4://", &st), 0);
    assert_int_equal(st.addr.ss_family, AF_INET);
    assert_true(ts_sa_port((struct sockaddr *)&st.addr) > 0);
    /* A host without a port is still refused. */
    assert_int_equal(serve_record("tcp://127.0.0.1", &st), EVIO_EINVAL);
    /* No scheme: tcp. */
    assert_int_equal(serve_record("127.0.0.1:0", &st), 0);
    assert_int_equal(st.addr.ss_family, AF_INET);
    assert_true(ts_sa_port((struct sockaddr *)&st.addr) > 0);
    assert_true(strncmp(st.str, "tcp", 3) == 0);
    /* An empty host: every interface (the wildcard address). Nothing connects to it. */
    assert_int_equal(serve_record("tcp4://:0", &st), 0);
    assert_int_equal(st.addr.ss_family, AF_INET);
    assert_int_equal(((struct sockaddr_in *)&st.addr)->sin_addr.s_addr, htonl(INADDR_ANY));
    assert_true(ts_sa_port((struct sockaddr *)&st.addr) > 0);
    /* reuseport=false is a valid value. */
    assert_int_equal(serve_record("tcp://127.0.0.1:0?reuseport=false", &st), 0);
    /* "localhost" resolves (to a loopback address). */
    assert_int_equal(serve_record("tcp4://localhost:0", &st), 0);
    assert_int_equal(((struct sockaddr_in *)&st.addr)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
}

static void test_stale_unix_socket(void **s) {
    (void)s;
    char dir[256], path[300], addr[400];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/stale.sock", dir);
    /* Leave a socket file behind, as a crashed server would. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un;
    socklen_t ulen = ts_unix_addr(&un, path);
    assert_true(ulen > 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&un, ulen), 0);
    close(fd);
    assert_true(ts_exists(path));
    snprintf(addr, sizeof addr, "unix://%s", path);
    addr_state st;
    int r = serve_record(addr, &st);
    if (r != 0)
        fail_msg("a stale socket file was not replaced: %d / %s", r, evio_last_error());
    assert_false(ts_exists(path)); /* removed again at shutdown */
    ts_rmtree(dir);
}

static evio_action rel_opened(evio_conn *c, void *u) {
    (void)u;
    TS_CHECK(evio_conn_write(c, "R", 1) == 0);
    return EVIO_CLOSE;
}

static void test_relative_unix_path(void **s) {
    (void)s;
    ts_reset_failures();
    char dir[256], old[4096], path[300];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
    assert_non_null(getcwd(old, sizeof old));
    assert_int_equal(chdir(dir), 0);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = rel_opened;
    const char *addrs[] = {"unix://rel.sock"};
    ts_server srv;
    int r = ts_server_start(&srv, &ev, NULL, addrs, 1);
    assert_int_equal(chdir(old), 0);
    if (r != 0)
        fail_msg("unix://rel.sock: %d / %s", r, srv.last_error);
    snprintf(path, sizeof path, "%s/rel.sock", dir);
    TS_CHECKF(ts_exists(path), "unix://rel.sock did not create %s", path);
    struct sockaddr_un un;
    socklen_t ulen = ts_unix_addr(&un, path);
    int fd = ulen ? ts_connect((struct sockaddr *)&un, ulen) : -1;
    TS_CHECK(fd >= 0);
    if (fd >= 0) {
        char c;
        TS_CHECK(ts_read_full(fd, &c, 1) == 0 && c == 'R');
        close(fd);
    }
    assert_int_equal(ts_server_stop(&srv), 0);
    TS_ASSERT_NO_FAILURES();
    int left = ts_exists(path);
    ts_rmtree(dir);
    if (left)
        fail_msg("%s (bound as unix://rel.sock) was not removed at shutdown", path);
}

/* A callback returning a value that is not an evio_action: the server must not crash (or
 * hit undefined behaviour, which the sanitizer build reports) and still shuts down. What
 * the connection does then is not specified; only survival is checked. */
static evio_action odd_opened(evio_conn *c, void *u) {
    (void)c;
    (void)u;
    return (evio_action)9;
}

static evio_action odd_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)u;
    TS_CHECK(evio_conn_write(c, in, len) == 0);
    return (evio_action)-7;
}

static void test_unknown_action(void **s) {
    (void)s;
    ts_reset_failures();
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = odd_opened;
    ev.data = odd_data;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server srv;
    assert_int_equal(ts_server_start(&srv, &ev, NULL, addrs, 1), 0);
    int fd = ts_connect_server(&srv, 0);
    TS_CHECK(fd >= 0);
    if (fd >= 0) {
        char b[2];
        if (ts_write_all(fd, "ab", 2) == 0)
            (void)ts_read_full(fd, b, 2); /* answer or EOF: either is fine */
        close(fd);
    }
    assert_int_equal(ts_server_stop(&srv), 0);
    TS_ASSERT_NO_FAILURES();
}

/* The "loop thread only" accessors check their thread: from another thread, while the
 * connection is open, context/addresses are NULL (EVIO_EPERM in evio_last_error()) and
 * set_context does nothing; once it has closed, a thread holding a reference reads them. */
typedef struct inspect_state {
    evio_conn *conn; /* referenced in opened */
    ts_counter opened, closed;
    int ctx;
} inspect_state;

static evio_action ins_opened(evio_conn *c, void *u) {
    inspect_state *st = TS_USER(u);
    evio_conn_ref(c);
    evio_conn_set_context(c, &st->ctx);
    st->conn = c;
    ts_counter_add(&st->opened, 1);
    return EVIO_NONE;
}

static evio_action ins_closed(evio_conn *c, int err, void *u) {
    (void)c;
    (void)err;
    ts_counter_add(&((inspect_state *)TS_USER(u))->closed, 1);
    return EVIO_NONE;
}

static void test_accessors_check_thread(void **s) {
    (void)s;
    ts_reset_failures();
    inspect_state st;
    memset(&st, 0, sizeof st);
    ts_counter_init(&st.opened);
    ts_counter_init(&st.closed);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = ins_opened;
    ev.closed = ins_closed;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server srv;
    assert_int_equal(ts_server_start(&srv, &ev, &st, addrs, 1), 0);
    int fd = ts_connect_server(&srv, 0);
    assert_true(fd >= 0);
    assert_int_equal(ts_counter_wait_ge(&st.opened, 1, TS_WAIT_TIMEOUT_MS), 0);
    socklen_t len = 0;
    void *ctx_open = evio_conn_context(st.conn);
    int perm = strstr(evio_last_error(), "loop thread") != NULL;
    evio_conn_set_context(st.conn, NULL); /* refused */
    const struct sockaddr *local_open = evio_conn_local_addr(st.conn, &len);
    const struct sockaddr *remote_open = evio_conn_remote_addr(st.conn, &len);
    close(fd);
    assert_int_equal(ts_counter_wait_ge(&st.closed, 1, TS_WAIT_TIMEOUT_MS), 0);
    void *ctx_closed = evio_conn_context(st.conn); /* closed: any thread with a reference */
    const struct sockaddr *remote_closed = evio_conn_remote_addr(st.conn, &len);
    int port_closed = remote_closed ? ts_sa_port(remote_closed) : -1;
    evio_conn_unref(st.conn); /* remote_closed is gone with it */
    assert_int_equal(ts_server_stop(&srv), 0);
    assert_null(ctx_open);
    assert_true(perm);
    assert_null(local_open);
    assert_null(remote_open);
    assert_ptr_equal(ctx_closed, &st.ctx); /* the refused set_context changed nothing */
    assert_true(port_closed > 0);
    ts_counter_destroy(&st.opened);
    ts_counter_destroy(&st.closed);
    TS_ASSERT_NO_FAILURES();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_unknown_action),
    cmocka_unit_test(test_null_conn),
    cmocka_unit_test(test_version),
    cmocka_unit_test(test_conn_arguments),
    cmocka_unit_test(test_address_forms),
    cmocka_unit_test(test_stale_unix_socket),
    cmocka_unit_test(test_relative_unix_path),
    cmocka_unit_test(test_accessors_check_thread),
};

TS_MAIN(tests)
