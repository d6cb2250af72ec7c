// Platforms without a native engine (no epoll, no kqueue): "native" is the std engine.
#include "engine/poller.hpp"

namespace evio {

std::unique_ptr<Poller> make_native_poller(int &err) {
    return make_std_poller(err);
}

} // namespace evio
