// Downsampled readings for charts: one numeric field of a source's readings over a time
// window, cut into equal buckets, each with count, min, max, mean and the first and last
// value by time. Computed by streaming the stored segments, one open at a time, so a month
// of 6-second readings is summarised without ever being held or sent whole.
// Used by GET /api/v1/devices/{id}/series.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "platform/result.h"
#include "receiver/index.h"
#include "receiver/object_store.h"

namespace granary::receiver {

struct SeriesBucket {
  int64_t start_ms = 0;  // inclusive; the bucket ends where the next starts
  uint64_t count = 0;
  double min = 0, max = 0, sum = 0;
  double first = 0, last = 0;  // the values with the earliest and latest ts
  int64_t first_ts = 0, last_ts = 0;
  double mean() const { return count == 0 ? 0 : sum / static_cast<double>(count); }
};

class SeriesBuckets {
 public:
  // [from_ms, to_ms] (inclusive, from_ms <= to_ms) in `points` buckets of equal width
  // (whole ms, at least 1; the last bucket may be narrower): fewer buckets when the window
  // is shorter than `points` ms.
  SeriesBuckets(int64_t from_ms, int64_t to_ms, int points);
  // A value outside the window is ignored.
  void Add(int64_t ts_ms, double value);
  // Adds `other`'s values (same window and points) as if added after this one's.
  void Merge(const SeriesBuckets& other);
  int64_t width_ms() const { return width_ms_; }
  const std::vector<SeriesBucket>& buckets() const { return buckets_; }

 private:
  int64_t from_ms_, to_ms_, width_ms_;
  std::vector<SeriesBucket> buckets_;
};

struct Series {
  SeriesBucket total;  // every value in the window (start_ms is from_ms)
  std::vector<SeriesBucket> buckets;
  int64_t width_ms = 0;
  uint64_t skipped = 0;          // readings in the window whose field is absent or not a number
  std::set<std::string> fields;  // numeric fields of the newest segment's `data` (at most 64)
};

inline constexpr size_t kMaxSeriesFields = 64;
// From this many segments on, the later half is read on a second thread.
inline constexpr size_t kSeriesSplitSegments = 8;

// `field` is a top-level key of a reading's `data`; "" only lists `fields` (so choosing a
// field costs one segment's read). `segments` in seq order, as Index::Segments gives them.
Result<Series> ComputeSeries(const ObjectStore& store, const std::vector<SegmentRow>& segments,
                             const std::string& field, int64_t from_ms, int64_t to_ms, int points,
                             uint64_t max_line_bytes);

}  // namespace granary::receiver
