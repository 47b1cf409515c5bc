#include "receiver/secret_box.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "platform/crypto.h"
#include "platform/handles.h"
#include "platform/private_file.h"

namespace granary::receiver {
namespace {

constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

CipherCtx NewCtx() { return CipherCtx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free); }

const unsigned char* U(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* U(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

// Written whole under a private name, then linked into place: a process that loses the
// race to create it (two receivers starting at once) reads the winner's whole key, never a
// file still being written.
Status WriteNewKeyFile(const std::string& path, bool* created) {
  if (::access(path.c_str(), F_OK) == 0) return Status::Ok();
  std::string tmp = path + ".new-" + HexEncode(RandomBytes(8));
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Error::FromErrno("create registry key file " + tmp);
  std::string text = HexEncode(RandomBytes(SecretBox::kKeyBytes)) + "\n";
  bool written = ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                 ::fsync(fd.get()) == 0;
  int err = errno;
  bool linked = written && ::link(tmp.c_str(), path.c_str()) == 0;
  if (written && !linked) err = errno;
  ::unlink(tmp.c_str());
  if (!written) return Error::FromErrno("write registry key file " + tmp, err);
  if (!linked && err != EEXIST) return Error::FromErrno("create registry key file " + path, err);
  *created = linked;
  return Status::Ok();
}

}  // namespace

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(U(out), static_cast<int>(n)) != 1) {
    std::fputs("fatal: the OpenSSL random generator failed\n", stderr);
    std::abort();
  }
  return out;
}

Result<SecretBox> SecretBox::FromKeyFile(const std::string& path, bool* created) {
  *created = false;
  if (Status s = WriteNewKeyFile(path, created); !s) return s.error();
  auto text = ReadPrivateFile(path, "registry key file");
  if (!text) return text.error();
  auto key = HexDecode(*text);
  if (!key || key->size() != kKeyBytes) {
    return Error(fmt::format("registry key file {} must hold {} hex digits", path, kKeyBytes * 2));
  }
  return SecretBox(std::move(*key));
}

Result<SecretBox> SecretBox::FromKey(std::string_view key) {
  if (key.size() != kKeyBytes) return Error("a secret box key is 32 bytes");
  return SecretBox(std::string(key));
}

std::string SecretBox::Seal(std::string_view plaintext, std::string_view context) const {
  std::string nonce = RandomBytes(kNonceBytes);
  std::string out(plaintext.size(), '\0');
  std::string tag(kTagBytes, '\0');
  std::string tail(16, '\0');  // GCM's final writes nothing; the API wants a buffer
  CipherCtx ctx = NewCtx();
  int len = 0;
  bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(key_), U(nonce)) &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(context), static_cast<int>(context.size())) &&
      EVP_EncryptUpdate(ctx.get(), U(out), &len, U(plaintext),
                        static_cast<int>(plaintext.size())) &&
      EVP_EncryptFinal_ex(ctx.get(), U(tail), &len) &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, U(tag));
  if (!ok) {
    std::fputs("fatal: AES-256-GCM encryption failed\n", stderr);
    std::abort();
  }
  return HexEncode(nonce + out + tag);
}

Result<std::string> SecretBox::Open(std::string_view sealed, std::string_view context) const {
  auto raw = HexDecode(sealed);
  if (!raw || raw->size() < kNonceBytes + kTagBytes) return Error("sealed secret is malformed");
  std::string_view all(*raw);
  std::string_view nonce = all.substr(0, kNonceBytes);
  std::string_view body = all.substr(kNonceBytes, all.size() - kNonceBytes - kTagBytes);
  std::string tag(all.substr(all.size() - kTagBytes));
  std::string out(body.size(), '\0');
  std::string tail(16, '\0');
  CipherCtx ctx = NewCtx();
  int len = 0;
  bool ok =
      ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, U(key_), U(nonce)) &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(context), static_cast<int>(context.size())) &&
      EVP_DecryptUpdate(ctx.get(), U(out), &len, U(body), static_cast<int>(body.size())) &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, U(tag)) &&
      EVP_DecryptFinal_ex(ctx.get(), U(tail), &len) > 0;
  if (!ok) return Error("sealed secret does not open: altered, or sealed under another key");
  return out;
}

}  // namespace granary::receiver
