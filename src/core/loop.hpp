// One event loop: one thread, one engine, the connections it owns. Its member functions
// live in one file per job: loop.cpp (the turn, dispatch, stopping), posted.cpp (what
// other threads posted: sends, functions, wakes, handed-over sockets),
// accept.cpp (listeners, new connections), stream.cpp (a connection's input and output),
// stream_end.cpp (its close or detach), flow.cpp (pause, watermarks, half-close asked by the user),
// udp.cpp (datagrams), tick.cpp (the tick callback), dial.cpp (outbound connections),
// timeouts.cpp (timers and connection timeouts).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include <evio.h>

#include "core/bound_socket.hpp"
#include "core/conn.hpp"
#include "core/dial.hpp"
#include "core/mailbox.hpp"
#include "core/timers.hpp"
#include "engine/engine.hpp"

namespace evio {

class Server;

class Loop {
  public:
    Loop(Server &server, int index, std::unique_ptr<Engine> engine);
    ~Loop();
    Loop(const Loop &) = delete;
    Loop &operator=(const Loop &) = delete;

    /// Runs until the server stops, then closes every connection it owns. Returns 0, or
    /// a negative EVIO_E… code (message recorded) when the engine failed.
    int run();

    int index() const { return index_; }
    Mailbox &mailbox() { return *mailbox_; }
    /// Open connections, including those handed over but not yet opened (for balancing).
    std::atomic<int> &load() { return load_; }

    /// Watches a listener (accepting loop only) or a UDP socket. Before run().
    int watch(Listener &l);
    int watch(UdpSocket &u);

    /// The loop running on the calling thread, or null. Inline: every loop-thread-only
    /// call of the C API asks it.
    static Loop *on_this_thread() noexcept { return t_running; }
    /// Makes the loop look at the server's state. Any thread; async-signal-safe.
    void interrupt() noexcept { engine_->interrupt(); }

    /// evio_conn_write(), on this loop's thread.
    int write(Conn *c, const void *buf, size_t len);
    // flow.cpp: flow control and half-close asked through the C API (this loop's thread)
    int set_read_paused(Conn *c, bool paused);
    int set_read_backpressure(Conn *c, bool on);
    int set_watermarks(Conn *c, size_t low, size_t high);
    int shutdown_write(Conn *c);
    int close_when_flushed(Conn *c);
    // dial.cpp: outbound connections (this loop's thread). `spec` parsed for Purpose::Dial.
    int dial(const ListenSpec &spec, void *ctx, int64_t timeout_ns);
    // timeouts.cpp: timers and connection timeouts (this loop's thread)
    int64_t start_timer(Conn *c, int64_t delay_ns, evio_timer_fn fn, void *arg);
    int cancel_timer(int64_t id);
    int set_idle_timeout(Conn *c, int64_t ns);
    int set_read_timeout(Conn *c, int64_t ns);
    int set_write_timeout(Conn *c, int64_t ns);

