// The readiness adaptor: the engine contract (engine.hpp) on top of a readiness poller
// (poller.hpp: epoll, libuv). When the poller says a socket is ready it makes the system
// call the armed or submitted operation needs and hands the result out as a completion;
// a send is tried at once and waits for writability only when the socket is full.
#pragma once

#include <cerrno>
#include <memory>
#include <vector>

#include "core/error.hpp"
#include "engine/engine.hpp"
#include "engine/poller.hpp"

namespace evio {

class ReadinessEngine final : public Engine {
  public:
    explicit ReadinessEngine(std::unique_ptr<Poller> poller);

    int open(IoHandle &h) override;
    int recv_start(IoHandle &h) override;
    int recv_stop(IoHandle &h) override;
    ssize_t send(IoHandle &h, const iovec *iov, int iovcnt) override;
    ssize_t send_now(IoHandle &h, const void *buf, size_t len) override;
    ssize_t send_to(IoHandle &h, const iovec *iov, int iovcnt, const sockaddr *to,
                    socklen_t to_len) override;
    int connect(IoHandle &h, const sockaddr *addr, socklen_t len) override;
    int cancel(IoHandle &h) override;
    int wait(int timeout_ms) override;
    bool next(Completion &out) override;
    void interrupt() noexcept override { poller_->interrupt(); }
    const char *name() const noexcept override { return poller_->name(); }

  private:
    /// A completion known before any readiness: an inline send, a refused connect.
    struct Queued {
        IoHandle *h; ///< null once cancelled
        Completion c;
    };

    static bool would_block(ssize_t rc) {
        return rc == -EAGAIN || rc == -EWOULDBLOCK || rc == -EINTR;
    }
    /// A system call's result as a completion's: bytes, or a negative EVIO_E… code.
    static int code_of(ssize_t rc) {
        return rc >= 0 ? static_cast<int>(rc) : from_errno(static_cast<int>(-rc));
    }

    bool next_queued(Completion &out);
    bool from_event(PollEvent &ev, Completion &out);
    bool stream_event(IoHandle &h, uint32_t ready, Completion &out);
    bool listener_event(IoHandle &h, uint32_t ready, Completion &out);
    bool datagram_event(IoHandle &h, uint32_t ready, Completion &out);
    bool try_send(IoHandle &h, Completion &out);
    void finish_event();
    void queue(IoHandle &h, Op op, int result);
    int update_interest(IoHandle &h);
    void update_later(IoHandle &h);

    std::unique_ptr<Poller> poller_;
    std::vector<PollEvent> events_; ///< the poller's last batch
    int nevents_ = 0;
    int cursor_ = 0;  ///< the event being turned into completions
    int phase_ = 0;   ///< stream: 0 = write side next, 1 = read side
    int repeats_ = 0; ///< accepts or datagrams taken from the current event
    uint64_t batch_ = 0;
    std::vector<Queued> queued_;
    size_t queued_head_ = 0;
    std::vector<IoHandle *> stale_interest_; ///< recomputed before the next wait
    std::vector<char> readbuf_;
    sockaddr_storage peer_{};
    socklen_t peer_len_ = 0;
    bool failed_ = false; ///< the poller failed: the loop is stopping
};

} // namespace evio
