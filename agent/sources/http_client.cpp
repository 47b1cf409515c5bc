#include "agent/sources/http_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "agent/sources/quote.h"

namespace granary {

using std::chrono::milliseconds;

namespace {
constexpr size_t kQuoteBytes = 256;
}  // namespace

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

HttpExchange::HttpExchange(const HttpClientOptions& options)
    : o_(options), display_url_(DisplayUrl(o_.url)) {}

Status HttpExchange::Prepare(CURL* c, const std::optional<std::string>& post_body,
                             milliseconds timeout) {
  method_ = post_body ? "POST " : "GET ";
  timeout_ = timeout;
  body_.clear();
  body_too_big_ = false;
  error_buffer_.fill('\0');
  if (!headers_ && !o_.headers.empty()) {
    CurlSlist list;
    for (const std::string& h : o_.headers) {
      // Appending keeps the head, so only the first append changes the owner.
      curl_slist* head = curl_slist_append(list.get(), h.c_str());
      if (head == nullptr) return Error("out of memory");
      if (!list) list.reset(head);
    }
    headers_ = std::move(list);
  }
  curl_easy_setopt(c, CURLOPT_URL, o_.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // signals would hit a random thread
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "granary");
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer_.data());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &HttpExchange::OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, this);
  // Fails early when Content-Length is announced; OnBody catches the rest.
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o_.max_body));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o_.tls_verify ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o_.tls_verify ? 2L : 0L);
  if (!o_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o_.ca_file.c_str());
  if (!o_.pinned_public_key.empty()) {
    curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, o_.pinned_public_key.c_str());
  }
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, o_.reuse_connection ? 0L : 1L);
  if (!o_.username.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(c, CURLOPT_USERNAME, o_.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, o_.password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers_.get());
  if (post_body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body->c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post_body->size()));
  } else {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  }
  // 0 would mean "no timeout" to curl.
  long timeout_ms = std::max<long>(1, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   std::min<long>(timeout_ms, static_cast<long>(o_.connect_timeout.count())));
  return Status::Ok();
}

Result<HttpReply> HttpExchange::Finish(CURL* c, CURLcode rc) {
  HttpReply reply;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  // An error status says more than "body too large" about a big error page.
  bool capped = body_too_big_ || rc == CURLE_FILESIZE_EXCEEDED;
  bool error_status = reply.status != 0 && (reply.status < 200 || reply.status > 299);
  if (rc != CURLE_OK && !(capped && error_status)) {
    body_.clear();
    std::string prefix = method_ + display_url_ + ": ";
    if (capped)
      return Error(prefix + fmt::format("body larger than max_body ({} bytes)", o_.max_body));
    std::string detail = error_buffer_[0] != '\0' ? error_buffer_.data() : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return Error(prefix + fmt::format("timed out after {}ms ({})", timeout_.count(), detail));
    }
    return Error(prefix + detail);
  }
  reply.body = std::move(body_);
  body_.clear();
  return reply;
}

Error HttpExchange::StatusError(const HttpReply& reply) const {
  std::string hint =
      reply.status >= 300 && reply.status < 400 ? " (redirects are not followed)" : "";
  return Error(fmt::format("HTTP {} from {}{}: {}", reply.status, display_url_, hint,
                           QuoteRaw(reply.body, kQuoteBytes)));
}

size_t HttpExchange::OnBody(char* data, size_t size, size_t count, void* self_ptr) {
  auto* self = static_cast<HttpExchange*>(self_ptr);
  size_t n = size * count;
  if (self->body_.size() + n > self->o_.max_body) {
    self->body_too_big_ = true;
    return 0;  // a short count makes curl abort the transfer
  }
  self->body_.append(data, n);
  return n;
}

HttpClient::HttpClient(HttpClientOptions options) : o_(std::move(options)), exchange_(o_) {}

Result<HttpReply> HttpClient::Fetch(const std::optional<std::string>& post_body,
                                    milliseconds timeout) {
  std::string method = post_body ? "POST " : "GET ";
  if (!curl_) curl_.reset(curl_easy_init());
  if (!curl_) return Error(method + display_url() + ": curl_easy_init failed");
  Status prepared = exchange_.Prepare(curl_.get(), post_body, timeout);
  if (!prepared) return prepared.error().Wrap(method + display_url());
  return exchange_.Finish(curl_.get(), curl_easy_perform(curl_.get()));
}

}  // namespace granary
