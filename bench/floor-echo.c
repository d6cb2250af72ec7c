/*
 * floor-echo — the least C that serves echo over epoll: the "limit" the benchmarks
 * compare against (see BENCH.md). One thread, level-triggered, read interest only; on
 * readable: one read() into a shared 64 KiB buffer and one write() of it back at once.
 * Only a short write (EAGAIN) costs more: the rest is kept, EPOLLOUT is armed and the fd
 * is not read until it drains — so it stays correct for the byte-verifying client.
 *
 *   floor-echo PORT      (listens on 127.0.0.1:PORT)
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

typedef struct {
    char *buf; /* unsent bytes after a short write, else NULL */
    size_t off, len;
} pending;

static pending *pend; /* indexed by fd */
static int npend;

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
        perror("floor-echo: bind/listen");
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
        fprintf(stderr, "usage: floor-echo PORT\n");
        return 2;
    }
    static char buf[65536];
    struct epoll_event evs[512], ev;
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an EPIPE, not the end of us */
    int lfd = listen_on(atoi(argv[1])), ep = epoll_create1(0), one = 1;
    npend = 1 << 20;
    pend = calloc((size_t)npend, sizeof *pend);
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    printf("floor-echo: serving on 127.0.0.1:%s\n", argv[1]);
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
            if (p->buf) { /* EPOLLOUT after a short write: flush the rest */
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
            ssize_t r = read(fd, buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                drop(ep, fd);
                continue;
            }
            ssize_t w = write(fd, buf, (size_t)r);
            if (w < 0 && errno != EAGAIN) { drop(ep, fd); continue; }
            if (w < 0) w = 0;
            if (w < r) { /* short write: keep the rest, wait for EPOLLOUT, stop reading */
                p->len = (size_t)(r - w);
                p->off = 0;
                p->buf = malloc(p->len);
                memcpy(p->buf, buf + w, p->len);
                ev.events = EPOLLOUT;
                ev.data.fd = fd;
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
            }
        }
    }
}
