/* C half of the Go binding: trampolines from evio's callbacks into the exported Go
 * functions (see evio_go.h and bridge.go). */
#include "evio_go.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "_cgo_export.h"

/* The server whose callback runs on this thread (see evio_go_current). Each trampoline
 * that calls Go sets it and puts the previous value back, so that a server started inside
 * another's callback is seen while its own callbacks run. */
static _Thread_local uintptr_t current;

static uintptr_t enter(void *udata) {
    uintptr_t saved = current;
    current = (uintptr_t)udata;
    return saved;
}

static void leave(uintptr_t saved) {
    current = saved;
}

uintptr_t evio_go_current(void) {
    return current;
}

static void decode_addr(const struct sockaddr *sa, socklen_t len, evio_go_addr *out) {
    memset(out, 0, sizeof *out);
    if (sa == NULL) {
        return;
    }
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
        out->family = EVIO_GO_AF_INET;
        out->port = ntohs(in4->sin_port);
        memcpy(out->ip, &in4->sin_addr, 4);
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        out->family = EVIO_GO_AF_INET6;
        out->port = ntohs(in6->sin6_port);
        out->scope_id = in6->sin6_scope_id;
        memcpy(out->ip, &in6->sin6_addr, 16);
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t n = len > off ? (size_t)len - off : 0;
        if (n > sizeof un->sun_path) {
            n = sizeof un->sun_path;
        }
        if (n > sizeof out->path) {
            n = sizeof out->path;
        }
        /* A named path ends at its NUL; an abstract name (leading NUL) keeps its length. */
        if (n > 0 && un->sun_path[0] != '\0') {
            n = strnlen(un->sun_path, n);
        }
        out->family = EVIO_GO_AF_UNIX;
        out->path_len = (int)n;
        memcpy(out->path, un->sun_path, n);
        break;
    }
    default:
        break;
    }
}

static void fill_info(evio_conn *c, evio_go_conn_info *info) {
    socklen_t len = 0;
    info->addr_index = evio_conn_addr_index(c);
    info->keepalive = 0;
    info->ctx = 0;
    const struct sockaddr *sa = evio_conn_local_addr(c, &len);
    decode_addr(sa, len, &info->local);
    len = 0;
    sa = evio_conn_remote_addr(c, &len);
    decode_addr(sa, len, &info->remote);
}

/* Stores the Go object's handle with a connection Go has just met, and keeps the
 * connection's memory alive for Conn.Wake until Go lets go of it (closed/detached). */
static void adopt(evio_conn *c, const evio_go_conn_info *info) {
    if (info->ctx != 0) {
        evio_conn_set_context(c, (void *)info->ctx);
        evio_conn_ref(c);
    }
}

static evio_action tr_serving(evio_server *srv, void *udata) {
    uintptr_t saved = enter(udata);
    evio_action action = evioGoServing(srv, (uintptr_t)udata);
    leave(saved);
    return action;
}

/* For a dialed connection (address index -1), the Go dial's handle, which the library
 * put in its context: taken out, before the context is read as a connection's handle. */
static uintptr_t take_dial(evio_conn *c) {
    if (evio_conn_addr_index(c) != -1) {
        return 0;
    }
    uintptr_t dial = (uintptr_t)evio_conn_context(c);
    evio_conn_set_context(c, NULL);
    return dial;
}

static evio_action tr_opened(evio_conn *c, void *udata) {
    evio_go_conn_info info;
    fill_info(c, &info);
    uintptr_t dial = take_dial(c);
    /* Go always copies input into Go memory unless the user reuses the buffer, so the
     * library's own copy would be wasted: read straight from the loop's buffer. */
    evio_conn_set_reuse_input(c, 1);
    uintptr_t saved = enter(udata);
    evio_action action = evioGoOpened(c, &info, dial, (uintptr_t)udata);
    leave(saved);
    adopt(c, &info);
    if (info.keepalive > 0) {
        evio_conn_set_keepalive(c, info.keepalive);
    }
    return action;
}

static evio_action tr_opened_plain(evio_conn *c, void *udata) {
    uintptr_t dial = take_dial(c);
    evio_conn_set_reuse_input(c, 1);
    if (dial == 0) {
        return EVIO_NONE;
    }
    /* No Go Opened or Dialed event: Go only lets go of the dial's value. */
    uintptr_t saved = enter(udata);
    evio_action action = evioGoDialDone(dial, (uintptr_t)udata);
    leave(saved);
    return action;
}

static evio_action tr_dial_failed(void *ctx, int err, void *udata) {
    uintptr_t saved = enter(udata);
    evio_action action = evioGoDialFailed((uintptr_t)ctx, err, (uintptr_t)udata);
    leave(saved);
    return action;
}

