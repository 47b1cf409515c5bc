#include "receiver/series.h"

#include <cjson/cJSON.h>

#include <algorithm>
#include <future>

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

// As if `from`'s values had been taken after `into`'s (ties in ts go the same way).
void Merge(SeriesBucket& into, const SeriesBucket& from) {
  if (from.count == 0) return;
  if (into.count == 0) {
    int64_t start = into.start_ms;
    into = from;
    into.start_ms = start;
    return;
  }
  into.min = std::min(into.min, from.min);
  into.max = std::max(into.max, from.max);
  if (from.first_ts < into.first_ts) into.first = from.first, into.first_ts = from.first_ts;
  if (from.last_ts >= into.last_ts) into.last = from.last, into.last_ts = from.last_ts;
  into.count += from.count;
  into.sum += from.sum;
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

void SeriesBuckets::Merge(const SeriesBuckets& other) {
  for (size_t i = 0; i < buckets_.size() && i < other.buckets_.size(); ++i)
    receiver::Merge(buckets_[i], other.buckets_[i]);
}

void SeriesBuckets::Add(int64_t ts_ms, double value) {
  if (ts_ms < from_ms_ || ts_ms > to_ms_) return;
  uint64_t offset = static_cast<uint64_t>(ts_ms) - static_cast<uint64_t>(from_ms_);
  size_t i = static_cast<size_t>(offset / static_cast<uint64_t>(width_ms_));
  Take(buckets_[std::min(i, buckets_.size() - 1)], ts_ms, value);
}

namespace {

// One scan over segments [begin, end): values into `buckets` and `out`; the fields of the
// newest segment of all (`fields_from`) into out.fields.
struct ScanJob {
  const ObjectStore& store;
  const std::vector<SegmentRow>& segments;
  const std::string& field;
  int64_t from_ms, to_ms;
  uint64_t max_line_bytes;
  size_t fields_from;
};

Status Scan(const ScanJob& job, size_t begin, size_t end, SeriesBuckets* buckets, Series* out) {
  for (size_t i = begin; i < end; ++i) {
    const SegmentRow& s = job.segments[i];
    GzipLineReader reader(job.max_line_bytes, 1ull << 30);
    auto object = job.store.OpenReader(s.bucket, s.key);
    if (!object) return object.error();
    if (Status st = reader.Open(SequentialSource(std::move(*object)), s.bucket + "/" + s.key); !st)
      return st;
    std::string_view line;
    while (reader.Next(&line)) {
      CjsonPtr obj(cJSON_ParseWithLength(line.data(), line.size()));
      const cJSON* ts = cJSON_GetObjectItemCaseSensitive(obj.get(), "ts");
      if (!cJSON_IsNumber(ts)) continue;
      auto t = static_cast<int64_t>(ts->valuedouble);
      if (t < job.from_ms || t > job.to_ms) continue;
      const cJSON* data = cJSON_GetObjectItemCaseSensitive(obj.get(), "data");
      for (const cJSON* item = data != nullptr && i >= job.fields_from ? data->child : nullptr;
           item != nullptr && out->fields.size() < kMaxSeriesFields; item = item->next) {
        if (cJSON_IsNumber(item) && item->string != nullptr) out->fields.insert(item->string);
      }
      if (job.field.empty()) continue;
      const cJSON* v = cJSON_GetObjectItemCaseSensitive(data, job.field.c_str());
      if (!cJSON_IsNumber(v)) {
        out->skipped += 1;
        continue;
      }
      buckets->Add(t, v->valuedouble);
      Take(out->total, t, v->valuedouble);
    }
    if (!reader.status().ok()) return reader.status();
  }
  return Status::Ok();
}

}  // namespace

Result<Series> ComputeSeries(const ObjectStore& store, const std::vector<SegmentRow>& segments,
                             const std::string& field, int64_t from_ms, int64_t to_ms, int points,
                             uint64_t max_line_bytes) {
  Series out;
  out.total.start_ms = from_ms;
  SeriesBuckets buckets(from_ms, to_ms, points);
  size_t newest = segments.empty() ? 0 : segments.size() - 1;
  ScanJob job{store, segments, field, from_ms, to_ms, max_line_bytes, newest};
  // Listing fields reads the newest segment only.
  size_t begin = field.empty() ? newest : 0;
  size_t split = segments.size() - begin >= kSeriesSplitSegments
                     ? begin + (segments.size() - begin) / 2
                     : segments.size();
  // Gunzip and parse are the cost: a long range's later half runs on a second thread.
  Series later;
  SeriesBuckets later_buckets(from_ms, to_ms, points);
  std::future<Status> later_done;
  if (split < segments.size()) {
    later_done = std::async(std::launch::async, [&] {
      return Scan(job, split, segments.size(), &later_buckets, &later);
    });
  }
  Status st = Scan(job, begin, split, &buckets, &out);
  if (later_done.valid()) {
    Status second = later_done.get();
    if (st.ok()) st = second;
    buckets.Merge(later_buckets);
    Merge(out.total, later.total);
    out.skipped += later.skipped;
    out.fields.insert(later.fields.begin(), later.fields.end());
  }
  if (!st) return st.error();
  out.width_ms = buckets.width_ms();
  if (!field.empty()) out.buckets = buckets.buckets();
  return out;
}

}  // namespace granary::receiver
