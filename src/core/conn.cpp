#include "core/conn.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "core/error.hpp"

namespace evio {

int CompactAddr::load_local(int fd) {
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &sl) != 0)
        return -errno;
    set(reinterpret_cast<const sockaddr *>(&ss), sl);
    return 0;
}

void Conn::unref() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        magic = kDead;
        delete this;
    }
}

} // namespace evio
