// The portable "std" engine: libuv provides readiness (uv_poll_t), wake-ups (uv_async_t)
// and timeouts (uv_timer_t). Like every engine it only reports (tag, events); the loop
// does the reads and writes, so both engines share one implementation of evio's
// semantics. See docs/design.md ("Engines") for why uv_poll_t rather than uv_tcp_t.
#include <uv.h>

#include <unordered_map>
#include <vector>

#include <evio.h>

#include "core/error.hpp"
#include "engine/poller.hpp"

namespace evio {

namespace {

int uv_code(int rc) {
    return rc < 0 ? from_errno(-rc) : rc;
}

class UvPoller final : public Poller {
  public:
    UvPoller() = default;

    int init() {
        if (int rc = uv_loop_init(&loop_))
            return fail(uv_code(rc), std::string("uv_loop_init: ") + uv_strerror(rc));
        loop_ready_ = true;
        async_.data = this;
        if (int rc = uv_async_init(&loop_, &async_, on_async))
            return fail(uv_code(rc), std::string("uv_async_init: ") + uv_strerror(rc));
        if (int rc = uv_timer_init(&loop_, &timer_))
            return fail(uv_code(rc), std::string("uv_timer_init: ") + uv_strerror(rc));
        // The timer only has to end uv_run(UV_RUN_ONCE); it must not keep the loop alive.
        uv_unref(reinterpret_cast<uv_handle_t *>(&timer_));
        return 0;
    }

    ~UvPoller() override {
        if (!loop_ready_)
            return;
        for (auto &[fd, w] : watches_) {
            uv_poll_stop(&w->handle);
            uv_close(reinterpret_cast<uv_handle_t *>(&w->handle), free_watch);
        }
        watches_.clear();
        if (async_.loop)
            uv_close(reinterpret_cast<uv_handle_t *>(&async_), nullptr);
        if (timer_.loop)
            uv_close(reinterpret_cast<uv_handle_t *>(&timer_), nullptr);
        uv_run(&loop_, UV_RUN_DEFAULT); // runs the close callbacks
        uv_loop_close(&loop_);
    }

    int add(int fd, uint32_t interest, void *tag) override {
        if (watches_.count(fd))
            return EVIO_EBUSY;
        auto *w = new Watch{};
        w->self = this;
        w->tag = tag;
        if (int rc = uv_poll_init_socket(&loop_, &w->handle, fd)) {
            delete w; // never registered: no close needed
            return uv_code(rc);
        }
        w->handle.data = w;
        watches_.emplace(fd, w);
        return start(w, interest);
    }

    int modify(int fd, uint32_t interest, void *tag) override {
        auto it = watches_.find(fd);
        if (it == watches_.end())
            return EVIO_ENOENT;
        it->second->tag = tag;
        return start(it->second, interest);
    }

    int remove(int fd) override {
        auto it = watches_.find(fd);
        if (it == watches_.end())
            return EVIO_ENOENT;
        Watch *w = it->second;
        watches_.erase(it);
        // An event collected but not yet handed out must not outlive the watch.
        if (w->batch == batch_ && w->slot > head_)
            ready_[w->slot - 1].events = 0; // skipped by wait()
        w->tag = nullptr;
        uv_poll_stop(&w->handle); // stops watching the fd now; the caller may close it
        uv_close(reinterpret_cast<uv_handle_t *>(&w->handle), free_watch);
        return 0;
    }

    int wait(PollEvent *out, int max, int timeout_ms) override {
        if (head_ == ready_.size()) {
            ready_.clear();
            head_ = 0;
            batch_++;
            if (timeout_ms > 0) {
                uv_update_time(&loop_);
                uv_timer_start(&timer_, on_timer, static_cast<uint64_t>(timeout_ms), 0);
            }
            if (std_poller_test_stall)
                std_poller_test_stall();
            uv_run(&loop_, timeout_ms == 0 ? UV_RUN_NOWAIT : UV_RUN_ONCE);
            if (timeout_ms > 0)
                uv_timer_stop(&timer_);
        }
        int n = 0;
        while (n < max && head_ < ready_.size()) {
            const PollEvent &e = ready_[head_++];
            if (e.events != 0)
                out[n++] = e;
        }
        return n;
    }

