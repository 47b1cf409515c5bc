// The S3-compatible endpoint. Authentication happens on the headers, before any body is
// read; a PUT body streams into quarantine while MD5 and SHA-256 are computed; the answer
// comes after validation and indexing, so a 200 means "indexed" (or "already indexed").
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "platform/crypto.h"
#include "platform/log.h"
#include "platform/strings.h"
#include "platform/time.h"
#include "platform/utf8.h"
#include "receiver/byte_range.h"
#include "receiver/context.h"
#include "receiver/key_check.h"
#include "receiver/multipart.h"
#include "receiver/s3_body.h"
#include "receiver/s3_error.h"

namespace granary::receiver {
namespace {

constexpr const char* kXmlType = "application/xml";

class S3Exchange final : public HttpExchange {
 public:
  S3Exchange(ReceiverContext& context, HttpRequest request)
      : ctx_(context),
        request_(std::move(request)),
        request_id_(fmt::format("{:016X}", ctx_.next_request_id.fetch_add(1))) {}

  ~S3Exchange() override { ctx_.metrics.CountRequest(request_.method, status_); }

  std::optional<HttpResponse> Start() override {
    auto path = sigv4::UriDecode(request_.raw_path);
    if (!path || path->empty() || path->front() != '/') {
      return Fail(MakeS3Error("InvalidURI", "Couldn't parse the specified URI."));
    }
    resource_ = *path;
    std::string rest = path->substr(1);
    size_t slash = rest.find('/');
    bucket_ = rest.substr(0, slash);
    key_ = slash == std::string::npos ? "" : rest.substr(slash + 1);

    S3Error auth = ctx_.verifier.Verify(request_, ctx_.env.WallNowMs(), &verified_);
    if (!auth.ok()) return Fail(auth);
    device_ = verified_.device;
    if (bucket_.empty()) return Fail(MakeS3Error("NotImplemented", "ListBuckets is not supported"));
    if (std::find(ctx_.config.buckets.begin(), ctx_.config.buckets.end(), bucket_) ==
        ctx_.config.buckets.end()) {
      return Fail(MakeS3Error("NoSuchBucket", "The specified bucket does not exist"));
    }
    const std::string& m = request_.method;
    if (key_.empty()) {
      if (m == "GET" && IsMultipartRequest(request_)) return StartMultipart();
      if (m == "GET") return List();
      if (m == "HEAD") return Plain(200);
      return Fail(
          MakeS3Error("MethodNotAllowed", "The specified method is not allowed on a bucket"));
    }
    S3Error bad_key = CheckObjectKey(key_);
    if (!bad_key.ok()) return Fail(bad_key);
    if (!key_.starts_with(ctx_.config.DevicePrefix(device_))) {
      return Fail(MakeS3Error("AccessDenied", "Access Denied: device " + device_ +
                                                  " may only use keys under " +
                                                  ctx_.config.DevicePrefix(device_)));
    }
    if (IsMultipartRequest(request_)) return StartMultipart();
    if (m == "GET" || m == "HEAD") return Get();
    if (m == "PUT") return BeginPut();
    if (m == "DELETE") {
      return Fail(MakeS3Error("AccessDenied", "Accepted objects are never deleted or overwritten"));
    }
    return Fail(MakeS3Error("MethodNotAllowed", "The specified method is not allowed"));
  }

  std::optional<HttpResponse> Body(std::string_view data) override {
    if (multipart_) {
      std::optional<S3Reply> reply = multipart_->Body(data);
      if (reply) return Answer(std::move(*reply));
      return std::nullopt;
    }
    if (!writer_) return std::nullopt;
    if (writer_->size() + data.size() > ctx_.config.max_object_bytes) {
      writer_.reset();
      return Fail(MakeS3Error("EntityTooLarge", TooLargeMessage(ctx_.config.max_object_bytes)));
    }
    ctx_.metrics.bytes_received += data.size();
    Status s = writer_->Append(data);
    if (!s) {
      log::Error("quarantine {}: {}", key_, s.error().message());
      writer_.reset();
      return Fail(
          MakeS3Error("InternalError", "We encountered an internal error. Please try again."));
    }
    return std::nullopt;
  }

