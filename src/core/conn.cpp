#include "core/conn.hpp"

#include <cassert>

#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/mailbox.hpp"
#include "os/socket.hpp"

namespace evio {

void Conn::ref() noexcept {
    [[maybe_unused]] int before = refs.fetch_add(1, std::memory_order_relaxed);
    assert(before > 0 && "a reference taken on a freed connection");
}

void Conn::unref() noexcept {
    int before = refs.fetch_sub(1, std::memory_order_acq_rel);
    assert(before > 0 && "more unrefs than refs");
    if (before == 1) {
        magic = kDead;
        delete this;
    }
}

int Conn::user_wake() {
    if (closed.load(std::memory_order_acquire))
        return fail(EVIO_ENOTCONN, "evio_conn_wake: connection is closed");
    if (user_wake_queued.exchange(true, std::memory_order_acq_rel))
        return 0; // one is queued already: they coalesce
    ref();        // the queue's reference
    bool posted = false;
    try {
        posted = mailbox->post_user_wake(this);
    } catch (...) {
        posted = false;
    }
    if (!posted) {
        user_wake_queued.store(false, std::memory_order_release);
        unref();
        return fail(EVIO_ENOTCONN, "evio_conn_wake: the server has stopped");
    }
    return 0;
}

int Conn::send_from_any_thread(const void *buf, size_t len) {
    if (closed.load(std::memory_order_acquire))
        return fail(EVIO_ENOTCONN, "evio_conn_send: connection is closed");
    const size_t limit = output_limit.load(std::memory_order_relaxed);
    if (limit != 0 && posted_bytes.load(std::memory_order_relaxed) + len > limit)
        return fail(EVIO_ENOBUFS, "evio_conn_send: the connection's output limit would be passed");
    if (len == 0)
        return 0;
    ref(); // the queue's reference
    posted_bytes.fetch_add(len, std::memory_order_relaxed);
    bool posted = false;
    try {
        posted = mailbox->post_send(this, buf, len);
    } catch (...) {
        posted_bytes.fetch_sub(len, std::memory_order_relaxed);
        unref();
        throw; // out of memory: the C boundary reports it
    }
    if (!posted) {
        posted_bytes.fetch_sub(len, std::memory_order_relaxed);
        unref();
        return fail(EVIO_ENOTCONN, "evio_conn_send: the server has stopped");
    }
    return 0;
}

int Conn::post(evio_conn_fn fn, void *arg) {
    if (closed.load(std::memory_order_acquire))
        return fail(EVIO_ENOTCONN, "evio_conn_post: connection is closed");
    ref(); // the queue's reference, dropped after fn ran
    bool posted = false;
    try {
        posted = mailbox->post_work({Work::Kind::ConnFn, this, 0, 0, fn, nullptr, arg});
    } catch (...) {
        unref();
        throw;
    }
    if (!posted) {
        unref();
        return fail(EVIO_ENOTCONN, "evio_conn_post: the server has stopped");
    }
    return 0;
}

ConnTiming &Conn::timing_block() {
    if (!timing)
        timing = std::make_unique<ConnTiming>();
    return *timing;
}

int Conn::load_local_addr() {
    if (local)
        return 0;
    auto addr = std::unique_ptr<CompactAddr>(new (std::nothrow) CompactAddr);
    if (!addr)
        return EVIO_ENOMEM;
    if (int e = addr->load_local(io.fd))
        return e;
    local = std::move(addr);
    return 0;
}

const sockaddr *Conn::local_addr(socklen_t *len) {
    if (!local) {
        // Asked of the kernel only on the loop's thread: another thread (allowed once the
        // connection has closed) must not race the loop's own writes or a reused fd.
        if (io.fd < 0 || Loop::on_this_thread() != loop) {
            fail(EVIO_ENOTCONN, "evio_conn_local_addr: connection is closed");
            return nullptr;
        }
        if (int e = load_local_addr()) {
            if (e == EVIO_ENOMEM)
                fail(e, "evio_conn_local_addr: out of memory");
            else
                fail_errno(e, "evio_conn_local_addr: getsockname");
            return nullptr;
        }
    }
    if (len)
        *len = local->len();
    return local->get();
}

int Conn::set_keepalive(int seconds) {
    if (transport != Transport::Tcp)
        return fail(EVIO_ENOTSUP, "evio_conn_set_keepalive: not a TCP connection");
    if (seconds < 0)
        return fail(EVIO_EINVAL, "evio_conn_set_keepalive: negative period");
    if (int rc = os::set_keepalive(io.fd, seconds))
        return fail_errno(from_errno(-rc), "evio_conn_set_keepalive");
    return 0;
}

int Conn::set_nodelay(bool on) {
    if (transport != Transport::Tcp)
        return fail(EVIO_ENOTSUP, "evio_conn_set_nodelay: not a TCP connection");
    if (int rc = os::set_nodelay(io.fd, on))
        return fail_errno(from_errno(-rc), "evio_conn_set_nodelay");
    return 0;
}

bool Conn::may_inspect() const noexcept {
    return Loop::on_this_thread() == loop || closed.load(std::memory_order_acquire);
}

} // namespace evio
