// Owner of libmosquitto's client handle (see handles.h for the rule).
#pragma once

#include <mosquitto.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace granary {

struct MosquittoDestroy {
  void operator()(mosquitto* m) const { mosquitto_destroy(m); }
};
using MosquittoPtr = std::unique_ptr<mosquitto, MosquittoDestroy>;

// Why a libmosquitto call failed, in words; reads errno, so call it first.
inline std::string DescribeMosquittoError(int rc) {
  switch (rc) {
    case MOSQ_ERR_ERRNO:
      return std::strerror(errno);
    case MOSQ_ERR_EAI:
      return "cannot resolve the host name";
    case MOSQ_ERR_CONN_LOST:
      return "connection lost";
    case MOSQ_ERR_KEEPALIVE:
      return "no answer from the broker within the keepalive";
    case MOSQ_ERR_TLS:
      return "TLS failed";
    default:
      return mosquitto_strerror(rc);
  }
}

}  // namespace granary
