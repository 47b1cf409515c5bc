#include "storage/segment_file.h"

#include <fmt/format.h>

#include <charconv>
#include <ctime>

namespace granary {
namespace {

constexpr size_t kOutChunk = 64 * 1024;

std::string Hex(const unsigned char* p, unsigned n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(n * 2, '0');
  for (unsigned i = 0; i < n; ++i) {
    s[2 * i] = kDigits[p[i] >> 4];
    s[2 * i + 1] = kDigits[p[i] & 15];
  }
  return s;
}

std::string FinalHex(EVP_MD_CTX* ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx, md, &n);
  return Hex(md, n);
}

}  // namespace

void DigestBytes(std::string_view bytes, SegmentDigest& d) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_md5(), nullptr);
  d.md5_hex = Hex(md, n);
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
  d.sha256_hex = Hex(md, n);
  d.bytes = bytes.size();
}

std::string SegmentFileName(std::string_view device, std::string_view source,
                            int64_t first_ts_ms, uint64_t first_seq) {
  time_t secs = static_cast<time_t>(first_ts_ms >= 0 ? first_ts_ms / 1000 : 0);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  return fmt::format("{}-{}-{:04}{:02}{:02}T{:02}-{}.jsonl.gz", device, source, tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, first_seq);
}

bool ParseSegmentFileName(std::string_view name, std::string_view device, std::string* source,
                          uint64_t* first_seq) {
  constexpr std::string_view kSuffix = ".jsonl.gz";
  constexpr size_t kHourLen = 11;  // yyyymmddThh
  if (!name.ends_with(kSuffix)) return false;
  name.remove_suffix(kSuffix.size());
  size_t dash = name.rfind('-');
  if (dash == std::string_view::npos) return false;
  std::string_view seq = name.substr(dash + 1);
  auto [p, ec] = std::from_chars(seq.data(), seq.data() + seq.size(), *first_seq);
  if (ec != std::errc() || p != seq.data() + seq.size()) return false;
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
  fmt::format_to(std::back_inserter(out),
                 R"({{"device":"{}","source":"{}","seq":{},"ts":{},)", device, source, seq,
                 ts_ms);
  if (!clock_ok) out += R"("clock":"unsynced",)";
  out += R"("data":)";
  out += data_json;
  out += "}\n";
}

SegmentFileWriter::SegmentFileWriter(Env& env, int level)
    : env_(env),
      deflater_(level),
      md5_(EVP_MD_CTX_new(), EVP_MD_CTX_free),
      sha256_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {}

SegmentFileWriter::~SegmentFileWriter() {
  if (file_) (void)file_->Close();
}

Status SegmentFileWriter::Open(const std::string& path) {
  if (!deflater_.ok() || !md5_ || !sha256_) return Error("zlib/OpenSSL init failed for " + path);
  EVP_DigestInit_ex(md5_.get(), EVP_md5(), nullptr);
  EVP_DigestInit_ex(sha256_.get(), EVP_sha256(), nullptr);
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
      EVP_DigestUpdate(md5_.get(), out_.data(), produced);
      EVP_DigestUpdate(sha256_.get(), out_.data(), produced);
      digest_.bytes += produced;
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
  digest_.md5_hex = FinalHex(md5_.get());
  digest_.sha256_hex = FinalHex(sha256_.get());
  return digest_;
}

}  // namespace granary
