// A small bounded cache of small accepted objects fetched from a remote store, as local
// files for the readers (segments read again and again by the dashboard); larger objects are
// streamed in ranged GETs instead (s3_reader.h). Accepted bytes never change,
// so a cached copy is never stale. Least recently used copies go first; a pinned one (a
// reader is opening it) stays until its pin is released.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "receiver/object_store.h"

namespace granary::receiver {

class ReadCache {
 public:
  // Empties `dir` (what a previous process left is scratch) and creates it.
  static Result<std::unique_ptr<ReadCache>> Open(Env& env, std::string dir, uint64_t max_bytes);

  // The cached copy of `name`; when missing, `fetch` writes it to the path it is given.
  Result<AcceptedFile> Get(const std::string& name,
                           const std::function<Status(const std::string& path)>& fetch);
  // The cached copy of `name`, pinned, when there is one.
  std::optional<AcceptedFile> Find(const std::string& name);
  uint64_t bytes() const;

 private:
  struct Entry {
    std::string path;
    uint64_t size = 0;
    uint64_t last_use = 0;
    int pins = 0;
  };
  ReadCache(Env& env, std::string dir, uint64_t max_bytes)
      : env_(env), dir_(std::move(dir)), max_bytes_(max_bytes) {}
  AcceptedFile PinLocked(const std::string& name, Entry& e);
  void Unpin(const std::string& name);
  void EvictLocked();

  Env& env_;
  std::string dir_;
  uint64_t max_bytes_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  uint64_t total_ = 0;
  uint64_t clock_ = 0;
  uint64_t next_file_ = 0;
};

}  // namespace granary::receiver
