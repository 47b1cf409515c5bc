// A reading as the buffer stores it. `seq` is assigned by the buffer at commit.
#pragma once

#include <cstdint>
#include <string>

namespace granary {

struct Reading {
  std::string source;
  int64_t ts_ms = 0;      // ms since the Unix epoch, UTC, from the agent's wall clock
  bool clock_ok = true;   // false while the wall clock was not synchronized
  std::string data_json;  // compact JSON object
};

}  // namespace granary
