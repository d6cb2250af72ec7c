// The Linux engine: level-triggered epoll plus an eventfd for wake-ups.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <evio.h>

#include "core/error.hpp"
#include "engine/poller.hpp"

namespace evio {

namespace {

/// epoll_wait without glibc's wrapper, which makes it a cancellation point and costs a
/// loop in a process with threads about 60 instructions a turn (see os/socket.cpp).
/// Sanitizer builds keep the wrapper.
int wait_for_events(int epfd, epoll_event *events, int max, int timeout_ms) {
#if defined(SYS_epoll_wait) && !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
    return static_cast<int>(::syscall(SYS_epoll_wait, epfd, events, max, timeout_ms));
#else
    return epoll_wait(epfd, events, max, timeout_ms);
#endif
}

uint32_t to_epoll(uint32_t interest) {
    uint32_t ev = 0;
    if (interest & kReadable)
        ev |= EPOLLIN;
    if (interest & kWritable)
        ev |= EPOLLOUT;
    return ev;
}

class EpollPoller final : public Poller {
  public:
    EpollPoller(int epfd, int evfd) : epfd_(epfd), evfd_(evfd), events_(256) {}
    ~EpollPoller() override {
        ::close(evfd_);
        ::close(epfd_);
    }

    int add(int fd, uint32_t interest, void *tag) override {
        return ctl(EPOLL_CTL_ADD, fd, interest, tag);
    }
    int modify(int fd, uint32_t interest, void *tag) override {
        return ctl(EPOLL_CTL_MOD, fd, interest, tag);
    }
    int remove(int fd) override {
        epoll_event ev{};
        return epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev) == 0 ? 0 : from_errno(errno);
    }

    int wait(PollEvent *out, int max, int timeout_ms) override {
        if (max > static_cast<int>(events_.size()))
            max = static_cast<int>(events_.size());
        int n = wait_for_events(epfd_, events_.data(), max, timeout_ms);
        if (n < 0)
            return errno == EINTR ? 0 : from_errno(errno);
        for (int i = 0; i < n; i++) {
            const epoll_event &e = events_[i];
            if (e.data.ptr == &evfd_) {
                uint64_t v;
                [[maybe_unused]] ssize_t r = ::read(evfd_, &v, sizeof v);
                out[i] = {nullptr, kReadable};
                continue;
            }
            uint32_t r = 0;
            if (e.events & EPOLLIN)
                r |= kReadable;
            if (e.events & EPOLLOUT)
                r |= kWritable;
            if (e.events & (EPOLLERR | EPOLLHUP))
                r |= kHangup;
            out[i] = {e.data.ptr, r};
        }
        return n;
    }

    void interrupt() noexcept override {
        uint64_t one = 1;
        // EAGAIN means the counter is already non-zero: the loop is woken anyway.
        [[maybe_unused]] ssize_t r = ::write(evfd_, &one, sizeof one);
    }

    const char *name() const noexcept override { return "epoll"; }

    int register_wakeup() { return ctl(EPOLL_CTL_ADD, evfd_, kReadable, &evfd_); }

  private:
    int ctl(int op, int fd, uint32_t interest, void *tag) {
        epoll_event ev{};
        ev.events = to_epoll(interest);
        ev.data.ptr = tag;
        return epoll_ctl(epfd_, op, fd, &ev) == 0 ? 0 : from_errno(errno);
    }

    int epfd_;
    int evfd_;
    std::vector<epoll_event> events_;
};

} // namespace

std::unique_ptr<Poller> make_native_poller(int &err) {
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        err = fail_errno(from_errno(errno), "epoll_create1");
        return nullptr;
    }
    int evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (evfd < 0) {
        err = fail_errno(from_errno(errno), "eventfd");
        ::close(epfd);
        return nullptr;
    }
    auto p = std::make_unique<EpollPoller>(epfd, evfd);
    if (int rc = p->register_wakeup()) {
        err = fail_errno(rc, "epoll_ctl(eventfd)");
        return nullptr;
    }
    err = 0;
    return p;
}

} // namespace evio
