#include "core/timers.hpp"

#include <atomic>

namespace evio {

namespace {
std::atomic<int64_t> g_next_id{1}; // process-wide: an id names one timer forever
} // namespace

TimerHeap::~TimerHeap() {
    for (Timer *t : heap_)
        delete t;
}

int64_t TimerHeap::add(int64_t due_ns, Timer::Kind kind, Conn *conn, evio_timer_fn fn, void *arg) {
    auto *t = new Timer{g_next_id.fetch_add(1, std::memory_order_relaxed),
                        due_ns,
                        kind,
                        conn,
                        fn,
                        arg,
                        heap_.size()};
    by_id_.emplace(t->id, t);
    try {
        heap_.push_back(t);
    } catch (...) {
        by_id_.erase(t->id);
        delete t;
        throw;
    }
    sift_up(t->slot);
    return t->id;
}

Timer *TimerHeap::take(int64_t id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end())
        return nullptr;
    Timer *t = it->second;
    remove_at(t->slot);
    return t;
}

Timer *TimerHeap::pop_due(int64_t now) {
    if (heap_.empty() || heap_[0]->due_ns > now)
        return nullptr;
    Timer *t = heap_[0];
    remove_at(0);
    return t;
}

Timer *TimerHeap::pop_any() {
    if (heap_.empty())
        return nullptr;
    Timer *t = heap_.back();
    remove_at(t->slot);
    return t;
}

void TimerHeap::remove_at(size_t i) {
    Timer *t = heap_[i];
    by_id_.erase(t->id);
    const size_t last = heap_.size() - 1;
    if (i != last) {
        swap_slots(i, last);
        heap_.pop_back();
        sift_down(i);
        sift_up(i);
    } else {
        heap_.pop_back();
    }
}

void TimerHeap::swap_slots(size_t a, size_t b) {
    std::swap(heap_[a], heap_[b]);
    heap_[a]->slot = a;
    heap_[b]->slot = b;
}

void TimerHeap::sift_up(size_t i) {
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap_[parent]->due_ns <= heap_[i]->due_ns)
            return;
        swap_slots(i, parent);
        i = parent;
    }
}

void TimerHeap::sift_down(size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < heap_.size() && heap_[l]->due_ns < heap_[m]->due_ns)
            m = l;
        if (r < heap_.size() && heap_[r]->due_ns < heap_[m]->due_ns)
            m = r;
        if (m == i)
            return;
        swap_slots(i, m);
        i = m;
    }
}

} // namespace evio