int evio_go_dial(evio_server *server, int loop, const char *addr, int64_t timeout_ns,
                 uintptr_t dial, char *errbuf, size_t errlen) {
    evio_dial_options opts = EVIO_DIAL_OPTIONS_INIT;
    opts.timeout_ns = timeout_ns;
    int rc = server == NULL ? evio_dial(addr, &opts, (void *)dial)
                            : evio_server_dial(server, loop, addr, &opts, (void *)dial);
    if (rc < 0 && errbuf != NULL && errlen > 0) {
        snprintf(errbuf, errlen, "%s", evio_last_error());
    }
    return rc;
}

static evio_action tr_data(evio_conn *c, const void *in, size_t len, void *udata) {
    unsigned char out[EVIO_GO_OUTBUF];
    size_t out_len = 0;
    evio_action action;
    uintptr_t saved = enter(udata);
    uintptr_t ctx = (uintptr_t)evio_conn_context(c);
    if (ctx != 0) {
        action = evioGoData(c, ctx, (void *)in, len, NULL, out, &out_len, (uintptr_t)udata);
    } else {
        evio_go_conn_info info;
        fill_info(c, &info);
        action = evioGoData(c, 0, (void *)in, len, &info, out, &out_len, (uintptr_t)udata);
        adopt(c, &info);
    }
    leave(saved);
    if (out_len > 0) {
        evio_conn_write(c, out, out_len);
    }
    return action;
}

static evio_action closed_common(evio_conn *c, int err, void *udata, int always) {
    uintptr_t ctx = (uintptr_t)evio_conn_context(c);
    if (ctx == 0 && !always) {
        return EVIO_NONE;
    }
    evio_go_conn_info info;
    evio_go_conn_info *pinfo = NULL;
    if (ctx == 0) {
        fill_info(c, &info);
        pinfo = &info;
    }
    uintptr_t saved = enter(udata);
    evio_action action = evioGoClosed(c, ctx, err, pinfo, (uintptr_t)udata);
    leave(saved);
    if (ctx != 0) {
        evio_conn_unref(c);
    }
    return action;
}

static evio_action tr_closed(evio_conn *c, int err, void *udata) {
    return closed_common(c, err, udata, 1);
}

static evio_action tr_closed_cleanup(evio_conn *c, int err, void *udata) {
    return closed_common(c, err, udata, 0);
}

static evio_action tr_detached(evio_conn *c, int fd, void *udata) {
    uintptr_t ctx = (uintptr_t)evio_conn_context(c);
    evio_go_conn_info info;
    evio_go_conn_info *pinfo = NULL;
    if (ctx == 0) {
        fill_info(c, &info);
        pinfo = &info;
    }
    uintptr_t saved = enter(udata);
    evio_action action = evioGoDetached(c, ctx, fd, pinfo, (uintptr_t)udata);
    leave(saved);
    if (ctx != 0) {
        evio_conn_unref(c);
    }
    return action;
}

static void tr_prewrite(evio_conn *c, void *udata) {
    uintptr_t saved = enter(udata);
    evioGoPreWrite(c, (uintptr_t)udata);
    leave(saved);
}

static evio_action tr_tick(int64_t *delay_ns, void *udata) {
    uintptr_t saved = enter(udata);
    evio_action action = evioGoTick(delay_ns, (uintptr_t)udata);
    leave(saved);
    return action;
}

/* Drained and InputClosed: like tr_data without input. */
static evio_action conn_event(int kind, evio_conn *c, void *udata) {
    unsigned char out[EVIO_GO_OUTBUF];
    size_t out_len = 0;
    evio_action action;
    uintptr_t saved = enter(udata);
    uintptr_t ctx = (uintptr_t)evio_conn_context(c);
    if (ctx != 0) {
        action = evioGoConnEvent(kind, c, ctx, NULL, out, &out_len, (uintptr_t)udata);
    } else {
        evio_go_conn_info info;
        fill_info(c, &info);
        action = evioGoConnEvent(kind, c, 0, &info, out, &out_len, (uintptr_t)udata);
        adopt(c, &info);
    }
    leave(saved);
    if (out_len > 0) {
        evio_conn_write(c, out, out_len);
    }
    return action;
}

static evio_action tr_drained(evio_conn *c, void *udata) {
    return conn_event(EVIO_GO_EV_DRAINED, c, udata);
}

static evio_action tr_input_closed(evio_conn *c, void *udata) {
    return conn_event(EVIO_GO_EV_INPUT_CLOSED, c, udata);
}

/* What evio_go_conn_post hands the library as arg: two handles. */
typedef struct evio_go_posted {
    uintptr_t post;
    uintptr_t server;
} evio_go_posted;

static void tr_posted(evio_conn *c, int status, void *arg) {
    evio_go_posted p = *(evio_go_posted *)arg;
    free(arg);
    uintptr_t saved = enter((void *)p.server);
    evioGoPosted(c, status, p.post);
    leave(saved);
}

