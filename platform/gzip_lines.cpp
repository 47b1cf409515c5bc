#include "platform/gzip_lines.h"

#include <fmt/format.h>

namespace granary {
namespace {
constexpr size_t kInChunk = 64 * 1024;
constexpr size_t kOutChunk = 256 * 1024;
}  // namespace

GzipLineReader::GzipLineReader(uint64_t max_line_bytes, uint64_t max_raw_bytes)
    : max_line_bytes_(max_line_bytes), max_raw_bytes_(max_raw_bytes) {}

GzipLineReader::~GzipLineReader() {
  if (file_ != nullptr) std::fclose(file_);
}

Status GzipLineReader::Open(const std::string& path) {
  path_ = path;
  if (!inflater_.ok()) return status_ = Error("zlib init failed");
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) return status_ = Error::FromErrno("open " + path);
  return Status::Ok();
}

Status GzipLineReader::Open(Source source, const std::string& name) {
  path_ = name;
  if (!inflater_.ok()) return status_ = Error("zlib init failed");
  source_ = std::move(source);
  return Status::Ok();
}

bool GzipLineReader::Fill() {
  z_stream* zs = inflater_.get();
  // Drop consumed output, keeping the partial line.
  out_.erase(0, out_pos_);
  out_pos_ = 0;
  size_t before = out_.size();
  while (out_.size() == before) {
    if (zs->avail_in == 0 && !eof_in_) {
      in_.resize(kInChunk);
      size_t n = 0;
      if (source_) {
        auto got = source_(in_.data(), kInChunk);
        if (!got) {
          status_ = got.error().Wrap("read " + path_);
          return false;
        }
        n = *got;
      } else {
        n = std::fread(in_.data(), 1, kInChunk, file_);
        if (n == 0 && std::ferror(file_)) {
          status_ = Error::FromErrno("read " + path_);
          return false;
        }
      }
      if (n == 0) {
        eof_in_ = true;
      } else {
        zs->next_in = reinterpret_cast<Bytef*>(in_.data());
        zs->avail_in = static_cast<uInt>(n);
      }
    }
    if (zs->avail_in == 0 && eof_in_) {
      if (!stream_end_) status_ = Error("gzip stream truncated (no end of stream)");
      return false;
    }
    if (stream_end_) {
      // Another gzip member follows (concatenated members are one valid gzip file); anything
      // else after the end of a member fails its header check below.
      if (inflateReset(zs) != Z_OK) {
        status_ = Error("gzip reset failed");
        return false;
      }
      stream_end_ = false;
    }
    size_t old = out_.size();
    out_.resize(old + kOutChunk);
    zs->next_out = reinterpret_cast<Bytef*>(out_.data() + old);
    zs->avail_out = static_cast<uInt>(kOutChunk);
    int rc = inflate(zs, Z_NO_FLUSH);
    size_t produced = kOutChunk - zs->avail_out;
    out_.resize(old + produced);
    if (rc == Z_STREAM_END) {
      stream_end_ = true;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      status_ = Error(
          fmt::format("corrupt gzip data ({})", zs->msg != nullptr ? zs->msg : "inflate error"));
      return false;
    }
    if (produced > 0 && observer_ != nullptr) {
      observer_(observer_ctx_, std::string_view(out_).substr(old));
    }
    raw_bytes_ += produced;
    if (raw_bytes_ > max_raw_bytes_) {
      status_ = Error(fmt::format("decompressed size exceeds {} bytes", max_raw_bytes_));
      return false;
    }
  }
  return true;
}

bool GzipLineReader::Next(std::string_view* line) {
  if (done_ || !status_.ok()) return false;
  for (;;) {
    size_t nl = out_.find('\n', out_pos_);
    if (nl != std::string::npos) {
      *line = std::string_view(out_).substr(out_pos_, nl - out_pos_);
      out_pos_ = nl + 1;
      return true;
    }
    if (out_.size() - out_pos_ > max_line_bytes_) {
      status_ = Error(fmt::format("a line is longer than {} bytes", max_line_bytes_));
      return false;
    }
    if (!Fill()) {
      if (!status_.ok()) return false;
      done_ = true;
      if (out_pos_ < out_.size()) {
        *line = std::string_view(out_).substr(out_pos_);
        out_pos_ = out_.size();
        unterminated_ = true;
        return true;
      }
      return false;
    }
  }
}

std::string_view GzipLineReader::Peek(size_t n) {
  while (status_.ok() && !done_ && out_.size() - out_pos_ < n) {
    if (!Fill()) done_ = status_.ok();
  }
  return std::string_view(out_).substr(out_pos_, n);
}

}  // namespace granary
