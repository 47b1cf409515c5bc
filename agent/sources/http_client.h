// HTTP exchanges over libcurl, for sources that talk to devices on the LAN (http_json, eagle,
// prometheus). Redirects are never followed; bodies are capped; every error names the method
// and the URL (with any password masked) and quotes at most 256 bytes of a reply.
//
// An HttpExchange is one request's setup and outcome. It runs either blocking, through
// HttpClient::Fetch on the client's own handle, or on the shared HttpLoop (http_loop.h);
// both paths read the outcome with the same Finish(), so they report alike.
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

class HttpExchange {
 public:
  // `options` must outlive the exchange.
  explicit HttpExchange(const HttpClientOptions& options);
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  // Sets every option of one request on `c`, a fresh handle or one reset or last used by
  // this exchange. GET, or POST of `post_body` when given. The exchange must stay alive and
  // unused until Finish().
  Status Prepare(CURL* c, const std::optional<std::string>& post_body,
                 std::chrono::milliseconds timeout);
  // The outcome once curl is done with `c`. Any HTTP status is a reply; only transport
  // failures (refused, timeout, TLS, body over max_body) are errors.
  Result<HttpReply> Finish(CURL* c, CURLcode rc);

  // "HTTP 503 from <url>: "<body>"" with a hint for redirects.
  Error StatusError(const HttpReply& reply) const;
  const std::string& display_url() const { return display_url_; }

 private:
  static size_t OnBody(char* data, size_t size, size_t count, void* self_ptr);

  const HttpClientOptions& o_;
  const std::string display_url_;
  CurlSlist headers_;  // built on first Prepare, kept: curl reads it during the transfer
  std::string method_;
  std::chrono::milliseconds timeout_{0};
  std::string body_;
  bool body_too_big_ = false;
  std::array<char, CURL_ERROR_SIZE> error_buffer_{};
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);

  // One blocking exchange on the client's own handle, which keeps its connection for the
  // next call. REQUIRES: not called concurrently, nor while exchange() is on a loop.
  Result<HttpReply> Fetch(const std::optional<std::string>& post_body,
                          std::chrono::milliseconds timeout);

  // For running the same request on an HttpLoop instead.
  HttpExchange& exchange() { return exchange_; }
  Error StatusError(const HttpReply& reply) const { return exchange_.StatusError(reply); }
  const std::string& display_url() const { return exchange_.display_url(); }

 private:
  const HttpClientOptions o_;
  HttpExchange exchange_;
  CurlEasy curl_;  // made on the first Fetch: a client run only on a loop never needs it
};

// The URL as errors show it: a password in the userinfo part is masked.
std::string DisplayUrl(const std::string& url);
// True for http:// or https:// followed by a host.
bool HasHttpScheme(const std::string& url);

}  // namespace granary
