// Real-S3 mode with [s3] mode = "in_place": an object named by an event is validated from a
// scratch copy in quarantine (streamed from the source bucket, removed once decided), then
// indexed where it lies. The index's in_place table records its source key, ETag and
// SHA-256; no copy is kept, and reads go to the source bucket in ranged GETs.
//
// This store wraps the configured one ([store]): in-place objects are answered from the
// source bucket, everything else (uploads through the receiver's own S3 API, rejected and
// conflicting bodies, multipart parts) goes to the wrapped store unchanged.
//
// Immutability: the source bucket is not ours, so bytes indexed in place can change or
// vanish under us. A read refuses an object whose ETag or size is no longer the indexed one
// (never serves other bytes); `verify` reports it (other bytes, or missing); a later event
// with other bytes for the key is a conflict whose body is kept in the wrapped store's
// conflicts/, and the indexed location is never replaced.
#pragma once

#include <memory>
#include <string>

#include "receiver/config.h"
#include "receiver/index.h"
#include "receiver/object_store.h"
#include "s3/s3_client.h"

namespace granary::receiver {

class InPlaceStore final : public ObjectStore {
 public:
  InPlaceStore(Env& env, std::unique_ptr<ObjectStore> inner, Index& index,
               const UpstreamS3& source);

  Status Place(const std::string& id, const ObjectMeta& meta) override;
  Status Unplace(const ObjectMeta& meta) override;
  Status Reject(const std::string& id, ObjectMeta meta, bool conflict) override {
    return inner_->Reject(id, std::move(meta), conflict);
  }
  std::string RejectedPath(const std::string& id, bool conflict) const override {
    return inner_->RejectedPath(id, conflict);
  }
  bool EvidenceExists(const std::string& where) const override {
    return inner_->EvidenceExists(where);
  }
  Result<std::string> AcceptedSha256(const std::string& bucket,
                                     const std::string& key) const override;
  // An object indexed in place whose ETag or size changed in the source fails with ESTALE.
  Result<std::unique_ptr<ObjectReader>> OpenReader(const std::string& bucket,
                                                   const std::string& key) const override;
  bool Remote() const override { return inner_->Remote(); }
  std::string PathClash(const std::string& bucket, const std::string& key) const override {
    return inner_->PathClash(bucket, key);
  }
  Result<std::vector<std::pair<std::string, std::string>>> ListAccepted() const override;
  Status KeepUploadPart(const std::string& rel) override { return inner_->KeepUploadPart(rel); }
  Status ReadUploadPart(const std::string& rel,
                        const std::function<bool(std::string_view)>& sink) const override {
    return inner_->ReadUploadPart(rel, sink);
  }
  Status RemoveUploadPart(const std::string& rel) override { return inner_->RemoveUploadPart(rel); }
  Status RemoveUploadDir(const std::string& upload_id) override {
    return inner_->RemoveUploadDir(upload_id);
  }
  Status CheckWritable(uint64_t min_free_bytes) const override {
    return inner_->CheckWritable(min_free_bytes);
  }

 private:
  std::unique_ptr<ObjectStore> inner_;
  Index& index_;
  S3Options options_;
  Credentials credentials_;
};

// `store` wrapped in an InPlaceStore when real-S3 mode indexes in place, else as it is.
std::unique_ptr<ObjectStore> WithInPlace(Env& env, const ReceiverConfig& config,
                                         std::unique_ptr<ObjectStore> store, Index& index);

// An S3 ETag without its quotes.
std::string BareEtag(std::string etag);

}  // namespace granary::receiver
