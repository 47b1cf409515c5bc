// Coverage by the clock: which hours of a window a source's readings are in, which hours
// fall in a hole of its seq coverage (missing, or tombstoned with the reason) and which
// hours nothing is known of. Seq coverage (Index::Coverage) proves completeness; this maps
// it to time for people looking at a day. Used by GET /api/v1/devices/{id}/coverage/hours.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "receiver/index.h"

namespace granary::receiver {

inline constexpr int64_t kHourMs = 3600 * 1000;

enum class HourState { kNone, kPresent, kTombstoned, kMissing };

struct HourCell {
  int64_t start_ms = 0;
  HourState state = HourState::kNone;
  std::string reason;  // tombstoned: the tombstones' reasons; missing: what part was explained
};

// `hours` cells from `from_ms`. `segments` in seq order, `gaps` as Index::Coverage gives
// them. An hour with a reading in it is present, even if a hole also starts or ends in it;
// an hour entirely inside the time between the segments on either side of a seq hole is
// tombstoned when tombstones explain the whole hole, else missing. Holes before the first
// segment or after the last have no time and mark nothing.
std::vector<HourCell> HourlyCoverage(const std::vector<SegmentRow>& segments,
                                     const std::vector<Gap>& gaps, int64_t from_ms, int hours);

const char* HourStateName(HourState s);

}  // namespace granary::receiver
