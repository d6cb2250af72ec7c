#include "core/conn.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "core/error.hpp"

namespace evio {

void Conn::unref() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        magic = kDead;
        delete this;
    }
}

} // namespace evio
