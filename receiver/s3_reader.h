// An object in an S3 bucket read through ranged GETs of at most kWindow bytes each, so a
// reader holds one window whatever the object's size. Every answer must carry the ETag seen
// when the reader was opened: bytes replaced during a read are an error, never a mix of two
// objects.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "receiver/object_store.h"
#include "s3/s3_client.h"

namespace granary::receiver {

class S3RangeReader final : public ObjectReader {
 public:
  // One ranged GET of bytes [first, last], streamed to `sink`.
  using GetRange = std::function<Result<S3Response>(
      uint64_t first, uint64_t last, const std::function<bool(std::string_view)>& sink)>;
  // Large enough that a sequential read costs few requests, small enough for many readers.
  static constexpr uint64_t kWindow = 4ull << 20;

  // `name` is for errors; `etag` as HEAD answered it ("" skips the check).
  S3RangeReader(std::string name, uint64_t size, std::string etag, GetRange get);

  Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) override;
  void WillRead(uint64_t first, uint64_t last) override;
  // Ranged GETs made so far.
  uint64_t requests() const { return requests_; }

 private:
  Status Fetch(uint64_t first);

  std::string name_, etag_;
  GetRange get_;
  std::string window_;
  uint64_t window_first_ = 0;
  uint64_t hint_first_ = 0, hint_last_ = UINT64_MAX;
  uint64_t requests_ = 0;
};

}  // namespace granary::receiver
