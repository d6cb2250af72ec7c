// Datagrams: one `data` call per datagram, its output sent back as one datagram.
#include "core/loop.hpp"
#include "core/server.hpp"

namespace evio {

void Loop::on_datagram(UdpSocket &u, const Completion &done) {
    Conn &c = u.conn;
    c.remote.set(done.addr, done.addr_len);
    evio_action action = EVIO_NONE;
    if (callbacks_.data)
        action =
            checked_action(callbacks_.data(c_handle(&c), done.data, done.len, callbacks_.udata));
    if (!c.out.empty()) {
        if (callbacks_.prewrite)
            callbacks_.prewrite(c_handle(&c), callbacks_.udata);
        const iovec *iov;
        int n = c.out.gather(&iov);
        size_t gathered = 0;
        for (int i = 0; i < n; i++)
            gathered += iov[i].iov_len;
        // Best effort, as UDP is; a reply too large for one datagram is not sent at all
        // (the kernel would refuse it too) rather than cut short.
        if (gathered == c.out.size())
            engine_->send_to(u.io, iov, n, c.remote.get(), c.remote.len());
        c.out.consume(c.out.size());
    }
    if (action == EVIO_SHUTDOWN)
        server_.shutdown();
}

} // namespace evio
