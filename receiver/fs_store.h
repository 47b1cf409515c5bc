// The backing store as a directory tree under the data dir (the single-node default):
// accepted/{bucket}/{key}, rejected/ and conflicts/ beside quarantine/, so moves are renames
// and links within one filesystem.
#pragma once

#include <memory>
#include <string>

#include "receiver/object_store.h"

namespace granary::receiver {

class FilesystemStore final : public ObjectStore {
 public:
  // Creates the directories when missing.
  static Result<std::unique_ptr<FilesystemStore>> Open(Env& env, const std::string& data_dir);

  Status Place(const std::string& id, const ObjectMeta& meta) override;
  Status Unplace(const ObjectMeta& meta) override;
  Status Reject(const std::string& id, ObjectMeta meta, bool conflict) override;
  std::string RejectedPath(const std::string& id, bool conflict) const override;
  bool EvidenceExists(const std::string& where) const override;
  Result<std::string> AcceptedSha256(const std::string& bucket,
                                     const std::string& key) const override;
  Result<std::unique_ptr<ObjectReader>> OpenReader(const std::string& bucket,
                                                   const std::string& key) const override;
  bool Remote() const override { return false; }
  std::string PathClash(const std::string& bucket, const std::string& key) const override;
  Result<std::vector<std::pair<std::string, std::string>>> ListAccepted() const override;

  std::string AcceptedPath(const std::string& bucket, const std::string& key) const;

 private:
  using ObjectStore::ObjectStore;
};

}  // namespace granary::receiver
