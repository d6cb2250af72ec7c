/*
 * uv-echo — a plain libuv echo server, written the usual way (uv_read_start with a
 * malloc'd buffer per read, one uv_write per read, freed in the write callback). The
 * "libuv" contender of BENCH.md.
 *
 *   uv-echo PORT      (listens on 127.0.0.1:PORT)
 *
 * SPDX-License-Identifier: MIT
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

typedef struct {
    uv_write_t req;
    uv_buf_t buf;
} write_req;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void on_close(uv_handle_t *h) { free(h); }

static void on_write(uv_write_t *req, int status) {
    write_req *wr = (write_req *)req;
    if (status < 0 && !uv_is_closing((uv_handle_t *)req->handle))
        uv_close((uv_handle_t *)req->handle, on_close);
    free(wr->buf.base);
    free(wr);
}

static void on_read(uv_stream_t *client, ssize_t nread, const uv_buf_t *buf) {
    if (nread > 0) {
        write_req *wr = malloc(sizeof *wr);
        wr->buf = uv_buf_init(buf->base, (unsigned int)nread);
        if (uv_write(&wr->req, client, &wr->buf, 1, on_write) == 0) return;
        free(wr);
    }
    free(buf->base);
    if (nread < 0 && !uv_is_closing((uv_handle_t *)client)) uv_close((uv_handle_t *)client, on_close);
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0) return;
    uv_tcp_t *client = malloc(sizeof *client);
    uv_tcp_init(server->loop, client);
    if (uv_accept(server, (uv_stream_t *)client) == 0) {
        uv_tcp_nodelay(client, 1);
        uv_read_start((uv_stream_t *)client, on_alloc, on_read);
    } else {
        uv_close((uv_handle_t *)client, on_close);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: uv-echo PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* as every libuv server does */
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in addr;
    uv_tcp_init(loop, &server);
    uv_ip4_addr("127.0.0.1", atoi(argv[1]), &addr);
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&server, 4096, on_connection);
    if (rc) {
        fprintf(stderr, "uv-echo: %s\n", uv_strerror(rc));
        return 1;
    }
    printf("uv-echo: serving on 127.0.0.1:%s (libuv %s)\n", argv[1], uv_version_string());
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
