// A stream connection's life on its loop: input to `data`, output to the socket
// (backpressure, close or detach once it has left), and the end.
#include <cassert>
#include <cerrno>

#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/server.hpp"
#include "os/socket.hpp"

namespace evio {

namespace {
constexpr size_t kDirectWrite = 32u << 10; // writes this large skip the output buffer
} // namespace

void Loop::on_recv(Conn *c, const Completion &done) {
    if (done.result < 0) { // also the engine's "cannot watch it any more" (EVIO_EIO)
        close_conn(c, done.result);
        return;
    }
    assert(c->state == Conn::State::Open && c->reading);
    if (done.result == 0) {
        if (c->transport == Transport::UdpConnected)
            return; // an empty datagram, not an end: UDP has none
        on_input_end(c);
        return;
    }
    if (c->timing) {
        touch(c);
        clear_timer(c->timing->read_timer); // input came in time
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

/// The peer finished sending. With an `input_closed` callback the connection stays open
/// for output; without one, what is owed is delivered and the connection closes.
void Loop::on_input_end(Conn *c) {
    if (callbacks_.input_closed) {
        c->input_ended = true;
        update_reading(c);
        if (c->write_closed) {
            close_if_done(c);
            return;
        }
        callback_conn_ = c;
        after_callback(c, checked_action(callbacks_.input_closed(c_handle(c), callbacks_.udata)));
        return;
    }
    if (c->out.empty() && !c->sending) {
        close_conn(c, 0);
    } else {
        c->state = Conn::State::Closing;
        update_reading(c);
    }
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
    if (c->shut_write)
        return fail(EVIO_EPIPE, "evio_conn_write: the sending side is shut down");
    if (len == 0)
        return 0;
    const size_t limit = c->output_limit.load(std::memory_order_relaxed);
    if (limit != 0 && (c->over_limit || c->out.size() + len > limit)) {
        c->over_limit = true; // closed by the flush after the callback, not inside it
        mark_dirty(c);
        return fail(EVIO_ENOBUFS, "evio_conn_write: the connection's output limit is passed");
    }
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
    if (c->out.size() > c->high_watermark)
        c->above_high = true; // a writer that looks at pending now waits for `drained`
    mark_dirty(c);
    return 0;
}

/// The connection whose callback is running is flushed by after_callback(); any other
/// goes on the dirty list, flushed after the callback.
void Loop::mark_dirty(Conn *c) {
    if (c != callback_conn_ && c->transport != Transport::Udp && !c->dirty) {
        c->dirty = true;
        c->ref();
        dirty_.push_back(c);
    }
}

void Loop::after_callback(Conn *c, evio_action action) {
    callback_conn_ = nullptr;
    if (action == EVIO_SHUTDOWN)
        server_.shutdown(); // even if the connection is gone by now
    if (c->state != Conn::State::Closed)
        flush(c);
    flush_dirty();
    if (c->close_asked && action != EVIO_DETACH)
        action = EVIO_CLOSE; // evio_conn_close() during the callback
    apply_action(c, action);
}

/// EVIO_CLOSE and EVIO_DETACH: at once when no output is pending, else once it has left.
void Loop::apply_action(Conn *c, evio_action action) {
    if (c->state != Conn::State::Open)
        return;
    if (action != EVIO_CLOSE && action != EVIO_DETACH) {
        close_if_done(c);
        return;
    }
    if (!c->out.empty() || c->sending) {
        c->state = action == EVIO_CLOSE ? Conn::State::Closing : Conn::State::Detaching;
        update_reading(c); // the rest happens when the output has left (on_send)
    } else if (action == EVIO_CLOSE) {
        close_conn(c, 0);
    } else {
        detach_conn(c);
    }
}

/// Hands the pending output to the engine (unless a send is in flight already). A send
/// that finished at once is handled here and now, as one that completes later is in
/// on_send: so output leaves in as many sends as the socket takes, before anything else
/// happens, and what waited for it (a close) follows in order.
void Loop::flush(Conn *c) {
    if (c->over_limit) {
        close_conn(c, EVIO_ENOBUFS);
        return;
    }
    if (c->sending) {
        update_reading(c); // output grew while a send waits for room: backpressure
        return;
    }
    if (c->out.empty()) {
        if (c->shut_write && !c->write_closed)
            after_output_left(c); // a write shutdown asked with nothing left to send
        return;
    }
    if (callbacks_.prewrite)
        callbacks_.prewrite(c_handle(c), callbacks_.udata);
    const iovec *iov;
    int n = c->out.gather(&iov);
    c->sending = true;
    if (ssize_t done = engine_->send(c->io, iov, n))
        on_send(c, done);
    else
        update_reading(c); // waiting for room: the output may be past the high watermark
}

void Loop::on_send(Conn *c, ssize_t result) {
    assert(c->sending && c->state != Conn::State::Closed);
    c->sending = false;
    if (result <= 0) {
        close_conn(c, result < 0 ? static_cast<int>(result) : EVIO_EIO);
        return;
    }
    c->out.consume(static_cast<size_t>(result));
    touch(c);
    if (c->out.empty()) {
        after_output_left(c);
        return;
    }
    if (c->above_high && c->out.size() <= c->low_watermark && callbacks_.drained &&
        c->state == Conn::State::Open) { // at the low watermark: the producer may go on
        c->above_high = false;
        callback_conn_ = c;
        after_callback(c, checked_action(callbacks_.drained(c_handle(c), callbacks_.udata)));
        return; // after_callback flushed the rest
    }
    flush(c); // the rest
}

/// Whoever wrote the output (the connection's own callback, another connection's, tick or
/// another thread), what waited for it happens as soon as it has left: a close, a detach,
/// the write shutdown, the `drained` event.
void Loop::after_output_left(Conn *c) {
    if (c->timing)
        clear_timer(c->timing->write_timer); // the output left in time
    if (c->state == Conn::State::Open && !c->shut_write && !c->above_high) { // the common case
        if (c->read_paused)
            update_reading(c); // paused for this output: reading resumes (else unchanged)
        close_if_done(c);
        return;
    }
    if (c->state == Conn::State::Closing) {
        close_conn(c, 0);
        return;
    }
    if (c->state == Conn::State::Detaching) {
        detach_conn(c);
        return;
    }
    if (c->shut_write && !c->write_closed) {
        c->write_closed = true;
        if (int rc = os::shutdown_write(c->io.fd); rc != 0 && rc != -ENOTCONN) {
            close_conn(c, from_errno(-rc));
            return;
        }
    }
    update_reading(c);
    if (c->above_high && callbacks_.drained && c->state == Conn::State::Open) {
        c->above_high = false;
        callback_conn_ = c;
        after_callback(c, checked_action(callbacks_.drained(c_handle(c), callbacks_.udata)));
        return; // after_callback ends with close_if_done
    }
    c->above_high = false;
    close_if_done(c);
}

void Loop::flush_dirty() {
    // flush() never adds to dirty_, but a prewrite callback, or one that a send's end
    // calls (drained), may write: iterate by index.
    for (size_t i = 0; i < dirty_.size(); i++) {
        Conn *c = dirty_[i];
        c->dirty = false;
        if (c->state != Conn::State::Closed)
            flush(c);
        if (c->close_asked) // evio_conn_close() outside the connection's own callback
            apply_action(c, EVIO_CLOSE);
    }
    for (Conn *c : dirty_)
        c->unref(); // never the last reference: the loop's or closed_turn_'s remains
    dirty_.clear();
}

void Loop::update_reading(Conn *c) {
    if (c->state == Conn::State::Closed)
        return;
    const size_t pending = c->out.size();
    if (pending > c->high_watermark) {
        c->read_paused = c->output_stops_read; // backpressure: a slow reader stops being read
        c->above_high = true;
    } else if (pending <= c->low_watermark) {
        c->read_paused = false;
    }
    const bool want = c->state == Conn::State::Open && !c->read_paused && !c->user_paused &&
                      !c->input_ended && !draining_;
    if (want == c->reading)
        return;
    c->reading = want;
    int rc = want ? engine_->recv_start(c->io) : engine_->recv_stop(c->io);
    if (rc != 0)
        close_conn(c, rc); // the engine cannot watch it as it must
}

} // namespace evio
