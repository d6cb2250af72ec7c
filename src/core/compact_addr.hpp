// A socket address kept small: IPv4, IPv6 and unnamed unix peers inline (28 bytes, not a
// 128-byte sockaddr_storage per connection), a named unix address on the heap.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>

namespace evio {

class CompactAddr {
  public:
    void set(const sockaddr *sa, socklen_t len);
    bool known() const { return len_ != 0; }
    socklen_t len() const { return len_; }
    const sockaddr *get() const {
        return big_ ? reinterpret_cast<const sockaddr *>(big_.get()) : &inline_.sa;
    }
    /// Fills it with the local address of `fd` (getsockname); 0 or an EVIO_E… code.
    int load_local(int fd);

  private:
    union {
        sockaddr sa;
        sockaddr_in in4;
        sockaddr_in6 in6;
    } inline_{};
    std::unique_ptr<sockaddr_storage> big_;
    socklen_t len_ = 0;
};

} // namespace evio
