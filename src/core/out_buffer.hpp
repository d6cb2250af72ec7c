// Output bytes waiting for the socket: a list of chunks. Bytes never move once appended,
// so a send in flight (which points at them) stays valid while more is appended
// (engine rule 5). Keeps one spare chunk, so a connection that writes a little at a time
// allocates nothing per request in steady state.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstring>

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

    /// Chunks grow to this size; an emptied one up to it is kept for the next writes.
    static constexpr size_t kLargestChunk = 64 << 10;

    bool empty() const { return size_ == 0; }
    size_t size() const { return size_; }

    // The three calls of every request/response have their common case inline (one chunk
    // that holds the reply); the rest is in out_buffer.cpp.

    /// Copies `n` bytes to the end.
    void append(const void *p, size_t n) {
        if (n == 0)
            return; // (p may be null then)
        if (last_ != nullptr && last_->cap - last_->tail >= n) {
            std::memcpy(last_->data + last_->tail, p, n);
            last_->tail += n;
            size_ += n;
            return;
        }
        append_in_new_chunks(p, n);
    }
    /// Describes the bytes at the front in at most kMaxIov buffers; returns the count
    /// (0 when empty). The description lives in the buffer and stays valid until the next
    /// call.
    int gather(const iovec **iov) {
        if (first_ != last_)
            return gather_chunks(iov);
        *iov = &one_; // one chunk (or none), described inline: no array
        if (size_ == 0)
            return 0;
        one_.iov_base = first_->data + first_->head;
        one_.iov_len = size_;
        return 1;
    }
    /// Drops `n` bytes from the front (they were sent).
    void consume(size_t n) {
        if (first_ != nullptr && first_ == last_ && n == size_ && keeps_as_spare(first_)) {
            first_->head = first_->tail = 0; // all sent: the next append fills it again
            size_ = 0;
            return;
        }
        consume_chunks(n);
    }
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
    /// Whether an emptied chunk would be kept as the spare (so it may stay in place).
    bool keeps_as_spare(const Chunk *c) const {
        return spare_ == nullptr && c->cap <= kLargestChunk;
    }
    void append_in_new_chunks(const void *p, size_t n);
    int gather_chunks(const iovec **iov);
    void consume_chunks(size_t n);

    Chunk *first_ = nullptr;
    Chunk *last_ = nullptr;
    Chunk *spare_ = nullptr;
    size_t size_ = 0;
    iovec one_{};          ///< the description of a single chunk (the common case)
    iovec *iov_ = nullptr; ///< kMaxIov entries, made on the first gather of several chunks
};

} // namespace evio
