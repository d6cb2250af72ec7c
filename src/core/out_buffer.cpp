#include "core/out_buffer.hpp"

#include <cassert>
#include <cstdlib>
#include <cstring>
#include <new>

namespace evio {

namespace {
constexpr size_t kFirstChunk = 64; // a small reply fits; idle memory stays small
} // namespace

OutBuffer::~OutBuffer() {
    reset();
}

OutBuffer::Chunk *OutBuffer::new_chunk(size_t at_least) {
    if (spare_ != nullptr && spare_->cap >= at_least) {
        Chunk *c = spare_;
        spare_ = nullptr;
        c->next = nullptr;
        c->head = c->tail = 0;
        return c;
    }
    // Each chunk twice the last, up to kLargestChunk, and never smaller than the write.
    size_t cap = last_ ? last_->cap * 2 : kFirstChunk;
    if (cap > kLargestChunk)
        cap = kLargestChunk;
    if (cap < at_least)
        cap = at_least;
    void *mem = std::malloc(sizeof(Chunk) + cap);
    if (mem == nullptr)
        throw std::bad_alloc();
    auto *c = static_cast<Chunk *>(mem);
    c->next = nullptr;
    c->cap = cap;
    c->head = c->tail = 0;
    return c;
}

void OutBuffer::release(Chunk *c) {
    if (keeps_as_spare(c)) {
        spare_ = c;
        return;
    }
    std::free(c);
}

void OutBuffer::append_in_new_chunks(const void *p, size_t n) {
    const char *src = static_cast<const char *>(p);
    if (size_ == 0 && first_ != nullptr && first_->cap < n) {
        // The emptied chunk kept in place is too small for this write: one that holds it
        // instead (kept in its turn), rather than two chunks for every such write.
        std::free(first_);
        first_ = last_ = nullptr;
    }
    if (last_ != nullptr && last_->tail < last_->cap) {
        size_t room = last_->cap - last_->tail;
        size_t k = n < room ? n : room;
        std::memcpy(last_->data + last_->tail, src, k);
        last_->tail += k;
        size_ += k;
        src += k;
        n -= k;
    }
    if (n == 0)
        return;
    Chunk *c = new_chunk(n);
    std::memcpy(c->data, src, n);
    c->tail = n;
    if (last_)
        last_->next = c;
    else
        first_ = c;
    last_ = c;
    size_ += n;
}

int OutBuffer::gather_chunks(const iovec **iov) {
    if (iov_ == nullptr) {
        iov_ = static_cast<iovec *>(std::malloc(sizeof(iovec) * kMaxIov));
        if (iov_ == nullptr)
            throw std::bad_alloc();
    }
    int n = 0;
    for (Chunk *c = first_; c != nullptr && n < kMaxIov; c = c->next) {
        if (c->tail == c->head)
            continue;
        iov_[n].iov_base = c->data + c->head;
        iov_[n].iov_len = c->tail - c->head;
        n++;
    }
    *iov = iov_;
    return n;
}

void OutBuffer::consume_chunks(size_t n) {
    assert(n <= size_);
    size_ -= n;
    while (first_ != nullptr && n > 0) {
        size_t have = first_->tail - first_->head;
        if (n < have) {
            first_->head += n;
            return;
        }
        n -= have;
        if (first_ == last_ && keeps_as_spare(first_)) {
            first_->head = first_->tail = 0; // all sent: the next append fills it again
            return;
        }
        Chunk *done = first_;
        first_ = done->next;
        if (first_ == nullptr)
            last_ = nullptr;
        release(done);
    }
    if (size_ == 0 && first_ != nullptr) { // only an emptied last chunk is left: reuse it
        first_->head = first_->tail = 0;
    }
}

void OutBuffer::reset() {
    while (first_ != nullptr) {
        Chunk *c = first_;
        first_ = c->next;
        std::free(c);
    }
    last_ = nullptr;
    std::free(spare_);
    spare_ = nullptr;
    std::free(iov_);
    iov_ = nullptr;
    size_ = 0;
}

} // namespace evio
