// A connection (the evio_conn behind the C handle) and the other things a loop watches.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <evio.h>

#include "core/address.hpp"

namespace evio {

class Loop;
struct Mailbox;

/// What a poller tag points at: the loop switches on `kind`.
struct IoHandle {
    enum class Kind : uint8_t { Listener, Udp, Conn };
    explicit IoHandle(Kind k) : kind(k) {}
    Kind kind;
};

/// A bound listening socket (TCP or unix stream), watched by the accepting loop.
struct Listener : IoHandle {
    Listener() : IoHandle(Kind::Listener) {}
    int fd = -1;
    int index = 0; ///< position in evio_serve()'s addrs
    ListenSpec spec;
    std::string unix_path; ///< absolute path of a unix socket, removed at shutdown
    dev_t unix_dev = 0;    ///< identity of the file bind() made: only that one is removed
    ino_t unix_ino = 0;
    sockaddr_storage bound{};
    socklen_t bound_len = 0;
    bool paused = false; ///< accept stopped after EMFILE & co, until `resume_at`
    int64_t resume_at_ns = 0;
};

/// A socket address kept small: IPv4, IPv6 and unnamed unix peers inline (28 bytes, not a
/// 128-byte sockaddr_storage per connection), a named unix address on the heap.
class CompactAddr {
  public:
    void set(const sockaddr *sa, socklen_t len) {
        if (len <= sizeof inline_) {
            big_.reset();
            std::memcpy(&inline_, sa, len);
        } else {
            if (!big_)
                big_ = std::make_unique<sockaddr_storage>();
            std::memcpy(big_.get(), sa, len < sizeof *big_ ? len : sizeof *big_);
        }
        len_ = len;
    }
    bool known() const { return len_ != 0; }
    socklen_t len() const { return len_; }
    const sockaddr *get() const {
        return big_ ? reinterpret_cast<const sockaddr *>(big_.get()) : &inline_.sa;
    }
    /// Fills it with the local address of `fd` (getsockname); 0 or a negative errno.
    int load_local(int fd);

  private:
    union {
        sockaddr sa;
        sockaddr_in in4;
        sockaddr_in6 in6;
    } inline_{};
    std::unique_ptr<sockaddr_storage> big_;
    socklen_t len_ = 0;
};

/// Output bytes waiting for the socket. Keeps its memory between uses (no allocation
/// per request in steady state) unless a burst made it large.
class OutBuffer {
  public:
    bool empty() const { return head_ == data_.size(); }
    size_t size() const { return data_.size() - head_; }
    const char *data() const { return data_.data() + head_; }
    void append(const void *p, size_t n) {
        const char *c = static_cast<const char *>(p);
        data_.insert(data_.end(), c, c + n);
    }
    void consume(size_t n) {
        head_ += n;
        if (head_ == data_.size())
            clear();
    }
    void clear() {
        head_ = 0;
        data_.clear();
        if (data_.capacity() > kKeep)
            std::vector<char>().swap(data_);
    }

  private:
    static constexpr size_t kKeep = 64 * 1024;
    std::vector<char> data_;
    size_t head_ = 0;
};

/// The connection. Reference counted: the loop holds one reference while it is open;
/// evio_conn_ref() adds more, so cross-thread wakes never touch freed memory.
struct Conn : IoHandle {
    static constexpr uint32_t kMagic = 0x6576636e; // "evcn"
    static constexpr uint32_t kDead = 0xdeadc0de;

    explicit Conn(Transport t) : IoHandle(Kind::Conn), transport(t) {}

    enum class State : uint8_t { Open, Closing, Detaching, Closed };

    uint32_t magic = kMagic;
    std::atomic<int> refs{1};
    std::atomic<bool> closed{false};       ///< readable from any thread
    std::atomic<bool> wake_pending{false}; ///< a wake is queued (coalescing)
    Transport transport;
    State state = State::Open;
    bool reuse_input = false;
    bool dirty = false;       ///< in the loop's list of connections to flush
    bool read_paused = false; ///< backpressure: too much unsent output
    uint32_t interest = 0;    ///< what the poller watches now (kReadable | kWritable)
    int fd = -1;
    int addr_index = 0;
    Loop *loop = nullptr;             ///< owner; compared, never dereferenced off-thread
    std::shared_ptr<Mailbox> mailbox; ///< the owner's queue; outlives the loop
    void *context = nullptr;
    CompactAddr remote; ///< the peer (for UDP: the sender of the current datagram)
    CompactAddr local;  ///< asked of the kernel on first use (getsockname)
    OutBuffer out;
    std::vector<char> in_copy; ///< the connection's own input copy (reuse_input off)
    Conn *prev = nullptr;      ///< loop's list of open connections
    Conn *next = nullptr;

    void ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
    void unref() noexcept;
};

/// A UDP socket with the pseudo-connection handed to `data` for each datagram.
struct UdpSocket : IoHandle {
    UdpSocket() : IoHandle(Kind::Udp), conn(Transport::Udp) {}
    int fd = -1;
    int index = 0;
    ListenSpec spec;
    sockaddr_storage bound{};
    socklen_t bound_len = 0;
    sockaddr_storage from{}; ///< recvfrom() buffer, copied into conn.remote
    Conn conn;               ///< reused for every datagram; never reference counted
};

/// The C handle of a connection and back (evio_conn is never defined: it is a Conn).
inline evio_conn *c_handle(Conn *c) noexcept {
    return reinterpret_cast<evio_conn *>(c);
}
inline Conn *from_handle(evio_conn *c) noexcept {
    return reinterpret_cast<Conn *>(c);
}
inline const Conn *from_handle(const evio_conn *c) noexcept {
    return reinterpret_cast<const Conn *>(c);
}

} // namespace evio
