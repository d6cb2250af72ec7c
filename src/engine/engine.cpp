// Engine choice: today every engine is a readiness poller behind the adaptor; a
// completion engine (io_uring) will be chosen here too.
#include "engine/engine.hpp"

#include "engine/poller.hpp"
#include "engine/readiness.hpp"

namespace evio {

std::unique_ptr<Engine> make_engine(EngineKind kind, int &err) {
    auto poller = kind == EngineKind::Std ? make_std_poller(err) : make_native_poller(err);
    if (!poller)
        return nullptr;
    return std::make_unique<ReadinessEngine>(std::move(poller));
}

} // namespace evio
