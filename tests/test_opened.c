/*
 * `opened`: the greeting, the context, the address index and the address accessors.
 *
 * - Output written in `opened` reaches the client before it sends anything.
 * - The context set in `opened` is there in `data` and in `closed`.
 * - evio_conn_addr_index() is the index of the address the connection came in on.
 * - evio_conn_local_addr()/evio_conn_remote_addr() give the right family and ports
 *   (local = the server's bound address, remote = the client's own address) and
 *   evio_addr_string() formats them as documented.
 * - evio_addr_string() on hand-made addresses: formats, truncation, bad input.
 * - A unix client that bound its socket to a path: the remote address is that path.
 */
#include "ts.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#define MAGIC 0x4f50454eu
#define MAXREC 16

typedef struct rec {
    int addr_index;
    struct sockaddr_storage local, remote;
    socklen_t local_len, remote_len;
    char local_str[256], remote_str[256];
    int local_str_ret, remote_str_ret;
} rec;

typedef struct ctx {
    unsigned magic;
    int rec;
} ctx;

typedef struct state {
    pthread_mutex_t mu;
    rec recs[MAXREC];
    int nrecs;
    ts_counter closed;
    atomic_int closed_bad;
} state;

static evio_action on_opened(evio_conn *conn, void *udata) {
    state *st = TS_USER(udata);
    int idx = evio_conn_addr_index(conn);
    pthread_mutex_lock(&st->mu);
    int r = st->nrecs < MAXREC ? st->nrecs++ : MAXREC - 1;
    rec *rc = &st->recs[r];
    rc->addr_index = idx;
    socklen_t len = 0;
    const struct sockaddr *sa = evio_conn_local_addr(conn, &len);
    TS_CHECK(sa != NULL);
    if (sa && len <= sizeof rc->local) {
        memcpy(&rc->local, sa, len);
        rc->local_len = len;
        rc->local_str_ret = evio_addr_string(sa, len, rc->local_str, sizeof rc->local_str);
    }
    len = 0;
    sa = evio_conn_remote_addr(conn, &len);
    TS_CHECK(sa != NULL);
    if (sa && len <= sizeof rc->remote) {
        memcpy(&rc->remote, sa, len);
        rc->remote_len = len;
        rc->remote_str_ret = evio_addr_string(sa, len, rc->remote_str, sizeof rc->remote_str);
    }
    pthread_mutex_unlock(&st->mu);

    /* NULL length pointers are allowed. */
    TS_CHECK(evio_conn_local_addr(conn, NULL) != NULL);
    TS_CHECK(evio_conn_remote_addr(conn, NULL) != NULL);

    TS_CHECK(evio_conn_context(conn) == NULL); /* no context before it is set */
    ctx *c = malloc(sizeof *c);
    TS_CHECK(c != NULL);
    if (!c)
        return EVIO_CLOSE;
    c->magic = MAGIC;
    c->rec = r;
    evio_conn_set_context(conn, c);

    char greet[64];
    int n = snprintf(greet, sizeof greet, "hello %d\n", idx);
    TS_CHECK(evio_conn_write(conn, greet, (size_t)n) == 0);
    return EVIO_NONE;
}

static evio_action on_data(evio_conn *conn, const void *in, size_t len, void *udata) {
    (void)udata;
    (void)in;
    (void)len;
    ctx *c = evio_conn_context(conn);
    char reply[64];
    int n = snprintf(reply, sizeof reply, "ctx %s %d\n", c && c->magic == MAGIC ? "ok" : "LOST",
                     evio_conn_addr_index(conn));
    TS_CHECK(evio_conn_write(conn, reply, (size_t)n) == 0);
    return EVIO_NONE;
}

static evio_action on_closed(evio_conn *conn, int err, void *udata) {
    state *st = TS_USER(udata);
    ctx *c = evio_conn_context(conn);
    if (!c || c->magic != MAGIC || err != 0) {
        atomic_fetch_add(&st->closed_bad, 1);
        ts_fail_at(__FILE__, __LINE__, "closed: context %p (magic ok %d), err %d", (void *)c,
                   c ? c->magic == MAGIC : 0, err);
    }
    if (c) {
        c->magic = 0;
        free(c);
    }
    ts_counter_add(&st->closed, 1);
    return EVIO_NONE;
}

