#include "receiver/hourly_coverage.h"

#include <algorithm>

namespace granary::receiver {
namespace {

// Cells [first, last] of those overlapping the ms range [from, to]; false when none.
bool CellRange(int64_t from_ms, int hours, int64_t from, int64_t to, int* first, int* last) {
  int64_t end = from_ms + static_cast<int64_t>(hours) * kHourMs - 1;
  if (to < from_ms || from > end || to < from) return false;
  *first = static_cast<int>((std::max(from, from_ms) - from_ms) / kHourMs);
  *last = static_cast<int>((std::min(to, end) - from_ms) / kHourMs);
  return true;
}

}  // namespace

const char* HourStateName(HourState s) {
  switch (s) {
    case HourState::kPresent:
      return "present";
    case HourState::kTombstoned:
      return "tombstoned";
    case HourState::kMissing:
      return "missing";
    case HourState::kNone:
      break;
  }
  return "none";
}

std::vector<HourCell> HourlyCoverage(const std::vector<SegmentRow>& segments,
                                     const std::vector<Gap>& gaps, int64_t from_ms, int hours) {
  std::vector<HourCell> cells(static_cast<size_t>(std::max(hours, 0)));
  for (size_t i = 0; i < cells.size(); ++i)
    cells[i].start_ms = from_ms + static_cast<int64_t>(i) * kHourMs;
  int first = 0, last = 0;
  for (const SegmentRow& s : segments) {
    if (!CellRange(from_ms, hours, s.first_ts, s.last_ts, &first, &last)) continue;
    for (int h = first; h <= last; ++h) cells[h].state = HourState::kPresent;
  }
  for (size_t i = 1; i < segments.size(); ++i) {
    const SegmentRow& before = segments[i - 1];
    const SegmentRow& after = segments[i];
    if (after.first_seq <= before.last_seq + 1) continue;
    uint64_t hole_first = before.last_seq + 1, hole_last = after.first_seq - 1;
    bool any_missing = false, any_explained = false;
    std::string reasons;
    for (const Gap& g : gaps) {
      if (g.last < hole_first || g.first > hole_last) continue;
      if (!g.explained) {
        any_missing = true;
        continue;
      }
      any_explained = true;
      if (reasons.find(g.reason) == std::string::npos)
        reasons += (reasons.empty() ? "" : ",") + g.reason;
    }
    // The hole's time is strictly between the two segments' readings.
    if (!CellRange(from_ms, hours, before.last_ts + 1, after.first_ts - 1, &first, &last)) continue;
    for (int h = first; h <= last; ++h) {
      HourCell& c = cells[h];
      if (c.state == HourState::kPresent || c.state == HourState::kMissing) continue;
      if (any_missing) {
        c.state = HourState::kMissing;
        c.reason = any_explained ? "partly tombstoned: " + reasons : "";
      } else {
        c.state = HourState::kTombstoned;
        c.reason = reasons;
      }
    }
  }
  return cells;
}

}  // namespace granary::receiver
