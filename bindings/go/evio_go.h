/*
 * Private glue between the Go binding and the C API (not part of evio.h).
 *
 * The Go side never hands Go pointers to C for keeps: evio_events.udata carries a
 * runtime/cgo.Handle (an integer) of the Go server, and a connection's context holds the
 * cgo.Handle of its Go object. The trampolines in evio_go.c are plain C: they pick what
 * each Go callback needs (the context, the addresses of a new connection) without extra
 * Go -> C calls, and apply what the Go side asks for (context, keepalive, references)
 * after it returns.
 */
#ifndef EVIO_GO_H
#define EVIO_GO_H

#include <stddef.h>
#include <stdint.h>

#include <evio.h>

/* Address families in evio_go_addr.family. */
enum {
    EVIO_GO_AF_NONE = 0,
    EVIO_GO_AF_INET = 1,
    EVIO_GO_AF_INET6 = 2,
    EVIO_GO_AF_UNIX = 3
};

/* A socket address decoded for Go. */
typedef struct evio_go_addr {
    int family;             /* EVIO_GO_AF_* */
    int port;               /* host byte order */
    uint32_t scope_id;      /* IPv6 zone */
    int path_len;           /* bytes used in path (unix) */
    unsigned char ip[16];   /* 4 bytes for IPv4, 16 for IPv6 */
    char path[108];         /* unix path, not NUL-terminated */
} evio_go_addr;

/* What Go learns about a connection it has not seen yet, and what it asks C to do. */
typedef struct evio_go_conn_info {
    int addr_index;         /* in: index of the listening address */
    int keepalive;          /* out: > 0 sets TCP keepalive, in seconds */
    uintptr_t ctx;          /* out: non-zero = store as context and take a reference */
    evio_go_addr local;     /* in */
    evio_go_addr remote;    /* in */
} evio_go_conn_info;

/* Output of a Data event up to this size is copied by Go into a buffer on the C stack
 * and written by C after Go returns: no Go -> C call from inside the callback. */
#define EVIO_GO_OUTBUF 4096

/* Which callbacks evio_go_serve registers (the Go side sets only what the user set). */
enum {
    EVIO_GO_SERVING = 1 << 0,        /* Go Serving */
    EVIO_GO_OPENED = 1 << 1,         /* Go Opened */
    EVIO_GO_OPENED_PLAIN = 1 << 2,   /* C only: prepare the connection, no Go call */
    EVIO_GO_CLOSED = 1 << 3,         /* Go Closed */
    EVIO_GO_CLOSED_CLEANUP = 1 << 4, /* Go call only for connections Go knows */
    EVIO_GO_DETACHED = 1 << 5,       /* Go Detached */
    EVIO_GO_PREWRITE = 1 << 6,       /* Go PreWrite */
    EVIO_GO_DATA = 1 << 7,           /* Go Data */
    EVIO_GO_TICK = 1 << 8,           /* Go Tick */
    EVIO_GO_DRAINED = 1 << 9,        /* Go Drained */
    EVIO_GO_INPUT_CLOSED = 1 << 10,  /* Go InputClosed (changes what the end of input does) */
    EVIO_GO_DIALED = 1 << 11         /* Go Dialed */
};

/* Which per-connection event evioGoConnEvent runs. */
enum {
    EVIO_GO_EV_DRAINED = 1,
    EVIO_GO_EV_INPUT_CLOSED = 2
};

/* The settings of a server: what evio_events gets besides the trampolines. */
typedef struct evio_go_settings {
    uintptr_t handle;       /* cgo.Handle of the Go server: evio_events.udata */
    unsigned flags;         /* EVIO_GO_*: which trampolines to register */
    int num_loops;
    int load_balance;
    size_t low_watermark;   /* 0: the library's default */
    size_t high_watermark;  /* 0: the library's default */
    size_t output_limit;    /* 0: none */
    int64_t idle_timeout_ns; /* 0: none */
} evio_go_settings;

/* Runs evio_serve with the trampolines selected by set->flags; on failure copies
 * evio_last_error() (of this thread) into errbuf. */
int evio_go_serve(const evio_go_settings *set, char **addrs, size_t naddrs, char *errbuf,
                  size_t errlen);

/* evio_server_start with the trampolines selected by set->flags; on failure copies
 * evio_last_error() into errbuf and leaves *server alone. */
int evio_go_start(const evio_go_settings *set, char **addrs, size_t naddrs,
                  evio_server **server, char *errbuf, size_t errlen);

/* evio_server_wait; on failure copies evio_last_error() into errbuf. */
int evio_go_wait(evio_server *server, char *errbuf, size_t errlen);

/* evio_conn_post of the Go function whose cgo.Handle is post, for the server whose handle
 * is server: it runs as evioGoPosted(conn, status, post, server). */
int evio_go_conn_post(evio_conn *c, uintptr_t post, uintptr_t server);

/* evio_timer_start of the Go timer whose cgo.Handle is timer, for the server whose handle
 * is server, on conn (NULL: a timer of the calling loop). It runs as
 * evioGoTimer(conn, status, timer) once: when it fires or ends. Returns the timer's id or
 * a negative code; *arg receives what the library holds for it, which
 * evio_go_timer_cancel frees. */
int64_t evio_go_timer_start(evio_conn *conn, int64_t delay_ns, uintptr_t timer,
                            uintptr_t server, void **arg);

/* evio_timer_cancel(id); when it cancelled (0), also frees arg, which the library will not
 * hand to evioGoTimer any more. */
int evio_go_timer_cancel(int64_t id, void *arg);

/* evio_dial (server 0: from the calling loop) or evio_server_dial(server, loop) of addr
 * with the given timeout; dial is the cgo.Handle of the Go dial, handed back once to
 * evioGoOpened (as its dial argument) or evioGoDialFailed when this returns 0. On failure
 * copies evio_last_error() into errbuf. */
int evio_go_dial(evio_server *server, int loop, const char *addr, int64_t timeout_ns,
                 uintptr_t dial, char *errbuf, size_t errlen);

/* The handle of the server whose callback is running on this thread (the innermost one,
 * for a server started inside another's callback), or 0 outside every callback. */
uintptr_t evio_go_current(void);

/* Decodes evio_server_addr(srv, index) into out; returns 0 or a negative code. */
int evio_go_server_addr(const evio_server *srv, int index, evio_go_addr *out);

#endif /* EVIO_GO_H */
