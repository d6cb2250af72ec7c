/*
 * fuzz_check.h — what the fuzz targets share besides reading their input (fuzz_bytes.h):
 * CHECK, which aborts with the place and the condition (libFuzzer then keeps the input),
 * and a growable byte string for describing what a parser produced.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef EVIO_FUZZ_CHECK_H
#define EVIO_FUZZ_CHECK_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A growable byte string (free p when done). */
typedef struct {
    unsigned char *p;
    size_t len, cap;
} bytes;

static inline void bytes_add(bytes *b, const void *d, size_t n) {
    if (n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        CHECK(b->p != NULL);
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

#endif