static void check_conn(ts_server *s, state *st, int index, const char *unix_path) {
    int fd = ts_connect_server(s, index);
    if (fd < 0) {
        ts_fail_at(__FILE__, __LINE__, "connect to %s: %s", s->addrstr[index], strerror(errno));
        return;
    }
    /* The greeting arrives although the client has sent nothing. */
    char want[64], got[64] = {0};
    int n = snprintf(want, sizeof want, "hello %d\n", index);
    int r = ts_read_full(fd, got, (size_t)n);
    TS_CHECKF(r == 0 && memcmp(got, want, (size_t)n) == 0,
              "greeting on %s: read %d, got '%.*s', want '%s'", s->addrstr[index], r, n, got, want);
    /* And nothing more than the greeting. */
    TS_CHECKF(ts_wait_readable(fd, 0) == 0, "more than the greeting arrived");

    struct sockaddr_storage me;
    socklen_t melen = sizeof me;
    TS_CHECK(getsockname(fd, (struct sockaddr *)&me, &melen) == 0);

    pthread_mutex_lock(&st->mu);
    rec rc = st->recs[st->nrecs - 1];
    pthread_mutex_unlock(&st->mu);

    const struct sockaddr *srv = (const struct sockaddr *)&s->addr[index];
    TS_CHECKF(rc.addr_index == index, "addr_index %d, want %d", rc.addr_index, index);
    TS_CHECKF(rc.local.ss_family == srv->sa_family, "local family %d, want %d", rc.local.ss_family,
              srv->sa_family);
    TS_CHECKF(rc.remote.ss_family == srv->sa_family, "remote family %d, want %d",
              rc.remote.ss_family, srv->sa_family);
    char expect[300];
    if (srv->sa_family == AF_INET || srv->sa_family == AF_INET6) {
        int sport = ts_sa_port(srv), cport = ts_sa_port((struct sockaddr *)&me);
        TS_CHECKF(ts_sa_port((struct sockaddr *)&rc.local) == sport, "local port %d, want %d",
                  ts_sa_port((struct sockaddr *)&rc.local), sport);
        TS_CHECKF(ts_sa_port((struct sockaddr *)&rc.remote) == cport,
                  "remote port %d, want the client's %d", ts_sa_port((struct sockaddr *)&rc.remote),
                  cport);
        const char *host = srv->sa_family == AF_INET ? "127.0.0.1" : "[::1]";
        snprintf(expect, sizeof expect, "%s:%d", host, sport);
        TS_CHECKF(!strcmp(rc.local_str, expect) && rc.local_str_ret == (int)strlen(expect),
                  "local address string '%s' (%d), want '%s'", rc.local_str, rc.local_str_ret,
                  expect);
        snprintf(expect, sizeof expect, "%s:%d", host, cport);
        TS_CHECKF(!strcmp(rc.remote_str, expect) && rc.remote_str_ret == (int)strlen(expect),
                  "remote address string '%s' (%d), want '%s'", rc.remote_str, rc.remote_str_ret,
                  expect);
        TS_CHECK(rc.local_len == (srv->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                            : sizeof(struct sockaddr_in6)));
    } else {
        TS_CHECKF(!strcmp(rc.local_str, unix_path) && rc.local_str_ret == (int)strlen(unix_path),
                  "unix local address '%s' (%d), want '%s'", rc.local_str, rc.local_str_ret,
                  unix_path);
        TS_CHECKF(rc.remote_str[0] == '\0' && rc.remote_str_ret == 0,
                  "unnamed unix peer formatted as '%s' (%d), want ''", rc.remote_str,
                  rc.remote_str_ret);
    }

    /* The context set in `opened` is there in `data`. */
    TS_CHECK(ts_write_all(fd, "?", 1) == 0);
    n = snprintf(want, sizeof want, "ctx ok %d\n", index);
    memset(got, 0, sizeof got);
    r = ts_read_full(fd, got, (size_t)n);
    TS_CHECKF(r == 0 && memcmp(got, want, (size_t)n) == 0, "data reply '%.*s', want '%s'", n, got,
              want);
    long before = ts_counter_get(&st->closed);
    close(fd);
    TS_CHECKF(ts_counter_wait_ge(&st->closed, before + 1, TS_WAIT_TIMEOUT_MS) == 0,
              "closed not called after the client closed");
}

