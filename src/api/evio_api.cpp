// The C API: validate, cast the opaque handle, call one core method, map errors. No
// logic and no system call here, and nothing C++ (exceptions included) crosses this
// boundary.
#include <memory>
#include <new>
#include <string>

#include <evio.h>

#include "core/address.hpp"
#include "core/conn.hpp"
#include "core/error.hpp"
#include "core/input_stream.hpp"
#include "core/loop.hpp"
#include "core/server.hpp"

using evio::Conn;
using evio::fail;

namespace {

/// Records "fn: why" and returns `code`; never throws (out of memory keeps the code only).
int refuse(int code, const char *fn, const char *why) noexcept {
    try {
        return fail(code, std::string(fn) + ": " + why);
    } catch (...) {
        return code;
    }
}

/// Checks a handle the caller passed: not NULL, not freed, not foreign.
int check_conn(const evio_conn *h, const char *fn) noexcept {
    const Conn *c = evio::from_handle(h);
    if (c == nullptr)
        return refuse(EVIO_EINVAL, fn, "conn is NULL");
    if (c->magic != Conn::kMagic)
        return refuse(EVIO_EINVAL, fn, "not a live evio_conn");
    return 0;
}

/// Checks a handle for a loop-thread-only call on an open connection.
int check_owner(const evio_conn *h, const char *fn) noexcept {
    if (int rc = check_conn(h, fn))
        return rc;
    const Conn *c = evio::from_handle(h);
    if (c->closed.load(std::memory_order_acquire))
        return refuse(EVIO_ENOTCONN, fn, "connection is closed");
    if (evio::Loop::on_this_thread() != c->loop)
        return refuse(EVIO_EPERM, fn, "not on the connection's loop thread");
    return 0;
}

/// Checks a handle for a loop-thread-only call on an open stream connection (not UDP).
int check_stream_owner(const evio_conn *h, const char *fn) noexcept {
    if (int rc = check_owner(h, fn))
        return rc;
    if (evio::from_handle(h)->transport == evio::Transport::Udp)
        return refuse(EVIO_ENOTSUP, fn, "not for UDP");
    return 0;
}

/// Checks a handle for a loop-thread-only accessor: on the owner loop's thread, or (for a
/// closed connection, which nothing changes any more) any thread holding a reference.
int check_inspect(const evio_conn *h, const char *fn) noexcept {
    if (int rc = check_conn(h, fn))
        return rc;
    if (!evio::from_handle(h)->may_inspect())
        return refuse(EVIO_EPERM, fn, "not on the connection's loop thread");
    return 0;
}

/// A server handle the caller passed: not NULL, not freed, not foreign.
evio::Server *as_server(evio_server *h) noexcept {
    auto *s = reinterpret_cast<evio::Server *>(h);
    return s != nullptr && s->magic == evio::Server::kMagic ? s : nullptr;
}
const evio::Server *as_server(const evio_server *h) noexcept {
    return as_server(const_cast<evio_server *>(h));
}

template <class F> int64_t guarded64(F &&f) noexcept {
    try {
        return f();
    } catch (const std::bad_alloc &) {
        return fail(EVIO_ENOMEM, "out of memory");
    } catch (...) {
        return fail(EVIO_EIO, "internal error");
    }
}

template <class F> int guarded(F &&f) noexcept {
    try {
        return f();
    } catch (const std::bad_alloc &) {
        return fail(EVIO_ENOMEM, "out of memory");
    } catch (...) {
        return fail(EVIO_EIO, "internal error");
    }
}

} // namespace

