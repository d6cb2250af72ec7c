// Internals: the output chunk list (src/core/out_buffer.*), driven directly.
//
// - Bytes come out in order across many chunks, whatever the append and consume sizes.
// - Appending never moves bytes already gathered for a send (engine rule 5): the iovec
//   taken before an append still points at the same, unchanged bytes after it.
// - A connection that writes a little at a time reuses its chunk (same memory); a reply
//   larger than the chunk kept gets one chunk that holds it; gather() never offers more
//   than kMaxIov buffers.
#include <cstdint>
#include <cstring>
#include <vector>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

extern "C" { // cmocka.h has no C++ guard of its own
#include <cmocka.h>
}

#include "core/out_buffer.hpp"

using evio::OutBuffer;

namespace {

uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
uint64_t rnd(uint64_t n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state % n;
}

/// Takes up to `max` bytes from the front through gather(), as a send would.
size_t drain(OutBuffer &b, std::vector<unsigned char> &got, size_t max) {
    const iovec *iov;
    int n = b.gather(&iov);
    assert_true(n <= OutBuffer::kMaxIov);
    size_t taken = 0;
    for (int i = 0; i < n && taken < max; i++) {
        size_t k = iov[i].iov_len < max - taken ? iov[i].iov_len : max - taken;
        const auto *p = static_cast<const unsigned char *>(iov[i].iov_base);
        got.insert(got.end(), p, p + k);
        taken += k;
    }
    b.consume(taken);
    return taken;
}

void test_order_across_chunks(void **) {
    OutBuffer b;
    std::vector<unsigned char> want, got;
    for (int round = 0; round < 2000; round++) {
        size_t n = rnd(10) == 0 ? rnd(200000) : rnd(700);
        std::vector<unsigned char> chunk(n);
        for (auto &c : chunk)
            c = static_cast<unsigned char>(rnd(256));
        b.append(chunk.data(), n);
        want.insert(want.end(), chunk.begin(), chunk.end());
        assert_int_equal(b.size(), want.size() - got.size());
        if (rnd(3) == 0)
            drain(b, got, rnd(300000));
    }
    while (!b.empty())
        drain(b, got, SIZE_MAX);
    assert_int_equal(got.size(), want.size());
    assert_memory_equal(got.data(), want.data(), want.size());
}

void test_append_never_moves_gathered_bytes(void **) {
    OutBuffer b;
    std::vector<unsigned char> first(300, 'a');
    b.append(first.data(), first.size());
    const iovec *iov;
    int n = b.gather(&iov);
    assert_int_equal(n, 1);
    const void *base = iov[0].iov_base;
    size_t len = iov[0].iov_len;
    for (int i = 0; i < 100; i++) { // a send is in flight while the loop appends more
        std::vector<unsigned char> more(777, static_cast<unsigned char>('b' + i % 20));
        b.append(more.data(), more.size());
    }
    std::vector<unsigned char> still(static_cast<const unsigned char *>(base),
                                     static_cast<const unsigned char *>(base) + len);
    assert_int_equal(len, 300);
    assert_memory_equal(still.data(), first.data(), 300);
    b.consume(len);
    assert_int_equal(b.size(), 100u * 777u);
}

void test_small_writes_reuse_memory(void **) {
    OutBuffer b;
    b.append("hello", 5);
    const iovec *iov;
    b.gather(&iov);
    const void *at = iov[0].iov_base;
    for (int i = 0; i < 1000; i++) {
        b.consume(b.size());
        assert_true(b.empty());
        b.append("hello", 5);
        b.gather(&iov);
        assert_ptr_equal(iov[0].iov_base, at); // the same chunk, not a new allocation
    }
    b.reset();
    assert_true(b.empty());
    assert_int_equal(b.gather(&iov), 0);
}

void test_larger_reply_gets_one_chunk(void **) {
    // The emptied chunk stays in place; a reply larger than it replaces it with one that
    // holds the reply (one buffer to send, not two), which is then reused in its turn.
    OutBuffer b;
    std::vector<unsigned char> small(5, 's'), large(1000, 'L');
    b.append(small.data(), small.size());
    b.consume(b.size());
    const iovec *iov;
    const void *at = nullptr;
    for (int i = 0; i < 100; i++) {
        b.append(large.data(), large.size());
        assert_int_equal(b.gather(&iov), 1);
        assert_int_equal(iov[0].iov_len, large.size());
        assert_memory_equal(iov[0].iov_base, large.data(), large.size());
        if (i == 0)
            at = iov[0].iov_base;
        assert_ptr_equal(iov[0].iov_base, at);
        b.consume(b.size());
        b.append(small.data(), small.size()); // a smaller one fits the kept chunk
        assert_int_equal(b.gather(&iov), 1);
        assert_ptr_equal(iov[0].iov_base, at);
        b.consume(b.size());
    }
}

void test_gather_is_bounded(void **) {
    OutBuffer b;
    std::vector<unsigned char> big(64 << 10, 'x');
    for (int i = 0; i < 40; i++)
        b.append(big.data(), big.size());
    const iovec *iov;
    int n = b.gather(&iov);
    assert_int_equal(n, OutBuffer::kMaxIov);
    size_t sum = 0;
    for (int i = 0; i < n; i++)
        sum += iov[i].iov_len;
    assert_true(sum > 0 && sum < b.size());
}

} // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_across_chunks),
        cmocka_unit_test(test_append_never_moves_gathered_bytes),
        cmocka_unit_test(test_small_writes_reuse_memory),
        cmocka_unit_test(test_larger_reply_gets_one_chunk),
        cmocka_unit_test(test_gather_is_bounded),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
