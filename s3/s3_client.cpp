#include "s3/s3_client.h"

#include <fmt/format.h>

#include <cstdio>

#include "platform/crypto.h"
#include "platform/strings.h"
#include "platform/time.h"
#include "s3/s3_call.h"
#include "s3/s3_xml.h"

namespace granary {
namespace {

constexpr size_t kMaxKeptBody = 64 * 1024;
// A ListObjectsV2 page of 1000 keys is a few hundred KiB; more is not an S3 answer.
constexpr size_t kMaxListBody = 16 << 20;

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<S3Response*>(user);
  std::string_view line(data, size * n);
  size_t colon = line.find(':');
  if (line.rfind("HTTP/", 0) == 0) r->headers.clear();  // a new response (after 100-continue)
  if (colon != std::string_view::npos) {
    std::string name = AsciiLower(line.substr(0, colon));
    r->headers[name] = std::string(TrimSpace(line.substr(colon + 1)));
  }
  return size * n;
}

}  // namespace

std::string S3Response::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

S3Client::S3Client(Env& env, S3Options options, Credentials credentials)
    : env_(env),
      options_(std::move(options)),
      credentials_(std::move(credentials)),
      curl_(curl_easy_init()) {}

S3Client::~S3Client() = default;

void S3Client::Idle() { curl_.reset(); }

std::string S3Client::ObjectUrl(const std::string& key) const {
  // Built by appending: GCC 12 at -O3 mistakes `"/" + s` here for an overlapping memcpy.
  std::string path(1, '/');
  path.append(sigv4::UriEncode(key, /*encode_slash=*/false));
  std::string url;
  if (options_.path_style) {
    url.append(options_.endpoint).append("/").append(options_.bucket);
    if (!key.empty()) url.append(path);
    return url;
  }
  size_t scheme = options_.endpoint.find("://") + 3;
  url.append(options_.endpoint, 0, scheme).append(options_.bucket).append(".");
  url.append(options_.endpoint, scheme, std::string::npos);
  url.append(key.empty() ? std::string("/") : path);
  return url;
}

