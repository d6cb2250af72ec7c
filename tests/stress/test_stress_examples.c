/*
 * Stress: garbage and oversized input to the example servers' parsers.
 *
 * Each example that parses a protocol (redis-server, http-server; their paths are the
 * arguments, "redis=PATH" and "http=PATH") runs as a child process on a free port and gets:
 *  - 4,000 connections, 8 at a time, each sending up to 64 KiB (in pieces) of random bytes
 *    or of protocol-like pieces (RESP headers, quotes, escapes, request lines, header
 *    lines, CRLFs, huge numbers) shuffled at random (TS_SEED), then its end of input: every
 *    one must end (EOF or reset) within the socket timeout, whatever was answered;
 *  - oversized and malformed requests, each answered with the documented error and closed:
 *    redis: an inline line past 64 KiB, a bulk length past 512 MiB, more than 1M arguments,
 *    a bulk past the 64 MiB command bound, and 80 MB of a command that passes that bound
 *    as it arrives; http: a head past 64 KiB (431), a body past 16 MiB (413),
 *    Transfer-Encoding (501), a bad version (400), and a 10 MiB body, which is fine (200);
 *  - then it must still run and answer: PING/SET/GET, or GET / with "Hello, World!".
 * Finally SIGTERM stops it, with exit status 0. Bounded: TIME_BOUND_S, TS_IO_TIMEOUT_MS.
 */
#include "stress.h"

#include <sys/wait.h>

#define GARBAGE 4000
#define THREADS 8
#define TIME_BOUND_S 120

static const char *g_redis, *g_http;

/* ---- garbage ------------------------------------------------------------------------------ */

static const char *const pieces[] = {"*",
                                     "$",
                                     "\r\n",
                                     "\n",
                                     "\r",
                                     "*1\r\n",
                                     "*3\r\n",
                                     "$3\r\nSET\r\n",
                                     "$-1\r\n",
                                     "*-5\r\n",
                                     "$999999999999\r\n",
                                     "*99999999\r\n",
                                     "\"",
                                     "'",
                                     "\\x4",
                                     "\\",
                                     " ",
                                     "\t",
                                     "PING",
                                     "GET ",
                                     "SET k ",
                                     "GET / HTTP/1.1\r\n",
                                     "HTTP/1.",
                                     "Content-Length: ",
                                     "Content-Length: 5\r\n",
                                     "Transfer-Encoding: chunked\r\n",
                                     "Connection: close\r\n",
                                     "Host: x\r\n",
                                     ": ",
                                     "\r\n\r\n",
                                     "\x00",
                                     "\xff",
                                     "9999999999999999999999"};

/* Random bytes, or protocol-like pieces in random order. */
static size_t garbage(ts_rng *r, unsigned char *buf, size_t cap) {
    size_t n = 1 + (size_t)ts_rng_below(r, cap);
    if (ts_rng_below(r, 3) == 0) {
        ts_rng_fill(r, buf, n);
        return n;
    }
    size_t len = 0;
    while (len < n) {
        const char *p = pieces[ts_rng_below(r, sizeof pieces / sizeof pieces[0])];
        size_t k = p[0] ? strlen(p) : 1; /* "\x00" is one NUL byte */
        if (ts_rng_below(r, 4) == 0) {   /* or a few random bytes */
            k = 1 + (size_t)ts_rng_below(r, 16);
            if (k > n - len)
                k = n - len;
            ts_rng_fill(r, buf + len, k);
        } else {
            if (k > n - len)
                k = n - len;
            memcpy(buf + len, p, k);
        }
        len += k;
    }
    return len;
}

typedef struct sender {
    int port;
    uint64_t seed;
    int count, ended, failures;
    char err[160];
} sender;