    void interrupt() noexcept override { uv_async_send(&async_); }

    const char *name() const noexcept override { return "libuv"; }

  private:
    struct Watch {
        uv_poll_t handle;
        UvPoller *self;
        void *tag;
        int events;     ///< the UV_READABLE/UV_WRITABLE set last started
        uint64_t batch; ///< the uv_run() whose events hold this watch's entry
        size_t slot;    ///< 1 + index of that entry in ready_
    };

    int start(Watch *w, uint32_t interest) {
        int ev = 0;
        if (interest & kReadable)
            ev |= UV_READABLE;
        if (interest & kWritable)
            ev |= UV_WRITABLE;
        int rc = ev ? uv_poll_start(&w->handle, ev, on_poll) : uv_poll_stop(&w->handle);
        w->events = rc == 0 ? ev : 0;
        return uv_code(rc);
    }

    static void on_poll(uv_poll_t *h, int status, int events) {
        auto *w = static_cast<Watch *>(h->data);
        if (w->tag == nullptr)
            return;
        uint32_t r = 0;
        if (status < 0) {
            // On POLLERR libuv has stopped the handle itself (uv__poll_io), but the loop
            // still thinks it is watched: re-arm it, so a connection with input left to
            // read before its error is not forgotten. The loop reads or writes now and
            // meets the error (and closes), so this cannot spin.
            r = kHangup | kReadable;
            if (w->events != 0)
                uv_poll_start(h, w->events, on_poll);
        }
        if (events & UV_READABLE)
            r |= kReadable;
        if (events & UV_WRITABLE)
            r |= kWritable;
        if (events & UV_DISCONNECT)
            r |= kHangup;
        // One uv_run() may poll the kernel several times and report an fd again: merge
        // into its entry, so the loop does not read a socket twice (the second read would
        // only find EAGAIN).
        UvPoller *self = w->self;
        if (w->batch == self->batch_ && w->slot > 0) {
            self->ready_[w->slot - 1].events |= r;
            return;
        }
        self->ready_.push_back({w->tag, r});
        w->batch = self->batch_;
        w->slot = self->ready_.size();
    }

    static void on_async(uv_async_t *a) {
        static_cast<UvPoller *>(a->data)->ready_.push_back({nullptr, kReadable});
    }

    // The timeout's end stops uv_run() instead of relying on it to return. libuv before
    // 1.45 runs due timers at the top of uv_run(), before polling: a thread preempted
    // past the timeout between uv_timer_start() and uv_run() had its timer fire there and
    // then polled with no timer left, i.e. forever (ticks, timers and stops of an idle
    // loop never came). A stopped loop polls without blocking (uv_backend_timeout() is 0);
    // uv_run() clears the flag before it returns.
    static void on_timer(uv_timer_t *t) { uv_stop(t->loop); }

    static void free_watch(uv_handle_t *h) { delete static_cast<Watch *>(h->data); }

    uv_loop_t loop_{};
    bool loop_ready_ = false;
    uv_async_t async_{};
    uv_timer_t timer_{};
    std::unordered_map<int, Watch *> watches_;
    std::vector<PollEvent> ready_; ///< events of the last uv_run(), handed out from head_
    size_t head_ = 0;
    uint64_t batch_ = 1; ///< counts uv_run() calls
};

} // namespace

void (*std_poller_test_stall)() = nullptr;

std::unique_ptr<Poller> make_std_poller(int &err) {
    auto p = std::make_unique<UvPoller>();
    err = p->init();
    if (err != 0)
        return nullptr;
    return p;
}

} // namespace evio
