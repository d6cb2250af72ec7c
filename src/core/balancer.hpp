// Which loop a new connection goes to (evio_events.load_balance).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <vector>

#include <evio.h>

namespace evio {

class Loop;

class Balancer {
  public:
    void init(evio_load_balance mode, uint64_t seed);
    /// Accepting thread only. `peer` is the new connection's remote address.
    Loop &pick(const std::vector<std::unique_ptr<Loop>> &loops, const sockaddr *peer,
               socklen_t peer_len);

  private:
    size_t least_loaded(const std::vector<std::unique_ptr<Loop>> &loops) const;
    size_t random(size_t n);

    evio_load_balance mode_ = EVIO_LB_RANDOM;
    uint64_t next_ = 0;       ///< round robin
    uint64_t rand_state_ = 1; ///< xorshift64*
};

} // namespace evio
