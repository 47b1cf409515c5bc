#include "receiver/series.h"

#include <cjson/cJSON.h>

#include <algorithm>

#include "platform/gzip_lines.h"
#include "platform/handles.h"

namespace granary::receiver {
namespace {

void Take(SeriesBucket& b, int64_t ts_ms, double value) {
  if (b.count == 0) {
    b.min = b.max = b.first = b.last = value;
    b.first_ts = b.last_ts = ts_ms;
  } else {
    b.min = std::min(b.min, value);
    b.max = std::max(b.max, value);
    if (ts_ms < b.first_ts) b.first = value, b.first_ts = ts_ms;
    if (ts_ms >= b.last_ts) b.last = value, b.last_ts = ts_ms;
  }
  b.count += 1;
  b.sum += value;
}

}  // namespace

SeriesBuckets::SeriesBuckets(int64_t from_ms, int64_t to_ms, int points)
    : from_ms_(from_ms), to_ms_(to_ms) {
  // The span in ms, computed unsigned: [INT64_MIN, INT64_MAX] must not overflow.
  uint64_t span = static_cast<uint64_t>(to_ms) - static_cast<uint64_t>(from_ms) + 1;
  uint64_t n = static_cast<uint64_t>(std::max(points, 1));
  uint64_t width = span == 0 ? UINT64_MAX / n + 1 : (span + n - 1) / n;  // span 0: all 2^64
  width_ms_ = static_cast<int64_t>(std::min<uint64_t>(std::max<uint64_t>(width, 1), INT64_MAX));
  uint64_t count = span == 0 ? n : (span + width - 1) / width;
  buckets_.resize(count);
  for (uint64_t i = 0; i < count; ++i)
    buckets_[i].start_ms = static_cast<int64_t>(static_cast<uint64_t>(from_ms) + i * width);
}

void SeriesBuckets::Add(int64_t ts_ms, double value) {
  if (ts_ms < from_ms_ || ts_ms > to_ms_) return;
  uint64_t offset = static_cast<uint64_t>(ts_ms) - static_cast<uint64_t>(from_ms_);
  size_t i = static_cast<size_t>(offset / static_cast<uint64_t>(width_ms_));
  Take(buckets_[std::min(i, buckets_.size() - 1)], ts_ms, value);
}

Result<Series> ComputeSeries(const ObjectStore& store, const std::vector<SegmentRow>& segments,
                             const std::string& field, int64_t from_ms, int64_t to_ms, int points,
                             uint64_t max_line_bytes) {
  Series out;
  out.total.start_ms = from_ms;
  SeriesBuckets buckets(from_ms, to_ms, points);
  // Listing fields reads the newest segment only.
  size_t first = field.empty() && !segments.empty() ? segments.size() - 1 : 0;
  for (size_t i = first; i < segments.size(); ++i) {
    const SegmentRow& s = segments[i];
    GzipLineReader reader(max_line_bytes, 1ull << 30);
    if (Status st = reader.Open(store.AcceptedPath(s.bucket, s.key)); !st) return st.error();
    std::string_view line;
    while (reader.Next(&line)) {
      CjsonPtr obj(cJSON_ParseWithLength(line.data(), line.size()));
      const cJSON* ts = cJSON_GetObjectItemCaseSensitive(obj.get(), "ts");
      if (!cJSON_IsNumber(ts)) continue;
      auto t = static_cast<int64_t>(ts->valuedouble);
      if (t < from_ms || t > to_ms) continue;
      const cJSON* data = cJSON_GetObjectItemCaseSensitive(obj.get(), "data");
      for (const cJSON* item = data != nullptr ? data->child : nullptr;
           item != nullptr && out.fields.size() < kMaxSeriesFields; item = item->next) {
        if (cJSON_IsNumber(item) && item->string != nullptr) out.fields.insert(item->string);
      }
      if (field.empty()) continue;
      const cJSON* v = cJSON_GetObjectItemCaseSensitive(data, field.c_str());
      if (!cJSON_IsNumber(v)) {
        out.skipped += 1;
        continue;
      }
      buckets.Add(t, v->valuedouble);
      Take(out.total, t, v->valuedouble);
    }
    if (!reader.status().ok()) return reader.status().error();
  }
  out.width_ms = buckets.width_ms();
  if (!field.empty()) out.buckets = buckets.buckets();
  return out;
}

}  // namespace granary::receiver