int evio_go_conn_post(evio_conn *c, uintptr_t post, uintptr_t server) {
    evio_go_posted *p = malloc(sizeof *p);
    if (p == NULL) {
        return EVIO_ENOMEM;
    }
    p->post = post;
    p->server = server;
    int rc = evio_conn_post(c, tr_posted, p);
    if (rc < 0) {
        free(p); /* the library never runs tr_posted then */
    }
    return rc;
}

/* What evio_go_timer_start hands the library as arg: two handles. */
typedef struct evio_go_timer {
    uintptr_t timer;
    uintptr_t server;
} evio_go_timer;

static evio_action tr_timer(evio_conn *c, int status, void *arg) {
    evio_go_timer t = *(evio_go_timer *)arg;
    free(arg);
    uintptr_t saved = enter((void *)t.server);
    evio_action action = evioGoTimer(c, status, t.timer);
    leave(saved);
    return action;
}

int64_t evio_go_timer_start(evio_conn *conn, int64_t delay_ns, uintptr_t timer, uintptr_t server,
                            void **arg) {
    evio_go_timer *t = malloc(sizeof *t);
    if (t == NULL) {
        return EVIO_ENOMEM;
    }
    t->timer = timer;
    t->server = server;
    int64_t id = evio_timer_start(conn, delay_ns, tr_timer, t);
    if (id < 0) {
        free(t); /* the library never runs tr_timer then */
        return id;
    }
    *arg = t;
    return id;
}

int evio_go_timer_cancel(int64_t id, void *arg) {
    int rc = evio_timer_cancel(id);
    if (rc == 0) {
        free(arg); /* cancelled: tr_timer never runs for it */
    }
    return rc;
}

static void make_events(const evio_go_settings *set, evio_events *ev) {
    unsigned flags = set->flags;
    ev->udata = (void *)set->handle;
    ev->num_loops = set->num_loops;
    ev->load_balance = (evio_load_balance)set->load_balance;
    ev->low_watermark = set->low_watermark;
    ev->high_watermark = set->high_watermark;
    ev->output_limit = set->output_limit;
    ev->idle_timeout_ns = set->idle_timeout_ns;
    if (flags & EVIO_GO_SERVING) {
        ev->serving = tr_serving;
    }
    /* A dialed connection always needs an opened trampoline: it takes the dial's handle
     * out of the context. dial_failed hands it back to Go on failure. */
    if (flags & (EVIO_GO_OPENED | EVIO_GO_DIALED)) {
        ev->opened = tr_opened;
    } else {
        ev->opened = tr_opened_plain;
    }
    ev->dial_failed = tr_dial_failed;
    if (flags & EVIO_GO_CLOSED) {
        ev->closed = tr_closed;
    } else if (flags & EVIO_GO_CLOSED_CLEANUP) {
        ev->closed = tr_closed_cleanup;
    }
    if (flags & EVIO_GO_DETACHED) {
        ev->detached = tr_detached;
    }
    if (flags & EVIO_GO_PREWRITE) {
        ev->prewrite = tr_prewrite;
    }
    if (flags & EVIO_GO_DATA) {
        ev->data = tr_data;
    }
    if (flags & EVIO_GO_TICK) {
        ev->tick = tr_tick;
    }
    if (flags & EVIO_GO_DRAINED) {
        ev->drained = tr_drained;
    }
    if (flags & EVIO_GO_INPUT_CLOSED) {
        ev->input_closed = tr_input_closed;
    }
}

static void copy_error(int rc, char *errbuf, size_t errlen) {
    if (rc < 0 && errbuf != NULL && errlen > 0) {
        snprintf(errbuf, errlen, "%s", evio_last_error());
    }
}

int evio_go_serve(const evio_go_settings *set, char **addrs, size_t naddrs, char *errbuf,
                  size_t errlen) {
    evio_events ev = EVIO_EVENTS_INIT;
    make_events(set, &ev);
    int rc = evio_serve(&ev, (const char *const *)addrs, naddrs);
    copy_error(rc, errbuf, errlen);
    return rc;
}

int evio_go_start(const evio_go_settings *set, char **addrs, size_t naddrs,
                  evio_server **server, char *errbuf, size_t errlen) {
    evio_events ev = EVIO_EVENTS_INIT;
    make_events(set, &ev);
    int rc = evio_server_start(&ev, (const char *const *)addrs, naddrs, server);
    copy_error(rc, errbuf, errlen);
    return rc;
}

int evio_go_wait(evio_server *server, char *errbuf, size_t errlen) {
    int rc = evio_server_wait(server);
    copy_error(rc, errbuf, errlen);
    return rc;
}

int evio_go_server_addr(const evio_server *srv, int index, evio_go_addr *out) {
    socklen_t len = 0;
    const struct sockaddr *sa = evio_server_addr(srv, index, &len);
    if (sa == NULL) {
        memset(out, 0, sizeof *out);
        return EVIO_EINVAL;
    }
    decode_addr(sa, len, out);
    return 0;
}
