#include "receiver/chart_api.h"

#include <algorithm>

#include "platform/handles.h"
#include "platform/strings.h"
#include "receiver/api_json.h"
#include "receiver/hourly_coverage.h"
#include "receiver/series.h"

namespace granary::receiver {
namespace {

constexpr int kMaxPoints = 10000;
constexpr int kMaxHours = 24 * 62;
constexpr int64_t kDayMs = 24 * kHourMs;

cJSON* BucketJson(const SeriesBucket& b) {
  cJSON* obj = cJSON_CreateObject();
  AddNumber(obj, "t", static_cast<double>(b.start_ms));
  AddNumber(obj, "count", static_cast<double>(b.count));
  if (b.count > 0) {
    AddNumber(obj, "min", b.min);
    AddNumber(obj, "max", b.max);
    AddNumber(obj, "mean", b.mean());
    AddNumber(obj, "first", b.first);
    AddNumber(obj, "last", b.last);
  }
  return obj;
}

}  // namespace

HttpResponse SeriesAnswer(ReceiverContext& ctx, const std::string& device,
                          const std::string& raw_query) {
  std::string source = QueryParam(raw_query, "source");
  std::string field = QueryParam(raw_query, "field");
  if (source.empty()) return JsonError(400, "source= is required");
  std::optional<int64_t> from = ParseTime(QueryParam(raw_query, "from"));
  std::optional<int64_t> to = ParseTime(QueryParam(raw_query, "to"));
  if (!from || !to || *from > *to) {
    return JsonError(400,
                     "from= and to= are required (ms since the epoch or "
                     "YYYY-MM-DDTHH:MM:SS[.mmm]Z), from <= to");
  }
  std::string points_text = QueryParam(raw_query, "points");
  std::optional<int> points = points_text.empty() ? 500 : ParseDecimal<int>(points_text);
  if (!points || *points < 1 || *points > kMaxPoints) {
    return JsonError(400, "points= must be 1 to 10000");
  }
  auto segments = ctx.index.Segments(device, source, *from, *to);
  if (!segments) return JsonError(500, segments.error().message());
  auto series =
      ComputeSeries(ctx.store, *segments, field, *from, *to, *points, ctx.config.max_line_bytes);
  if (!series) return JsonError(500, series.error().message());
  CjsonPtr obj(cJSON_CreateObject());
  cJSON_AddStringToObject(obj.get(), "device", device.c_str());
  cJSON_AddStringToObject(obj.get(), "source", source.c_str());
  cJSON_AddStringToObject(obj.get(), "field", field.c_str());
  AddNumber(obj.get(), "from", static_cast<double>(*from));
  AddNumber(obj.get(), "to", static_cast<double>(*to));
  AddNumber(obj.get(), "bucket_ms", static_cast<double>(series->width_ms));
  AddNumber(obj.get(), "count", static_cast<double>(series->total.count));
  AddNumber(obj.get(), "skipped", static_cast<double>(series->skipped));
  cJSON* fields = cJSON_AddArrayToObject(obj.get(), "fields");
  for (const std::string& f : series->fields)
    cJSON_AddItemToArray(fields, cJSON_CreateString(f.c_str()));
  cJSON* buckets = cJSON_AddArrayToObject(obj.get(), "buckets");
  for (const SeriesBucket& b : series->buckets) cJSON_AddItemToArray(buckets, BucketJson(b));
  return Json(200, obj.get());
}

HttpResponse HoursAnswer(ReceiverContext& ctx, const std::string& device,
                         const std::string& raw_query) {
  std::string source = QueryParam(raw_query, "source");
  if (source.empty()) return JsonError(400, "source= is required");
  std::string from_text = QueryParam(raw_query, "from"),
              hours_text = QueryParam(raw_query, "hours");
  std::optional<int64_t> from = ParseTime(from_text);
  if (!from || *from % kHourMs != 0) {
    return JsonError(400,
                     "from= is required: the start of an hour (UTC), ms or YYYY-MM-DDTHH:00:00Z");
  }
  std::optional<int> hours = hours_text.empty() ? 168 : ParseDecimal<int>(hours_text);
  if (!hours || *hours < 1 || *hours > kMaxHours) return JsonError(400, "hours= must be 1 to 1488");
  // Every segment: a hole's time is bounded by the segments on either side, which may lie
  // outside the window.
  auto segments = ctx.index.Segments(device, source, INT64_MIN, INT64_MAX);
  if (!segments) return JsonError(500, segments.error().message());
  auto coverage = ctx.index.Coverage(device, source, std::nullopt, std::nullopt);
  if (!coverage) return JsonError(500, coverage.error().message());
  CjsonPtr obj(cJSON_CreateObject());
  cJSON_AddStringToObject(obj.get(), "device", device.c_str());
  cJSON_AddStringToObject(obj.get(), "source", source.c_str());
  AddNumber(obj.get(), "from", static_cast<double>(*from));
  AddNumber(obj.get(), "hour_ms", static_cast<double>(kHourMs));
  cJSON* arr = cJSON_AddArrayToObject(obj.get(), "hours");
  for (const HourCell& c : HourlyCoverage(*segments, coverage->gaps, *from, *hours)) {
    cJSON* cell = cJSON_CreateObject();
    AddNumber(cell, "t", static_cast<double>(c.start_ms));
    cJSON_AddStringToObject(cell, "state", HourStateName(c.state));
    if (!c.reason.empty()) cJSON_AddStringToObject(cell, "reason", c.reason.c_str());
    cJSON_AddItemToArray(arr, cell);
  }
  return Json(200, obj.get());
}

bool AddDeviceSummary(ReceiverContext& ctx, const std::string& device, int64_t now_ms, cJSON* obj,
                      std::string* error) {
  auto sources = ctx.index.Sources(device);
  if (!sources) {
    *error = sources.error().message();
    return false;
  }
  int64_t midnight = now_ms - now_ms % kDayMs;
  uint64_t missing = 0, today = 0;
  for (const std::string& s : *sources) {
    auto c = ctx.index.Coverage(device, s, std::nullopt, std::nullopt);
    if (!c) {
      *error = c.error().message();
      return false;
    }
    for (const Gap& g : c->gaps) missing += g.explained ? 0 : g.last - g.first + 1;
    auto segments = ctx.index.Segments(device, s, midnight, INT64_MAX);
    if (!segments) {
      *error = segments.error().message();
      return false;
    }
    for (const SegmentRow& r : *segments) today += r.first_ts >= midnight ? r.count : 0;
  }
  AddNumber(obj, "unexplained_missing", static_cast<double>(missing));
  AddNumber(obj, "readings_today", static_cast<double>(today));
  return true;
}

}  // namespace granary::receiver
