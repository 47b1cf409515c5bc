#include "s3/credentials.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "platform/strings.h"

namespace granary {
namespace {

std::string Trim(std::string_view s) { return std::string(TrimSpace(s)); }

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

std::string Credentials::Redacted() const {
  return access_key.substr(0, 4) + "…" + (session_token.empty() ? "" : " (session)");
}

Result<Credentials> LoadCredentials(const std::string& file, const std::string& profile) {
  Credentials c;
  if (file.empty()) {
    c.access_key = Env("AWS_ACCESS_KEY_ID");
    c.secret_key = Env("AWS_SECRET_ACCESS_KEY");
    c.session_token = Env("AWS_SESSION_TOKEN");
    if (c.access_key.empty() || c.secret_key.empty()) {
      return Error(
          "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
          "upload.credentials_file");
    }
    return c;
  }
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return Error::FromErrno("credentials file " + file);
  if ((st.st_mode & 077) != 0) {
    return Error(
        fmt::format("credentials file {} has mode {:04o}; it must be 0600 or 0400 "
                    "(chmod 600 {})",
                    file, st.st_mode & 07777, file));
  }
  std::ifstream in(file);
  if (!in) return Error::FromErrno("read credentials file " + file);
  const std::string want = profile.empty() ? "default" : profile;
  std::string line, section;
  bool found = false;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    line = Trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') return Error(fmt::format("{}:{}: bad section header", file, n));
      section = Trim(line.substr(1, line.size() - 2));
      if (section.rfind("profile ", 0) == 0) section = Trim(section.substr(8));
      found |= section == want;
      continue;
    }
    if (section != want) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) return Error(fmt::format("{}:{}: expected key = value", file, n));
    std::string key = Trim(line.substr(0, eq)), value = Trim(line.substr(eq + 1));
    if (key == "aws_access_key_id") c.access_key = value;
    if (key == "aws_secret_access_key") c.secret_key = value;
    if (key == "aws_session_token") c.session_token = value;
  }
  if (!found) return Error(fmt::format("credentials file {} has no profile [{}]", file, want));
  if (c.access_key.empty() || c.secret_key.empty()) {
    return Error(
        fmt::format("credentials file {} profile [{}] lacks aws_access_key_id or "
                    "aws_secret_access_key",
                    file, want));
  }
  return c;
}

}  // namespace granary
