/*
 * Engine selection, as documented for ::evio_engine:
 * a `-net` address selects std (libuv) for the whole server; else `events.engine`; else
 * the environment variable EVIO_ENGINE (native|std); else native (epoll on Linux).
 * evio_server_engine() names the engine. EVIO_ENGINE_NATIVE with a -net address, an
 * unknown engine value and a bad EVIO_ENGINE are EVIO_EINVAL. A -net server serves
 * (tcp and unix echo).
 * - An engine that fails (epoll: its epoll fd closed behind its back) stops the server,
 *   and evio_serve() returns a negative code with a message, not 0.
 *
 * The rest of the suite never asks for an engine: it runs on whatever EVIO_ENGINE says.
 * This file changes EVIO_ENGINE only temporarily and restores it.
 */
#include "ts.h"

#include <dirent.h>
#include <limits.h>

/* The native engine of this build (the build system says: "libuv" where epoll is missing
 * or EVIO_NATIVE_ENGINE=OFF). */
#ifndef EVIO_TEST_NATIVE_NAME
#define EVIO_TEST_NATIVE_NAME "epoll"
#endif
#define NATIVE EVIO_TEST_NATIVE_NAME

typedef struct eng {
    char name[32];
    int calls;
} eng;

static evio_action on_serving(evio_server *srv, void *u) {
    eng *e = u;
    const char *n = evio_server_engine(srv);
    snprintf(e->name, sizeof e->name, "%s", n ? n : "(null)");
    e->calls++;
    return EVIO_SHUTDOWN;
}

static int serve_engine(const char *addr, evio_engine engine, eng *e) {
    memset(e, 0, sizeof *e);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.udata = e;
    ev.serving = on_serving;
    ev.engine = engine;
    const char *addrs[] = {addr};
    return evio_serve(&ev, addrs, 1);
}

static char saved_env[64];
static int had_env;

static int save_env(void **s) {
    (void)s;
    const char *v = getenv("EVIO_ENGINE");
    had_env = v != NULL;
    snprintf(saved_env, sizeof saved_env, "%s", v ? v : "");
    return 0;
}

static int restore_env(void **s) {
    (void)s;
    if (had_env)
        setenv("EVIO_ENGINE", saved_env, 1);
    else
        unsetenv("EVIO_ENGINE");
    return 0;
}

static void expect_engine(const char *addr, evio_engine engine, const char *want) {
    eng e;
    int r = serve_engine(addr, engine, &e);
    if (r != 0)
        fail_msg("%s (engine %d, EVIO_ENGINE=%s): %d / %s", addr, engine,
                 getenv("EVIO_ENGINE") ? getenv("EVIO_ENGINE") : "(unset)", r, evio_last_error());
    assert_int_equal(e.calls, 1);
    if (strcmp(e.name, want) != 0)
        fail_msg("%s (engine %d, EVIO_ENGINE=%s): engine '%s', want '%s'", addr, engine,
                 getenv("EVIO_ENGINE") ? getenv("EVIO_ENGINE") : "(unset)", e.name, want);
}

static void test_selection(void **s) {
    (void)s;
    const char *a = "tcp://127.0.0.1:0", *net = "tcp-net://127.0.0.1:0";

    unsetenv("EVIO_ENGINE");
    expect_engine(a, EVIO_ENGINE_DEFAULT, NATIVE);
    expect_engine(a, EVIO_ENGINE_STD, "libuv");
    expect_engine(a, EVIO_ENGINE_NATIVE, NATIVE);
    expect_engine(net, EVIO_ENGINE_DEFAULT, "libuv");
    expect_engine(net, EVIO_ENGINE_STD, "libuv");

    setenv("EVIO_ENGINE", "std", 1);
    expect_engine(a, EVIO_ENGINE_DEFAULT, "libuv");
    expect_engine(a, EVIO_ENGINE_NATIVE, NATIVE); /* the field wins over the environment */
    expect_engine(net, EVIO_ENGINE_DEFAULT, "libuv");

    setenv("EVIO_ENGINE", "native", 1);
    expect_engine(a, EVIO_ENGINE_DEFAULT, NATIVE);
    expect_engine(a, EVIO_ENGINE_STD, "libuv");
    expect_engine(net, EVIO_ENGINE_DEFAULT, "libuv"); /* -net wins over the environment */

    /* One -net address puts the whole server on std. */
    unsetenv("EVIO_ENGINE");
    eng e;
    memset(&e, 0, sizeof e);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.udata = &e;
    ev.serving = on_serving;
    const char *mixed[] = {"tcp://127.0.0.1:0", "udp-net://127.0.0.1:0"};
    assert_int_equal(evio_serve(&ev, mixed, 2), 0);
    assert_string_equal(e.name, "libuv");
}

