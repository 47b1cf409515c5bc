// A compact run as a damaged page may hold it: any bytes decode or fail with an error,
// never read out of bounds; what decodes encodes again (canonically) to a run that
// decodes to the same readings.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "storage/run_codec.h"

namespace {

constexpr uint64_t kFirstSeq = 7;
constexpr int64_t kFirstTs = 1'732'284'000'000;

struct Decoded {
  bool ok = false;
  std::vector<granary::CompactRunReader::Item> items;
};

Decoded Decode(std::string_view run, uint64_t count) {
  Decoded d;
  granary::CompactRunReader reader(run, kFirstSeq, kFirstTs, count);
  granary::CompactRunReader::Item item;
  while (reader.Next(&item)) {
    if (item.data_json.data() < run.data() ||
        item.data_json.data() + item.data_json.size() > run.data() + run.size()) {
      std::abort();
    }
    d.items.push_back(item);
  }
  d.ok = static_cast<bool>(reader.status());
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The first byte is the count the run's row claims, the rest the run.
  if (size < 1) return 0;
  const uint64_t count = data[0];
  Decoded first =
      Decode(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1), count);
  if (!first.ok) return 0;
  if (first.items.size() != count) std::abort();
  std::string again;
  int64_t prev = kFirstTs;
  for (const auto& item : first.items) {
    granary::AppendCompactReading(again, prev, item.ts_ms, item.clock_ok, item.data_json);
    prev = item.ts_ms;
  }
  Decoded second = Decode(again, count);
  if (!second.ok || second.items.size() != count) std::abort();
  for (size_t i = 0; i < count; ++i) {
    const auto& a = first.items[i];
    const auto& b = second.items[i];
    if (a.seq != kFirstSeq + i || a.seq != b.seq || a.ts_ms != b.ts_ms ||
        a.clock_ok != b.clock_ok || a.data_json != b.data_json) {
      std::abort();
    }
  }
  return 0;
}
