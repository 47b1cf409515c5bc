#include "platform/private_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/handles.h"

namespace granary {
namespace {

// Nobody's password is this long; a bigger file is the wrong file.
constexpr off_t kMaxSecretBytes = 64 << 10;

}  // namespace

Result<std::string> ReadPrivateFile(const std::string& path, const std::string& what) {
  // fstat on the opened file, so the mode checked is that of the file read.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return Error::FromErrno(what + " " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::FromErrno(what + " " + path);
  if (!S_ISREG(st.st_mode)) return Error(fmt::format("{} {} is not a regular file", what, path));
  if ((st.st_mode & 077) != 0) {
    return Error(fmt::format("{} {} has mode {:04o}; it must be 0600 or 0400 (chmod 600 {})", what,
                             path, st.st_mode & 07777, path));
  }
  if (st.st_size > kMaxSecretBytes) {
    return Error(fmt::format("{} {} is larger than {} bytes", what, path, kMaxSecretBytes));
  }
  std::string content;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("read " + what + " " + path);
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
  }
  if (!content.empty() && content.back() == '\n') content.pop_back();
  if (!content.empty() && content.back() == '\r') content.pop_back();
  return content;
}

}  // namespace granary
