// The multipart upload calls. Each answer's XML is parsed here; what to do with a failure is
// the caller's (agent/upload/multipart.h).
#include <fmt/format.h>

#include <cstdio>

#include "s3/s3_call.h"
#include "s3/s3_xml.h"

namespace granary {
namespace {

// A ListParts page of 1000 parts or a ListMultipartUploads page is a few hundred KiB.
constexpr size_t kMaxAnswerBody = 4 << 20;

std::string UploadIdQuery(const std::string& upload_id) {
  return "uploadId=" + sigv4::UriEncode(upload_id, /*encode_slash=*/true);
}

}  // namespace

Result<S3UploadStart> S3Client::CreateMultipartUpload(const std::string& key,
                                                      const sigv4::Headers& metadata) {
  Call call;
  call.method = "POST";
  call.key = key;
  call.query = "uploads=";
  call.extra = metadata;
  call.extra.emplace_back("content-type", "application/octet-stream");
  std::string body;
  Result<S3Response> r = PerformCollect(call, body, kMaxAnswerBody);
  if (!r) return r.error();
  S3UploadStart start;
  start.response = std::move(*r);
  if (!start.response.ok()) return start;
  Result<std::string> id = ParseInitiateMultipartUpload(body);
  if (!id) return id.error().Wrap("create multipart upload " + key);
  start.upload_id = std::move(*id);
  return start;
}

Result<S3Response> S3Client::UploadPart(const std::string& key, const std::string& upload_id,
                                        uint32_t number, const std::string& file_path,
                                        uint64_t offset, uint64_t size, std::string_view md5_hex,
                                        std::string_view sha256_hex) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(file_path.c_str(), "rb"), std::fclose);
  if (!f) return Error::FromErrno("open " + file_path);
  if (fseeko(f.get(), static_cast<off_t>(offset), SEEK_SET) != 0) {
    return Error::FromErrno(fmt::format("seek {} to {}", file_path, offset));
  }
  Call call;
  call.method = "PUT";
  call.key = key;
  call.query = fmt::format("partNumber={}&{}", number, UploadIdQuery(upload_id));
  call.payload_sha256 = std::string(sha256_hex);
  call.extra.emplace_back("content-md5", s3_detail::Base64OfHex(md5_hex));
  call.upload = f.get();
  call.upload_size = size;
  return Perform(call);
}

Result<S3PartPage> S3Client::ListParts(const std::string& key, const std::string& upload_id,
                                       uint32_t marker) {
  Call call;
  call.method = "GET";
  call.key = key;
  call.query = UploadIdQuery(upload_id);
  // Query parameters are signed in canonical (sorted) order; the wire order is ours.
  if (marker > 0) call.query = fmt::format("part-number-marker={}&{}", marker, call.query);
  std::string body;
  Result<S3Response> r = PerformCollect(call, body, kMaxAnswerBody);
  if (!r) return r.error();
  S3PartPage page;
  page.response = std::move(*r);
  if (!page.response.ok()) return page;
  Result<S3PartList> list = ParseListParts(body);
  if (!list) return list.error().Wrap("list parts of " + key);
  page.list = std::move(*list);
  return page;
}

Result<S3PendingUploadPage> S3Client::ListMultipartUploads(const std::string& prefix,
                                                           const std::string& key_marker,
                                                           const std::string& upload_id_marker) {
  Call call;
  call.method = "GET";
  call.query = "";
  if (!key_marker.empty()) {
    call.query += "key-marker=" + sigv4::UriEncode(key_marker, /*encode_slash=*/true) + "&";
  }
  call.query += "prefix=" + sigv4::UriEncode(prefix, /*encode_slash=*/true);
  if (!upload_id_marker.empty()) {
    call.query += "&upload-id-marker=" + sigv4::UriEncode(upload_id_marker, true);
  }
  call.query += "&uploads=";
  std::string body;
  Result<S3Response> r = PerformCollect(call, body, kMaxAnswerBody);
  if (!r) return r.error();
  S3PendingUploadPage page;
  page.response = std::move(*r);
  if (!page.response.ok()) return page;
  Result<S3PendingUploadList> list = ParseListMultipartUploads(body);
  if (!list) return list.error().Wrap("list multipart uploads under " + prefix);
  page.list = std::move(*list);
  return page;
}

Result<S3Response> S3Client::CompleteMultipartUpload(const std::string& key,
                                                     const std::string& upload_id,
                                                     const std::vector<S3Part>& parts) {
  Call call;
  call.method = "POST";
  call.key = key;
  call.query = UploadIdQuery(upload_id);
  call.post_body = CompleteMultipartUploadXml(parts);
  call.payload_sha256 = Sha256Hex(call.post_body);
  call.extra.emplace_back("content-type", "application/xml");
  std::string body;
  Result<S3Response> r = PerformCollect(call, body, kMaxAnswerBody);
  if (!r || !r->ok()) return r;
  Result<std::string> etag = ParseCompleteMultipartUpload(body);
  if (!etag) {
    // Keep the document, so the verdict can tell an S3 error from a garbled answer.
    r->status = 500;
    r->body = body.substr(0, 64 * 1024);
    if (auto doc = ParseS3Error(body)) {
      r->error_code = doc->code;
      r->error_message = doc->message;
    } else {
      r->error_code = "InternalError";
      r->error_message = etag.error().message();
    }
    return r;
  }
  // The ETag in the document is the object's; the header (if any) may be absent.
  r->headers["etag"] = "\"" + *etag + "\"";
  return r;
}

Result<S3Response> S3Client::AbortMultipartUpload(const std::string& key,
                                                  const std::string& upload_id) {
  Call call;
  call.method = "DELETE";
  call.key = key;
  call.query = UploadIdQuery(upload_id);
  return Perform(call);
}

}  // namespace granary
