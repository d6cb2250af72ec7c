/*
 * floor-http — the least C that answers HTTP/1.1 GET requests over epoll: each "\r\n\r\n"
 * (end of a request head) received is answered with the same fixed response the
 * http-server example sends (same headers, same Date format, body "Hello, World!"), all
 * answers of one read in one write. One thread, level-triggered, read interest only.
 * Request bodies are not supported (wrk sends none). The "limit" of BENCH.md for HTTP.
 *
 *   floor-http PORT      (listens on 127.0.0.1:PORT)
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
#include <time.h>
#include <unistd.h>

typedef struct {
    char *buf; /* unsent answers after a short write, else NULL */
    size_t off, len;
    int match; /* how much of "\r\n\r\n" the previous read ended with */
} conn;

static conn *conns; /* indexed by fd */

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
        perror("floor-http: bind/listen");
        exit(1);
    }
    return fd;
}

static void drop(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(conns[fd].buf);
    memset(&conns[fd], 0, sizeof conns[fd]);
}

static char resp[256];
static size_t resp_len;
static time_t resp_when = -1;

static void make_response(void) {
    time_t now = time(NULL);
    if (now == resp_when) return;
    struct tm tm;
    char date[64];
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    resp_len = (size_t)snprintf(resp, sizeof resp,
                                "HTTP/1.1 200 OK\r\nServer: evio\r\nDate: %s\r\n"
                                "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
                                "Hello, World!",
                                date);
    resp_when = now;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: floor-http PORT\n");
        return 2;
    }
    static char in[65536];
    static char out[65536 / 4 * 256];
    struct epoll_event evs[512], ev;
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an EPIPE, not the end of us */
    int lfd = listen_on(atoi(argv[1])), ep = epoll_create1(0), one = 1, nconns = 1 << 20;
    conns = calloc((size_t)nconns, sizeof *conns);
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    printf("floor-http: serving on 127.0.0.1:%s\n", argv[1]);
    fflush(stdout);
    for (;;) {
        int n = epoll_wait(ep, evs, 512, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (c >= nconns) { close(c); continue; }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    ev.events = EPOLLIN;
                    ev.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                }
                continue;
            }
            conn *p = &conns[fd];
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
            size_t reqs = 0;
            int m = p->match;
            for (ssize_t k = 0; k < r; k++) { /* count "\r\n\r\n" across reads */
                char c = in[k];
                if (c == ((m & 1) ? '\n' : '\r')) m++;
                else m = c == '\r' ? 1 : 0;
                if (m == 4) {
                    reqs++;
                    m = 0;
                }
            }
            p->match = m;
            if (reqs == 0) continue;
            make_response();
            size_t len = 0;
            for (size_t k = 0; k < reqs; k++, len += resp_len) memcpy(out + len, resp, resp_len);
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
