// The C boundary of a connection: output, wakes, references, context, addresses, sends
// and posts from any thread. Check, cast, call one core method: no logic here.
#include <memory>

#include <evio.h>

#include "api/checks.hpp"
#include "core/address.hpp"
#include "core/input_stream.hpp"

using evio::Conn;
using evio::fail;
using namespace evio::api;

extern "C" {

EVIO_EXPORT int evio_conn_write(evio_conn *conn, const void *buf, size_t len) {
    if (int rc = check_owner(conn, "evio_conn_write"))
        return rc;
    if (buf == nullptr && len > 0)
        return fail(EVIO_EINVAL, "evio_conn_write: buf is NULL");
    return guarded([&] {
        Conn *c = evio::from_handle(conn);
        return c->loop->write(c, buf, len);
    });
}

EVIO_EXPORT int evio_conn_wake(evio_conn *conn) {
    if (int rc = check_conn(conn, "evio_conn_wake"))
        return rc;
    Conn *c = evio::from_handle(conn);
    if (c->transport == evio::Transport::Udp)
        return fail(EVIO_ENOTSUP, "evio_conn_wake: not for UDP");
    return guarded([&] { return c->user_wake(); });
}

EVIO_EXPORT void evio_conn_ref(evio_conn *conn) {
    if (check_conn(conn, "evio_conn_ref") == 0 &&
        evio::from_handle(conn)->transport != evio::Transport::Udp)
        evio::from_handle(conn)->ref();
}

EVIO_EXPORT void evio_conn_unref(evio_conn *conn) {
    if (check_conn(conn, "evio_conn_unref") == 0 &&
        evio::from_handle(conn)->transport != evio::Transport::Udp)
        evio::from_handle(conn)->unref();
}

EVIO_EXPORT void *evio_conn_context(const evio_conn *conn) {
    return check_inspect(conn, "evio_conn_context") == 0 ? evio::from_handle(conn)->context
                                                         : nullptr;
}

EVIO_EXPORT void evio_conn_set_context(evio_conn *conn, void *ctx) {
    if (check_inspect(conn, "evio_conn_set_context") == 0)
        evio::from_handle(conn)->context = ctx;
}

EVIO_EXPORT int evio_conn_addr_index(const evio_conn *conn) {
    if (int rc = check_conn(conn, "evio_conn_addr_index"))
        return rc;
    return evio::from_handle(conn)->addr_index;
}

EVIO_EXPORT const struct sockaddr *evio_conn_local_addr(evio_conn *conn, socklen_t *len) {
    if (check_inspect(conn, "evio_conn_local_addr"))
        return nullptr;
    try {
        return evio::from_handle(conn)->local_addr(len);
    } catch (...) { // out of memory for a named unix address
        fail(EVIO_ENOMEM, "evio_conn_local_addr: out of memory");
        return nullptr;
    }
}

EVIO_EXPORT const struct sockaddr *evio_conn_remote_addr(evio_conn *conn, socklen_t *len) {
    if (check_inspect(conn, "evio_conn_remote_addr"))
        return nullptr;
    Conn *c = evio::from_handle(conn);
    if (len)
        *len = c->remote.len();
    return c->remote.get();
}

EVIO_EXPORT int evio_addr_string(const struct sockaddr *addr, socklen_t len, char *buf,
                                 size_t buflen) {
    int n = evio::format_address(addr, len, buf, buflen);
    if (n < 0)
        return fail(n, "evio_addr_string: NULL or unsupported address");
    return n;
}

EVIO_EXPORT int evio_conn_set_keepalive(evio_conn *conn, int seconds) {
    if (int rc = check_owner(conn, "evio_conn_set_keepalive"))
        return rc;
    return evio::from_handle(conn)->set_keepalive(seconds);
}

EVIO_EXPORT int evio_conn_set_reuse_input(evio_conn *conn, int on) {
    if (int rc = check_owner(conn, "evio_conn_set_reuse_input"))
        return rc;
    Conn *c = evio::from_handle(conn);
    if (c->transport == evio::Transport::Udp)
        return 0;             // always the shared buffer
    c->reuse_input = on != 0; // the copy buffer is released at the next read, not here:
    return 0;                 // the `in` of a running `data` may point into it
}

EVIO_EXPORT int evio_conn_send(evio_conn *conn, const void *buf, size_t len) {
    if (int rc = check_conn(conn, "evio_conn_send"))
        return rc;
    if (buf == nullptr && len > 0)
        return fail(EVIO_EINVAL, "evio_conn_send: buf is NULL");
    Conn *c = evio::from_handle(conn);
    if (c->transport == evio::Transport::Udp)
        return fail(EVIO_ENOTSUP, "evio_conn_send: not for UDP");
    return guarded([&] { return c->send_from_any_thread(buf, len); });
}

EVIO_EXPORT int evio_conn_post(evio_conn *conn, evio_conn_fn fn, void *arg) {
    if (int rc = check_conn(conn, "evio_conn_post"))
        return rc;
    if (fn == nullptr)
        return fail(EVIO_EINVAL, "evio_conn_post: fn is NULL");
    Conn *c = evio::from_handle(conn);
    if (c->transport == evio::Transport::Udp)
        return fail(EVIO_ENOTSUP, "evio_conn_post: not for UDP");
    return guarded([&] { return c->post(fn, arg); });
}

} // extern "C"
