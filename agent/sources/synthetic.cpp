// type = "synthetic": generated readings for demos and benchmarks. Deterministic: each poll
// yields max(1, rate × interval) readings whose data is {"n":counter,"v":wave,"pad":"x…"},
// padded so the data object is payload_bytes long where that is possible.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "agent/sources/source.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

constexpr uint64_t kMaxPayloadBytes = 1ULL << 20;
// One poll's readings are held in memory at once; these bounds keep a typo in `rate`
// from exhausting a small device.
constexpr int64_t kMaxReadingsPerPoll = 1'000'000;
constexpr uint64_t kMaxBytesPerPoll = 256ULL << 20;

class SyntheticSource : public Source {
 public:
  SyntheticSource(int64_t per_poll, uint64_t payload_bytes)
      : per_poll_(per_poll), payload_bytes_(payload_bytes), pad_(payload_bytes, 'x') {}

  Result<std::vector<SourceReading>> Poll(milliseconds /*timeout*/) override {
    std::vector<SourceReading> readings;
    readings.reserve(static_cast<size_t>(per_poll_));
    for (int64_t i = 0; i < per_poll_; ++i) readings.push_back({0, Render(next_n_++)});
    return readings;
  }

 private:
  std::string Render(uint64_t n) const {
    // A slow sine, so plots of demo data look like a signal rather than noise.
    double v = std::round(1000.0 * (20.0 + 5.0 * std::sin(static_cast<double>(n) / 50.0))) / 1000.0;
    std::string json = fmt::format(R"({{"n":{},"v":{},"pad":")", n, v);
    size_t closing = 2;  // "}
    size_t used = json.size() + closing;
    size_t pad = payload_bytes_ > used ? payload_bytes_ - used : 0;
    json.append(pad_, 0, pad);
    json += "\"}";
    return json;
  }

  const int64_t per_poll_;
  const uint64_t payload_bytes_;
  const std::string pad_;
  uint64_t next_n_ = 0;
};

std::unique_ptr<Source> CreateSynthetic(ConfigReader& reader) {
  int64_t rate = reader.Integer("rate", 1, 1, 1'000'000);
  uint64_t payload_bytes = reader.Size("payload_bytes", 100, 0);
  if (payload_bytes > kMaxPayloadBytes) {
    reader.Fail("payload_bytes", "must be at most 1MiB");
    payload_bytes = kMaxPayloadBytes;
  }
  int64_t interval_ms = SourceInterval(reader).count();
  // rate <= 1e6, so only an absurd interval could overflow the product.
  int64_t per_poll = interval_ms > std::numeric_limits<int64_t>::max() / rate
                         ? std::numeric_limits<int64_t>::max()
                         : std::max<int64_t>(1, rate * interval_ms / 1000);
  if (per_poll > kMaxReadingsPerPoll) {
    reader.Fail("rate", fmt::format("rate × interval must be at most {} readings per poll (got {})",
                                    kMaxReadingsPerPoll, per_poll));
    return nullptr;
  }
  if (static_cast<uint64_t>(per_poll) * std::max<uint64_t>(payload_bytes, 32) > kMaxBytesPerPoll) {
    reader.Fail("payload_bytes", "rate × interval × payload_bytes must be at most 256MiB per poll");
    return nullptr;
  }
  return std::make_unique<SyntheticSource>(per_poll, payload_bytes);
}

}  // namespace

extern const SourceType kSyntheticSourceType{"synthetic", &CreateSynthetic};

}  // namespace granary
