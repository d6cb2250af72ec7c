// The C boundary of timers, timeouts, flow control and half-close (loop thread only).
#include <memory>

#include <evio.h>

#include "api/checks.hpp"
#include "core/address.hpp"
#include "core/input_stream.hpp"

using evio::Conn;
using evio::fail;
using namespace evio::api;

extern "C" {

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
    return guarded([&] { return loop->start_timer(evio::from_handle(conn), delay_ns, fn, arg); });
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

EVIO_EXPORT int evio_conn_set_read_backpressure(evio_conn *conn, int on) {
    if (int rc = check_stream_owner(conn, "evio_conn_set_read_backpressure"))
        return rc;
    Conn *c = evio::from_handle(conn);
    return c->loop->set_read_backpressure(c, on != 0);
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

} // extern "C"
