// The text form of a socket address, as evio_addr_string and the "serving on" messages
// show it: "1.2.3.4:5", "[::1]:5", "/path".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include <evio.h>

#include "core/address.hpp"

namespace evio {

int format_address(const sockaddr *sa, socklen_t len, char *buf, size_t buflen) noexcept {
    if (sa == nullptr || (buf == nullptr && buflen > 0) ||
        len < static_cast<socklen_t>(sizeof(sa_family_t))) // too short to hold its family
        return EVIO_EINVAL;
    char host[INET6_ADDRSTRLEN];
    int n;
    if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        auto *sin = reinterpret_cast<const sockaddr_in *>(sa);
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
        n = std::snprintf(buf, buflen, "%s:%u", host, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        auto *sin6 = reinterpret_cast<const sockaddr_in6 *>(sa);
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
        n = std::snprintf(buf, buflen, "[%s]:%u", host, ntohs(sin6->sin6_port));
    } else if (sa->sa_family == AF_UNIX) {
        auto *un = reinterpret_cast<const sockaddr_un *>(sa);
        size_t off = offsetof(sockaddr_un, sun_path);
        size_t plen = len > static_cast<socklen_t>(off) ? static_cast<size_t>(len) - off : 0;
        plen = strnlen(un->sun_path, std::min(plen, sizeof un->sun_path));
        n = std::snprintf(buf, buflen, "%.*s", static_cast<int>(plen), un->sun_path);
    } else {
        return EVIO_EINVAL;
    }
    return n < 0 ? EVIO_EINVAL : n;
}

} // namespace evio
