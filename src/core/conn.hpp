// A connection: the evio_conn behind the C handle.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <evio.h>

#include "core/address.hpp"
#include "core/compact_addr.hpp"
#include "core/out_buffer.hpp"
#include "engine/engine.hpp"

namespace evio {

class Loop;
class Mailbox;

/// A connection's timeouts and timers: made on the first one set, so that a connection
/// with none carries a null pointer only.
struct ConnTiming {
    int64_t idle_timeout_ns = 0; ///< 0: none
    int64_t last_active_ns = 0;  ///< when input last came or output last left
    int64_t idle_timer = 0;      ///< ids in the loop's timer heap; 0: none
    int64_t read_timer = 0;
    int64_t write_timer = 0;
    std::vector<int64_t> timers; ///< the user's timers of this connection
};

/// Reference counted: the loop holds one reference while it is open (and until the end
/// of the turn in which it closed); evio_conn_ref() adds more, so a call from another
/// thread never touches freed memory.
///
/// Layout: the fields every input and output touches come first, in the first 192 bytes
/// (three or four cache lines, as malloc aligns it; the readiness adaptor prefetches
/// them a few events ahead); with a thousand busy connections each line is a miss. The
/// rarely used parts (timeouts, the local address) are made on first use. Not
/// `alignas(64)`: aligned allocation cost more memory than the one line it saves.
struct Conn {
    static constexpr uint32_t kMagic = 0x6576636e; // "evcn"
    static constexpr uint32_t kDead = 0xdeadc0de;

    /// Open → Closing/Detaching (waiting for its output to leave) → Closed; or Open →
    /// Closed. Never back.
    enum class State : uint8_t { Open, Closing, Detaching, Closed };

    explicit Conn(Transport t) : transport(t) {}

    // ---- hot: every request
    uint32_t magic = kMagic;
    Transport transport;
    State state = State::Open;
    bool reuse_input = false;
    bool dirty = false;            ///< in the loop's list of connections to flush
    bool read_paused = false;      ///< backpressure: too much unsent output
    bool reading = false;          ///< the engine delivers its input (recv armed)
    bool sending = false;          ///< a send is in flight (engine rule 5)
    bool user_paused = false;      ///< evio_conn_pause_read()
    bool above_high = false;       ///< passed the high watermark since the last `drained`
    bool over_limit = false;       ///< a write passed the output limit: closes after the callback
    bool shut_write = false;       ///< evio_conn_shutdown_write(): SHUT_WR once the output left
    bool write_closed = false;     ///< SHUT_WR done
    bool input_ended = false;      ///< the peer's end of input, kept open (`input_closed` set)
    bool close_asked = false;      ///< evio_conn_close(): close once the output has left
    bool output_stops_read = true; ///< evio_conn_set_read_backpressure(): own output pauses reading
    std::atomic<bool> closed{false};           ///< readable from any thread
    std::atomic<bool> user_wake_queued{false}; ///< an evio_conn_wake is queued (coalescing)
    Loop *loop = nullptr;                      ///< owner; compared, never dereferenced off-thread
    void *context = nullptr;
    IoHandle io; ///< the socket (io.fd), as the engine sees it
    OutBuffer out;
    size_t high_watermark = 0;
    std::atomic<size_t> output_limit{0}; ///< 0: none (read by evio_conn_send on any thread)
    std::unique_ptr<ConnTiming> timing;  ///< null until a timeout or timer is set
    std::vector<char> in_copy;           ///< the connection's own input copy (reuse_input off)

    // ---- cold
    std::atomic<int> refs{1};
    int addr_index = 0;
    size_t low_watermark = 0;
    std::atomic<size_t> posted_bytes{0}; ///< sent from other threads, not yet taken
    std::shared_ptr<Mailbox> mailbox;    ///< the owner's queue; outlives the loop
    CompactAddr remote;                  ///< the peer (for UDP: the sender of the current datagram)
    std::unique_ptr<CompactAddr> local;  ///< asked of the kernel on first use (getsockname)
    Conn *prev = nullptr;                ///< the loop's list of open connections
    Conn *next = nullptr;

    /// The timing block, made if there is none (throws std::bad_alloc).
    ConnTiming &timing_block();
    /// Asks the kernel for the local address once (getsockname) and keeps it. 0, or an
    /// EVIO_E… code (EVIO_ENOMEM, or what CompactAddr::load_local returns).
    int load_local_addr();
    void ref() noexcept;
    void unref() noexcept;
    /// evio_conn_wake(): queues a `data` call with no input on the owner loop. Any thread.
    int user_wake();
    /// The local address, asked of the kernel on first use. Null (message recorded) when
    /// it cannot be known.
    const sockaddr *local_addr(socklen_t *len);
    int set_keepalive(int seconds);
    int set_nodelay(bool on);
    /// evio_conn_send() and evio_conn_post(). Any thread.
    int send_from_any_thread(const void *buf, size_t len);
    int post(evio_conn_fn fn, void *arg);
    /// Loop-thread-only calls are allowed: on the owner loop's thread, or from any thread
    /// holding a reference once the connection has closed (nothing changes it then).
    bool may_inspect() const noexcept;
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
