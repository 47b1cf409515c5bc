#include "storage/segment_file.h"

#include <fmt/format.h>

#include <optional>

#include "platform/crypto.h"
#include "platform/strings.h"
#include "platform/time.h"

namespace granary {
namespace {

constexpr size_t kOutChunk = 64 * 1024;
// The pieces of a jsonl line, appended by hand: a format string is parsed on every call,
// and a seal renders every reading it holds.
constexpr std::string_view kDevice = R"({"device":")";
constexpr std::string_view kSource = R"(","source":")";
constexpr std::string_view kSeq = R"(","seq":)";
constexpr std::string_view kTs = R"(,"ts":)";
constexpr std::string_view kUnsynced = R"(,"clock":"unsynced")";
constexpr std::string_view kData = R"(,"data":)";
constexpr std::string_view kEnd = "}\n";

}  // namespace

void DigestBytes(std::string_view bytes, SegmentDigest& d) {
  d.md5_hex = Md5Hex(bytes);
  d.sha256_hex = Sha256Hex(bytes);
  d.bytes = bytes.size();
}

std::string SegmentFileName(std::string_view device, std::string_view source, int64_t first_ts_ms,
                            uint64_t first_seq, std::string_view format) {
  return fmt::format("{}-{}-{}-{}.{}", device, source, FormatUtc(first_ts_ms, "%Y%m%dT%H"),
                     first_seq, format);
}

bool IsSegmentFileName(std::string_view name) {
  return name.ends_with(".jsonl.gz") || name.ends_with(".bson.gz");
}

void AppendRecord(std::string& out, std::string_view record, size_t seq_offset, uint64_t seq) {
  const size_t at = out.size();
  out += record;
  if (seq_offset + 8 > record.size()) return;  // no slot: the encoder's contract was broken
  for (size_t i = 0; i < 8; ++i) out[at + seq_offset + i] = static_cast<char>(seq >> (8 * i));
}

bool ParseSegmentFileName(std::string_view name, std::string_view device, std::string* source,
                          uint64_t* first_seq) {
  constexpr size_t kHourLen = 11;  // yyyymmddThh
  if (!IsSegmentFileName(name)) return false;
  name.remove_suffix(name.ends_with(".jsonl.gz") ? 9 : 8);
  size_t dash = name.rfind('-');
  if (dash == std::string_view::npos) return false;
  std::optional<uint64_t> seq = ParseDecimal<uint64_t>(name.substr(dash + 1));
  if (!seq) return false;
  *first_seq = *seq;
  name = name.substr(0, dash);
  if (name.size() < kHourLen + 1 || name[name.size() - kHourLen - 1] != '-') return false;
  name.remove_suffix(kHourLen + 1);
  if (name.size() <= device.size() + 1 || !name.starts_with(device) || name[device.size()] != '-') {
    return false;
  }
  *source = std::string(name.substr(device.size() + 1));
  return true;
}

void AppendJsonLine(std::string& out, std::string_view device, std::string_view source,
                    uint64_t seq, int64_t ts_ms, bool clock_ok, std::string_view data_json) {
  const fmt::format_int seq_text(seq), ts_text(ts_ms);
  out += kDevice;
  out += device;
  out += kSource;
  out += source;
  out += kSeq;
  out.append(seq_text.data(), seq_text.size());
  out += kTs;
  out.append(ts_text.data(), ts_text.size());
  if (!clock_ok) out += kUnsynced;
  out += kData;
  out += data_json;
  out += kEnd;
}

size_t JsonLineSize(std::string_view device, std::string_view source, uint64_t seq, int64_t ts_ms,
                    bool clock_ok, size_t data_size) {
  return kDevice.size() + device.size() + kSource.size() + source.size() + kSeq.size() +
         fmt::format_int(seq).size() + kTs.size() + fmt::format_int(ts_ms).size() +
         (clock_ok ? 0 : kUnsynced.size()) + kData.size() + data_size + kEnd.size();
}

SegmentFileWriter::SegmentFileWriter(Env& env, int level) : env_(env), deflater_(level) {}

SegmentFileWriter::~SegmentFileWriter() {
  if (file_) (void)file_->Close();
}

Status SegmentFileWriter::Open(const std::string& path) {
  if (!deflater_.ok()) return Error("zlib init failed for " + path);
  auto f = env_.NewWritableFile(path);
  if (!f) return f.error();
  file_ = std::move(*f);
  return Status::Ok();
}

Status SegmentFileWriter::Deflate(int flush) {
  z_stream* zs = deflater_.get();
  int rc;
  do {
    out_.resize(kOutChunk);
    zs->next_out = reinterpret_cast<Bytef*>(out_.data());
    zs->avail_out = static_cast<uInt>(out_.size());
    rc = deflate(zs, flush);
    if (rc == Z_STREAM_ERROR) return Error("deflate failed");
    size_t produced = out_.size() - zs->avail_out;
    if (produced > 0) {
      hasher_.Update(std::string_view(out_.data(), produced));
      if (Status s = file_->Append(std::string_view(out_.data(), produced)); !s) return s;
    }
  } while (zs->avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
  return Status::Ok();
}

Status SegmentFileWriter::Append(std::string_view text) {
  z_stream* zs = deflater_.get();
  zs->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs->avail_in = static_cast<uInt>(text.size());
  digest_.raw_bytes += text.size();
  return Deflate(Z_NO_FLUSH);
}

Result<SegmentDigest> SegmentFileWriter::Finish() {
  deflater_.get()->avail_in = 0;
  if (Status s = Deflate(Z_FINISH); !s) return s.error();
  if (Status s = file_->Sync(); !s) return s.error();
  Status s = file_->Close();
  file_.reset();
  if (!s) return s.error();
  StreamDigests d = hasher_.Finish();
  digest_.bytes = d.bytes;
  digest_.md5_hex = std::move(d.md5_hex);
  digest_.sha256_hex = std::move(d.sha256_hex);
  return digest_;
}

}  // namespace granary
