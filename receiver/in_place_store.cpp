#include "receiver/in_place_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "platform/strings.h"
#include "receiver/s3_reader.h"

namespace granary::receiver {

std::string BareEtag(std::string etag) {
  etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
  return etag;
}

InPlaceStore::InPlaceStore(Env& env, std::unique_ptr<ObjectStore> inner, Index& index,
                           const UpstreamS3& source)
    : ObjectStore(env, inner->data_dir()),
      inner_(std::move(inner)),
      index_(index),
      credentials_{source.access_key, source.secret_key, ""} {
  options_.endpoint = source.endpoint;
  options_.region = source.region;
  options_.bucket = source.bucket;
  options_.tls_verify = source.tls_verify;
}

Status InPlaceStore::Place(const std::string& id, const ObjectMeta& meta) {
  if (meta.in_place_etag.empty()) return inner_->Place(id, meta);
  // Nothing is written: the bytes are in the source bucket already. The location is
  // recorded before the index's object row, like a placed file (a crash in between
  // re-runs the quarantine entry, and recording is idempotent).
  auto held = index_.RecordInPlace(
      InPlaceRow{meta.bucket, meta.key, meta.in_place_etag, meta.sha256_hex, meta.size});
  if (!held) return held.error();
  if (held->sha256_hex != meta.sha256_hex) {
    return Error(fmt::format("{}/{} is indexed in place with other bytes (sha256 {}); kept",
                             meta.bucket, meta.key, held->sha256_hex));
  }
  return Status::Ok();
}

Status InPlaceStore::Unplace(const ObjectMeta& meta) {
  if (meta.in_place_etag.empty()) return inner_->Unplace(meta);
  return index_.ForgetInPlace(meta.bucket, meta.key, meta.sha256_hex);
}

Result<std::string> InPlaceStore::AcceptedSha256(const std::string& bucket,
                                                 const std::string& key) const {
  auto row = index_.FindInPlace(bucket, key);
  if (!row) return row.error();
  if (*row) return (*row)->sha256_hex;
  return inner_->AcceptedSha256(bucket, key);
}

Result<std::unique_ptr<ObjectReader>> InPlaceStore::OpenReader(const std::string& bucket,
                                                               const std::string& key) const {
  auto row = index_.FindInPlace(bucket, key);
  if (!row) return row.error();
  if (!*row) return inner_->OpenReader(bucket, key);
  const InPlaceRow& at = **row;
  const std::string name = fmt::format("s3://{}/{} (in place)", at.bucket, at.key);
  // One client per reader: readers run on many threads, and a client is not thread-safe.
  S3Options options = options_;
  options.bucket = at.bucket;
  auto client = std::make_shared<S3Client>(env_, options, credentials_);
  auto head = client->HeadObject(at.key);
  if (!head) return head.error().Wrap("HEAD " + name);
  if (head->status == 404) return Error(name + " is gone from the source bucket", ENOENT);
  if (!head->ok()) {
    return Error(fmt::format("HEAD {}: HTTP {} {}", name, head->status, head->error_code));
  }
  std::string etag = head->Header("etag");
  auto size = ParseDecimal<uint64_t>(head->Header("content-length"));
  if (BareEtag(etag) != at.etag || !size || *size != at.size) {
    return Error(fmt::format("{} changed in the source bucket: ETag {} and {} bytes, indexed {} "
                             "and {} bytes (not served)",
                             name, BareEtag(etag), size.value_or(0), at.etag, at.size),
                 ESTALE);
  }
  auto get = [client, key = at.key](uint64_t first, uint64_t last,
                                    const std::function<bool(std::string_view)>& sink) {
    return client->GetObjectRange(key, first, last, sink);
  };
  return std::unique_ptr<ObjectReader>(new S3RangeReader(name, *size, etag, std::move(get)));
}

Result<std::vector<std::pair<std::string, std::string>>> InPlaceStore::ListAccepted() const {
  auto out = inner_->ListAccepted();
  if (!out) return out.error();
  auto rows = index_.AllInPlace();
  if (!rows) return rows.error();
  for (const InPlaceRow& r : *rows) out->emplace_back(r.bucket, r.key);
  std::sort(out->begin(), out->end());
  return out;
}

std::unique_ptr<ObjectStore> WithInPlace(Env& env, const ReceiverConfig& config,
                                         std::unique_ptr<ObjectStore> store, Index& index) {
  if (!config.upstream.enabled || config.upstream.mode != "in_place") return store;
  auto wrapped = std::make_unique<InPlaceStore>(env, std::move(store), index, config.upstream);
  wrapped->LimitQuarantine(config.store.quarantine_max_bytes);
  return wrapped;
}

}  // namespace granary::receiver
