/*
 * Accept errors (EMFILE): the server neither dies nor spins, and recovers.
 *
 * A child process (so the lowered limit affects nobody else) runs a server, then lowers
 * RLIMIT_NOFILE so that exactly F more descriptors can be opened. The parent connects F
 * clients (all greeted), then E more, which the server cannot accept (EMFILE) and which
 * stay in the backlog. While they are stuck:
 *  - an accepted client still gets its echo (the loop runs);
 *  - the child's CPU time over a 300 ms window stays well under 50% of the wall time
 *    (a level-triggered listener that is readable forever must not make the loop spin).
 * Then the parent closes the F clients: the waiting clients are served (or, if the
 * server chose to shed them, closed — no hang either way), and a new client is greeted.
 * Finally the server shuts down cleanly (evio_serve returns 0).
 */
#include "ts.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#define F 8
#define E 4

static evio_action on_opened(evio_conn *c, void *u) {
    (void)u;
    TS_CHECK(evio_conn_write(c, "hi", 2) == 0);
    return EVIO_NONE;
}

static evio_action on_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)u;
    TS_CHECK(evio_conn_write(c, in, len) == 0);
    return EVIO_NONE;
}

typedef struct msg {
    char kind; /* 'P' port+free, 'C' cpu, 'X' exit */
    int port;
    int free_fds;
    long long cpu_ns, wall_ns;
    int ret;
} msg;

static int64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Pipes: write(), not send(). */
static int pipe_write(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_msg(int fd, msg *m) {
    if (ts_wait_readable(fd, TS_WAIT_TIMEOUT_MS) != 1)
        return -1;
    return ts_read_full(fd, m, sizeof *m);
}

static void child(int ctl, int rep) {
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = 1;
    ev.opened = on_opened;
    ev.data = on_data;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server s;
    msg m;
    memset(&m, 0, sizeof m);
    if (ts_server_start(&s, &ev, NULL, addrs, 1) != 0)
        _exit(10);
    /* Allow exactly F more descriptors: the limit is just above the F-th free number. */
    int free_seen = 0, fd = 0;
    for (; free_seen < F; fd++)
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF)
            free_seen++;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = (rlim_t)fd;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        _exit(11);
    m.kind = 'P';
    m.port = ts_sa_port((struct sockaddr *)&s.addr[0]);
    m.free_fds = F;
    if (pipe_write(rep, &m, sizeof m) != 0)
        _exit(12);

    char cmd;
    while (ts_read_full(ctl, &cmd, 1) == 0) {
        if (cmd == 'M') {
            int64_t c0 = cpu_ns(), w0 = ts_now_ns();
            struct timespec win = {0, 300 * 1000000L}; /* the measurement window */
            nanosleep(&win, NULL);
            m.kind = 'C';
            m.cpu_ns = cpu_ns() - c0;
            m.wall_ns = ts_now_ns() - w0;
            pipe_write(rep, &m, sizeof m);
        } else if (cmd == 'S') {
            break;
        }
    }
    m.kind = 'X';
    m.ret = ts_server_stop(&s);
    pipe_write(rep, &m, sizeof m);
    _exit(ts_failures() ? 13 : 0);
}

static int connect_port(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ts_connect((struct sockaddr *)&a, sizeof a);
}

