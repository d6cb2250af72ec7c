// What every function of the C boundary does first: check the handle it was given (not
// NULL, not freed, the right thread), record a message, and keep C++ exceptions inside.
#pragma once

#include <cstdint>
#include <new>
#include <string>

#include <evio.h>

#include "core/conn.hpp"
#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/server.hpp"

namespace evio::api {

using evio::Conn;
using evio::fail;

/// Records "fn: why" and returns `code`; never throws (out of memory keeps the code only).
inline int refuse(int code, const char *fn, const char *why) noexcept {
    try {
        return fail(code, std::string(fn) + ": " + why);
    } catch (...) {
        return code;
    }
}

/// Checks a handle the caller passed: not NULL, not freed, not foreign.
inline int check_conn(const evio_conn *h, const char *fn) noexcept {
    const Conn *c = evio::from_handle(h);
    if (c == nullptr)
        return refuse(EVIO_EINVAL, fn, "conn is NULL");
    if (c->magic != Conn::kMagic)
        return refuse(EVIO_EINVAL, fn, "not a live evio_conn");
    return 0;
}

/// Checks a handle for a loop-thread-only call on an open connection.
inline int check_owner(const evio_conn *h, const char *fn) noexcept {
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
inline int check_stream_owner(const evio_conn *h, const char *fn) noexcept {
    if (int rc = check_owner(h, fn))
        return rc;
    if (evio::from_handle(h)->transport == evio::Transport::Udp)
        return refuse(EVIO_ENOTSUP, fn, "not for UDP");
    return 0;
}

/// Checks a handle for a loop-thread-only accessor: on the owner loop's thread, or (for a
/// closed connection, which nothing changes any more) any thread holding a reference.
inline int check_inspect(const evio_conn *h, const char *fn) noexcept {
    if (int rc = check_conn(h, fn))
        return rc;
    if (!evio::from_handle(h)->may_inspect())
        return refuse(EVIO_EPERM, fn, "not on the connection's loop thread");
    return 0;
}

/// A server handle the caller passed: not NULL, not freed, not foreign.
inline evio::Server *as_server(evio_server *h) noexcept {
    auto *s = reinterpret_cast<evio::Server *>(h);
    return s != nullptr && s->magic == evio::Server::kMagic ? s : nullptr;
}
inline const evio::Server *as_server(const evio_server *h) noexcept {
    return as_server(const_cast<evio_server *>(h));
}

/// Runs `f`, turning any exception into a code (f returns int, or int64_t for timer ids).
template <class F> auto guarded(F &&f) noexcept -> decltype(f()) {
    try {
        return f();
    } catch (const std::bad_alloc &) {
        return fail(EVIO_ENOMEM, "out of memory");
    } catch (...) {
        return fail(EVIO_EIO, "internal error");
    }
}

} // namespace evio::api
