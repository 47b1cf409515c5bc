// One blocking HTTP exchange at a time over libcurl, for sources that talk to devices on the
// LAN (eagle, prometheus). Redirects are never followed; bodies are capped; every error names
// the method and the URL (with any password masked) and quotes at most 256 bytes of a reply.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "platform/handles.h"
#include "platform/result.h"

namespace granary {

struct HttpClientOptions {
  std::string url;
  std::string username;  // Basic auth when not empty
  std::string password;
  bool tls_verify = true;
  std::string ca_file;
  // CURLOPT_PINNEDPUBLICKEY: "sha256//base64" or a PEM/DER file. Checked even when
  // tls_verify is off, which is how a self-signed device certificate is trusted.
  std::string pinned_public_key;
  uint64_t max_body = 1 << 20;
  std::vector<std::string> headers;  // "Name: value"
  std::chrono::milliseconds connect_timeout{3000};
  // Embedded CGI servers misbehave on kept-alive connections: open one per request.
  bool reuse_connection = true;
};

struct HttpReply {
  long status = 0;
  std::string body;
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);

  // GET, or POST of `post_body` when given. Any HTTP status is a reply; only transport
  // failures (refused, timeout, TLS, body over max_body) are errors.
  // REQUIRES: not called concurrently.
  Result<HttpReply> Fetch(const std::optional<std::string>& post_body,
                          std::chrono::milliseconds timeout);

  // "HTTP 503 from <url>: "<body>"" with a hint for redirects.
  Error StatusError(const HttpReply& reply) const;

  const std::string& display_url() const { return display_url_; }

 private:
  Status EnsureHandle();
  static size_t OnBody(char* data, size_t size, size_t count, void* self_ptr);

  const HttpClientOptions o_;
  const std::string display_url_;
  CurlEasy curl_;
  CurlSlist headers_;
  std::string body_;
  bool body_too_big_ = false;
  std::array<char, CURL_ERROR_SIZE> error_buffer_{};
};

// The URL as errors show it: a password in the userinfo part is masked.
std::string DisplayUrl(const std::string& url);
// True for http:// or https:// followed by a host.
bool HasHttpScheme(const std::string& url);

}  // namespace granary