static void state_init(state *st) {
    ts_reset_failures();
    memset(st, 0, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    ts_counter_init(&st->closed);
}

static void state_destroy(state *st) {
    ts_counter_destroy(&st->closed);
    pthread_mutex_destroy(&st->mu);
}

static void test_greeting_context_addresses(void **state_) {
    (void)state_;
    state st;
    state_init(&st);

    char dir[256], uaddr[512], upath[300];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
    snprintf(upath, sizeof upath, "%s/opened.sock", dir);
    snprintf(uaddr, sizeof uaddr, "unix://%s", upath);
    int v6 = ts_have_ipv6();
    if (!v6)
        fprintf(stderr, "[opened] no IPv6 loopback (cannot bind ::1): tcp6 part not run\n");
    const char *addrs[] = {"tcp://127.0.0.1:0", uaddr, "tcp6://[::1]:0"};
    size_t naddrs = v6 ? 3 : 2;

    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = on_opened;
    ev.data = on_data;
    ev.closed = on_closed;
    ts_server s;
    int r = ts_server_start(&s, &ev, &st, addrs, naddrs);
    if (r != 0)
        fail_msg("evio_serve: %d %s / %s", r, evio_strerror(r), s.last_error);

    TS_CHECK(s.addr[0].ss_family == AF_INET);
    TS_CHECK(s.addr[1].ss_family == AF_UNIX);
    if (v6)
        TS_CHECK(s.addr[2].ss_family == AF_INET6);
    for (size_t i = 0; i < naddrs && ts_failures() == 0; i++)
        check_conn(&s, &st, (int)i, upath);
    /* Twice on the first address: the index stays right for later connections too. */
    if (ts_failures() == 0)
        check_conn(&s, &st, 0, upath);

    r = ts_server_stop(&s);
    assert_int_equal(r, 0);
    TS_ASSERT_NO_FAILURES();
    assert_int_equal(ts_counter_get(&st.closed), (long)naddrs + 1);
    assert_int_equal(atomic_load(&st.closed_bad), 0);
    ts_rmtree(dir);
    state_destroy(&st);
}

static void test_named_unix_peer(void **state_) {
    (void)state_;
    state st;
    state_init(&st);
    char dir[256], uaddr[512], upath[300], cpath[300];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
    snprintf(upath, sizeof upath, "%s/server.sock", dir);
    snprintf(cpath, sizeof cpath, "%s/a-client-with-a-long-enough-name.sock", dir);
    snprintf(uaddr, sizeof uaddr, "unix://%s", upath);
    const char *addrs[] = {uaddr};
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = on_opened;
    ev.data = on_data;
    ev.closed = on_closed;
    ts_server s;
    assert_int_equal(ts_server_start(&s, &ev, &st, addrs, 1), 0);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un me, srv;
    socklen_t melen = ts_unix_addr(&me, cpath), srvlen = ts_unix_addr(&srv, upath);
    TS_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&me, melen) == 0);
    TS_CHECK(ts_set_timeouts(fd, TS_IO_TIMEOUT_MS) == 0);
    TS_CHECK(connect(fd, (struct sockaddr *)&srv, srvlen) == 0);
    char got[16];
    TS_CHECK(ts_read_full(fd, got, 8) == 0 && !memcmp(got, "hello 0\n", 8)); /* opened ran */
    pthread_mutex_lock(&st.mu);
    rec rc = st.recs[st.nrecs - 1];
    pthread_mutex_unlock(&st.mu);
    TS_CHECKF(rc.remote.ss_family == AF_UNIX && !strcmp(rc.remote_str, cpath),
              "remote of a bound unix client '%s', want '%s'", rc.remote_str, cpath);
    close(fd);
    TS_CHECK(ts_counter_wait_ge(&st.closed, 1, TS_WAIT_TIMEOUT_MS) == 0);
    assert_int_equal(ts_server_stop(&s), 0);
    TS_ASSERT_NO_FAILURES();
    ts_rmtree(dir);
    state_destroy(&st);
}

