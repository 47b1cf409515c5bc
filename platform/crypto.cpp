#include "platform/crypto.h"

#include <openssl/hmac.h>

#include "platform/strings.h"

namespace granary {
namespace {

std::string Digest(std::string_view data, const EVP_MD* md) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(data.data(), data.size(), out, &n, md, nullptr);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(out), n));
}

std::string FinalHex(EVP_MD_CTX* ctx) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx, out, &n);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(out), n));
}

}  // namespace

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kDigits[c >> 4];
    out[2 * i + 1] = kDigits[c & 15];
  }
  return out;
}

Result<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return Error("odd number of hex digits");
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexDigitValue(hex[2 * i]), lo = HexDigitValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return Error("not a hex digit in \"" + std::string(hex.substr(0, 80)) + "\"");
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Md5Hex(std::string_view data) { return Digest(data, EVP_md5()); }

std::string Sha256Hex(std::string_view data) { return Digest(data, EVP_sha256()); }

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

StreamHasher::StreamHasher(bool with_md5)
    : md5_(with_md5 ? EVP_MD_CTX_new() : nullptr, EVP_MD_CTX_free),
      sha256_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
  if (md5_) EVP_DigestInit_ex(md5_.get(), EVP_md5(), nullptr);
  EVP_DigestInit_ex(sha256_.get(), EVP_sha256(), nullptr);
}

void StreamHasher::Update(std::string_view data) {
  if (md5_) EVP_DigestUpdate(md5_.get(), data.data(), data.size());
  EVP_DigestUpdate(sha256_.get(), data.data(), data.size());
  bytes_ += data.size();
}

StreamDigests StreamHasher::Finish() {
  StreamDigests d;
  d.bytes = bytes_;
  if (md5_) d.md5_hex = FinalHex(md5_.get());
  d.sha256_hex = FinalHex(sha256_.get());
  return d;
}

}  // namespace granary
