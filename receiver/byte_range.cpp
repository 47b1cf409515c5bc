#include "receiver/byte_range.h"

#include <fcntl.h>
#include <fmt/format.h>

#include <algorithm>

#include "platform/log.h"
#include "platform/strings.h"

namespace granary::receiver {

std::optional<ByteRange> ParseRange(const std::string& header, uint64_t size, bool* unsatisfiable) {
  *unsatisfiable = false;
  constexpr std::string_view kUnit = "bytes=";
  if (!header.starts_with(kUnit) || header.find(',') != std::string::npos) return std::nullopt;
  std::string spec = header.substr(kUnit.size());
  size_t dash = spec.find('-');
  if (dash == std::string::npos) return std::nullopt;
  std::string a = spec.substr(0, dash), b = spec.substr(dash + 1);
  auto first = ParseDecimal<uint64_t>(a);
  auto last = ParseDecimal<uint64_t>(b);
  if (a.empty()) {  // the last N bytes
    if (!last || *last == 0) return std::nullopt;
    if (size == 0) {
      *unsatisfiable = true;
      return std::nullopt;
    }
    return ByteRange{size - std::min(*last, size), size - 1};
  }
  if (!first || (!b.empty() && (!last || *last < *first))) return std::nullopt;
  if (*first >= size) {
    *unsatisfiable = true;
    return std::nullopt;
  }
  return ByteRange{*first, b.empty() ? size - 1 : std::min(*last, size - 1)};
}

std::string ContentRange(std::optional<ByteRange> part, uint64_t size) {
  if (!part) return fmt::format("bytes */{}", size);
  return fmt::format("bytes {}-{}/{}", part->first, part->last, size);
}

void SetObjectBody(std::unique_ptr<ObjectReader> reader, std::optional<ByteRange> part,
                   HttpResponse* r) {
  if (!part && reader->size() == 0) return;  // an empty body
  const ByteRange range = part.value_or(ByteRange{0, reader->size() - 1});
  const uint64_t length = range.last - range.first + 1;
  std::string path = reader->LocalPath();
  int fd = path.empty() ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    r->fd = fd;
    r->fd_offset = range.first;
    r->fd_size = length;
    return;
  }
  reader->WillRead(range.first, range.last);
  std::shared_ptr<ObjectReader> shared(std::move(reader));
  r->stream_length = length;
  r->stream = [shared, at = range.first, end = range.first + length](char* buf,
                                                                     size_t max) mutable -> long {
    if (at >= end) return 0;
    auto n = shared->ReadAt(at, buf, static_cast<size_t>(std::min<uint64_t>(max, end - at)));
    if (!n || *n == 0) {
      // The status line is sent: all that is left is to cut the body short.
      log::Error("stream at byte {}: {}", at, n ? "the object ended early" : n.error().message());
      return -1;
    }
    at += *n;
    return static_cast<long>(*n);
  };
}

}  // namespace granary::receiver
