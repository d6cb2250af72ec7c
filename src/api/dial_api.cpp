// The C boundary of outbound connections: check, parse, then one core call.
#include <string>

#include "api/checks.hpp"
#include "core/address.hpp"

using namespace evio::api;

namespace {

/// The options' timeout, checked: 0 or an EVIO_E… code.
int read_options(const evio_dial_options *options, const char *fn, int64_t &timeout_ns) {
    timeout_ns = 0;
    if (options == nullptr)
        return 0;
    constexpr size_t kV1Size = sizeof(size_t) + sizeof(int64_t);
    if (options->size < kV1Size)
        return refuse(EVIO_EINVAL, fn, "options->size is too small (use EVIO_DIAL_OPTIONS_INIT)");
    if (options->timeout_ns < 0)
        return refuse(EVIO_EINVAL, fn, "negative timeout_ns");
    timeout_ns = options->timeout_ns;
    return 0;
}

int parse(const char *addr, const char *fn, evio::ListenSpec &spec) {
    if (addr == nullptr)
        return refuse(EVIO_EINVAL, fn, "addr is NULL");
    return evio::parse_address(addr, spec, evio::Purpose::Dial);
}

} // namespace

extern "C" {

EVIO_EXPORT int evio_dial(const char *addr, const evio_dial_options *options, void *ctx) {
    evio::Loop *loop = evio::Loop::on_this_thread();
    if (loop == nullptr)
        return refuse(EVIO_EPERM, "evio_dial", "not on a loop thread (see evio_server_dial)");
    return guarded([&] {
        int64_t timeout_ns = 0;
        if (int rc = read_options(options, "evio_dial", timeout_ns))
            return rc;
        evio::ListenSpec spec;
        if (int rc = parse(addr, "evio_dial", spec))
            return rc;
        return loop->dial(spec, ctx, timeout_ns);
    });
}

EVIO_EXPORT int evio_server_dial(evio_server *server, int loop, const char *addr,
                                 const evio_dial_options *options, void *ctx) {
    evio::Server *s = as_server(server);
    if (s == nullptr)
        return refuse(EVIO_EINVAL, "evio_server_dial", "NULL or freed server");
    return guarded([&] {
        int64_t timeout_ns = 0;
        if (int rc = read_options(options, "evio_server_dial", timeout_ns))
            return rc;
        evio::ListenSpec spec;
        if (int rc = parse(addr, "evio_server_dial", spec))
            return rc;
        evio::Loop *target = s->dial_loop(loop);
        if (target == nullptr)
            return fail(EVIO_EINVAL, "evio_server_dial: no loop " + std::to_string(loop));
        if (target == evio::Loop::on_this_thread())
            return target->dial(spec, ctx, timeout_ns);
        if (s->stopping() || s->draining())
            return refuse(EVIO_ENOTCONN, "evio_server_dial", "the server is stopping");
        evio::Work w{evio::Work::Kind::Dial, nullptr, 0, 0, nullptr, nullptr, ctx};
        w.timeout_ns = timeout_ns;
        if (!target->mailbox().post_work_with_bytes(w, addr, spec.original.size()))
            return refuse(EVIO_ENOTCONN, "evio_server_dial", "the server has stopped");
        return 0;
    });
}

} // extern "C"
