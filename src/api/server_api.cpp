// The C boundary of the server: evio_serve, the server handle, its accessors, posting
// to its loops. Check, cast, call one core method, map errors: no logic here.
#include <memory>

#include <evio.h>

#include "api/checks.hpp"
#include "core/address.hpp"
#include "core/input_stream.hpp"

using evio::Conn;
using evio::fail;
using namespace evio::api;

extern "C" {

EVIO_EXPORT int evio_serve(const evio_events *events, const char *const *addrs, size_t naddrs) {
    return guarded([&] {
        evio::Server server;
        return server.serve(events, addrs, naddrs);
    });
}

EVIO_EXPORT int evio_server_start(const evio_events *events, const char *const *addrs,
                                  size_t naddrs, evio_server **server) {
    if (server == nullptr)
        return fail(EVIO_EINVAL, "evio_server_start: server is NULL");
    return guarded([&] {
        auto s = std::make_unique<evio::Server>();
        if (int rc = s->start(events, addrs, naddrs))
            return rc;
        *server = reinterpret_cast<evio_server *>(s.release());
        return 0;
    });
}

EVIO_EXPORT int evio_server_stop(evio_server *server, int64_t drain_ns) {
    // Async-signal-safe: no message is recorded (that would allocate).
    evio::Server *s = as_server(server);
    if (s == nullptr || drain_ns < 0)
        return EVIO_EINVAL;
    s->stop(drain_ns);
    return 0;
}

EVIO_EXPORT int evio_server_wait(evio_server *server) {
    evio::Server *s = as_server(server);
    if (s == nullptr)
        return fail(EVIO_EINVAL, "evio_server_wait: not a live evio_server");
    if (s->on_own_loop())
        return fail(EVIO_EPERM, "evio_server_wait: called on one of the server's own loops");
    return guarded([&] { return s->wait(); });
}

EVIO_EXPORT void evio_server_free(evio_server *server) {
    evio::Server *s = as_server(server);
    if (s == nullptr || s->on_own_loop())
        return;
    guarded([&] {
        s->stop(0);
        s->wait();
        s->magic = 0;
        delete s;
        return 0;
    });
}

EVIO_EXPORT int evio_server_num_addrs(const evio_server *server) {
    const evio::Server *s = as_server(server);
    if (s == nullptr)
        return fail(EVIO_EINVAL, "evio_server_num_addrs: NULL or freed server");
    return s->num_addrs();
}

EVIO_EXPORT int evio_server_num_loops(const evio_server *server) {
    const evio::Server *s = as_server(server);
    if (s == nullptr)
        return fail(EVIO_EINVAL, "evio_server_num_loops: NULL or freed server");
    return s->num_loops();
}

EVIO_EXPORT const char *evio_server_engine(const evio_server *server) {
    const evio::Server *s = as_server(server);
    return s ? s->engine_name() : nullptr;
}

EVIO_EXPORT const struct sockaddr *evio_server_addr(const evio_server *server, int index,
                                                    socklen_t *len) {
    const evio::Server *s = as_server(server);
    return s ? s->addr(index, len) : nullptr;
}

EVIO_EXPORT int evio_server_addr_string(const evio_server *server, int index, char *buf,
                                        size_t buflen) {
    const evio::Server *s = as_server(server);
    if (s == nullptr)
        return fail(EVIO_EINVAL, "evio_server_addr_string: NULL or freed server");
    return guarded([&] { return s->addr_string(index, buf, buflen); });
}

EVIO_EXPORT int evio_server_post(evio_server *server, int loop, evio_loop_fn fn, void *arg) {
    evio::Server *s = as_server(server);
    if (s == nullptr || fn == nullptr)
        return fail(EVIO_EINVAL, "evio_server_post: NULL or freed server, or NULL fn");
    evio::Loop *l = s->loop(loop);
    if (l == nullptr)
        return fail(EVIO_EINVAL, "evio_server_post: no loop " + std::to_string(loop));
    return guarded([&] {
        evio::Work w{evio::Work::Kind::LoopFn, nullptr, 0, 0, nullptr, fn, arg};
        if (!l->mailbox().post_work(w))
            return fail(EVIO_ENOTCONN, "evio_server_post: the server has stopped");
        return 0;
    });
}

} // extern "C"
