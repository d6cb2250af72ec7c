// evio's InputStream helper (evio_input_stream_*), behind the C API.
#pragma once

#include <cstddef>

#include <evio.h>

namespace evio {
int input_stream_begin(evio_input_stream *is, const void *in, size_t len, const void **data,
                       size_t *data_len);
int input_stream_end(evio_input_stream *is, const void *rest, size_t rest_len);
void input_stream_free(evio_input_stream *is);
} // namespace evio
