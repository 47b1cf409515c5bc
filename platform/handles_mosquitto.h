// Owner of libmosquitto's client handle (see handles.h for the rule).
#pragma once

#include <mosquitto.h>

#include <memory>

namespace granary {

struct MosquittoDestroy {
  void operator()(mosquitto* m) const { mosquitto_destroy(m); }
};
using MosquittoPtr = std::unique_ptr<mosquitto, MosquittoDestroy>;

}  // namespace granary
