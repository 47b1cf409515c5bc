#include "receiver/upstream.h"

#include <fmt/format.h>

#include "receiver/in_place_store.h"

namespace granary::receiver {

UpstreamFetcher::UpstreamFetcher(ReceiverContext& context, const UpstreamS3& upstream)
    : ctx_(context), upstream_(upstream) {
  S3Options options;
  options.endpoint = upstream.endpoint;
  options.region = upstream.region;
  options.bucket = upstream.bucket;
  options.tls_verify = upstream.tls_verify;
  client_ = std::make_unique<S3Client>(ctx_.env, options,
                                       Credentials{upstream.access_key, upstream.secret_key, ""});
}

Result<PipelineResult> UpstreamFetcher::Fetch(const S3EventRecord& record) {
  if (record.bucket != upstream_.bucket) {
    return Error(fmt::format("event for bucket \"{}\", not the configured \"{}\"", record.bucket,
                             upstream_.bucket));
  }
  // The local copy lives under the upstream bucket's name.
  auto known = ctx_.index.FindObject(record.bucket, record.key);
  if (!known) return known.error();
  if (known->has_value() && !record.etag.empty() && (*known)->md5_hex == record.etag &&
      ctx_.store.AcceptedExists(record.bucket, record.key)) {
    PipelineResult r;
    r.outcome = PipelineOutcome::kDuplicate;
    return r;
  }
  auto writer = ctx_.store.NewQuarantine();
  if (!writer) return writer.error();
  Status write_status;
  uint64_t limit = ctx_.config.max_object_bytes;
  std::function<bool(std::string_view)> sink = [&](std::string_view chunk) {
    if ((*writer)->size() + chunk.size() > limit) {
      write_status = Error(fmt::format("object larger than max_object_bytes ({})", limit));
      return false;
    }
    write_status = (*writer)->Append(chunk);
    return write_status.ok();
  };
  Result<S3Response> response = Error("not fetched");
  {
    std::lock_guard<std::mutex> lock(mu_);
    response = client_->GetObject(record.key, sink);
  }
  if (!write_status) return write_status.error().Wrap("fetch " + record.key);
  if (!response) return response.error().Wrap("fetch " + record.key);
  if (!response->ok()) {
    return Error(
        fmt::format("fetch {}: HTTP {} {}", record.key, response->status, response->error_code));
  }
  ctx_.metrics.bytes_received += (*writer)->size();
  auto digest = (*writer)->Finish();
  if (!digest) return digest.error();
  ObjectMeta meta;
  meta.bucket = record.bucket;
  meta.key = record.key;
  meta.size = digest->bytes;
  meta.md5_hex = digest->md5_hex;
  meta.sha256_hex = digest->sha256_hex;
  meta.content_type = response->Header("content-type");
  meta.received_ms = ctx_.env.WallNowMs();
  for (const auto& [name, value] : response->headers) {
    if (name.starts_with("x-amz-meta-")) meta.user_metadata.emplace_back(name.substr(11), value);
  }
  std::string etag = BareEtag(response->Header("etag"));
  if (!etag.empty() && etag.find('-') == std::string::npos && etag != digest->md5_hex) {
    return Error(fmt::format("fetch {}: body MD5 {} differs from ETag {}", record.key,
                             digest->md5_hex, etag));
  }
  // Validated from this scratch copy; the bytes that count stay where they are.
  if (upstream_.mode == "in_place") {
    if (etag.empty()) return Error("fetch " + record.key + ": no ETag to index it in place by");
    meta.in_place_etag = etag;
  }
  std::string id = (*writer)->id();
  Status s = ctx_.store.SealQuarantine(id, meta);
  if (!s) {
    (void)ctx_.store.Discard(id);
    return s.error();
  }
  return ctx_.pipeline.Process(id, meta);
}

}  // namespace granary::receiver
