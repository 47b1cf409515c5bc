#include "receiver/digest.h"

namespace granary::receiver {
namespace {

std::string FinalHex(EVP_MD_CTX* ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx, md, &n);
  return LowerHex(std::string_view(reinterpret_cast<const char*>(md), n));
}

}  // namespace

std::string LowerHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kDigits[c >> 4];
    out[2 * i + 1] = kDigits[c & 15];
  }
  return out;
}

StreamDigest::StreamDigest(bool with_md5)
    : md5_(with_md5 ? EVP_MD_CTX_new() : nullptr, EVP_MD_CTX_free),
      sha256_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
  if (md5_) EVP_DigestInit_ex(md5_.get(), EVP_md5(), nullptr);
  EVP_DigestInit_ex(sha256_.get(), EVP_sha256(), nullptr);
}

void StreamDigest::Update(std::string_view data) {
  if (md5_) EVP_DigestUpdate(md5_.get(), data.data(), data.size());
  EVP_DigestUpdate(sha256_.get(), data.data(), data.size());
  size_ += data.size();
}

BodyDigest StreamDigest::Finish() {
  BodyDigest d;
  d.size = size_;
  if (md5_) d.md5_hex = FinalHex(md5_.get());
  d.sha256_hex = FinalHex(sha256_.get());
  return d;
}

}  // namespace granary::receiver
