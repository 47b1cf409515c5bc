// A small S3 client over libcurl: PUT (streamed from a file or from memory), GET, HEAD,
// ListObjectsV2 and the multipart upload calls (s3_multipart.cpp), signed with our own SigV4
// (s3/sigv4.h) rather than CURLOPT_AWS_SIGV4: libcurl 7.88 cannot sign with a learned clock offset
// (needed after RequestTimeTooSkewed) and mis-canonicalises paths, queries and some header sets
// (docs/decisions.md). Shared by the agent's uploader and the receiver's real-S3 mode.
//
// Not thread-safe: one client per thread (it keeps one connection alive).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "platform/env.h"
#include "platform/handles.h"
#include "platform/result.h"
#include "s3/credentials.h"
#include "s3/s3_xml.h"
#include "s3/sigv4.h"

namespace granary {

struct S3Options {
  std::string endpoint;  // scheme://host[:port], e.g. https://s3.eu-west-1.amazonaws.com
  std::string region = "us-east-1";
  std::string bucket;
  bool path_style = true;  // false: virtual-hosted, bucket.host
  std::string ca_file;     // empty: the system's CAs
  bool tls_verify = true;
  std::string proxy;  // empty: none (libcurl's proxy environment variables are ignored)
  std::chrono::milliseconds connect_timeout{10'000};
  // A transfer slower than 1 KiB/s for this long is abandoned (a dead link, not a slow one).
  std::chrono::milliseconds stall_timeout{60'000};
  uint64_t max_send_bytes_per_s = 0;  // 0: no cap
  // When set and true, a transfer in flight is abandoned within about a second (shutdown
  // must not wait for a capped upload of a big segment to finish).
  const std::atomic<bool>* cancel = nullptr;
};

struct S3Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;                            // at most 64 KiB kept (error documents)
  std::string error_code;                      // S3 <Code>, when the body is an S3 error document
  std::string error_message;
  bool ok() const { return status >= 200 && status < 300; }
  std::string Header(const std::string& lower_name) const;
};

struct S3ListPage {
  S3Response response;  // a failure: status, error_code and error_message
  S3ObjectList list;    // a success: the page
};

struct S3UploadStart {
  S3Response response;
  std::string upload_id;  // a success: the new upload
};

struct S3PartPage {
  S3Response response;
  S3PartList list;
};

struct S3PendingUploadPage {
  S3Response response;
  S3PendingUploadList list;
};

class S3Client {
 public:
  S3Client(Env& env, S3Options options, Credentials credentials);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Network failures (refused, timeout, reset) are Errors; any HTTP answer is a response.
  Result<S3Response> PutObject(const std::string& key, const std::string& file_path, uint64_t size,
                               std::string_view md5_hex, std::string_view sha256_hex,
                               const sigv4::Headers& metadata);
  // A small body from memory (tombstones, tests).
  Result<S3Response> PutObjectData(const std::string& key, std::string_view body,
                                   const sigv4::Headers& metadata);
  // Streams the body to `sink`; the sink returns false to abort.
  Result<S3Response> GetObject(const std::string& key,
                               const std::function<bool(std::string_view)>& sink);
  // Bytes [first, last] of the object (a 206 answer), streamed to `sink`.
  Result<S3Response> GetObjectRange(const std::string& key, uint64_t first, uint64_t last,
                                    const std::function<bool(std::string_view)>& sink);
  Result<S3Response> DeleteObject(const std::string& key);
  // One ListObjectsV2 page of the keys under `prefix` (`token`: the previous page's
  // NextContinuationToken, empty for the first). A success body is parsed, never truncated.
  Result<S3ListPage> ListObjects(const std::string& prefix, const std::string& token);

  Result<S3Response> HeadObject(const std::string& key);

  // Multipart upload. Metadata (x-amz-meta-*) goes on Create; S3 keeps it for the object.
  Result<S3UploadStart> CreateMultipartUpload(const std::string& key,
                                              const sigv4::Headers& metadata);
  // Part `number` (1..10000) is `size` bytes of `file_path` from `offset`, whose digests the
  // caller computed by reading that range: the body is signed with its SHA-256 and sent with
  // its Content-MD5, so a part that changes in transit is refused.
  Result<S3Response> UploadPart(const std::string& key, const std::string& upload_id,
                                uint32_t number, const std::string& file_path, uint64_t offset,
                                uint64_t size, std::string_view md5_hex,
                                std::string_view sha256_hex);
  // One page of the parts the server holds (`marker`: the previous page's next_marker, 0 first).
  Result<S3PartPage> ListParts(const std::string& key, const std::string& upload_id,
                               uint32_t marker);
  // One page of the uploads in progress whose keys start with `prefix`.
  Result<S3PendingUploadPage> ListMultipartUploads(const std::string& prefix,
                                                   const std::string& key_marker,
                                                   const std::string& upload_id_marker);
  // A 200 whose body is an error document (S3 found the error after it began answering)
  // comes back as status 500 with that document's code and message.
  Result<S3Response> CompleteMultipartUpload(const std::string& key, const std::string& upload_id,
                                             const std::vector<S3Part>& parts);
  Result<S3Response> AbortMultipartUpload(const std::string& key, const std::string& upload_id);

  // Closes the kept-alive connection and frees libcurl's handle and buffers; the next
  // request opens them again. For a caller about to sleep for longer than a server keeps
  // an idle connection anyway.
  void Idle();

  // Signs as if the clock were `offset_ms` ahead (learned from the server's Date).
  void SetClockOffset(int64_t offset_ms) { clock_offset_ms_ = offset_ms; }
  int64_t clock_offset_ms() const { return clock_offset_ms_; }

  // Path (and host) for `key`, encoded once in S3's canonical form.
  std::string ObjectUrl(const std::string& key) const;

 private:
  struct Call;
  Result<S3Response> Perform(Call& call);
  // Perform with the success body collected (at most `max_bytes`) into `body`.
  Result<S3Response> PerformCollect(Call& call, std::string& body, size_t max_bytes);
  Result<S3Response> Put(const std::string& key, FILE* body, uint64_t size,
                         std::string_view md5_hex, std::string_view sha256_hex,
                         const sigv4::Headers& metadata);

  Env& env_;
  S3Options options_;
  Credentials credentials_;
  CurlEasy curl_;
  int64_t clock_offset_ms_ = 0;
};

}  // namespace granary
