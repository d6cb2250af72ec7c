// Listeners and new connections: accept, hand over to the chosen loop, open.
#include <cassert>
#include <cstring>
#include <new>

#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/server.hpp"
#include "os/socket.hpp"

namespace evio {

namespace {
constexpr int64_t kAcceptPauseNs = 100'000'000; // after EMFILE & co
constexpr size_t kHighWatermark = 1u << 20;     // stop reading above this much unsent output
constexpr size_t kLowWatermark = 256u << 10;    // resume below this
} // namespace

void Loop::on_accept(Listener &l, const Completion &done) {
    if (done.result < 0) {
        // EMFILE, ENFILE, ENOBUFS, ENOMEM…: the backlog cannot drain now. Stop accepting
        // for a while instead of spinning on the listener; never end the loop.
        pause(l);
        return;
    }
    const int fd = done.result;
    if (server_.stopping() || draining_) {
        os::close(fd);
        engine_->recv_stop(l.io); // accept no more of the backlog
        return;
    }
    Handoff h{};
    h.fd = fd;
    h.addr_index = l.index;
    h.transport = l.spec.transport;
    std::memcpy(&h.remote, done.addr, done.addr_len);
    h.remote_len = done.addr_len;
    if (h.transport == Transport::Tcp)
        os::set_nodelay(fd, true);
    Loop &target = server_.pick_loop(done.addr, done.addr_len);
    target.load().fetch_add(1, std::memory_order_relaxed);
    if (&target == this) {
        open_conn(h);
    } else if (!target.mailbox().post_handoff(h)) {
        os::close(fd);
        target.load().fetch_sub(1, std::memory_order_relaxed);
    }
}

void Loop::pause(Listener &l) {
    engine_->recv_stop(l.io);
    l.paused = true;
    l.resume_at_ns = now_ns() + kAcceptPauseNs;
}

void Loop::resume_listeners(int64_t now) {
    for (Listener *l : listeners_)
        if (l->paused && now >= l->resume_at_ns && engine_->recv_start(l->io) == 0)
            l->paused = false;
}

int Loop::open_conn(const Handoff &h, void *context) {
    Conn *c = new (std::nothrow) Conn(h.transport);
    if (c == nullptr) {
        os::close(h.fd);
        load_.fetch_sub(1, std::memory_order_relaxed);
        return EVIO_ENOMEM;
    }
    c->io.fd = h.fd;
    c->io.role = Role::Stream;
    c->io.tag = c;
    c->addr_index = h.addr_index;
    c->remote.set(reinterpret_cast<const sockaddr *>(&h.remote), h.remote_len);
    c->loop = this;
    c->mailbox = mailbox_;
    c->context = context; // a dial's ctx
    c->reading = true;
    c->low_watermark = callbacks_.low_watermark ? callbacks_.low_watermark : kLowWatermark;
    c->high_watermark = callbacks_.high_watermark ? callbacks_.high_watermark : kHighWatermark;
    if (c->low_watermark > c->high_watermark)
        c->low_watermark = c->high_watermark;
    c->output_limit.store(callbacks_.output_limit, std::memory_order_relaxed);
    int rc = engine_->open(c->io);
    if (rc == 0)
        rc = engine_->recv_start(c->io);
    if (rc != 0) {
        engine_->cancel(c->io);
        os::close(c->io.fd);
        load_.fetch_sub(1, std::memory_order_relaxed);
        c->unref();
        return rc;
    }
    link(c);
    if (callbacks_.idle_timeout_ns > 0)
        set_idle_timeout(c, callbacks_.idle_timeout_ns);
    if (callbacks_.opened) {
        callback_conn_ = c;
        after_callback(c, checked_action(callbacks_.opened(c_handle(c), callbacks_.udata)));
    }
    return 0;
}

void Loop::link(Conn *c) {
    c->next = head_;
    if (head_)
        head_->prev = c;
    head_ = c;
}

void Loop::unlink(Conn *c) {
    if (c->prev)
        c->prev->next = c->next;
    else if (head_ == c)
        head_ = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = nullptr;
    load_.fetch_sub(1, std::memory_order_relaxed);
}

} // namespace evio
