/*
 * echo-client — sends random messages of random sizes to an echo server and checks that
 * every byte comes back, in order.
 *
 *   echo-client [ADDRESS] [--count N] [--max-size BYTES] [--conns C] [--seed S]
 *
 * ADDRESS: host:port, tcp://host:port, [::1]:port or unix:///path (default
 * 127.0.0.1:5000). Each of the C connections sends N messages one after the other; each
 * message has a random size from 1 to BYTES (default 65536) and random contents, and is
 * read back while it is being written, so messages larger than the socket buffers work.
 * Prints a summary; the exit status is 0 only if every byte came back unchanged.
 *
 * Plain POSIX (poll), no evio needed: it is the other end of the echo-server example.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The byte at position `pos` of a connection's stream: random, but computable anywhere,
 * so neither side has to keep what it sent. */
static unsigned char stream_byte(uint64_t seed, uint64_t pos) {
    uint64_t x = seed ^ ((pos >> 3) * 0x9E3779B97F4A7C15ULL);
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return (unsigned char)(x >> ((pos & 7) * 8));
}

static uint64_t rng_next(uint64_t *s) { /* xorshift64* for message sizes */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static int dial(const char *addr) {
    const char *a = addr;
    if (!strncmp(a, "unix://", 7)) {
        struct sockaddr_un sun;
        memset(&sun, 0, sizeof sun);
        sun.sun_family = AF_UNIX;
        if (strlen(a + 7) >= sizeof sun.sun_path) return -1;
        strcpy(sun.sun_path, a + 7);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0) return -1;
        if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
            close(fd);
            return -1;
        }
        return fd;
    }
    const char *sep = strstr(a, "://");
    if (sep) a = sep + 3;
    char host[256];
    const char *port;
    if (a[0] == '[') { /* [v6]:port */
        const char *rb = strchr(a, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - a - 1) >= sizeof host) return -1;
        memcpy(host, a + 1, (size_t)(rb - a - 1));
        host[rb - a - 1] = 0;
        port = rb + 2;
    } else {
        const char *colon = strrchr(a, ':');
        if (!colon || (size_t)(colon - a) >= sizeof host) return -1;
        memcpy(host, a, (size_t)(colon - a));
        host[colon - a] = 0;
        port = colon + 1;
    }
    if (!host[0]) strcpy(host, "127.0.0.1");
    struct addrinfo hints, *res, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    int fd = -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

typedef struct {
    int fd;
    uint64_t seed;
    uint64_t sent, recvd; /* stream positions */
    uint64_t msg_end;     /* stream position where the current message ends */
    long msgs_left;
    int done;
} client;

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1:5000";
    long count = 1000, conns = 1;
    size_t max_size = 65536;
    uint64_t seed = (uint64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--count") && i + 1 < argc) count = atol(argv[++i]);
        else if (!strcmp(argv[i], "--max-size") && i + 1 < argc) max_size = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--conns") && i + 1 < argc) conns = atol(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: echo-client [ADDRESS] [--count N] [--max-size BYTES] "
                            "[--conns C] [--seed S]\n");
            return argv[i][1] == 'h' || !strcmp(argv[i], "--help") ? 0 : 2;
        } else addr = argv[i];
    }
    if (count < 1 || conns < 1 || conns > 1000 || max_size < 1) {
        fprintf(stderr, "echo-client: bad arguments\n");
        return 2;
    }

    client *cs = calloc((size_t)conns, sizeof *cs);
    struct pollfd *pfd = calloc((size_t)conns, sizeof *pfd);
    unsigned char *buf = malloc(65536);
    if (!cs || !pfd || !buf) return 1;
    uint64_t rng = seed | 1;
    for (long c = 0; c < conns; c++) {
        cs[c].fd = dial(addr);
        if (cs[c].fd < 0) {
            fprintf(stderr, "echo-client: cannot connect to %s: %s\n", addr, strerror(errno));
            return 1;
        }
        cs[c].seed = rng_next(&rng);
        cs[c].msgs_left = count;
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t total = 0, mismatches = 0, msgs = 0;
    long active = conns;
    const char *failure = NULL;
    while (active > 0 && !failure) {
        for (long c = 0; c < conns; c++) {
            client *k = &cs[c];
            pfd[c].fd = k->done ? -1 : k->fd;
            if (!k->done && k->recvd == k->msg_end) { /* start the next message */
                k->msg_end += 1 + rng_next(&rng) % max_size;
                k->msgs_left--;
            }
            pfd[c].events = POLLIN | (k->sent < k->msg_end ? POLLOUT : 0);
        }
        if (poll(pfd, (nfds_t)conns, 10000) <= 0) {
            failure = "timed out waiting for the server (10 s)";
            break;
        }
        for (long c = 0; c < conns && !failure; c++) {
            client *k = &cs[c];
            if (k->done) continue;
            if (pfd[c].revents & POLLOUT) {
                size_t n = k->msg_end - k->sent;
                if (n > 65536) n = 65536;
                for (size_t i = 0; i < n; i++) buf[i] = stream_byte(k->seed, k->sent + i);
                ssize_t w = send(k->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w > 0) k->sent += (uint64_t)w;
                else if (w < 0 && errno != EAGAIN && errno != EINTR) failure = strerror(errno);
            }
            if (pfd[c].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = recv(k->fd, buf, 65536, MSG_DONTWAIT);
                if (r == 0) failure = "the server closed the connection";
                else if (r < 0 && errno != EAGAIN && errno != EINTR) failure = strerror(errno);
                for (ssize_t i = 0; i < r; i++)
                    if (buf[i] != stream_byte(k->seed, k->recvd + (uint64_t)i)) mismatches++;
                if (r > 0) {
                    k->recvd += (uint64_t)r;
                    total += (uint64_t)r;
                    if (k->recvd > k->sent) failure = "received more bytes than were sent";
                }
                if (k->recvd == k->msg_end) {
                    msgs++;
                    if (k->msgs_left == 0) {
                        k->done = 1;
                        active--;
                    }
                }
            }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    uint64_t sent = 0;
    for (long c = 0; c < conns; c++) {
        sent += cs[c].sent;
        close(cs[c].fd);
    }
    printf("echo-client: %llu messages on %ld connection(s): %.2f MiB sent, %.2f MiB echoed, "
           "%llu mismatched bytes, %llu lost bytes, %.2f s, %.1f MiB/s\n",
           (unsigned long long)msgs, conns, (double)sent / 1048576.0, (double)total / 1048576.0,
           (unsigned long long)mismatches, (unsigned long long)(sent - total), secs,
           secs > 0 ? (double)total / 1048576.0 / secs : 0.0);
    if (failure) fprintf(stderr, "echo-client: %s\n", failure);
    int ok = !failure && mismatches == 0 && sent == total;
    printf("echo-client: %s\n", ok ? "OK" : "FAILED");
    free(buf);
    free(pfd);
    free(cs);
    return ok ? 0 : 1;
}
