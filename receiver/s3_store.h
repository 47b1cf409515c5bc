// The backing store as an S3 bucket ([store] type = "s3"), shared by any number of
// receivers: an upload is validated from local quarantine, then PUT to
// {accepted_prefix}{bucket}/{key}; rejected and conflicting bodies go, with their JSON
// sidecars, to {rejected_prefix} and {conflicts_prefix}. Nothing accepted stays local but
// the bounded cache of small objects; larger ones are read in ranged GETs.
//
// Immutability: every accepted PUT carries If-None-Match: *, so a service that supports it
// refuses to replace a key (412). A service that answers 501 NotImplemented (Swift's s3api
// does) is remembered as one without conditional PUTs: the key is then HEADed first and
// the index owns it (docs/receiver.md "Object store").
//
// Multipart parts go to {uploads_prefix}{upload id}/ once received, so an upload begun on
// one replica can be continued and completed on another.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "receiver/config.h"
#include "receiver/object_store.h"
#include "receiver/read_cache.h"
#include "s3/s3_client.h"

namespace granary::receiver {

class S3Store final : public ObjectStore {
 public:
  static Result<std::unique_ptr<S3Store>> Open(Env& env, const std::string& data_dir,
                                               const StoreSettings& settings);

  Status Place(const std::string& id, const ObjectMeta& meta) override;
  Status Unplace(const ObjectMeta& meta) override;
  Status Reject(const std::string& id, ObjectMeta meta, bool conflict) override;
  std::string RejectedPath(const std::string& id, bool conflict) const override;
  bool EvidenceExists(const std::string& where) const override;
  Result<std::string> AcceptedSha256(const std::string& bucket,
                                     const std::string& key) const override;
  // A small object (at most small_object_bytes()) is read from the bounded cache, fetched
  // whole on a miss; a larger one streams through ranged GETs (s3_reader.h).
  Result<std::unique_ptr<ObjectReader>> OpenReader(const std::string& bucket,
                                                   const std::string& key) const override;
  bool Remote() const override { return true; }
  std::string PathClash(const std::string&, const std::string&) const override { return ""; }
  Result<std::vector<std::pair<std::string, std::string>>> ListAccepted() const override;
  Status KeepUploadPart(const std::string& rel) override;
  Status ReadUploadPart(const std::string& rel,
                        const std::function<bool(std::string_view)>& sink) const override;
  Status RemoveUploadPart(const std::string& rel) override;
  Status RemoveUploadDir(const std::string& upload_id) override;

  // Objects up to this size are cached whole: min(1 MiB, cache_max_bytes / 8).
  uint64_t small_object_bytes() const;
  // Whether the service refused a conditional PUT as not implemented.
  bool conditional_put_unsupported() const { return no_conditional_.load(); }

 private:
  // One client per request in flight: S3Client keeps a connection and is not thread-safe.
  class Lease;
  S3Store(Env& env, std::string dir, StoreSettings settings, S3Options options,
          Credentials credentials, std::unique_ptr<ReadCache> cache);
  Lease Borrow() const;
  // Learns whether the service honours If-None-Match: * on PUT.
  Status ProbeConditionalPut();
  std::string AcceptedKey(const std::string& bucket, const std::string& key) const;
  // {uploads_prefix}{upload id}/{part file} of a part's local path under UploadDir.
  std::string PartKey(const std::string& rel) const;
  Status PutFile(const std::string& object_key, const std::string& path, const ObjectMeta& meta,
                 bool conditional, S3Response* response) const;

  StoreSettings settings_;
  S3Options options_;
  Credentials credentials_;
  std::unique_ptr<ReadCache> cache_;
  mutable std::mutex pool_mu_;
  mutable std::vector<std::unique_ptr<S3Client>> idle_;
  mutable std::atomic<bool> no_conditional_{false};
};

}  // namespace granary::receiver
