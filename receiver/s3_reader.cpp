#include "receiver/s3_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace granary::receiver {

S3RangeReader::S3RangeReader(std::string name, uint64_t size, std::string etag, GetRange get)
    : ObjectReader(size), name_(std::move(name)), etag_(std::move(etag)), get_(std::move(get)) {}

void S3RangeReader::WillRead(uint64_t first, uint64_t last) {
  hint_first_ = first;
  hint_last_ = last;
}

Status S3RangeReader::Fetch(uint64_t first) {
  uint64_t last = std::min(size_ - 1, first + kWindow - 1);
  // A short range is fetched as asked, not a whole window past it.
  if (first >= hint_first_ && first <= hint_last_) last = std::min(last, hint_last_);
  const uint64_t want = last - first + 1;
  window_.clear();
  window_.reserve(want);  // not grown by doubling past the window
  window_first_ = first;
  bool too_long = false;
  const std::function<bool(std::string_view)> sink = [&](std::string_view piece) {
    if (window_.size() + piece.size() > want) {
      too_long = true;
      return false;
    }
    window_.append(piece);
    return true;
  };
  ++requests_;
  auto r = get_(first, last, sink);
  if (!r) return r.error().Wrap("GET " + name_);
  if (!r->ok()) {
    window_.clear();
    return Error(fmt::format("GET {} bytes {}-{}: HTTP {} {} {}", name_, first, last, r->status,
                             r->error_code, r->error_message));
  }
  std::string etag = r->Header("etag");
  if (!etag_.empty() && !etag.empty() && etag != etag_) {
    window_.clear();
    return Error(fmt::format("{} changed while being read (ETag {}, was {})", name_, etag, etag_));
  }
  if (too_long || window_.size() != want) {
    size_t got = window_.size();
    window_.clear();
    return Error(fmt::format("GET {} bytes {}-{}: {} bytes came, not {}", name_, first, last,
                             too_long ? "more" : std::to_string(got), want));
  }
  return Status::Ok();
}

Result<size_t> S3RangeReader::ReadAt(uint64_t offset, char* buf, size_t n) {
  if (offset >= size_ || n == 0) return size_t{0};
  if (offset < window_first_ || offset >= window_first_ + window_.size()) {
    if (Status s = Fetch(offset); !s) return s.error();
  }
  size_t at = static_cast<size_t>(offset - window_first_);
  size_t take = std::min(n, window_.size() - at);
  std::memcpy(buf, window_.data() + at, take);
  return take;
}

}  // namespace granary::receiver
