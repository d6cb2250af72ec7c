#include "core/balancer.hpp"

#include <netinet/in.h>

#include <climits>
#include <cstring>

#include "core/loop.hpp"

namespace evio {

namespace {

/// FNV-1a over the IP address only (not the port), so every connection of one client
/// host lands on the same loop; a unix peer (no address) hashes to 0.
uint64_t hash_host(const sockaddr *peer, socklen_t len) {
    const unsigned char *p = nullptr;
    size_t n = 0;
    if (peer && peer->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
        p = reinterpret_cast<const unsigned char *>(
            &reinterpret_cast<const sockaddr_in *>(peer)->sin_addr);
        n = sizeof(in_addr);
    } else if (peer && peer->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
        p = reinterpret_cast<const unsigned char *>(
            &reinterpret_cast<const sockaddr_in6 *>(peer)->sin6_addr);
        n = sizeof(in6_addr);
    }
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h ^ (h >> 32);
}

} // namespace

void Balancer::init(evio_load_balance mode, uint64_t seed) {
    mode_ = mode;
    rand_state_ = seed | 1;
}

size_t Balancer::least_loaded(const std::vector<std::unique_ptr<Loop>> &loops) const {
    size_t best = 0;
    int least = INT_MAX;
    for (size_t i = 0; i < loops.size(); i++) {
        int load = loops[i]->load().load(std::memory_order_relaxed);
        if (load < least) {
            least = load;
            best = i;
        }
    }
    return best;
}

size_t Balancer::random(size_t n) {
    // xorshift64*: cheap, good enough to spread connections.
    uint64_t x = rand_state_;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rand_state_ = x;
    return (x * 0x2545F4914F6CDD1DULL >> 33) % n;
}

Loop &Balancer::pick(const std::vector<std::unique_ptr<Loop>> &loops, const sockaddr *peer,
                     socklen_t peer_len) {
    const size_t n = loops.size();
    if (n == 1)
        return *loops[0];
    switch (mode_) {
    case EVIO_LB_ROUND_ROBIN:
        return *loops[next_++ % n];
    case EVIO_LB_LEAST_CONNECTIONS:
        return *loops[least_loaded(loops)];
    case EVIO_LB_SOURCE_HASH:
        return *loops[hash_host(peer, peer_len) % n];
    default:
        return *loops[random(n)];
    }
}

} // namespace evio