extern "C" {

EVIO_EXPORT int evio_serve(const evio_events *events, const char *const *addrs, size_t naddrs) {
    return guarded([&] {
        evio::Server server;
        return server.serve(events, addrs, naddrs);
    });
}

EVIO_EXPORT int evio_server_start(const evio_events *events, const char *const *addrs,
                                  size_t naddrs, evio_server **server) {
    if (server == nullptr)
        return fail(EVIO_EINVAL, "evio_server_start: server is NULL");
    return guarded([&] {
        auto s = std::make_unique<evio::Server>();
        if (int rc = s->start(events, addrs, naddrs))
            return rc;
        *server = reinterpret_cast<evio_server *>(s.release());
        return 0;
    });
}

EVIO_EXPORT int evio_server_stop(evio_server *server, int64_t drain_ns) {
    // Async-signal-safe: no message is recorded (that would allocate).
    evio::Server *s = as_server(server);
    if (s == nullptr || drain_ns < 0)
        return EVIO_EINVAL;
    s->stop(drain_ns);
    return 0;
}

EVIO_EXPORT int evio_server_wait(evio_server *server) {
    evio::Server *s = as_server(server);
    if (s == nullptr)
        return fail(EVIO_EINVAL, "evio_server_wait: not a live evio_server");
    if (s->on_own_loop())
        return fail(EVIO_EPERM, "evio_server_wait: called on one of the server's own loops");
    return guarded([&] { return s->wait(); });
}

EVIO_EXPORT void evio_server_free(evio_server *server) {
    evio::Server *s = as_server(server);
    if (s == nullptr || s->on_own_loop())
        return;
    guarded([&] {
        s->stop(0);
        s->wait();
        s->magic = 0;
        delete s;
        return 0;
    });
}

EVIO_EXPORT int evio_server_num_addrs(const evio_server *server) {
    const evio::Server *s = as_server(server);
    if (s == nullptr)
        return fail(EVIO_EINVAL, "evio_server_num_addrs: NULL or freed server");
    return s->num_addrs();
}

EVIO_EXPORT int evio_server_num_loops(const evio_server *server) {
    const evio::Server *s = as_server(server);
    if (s == nullptr)
        return fail(EVIO_EINVAL, "evio_server_num_loops: NULL or freed server");
    return s->num_loops();
}

EVIO_EXPORT const char *evio_server_engine(const evio_server *server) {
    const evio::Server *s = as_server(server);
    return s ? s->engine_name() : nullptr;
}

EVIO_EXPORT const struct sockaddr *evio_server_addr(const evio_server *server, int index,
                                                    socklen_t *len) {
    const evio::Server *s = as_server(server);
    return s ? s->addr(index, len) : nullptr;
}

EVIO_EXPORT int evio_server_addr_string(const evio_server *server, int index, char *buf,
                                        size_t buflen) {
    const evio::Server *s = as_server(server);
    if (s == nullptr)
        return fail(EVIO_EINVAL, "evio_server_addr_string: NULL or freed server");
    return guarded([&] { return s->addr_string(index, buf, buflen); });
}

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

EVIO_EXPORT int evio_server_post(evio_server *server, int loop, evio_loop_fn fn, void *arg) {
    evio::Server *s = as_server(server);
    if (s == nullptr || fn == nullptr)
        return fail(EVIO_EINVAL, "evio_server_post: NULL or freed server, or NULL fn");
    evio::Loop *l = s->loop(loop);
    if (l == nullptr)
        return fail(EVIO_EINVAL, "evio_server_post: no loop " + std::to_string(loop));
    return guarded([&] {
        evio::Work w{evio::Work::Kind::LoopFn, nullptr, 0, 0, nullptr, fn, arg};
        if (!l->mailbox().post_work(w))
            return fail(EVIO_ENOTCONN, "evio_server_post: the server has stopped");
        return 0;
    });
}

EVIO_EXPORT int64_t evio_timer_start(evio_conn *conn, int64_t delay_ns, evio_timer_fn fn,
                                     void *arg) {
    evio::Loop *loop = evio::Loop::on_this_thread();
    if (conn != nullptr) {
        if (int rc = check_stream_owner(conn, "evio_timer_start"))
            return rc;
        loop = evio::from_handle(conn)->loop;
    } else if (loop == nullptr) {
        return fail(EVIO_EPERM, "evio_timer_start: not on a loop thread");
    }
    return guarded64([&] { return loop->start_timer(evio::from_handle(conn), delay_ns, fn, arg); });
}

EVIO_EXPORT int evio_timer_cancel(int64_t timer) {
    evio::Loop *loop = evio::Loop::on_this_thread();
    if (loop == nullptr)
        return fail(EVIO_EPERM, "evio_timer_cancel: not on a loop thread");
    return loop->cancel_timer(timer);
}

EVIO_EXPORT int evio_conn_set_idle_timeout(evio_conn *conn, int64_t ns) {
    if (int rc = check_stream_owner(conn, "evio_conn_set_idle_timeout"))
        return rc;
    Conn *c = evio::from_handle(conn);
    return guarded([&] { return c->loop->set_idle_timeout(c, ns); });
}

EVIO_EXPORT int evio_conn_set_read_timeout(evio_conn *conn, int64_t ns) {
    if (int rc = check_stream_owner(conn, "evio_conn_set_read_timeout"))
        return rc;
    Conn *c = evio::from_handle(conn);
    return guarded([&] { return c->loop->set_read_timeout(c, ns); });
}

EVIO_EXPORT int evio_conn_set_write_timeout(evio_conn *conn, int64_t ns) {
    if (int rc = check_stream_owner(conn, "evio_conn_set_write_timeout"))
        return rc;
    Conn *c = evio::from_handle(conn);
    return guarded([&] { return c->loop->set_write_timeout(c, ns); });
}

EVIO_EXPORT int evio_conn_pause_read(evio_conn *conn) {
    if (int rc = check_stream_owner(conn, "evio_conn_pause_read"))
        return rc;
    Conn *c = evio::from_handle(conn);
    return c->loop->set_read_paused(c, true);
}

EVIO_EXPORT int evio_conn_resume_read(evio_conn *conn) {
    if (int rc = check_stream_owner(conn, "evio_conn_resume_read"))
        return rc;
    Conn *c = evio::from_handle(conn);
    return c->loop->set_read_paused(c, false);
}

EVIO_EXPORT int evio_conn_pending(evio_conn *conn, size_t *bytes) {
    if (int rc = check_stream_owner(conn, "evio_conn_pending"))
        return rc;
    if (bytes == nullptr)
        return fail(EVIO_EINVAL, "evio_conn_pending: bytes is NULL");
    *bytes = evio::from_handle(conn)->out.size();
    return 0;
}

EVIO_EXPORT int evio_conn_set_watermarks(evio_conn *conn, size_t low, size_t high) {
    if (int rc = check_stream_owner(conn, "evio_conn_set_watermarks"))
        return rc;
    Conn *c = evio::from_handle(conn);
    return c->loop->set_watermarks(c, low, high);
}

EVIO_EXPORT int evio_conn_set_output_limit(evio_conn *conn, size_t limit) {
    if (int rc = check_stream_owner(conn, "evio_conn_set_output_limit"))
        return rc;
    evio::from_handle(conn)->output_limit.store(limit, std::memory_order_relaxed);
    return 0;
}

EVIO_EXPORT int evio_conn_shutdown_write(evio_conn *conn) {
    if (int rc = check_stream_owner(conn, "evio_conn_shutdown_write"))
        return rc;
    Conn *c = evio::from_handle(conn);
    return guarded([&] { return c->loop->shutdown_write(c); });
}

EVIO_EXPORT int evio_conn_close(evio_conn *conn) {
    if (int rc = check_stream_owner(conn, "evio_conn_close"))
        return rc;
    Conn *c = evio::from_handle(conn);
    return guarded([&] { return c->loop->close_when_flushed(c); });
}

EVIO_EXPORT int evio_conn_fd(evio_conn *conn) {
    if (int rc = check_stream_owner(conn, "evio_conn_fd"))
        return rc;
    return evio::from_handle(conn)->io.fd;
}

EVIO_EXPORT int evio_conn_set_nodelay(evio_conn *conn, int on) {
    if (int rc = check_stream_owner(conn, "evio_conn_set_nodelay"))
        return rc;
    return evio::from_handle(conn)->set_nodelay(on != 0);
}

EVIO_EXPORT int evio_input_stream_begin(evio_input_stream *is, const void *in, size_t len,
                                        const void **data, size_t *data_len) {
    return evio::input_stream_begin(is, in, len, data, data_len);
}

EVIO_EXPORT int evio_input_stream_end(evio_input_stream *is, const void *rest, size_t rest_len) {
    return evio::input_stream_end(is, rest, rest_len);
}

EVIO_EXPORT void evio_input_stream_free(evio_input_stream *is) {
    evio::input_stream_free(is);
}

EVIO_EXPORT const char *evio_strerror(int code) {
    return evio::strerror_text(code);
}

EVIO_EXPORT const char *evio_last_error(void) {
    return evio::last_error();
}

EVIO_EXPORT int evio_version(void) {
    return EVIO_VERSION;
}

EVIO_EXPORT const char *evio_version_string(void) {
#define EVIO_STR2(x) #x
#define EVIO_STR(x) EVIO_STR2(x)
    return EVIO_STR(EVIO_VERSION_MAJOR) "." EVIO_STR(EVIO_VERSION_MINOR) "." EVIO_STR(
        EVIO_VERSION_PATCH);
}

} // extern "C"