  HttpResponse Finish() override {
    if (multipart_) return Answer(multipart_->Finish(std::chrono::steady_clock::time_point::max()));
    std::optional<HttpResponse> refused = SealUpload();
    if (refused) return *refused;
    return Complete(std::chrono::steady_clock::time_point::max());
  }

  // Validation and indexing go to the validation pool, where one device's uploads wait
  // behind each other rather than in front of other devices'.
  std::optional<HttpResponse> FinishLater(Later later) override {
    if (multipart_ && multipart_->completing() && ctx_.validation != nullptr) {
      auto queued_at = std::chrono::steady_clock::now();
      bool taken = ctx_.validation->Submit(device_, [this, later, queued_at] {
        later(Answer(multipart_->Finish(queued_at + ctx_.config.validation_budget)));
      });
      if (taken) return std::nullopt;
      ctx_.metrics.validation_refused += 1;
      return SlowDown(
          "The receiver's validation queue is full; retry after the time in Retry-After");
    }
    if (ctx_.validation == nullptr || !writer_) return Finish();
    std::optional<HttpResponse> refused = SealUpload();
    if (refused) return refused;
    auto queued_at = std::chrono::steady_clock::now();
    bool taken = ctx_.validation->Submit(device_, [this, later, queued_at] {
      later(Complete(queued_at + ctx_.config.validation_budget));
    });
    if (taken) return std::nullopt;
    (void)ctx_.store.Discard(sealed_id_);
    ctx_.metrics.validation_refused += 1;
    return SlowDown("The receiver's validation queue is full; retry after the time in Retry-After");
  }

 private:
  // Checks the body against its digests and seals it into quarantine (sealed_id_); an
  // answer when it is refused.
  std::optional<HttpResponse> SealUpload() {
    if (!writer_) return *Fail(MakeS3Error("InternalError", "no upload in progress"));
    auto digest = writer_->Finish();
    if (!digest) {
      log::Error("quarantine {}: {}", key_, digest.error().message());
      return *Fail(
          MakeS3Error("InternalError", "We encountered an internal error. Please try again."));
    }
    if (S3Error bad = CheckBody(*digest, body_headers_, verified_); !bad.ok()) {
      // Not the client's object: nothing of it outlives the request.
      (void)ctx_.store.Discard(writer_->id());
      writer_.reset();
      return *Fail(bad);
    }
    ObjectMeta& meta = sealed_meta_;
    meta.bucket = bucket_;
    meta.key = key_;
    meta.device = device_;
    meta.size = digest->bytes;
    meta.md5_hex = digest->md5_hex;
    meta.sha256_hex = digest->sha256_hex;
    meta.content_type = request_.Header("content-type");
    meta.received_ms = ctx_.env.WallNowMs();
    for (const auto& [name, value] : request_.headers) {
      std::string lower = AsciiLower(name);
      if (lower.starts_with("x-amz-meta-"))
        meta.user_metadata.emplace_back(lower.substr(11), value);
    }
    sealed_id_ = writer_->id();
    writer_.reset();  // finished: the body stays
    Status s = ctx_.store.SealQuarantine(sealed_id_, meta);
    if (!s) {
      log::Error("seal quarantine {}: {}", key_, s.error().message());
      (void)ctx_.store.Discard(sealed_id_);
      return *Fail(
          MakeS3Error("InternalError", "We encountered an internal error. Please try again."));
    }
    ctx_.env.CrashPoint("receiver.after_quarantine");
    return std::nullopt;
  }