/* evio_addr_string on addresses made by hand. */
static void test_addr_string(void **state_) {
    (void)state_;
    char buf[128];

    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_port = htons(80);
    inet_pton(AF_INET, "10.1.2.3", &a4.sin_addr);
    assert_int_equal(evio_addr_string((struct sockaddr *)&a4, sizeof a4, buf, sizeof buf), 11);
    assert_string_equal(buf, "10.1.2.3:80");

    /* Truncation: the full length is returned, the text is cut and NUL-terminated. */
    memset(buf, 'X', sizeof buf);
    assert_int_equal(evio_addr_string((struct sockaddr *)&a4, sizeof a4, buf, 6), 11);
    assert_string_equal(buf, "10.1.");
    memset(buf, 'X', sizeof buf);
    assert_int_equal(evio_addr_string((struct sockaddr *)&a4, sizeof a4, buf, 1), 11);
    assert_int_equal(buf[0], '\0');
    /* buflen 0: only the length; the buffer is not touched. */
    memset(buf, 'X', sizeof buf);
    assert_int_equal(evio_addr_string((struct sockaddr *)&a4, sizeof a4, buf, 0), 11);
    assert_int_equal(buf[0], 'X');

    struct sockaddr_in6 a6;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(5000);
    a6.sin6_addr = in6addr_loopback;
    assert_int_equal(evio_addr_string((struct sockaddr *)&a6, sizeof a6, buf, sizeof buf), 10);
    assert_string_equal(buf, "[::1]:5000");
    inet_pton(AF_INET6, "2001:db8::42", &a6.sin6_addr);
    a6.sin6_port = htons(65535);
    evio_addr_string((struct sockaddr *)&a6, sizeof a6, buf, sizeof buf);
    assert_string_equal(buf, "[2001:db8::42]:65535");

    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    strcpy(un.sun_path, "/tmp/some.sock");
    socklen_t ulen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(un.sun_path) + 1);
    assert_int_equal(evio_addr_string((struct sockaddr *)&un, ulen, buf, sizeof buf), 14);
    assert_string_equal(buf, "/tmp/some.sock");
    /* Also with the full structure length (path NUL-terminated inside). */
    assert_int_equal(evio_addr_string((struct sockaddr *)&un, sizeof un, buf, sizeof buf), 14);
    assert_string_equal(buf, "/tmp/some.sock");
    /* An unnamed unix address (only the family) is the empty string. */
    memset(buf, 'X', sizeof buf);
    assert_int_equal(evio_addr_string((struct sockaddr *)&un, sizeof(sa_family_t), buf, sizeof buf),
                     0);
    assert_string_equal(buf, "");

    /* Bad input: NULL, unknown family, a length too short for the family. */
    assert_int_equal(evio_addr_string(NULL, 16, buf, sizeof buf), EVIO_EINVAL);
    struct sockaddr_storage odd;
    memset(&odd, 0, sizeof odd);
    odd.ss_family = AF_APPLETALK;
    assert_int_equal(evio_addr_string((struct sockaddr *)&odd, sizeof odd, buf, sizeof buf),
                     EVIO_EINVAL);
    assert_int_equal(evio_addr_string((struct sockaddr *)&a4, 4, buf, sizeof buf), EVIO_EINVAL);
    /* Too short to hold even the family: refused without reading it (found by the fuzzer:
     * a 0- or 1-byte heap buffer was read past under ASAN). */
    unsigned char *tiny = malloc(1);
    tiny[0] = 0;
    assert_int_equal(evio_addr_string((struct sockaddr *)tiny, 0, buf, sizeof buf), EVIO_EINVAL);
    assert_int_equal(evio_addr_string((struct sockaddr *)tiny, 1, buf, sizeof buf), EVIO_EINVAL);
    free(tiny);
    assert_int_equal(evio_addr_string((struct sockaddr *)&a6, 8, buf, sizeof buf), EVIO_EINVAL);
}

/* The greeting goes out before any input is read, even when the client does not wait for
 * it: the client sends at once, and must receive the greeting before the echo. */
static evio_action g_opened(evio_conn *c, void *u) {
    (void)u;
    TS_CHECK(evio_conn_write(c, "GREETING\n", 9) == 0);
    return EVIO_NONE;
}

static evio_action g_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)u;
    TS_CHECK(evio_conn_write(c, in, len) == 0);
    return EVIO_NONE;
}

static void test_greeting_before_input(void **state_) {
    (void)state_;
    ts_reset_failures();
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = 2;
    ev.opened = g_opened;
    ev.data = g_data;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server s;
    assert_int_equal(ts_server_start(&s, &ev, NULL, addrs, 1), 0);
    for (int i = 0; i < 50 && ts_failures() == 0; i++) {
        int fd = ts_connect_server(&s, 0);
        TS_CHECK(fd >= 0);
        if (fd < 0)
            break;
        TS_CHECK(ts_write_all(fd, "early bytes", 11) == 0);
        char got[20];
        TS_CHECK(ts_read_full(fd, got, 20) == 0);
        TS_CHECKF(!memcmp(got, "GREETING\nearly bytes", 20), "got '%.20s'", got);
        close(fd);
    }
    assert_int_equal(ts_server_stop(&s), 0);
    TS_ASSERT_NO_FAILURES();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_greeting_context_addresses),
    cmocka_unit_test(test_greeting_before_input),
    cmocka_unit_test(test_addr_string),
    cmocka_unit_test(test_named_unix_peer),
};

TS_MAIN(tests)
