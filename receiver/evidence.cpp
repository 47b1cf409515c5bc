#include "receiver/evidence.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "platform/log.h"

namespace granary::receiver {
namespace fs = std::filesystem;

Result<Evicted> EvidenceCap::Added(uint64_t bytes) {
  if (max_bytes_ == 0) return Evicted{};
  std::lock_guard<std::mutex> lock(mu_);
  if (total_) *total_ += bytes;
  if (total_ && *total_ <= max_bytes_) return Evicted{};
  return Trim();
}

Result<Evicted> EvidenceCap::Trim() {
  struct Body {
    std::string name;  // the id, time first: sorts oldest first across both folders
    fs::path path;
    uint64_t size;
  };
  std::vector<Body> bodies;
  uint64_t total = 0;
  for (const char* folder : {"rejected", "conflicts"}) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_ + "/" + folder, ec)) {
      std::error_code size_ec;
      uint64_t size = entry.file_size(size_ec);
      if (size_ec) continue;  // removed meanwhile by another process
      total += size;
      if (entry.path().extension() == ".body") {
        bodies.push_back({entry.path().filename().string(), entry.path(), size});
      }
    }
    if (ec) return Error("list " + dir_ + "/" + folder + ": " + ec.message());
  }
  std::sort(bodies.begin(), bodies.end(),
            [](const Body& a, const Body& b) { return a.name < b.name; });
  Evicted evicted;
  uint64_t target = max_bytes_ / 10 * 9;
  // The newest is never removed: it is what the client was just told about.
  for (size_t i = 0; total > target && i + 1 < bodies.size(); ++i) {
    fs::path sidecar = bodies[i].path;
    sidecar.replace_extension(".json");
    std::error_code ec;
    uint64_t sidecar_size = fs::file_size(sidecar, ec);
    if (ec) sidecar_size = 0;
    if (!fs::remove(bodies[i].path, ec) || ec) continue;
    fs::remove(sidecar, ec);
    log::Warning("evidence over evidence_max_bytes ({} bytes): removed {} ({} bytes), the oldest",
                 max_bytes_,
                 bodies[i].path.parent_path().filename().string() + "/" + bodies[i].name,
                 bodies[i].size);
    total -= std::min(total, bodies[i].size + sidecar_size);
    evicted.files += 1;
    evicted.bytes += bodies[i].size;
  }
  total_ = total;
  return evicted;
}

}  // namespace granary::receiver
