// Output bytes waiting for the socket: a list of chunks. Bytes never move once appended,
// so a send in flight (which points at them) stays valid while more is appended
// (engine rule 5). Keeps one spare chunk, so a connection that writes a little at a time
// allocates nothing per request in steady state.
#pragma once

#include <sys/uio.h>

#include <cstddef>

namespace evio {

class OutBuffer {
  public:
    /// Buffers one send gathers at most: 11 chunks (64 B doubling to 64 KiB) hold any
    /// datagram, which must leave in one send.
    static constexpr int kMaxIov = 11;

    OutBuffer() = default;
    ~OutBuffer();
    OutBuffer(const OutBuffer &) = delete;
    OutBuffer &operator=(const OutBuffer &) = delete;

    bool empty() const { return size_ == 0; }
    size_t size() const { return size_; }
    /// Copies `n` bytes to the end.
    void append(const void *p, size_t n);
    /// Describes the bytes at the front in at most kMaxIov buffers; returns the count
    /// (0 when empty). The description lives in the buffer and stays valid until the next
    /// call.
    int gather(const iovec **iov);
    /// Drops `n` bytes from the front (they were sent).
    void consume(size_t n);
    /// Drops everything and frees the memory (the spare chunk too).
    void reset();

  private:
    struct Chunk {
        Chunk *next;
        size_t cap;  ///< bytes of data[]
        size_t head; ///< first unsent byte
        size_t tail; ///< end of the bytes
        char data[];
    };
    Chunk *new_chunk(size_t at_least);
    void release(Chunk *c);
    bool keeps_as_spare(const Chunk *c) const;

    Chunk *first_ = nullptr;
    Chunk *last_ = nullptr;
    Chunk *spare_ = nullptr;
    size_t size_ = 0;
    iovec one_{};          ///< the description of a single chunk (the common case)
    iovec *iov_ = nullptr; ///< kMaxIov entries, made on the first gather of several chunks
};

} // namespace evio
