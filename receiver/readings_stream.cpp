#include "receiver/readings_stream.h"

#include <cjson/cJSON.h>
#include <fmt/format.h>

#include <cstring>

#include "platform/handles.h"
#include "platform/log.h"

namespace granary::receiver {
namespace {

std::string CsvQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string StringOf(const cJSON* obj, const char* name) {
  const char* v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));
  return v != nullptr ? v : "";
}

}  // namespace

ReadingsStream::ReadingsStream(const ObjectStore& store, std::vector<SegmentRow> segments,
                               int64_t from_ms, int64_t to_ms, Format format,
                               uint64_t max_line_bytes)
    : store_(store),
      segments_(std::move(segments)),
      from_ms_(from_ms),
      to_ms_(to_ms),
      format_(format),
      max_line_bytes_(max_line_bytes) {}

bool ReadingsStream::NextLine(std::string* out) {
  for (;;) {
    if (!reader_) {
      if (next_segment_ >= segments_.size()) return false;
      const SegmentRow& s = segments_[next_segment_++];
      reader_ = std::make_unique<GzipLineReader>(max_line_bytes_, 1ull << 30);
      auto object = store_.OpenReader(s.bucket, s.key);
      Status st = object
                      ? reader_->Open(SequentialSource(std::move(*object)), s.bucket + "/" + s.key)
                      : Status(object.error());
      if (!st) {
        log::Error("readings: {}", st.error().message());
        error_ = true;
        return false;
      }
    }
    std::string_view line;
    if (!reader_->Next(&line)) {
      if (!reader_->status().ok()) {
        log::Error("readings: {}", reader_->status().error().message());
        error_ = true;
        return false;
      }
      reader_.reset();
      continue;
    }
    CjsonPtr obj(cJSON_ParseWithLength(line.data(), line.size()));
    const cJSON* ts = cJSON_GetObjectItemCaseSensitive(obj.get(), "ts");
    if (!cJSON_IsNumber(ts)) continue;
    auto t = static_cast<int64_t>(ts->valuedouble);
    if (t < from_ms_ || t > to_ms_) continue;
    if (format_ == Format::kJsonLines) {
      out->assign(line);
      *out += '\n';
      return true;
    }
    const cJSON* seq = cJSON_GetObjectItemCaseSensitive(obj.get(), "seq");
    const cJSON* clock = cJSON_GetObjectItemCaseSensitive(obj.get(), "clock");
    const cJSON* data = cJSON_GetObjectItemCaseSensitive(obj.get(), "data");
    CjsonString data_text(data != nullptr ? cJSON_PrintUnformatted(data) : nullptr);
    *out = fmt::format("{},{},{},{},{},{}\n", CsvQuote(StringOf(obj.get(), "device")),
                       CsvQuote(StringOf(obj.get(), "source")),
                       cJSON_IsNumber(seq) ? static_cast<int64_t>(seq->valuedouble) : 0, t,
                       cJSON_IsString(clock) ? "unsynced" : "ok",
                       CsvQuote(data_text ? data_text.get() : "{}"));
    return true;
  }
}

long ReadingsStream::Fill(char* buf, size_t max) {
  if (!header_done_) {
    header_done_ = true;
    if (format_ == Format::kCsv) pending_ = "device,source,seq,ts,clock,data\n";
  }
  size_t written = 0;
  while (written < max) {
    if (pending_pos_ >= pending_.size()) {
      pending_.clear();
      pending_pos_ = 0;
      if (!NextLine(&pending_)) break;
    }
    size_t n = std::min(max - written, pending_.size() - pending_pos_);
    std::memcpy(buf + written, pending_.data() + pending_pos_, n);
    written += n;
    pending_pos_ += n;
  }
  if (written == 0 && error_) return -1;
  return static_cast<long>(written);
}

}  // namespace granary::receiver