  // Validates and indexes the sealed upload; the answer.
  HttpResponse Complete(std::chrono::steady_clock::time_point deadline) {
    const ObjectMeta& meta = sealed_meta_;
    auto result = ctx_.pipeline.Process(sealed_id_, meta, deadline);
    if (!result) {
      ctx_.metrics.pipeline_errors += 1;
      log::Error("pipeline {}/{}: {}", bucket_, key_, result.error().message());
      return *Fail(
          MakeS3Error("InternalError", "We encountered an internal error. Please try again."));
    }
    switch (result->outcome) {
      case PipelineOutcome::kAccepted:
      case PipelineOutcome::kDuplicate: {
        HttpResponse r = Plain(200);
        r.headers.emplace_back("ETag", "\"" + meta.md5_hex + "\"");
        r.headers.emplace_back("x-amz-meta-granary-outcome", OutcomeName(result->outcome));
        return r;
      }
      case PipelineOutcome::kRejected:
        return *Fail(MakeS3Error("InvalidSegment", "Rejected: " + result->reason));
      case PipelineOutcome::kConflict:
        return *Fail(MakeS3Error("ObjectConflict", "Conflict: " + result->reason));
      case PipelineOutcome::kInvalidName:
        return *Fail(InvalidName(result->reason));
      case PipelineOutcome::kOverBudget:
        // Not the object's fault: the client sends it again later.
        (void)ctx_.store.Discard(sealed_id_);
        return SlowDown(result->reason + "; retry after the time in Retry-After");
    }
    return *Fail(MakeS3Error("InternalError", "unreachable"));
  }

  std::optional<HttpResponse> StartMultipart() {
    if (ctx_.uploads == nullptr) {
      return Fail(MakeS3Error("NotImplemented", "Multipart uploads are not supported here"));
    }
    multipart_ = std::make_unique<MultipartRequest>(ctx_, request_,
                                                    S3Target{bucket_, key_, device_, verified_});
    std::optional<S3Reply> reply = multipart_->Start();
    if (reply) return Answer(std::move(*reply));
    return std::nullopt;
  }

  // A multipart operation's reply with this endpoint's headers.
  HttpResponse Answer(S3Reply reply) {
    if (reply.error.code == "SlowDown") return SlowDown(reply.error.message);
    if (!reply.error.ok()) return *Fail(reply.error);
    HttpResponse r = Plain(reply.response.status);
    for (auto& header : reply.response.headers) r.headers.push_back(std::move(header));
    r.body = std::move(reply.response.body);
    return r;
  }

  HttpResponse SlowDown(const std::string& why) {
    HttpResponse r = *Fail(MakeS3Error("SlowDown", why));
    r.headers.emplace_back("Retry-After", "5");
    return r;
  }

  static S3Error InvalidName(const std::string& why) {
    return MakeS3Error("InvalidObjectName",
                       "No key may be another key followed by '/' and more: " + why);
  }

  HttpResponse Plain(int status) {
    status_ = status;
    HttpResponse r;
    r.status = status;
    r.headers.emplace_back("x-amz-request-id", request_id_);
    r.headers.emplace_back("Server", "granary-receiver");
    return r;
  }

  std::optional<HttpResponse> Fail(const S3Error& error) {
    ctx_.metrics.CountS3Error(error.code);
    if (error.status >= 500) {
      log::Error("{} {} from {}: {} {}", request_.method, resource_, request_.peer, error.code,
                 error.message);
    } else if (error.status == 403) {  // an operator looks for these: a wrong or old key
      log::Warning("{} {} from {}: {} {}", request_.method, resource_, request_.peer, error.code,
                   error.message);
    } else {
      log::Info("{} {} from {}: {} {}", request_.method, resource_, request_.peer, error.code,
                error.message);
    }
    HttpResponse r = Plain(error.status);
    r.headers.emplace_back("Content-Type", kXmlType);
    if (error.code == "RequestTimeTooSkewed") {
      r.headers.emplace_back("Date", FormatHttpDate(ctx_.env.WallNowMs()));
    }
    if (request_.method != "HEAD") r.body = RenderS3ErrorXml(error, resource_, request_id_);
    return r;
  }

