#include "core/compact_addr.hpp"

#include <cstring>

#include "core/error.hpp"
#include "os/socket.hpp"

namespace evio {

void CompactAddr::set(const sockaddr *sa, socklen_t len) {
    if (len <= sizeof inline_) {
        big_.reset();
        std::memcpy(&inline_, sa, len);
    } else {
        if (!big_)
            big_ = std::make_unique<sockaddr_storage>();
        std::memcpy(big_.get(), sa, len < sizeof *big_ ? len : sizeof *big_);
    }
    len_ = len;
}

int CompactAddr::load_local(int fd) {
    sockaddr_storage ss{};
    socklen_t sl = 0;
    if (int rc = os::local_address(fd, &ss, &sl))
        return from_errno(-rc);
    set(reinterpret_cast<const sockaddr *>(&ss), sl);
    return 0;
}

} // namespace evio
