// A source polls one piece of local hardware or software and returns readings.
// Adding a source type = one file in agent/sources/ plus one line in registry.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/reader.h"
#include "platform/result.h"

namespace granary {

struct SourceReading {
  int64_t ts_ms = 0;      // 0: stamped with the agent's wall clock at the poll
  std::string data_json;  // one JSON object, compact: the reading's "data"
};

class Source {
 public:
  virtual ~Source() = default;
  // Polls once. Called from the source's own scheduler thread, never concurrently with
  // itself. Must honour `timeout` where it can (network, child processes); a poll that
  // overruns only delays this source. Errors say what failed and quote at most 256 bytes
  // of any raw reply.
  virtual Result<std::vector<SourceReading>> Poll(std::chrono::milliseconds timeout) = 0;
};

struct SourceType {
  std::string_view name;
  // Reads the type's own keys from `reader` (errors go into it; the common keys name,
  // type, interval and timeout are already consumed) and builds the source. May return
  // nullptr only when it reported an error.
  std::unique_ptr<Source> (*create)(ConfigReader& reader);
};

// The source's `interval`, for a type whose behaviour depends on it. It is a common key the
// config loader has already validated; an unparsable one has been reported there, so this
// returns the loader's default, 10 s, for it.
std::chrono::milliseconds SourceInterval(const ConfigReader& reader);

// All registered types.
const std::vector<SourceType>& SourceTypes();
const SourceType* FindSourceType(std::string_view name);

}  // namespace granary