static void *sender_main(void *arg) {
    sender *s = arg;
    ts_rng r;
    ts_rng_seed(&r, s->seed);
    size_t cap = 64 << 10;
    unsigned char *buf = malloc(cap);
    struct sockaddr_in to = stress_loopback(s->port);
    for (int i = 0; buf && i < s->count; i++) {
        size_t n = garbage(&r, buf, cap);
        int fd = stress_connect_from(&to, 50 + i % 8);
        if (fd < 0) {
            s->failures++;
            snprintf(s->err, sizeof s->err, "connect: %s", strerror(errno));
            continue;
        }
        for (size_t at = 0, k; at < n; at += k) { /* in up to 8 pieces */
            k = ts_rng_below(&r, 8) == 0 ? n - at : 1 + (size_t)ts_rng_below(&r, n - at);
            if (ts_write_all(fd, buf + at, k) != 0)
                break; /* the server may close first: that is fine */
        }
        shutdown(fd, SHUT_WR);
        if (stress_read_to_end(fd, NULL, 0) >= 0) {
            s->ended++;
        } else {
            s->failures++;
            snprintf(s->err, sizeof s->err, "no end after %zu bytes of garbage: %s", n,
                     strerror(errno));
        }
        close(fd);
    }
    free(buf);
    return NULL;
}

static void send_garbage(const stress_child *c, const char *name) {
    sender s[THREADS];
    pthread_t th[THREADS];
    uint64_t seed = ts_seed();
    int64_t t0 = ts_now_ns();
    for (int t = 0; t < THREADS; t++) {
        s[t] = (sender){.port = c->port, .seed = seed + (uint64_t)t, .count = GARBAGE / THREADS};
        assert_int_equal(pthread_create(&th[t], NULL, sender_main, &s[t]), 0);
    }
    int ended = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        ended += s[t].ended;
    }
    printf("[stress_examples] %s: %d garbage connections ended in %.2f s\n", name, ended,
           (double)(ts_now_ns() - t0) / 1e9);
    for (int t = 0; t < THREADS; t++)
        if (s[t].failures)
            fail_msg("%s: %d garbage connections failed; %s", name, s[t].failures, s[t].err);
}

/* ---- one request, one answer -------------------------------------------------------------- */

/*
 * Send `n` bytes (then `extra` bytes more of filler, `fill` repeated, for requests that
 * are large by their length), shut down our side, and read the whole answer into `reply`
 * (NUL-terminated, at most cap - 1 bytes kept). Returns the answer's length, or -1 if the
 * connection did not end. Sending stops early if the server closes first.
 */
static long ask(int port, const void *req, size_t n, size_t extra, const char *fill, char *reply,
                size_t cap) {
    struct sockaddr_in to = stress_loopback(port);
    int fd = ts_connect((struct sockaddr *)&to, sizeof to);
    if (fd < 0)
        return -1;
    int ok = ts_write_all(fd, req, n) == 0;
    if (ok && extra) {
        size_t flen = strlen(fill), chunk = (64 << 10) / flen * flen;
        char *b = malloc(chunk);
        for (size_t i = 0; b && i < chunk; i += flen)
            memcpy(b + i, fill, flen);
        for (size_t sent = 0; b && ok && sent < extra; sent += chunk)
            ok = ts_write_all(fd, b, chunk < extra - sent ? chunk : extra - sent) == 0;
        free(b);
    }
    shutdown(fd, SHUT_WR);
    long k = stress_read_to_end(fd, reply, cap - 1);
    reply[k > 0 ? (k < (long)cap - 1 ? k : (long)cap - 1) : 0] = '\0';
    close(fd);
    return k;
}

static void expect_answer(int port, const char *what, const void *req, size_t n, size_t extra,
                          const char *fill, const char *want) {
    char reply[512];
    long k = ask(port, req, n, extra, fill, reply, sizeof reply);
    printf("[stress_examples]   %s -> %.40s\n", what, k > 0 ? reply : "(nothing)");
    if (k < 0 || !strstr(reply, want))
        fail_msg("%s: answer %ld bytes \"%.80s\", expected \"%s\"", what, k, reply, want);
}

/* ---- the examples ----------------------------------------------------------------------- */

static void start(stress_child *c, const char *path) {
    if (stress_child_start(c, path, "tcp://127.0.0.1:0") != 0)
        fail_msg("%s did not start (no \"serving on\" line)", path);
}

