/*
 * floor-ping — the least C that answers redis-benchmark's PING_INLINE over epoll: every
 * '\n' received is answered with "+PONG\r\n" (PING_INLINE sends "PING\r\n" lines; the
 * contents are not even looked at). One thread, level-triggered, read interest only; one
 * read() and one write() per readable event. The "limit" of BENCH.md for PING.
 *
 *   floor-ping PORT      (listens on 127.0.0.1:PORT)
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define PONG "+PONG\r\n"

typedef struct {
    char *buf; /* unsent replies after a short write, else NULL */
    size_t off, len;
} pending;

static pending *pend; /* indexed by fd */

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
        perror("floor-ping: bind/listen");
        exit(1);
    }
    return fd;
}

static void drop(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(pend[fd].buf);
    pend[fd].buf = NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: floor-ping PORT\n");
        return 2;
    }
    static char in[65536];
    static char out[65536 * (sizeof PONG - 1)];
    for (size_t i = 0; i < 65536; i++) memcpy(out + i * (sizeof PONG - 1), PONG, sizeof PONG - 1);
    struct epoll_event evs[512], ev;
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an EPIPE, not the end of us */
    int lfd = listen_on(atoi(argv[1])), ep = epoll_create1(0), one = 1, npend = 1 << 20;
    pend = calloc((size_t)npend, sizeof *pend);
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    printf("floor-ping: serving on 127.0.0.1:%s\n", argv[1]);
    fflush(stdout);
    for (;;) {
        int n = epoll_wait(ep, evs, 512, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (c >= npend) { close(c); continue; }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    ev.events = EPOLLIN;
                    ev.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                }
                continue;
            }
            pending *p = &pend[fd];
            if (p->buf) {
                ssize_t w = write(fd, p->buf + p->off, p->len - p->off);
                if (w < 0 && errno != EAGAIN) { drop(ep, fd); continue; }
                if (w > 0) p->off += (size_t)w;
                if (p->off == p->len) {
                    free(p->buf);
                    p->buf = NULL;
                    ev.events = EPOLLIN;
                    ev.data.fd = fd;
                    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
                }
                continue;
            }
            ssize_t r = read(fd, in, sizeof in);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                drop(ep, fd);
                continue;
            }
            size_t lines = 0;
            for (char *q = in, *e = in + r; (q = memchr(q, '\n', (size_t)(e - q))) != NULL; q++) lines++;
            if (lines == 0) continue;
            size_t len = lines * (sizeof PONG - 1);
            ssize_t w = write(fd, out, len);
            if (w < 0 && errno != EAGAIN) { drop(ep, fd); continue; }
            if (w < 0) w = 0;
            if ((size_t)w < len) {
                p->len = len - (size_t)w;
                p->off = 0;
                p->buf = malloc(p->len);
                memcpy(p->buf, out + w, p->len);
                ev.events = EPOLLOUT;
                ev.data.fd = fd;
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
            }
        }
    }
}
