/*
 * `serving` and the server accessors.
 *
 * - `serving` runs once, on the thread that called evio_serve(), and its EVIO_SHUTDOWN
 *   makes evio_serve() return 0.
 * - evio_server_num_addrs()/num_loops() report what was asked (0 -> 1 loop, -1 -> one per
 *   CPU); evio_server_addr() gives each bound address with its family, length and the
 *   real port the kernel chose; out-of-range indexes give NULL / a negative code.
 * - evio_server_addr_string() gives the documented form, truncates like snprintf, and
 *   its output can be given to evio_serve() again (same port, same path).
 */
#include "ts.h"

#include <netinet/in.h>
#include <sys/un.h>

typedef struct sv {
    int calls;
    pthread_t thread;
    int num_addrs, num_loops;
    struct sockaddr_storage addr[8];
    socklen_t len[8];
    char str[8][512];
    int str_ret[8];
    /* out-of-range and truncation results */
    int oob_null, oob_str;
    int trunc_ret, trunc_len;
    char trunc_buf[16];
    int zero_ret;
    char zero_buf[4];
    int full_len0;
} sv;

static evio_action on_serving(evio_server *srv, void *u) {
    sv *st = u;
    st->calls++;
    st->thread = pthread_self();
    st->num_addrs = evio_server_num_addrs(srv);
    st->num_loops = evio_server_num_loops(srv);
    for (int i = 0; i < st->num_addrs && i < 8; i++) {
        socklen_t len = 0;
        const struct sockaddr *sa = evio_server_addr(srv, i, &len);
        if (sa && len <= sizeof st->addr[i]) {
            memcpy(&st->addr[i], sa, len);
            st->len[i] = len;
        }
        st->str_ret[i] = evio_server_addr_string(srv, i, st->str[i], sizeof st->str[i]);
    }
    st->oob_null = evio_server_addr(srv, -1, NULL) == NULL &&
                   evio_server_addr(srv, st->num_addrs, NULL) == NULL &&
                   evio_server_addr(srv, 1000, NULL) == NULL;
    char b[64];
    st->oob_str = evio_server_addr_string(srv, -1, b, sizeof b) < 0 &&
                  evio_server_addr_string(srv, st->num_addrs, b, sizeof b) < 0;
    memset(st->trunc_buf, 'X', sizeof st->trunc_buf);
    st->trunc_ret = evio_server_addr_string(srv, 0, st->trunc_buf, 8);
    st->trunc_len = (int)strnlen(st->trunc_buf, sizeof st->trunc_buf);
    memset(st->zero_buf, 'X', sizeof st->zero_buf);
    st->zero_ret = evio_server_addr_string(srv, 0, st->zero_buf, 0);
    return EVIO_SHUTDOWN;
}

static int serve_once(const char *const *addrs, size_t n, int loops, sv *st) {
    memset(st, 0, sizeof *st);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.udata = st;
    ev.num_loops = loops;
    ev.serving = on_serving;
    return evio_serve(&ev, addrs, n);
}

