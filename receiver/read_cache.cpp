#include "receiver/read_cache.h"

#include <fmt/format.h>

#include <filesystem>

namespace granary::receiver {

Result<std::unique_ptr<ReadCache>> ReadCache::Open(Env& env, std::string dir, uint64_t max_bytes) {
  std::error_code ec;
  // Only copies of objects kept in the backing store live here.
  std::filesystem::remove_all(dir, ec);
  if (ec) return Error("clear " + dir + ": " + ec.message());
  if (Status s = env.CreateDirs(dir); !s) return s.error();
  return std::unique_ptr<ReadCache>(new ReadCache(env, std::move(dir), max_bytes));
}

uint64_t ReadCache::bytes() const {
  std::lock_guard lock(mu_);
  return total_;
}

AcceptedFile ReadCache::PinLocked(const std::string& name, Entry& e) {
  ++e.pins;
  e.last_use = ++clock_;
  // The pin holds no pointer into entries_: the deleter looks the name up again.
  std::shared_ptr<void> pin(static_cast<void*>(this), [this, name](void*) { Unpin(name); });
  return AcceptedFile{e.path, std::move(pin)};
}

void ReadCache::Unpin(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it != entries_.end()) --it->second.pins;
  EvictLocked();
}

void ReadCache::EvictLocked() {
  while (total_ > max_bytes_) {
    auto oldest = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.pins == 0 &&
          (oldest == entries_.end() || it->second.last_use < oldest->second.last_use)) {
        oldest = it;
      }
    }
    if (oldest == entries_.end()) return;  // every copy is being opened
    (void)env_.RemoveFile(oldest->second.path);
    total_ -= oldest->second.size;
    entries_.erase(oldest);
  }
}

std::optional<AcceptedFile> ReadCache::Find(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return PinLocked(name, it->second);
}

Result<AcceptedFile> ReadCache::Get(const std::string& name,
                                    const std::function<Status(const std::string& path)>& fetch) {
  std::string path;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(name);
    if (it != entries_.end()) return PinLocked(name, it->second);
    path = fmt::format("{}/{}.obj", dir_, next_file_++);
  }
  // Fetched outside the lock: readers of other objects do not wait for this one.
  Status s = fetch(path);
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(path, ec);
  if (!s || ec) {
    (void)env_.RemoveFile(path);
    if (!s) return s.error();
    return Error("cache " + path + ": " + ec.message());
  }
  std::lock_guard lock(mu_);
  auto [it, inserted] = entries_.try_emplace(name);
  if (!inserted) {
    (void)env_.RemoveFile(path);  // a concurrent reader fetched it first
  } else {
    it->second.path = path;
    it->second.size = size;
    total_ += size;
  }
  AcceptedFile file = PinLocked(name, it->second);
  EvictLocked();
  return file;
}

}  // namespace granary::receiver
