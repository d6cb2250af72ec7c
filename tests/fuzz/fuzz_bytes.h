/*
 * fuzz_bytes.h — reading a fuzzer's input as choices and data (as libFuzzer's
 * FuzzedDataProvider does, in C): numbers are taken from the end of the input, bytes from
 * the front, so the two do not disturb each other when the fuzzer mutates one of them.
 * An exhausted input gives zeros and empty byte runs, never an error.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef EVIO_FUZZ_BYTES_H
#define EVIO_FUZZ_BYTES_H

#include <stddef.h>
#include <stdint.h>

typedef struct fuzz_bytes {
    const uint8_t *p;
    size_t n;
} fuzz_bytes;

/* One byte of choice from the end (0 once the input is used up). */
static inline uint8_t fuzz_u8(fuzz_bytes *b) {
    if (b->n == 0)
        return 0;
    b->n--;
    return b->p[b->n];
}

/* A number in [0, n) from as many choice bytes as n needs (n > 0). */
static inline size_t fuzz_below(fuzz_bytes *b, size_t n) {
    size_t v = 0;
    for (size_t range = n - 1; range != 0; range >>= 8)
        v = (v << 8) | fuzz_u8(b);
    return v % n;
}

/* Up to `want` bytes of data from the front; returns how many *out points to. */
static inline size_t fuzz_take(fuzz_bytes *b, size_t want, const uint8_t **out) {
    size_t k = want < b->n ? want : b->n;
    *out = b->p;
    b->p += k;
    b->n -= k;
    return k;
}

/* A small PRNG (splitmix64) for many choices derived from a few input bytes, e.g. the
 * split points of a stream whose bytes are all data. */
static inline uint64_t fuzz_mix(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#endif
