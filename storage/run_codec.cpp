#include "storage/run_codec.h"

#include <fmt/format.h>

#include <cerrno>

#include "storage/segment_file.h"

namespace granary {
namespace {

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// Deltas are never negative inside a segment (a reading older than the last one starts a
// new segment), but the encoding does not depend on it.
uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

}  // namespace

void AppendCompactReading(std::string& run, int64_t prev_ts, int64_t ts_ms, bool clock_ok,
                          std::string_view data_json) {
  // Two's-complement wrap, as the reader adds it back: any pair of timestamps encodes.
  const auto delta =
      static_cast<int64_t>(static_cast<uint64_t>(ts_ms) - static_cast<uint64_t>(prev_ts));
  PutVarint(run, ZigZag(delta));
  PutVarint(run, (static_cast<uint64_t>(data_json.size()) << 1) | (clock_ok ? 0 : 1));
  run += data_json;
}

bool CompactRunReader::Varint(uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (rest_.empty()) return false;
    const auto byte = static_cast<unsigned char>(rest_.front());
    rest_.remove_prefix(1);
    *v |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

bool CompactRunReader::Fail(std::string what) {
  status_ = Error(fmt::format("compact run damaged at seq {}: {}", seq_, what), EBADMSG);
  left_ = 0;
  return false;
}

bool CompactRunReader::Next(Item* item) {
  if (left_ == 0) {
    if (status_ && !rest_.empty())
      return Fail(fmt::format("{} bytes after the last reading", rest_.size()));
    return false;
  }
  uint64_t delta = 0, len_flag = 0;
  if (!Varint(&delta) || !Varint(&len_flag)) return Fail("truncated header");
  const uint64_t len = len_flag >> 1;
  if (len > rest_.size()) {
    return Fail(fmt::format("{} bytes of data where {} are left", len, rest_.size()));
  }
  // Two's-complement wrap: a damaged delta gives a wrong timestamp, never undefined behaviour.
  ts_ = static_cast<int64_t>(static_cast<uint64_t>(ts_) + static_cast<uint64_t>(UnZigZag(delta)));
  item->seq = seq_++;
  item->ts_ms = ts_;
  item->clock_ok = (len_flag & 1) == 0;
  item->data_json = rest_.substr(0, static_cast<size_t>(len));
  rest_.remove_prefix(static_cast<size_t>(len));
  --left_;
  return true;
}

Status RenderCompactRun(std::string_view run, uint64_t first_seq, int64_t first_ts, uint64_t count,
                        std::string_view device, std::string_view source,
                        const std::function<Status(std::string_view)>& emit) {
  constexpr size_t kChunk = 16 * 1024;
  CompactRunReader reader(run, first_seq, first_ts, count);
  CompactRunReader::Item r;
  std::string text;
  while (reader.Next(&r)) {
    AppendJsonLine(text, device, source, r.seq, r.ts_ms, r.clock_ok, r.data_json);
    if (text.size() >= kChunk) {
      if (Status s = emit(text); !s) return s;
      text.clear();
    }
  }
  if (!text.empty()) {
    if (Status s = emit(text); !s) return s;
  }
  return reader.status();
}

}  // namespace granary
