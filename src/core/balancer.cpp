#include "core/balancer.hpp"

#include <climits>

#include "core/loop.hpp"

namespace evio {

void Balancer::init(evio_load_balance mode, uint64_t seed) {
    mode_ = mode;
    rand_state_ = seed | 1;
}

Loop &Balancer::pick(const std::vector<std::unique_ptr<Loop>> &loops) {
    const size_t n = loops.size();
    if (n == 1)
        return *loops[0];
    switch (mode_) {
    case EVIO_LB_ROUND_ROBIN:
        return *loops[next_++ % n];
    case EVIO_LB_LEAST_CONNECTIONS: {
        size_t best = 0;
        int least = INT_MAX;
        for (size_t i = 0; i < n; i++) {
            int load = loops[i]->load().load(std::memory_order_relaxed);
            if (load < least) {
                least = load;
                best = i;
            }
        }
        return *loops[best];
    }
    default: {
        // xorshift64*: cheap, good enough to spread connections.
        uint64_t x = rand_state_;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        rand_state_ = x;
        return *loops[(x * 0x2545F4914F6CDD1DULL >> 33) % n];
    }
    }
}

} // namespace evio
