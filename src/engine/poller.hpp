// The readiness contract, below the engine contract (engine.hpp): a poller knows file
// descriptors and readiness, never sockets' meaning or user callbacks. The readiness
// adaptor (readiness.cpp) asks it to watch fds and to wait; it answers with (tag, events)
// pairs. One file per poller implements this (epoll.cpp, libuv.cpp), as in Redis ae.
//
// Rules:
//  1. Readiness is level-triggered: an fd that is still readable (writable) after an
//     event is reported again by the next wait(). The adaptor reads once per event.
//  2. wait() never reports an fd removed before the call. An fd removed after wait()
//     returned may still have an entry in the array it filled: the caller must skip it
//     (the adaptor does, through IoHandle::ready_slot).
//  3. Error and hang-up are reported (kHangup) whether asked for or not.
//  4. One thread, except interrupt().
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
/// the poller was interrupted by interrupt().
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
    virtual void interrupt() noexcept = 0;
    /// The engine's name ("epoll").
    virtual const char *name() const noexcept = 0;
};

/// Creates the native poller of this platform (epoll, kqueue). Returns null and sets `err`
/// (a negative EVIO_E… code, with the message recorded) on failure, or when this build has
/// no native engine (EVIO_ENOTSUP).
std::unique_ptr<Poller> make_native_poller(int &err);

/// Creates the portable poller (libuv). Same contract.
std::unique_ptr<Poller> make_std_poller(int &err);

/// Tests only (tests/unit): when set, the std poller's wait() calls it between arming its
/// timeout and running libuv, standing for the thread being preempted there. Null in
/// the library; not exported.
extern void (*std_poller_test_stall)();

} // namespace evio
