// Segments and metadata for the receiver's unit tests.
#pragma once

#include <fmt/format.h>
#include <zlib.h>

#include <fstream>
#include <string>

#include "receiver/object_store.h"

namespace granary::receiver::testing {

// Lines of seqs [first, last] for device/source, one per second from `ts0`.
inline std::string SegmentLines(const std::string& device, const std::string& source,
                                uint64_t first, uint64_t last, int64_t ts0 = 1732284000000) {
  std::string out;
  for (uint64_t s = first; s <= last; ++s) {
    out += fmt::format(R"({{"device":"{}","source":"{}","seq":{},"ts":{},"data":{{"v":{}}}}})"
                       "\n",
                       device, source, s, ts0 + static_cast<int64_t>(s) * 1000, s);
  }
  return out;
}

inline std::string Gzip(const std::string& text) {
  std::string out(compressBound(static_cast<uLong>(text.size())) + 64, '\0');
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// The metadata the agent sends for a segment of [first, last].
inline ObjectMeta SegmentMeta(const std::string& key, const std::string& device,
                              const std::string& source, uint64_t first, uint64_t last,
                              const std::string& body) {
  ObjectMeta m;
  m.bucket = "granary";
  m.key = key;
  m.device = device;
  m.size = body.size();
  m.md5_hex = Md5Hex(body);
  m.sha256_hex = Sha256Hex(body);
  m.user_metadata = {{"granary-device", device},
                     {"granary-source", source},
                     {"granary-first-seq", std::to_string(first)},
                     {"granary-last-seq", std::to_string(last)},
                     {"granary-count", std::to_string(last - first + 1)},
                     {"granary-format", "jsonl.gz/1"}};
  return m;
}

inline std::string SegmentKey(const std::string& device, const std::string& source,
                              uint64_t first) {
  return fmt::format("granary/{0}/{1}/2024/11/22/{0}-{1}-20241122T14-{2}.jsonl.gz", device, source,
                     first);
}

}  // namespace granary::receiver::testing
