// Gaps in a source's coverage, told apart by whether tombstones explain them.
#include <algorithm>

#include "receiver/index.h"

namespace granary::receiver {

std::vector<Gap> FindGaps(const std::vector<SeqRange>& ranges,
                          const std::vector<std::pair<SeqRange, std::string>>& tombstones) {
  uint64_t end = 0;
  for (const SeqRange& r : ranges) end = std::max(end, r.last);
  for (const auto& [t, reason] : tombstones) end = std::max(end, t.last);
  // Holes in [1, end] not covered by `ranges`.
  std::vector<SeqRange> holes;
  uint64_t next = 1;
  std::vector<SeqRange> sorted = ranges;
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.first < b.first; });
  for (const SeqRange& r : sorted) {
    if (r.first > next) holes.push_back({next, r.first - 1});
    next = std::max(next, r.last + 1);
  }
  if (end >= next) holes.push_back({next, end});
  // Split each hole into the parts tombstones explain and the parts they do not.
  std::vector<Gap> gaps;
  for (const SeqRange& h : holes) {
    uint64_t at = h.first;
    for (const auto& [t, reason] : tombstones) {
      if (t.last < at || t.first > h.last) continue;
      if (t.first > at) gaps.push_back({at, t.first - 1, false, ""});
      uint64_t stop = std::min(t.last, h.last);
      uint64_t from = std::max(t.first, at);
      if (!gaps.empty() && gaps.back().explained && gaps.back().last + 1 == from) {
        gaps.back().last = stop;
        if (gaps.back().reason.find(reason) == std::string::npos)
          gaps.back().reason += "," + reason;
      } else {
        gaps.push_back({from, stop, true, reason});
      }
      at = stop + 1;
      if (at > h.last) break;
    }
    if (at <= h.last) gaps.push_back({at, h.last, false, ""});
  }
  return gaps;
}

}  // namespace granary::receiver