  std::optional<HttpResponse> BeginPut() {
    if (!ctx_.ingest_refused.empty()) {
      return Fail(MakeS3Error("ServiceUnavailable", ctx_.ingest_refused));
    }
    if (request_.HasHeader("x-amz-copy-source")) {
      return Fail(MakeS3Error("NotImplemented", "CopyObject is not supported"));
    }
    bool found = false;
    QueryParam(request_.raw_query, "partNumber", &found);
    if (found) return Fail(MakeS3Error("InvalidArgument", "A part needs an uploadId"));
    if (S3Error bad = ReadBodyHeaders(request_, ctx_.config.max_object_bytes, &body_headers_);
        !bad.ok()) {
      return Fail(bad);
    }
    // Refused before the body is read; the pipeline checks again under the index's lock.
    auto clash = ctx_.index.KeyClash(bucket_, key_);
    if (!clash) {
      log::Error("index lookup {}: {}", key_, clash.error().message());
      return Fail(
          MakeS3Error("InternalError", "We encountered an internal error. Please try again."));
    }
    if (!clash->empty()) return Fail(InvalidName("the key clashes with " + *clash));
    auto writer = ctx_.store.NewQuarantine();
    if (!writer) {
      log::Error("quarantine: {}", writer.error().message());
      return Fail(
          MakeS3Error("InternalError", "We encountered an internal error. Please try again."));
    }
    writer_ = std::move(*writer);
    return std::nullopt;
  }

  std::optional<HttpResponse> Get() {
    auto row = ctx_.index.FindObject(bucket_, key_);
    if (!row) {
      log::Error("index lookup {}: {}", key_, row.error().message());
      return Fail(
          MakeS3Error("InternalError", "We encountered an internal error. Please try again."));
    }
    if (!row->has_value())
      return Fail(MakeS3Error("NoSuchKey", "The specified key does not exist."));
    const ObjectRow& o = **row;
    bool unsatisfiable = false;
    std::optional<ByteRange> part = ParseRange(request_.Header("range"), o.size, &unsatisfiable);
    if (unsatisfiable) {
      std::optional<HttpResponse> r =
          Fail(MakeS3Error("InvalidRange", fmt::format("The requested range is not satisfiable "
                                                       "(the object has {} bytes)",
                                                       o.size)));
      r->headers.emplace_back("Content-Range", ContentRange(std::nullopt, o.size));
      return r;
    }
    HttpResponse r = Plain(part ? 206 : 200);
    if (request_.method == "HEAD") {
      // Only the length is sent: the bytes are not fetched.
      r.stream_length = part ? part->last - part->first + 1 : o.size;
      r.stream = [](char*, size_t) { return -1L; };
    } else {
      auto reader = ctx_.store.OpenReader(bucket_, key_);
      if (!reader) {
        log::Error("indexed object {}/{}: {}", bucket_, key_, reader.error().message());
        return Fail(MakeS3Error("InternalError", "The object's bytes are missing; run verify."));
      }
      SetObjectBody(std::move(*reader), part, &r);
    }
    if (part) r.headers.emplace_back("Content-Range", ContentRange(part, o.size));
    r.headers.emplace_back("ETag", "\"" + o.md5_hex + "\"");
    r.headers.emplace_back("Last-Modified", FormatHttpDate(o.stored_ms));
    r.headers.emplace_back("Content-Type",
                           o.content_type.empty() ? "binary/octet-stream" : o.content_type);
    r.headers.emplace_back("Accept-Ranges", "bytes");
    for (const auto& [n, v] : ObjectMeta::UserMetadataFromJson(o.metadata_json)) {
      r.headers.emplace_back("x-amz-meta-" + n, v);
    }
    return r;
  }