Result<S3Response> S3Client::Perform(Call& call) {
  if (!curl_) curl_.reset(curl_easy_init());  // after Idle()
  CURL* c = curl_.get();
  if (c == nullptr) return Error("curl_easy_init failed");
  curl_easy_reset(c);  // keeps the connection cache: keep-alive across requests
  call.curl = c;

  std::string url = ObjectUrl(call.key);
  std::string after_scheme = url.substr(url.find("://") + 3);
  std::string host = after_scheme.substr(0, after_scheme.find('/'));
  std::string path = after_scheme.substr(host.size());
  if (!call.query.empty()) url.append("?").append(call.query);

  int64_t now = env_.WallNowMs() + clock_offset_ms_;
  std::string amz_date = FormatAmzDate(now);
  sigv4::Headers headers = call.extra;
  headers.emplace_back("host", host);
  headers.emplace_back("x-amz-content-sha256", call.payload_sha256);
  headers.emplace_back("x-amz-date", amz_date);
  if (!credentials_.session_token.empty()) {
    headers.emplace_back("x-amz-security-token", credentials_.session_token);
  }
  sigv4::Request req{call.method, path, call.query, headers, call.payload_sha256};
  std::vector<std::string> names = sigv4::HeaderNames(headers);
  auto creq = sigv4::CanonicalRequest(req, names);
  if (!creq) return creq.error().Wrap("sign " + call.method + " " + call.key);
  sigv4::Scope scope{FormatAmzDay(now), options_.region, "s3"};
  std::string signature =
      sigv4::Signature(credentials_.secret_key, scope, sigv4::StringToSign(amz_date, scope, *creq));

  CurlSlist list;
  auto add = [&list](const std::string& line) {
    list.reset(curl_slist_append(list.release(), line.c_str()));
  };
  for (const auto& [name, value] : headers) add(name + ": " + value);
  add("Authorization: " +
      sigv4::FormatAuthorization(credentials_.access_key, scope, names, signature));
  add("Accept:");  // libcurl's default Accept is unsigned noise

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(std::max<int64_t>(1, options_.stall_timeout.count() / 1000)));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, options_.tls_verify ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, options_.tls_verify ? 2L : 0L);
  if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_PROXY, options_.proxy.c_str());  // "" disables env proxies
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &call.response);
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* user) -> size_t {
        auto* call = static_cast<Call*>(user);
        std::string_view chunk(data, size * n);
        long code = 0;
        curl_easy_getinfo(call->curl, CURLINFO_RESPONSE_CODE, &code);
        // Only a success body goes to the sink; an error document is kept.
        if (call->sink != nullptr && code >= 200 && code < 300) {
          if (!(*call->sink)(chunk)) {
            call->sink_aborted = true;
            return 0;
          }
          return chunk.size();
        }
        std::string& body = call->response.body;
        if (body.size() < kMaxKeptBody) {
          body.append(chunk.substr(0, kMaxKeptBody - body.size()));
        }
        return chunk.size();
      });
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &call);
  if (options_.cancel != nullptr) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, options_.cancel);
    curl_easy_setopt(
        c, CURLOPT_XFERINFOFUNCTION,
        +[](void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
          return static_cast<const std::atomic<bool>*>(cancel)->load() ? 1 : 0;
        });
  }
  if (call.method == "PUT") {
    call.upload_left = call.upload_size;
    call.upload_start = ftello(call.upload);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READDATA, &call);
    curl_easy_setopt(
        c, CURLOPT_READFUNCTION, +[](char* data, size_t size, size_t n, void* user) -> size_t {
          auto* call = static_cast<Call*>(user);
          size_t want = static_cast<size_t>(std::min<uint64_t>(size * n, call->upload_left));
          size_t got = want == 0 ? 0 : std::fread(data, 1, want, call->upload);
          if (got < want && std::ferror(call->upload)) return CURL_READFUNC_ABORT;
          call->upload_left -= got;
          return got;
        });
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(call.upload_size));
    // A request retried on a fresh connection (a kept-alive one the server had closed)
    // sends the body again from its start.
    curl_easy_setopt(c, CURLOPT_SEEKDATA, &call);
    curl_easy_setopt(
        c, CURLOPT_SEEKFUNCTION, +[](void* user, curl_off_t offset, int origin) -> int {
          auto* call = static_cast<Call*>(user);
          if (origin != SEEK_SET || offset < 0 ||
              static_cast<uint64_t>(offset) > call->upload_size ||
              fseeko(call->upload, call->upload_start + static_cast<off_t>(offset), SEEK_SET) !=
                  0) {
            return CURL_SEEKFUNC_CANTSEEK;
          }
          call->upload_left = call->upload_size - static_cast<uint64_t>(offset);
          return CURL_SEEKFUNC_OK;
        });
    if (options_.max_send_bytes_per_s > 0) {
      curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE,
                       static_cast<curl_off_t>(options_.max_send_bytes_per_s));
    }
  } else if (call.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, call.post_body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(call.post_body.size()));
  } else if (call.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (call.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  }

  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &call.response.status);
  if (rc != CURLE_OK && !(call.sink_aborted && rc == CURLE_WRITE_ERROR)) {
    return Error(fmt::format("{} {}: {}", call.method, url, curl_easy_strerror(rc)),
                 rc == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT : ECONNABORTED);
  }
  if (!call.response.ok() && !call.response.body.empty()) {
    if (auto doc = ParseS3Error(call.response.body)) {
      call.response.error_code = doc->code;
      call.response.error_message = doc->message;
    }
  }
  return std::move(call.response);
}