static void test_loops(void **s) {
    (void)s;
    const char *a[] = {"tcp://127.0.0.1:0"};
    sv st;
    static const int asked[] = {0, 1, 3, 8};
    static const int want[] = {1, 1, 3, 8};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(serve_once(a, 1, asked[i], &st), 0);
        assert_int_equal(st.calls, 1);
        assert_true(pthread_equal(st.thread, pthread_self()));
        assert_int_equal(st.num_addrs, 1);
        if (st.num_loops != want[i])
            fail_msg("num_loops %d gave %d loops, want %d", asked[i], st.num_loops, want[i]);
    }
    assert_int_equal(serve_once(a, 1, -1, &st), 0);
    if (st.num_loops != ts_ncpu_online() && st.num_loops != ts_ncpu_affinity())
        fail_msg("num_loops -1 gave %d loops; CPUs: %d online, %d usable", st.num_loops,
                 ts_ncpu_online(), ts_ncpu_affinity());
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static void test_addresses(void **s) {
    (void)s;
    char dir[256], path[400], uaddr[512];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/serving.sock", dir);
    snprintf(uaddr, sizeof uaddr, "unix://%s", path);
    int v6 = ts_have_ipv6();
    if (!v6)
        fprintf(stderr, "[serving] no IPv6 loopback (cannot bind ::1): tcp6/udp6 not run\n");
    const char *addrs[] = {"tcp://127.0.0.1:0", "udp4://127.0.0.1:0", uaddr, "tcp6://[::1]:0",
                           "udp6://[::1]:0"};
    size_t n = v6 ? 5 : 3;
    sv st;
    int r = serve_once(addrs, n, 2, &st);
    if (r != 0)
        fail_msg("evio_serve: %d / %s", r, evio_last_error());
    assert_int_equal(st.num_addrs, (int)n);
    assert_int_equal(st.num_loops, 2);
    assert_true(st.oob_null);
    assert_true(st.oob_str);

    char want[600];
    for (size_t i = 0; i < n; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&st.addr[i];
        if (st.str_ret[i] != (int)strlen(st.str[i]))
            fail_msg("evio_server_addr_string(%zu) returned %d for '%s'", i, st.str_ret[i],
                     st.str[i]);
        if (i == 2) {
            assert_int_equal(sa->sa_family, AF_UNIX);
            assert_string_equal(((const struct sockaddr_un *)sa)->sun_path, path);
            snprintf(want, sizeof want, "unix://%s", path);
            assert_string_equal(st.str[i], want);
            continue;
        }
        int is6 = i >= 3;
        int port = ts_sa_port(sa);
        assert_int_equal(sa->sa_family, is6 ? AF_INET6 : AF_INET);
        assert_int_equal(st.len[i], is6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
        if (port <= 0)
            fail_msg("address %zu: port %d (want the real port, not 0)", i, port);
        snprintf(want, sizeof want, is6 ? "[::1]:%d" : "127.0.0.1:%d", port);
        const char *scheme = (i == 1 || i == 4) ? "udp" : "tcp";
        if (strncmp(st.str[i], scheme, 3) != 0 || !strstr(st.str[i], "://") ||
            !ends_with(st.str[i], want))
            fail_msg("evio_server_addr_string(%zu) = '%s', want '%s…://%s'", i, st.str[i], scheme,
                     want);
    }
    /* The plain tcp address is exactly in the documented form. */
    snprintf(want, sizeof want, "tcp://127.0.0.1:%d", ts_sa_port((struct sockaddr *)&st.addr[0]));
    assert_string_equal(st.str[0], want);

    /* snprintf-style truncation. */
    assert_int_equal(st.trunc_ret, (int)strlen(st.str[0]));
    assert_int_equal(st.trunc_len, 7);
    assert_memory_equal(st.trunc_buf, st.str[0], 7);
    assert_int_equal(st.zero_ret, (int)strlen(st.str[0]));
    assert_int_equal(st.zero_buf[0], 'X');

    /* The texts parse back: serving on them again gives the same addresses. */
    sv again;
    char copies[5][512];
    const char *back[5];
    for (size_t i = 0; i < n; i++) {
        snprintf(copies[i], sizeof copies[i], "%s", st.str[i]);
        back[i] = copies[i];
    }
    r = serve_once(back, n, 1, &again);
    if (r != 0)
        fail_msg("serving again on evio_server_addr_string output failed: %d / %s", r,
                 evio_last_error());
    for (size_t i = 0; i < n; i++) {
        if (strcmp(again.str[i], st.str[i]) != 0)
            fail_msg("address %zu: '%s' served again became '%s'", i, st.str[i], again.str[i]);
        assert_int_equal(again.addr[i].ss_family, st.addr[i].ss_family);
    }
    assert_false(ts_exists(path));
    ts_rmtree(dir);
}

/* The accessors on NULL do not crash. */
static void test_null_server(void **s) {
    (void)s;
    char b[32];
    assert_true(evio_server_num_addrs(NULL) < 0);
    assert_true(evio_server_num_loops(NULL) < 0);
    assert_null(evio_server_addr(NULL, 0, NULL));
    assert_true(evio_server_addr_string(NULL, 0, b, sizeof b) < 0);
}

/* A server can be served again right after the previous one on the same port. */
static void test_serve_again_same_port(void **s) {
    (void)s;
    const char *a[] = {"tcp://127.0.0.1:0"};
    sv st;
    assert_int_equal(serve_once(a, 1, 1, &st), 0);
    char copy[512];
    snprintf(copy, sizeof copy, "%s", st.str[0]);
    const char *b[] = {copy};
    for (int i = 0; i < 5; i++) {
        sv again;
        assert_int_equal(serve_once(b, 1, 1, &again), 0);
        assert_string_equal(again.str[0], st.str[0]);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_loops),
    cmocka_unit_test(test_addresses),
    cmocka_unit_test(test_null_server),
    cmocka_unit_test(test_serve_again_same_port),
};

TS_MAIN(tests)
