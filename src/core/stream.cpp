// A stream connection's life on its loop: input to `data`, output to the socket
// (backpressure, close or detach once it has left), and the end.
#include <cassert>

#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/server.hpp"
#include "os/socket.hpp"

namespace evio {

namespace {
constexpr size_t kHighWatermark = 1u << 20;  // stop reading above this much unsent output
constexpr size_t kLowWatermark = 256u << 10; // resume below this
constexpr size_t kDirectWrite = 32u << 10;   // writes this large skip the output buffer
constexpr size_t kDiscardBytes = 1u << 20;   // unread input discarded before a close
} // namespace

void Loop::on_recv(Conn *c, const Completion &done) {
    assert(c->state == Conn::State::Open && c->reading);
    if (done.result < 0) {
        close_conn(c, done.result);
        return;
    }
    if (done.result == 0) { // the peer finished sending: deliver what we owe, then close
        if (c->out.empty() && !c->sending) {
            close_conn(c, 0);
        } else {
            c->state = Conn::State::Closing;
            update_reading(c);
        }
        return;
    }
    if (!callbacks_.data)
        return;
    const char *in = done.data;
    if (!c->reuse_input) {
        c->in_copy.assign(done.data, done.data + done.len);
        in = c->in_copy.data();
    } else if (c->in_copy.capacity() != 0) {
        std::vector<char>().swap(c->in_copy); // reuse_input was switched on
    }
    callback_conn_ = c;
    after_callback(c, checked_action(callbacks_.data(c_handle(c), in, done.len, callbacks_.udata)));
}

void Loop::on_user_wake(Conn *c) {
    c->user_wake_queued.store(false, std::memory_order_release);
    if (c->state == Conn::State::Open && callbacks_.data && !server_.stopping()) {
        callback_conn_ = c;
        after_callback(c,
                       checked_action(callbacks_.data(c_handle(c), nullptr, 0, callbacks_.udata)));
    }
    c->unref(); // the queue's reference
}

int Loop::write(Conn *c, const void *buf, size_t len) {
    assert(on_this_thread() == this);
    if (len == 0)
        return 0;
    if (len >= kDirectWrite && c->out.empty() && !c->sending && c->transport != Transport::Udp &&
        !callbacks_.prewrite) {
        // A large write with nothing queued before it: send it now rather than copy it.
        // What the socket does not take is queued as usual; an error is left for the
        // flush after the callback to find and report (closing here would re-enter user
        // code). Not with a `prewrite` callback: it would have to run here, inside the
        // callback that is writing.
        ssize_t n = engine_->send_now(c->io, buf, len);
        if (n > 0) {
            buf = static_cast<const char *>(buf) + n;
            len -= static_cast<size_t>(n);
        }
        if (len == 0)
            return 0;
    }
    c->out.append(buf, len);
    // The connection whose callback is running is flushed by after_callback(); any other
    // goes on the dirty list.
    if (c != callback_conn_ && c->transport != Transport::Udp && !c->dirty) {
        c->dirty = true;
        c->ref();
        dirty_.push_back(c);
    }
    return 0;
}

void Loop::after_callback(Conn *c, evio_action action) {
    callback_conn_ = nullptr;
    if (action == EVIO_SHUTDOWN)
        server_.shutdown(); // even if the connection is gone by now
    if (c->state != Conn::State::Closed)
        flush(c);
    flush_dirty();
    if (c->state != Conn::State::Open || (action != EVIO_CLOSE && action != EVIO_DETACH))
        return;
    if (!c->out.empty() || c->sending) {
        c->state = action == EVIO_CLOSE ? Conn::State::Closing : Conn::State::Detaching;
        update_reading(c); // the rest happens when the output has left (on_send)
    } else if (action == EVIO_CLOSE) {
        close_conn(c, 0);
    } else {
        detach_conn(c);
    }
}

void Loop::flush(Conn *c) {
    if (!c->sending && !c->out.empty()) {
        if (callbacks_.prewrite)
            callbacks_.prewrite(c_handle(c), callbacks_.udata);
        const iovec *iov;
        int n = c->out.gather(&iov);
        c->sending = true;
        engine_->send(c->io, iov, n); // the result comes as a Send completion
    }
    update_reading(c);
}

void Loop::on_send(Conn *c, const Completion &done) {
    assert(c->sending && c->state != Conn::State::Closed);
    c->sending = false;
    if (done.result <= 0) {
        close_conn(c, done.result < 0 ? done.result : EVIO_EIO);
        return;
    }
    c->out.consume(static_cast<size_t>(done.result));
    if (!c->out.empty()) {
        flush(c);
        return;
    }
    // Whoever wrote this output (the connection's own callback, another connection's, or
    // tick), a close or detach waiting for it completes as soon as it is out.
    if (c->state == Conn::State::Closing)
        close_conn(c, 0);
    else if (c->state == Conn::State::Detaching)
        detach_conn(c);
    else
        update_reading(c);
}

void Loop::flush_dirty() {
    // flush() never adds to dirty_, but a prewrite callback may write: iterate by index.
    for (size_t i = 0; i < dirty_.size(); i++) {
        Conn *c = dirty_[i];
        c->dirty = false;
        if (c->state != Conn::State::Closed)
            flush(c);
    }
    for (Conn *c : dirty_)
        c->unref(); // never the last reference: the loop's or closed_turn_'s remains
    dirty_.clear();
}

void Loop::update_reading(Conn *c) {
    if (c->state == Conn::State::Closed)
        return;
    const size_t pending = c->out.size();
    if (pending > kHighWatermark)
        c->read_paused = true; // backpressure: a slow reader stops being read
    else if (pending <= kLowWatermark)
        c->read_paused = false;
    const bool want = c->state == Conn::State::Open && !c->read_paused;
    if (want == c->reading)
        return;
    c->reading = want;
    int rc = want ? engine_->recv_start(c->io) : engine_->recv_stop(c->io);
    if (rc != 0)
        close_conn(c, rc); // the engine cannot watch it as it must
}

/// What closing and detaching share: the engine lets go, the loop forgets it.
void Loop::retire(Conn *c) {
    assert(c->state != Conn::State::Closed);
    c->state = Conn::State::Closed;
    c->sending = c->reading = false;
    [[maybe_unused]] int in_flight = engine_->cancel(c->io);
    assert(in_flight == 0 && "no engine leaves operations in flight yet (engine rule 6)");
    c->closed.store(true, std::memory_order_release);
    unlink(c);
    closed_turn_.push_back(c); // the loop's reference, dropped after this turn
}

void Loop::close_conn(Conn *c, int err) {
    if (c->state == Conn::State::Closed)
        return;
    retire(c);
    if (callbacks_.closed &&
        checked_action(callbacks_.closed(c_handle(c), err, callbacks_.udata)) == EVIO_SHUTDOWN)
        server_.shutdown();
    // Input nobody will read makes close() reset the connection, and a reset throws away
    // output still in the kernel's send queue: the end of the last response. Read what is
    // there (bounded: a peer that keeps sending gets its reset) so an orderly close stays
    // orderly.
    if (err == 0)
        os::discard_input(c->io.fd, kDiscardBytes);
    os::close(c->io.fd); // after `closed`: the number is not reused while user code sees it
    c->io.fd = -1;
    c->out.reset();
}

void Loop::detach_conn(Conn *c) {
    retire(c);
    if (!c->local.known()) // evio_conn_local_addr() in `detached`, where fd is the user's
        c->local.load_local(c->io.fd);
    const int fd = c->io.fd;
    c->io.fd = -1;
    os::set_blocking(fd);
    if (!callbacks_.detached)
        os::close(fd); // nobody to take it
    else if (checked_action(callbacks_.detached(c_handle(c), fd, callbacks_.udata)) ==
             EVIO_SHUTDOWN)
        server_.shutdown();
}

} // namespace evio