  private:
    // loop.cpp
    /// The loop this thread runs (run() sets it). initial-exec: the library is linked at
    /// start-up (or dlopen()ed into a process with room for one pointer of static TLS),
    /// and the model saves a __tls_get_addr call on every lookup.
    static thread_local Loop *t_running __attribute__((tls_model("initial-exec")));
    int turn();
    void dispatch(const Completion &done);
    int next_timeout(int64_t now) const;
    // posted.cpp
    void on_interrupt();
    void run_work(const Work &w);
    void drop(MailboxItems &items);
    void refuse(const Handoff &h);
    void end_turn();
    bool should_stop();
    void begin_drain();
    /// Closes a connection that has nothing left to do: its output has left, and the
    /// server is draining, or both directions are shut down.
    void close_if_done(Conn *c) {
        if ((draining_ || (c->input_ended && c->write_closed)) && c->state == Conn::State::Open &&
            c->out.empty() && !c->sending)
            close_conn(c, 0);
    }
    void shutdown_all(int err);
    // accept.cpp
    void on_accept(Listener &l, const Completion &done);
    void pause(Listener &l);
    void resume_listeners(int64_t now);
    /// Opens a connection on a socket (accepted or dialed) and calls `opened`. 0, or an
    /// EVIO_E… code when it could not (the socket is closed, the load uncounted).
    int open_conn(const Handoff &h, void *context = nullptr);
    void link(Conn *c);
    void unlink(Conn *c);
    // stream.cpp
    void on_recv(Conn *c, const Completion &done);
    void on_send(Conn *c, ssize_t result);
    void on_user_wake(Conn *c);
    void after_callback(Conn *c, evio_action action);
    void apply_action(Conn *c, evio_action action);
    void flush(Conn *c);
    void mark_dirty(Conn *c);
    void flush_dirty();
    void update_reading(Conn *c);
    void after_output_left(Conn *c);
    void on_input_end(Conn *c);
    // stream_end.cpp
    void close_conn(Conn *c, int err);
    void detach_conn(Conn *c);
    void retire(Conn *c);
    // dial.cpp
    int start_connect(Dial *d, const SockAddr &a);
    void connect_next(Dial *d);
    void close_dial_socket(Dial *d);
    void on_connect(Dial *d, int result);
    void on_resolved(const Work &w);
    void dial_timed_out(Dial *d);
    void forget_dial(Dial *d);
    void end_dial(Dial *d, int err);
    void end_all_dials();
    void run_posted_dial(const Work &w);
    void report_dial_failure(void *ctx, int err);
    // udp.cpp
    void on_datagram(UdpSocket &u, const Completion &done);
    // timeouts.cpp
    void run_timers(int64_t now);
    void fire(Timer *t);
    void fire_timeout(Timer *t);
    void touch(Conn *c) {
        if (c->timing && c->timing->idle_timeout_ns != 0)
            c->timing->last_active_ns = turn_now_ns_;
    }
    void clear_timer(int64_t &id) {
        if (id != 0)
            drop_timer(id);
    }
    void drop_timer(int64_t &id);
    int arm_timeout(Conn *c, int64_t ConnTiming::*slot, Timer::Kind kind, int64_t ns,
                    const char *fn);
    void end_timers(Conn *c);
    void end_loop_timers();
    // tick.cpp
    void start_ticking();
    bool tick_due(int64_t now) const { return ticking_ && now >= next_tick_ns_; }
    void run_tick(int64_t now);

    Server &server_;
    const evio_events &callbacks_; ///< the server's copy of the user's table
    int index_;
    std::unique_ptr<Engine> engine_;
    std::shared_ptr<Mailbox> mailbox_;
    std::atomic<int> load_{0};
    Conn *callback_conn_ = nullptr;   ///< the connection whose callback is running
    std::vector<Conn *> dirty_;       ///< other connections with output to flush (a ref each)
    std::vector<Conn *> closed_turn_; ///< closed in this turn: the loop's ref, dropped after it
    MailboxItems taken_;              ///< reused for every mailbox take
    std::vector<Listener *> listeners_;
    Conn *head_ = nullptr;  ///< open connections
    bool draining_ = false; ///< the server is stopping after a drain
    TimerHeap timers_;
    std::unordered_map<uint64_t, std::unique_ptr<Dial>> dials_; ///< not yet connected
    uint64_t next_dial_id_ = 1;
    int64_t turn_now_ns_ = 0; ///< the clock when this turn's wait returned
    bool ticking_ = false;
    int64_t next_tick_ns_ = 0;
};

/// Monotonic clock in nanoseconds.
int64_t now_ns() noexcept;

/// A callback's return value as an action: a C callback may return any int, which must
/// not be used as an evio_action before it is checked (unknown values mean EVIO_NONE).
inline evio_action checked_action(int raw) noexcept {
    switch (raw) {
    case EVIO_DETACH:
    case EVIO_CLOSE:
    case EVIO_SHUTDOWN:
        return static_cast<evio_action>(raw);
    default:
        return EVIO_NONE;
    }
}

} // namespace evio
