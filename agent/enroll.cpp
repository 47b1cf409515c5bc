#include "agent/enroll.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <map>

#include "platform/handles.h"
#include "platform/result.h"
#include "platform/strings.h"

namespace granary {
namespace {

size_t Collect(char* data, size_t size, size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() + size * n > (64 << 10)) return 0;  // an enrollment answer is tiny
  body->append(data, size * n);
  return size * n;
}

Result<std::string> Post(const EnrollOptions& o, const std::string& json) {
  CurlEasy curl(curl_easy_init());
  if (!curl) return Error("curl_easy_init failed");
  std::string url = o.receiver_url + "/api/v1/enroll", body;
  CurlSlist headers(curl_slist_append(nullptr, "Content-Type: application/json"));
  char error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, json.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 15L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  if (!o.ca_file.empty()) curl_easy_setopt(curl.get(), CURLOPT_CAINFO, o.ca_file.c_str());
  CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) {
    return Error(fmt::format("POST {}: {}", url, error[0] != 0 ? error : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    return Error(fmt::format("POST {}: HTTP {}: {}", url, status, TrimSpace(body.substr(0, 200))));
  }
  return body;
}

// The answer's string fields; an error naming the first one missing.
Result<std::map<std::string, std::string>> ParseAnswer(const std::string& body) {
  CjsonPtr json(cJSON_ParseWithLength(body.data(), body.size()));
  std::map<std::string, std::string> out;
  for (const char* name : {"device", "access_key", "secret_key", "region", "bucket", "prefix"}) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(json.get(), name);
    if (!cJSON_IsString(v)) return Error(fmt::format("the receiver's answer lacks \"{}\"", name));
    out[name] = v->valuestring;
  }
  return out;
}

// Written whole or not at all, created with `mode` (never wider for a moment).
// `owner` set: the file is given to that user before it takes its name (root enrolls; the
// service reads it as granary).
Status WritePrivately(const std::string& path, const std::string& text, mode_t mode,
                      const passwd* owner = nullptr) {
  std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) return Error::FromErrno("create " + tmp);
  bool ok = (owner == nullptr || ::fchown(fd.get(), owner->pw_uid, owner->pw_gid) == 0) &&
            ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd.get()) == 0 && fd.Close() == 0 && ::rename(tmp.c_str(), path.c_str()) == 0;
  if (!ok) {
    Error e = Error::FromErrno("write " + path);
    ::unlink(tmp.c_str());
    return e;
  }
  return Status::Ok();
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return out + "\"";
}

}  // namespace

int RunEnroll(const EnrollOptions& o) {
  std::string url = o.receiver_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (!url.starts_with("https://")) {
    std::fprintf(stderr, "--receiver must be an https:// URL: the answer carries the secret\n");
    return 2;
  }
  EnrollOptions options = o;
  options.receiver_url = url;
  auto body = Post(options, "{\"token\":" + Quote(o.token) + "}");
  if (!body) {
    std::fprintf(stderr, "enroll: %s\n", body.error().message().c_str());
    return 1;
  }
  auto answer = ParseAnswer(*body);
  if (!answer) {
    std::fprintf(stderr, "enroll: %s\n", answer.error().message().c_str());
    return 1;
  }
  auto& a = *answer;
  size_t slash = o.config_path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : o.config_path.substr(0, slash);
  if (dir.empty()) dir = "/";
  std::string credentials = dir + "/s3.credentials";
  std::string dropin_dir = dir + "/conf.d", dropin = dropin_dir + "/upload.toml";
  std::string section = fmt::format(
      "[upload]\nendpoint = {}\nbucket = {}\nregion = {}\nprefix = {}\ncredentials_file = {}\n",
      Quote(url), Quote(a["bucket"]), Quote(a["region"]), Quote(a["prefix"]), Quote(credentials));
  if (!o.ca_file.empty()) section += "ca_file = " + Quote(o.ca_file) + "\n";
  const passwd* service = ::geteuid() == 0 ? ::getpwnam("granary") : nullptr;
  Status s = WritePrivately(credentials,
                            fmt::format("[default]\naws_access_key_id = {}\n"
                                        "aws_secret_access_key = {}\n",
                                        a["access_key"], a["secret_key"]),
                            0600, service);
  if (s && ::mkdir(dropin_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    s = Error::FromErrno("create " + dropin_dir);
  }
  if (s) {
    s = WritePrivately(
        dropin, "# Written by `granary enroll` for device " + a["device"] + ".\n" + section, 0644);
  }
  if (!s) {
    std::fprintf(stderr, "enroll: %s\n", s.error().message().c_str());
    return 1;
  }
  std::printf(
      "enrolled as device %s (access key %s)\nwrote %s (mode 0600%s)\nwrote %s:\n\n%s\n"
      "The agent's `device` must be \"%s\"; a running agent applies the drop-in at once, and "
      "`granary check-config -c %s` shows it merged.\n",
      a["device"].c_str(), a["access_key"].c_str(), credentials.c_str(),
      service != nullptr ? ", owner granary" : "", dropin.c_str(), section.c_str(),
      a["device"].c_str(), o.config_path.c_str());
  return 0;
}

}  // namespace granary
