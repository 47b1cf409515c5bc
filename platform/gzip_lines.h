// Reads the lines of a gzip file without holding it whole, strictly: a truncated stream, a
// gzip bomb or trailing garbage is an error, never silently short data. The one gzip reader
// of the project (the receiver's validator and readings API, segment salvage, the tests).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "platform/handles.h"
#include "platform/result.h"

namespace granary {

class GzipLineReader {
 public:
  // `max_line_bytes` bounds one line; `max_raw_bytes` the whole decompressed stream
  // (a gzip bomb is an error, not an OOM).
  GzipLineReader(uint64_t max_line_bytes, uint64_t max_raw_bytes);
  ~GzipLineReader();
  GzipLineReader(const GzipLineReader&) = delete;
  GzipLineReader& operator=(const GzipLineReader&) = delete;

  Status Open(const std::string& path);
  // Compressed bytes pulled from `source` (up to `max` into `buf`; 0 at the end) rather than
  // a file: an object streamed from elsewhere. `name` is for errors.
  using Source = std::function<Result<size_t>(char* buf, size_t max)>;
  Status Open(Source source, const std::string& name);
  // The next line without its '\n'; false at the end or on error (see status()). The view
  // is valid until the next call. A last line without '\n' is returned too.
  bool Next(std::string_view* line);
  const Status& status() const { return status_; }
  // Decompressed bytes seen so far.
  uint64_t raw_bytes() const { return raw_bytes_; }
  // At the end: whether the last line lacked its '\n' (a jsonl file always ends with one).
  bool last_line_unterminated() const { return unterminated_; }
  // Framing other than lines (concatenated BSON documents): up to `n` bytes from the current
  // position, not consumed; fewer only at the end of the stream or on an error (see status()).
  // The view is valid until the next call.
  std::string_view Peek(size_t n);
  // Consumes `n` bytes of the last Peek.
  void Consume(size_t n) { out_pos_ += n; }
  // Bytes of the decompressed stream, in order, fed to `observer` (e.g. hashing).
  void SetObserver(void (*observer)(void* ctx, std::string_view data), void* ctx) {
    observer_ = observer;
    observer_ctx_ = ctx;
  }

 private:
  bool Fill();  // decompresses more into out_; false at the end or on error

  uint64_t max_line_bytes_, max_raw_bytes_;
  std::FILE* file_ = nullptr;
  Source source_;
  Inflater inflater_;
  std::string in_, out_;
  size_t out_pos_ = 0;
  uint64_t raw_bytes_ = 0;
  bool eof_in_ = false, stream_end_ = false, done_ = false, unterminated_ = false;
  Status status_;
  std::string path_;
  void (*observer_)(void*, std::string_view) = nullptr;
  void* observer_ctx_ = nullptr;
};

}  // namespace granary
