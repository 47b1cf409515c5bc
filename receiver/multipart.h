// S3 multipart uploads on the receiver's S3 endpoint: CreateMultipartUpload (POST ?uploads),
// UploadPart (PUT ?partNumber&uploadId), CompleteMultipartUpload (POST ?uploadId),
// AbortMultipartUpload (DELETE ?uploadId), ListParts (GET ?uploadId) and
// ListMultipartUploads (GET /{bucket}?uploads), answered as S3 answers them.
//
// A part streams into quarantine/uploads/{upload id}/ with its digests checked like a PUT's;
// the index's database lists it (UploadTable), so a restarted receiver continues the upload.
// Complete concatenates the listed parts into one quarantine body and hands it to the same
// Pipeline::Process as a PUT; the object's ETag is S3's md5(part MD5s)-N. A Complete retried
// after the upload finished answers as the first did, and one retried after a crash midway
// runs again: the pipeline finds the object indexed (a duplicate), never stored twice.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "receiver/context.h"
#include "receiver/multipart_xml.h"
#include "receiver/s3_body.h"
#include "receiver/upload_table.h"

namespace granary::receiver {

// What an authenticated S3 request names.
struct S3Target {
  std::string bucket, key, device;
  VerifiedRequest verified;
};

// An S3 error, or (error.ok()) a response the endpoint adds its common headers to.
struct S3Reply {
  S3Error error;
  HttpResponse response;
};

// Whether the request is a multipart operation (?uploads or ?uploadId=).
bool IsMultipartRequest(const HttpRequest& request);

// S3's ETag of a multipart object: hex MD5 of the parts' MD5 digests, '-', the part count.
std::string MultipartEtag(const std::vector<std::string>& part_md5_hex);

// One multipart request, after authentication and the key checks (an empty key: the
// bucket's ListMultipartUploads).
class MultipartRequest {
 public:
  MultipartRequest(ReceiverContext& context, const HttpRequest& request, S3Target target);
  ~MultipartRequest();
  MultipartRequest(const MultipartRequest&) = delete;
  MultipartRequest& operator=(const MultipartRequest&) = delete;

  // The answer, or nullopt when the body is to be read.
  std::optional<S3Reply> Start();
  std::optional<S3Reply> Body(std::string_view data);
  // A Complete: concatenation and validation belong in the validation pool.
  bool completing() const { return op_ == Op::kComplete; }
  // The body has arrived; validation stops undecided at `deadline` (SlowDown).
  S3Reply Finish(std::chrono::steady_clock::time_point deadline);

 private:
  enum class Op { kNone, kPart, kComplete };

  S3Reply Create();
  std::optional<S3Reply> BeginPart();
  S3Reply FinishPart();
  S3Reply Complete(std::chrono::steady_clock::time_point deadline);
  // The answer of a Complete of an upload that has finished.
  S3Reply Finished(const UploadRow& upload);
  // Concatenates `parts` into a sealed quarantine entry for `meta` (size, md5 and sha256 are
  // filled in); its id.
  Result<std::string> Concatenate(const std::vector<PartRow>& parts, ObjectMeta& meta);
  S3Reply Abort();
  S3Reply ListParts();
  S3Reply ListUploads();
  S3Reply Ok(int status);
  S3Reply Xml(std::string body);
  S3Reply Internal(const std::string& what, const Error& error);

  ReceiverContext& ctx_;
  const HttpRequest& request_;
  S3Target target_;
  std::string upload_id_;
  UploadRow upload_;
  Op op_ = Op::kNone;
  int part_number_ = 0;
  BodyHeaders body_headers_;
  std::unique_ptr<QuarantineWriter> part_;
  std::string xml_;  // a Complete's body
};

// Removes every upload begun more than multipart.expire_after ago and still open, with its
// parts (parts are not accepted data), forgets finished uploads as old, and removes part
// files no upload lists. Returns how many open uploads expired.
size_t ExpireUploads(ReceiverContext& context);

}  // namespace granary::receiver
