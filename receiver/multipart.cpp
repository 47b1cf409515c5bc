#include "receiver/multipart.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "platform/crypto.h"
#include "platform/handles.h"
#include "platform/log.h"
#include "platform/strings.h"
#include "platform/time.h"
#include "receiver/secret_box.h"

namespace granary::receiver {
namespace {

constexpr uint64_t kMinPartBytes = 5ull << 20;  // S3's, for every part but the last
constexpr size_t kMaxCompleteBodyBytes = 2u << 20;
constexpr const char* kXmlHead = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
constexpr const char* kXmlns = " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
// A part file no upload lists is left by a crash while it was written, or by a part sent
// again whose old file could not be removed; younger ones may still be being written.
constexpr int64_t kUnlistedPartAgeMs = 3600 * 1000;

S3Error NoSuchUpload() {
  return MakeS3Error("NoSuchUpload",
                     "The specified upload does not exist. The upload ID may be invalid, or the "
                     "upload may have been aborted or completed.");
}

S3Error InternalError() {
  return MakeS3Error("InternalError", "We encountered an internal error. Please try again.");
}

S3Reply ErrorReply(S3Error error) { return S3Reply{std::move(error), {}}; }

// The S3 operation a multipart request asks for, the label /metrics counts it under.
const char* OperationName(const std::string& method, bool on_bucket, bool has_id) {
  if (on_bucket) return method == "GET" && !has_id ? "ListMultipartUploads" : "Other";
  if (!has_id) return method == "POST" ? "CreateMultipartUpload" : "Other";
  if (method == "PUT") return "UploadPart";
  if (method == "GET") return "ListParts";
  if (method == "DELETE") return "AbortMultipartUpload";
  if (method == "POST") return "CompleteMultipartUpload";
  return "Other";
}

}  // namespace

bool IsMultipartRequest(const HttpRequest& request) {
  bool uploads = false, upload_id = false;
  QueryParam(request.raw_query, "uploads", &uploads);
  QueryParam(request.raw_query, "uploadId", &upload_id);
  return uploads || upload_id;
}

std::string MultipartEtag(const std::vector<std::string>& part_md5_hex) {
  std::string digests;
  for (const std::string& hex : part_md5_hex) {
    Result<std::string> raw = HexDecode(hex);
    if (raw) digests += *raw;
  }
  return fmt::format("{}-{}", Md5Hex(digests), part_md5_hex.size());
}

MultipartRequest::MultipartRequest(ReceiverContext& context, const HttpRequest& request,
                                   S3Target target)
    : ctx_(context), request_(request), target_(std::move(target)) {}

MultipartRequest::~MultipartRequest() = default;

S3Reply MultipartRequest::Ok(int status) {
  S3Reply r;
  r.response.status = status;
  return r;
}

S3Reply MultipartRequest::Xml(std::string body) {
  S3Reply r = Ok(200);
  r.response.headers.emplace_back("Content-Type", "application/xml");
  r.response.body = kXmlHead + std::move(body);
  return r;
}

S3Reply MultipartRequest::Internal(const std::string& what, const Error& error) {
  log::Error("multipart upload {} of {}/{}: {}: {}", upload_id_, target_.bucket, target_.key, what,
             error.message());
  return ErrorReply(InternalError());
}

std::optional<S3Reply> MultipartRequest::Start() {
  bool has_id = false;
  upload_id_ = QueryParam(request_.raw_query, "uploadId", &has_id);
  const std::string& m = request_.method;
  ctx_.metrics.CountMultipartRequest(OperationName(m, target_.key.empty(), has_id));
  if (target_.key.empty()) {
    if (m == "GET" && !has_id) return ListUploads();
    return ErrorReply(
        MakeS3Error("MethodNotAllowed", "The specified method is not allowed on a bucket"));
  }
  if (!has_id) {
    if (m == "POST") return Create();
    return ErrorReply(MakeS3Error("MethodNotAllowed", "The specified method is not allowed"));
  }
  auto found = ctx_.uploads->Find(upload_id_);
  if (!found) return Internal("find", found.error());
  // Another device's upload (or another key's) is as good as none to this one.
  if (!found->has_value() || (*found)->bucket != target_.bucket || (*found)->key != target_.key ||
      (*found)->device != target_.device) {
    return ErrorReply(NoSuchUpload());
  }
  upload_ = std::move(**found);
  if (m == "PUT") return BeginPart();
  if (m == "GET") return ListParts();
  if (m == "DELETE") return Abort();
  if (m == "POST") {
    if (!ctx_.ingest_refused.empty()) {
      return ErrorReply(MakeS3Error("ServiceUnavailable", ctx_.ingest_refused));
    }
    op_ = Op::kComplete;
    return std::nullopt;
  }
  return ErrorReply(MakeS3Error("MethodNotAllowed", "The specified method is not allowed"));
}

S3Reply MultipartRequest::Create() {
  if (!ctx_.ingest_refused.empty()) {
    return ErrorReply(MakeS3Error("ServiceUnavailable", ctx_.ingest_refused));
  }
  auto clash = ctx_.index.KeyClash(target_.bucket, target_.key);
  if (!clash) return Internal("index lookup", clash.error());
  if (!clash->empty()) {
    return ErrorReply(MakeS3Error("InvalidObjectName",
                                  "No key may be another key followed by '/' and more: the key "
                                  "clashes with " +
                                      *clash));
  }
  ObjectMeta meta;
  for (const auto& [name, value] : request_.headers) {
    std::string lower = AsciiLower(name);
    if (lower.starts_with("x-amz-meta-")) meta.user_metadata.emplace_back(lower.substr(11), value);
  }
  UploadRow u;
  u.upload_id = HexEncode(RandomBytes(24));
  u.bucket = target_.bucket;
  u.key = target_.key;
  u.device = target_.device;
  u.content_type = request_.Header("content-type");
  u.metadata_json = meta.UserMetadataJson();
  u.created_ms = ctx_.env.WallNowMs();
  upload_id_ = u.upload_id;
  if (Status s = ctx_.uploads->Create(u); !s) return Internal("create", s.error());
  log::Info("multipart upload {} of {}/{} begun by {}", u.upload_id, u.bucket, u.key, u.device);
  return Xml(fmt::format(
      "<InitiateMultipartUploadResult{}><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId>"
      "</InitiateMultipartUploadResult>\n",
      kXmlns, XmlEscape(u.bucket), XmlEscape(u.key), u.upload_id));
}

std::optional<S3Reply> MultipartRequest::BeginPart() {
  if (!ctx_.ingest_refused.empty()) {
    return ErrorReply(MakeS3Error("ServiceUnavailable", ctx_.ingest_refused));
  }
  if (!upload_.open()) return ErrorReply(NoSuchUpload());
  if (request_.HasHeader("x-amz-copy-source")) {
    return ErrorReply(MakeS3Error("NotImplemented", "UploadPartCopy is not supported"));
  }
  std::optional<int> number = ParseDecimal<int>(QueryParam(request_.raw_query, "partNumber"));
  if (!number || *number < 1 || *number > kMaxParts) {
    return ErrorReply(MakeS3Error("InvalidArgument",
                                  "Part number must be an integer between 1 and 10000, inclusive"));
  }
  part_number_ = *number;
  const MultipartSettings& limits = ctx_.config.multipart;
  if (S3Error bad = ReadBodyHeaders(request_, limits.max_part_bytes, &body_headers_); !bad.ok()) {
    return ErrorReply(bad);
  }
  auto parts = ctx_.uploads->Parts(upload_id_);
  if (!parts) return Internal("list parts", parts.error());
  uint64_t others = 0;
  for (const PartRow& p : *parts) others += p.number == part_number_ ? 0 : p.size;
  if (others + body_headers_.length > limits.max_upload_bytes) {
    return ErrorReply(
        MakeS3Error("EntityTooLarge", TooLargeMessage(limits.max_upload_bytes) +
                                          " (multipart.max_upload_bytes, all parts together)"));
  }
  auto writer = ctx_.store.NewUploadPart(upload_id_, part_number_);
  if (!writer) return Internal("new part", writer.error());
  part_ = std::move(*writer);
  op_ = Op::kPart;
  return std::nullopt;
}

std::optional<S3Reply> MultipartRequest::Body(std::string_view data) {
  if (op_ == Op::kComplete) {
    if (xml_.size() + data.size() > kMaxCompleteBodyBytes) {
      op_ = Op::kNone;
      return ErrorReply(MakeS3Error("MaxMessageLengthExceeded", "Your request was too big."));
    }
    xml_.append(data);
    return std::nullopt;
  }
  if (!part_) return std::nullopt;
  if (part_->size() + data.size() > ctx_.config.multipart.max_part_bytes) {
    part_.reset();
    return ErrorReply(MakeS3Error(
        "EntityTooLarge",
        TooLargeMessage(ctx_.config.multipart.max_part_bytes) + " (multipart.max_part_bytes)"));
  }
  ctx_.metrics.bytes_received += data.size();
  if (Status s = part_->Append(data); !s) {
    part_.reset();
    return Internal("write part", s.error());
  }
  return std::nullopt;
}

S3Reply MultipartRequest::Finish(std::chrono::steady_clock::time_point deadline) {
  if (op_ == Op::kPart && part_) return FinishPart();
  if (op_ == Op::kComplete) return Complete(deadline);
  return ErrorReply(InternalError());
}

S3Reply MultipartRequest::FinishPart() {
  std::string path = part_->path();
  auto digest = part_->Finish();
  part_.reset();
  if (!digest) {
    (void)ctx_.env.RemoveFile(path);
    return Internal("part " + std::to_string(part_number_), digest.error());
  }
  if (S3Error bad = CheckBody(*digest, body_headers_, target_.verified); !bad.ok()) {
    (void)ctx_.env.RemoveFile(path);
    return ErrorReply(bad);
  }
  PartRow row;
  row.number = part_number_;
  row.size = digest->bytes;
  row.md5_hex = digest->md5_hex;
  row.sha256_hex = digest->sha256_hex;
  row.path = path.substr(ctx_.store.data_dir().size() + 1);
  row.uploaded_ms = ctx_.env.WallNowMs();
  // Kept before it is listed, so a listed part is readable by any replica.
  if (Status s = ctx_.store.KeepUploadPart(row.path); !s) {
    (void)ctx_.env.RemoveFile(path);
    return Internal("keep part " + std::to_string(part_number_), s.error());
  }
  auto put = ctx_.uploads->PutPart(upload_id_, row);
  if (!put || !put->has_value()) {
    (void)ctx_.store.RemoveUploadPart(row.path);  // not listed: nothing refers to it
    if (!put) return Internal("record part", put.error());
    return ErrorReply(NoSuchUpload());  // aborted, expired or completed meanwhile
  }
  if (!(*put)->empty()) (void)ctx_.store.RemoveUploadPart(**put);
  ctx_.metrics.multipart_parts += 1;
  S3Reply r = Ok(200);
  r.response.headers.emplace_back("ETag", "\"" + row.md5_hex + "\"");
  return r;
}

S3Reply MultipartRequest::Finished(const UploadRow& upload) {
  if (upload.state == "rejected") {
    return ErrorReply(MakeS3Error("InvalidSegment", "Rejected: " + upload.result));
  }
  if (upload.state == "conflict") {
    return ErrorReply(MakeS3Error("ObjectConflict", "Conflict: " + upload.result));
  }
  S3Reply r = Xml(
      fmt::format("<CompleteMultipartUploadResult{}><Location>/{}/{}</Location><Bucket>{}</Bucket>"
                  "<Key>{}</Key><ETag>&quot;{}&quot;</ETag></CompleteMultipartUploadResult>\n",
                  kXmlns, XmlEscape(upload.bucket), XmlEscape(upload.key), XmlEscape(upload.bucket),
                  XmlEscape(upload.key), upload.result));
  r.response.headers.emplace_back("ETag", "\"" + upload.result + "\"");
  return r;
}

S3Reply MultipartRequest::Complete(std::chrono::steady_clock::time_point deadline) {
  StreamHasher hasher;
  hasher.Update(xml_);
  StreamDigests digest = hasher.Finish();
  BodyHeaders headers;
  if (S3Error bad = ReadBodyHeaders(request_, kMaxCompleteBodyBytes, &headers); !bad.ok()) {
    return ErrorReply(bad);
  }
  if (S3Error bad = CheckBody(digest, headers, target_.verified); !bad.ok()) {
    return ErrorReply(bad);
  }
  std::vector<ListedPart> listed;
  if (S3Error bad = ParseCompleteMultipartUpload(xml_, &listed); !bad.ok()) {
    return ErrorReply(bad);
  }
  // Again: another request may have finished it while this body arrived.
  auto found = ctx_.uploads->Find(upload_id_);
  if (!found) return Internal("find", found.error());
  if (!found->has_value()) return ErrorReply(NoSuchUpload());
  if (!(*found)->open()) return Finished(**found);
  auto stored = ctx_.uploads->Parts(upload_id_);
  if (!stored) return Internal("list parts", stored.error());
  std::map<int, const PartRow*> by_number;
  for (const PartRow& p : *stored) by_number[p.number] = &p;
  std::vector<PartRow> parts;
  std::vector<std::string> md5s;
  uint64_t total = 0;
  for (size_t i = 0; i < listed.size(); ++i) {
    auto it = by_number.find(listed[i].number);
    if (it == by_number.end() || it->second->md5_hex != listed[i].etag) {
      return ErrorReply(MakeS3Error(
          "InvalidPart", fmt::format("One or more of the specified parts could not be found. The "
                                     "part may not have been uploaded, or the specified entity "
                                     "tag may not have matched the part's entity tag (part {}).",
                                     listed[i].number)));
    }
    if (i + 1 < listed.size() && it->second->size < kMinPartBytes) {
      return ErrorReply(MakeS3Error(
          "EntityTooSmall",
          fmt::format("Your proposed upload is smaller than the minimum allowed object size: part "
                      "{} has {} bytes; every part but the last needs at least {}",
                      listed[i].number, it->second->size, kMinPartBytes)));
    }
    total += it->second->size;
    parts.push_back(*it->second);
    md5s.push_back(it->second->md5_hex);
  }
  if (total > ctx_.config.multipart.max_upload_bytes) {
    return ErrorReply(
        MakeS3Error("EntityTooLarge", TooLargeMessage(ctx_.config.multipart.max_upload_bytes)));
  }
  ObjectMeta meta;
  meta.bucket = target_.bucket;
  meta.key = target_.key;
  meta.device = target_.device;
  meta.content_type = upload_.content_type;
  meta.user_metadata = ObjectMeta::UserMetadataFromJson(upload_.metadata_json);
  auto sealed = Concatenate(parts, meta);
  if (!sealed) return Internal("concatenate", sealed.error());
  // The index's ETag column holds what S3 clients compare: for this object, S3's multipart
  // ETag, not the MD5 of its bytes.
  meta.md5_hex = MultipartEtag(md5s);
  if (Status s = ctx_.store.SealQuarantine(*sealed, meta); !s) {
    (void)ctx_.store.Discard(*sealed);
    return Internal("seal", s.error());
  }
  ctx_.env.CrashPoint("receiver.multipart_sealed");
  auto result = ctx_.pipeline.Process(*sealed, meta, deadline);
  if (!result) {
    // The sealed entry stays: Recover() runs it at the next start, and a retried Complete
    // concatenates again.
    ctx_.metrics.pipeline_errors += 1;
    return Internal("pipeline", result.error());
  }
  ctx_.env.CrashPoint("receiver.multipart_processed");
  std::string state, outcome = meta.md5_hex;
  switch (result->outcome) {
    case PipelineOutcome::kAccepted:
    case PipelineOutcome::kDuplicate:
      state = "complete";
      break;
    case PipelineOutcome::kRejected:
    case PipelineOutcome::kConflict:
      // The concatenated body is the evidence now, in rejected/ or conflicts/.
      state = result->outcome == PipelineOutcome::kRejected ? "rejected" : "conflict";
      outcome = result->reason;
      break;
    case PipelineOutcome::kInvalidName:
      return ErrorReply(
          MakeS3Error("InvalidObjectName",
                      "No key may be another key followed by '/' and more: " + result->reason));
    case PipelineOutcome::kOverBudget:
      (void)ctx_.store.Discard(*sealed);
      return ErrorReply(MakeS3Error("SlowDown", result->reason + "; retry after the time in "
                                                                 "Retry-After"));
  }
  auto finished = ctx_.uploads->Finish(upload_id_, state, outcome, ctx_.env.WallNowMs());
  if (!finished) return Internal("finish", finished.error());
  if (*finished) ctx_.metrics.multipart_completed += 1;
  if (Status s = ctx_.store.RemoveUploadDir(upload_id_); !s) {
    log::Warning("multipart upload {}: {} (removed again by the next expiry sweep)", upload_id_,
                 s.error().message());
  }
  log::Info("multipart upload {} of {}/{} completed: {} part(s), {} bytes, {}", upload_id_,
            meta.bucket, meta.key, parts.size(), meta.size, OutcomeName(result->outcome));
  UploadRow done = upload_;
  done.state = state;
  done.result = outcome;
  S3Reply r = Finished(done);
  if (r.error.ok()) {
    r.response.headers.emplace_back("x-amz-meta-granary-outcome", OutcomeName(result->outcome));
  }
  return r;
}

Result<std::string> MultipartRequest::Concatenate(const std::vector<PartRow>& parts,
                                                  ObjectMeta& meta) {
  auto writer = ctx_.store.NewQuarantine();
  if (!writer) return writer.error();
  for (const PartRow& p : parts) {
    uint64_t read_bytes = 0;
    Status written;
    Status s = ctx_.store.ReadUploadPart(p.path, [&](std::string_view chunk) {
      read_bytes += chunk.size();
      written = (*writer)->Append(chunk);
      return written.ok();
    });
    if (!s) return s.error().Wrap("part " + std::to_string(p.number));
    if (!written) return written.error();
    if (read_bytes != p.size) {
      return Error(fmt::format("part {} has {} bytes stored, {} when it was received", p.number,
                               read_bytes, p.size));
    }
  }
  auto digest = (*writer)->Finish();
  if (!digest) return digest.error();
  meta.size = digest->bytes;
  meta.sha256_hex = digest->sha256_hex;
  meta.received_ms = ctx_.env.WallNowMs();
  return (*writer)->id();
}

S3Reply MultipartRequest::Abort() {
  if (!upload_.open()) return ErrorReply(NoSuchUpload());
  auto parts = ctx_.uploads->Parts(upload_id_);
  if (!parts) return Internal("list parts", parts.error());
  if (Status s = ctx_.uploads->Remove(upload_id_); !s) return Internal("abort", s.error());
  if (Status s = ctx_.store.RemoveUploadDir(upload_id_); !s) {
    log::Warning("multipart upload {}: {} (removed again by the next expiry sweep)", upload_id_,
                 s.error().message());
  }
  log::Notice("multipart upload {} of {}/{} aborted by {}: {} part(s) removed", upload_id_,
              target_.bucket, target_.key, target_.device, parts->size());
  return Ok(204);
}

S3Reply MultipartRequest::ListParts() {
  if (!upload_.open()) return ErrorReply(NoSuchUpload());
  auto parts = ctx_.uploads->Parts(upload_id_);
  if (!parts) return Internal("list parts", parts.error());
  std::string marker_text = QueryParam(request_.raw_query, "part-number-marker");
  std::string max_text = QueryParam(request_.raw_query, "max-parts");
  int marker = marker_text.empty() ? 0 : ParseDecimal<int>(marker_text).value_or(-1);
  int max_parts = max_text.empty() ? 1000 : ParseDecimal<int>(max_text).value_or(-1);
  if (marker < 0 || max_parts < 0) {
    return ErrorReply(MakeS3Error(
        "InvalidArgument", "part-number-marker and max-parts must be non-negative integers"));
  }
  max_parts = std::min(max_parts, 1000);
  std::string owner =
      fmt::format("<ID>{0}</ID><DisplayName>{0}</DisplayName>", XmlEscape(upload_.device));
  std::string entries;
  int listed = 0, next_marker = marker;
  bool truncated = false;
  for (const PartRow& p : *parts) {
    if (p.number <= marker) continue;
    if (listed == max_parts) {
      truncated = true;
      break;
    }
    entries += fmt::format(
        "<Part><PartNumber>{}</PartNumber><LastModified>{}</LastModified>"
        "<ETag>&quot;{}&quot;</ETag><Size>{}</Size></Part>",
        p.number, FormatIso8601Millis(p.uploaded_ms), p.md5_hex, p.size);
    next_marker = p.number;
    ++listed;
  }
  return Xml(fmt::format(
      "<ListPartsResult{}><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId>"
      "<Initiator>{}</Initiator><Owner>{}</Owner><StorageClass>STANDARD</StorageClass>"
      "<PartNumberMarker>{}</PartNumberMarker><NextPartNumberMarker>{}</NextPartNumberMarker>"
      "<MaxParts>{}</MaxParts><IsTruncated>{}</IsTruncated>{}</ListPartsResult>\n",
      kXmlns, XmlEscape(target_.bucket), XmlEscape(target_.key), upload_id_, owner, owner, marker,
      next_marker, max_parts, truncated ? "true" : "false", entries));
}

S3Reply MultipartRequest::ListUploads() {
  const std::string& q = request_.raw_query;
  std::string prefix = QueryParam(q, "prefix");
  std::string key_marker = QueryParam(q, "key-marker");
  std::string id_marker = QueryParam(q, "upload-id-marker");
  std::string max_text = QueryParam(q, "max-uploads");
  bool delimited = false;
  QueryParam(q, "delimiter", &delimited);
  if (delimited) {
    return ErrorReply(MakeS3Error("NotImplemented", "ListMultipartUploads takes no delimiter"));
  }
  int max_uploads = max_text.empty() ? 1000 : ParseDecimal<int>(max_text).value_or(-1);
  if (max_uploads < 0) {
    return ErrorReply(MakeS3Error("InvalidArgument", "max-uploads must be a non-negative integer"));
  }
  max_uploads = std::min(max_uploads, 1000);
  std::string mine = ctx_.config.DevicePrefix(target_.device);
  if (!prefix.starts_with(mine)) {
    return ErrorReply(MakeS3Error("AccessDenied", "Access Denied: device " + target_.device +
                                                      " may only list under " + mine));
  }
  auto open = ctx_.uploads->OpenUploads(target_.bucket, target_.device);
  if (!open) return Internal("list uploads", open.error());
  std::vector<UploadRow>& uploads = *open;
  // S3 orders by key, then by upload; bytewise, as it orders keys.
  std::sort(uploads.begin(), uploads.end(), [](const UploadRow& a, const UploadRow& b) {
    return std::tie(a.key, a.upload_id) < std::tie(b.key, b.upload_id);
  });
  std::string owner =
      fmt::format("<ID>{0}</ID><DisplayName>{0}</DisplayName>", XmlEscape(target_.device));
  std::string entries, next_key, next_id;
  int listed = 0;
  bool truncated = false;
  for (const UploadRow& u : uploads) {
    if (!u.key.starts_with(prefix)) continue;
    bool after = key_marker.empty() || u.key > key_marker ||
                 (u.key == key_marker && !id_marker.empty() && u.upload_id > id_marker);
    if (!after) continue;
    if (listed == max_uploads) {
      truncated = true;
      break;
    }
    entries += fmt::format(
        "<Upload><Key>{}</Key><UploadId>{}</UploadId><Initiator>{}</Initiator><Owner>{}</Owner>"
        "<StorageClass>STANDARD</StorageClass><Initiated>{}</Initiated></Upload>",
        XmlEscape(u.key), u.upload_id, owner, owner, FormatIso8601Millis(u.created_ms));
    next_key = u.key;
    next_id = u.upload_id;
    ++listed;
  }
  return Xml(fmt::format(
      "<ListMultipartUploadsResult{}><Bucket>{}</Bucket><KeyMarker>{}</KeyMarker>"
      "<UploadIdMarker>{}</UploadIdMarker><NextKeyMarker>{}</NextKeyMarker>"
      "<NextUploadIdMarker>{}</NextUploadIdMarker><Prefix>{}</Prefix><MaxUploads>{}</MaxUploads>"
      "<IsTruncated>{}</IsTruncated>{}</ListMultipartUploadsResult>\n",
      kXmlns, XmlEscape(target_.bucket), XmlEscape(key_marker), XmlEscape(id_marker),
      XmlEscape(next_key), next_id, XmlEscape(prefix), max_uploads, truncated ? "true" : "false",
      entries));
}

size_t ExpireUploads(ReceiverContext& ctx) {
  if (ctx.uploads == nullptr) return 0;
  int64_t now = ctx.env.WallNowMs();
  int64_t cutoff = now - ctx.config.multipart.expire_after.count();
  auto stale = ctx.uploads->Stale(cutoff, cutoff);
  if (!stale) {
    log::Error("multipart expiry: {}", stale.error().message());
    return 0;
  }
  size_t expired = 0;
  for (const UploadRow& u : *stale) {
    auto parts = ctx.uploads->Parts(u.upload_id);
    if (!parts) continue;
    uint64_t bytes = 0;
    for (const PartRow& p : *parts) bytes += p.size;
    if (Status s = ctx.uploads->Remove(u.upload_id); !s) {
      log::Error("multipart expiry {}: {}", u.upload_id, s.error().message());
      continue;
    }
    (void)ctx.store.RemoveUploadDir(u.upload_id);
    if (!u.open()) continue;  // finished: only its answer to a retried Complete goes
    ++expired;
    ctx.metrics.multipart_expired += 1;
    log::Notice(
        "multipart upload {} of {}/{} by {} expired: begun {} ms ago, neither completed nor "
        "aborted; removed its {} part(s), {} bytes (parts are not accepted data)",
        u.upload_id, u.bucket, u.key, u.device, now - u.created_ms, parts->size(), bytes);
  }
  // Directories no open upload explains: a crash between the index and the removal.
  namespace fs = std::filesystem;
  for (const std::string& id : ctx.store.UploadDirs()) {
    auto found = ctx.uploads->Find(id);
    if (!found) continue;
    if (!found->has_value() || !(*found)->open()) {
      (void)ctx.store.RemoveUploadDir(id);
      continue;
    }
    auto parts = ctx.uploads->Parts(id);
    if (!parts) continue;
    std::set<std::string> listed;
    for (const PartRow& p : *parts) listed.insert(p.path);
    std::error_code ec;
    std::string dir = ctx.store.data_dir() + "/" + ObjectStore::UploadDir(id);
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::string rel = ObjectStore::UploadDir(id) + "/" + entry.path().filename().string();
      if (listed.count(rel) != 0) continue;
      auto age = fs::file_time_type::clock::now() - fs::last_write_time(entry.path(), ec);
      if (ec ||
          std::chrono::duration_cast<std::chrono::milliseconds>(age).count() < kUnlistedPartAgeMs) {
        continue;
      }
      (void)ctx.env.RemoveFile(entry.path().string());
    }
  }
  return expired;
}

}  // namespace granary::receiver
