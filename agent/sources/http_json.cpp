// type = "http_json": GET a URL and store its JSON object, or selected fields of it.
// Bad replies (error statuses, HTML pages, huge or endless bodies, hangs) fail the poll with
// a message naming the URL and quoting the start of the reply; nothing else is affected.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>

#include "agent/sources/json_pointer.h"
#include "agent/sources/quote.h"
#include "agent/sources/source.h"
#include "platform/handles.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

constexpr uint64_t kDefaultMaxBody = 1ULL << 20;
constexpr size_t kQuoteBytes = 256;

std::string QuoteRaw(std::string_view raw) { return granary::QuoteRaw(raw, kQuoteBytes); }

// The URL as errors show it: any password in the userinfo part is masked.
std::string DisplayUrl(const std::string& url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  size_t authority = scheme_end + 3;
  size_t authority_end = url.find_first_of("/?#", authority);
  if (authority_end == std::string::npos) authority_end = url.size();
  size_t at = url.rfind('@', authority_end);
  if (at == std::string::npos || at < authority) return url;
  size_t colon = url.find(':', authority);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

bool HasHttpScheme(const std::string& url) {
  std::string lower = url.substr(0, 8);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  size_t host = lower.rfind("http://", 0) == 0 ? 7 : lower.rfind("https://", 0) == 0 ? 8 : 0;
  return host != 0 && url.size() > host && url[host] != '/';
}

struct Field {
  std::string name;
  JsonPointer pointer;
};

struct HttpJsonOptions {
  std::string url;
  std::vector<Field> fields;  // empty: the whole body
  uint64_t max_body = kDefaultMaxBody;
  std::vector<std::string> headers;
  std::string username;
  std::string password;
  bool tls_verify = true;
  std::string ca_file;
};

class HttpJsonSource : public Source {
 public:
  explicit HttpJsonSource(HttpJsonOptions options)
      : o_(std::move(options)), display_url_(DisplayUrl(o_.url)) {}

  Result<std::vector<SourceReading>> Poll(milliseconds timeout) override {
    Status setup = EnsureHandle();
    if (!setup) return setup.error();
    body_.clear();
    body_too_big_ = false;
    error_buffer_.fill('\0');
    // 0 would mean "no timeout" to curl.
    long timeout_ms = std::max<long>(1, static_cast<long>(timeout.count()));
    curl_easy_setopt(curl_.get(), CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl_.get(), CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);

    CURLcode rc = curl_easy_perform(curl_.get());
    long status = 0;
    curl_easy_getinfo(curl_.get(), CURLINFO_RESPONSE_CODE, &status);
    // An error status says more than "body too large" about a big error page.
    bool capped = body_too_big_ || rc == CURLE_FILESIZE_EXCEEDED;
    if (rc != CURLE_OK && !(capped && status != 0 && (status < 200 || status > 299))) {
      return TransferError(rc, timeout);
    }
    if (status < 200 || status > 299) {
      std::string hint = status >= 300 && status < 400 ? " (redirects are not followed)" : "";
      return Error(
          fmt::format("HTTP {} from {}{}: {}", status, display_url_, hint, QuoteRaw(body_)));
    }
    Result<std::string> data = Extract();
    if (!data) return data.error();
    return std::vector<SourceReading>{{0, std::move(data.value())}};
  }

 private:
  // The handle is kept across polls so the connection is reused (keep-alive).
  Status EnsureHandle() {
    if (curl_) return Status::Ok();
    CurlEasy curl(curl_easy_init());
    if (!curl) return Error("GET " + display_url_ + ": curl_easy_init failed");
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, o_.url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // signals would hit a random thread
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "granary");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer_.data());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &HttpJsonSource::OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, this);
    // Fails early when Content-Length is announced; OnBody catches the rest.
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o_.max_body));
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o_.tls_verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o_.tls_verify ? 2L : 0L);
    if (!o_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o_.ca_file.c_str());
    if (!o_.username.empty()) {
      curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(c, CURLOPT_USERNAME, o_.username.c_str());
      curl_easy_setopt(c, CURLOPT_PASSWORD, o_.password.c_str());
    }
    if (!o_.headers.empty()) {
      CurlSlist list;
      for (const std::string& h : o_.headers) {
        // Appending keeps the head, so only the first append changes the owner.
        curl_slist* head = curl_slist_append(list.get(), h.c_str());
        if (head == nullptr) return Error("GET " + display_url_ + ": out of memory");
        if (!list) list.reset(head);
      }
      headers_ = std::move(list);
      curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers_.get());
    }
    curl_ = std::move(curl);
    return Status::Ok();
  }

  static size_t OnBody(char* data, size_t size, size_t count, void* self_ptr) {
    auto* self = static_cast<HttpJsonSource*>(self_ptr);
    size_t n = size * count;
    if (self->body_.size() + n > self->o_.max_body) {
      self->body_too_big_ = true;
      return 0;  // a short count makes curl abort the transfer
    }
    self->body_.append(data, n);
    return n;
  }

  Error TransferError(CURLcode rc, milliseconds timeout) const {
    std::string prefix = "GET " + display_url_ + ": ";
    if (body_too_big_ || rc == CURLE_FILESIZE_EXCEEDED) {
      return Error(prefix + fmt::format("body larger than max_body ({} bytes)", o_.max_body));
    }
    std::string detail = error_buffer_[0] != '\0' ? error_buffer_.data() : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return Error(prefix + fmt::format("timed out after {}ms ({})", timeout.count(), detail));
    }
    return Error(prefix + detail);
  }

  // The reading's data: the body's object, or the selected fields of it, compact.
  Result<std::string> Extract() const {
    const char* end = nullptr;
    CjsonPtr root(cJSON_ParseWithLengthOpts(body_.data(), body_.size(), &end, false));
    bool trailing = false;
    if (root) {
      auto consumed = static_cast<size_t>(end - body_.data());
      trailing = body_.find_first_not_of(" \t\r\n", consumed) != std::string::npos;
    }
    if (!root || trailing) {
      return Error("reply from " + display_url_ + " is not JSON: " + QuoteRaw(body_));
    }
    if (!cJSON_IsObject(root.get())) {
      return Error("reply from " + display_url_ + " is not a JSON object: " + QuoteRaw(body_));
    }
    if (o_.fields.empty()) return Print(*root);

    CjsonPtr out(cJSON_CreateObject());
    if (!out) return Error("reply from " + display_url_ + ": out of memory");
    for (const Field& f : o_.fields) {
      const cJSON* node = f.pointer.Find(root.get());
      if (node == nullptr) {
        return Error(fmt::format("reply from {}: field {}: JSON pointer \"{}\" not found: {}",
                                 display_url_, f.name, f.pointer.text(), QuoteRaw(body_)));
      }
      CjsonPtr copy(cJSON_Duplicate(node, true));
      if (!copy || !cJSON_AddItemToObject(out.get(), f.name.c_str(), copy.get())) {
        return Error("reply from " + display_url_ + ": out of memory");
      }
      (void)copy.release();  // owned by `out` now
    }
    return Print(*out);
  }

  Result<std::string> Print(const cJSON& json) const {
    CjsonString text(cJSON_PrintUnformatted(&json));
    if (!text) return Error("reply from " + display_url_ + ": out of memory");
    return std::string(text.get());
  }

  const HttpJsonOptions o_;
  const std::string display_url_;
  CurlEasy curl_;
  CurlSlist headers_;
  std::string body_;
  bool body_too_big_ = false;
  std::array<char, CURL_ERROR_SIZE> error_buffer_{};
};