static void test_emfile(void **unused) {
    (void)unused;
    ts_reset_failures();
    int ctl[2], rep[2];
    assert_int_equal(pipe(ctl), 0);
    assert_int_equal(pipe(rep), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ctl[1]);
        close(rep[0]);
        child(ctl[0], rep[1]);
    }
    close(ctl[0]);
    close(rep[1]);

    msg m;
    int fds[F + E + 1];
    int n = 0;
    for (int i = 0; i < F + E + 1; i++)
        fds[i] = -1;
    if (read_msg(rep[0], &m) != 0 || m.kind != 'P') {
        ts_fail_at(__FILE__, __LINE__, "child did not start its server");
        goto out;
    }
    /* F clients: all accepted and greeted. */
    for (int i = 0; i < F; i++) {
        fds[n] = connect_port(m.port);
        TS_CHECKF(fds[n] >= 0, "connect %d: %s", i, strerror(errno));
        if (fds[n] < 0)
            goto out;
        char g[2];
        TS_CHECKF(ts_read_full(fds[n], g, 2) == 0 && !memcmp(g, "hi", 2),
                  "client %d of the first %d not served", i, F);
        n++;
    }
    if (ts_failures())
        goto out;
    /* E more: connected by the kernel, but the server is out of descriptors. */
    for (int i = 0; i < E; i++) {
        fds[n] = connect_port(m.port);
        TS_CHECKF(fds[n] >= 0, "connect extra %d: %s", i, strerror(errno));
        if (fds[n] < 0)
            goto out;
        n++;
    }
    /* The loop still serves the accepted connections... */
    TS_CHECK(ts_write_all(fds[0], "ping", 4) == 0);
    char p[4];
    TS_CHECKF(ts_read_full(fds[0], p, 4) == 0 && !memcmp(p, "ping", 4),
              "the server stopped serving while accept fails");
    /* ...and does not spin on the listener it cannot accept from. */
    TS_CHECK(pipe_write(ctl[1], "M", 1) == 0);
    if (read_msg(rep[0], &m) != 0 || m.kind != 'C') {
        ts_fail_at(__FILE__, __LINE__, "no CPU measurement from the child");
        goto out;
    }
    double ratio = (double)m.cpu_ns / (double)m.wall_ns;
    fprintf(stderr, "[accept_errors] CPU %.1f ms over %.1f ms (%.0f%%) while accept hits EMFILE\n",
            m.cpu_ns / 1e6, m.wall_ns / 1e6, ratio * 100);
    TS_CHECKF(ratio < 0.25, "the server burns %.0f%% CPU while its backlog is stuck (EMFILE)",
              ratio * 100);

    /* Free the server's descriptors: the waiting clients are dealt with. */
    for (int i = 0; i < F; i++) {
        close(fds[i]);
        fds[i] = -1;
    }
    int served = 0, shed = 0;
    for (int i = F; i < F + E; i++) {
        char g[2];
        int r = ts_read_full(fds[i], g, 2);
        if (r == 0 && !memcmp(g, "hi", 2))
            served++;
        else if (r == 1 || (r < 0 && errno == ECONNRESET))
            shed++;
        else
            ts_fail_at(__FILE__, __LINE__, "waiting client %d: neither served nor closed (%s)",
                       i - F, strerror(errno));
    }
    fprintf(stderr, "[accept_errors] after fds were freed: %d waiting clients served, %d shed\n",
            served, shed);
    /* And the server accepts again. */
    fds[n] = connect_port(m.port);
    TS_CHECK(fds[n] >= 0);
    if (fds[n] >= 0) {
        char g[2];
        TS_CHECKF(ts_read_full(fds[n], g, 2) == 0 && !memcmp(g, "hi", 2),
                  "a new client is not served after descriptors were freed");
        TS_CHECK(ts_write_all(fds[n], "pong", 4) == 0);
        TS_CHECK(ts_read_full(fds[n], p, 4) == 0 && !memcmp(p, "pong", 4));
    }
    n++;

out:
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    pipe_write(ctl[1], "S", 1);
    close(ctl[1]);
    int got_exit = read_msg(rep[0], &m) == 0 && m.kind == 'X';
    int status = 0;
    if (!got_exit)
        kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close(rep[0]);
    TS_CHECKF(got_exit && m.ret == 0, "child's evio_serve returned %d", got_exit ? m.ret : -1);
    TS_CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exit status 0x%x", status);
    TS_ASSERT_NO_FAILURES();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_emfile),
};

TS_MAIN(tests)
