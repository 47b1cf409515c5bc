// LoadConfig over arbitrary file contents: never crashes; every accepted config renders
// to an effective config that loads again.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "agent/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/granary-fuzz-config-" + std::to_string(getpid()) + ".toml";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto config = granary::LoadConfig(path);
  if (config) {
    std::string effective = granary::RenderEffectiveConfig(*config);
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << effective;
    }
    if (!granary::LoadConfig(path)) std::abort();
  }
  return 0;
}
