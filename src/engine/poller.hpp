// The engine contract: an engine knows file descriptors and readiness, never user
// callbacks. The loop (src/core/loop.cpp) asks it to watch fds and to wait; it answers with
// (tag, events) pairs. One file per engine implements this (epoll.cpp, …), as in Redis ae.
#pragma once

#include <cstdint>
#include <memory>

namespace evio {

/// Interest and readiness bits.
enum : uint32_t {
    kReadable = 1u << 0,
    kWritable = 1u << 1,
    kHangup = 1u << 2, ///< error or hang-up (reported only, never asked for)
};

/// One ready file descriptor. `tag` is what was given to add()/modify(); a null tag means
/// the poller was woken by wake().
struct PollEvent {
    void *tag;
    uint32_t events;
};

class Poller {
  public:
    virtual ~Poller() = default;
    Poller() = default;
    Poller(const Poller &) = delete;
    Poller &operator=(const Poller &) = delete;

    /// Start watching `fd` for `interest`. Returns 0 or a negative EVIO_E… code.
    virtual int add(int fd, uint32_t interest, void *tag) = 0;
    /// Change the interest of a watched fd.
    virtual int modify(int fd, uint32_t interest, void *tag) = 0;
    /// Stop watching `fd` (before it is closed).
    virtual int remove(int fd) = 0;
    /// Waits up to `timeout_ms` (-1: forever) and fills at most `max` events. Returns the
    /// number of events (0 on timeout or EINTR) or a negative EVIO_E… code.
    virtual int wait(PollEvent *out, int max, int timeout_ms) = 0;
    /// Makes a wait() in progress (or the next one) return with a null-tag event.
    /// The only function that may be called from any thread.
    virtual void wake() noexcept = 0;
    /// The engine's name ("epoll").
    virtual const char *name() const noexcept = 0;
};

/// Creates the native poller of this platform (epoll, kqueue). Returns null and sets `err`
/// (a negative EVIO_E… code, with the message recorded) on failure, or when this build has
/// no native engine (EVIO_ENOTSUP).
std::unique_ptr<Poller> make_native_poller(int &err);

/// Creates the portable poller (libuv). Same contract.
std::unique_ptr<Poller> make_std_poller(int &err);

} // namespace evio
