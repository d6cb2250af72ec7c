// The loop's turn: wait for completions, dispatch each, flush, release what closed.
#include "core/loop.hpp"

#include <cassert>
#include <climits>
#include <ctime>

#include "core/error.hpp"
#include "core/server.hpp"
#include "os/socket.hpp"

namespace evio {

thread_local Loop *Loop::t_running = nullptr;

int64_t now_ns() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Loop::Loop(Server &server, int index, std::unique_ptr<Engine> engine)
    : server_(server), callbacks_(server.callbacks()), index_(index), engine_(std::move(engine)),
      mailbox_(std::make_shared<Mailbox>(engine_.get())) {}

Loop::~Loop() {
    // run() normally did this; a loop that never ran (start-up failure) does it here.
    MailboxItems left;
    mailbox_->close(left);
    drop(left);
}

int Loop::watch(Listener &l) {
    l.io.role = Role::Listener;
    l.io.tag = &l;
    listeners_.push_back(&l);
    if (int rc = engine_->open(l.io))
        return rc;
    return engine_->recv_start(l.io);
}

int Loop::watch(UdpSocket &u) {
    u.io.role = Role::Datagram;
    u.io.tag = &u;
    u.conn.loop = this;
    u.conn.io.fd = u.io.fd;
    u.conn.addr_index = u.index;
    u.conn.reuse_input = true;
    if (int rc = engine_->open(u.io))
        return rc;
    return engine_->recv_start(u.io);
}

int Loop::run() {
    // evio_serve() may be called inside a callback of another server: that loop is
    // blocked meanwhile, and is this thread's loop again once this one returns.
    Loop *const outer = t_running;
    t_running = this;
    start_ticking();
    int err = 0;
    while (err == 0 && !should_stop())
        err = turn();
    // Connections still open after a drain are the ones its deadline cut short.
    shutdown_all(draining_ && head_ != nullptr ? EVIO_ETIMEDOUT : 0);
    t_running = outer;
    return err;
}

bool Loop::should_stop() {
    if (server_.stopping())
        return true;
    if (!server_.draining())
        return false;
    if (!draining_)
        begin_drain();
    return head_ == nullptr || now_ns() >= server_.drain_deadline_ns();
}

/// evio_server_stop() with a deadline: accept nothing more, read nothing more, and close
/// each connection as soon as its output has left.
void Loop::begin_drain() {
    draining_ = true;
    end_all_dials(); // a connection that is not there yet has nothing to drain
    for (Listener *l : listeners_) {
        engine_->recv_stop(l->io);
        l->paused = false;
    }
    for (Conn *c = head_; c != nullptr;) {
        Conn *next = c->next; // c may close and leave the list
        update_reading(c);
        close_if_done(c);
        c = next;
    }
}

int Loop::turn() {
    int64_t now = now_ns();
    if (tick_due(now)) {
        // At most one tick per turn, and never instead of polling: a tick that asks
        // for no delay (or takes longer than its delay) must not starve the I/O.
        run_tick(now);
        flush_dirty(); // output written in tick goes out now, not after the next wait
        if (server_.stopping())
            return 0;
        now = now_ns();
    }
    resume_listeners(now);
    if (int rc = engine_->wait(next_timeout(now)))
        return rc; // the engine itself failed: stop the server rather than spin
    turn_now_ns_ = now_ns();
    Completion done;
    while (engine_->next(done))
        dispatch(done);
    flush_dirty();
    run_timers(turn_now_ns_);
    end_turn();
    return 0;
}

void Loop::end_turn() {
    for (Conn *c : closed_turn_)
        c->unref();
    closed_turn_.clear();
}

int Loop::next_timeout(int64_t now) const {
    int64_t until = ticking_ ? next_tick_ns_ : INT64_MAX;
    if (timers_.next_due() < until)
        until = timers_.next_due();
    if (draining_ && server_.drain_deadline_ns() < until)
        until = server_.drain_deadline_ns();
    for (const Listener *l : listeners_)
        if (l->paused && l->resume_at_ns < until)
            until = l->resume_at_ns;
    if (until == INT64_MAX)
        return -1;
    if (until <= now)
        return 0;
    int64_t ms = (until - now + 999'999) / 1'000'000; // round up: never wake early
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

void Loop::dispatch(const Completion &done) {
    switch (done.op) {
    case Op::Interrupt:
        on_interrupt();
        break;
    case Op::Accept:
        on_accept(*static_cast<Listener *>(done.tag), done);
        break;
    case Op::Recv:
        on_recv(static_cast<Conn *>(done.tag), done);
        break;
    case Op::Send:
        on_send(static_cast<Conn *>(done.tag), done.result);
        break;
    case Op::RecvFrom:
        on_datagram(*static_cast<UdpSocket *>(done.tag), done);
        break;
    case Op::Connect:
        on_connect(static_cast<Dial *>(done.tag), done.result);
        break;
    }
}

void Loop::shutdown_all(int err) {
    MailboxItems left;
    mailbox_->close(left);
    drop(left);
    flush_dirty();
    end_all_dials();
    while (head_) {
        Conn *c = head_;
        flush(c); // best effort: whatever the socket takes now, in as many sends as it takes
        close_conn(c, err);
    }
    flush_dirty(); // a `closed` above may have written to a connection closed after it
    end_loop_timers();
    end_turn();
}

} // namespace evio
