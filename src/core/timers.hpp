// A loop's timers: a binary heap ordered by due time, with each timer's place kept so a
// cancel is O(log n), and ids that are never reused (a stale id finds nothing).
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include <evio.h>

namespace evio {

struct Conn;

struct Timer {
    enum class Kind : uint8_t { User, Idle, Read, Write, Connect }; ///< Connect: arg is a Dial
    int64_t id;
    int64_t due_ns;
    Kind kind;
    Conn *conn;       ///< the connection it belongs to, or null (a loop timer)
    evio_timer_fn fn; ///< User timers
    void *arg;
    size_t slot; ///< its index in the heap
};

class TimerHeap {
  public:
    ~TimerHeap();
    /// Adds a timer; returns its id (never 0).
    int64_t add(int64_t due_ns, Timer::Kind kind, Conn *conn, evio_timer_fn fn, void *arg);
    /// Removes a timer and hands it to the caller (who deletes it), or null if unknown.
    Timer *take(int64_t id);
    /// The timer with this id, left in place, or null.
    const Timer *find(int64_t id) const {
        auto it = by_id_.find(id);
        return it == by_id_.end() ? nullptr : it->second;
    }
    /// The earliest due time, or INT64_MAX.
    int64_t next_due() const { return heap_.empty() ? INT64_MAX : heap_[0]->due_ns; }
    /// Removes and returns a timer due at `now`, or null.
    Timer *pop_due(int64_t now);
    /// Removes and returns any timer (for shutdown), or null.
    Timer *pop_any();
    size_t size() const { return heap_.size(); }

  private:
    void sift_up(size_t i);
    void sift_down(size_t i);
    void swap_slots(size_t a, size_t b);
    void remove_at(size_t i);

    std::vector<Timer *> heap_;
    std::unordered_map<int64_t, Timer *> by_id_;
};

} // namespace evio