static void stop(stress_child *c, const char *name) {
    assert_true(stress_child_alive(c, NULL));
    int status = stress_child_stop(c);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s: exit status 0x%x after SIGTERM", name, status);
}

static void test_redis_server(void **unused) {
    (void)unused;
    if (!g_redis)
        skip();
    int64_t deadline = ts_now_ns() + (int64_t)TIME_BOUND_S * 1000000000;
    stress_child c;
    start(&c, g_redis);
    send_garbage(&c, "redis-server");
    assert_true(stress_child_alive(&c, NULL));

    const char *perr = "-ERR Protocol error: ";
    char *line = malloc(100 << 10);
    assert_non_null(line);
    memset(line, 'x', 100 << 10);
    expect_answer(c.port, "inline line of 100 KiB", line, 100 << 10, 0, "", perr);
    free(line);
    expect_answer(c.port, "bulk length 600000000", "*1\r\n$600000000\r\n", 16, 0, "",
                  "-ERR Protocol error: invalid bulk length");
    expect_answer(c.port, "2000000 arguments", "*2000000\r\n", 10, 0, "",
                  "-ERR Protocol error: invalid multibulk length");
    expect_answer(c.port, "bulk of 64 MiB", "*1\r\n$67108864\r\n", 15, 0, "",
                  "-ERR Protocol error: command too large");
    /* 1M arguments of 70 bytes: the 64 MiB bound passes as the bytes arrive. */
    expect_answer(
        c.port, "80 MB command", "*1000000\r\n", 10, (size_t)1000000 * 80,
        "$70\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
        "-ERR Protocol error: command too large");

    assert_true(stress_child_alive(&c, NULL));
    const char *cmds = "PING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\nGET k\r\n";
    expect_answer(c.port, "PING, SET, GET", cmds, strlen(cmds), 0, "",
                  "+PONG\r\n+OK\r\n$5\r\nvalue\r\n");
    stop(&c, "redis-server");
    assert_true(ts_now_ns() < deadline);
}

static void test_http_server(void **unused) {
    (void)unused;
    if (!g_http)
        skip();
    int64_t deadline = ts_now_ns() + (int64_t)TIME_BOUND_S * 1000000000;
    stress_child c;
    start(&c, g_http);
    send_garbage(&c, "http-server");
    assert_true(stress_child_alive(&c, NULL));

    const char *big_head = "GET / HTTP/1.1\r\nX-Big: ";
    expect_answer(c.port, "head of 70 KiB", big_head, strlen(big_head), 70 << 10, "y",
                  "HTTP/1.1 431");
    const char *big_body = "POST / HTTP/1.1\r\nContent-Length: 16777217\r\n\r\n";
    expect_answer(c.port, "Content-Length 16777217", big_body, strlen(big_body), 0, "",
                  "HTTP/1.1 413");
    const char *chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    expect_answer(c.port, "Transfer-Encoding", chunked, strlen(chunked), 0, "", "HTTP/1.1 501");
    const char *bad = "GET / HTTP/2.0\r\n\r\n";
    expect_answer(c.port, "HTTP/2.0", bad, strlen(bad), 0, "", "HTTP/1.1 400");
    const char *ten_mib =
        "POST / HTTP/1.1\r\nContent-Length: 10485760\r\nConnection: close\r\n\r\n";
    expect_answer(c.port, "body of 10 MiB", ten_mib, strlen(ten_mib), 10 << 20, "z",
                  "HTTP/1.1 200");

    assert_true(stress_child_alive(&c, NULL));
    const char *get = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    expect_answer(c.port, "GET /", get, strlen(get), 0, "", "Hello, World!");
    stop(&c, "http-server");
    assert_true(ts_now_ns() < deadline);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "redis=", 6) == 0)
            g_redis = argv[i] + 6;
        else if (strncmp(argv[i], "http=", 5) == 0)
            g_http = argv[i] + 5;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_redis_server),
                                       cmocka_unit_test(test_http_server)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
