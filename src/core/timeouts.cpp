// Timers of a loop and the timeouts of its connections (idle, read, write). The timeouts
// are timers of the loop's heap too; the idle one is re-armed lazily (activity only
// stamps the connection), so input and output cost no heap operation.
#include <new>
#include <string>

#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/server.hpp"

namespace evio {

namespace {
int64_t due_after(int64_t now, int64_t delay) {
    return delay > INT64_MAX - now ? INT64_MAX : now + delay;
}
} // namespace

int64_t Loop::start_timer(Conn *c, int64_t delay_ns, evio_timer_fn fn, void *arg) {
    if (fn == nullptr || delay_ns < 0)
        return fail(EVIO_EINVAL, "evio_timer_start: NULL fn or negative delay");
    int64_t id = timers_.add(due_after(now_ns(), delay_ns), Timer::Kind::User, c, fn, arg);
    if (c != nullptr) {
        try {
            c->timing_block().timers.push_back(id);
        } catch (...) {
            delete timers_.take(id);
            throw;
        }
    }
    return id;
}

int Loop::cancel_timer(int64_t id) {
    const Timer *found = timers_.find(id);
    if (found == nullptr || found->kind != Timer::Kind::User) // timeouts are not the user's
        return fail(EVIO_ENOENT, "evio_timer_cancel: no such timer on this loop");
    Timer *t = timers_.take(id);
    if (Conn *c = t->conn)
        std::erase(c->timing->timers, id);
    delete t;
    return 0;
}

void Loop::drop_timer(int64_t &id) {
    delete timers_.take(id);
    id = 0;
}

int Loop::set_idle_timeout(Conn *c, int64_t ns) {
    if (int rc = arm_timeout(c, &ConnTiming::idle_timer, Timer::Kind::Idle, ns,
                             "evio_conn_set_idle_timeout"))
        return rc;
    if (c->timing) {                          // (none when none was ever set and 0 is asked)
        c->timing->last_active_ns = now_ns(); // the idle time counts from now
        c->timing->idle_timeout_ns = ns;
    }
    return 0;
}

/// (Re)arms one of a connection's timeouts `ns` from now; 0 only clears it. The timing
/// block is made for the first timeout armed, not for clearing one never set.
int Loop::arm_timeout(Conn *c, int64_t ConnTiming::*slot, Timer::Kind kind, int64_t ns,
                      const char *fn) {
    if (ns < 0)
        return fail(EVIO_EINVAL, std::string(fn) + ": negative timeout");
    if (ns == 0 && !c->timing)
        return 0;
    int64_t &id = c->timing_block().*slot;
    clear_timer(id);
    if (ns != 0)
        id = timers_.add(due_after(now_ns(), ns), kind, c, nullptr, nullptr);
    return 0;
}

int Loop::set_read_timeout(Conn *c, int64_t ns) {
    return arm_timeout(c, &ConnTiming::read_timer, Timer::Kind::Read, ns,
                       "evio_conn_set_read_timeout");
}

int Loop::set_write_timeout(Conn *c, int64_t ns) {
    if (ns > 0 && c->out.empty() && !c->sending)
        ns = 0; // nothing pending: nothing to time
    return arm_timeout(c, &ConnTiming::write_timer, Timer::Kind::Write, ns,
                       "evio_conn_set_write_timeout");
}

void Loop::run_timers(int64_t now) {
    // At most as many as were armed when it began: callbacks that keep starting timers
    // with no delay cannot hold the loop here.
    size_t budget = timers_.size();
    while (budget-- > 0) {
        Timer *t = timers_.pop_due(now);
        if (t == nullptr)
            return;
        fire(t);
    }
}

void Loop::fire(Timer *t) {
    if (t->kind != Timer::Kind::User) {
        fire_timeout(t);
        return;
    }
    Conn *c = t->conn;
    evio_timer_fn fn = t->fn;
    void *arg = t->arg;
    if (c)
        std::erase(c->timing->timers, t->id);
    delete t;
    callback_conn_ = c;
    evio_action action = checked_action(fn(c ? c_handle(c) : nullptr, 0, arg));
    if (c) {
        after_callback(c, action);
        return;
    }
    callback_conn_ = nullptr;
    if (action == EVIO_SHUTDOWN)
        server_.shutdown();
    flush_dirty();
}

void Loop::fire_timeout(Timer *t) {
    Conn *c = t->conn;
    const Timer::Kind kind = t->kind;
    void *arg = t->arg;
    delete t;
    switch (kind) {
    case Timer::Kind::Connect:
        dial_timed_out(static_cast<Dial *>(arg));
        return;
    case Timer::Kind::Idle: {
        ConnTiming &timing = *c->timing;
        timing.idle_timer = 0;
        const int64_t due = due_after(timing.last_active_ns, timing.idle_timeout_ns);
        if (due > turn_now_ns_) { // there was activity: wait from its time on
            timing.idle_timer = timers_.add(due, Timer::Kind::Idle, c, nullptr, nullptr);
            return;
        }
        break;
    }
    case Timer::Kind::Read:
        c->timing->read_timer = 0;
        break;
    case Timer::Kind::Write:
        c->timing->write_timer = 0;
        if (c->out.empty() && !c->sending)
            return; // the output left just in time
        break;
    case Timer::Kind::User:
        return;
    }
    close_conn(c, EVIO_ETIMEDOUT);
}

/// A connection that closed or detached: its timeouts go, and its user timers get their
/// last call (EVIO_ENOTCONN) so they can free their arguments.
void Loop::end_timers(Conn *c) {
    if (!c->timing)
        return;
    clear_timer(c->timing->idle_timer);
    clear_timer(c->timing->read_timer);
    clear_timer(c->timing->write_timer);
    std::vector<int64_t> ids;
    ids.swap(c->timing->timers);
    for (int64_t id : ids) {
        Timer *t = timers_.take(id);
        if (t == nullptr)
            continue;
        evio_timer_fn fn = t->fn;
        void *arg = t->arg;
        delete t;
        fn(c_handle(c), EVIO_ENOTCONN, arg);
    }
}

/// At shutdown (every connection closed already): the loop's own timers' last calls.
void Loop::end_loop_timers() {
    while (Timer *t = timers_.pop_any()) {
        evio_timer_fn fn = t->fn;
        void *arg = t->arg;
        const bool user = t->kind == Timer::Kind::User;
        delete t;
        if (user)
            fn(nullptr, EVIO_ENOTCONN, arg);
    }
}

} // namespace evio