std::vector<Field> ReadFields(ConfigReader& reader) {
  std::vector<Field> fields;
  if (!reader.Has("fields")) return fields;
  std::vector<std::pair<std::string, std::string>> map = reader.StringMap("fields");
  if (map.empty()) reader.Fail("fields", "must name at least one field (or be left out)");
  for (auto& [name, text] : map) {
    Result<JsonPointer> pointer = JsonPointer::Parse(text);
    if (!pointer) {
      reader.Fail("fields", name + ": " + pointer.error().message());
      continue;
    }
    fields.push_back({name, std::move(pointer.value())});
  }
  return fields;
}

std::unique_ptr<Source> CreateHttpJson(ConfigReader& reader) {
  size_t errors_before = reader.diagnostics()->errors.size();
  HttpJsonOptions o;
  o.url = reader.RequiredString("url");
  if (!o.url.empty() && !HasHttpScheme(o.url)) {
    reader.Fail("url", "must be an http:// or https:// URL (got \"" + DisplayUrl(o.url) + "\")");
  } else if (DisplayUrl(o.url) != o.url) {
    // The URL is shown by check-config, status and errors; a password in it would leak.
    reader.Fail("url", "must not hold a password (got \"" + DisplayUrl(o.url) +
                           "\"); use username and password");
  }
  o.fields = ReadFields(reader);
  o.max_body = reader.Size("max_body", kDefaultMaxBody, 2);
  o.headers = reader.StringArray("headers");
  for (const std::string& h : o.headers) {
    size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0 || h.find_first_of("\r\n") != std::string::npos) {
      // The header itself is not quoted: it may carry a token.
      reader.Fail("headers", "each entry must be \"Name: value\" on one line");
      break;
    }
  }
  o.username = reader.String("username", "");
  o.password = reader.SecretString("password", "");
  if (!o.password.empty() && o.username.empty()) {
    reader.Fail("password", "needs a username");
  }
  o.tls_verify = reader.Bool("tls_verify", true);
  o.ca_file = reader.String("ca_file", "");
  std::error_code ec;
  if (!o.ca_file.empty() && !std::filesystem::is_regular_file(o.ca_file, ec)) {
    reader.Fail("ca_file", "no such file: " + o.ca_file);
  }
  if (reader.diagnostics()->errors.size() > errors_before) return nullptr;
  return std::make_unique<HttpJsonSource>(std::move(o));
}

}  // namespace

extern const SourceType kHttpJsonSourceType{"http_json", &CreateHttpJson};

}  // namespace granary