  std::optional<HttpResponse> List() {
    bool v2 = QueryParam(request_.raw_query, "list-type") == "2";
    if (!v2)
      return Fail(MakeS3Error("NotImplemented", "Only ListObjectsV2 (list-type=2) is supported"));
    std::string prefix = QueryParam(request_.raw_query, "prefix");
    std::string delimiter = QueryParam(request_.raw_query, "delimiter");
    std::string token = QueryParam(request_.raw_query, "continuation-token");
    std::string start_after = QueryParam(request_.raw_query, "start-after");
    std::string max_text = QueryParam(request_.raw_query, "max-keys");
    int max_keys = max_text.empty() ? 1000 : ParseDecimal<int>(max_text).value_or(-1);
    if (max_keys < 0 || max_keys > 1000) max_keys = 1000;
    for (const std::string* text : {&prefix, &delimiter, &start_after}) {
      if (!IsValidUtf8(*text)) {
        return Fail(MakeS3Error("InvalidArgument", "List parameters must be valid UTF-8"));
      }
    }
    if (!prefix.starts_with(ctx_.config.DevicePrefix(device_))) {
      return Fail(MakeS3Error("AccessDenied", "Access Denied: device " + device_ +
                                                  " may only list under " +
                                                  ctx_.config.DevicePrefix(device_)));
    }
    Result<std::string> decoded_token = HexDecode(token);
    std::string after = token.empty() ? start_after : decoded_token ? *decoded_token : "";
    std::vector<ObjectRow> contents;
    std::vector<std::string> common;
    bool truncated = false;
    int entries = 0;
    while (entries < max_keys && !truncated) {
      auto rows = ctx_.index.ListObjects(bucket_, prefix, after, max_keys - entries + 1);
      if (!rows) {
        log::Error("list {}: {}", prefix, rows.error().message());
        return Fail(
            MakeS3Error("InternalError", "We encountered an internal error. Please try again."));
      }
      if (rows->empty()) break;
      bool skipped = false;
      for (ObjectRow& row : *rows) {
        if (entries == max_keys) {
          truncated = true;
          break;
        }
        size_t d = delimiter.empty() ? std::string::npos : row.key.find(delimiter, prefix.size());
        if (d != std::string::npos) {
          common.push_back(row.key.substr(0, d + delimiter.size()));
          ++entries;
          after = common.back() + "\xff";  // UTF-8 never holds 0xFF: past every key under it
          skipped = true;
          break;
        }
        after = row.key;
        contents.push_back(std::move(row));
        ++entries;
      }
      if (!skipped && !truncated && static_cast<int>(rows->size()) < max_keys - entries + 1) break;
    }
    if (entries == max_keys && !truncated && max_keys > 0) {
      auto more = ctx_.index.ListObjects(bucket_, prefix, after, 1);
      truncated = more && !more->empty();
    }
    std::string xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    xml += "<Name>" + XmlEscape(bucket_) + "</Name><Prefix>" + XmlEscape(prefix) + "</Prefix>";
    if (!delimiter.empty()) xml += "<Delimiter>" + XmlEscape(delimiter) + "</Delimiter>";
    xml += fmt::format("<KeyCount>{}</KeyCount><MaxKeys>{}</MaxKeys><IsTruncated>{}</IsTruncated>",
                       entries, max_keys, truncated ? "true" : "false");
    if (!token.empty()) xml += "<ContinuationToken>" + XmlEscape(token) + "</ContinuationToken>";
    if (!start_after.empty()) xml += "<StartAfter>" + XmlEscape(start_after) + "</StartAfter>";
    if (truncated) xml += "<NextContinuationToken>" + HexEncode(after) + "</NextContinuationToken>";
    for (const ObjectRow& o : contents) {
      xml += fmt::format(
          "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag>"
          "<Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
          XmlEscape(o.key), FormatIso8601Millis(o.stored_ms), o.md5_hex, o.size);
    }
    for (const std::string& p : common) {
      xml += "<CommonPrefixes><Prefix>" + XmlEscape(p) + "</Prefix></CommonPrefixes>";
    }
    xml += "</ListBucketResult>\n";
    HttpResponse r = Plain(200);
    r.headers.emplace_back("Content-Type", kXmlType);
    r.body = std::move(xml);
    return r;
  }

  ReceiverContext& ctx_;
  HttpRequest request_;
  std::string request_id_;
  std::string resource_, bucket_, key_, device_;
  VerifiedRequest verified_;
  std::unique_ptr<QuarantineWriter> writer_;
  std::string sealed_id_;
  ObjectMeta sealed_meta_;
  BodyHeaders body_headers_;
  std::unique_ptr<MultipartRequest> multipart_;
  int status_ = 0;
};

}  // namespace

std::unique_ptr<HttpExchange> NewS3Exchange(ReceiverContext& context, HttpRequest request) {
  return std::make_unique<S3Exchange>(context, std::move(request));
}

}  // namespace granary::receiver
