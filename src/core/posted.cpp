// What other threads posted to the loop: accepted sockets handed over, wakes, bytes sent
// to a connection, and functions to run — in the order each thread posted them.
#include "core/loop.hpp"
#include "core/server.hpp"
#include "os/socket.hpp"

namespace evio {

namespace {
constexpr size_t kKeepBytes = 1u << 20; // the send arena's memory kept between takes
} // namespace

void Loop::on_interrupt() {
    mailbox_->take(taken_);
    for (const Handoff &h : taken_.handoffs) {
        if (server_.stopping() || draining_)
            refuse(h);
        else
            open_conn(h);
    }
    taken_.handoffs.clear();
    for (const Work &w : taken_.work)
        run_work(w);
    taken_.work.clear();
    taken_.bytes.clear();
    if (taken_.bytes.capacity() > kKeepBytes)
        std::vector<char>().swap(taken_.bytes);
    for (Conn *c : taken_.user_wakes)
        on_user_wake(c); // drops the queue's reference
    taken_.user_wakes.clear();
}

void Loop::run_work(const Work &w) {
    Conn *c = w.conn;
    switch (w.kind) {
    case Work::Kind::Send:
        c->posted_bytes.fetch_sub(w.len, std::memory_order_relaxed);
        if (c->state != Conn::State::Closed && !c->shut_write)
            write(c, taken_.bytes.data() + w.offset, w.len); // flushed with the dirty list
        break;
    case Work::Kind::ConnFn:
        if (c->state == Conn::State::Closed) {
            w.conn_fn(c_handle(c), EVIO_ENOTCONN, w.arg);
        } else {
            callback_conn_ = c;
            w.conn_fn(c_handle(c), 0, w.arg);
            after_callback(c, EVIO_NONE);
        }
        break;
    case Work::Kind::LoopFn:
        w.loop_fn(reinterpret_cast<evio_server *>(&server_), index_, 0, w.arg);
        flush_dirty();
        break;
    case Work::Kind::Dial:
        run_posted_dial(w);
        break;
    case Work::Kind::Resolved:
        on_resolved(w);
        break;
    }
    if (c)
        c->unref(); // the queue's reference
}

/// A socket handed over that this loop will not open: closed, and no longer counted.
void Loop::refuse(const Handoff &h) {
    os::close(h.fd);
    load_.fetch_sub(1, std::memory_order_relaxed);
}

/// Releases posted work that will never run: references, handed-over fds; functions are
/// told so (EVIO_ENOTCONN) and run once all the same.
void Loop::drop(MailboxItems &items) {
    for (const Handoff &h : items.handoffs)
        refuse(h);
    items.handoffs.clear();
    for (Conn *c : items.user_wakes) {
        c->user_wake_queued.store(false, std::memory_order_release);
        c->unref();
    }
    items.user_wakes.clear();
    for (const Work &w : items.work) {
        if (w.kind == Work::Kind::ConnFn)
            w.conn_fn(c_handle(w.conn), EVIO_ENOTCONN, w.arg);
        else if (w.kind == Work::Kind::LoopFn)
            w.loop_fn(reinterpret_cast<evio_server *>(&server_), index_, EVIO_ENOTCONN, w.arg);
        else if (w.kind == Work::Kind::Dial) // accepted by evio_server_dial(): ends once
            report_dial_failure(w.arg, EVIO_ECANCELED);
        if (w.conn)
            w.conn->unref();
    }
    items.work.clear();
    items.bytes.clear();
}

} // namespace evio
