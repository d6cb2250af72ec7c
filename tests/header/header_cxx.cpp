// The public header compiles as C++ (-std=c++11 -pedantic-errors -Wall -Wextra -Werror),
// its declarations have C linkage, and its initialiser macros work there.
#include <evio.h>

#include <cstdio>
#include <cstring>

static evio_action on_serving(evio_server *srv, void *udata) {
    *static_cast<int *>(udata) = evio_server_num_addrs(srv);
    return EVIO_SHUTDOWN;
}

int main() {
    evio_events ev = EVIO_EVENTS_INIT;
    evio_input_stream is = EVIO_INPUT_STREAM_INIT;
    if (ev.size != sizeof(evio_events) || is.buf != nullptr) {
        std::fprintf(stderr, "initialiser macros broken in C++\n");
        return 1;
    }
    if (evio_version() != EVIO_VERSION) {
        std::fprintf(stderr, "version mismatch\n");
        return 1;
    }
    int naddrs = -1;
    ev.udata = &naddrs;
    ev.serving = on_serving;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    int r = evio_serve(&ev, addrs, 1);
    if (r != 0 || naddrs != 1) {
        std::fprintf(stderr, "evio_serve from C++: %d (%s), naddrs %d\n", r, evio_last_error(),
                     naddrs);
        return 1;
    }
    return 0;
}
