// Flow control and half-close, as the user asks for them through the C API.
#include "core/error.hpp"
#include "core/loop.hpp"

namespace evio {

int Loop::set_read_paused(Conn *c, bool paused) {
    c->user_paused = paused;
    update_reading(c);
    return 0;
}

int Loop::set_watermarks(Conn *c, size_t low, size_t high) {
    if (high == 0 || low > high)
        return fail(EVIO_EINVAL, "evio_conn_set_watermarks: want 0 < high and low <= high");
    c->low_watermark = low;
    c->high_watermark = high;
    update_reading(c);
    return 0;
}

int Loop::shutdown_write(Conn *c) {
    if (c->shut_write)
        return 0;
    c->shut_write = true;
    if (c->out.empty() && !c->sending && c != callback_conn_)
        after_output_left(c); // nothing pending: the sending side shuts down now
    else
        mark_dirty(c); // after the output (the callback's flush, or the dirty list's)
    return 0;
}

} // namespace evio