static void test_errors(void **s) {
    (void)s;
    eng e;
    unsetenv("EVIO_ENGINE");
    assert_int_equal(serve_engine("tcp-net://127.0.0.1:0", EVIO_ENGINE_NATIVE, &e), EVIO_EINVAL);
    assert_int_equal(e.calls, 0);
    assert_non_null(strstr(evio_last_error(), "tcp-net://127.0.0.1:0"));
    assert_int_equal(serve_engine("tcp://127.0.0.1:0", (evio_engine)7, &e), EVIO_EINVAL);
    assert_int_equal(e.calls, 0);
    setenv("EVIO_ENGINE", "bogus", 1);
    assert_int_equal(serve_engine("tcp://127.0.0.1:0", EVIO_ENGINE_DEFAULT, &e), EVIO_EINVAL);
    assert_int_equal(e.calls, 0);
    assert_non_null(strstr(evio_last_error(), "bogus"));
    /* An explicit engine does not consult the environment. */
    assert_int_equal(serve_engine("tcp://127.0.0.1:0", EVIO_ENGINE_STD, &e), 0);
    assert_null(evio_server_engine(NULL));
}

static evio_action echo(evio_conn *c, const void *in, size_t len, void *u) {
    (void)u;
    TS_CHECK(evio_conn_write(c, in, len) == 0);
    return EVIO_NONE;
}

static void test_net_serves(void **s) {
    (void)s;
    ts_reset_failures();
    unsetenv("EVIO_ENGINE");
    char dir[256], uaddr[400];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
    snprintf(uaddr, sizeof uaddr, "unix-net://%s/net.sock", dir);
    const char *addrs[] = {"tcp-net://127.0.0.1:0", uaddr};
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = 2;
    ev.data = echo;
    ts_server srv;
    int r = ts_server_start(&srv, &ev, NULL, addrs, 2);
    if (r != 0)
        fail_msg("-net server: %d / %s", r, srv.last_error);
    unsigned char *buf = malloc(1 << 20);
    ts_rng rng;
    ts_rng_seed(&rng, ts_seed());
    for (int i = 0; i < 2; i++) {
        int fd = ts_connect_server(&srv, i);
        TS_CHECK(fd >= 0);
        if (fd < 0)
            continue;
        ts_rng_fill(&rng, buf, 1 << 20);
        char err[256];
        if (ts_echo_verify(fd, buf, 1 << 20, err, sizeof err) != 0)
            ts_fail_at(__FILE__, __LINE__, "echo on %s: %s", srv.addrstr[i], err);
        close(fd);
    }
    free(buf);
    assert_int_equal(ts_server_stop(&srv), 0);
    TS_ASSERT_NO_FAILURES();
    ts_rmtree(dir);
}

/* Closes every epoll instance of this process (only this test's server has one). */
static int close_epoll_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    int closed = 0, dfd = dirfd(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        int fd = atoi(e->d_name);
        char path[300], target[PATH_MAX];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (fd == dfd || n <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, "anon_inode:[eventpoll]") == 0 && close(fd) == 0)
            closed++;
    }
    closedir(d);
    return closed;
}

static evio_action break_engine(evio_server *srv, void *u) {
    int *closed = u;
    if (strcmp(evio_server_engine(srv), "epoll") != 0)
        return EVIO_SHUTDOWN; /* a build without epoll: nothing to break this way */
    *closed = close_epoll_fds();
    return EVIO_NONE;
}

static void test_engine_failure_reported(void **s) {
    (void)s;
    int closed = 0;
    evio_events ev = EVIO_EVENTS_INIT;
    ev.udata = &closed;
    ev.serving = break_engine;
    ev.engine = EVIO_ENGINE_NATIVE;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    int r = evio_serve(&ev, addrs, 1);
    if (strcmp(NATIVE, "epoll") != 0)
        return; /* a build without epoll: nothing to break this way */
    assert_int_equal(closed, 1);
    if (r >= 0)
        fail_msg("evio_serve returned %d after its engine failed, want a negative code", r);
    assert_non_null(strstr(evio_last_error(), "epoll"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_selection, save_env, restore_env),
    cmocka_unit_test_setup_teardown(test_errors, save_env, restore_env),
    cmocka_unit_test_setup_teardown(test_net_serves, save_env, restore_env),
    cmocka_unit_test(test_engine_failure_reported),
};

TS_MAIN(tests)