Result<S3Response> S3Client::PutObject(const std::string& key, const std::string& file_path,
                                       uint64_t size, std::string_view md5_hex,
                                       std::string_view sha256_hex,
                                       const sigv4::Headers& metadata) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(file_path.c_str(), "rb"), std::fclose);
  if (!f) return Error::FromErrno("open " + file_path);
  return Put(key, f.get(), size, md5_hex, sha256_hex, metadata);
}

Result<S3Response> S3Client::PutObjectData(const std::string& key, std::string_view body,
                                           const sigv4::Headers& metadata) {
  std::string copy(body);  // fmemopen needs a mutable buffer
  std::unique_ptr<FILE, int (*)(FILE*)> f(
      copy.empty() ? std::fopen("/dev/null", "rb") : fmemopen(copy.data(), copy.size(), "rb"),
      std::fclose);
  if (!f) return Error::FromErrno("fmemopen");
  return Put(key, f.get(), copy.size(), Md5Hex(body), Sha256Hex(body), metadata);
}

Result<S3Response> S3Client::Put(const std::string& key, FILE* body, uint64_t size,
                                 std::string_view md5_hex, std::string_view sha256_hex,
                                 const sigv4::Headers& metadata) {
  Call call;
  call.method = "PUT";
  call.key = key;
  call.payload_sha256 = std::string(sha256_hex);
  call.extra = metadata;
  call.extra.emplace_back("content-md5", s3_detail::Base64OfHex(md5_hex));
  call.extra.emplace_back("content-type", "application/octet-stream");
  call.upload = body;
  call.upload_size = size;
  return Perform(call);
}

Result<S3Response> S3Client::GetObject(const std::string& key,
                                       const std::function<bool(std::string_view)>& sink) {
  Call call;
  call.method = "GET";
  call.key = key;
  call.sink = &sink;
  return Perform(call);
}

Result<S3Response> S3Client::GetObjectRange(const std::string& key, uint64_t first, uint64_t last,
                                            const std::function<bool(std::string_view)>& sink) {
  Call call;
  call.method = "GET";
  call.key = key;
  call.extra.emplace_back("range", fmt::format("bytes={}-{}", first, last));
  call.sink = &sink;
  return Perform(call);
}

Result<S3Response> S3Client::DeleteObject(const std::string& key) {
  Call call;
  call.method = "DELETE";
  call.key = key;
  return Perform(call);
}

Result<S3Response> S3Client::HeadObject(const std::string& key) {
  Call call;
  call.method = "HEAD";
  call.key = key;
  return Perform(call);
}

Result<S3Response> S3Client::PerformCollect(Call& call, std::string& body, size_t max_bytes) {
  const std::function<bool(std::string_view)> sink = [&body, max_bytes](std::string_view chunk) {
    if (body.size() + chunk.size() > max_bytes) return false;
    body.append(chunk);
    return true;
  };
  call.sink = &sink;
  Result<S3Response> r = Perform(call);
  if (r && call.sink_aborted) {
    return Error(fmt::format("{} {}: the answer is larger than {} bytes", call.method,
                             call.key.empty() ? call.query : call.key, max_bytes));
  }
  return r;
}

Result<S3ListPage> S3Client::ListObjects(const std::string& prefix, const std::string& token) {
  std::string body;
  Call call;
  call.method = "GET";
  call.query = "list-type=2&prefix=" + sigv4::UriEncode(prefix, /*encode_slash=*/true);
  if (!token.empty()) {
    call.query += "&continuation-token=" + sigv4::UriEncode(token, /*encode_slash=*/true);
  }
  Result<S3Response> r = PerformCollect(call, body, kMaxListBody);
  if (!r) return r.error();
  S3ListPage page;
  page.response = std::move(*r);
  if (!page.response.ok()) return page;
  Result<S3ObjectList> list = ParseListObjectsV2(body);
  if (!list) return list.error().Wrap("list " + prefix);
  page.list = std::move(*list);
  return page;
}

}  // namespace granary
