#include "receiver/device_keys.h"

#include <fmt/format.h>

#include <cstdio>
#include <set>

#include "platform/log.h"

namespace granary::receiver {

Result<std::unique_ptr<DeviceRegistry>> OpenRegistry(Env& env, const ReceiverConfig& config) {
  bool created = false;
  auto box = SecretBox::FromKeyFile(config.registry.key_file, &created);
  if (!box) return box.error();
  auto registry = DeviceRegistry::Open(env, config, std::move(*box));
  if (!registry || !created) return registry;
  // A new key next to an index that already holds sealed secrets (a second host sharing
  // the PostgreSQL index, a restored database) would seal new devices under a key no other
  // receiver has, and could open none of the old ones.
  auto devices = (*registry)->List(env.WallNowMs());
  if (!devices) return devices.error();
  if (!devices->empty()) {
    std::remove(config.registry.key_file.c_str());
    return Error(fmt::format(
        "the index's registry holds {} device(s) sealed under another key file, and {} was "
        "missing: copy the key file from a receiver that has it (mode 0600), then start again",
        devices->size(), config.registry.key_file));
  }
  log::Notice(
      "created registry key file {} (mode 0600): back it up with the index; without it no "
      "registered device's secret can be read, and every receiver sharing the index needs "
      "the same file",
      config.registry.key_file);
  return registry;
}

DeviceKeyRefresher::DeviceKeyRefresher(Env& env, DeviceRegistry& registry,
                                       RequestVerifier& verifier, std::chrono::milliseconds poll)
    : env_(env), registry_(registry), verifier_(verifier), poll_(poll) {}

DeviceKeyRefresher::~DeviceKeyRefresher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status DeviceKeyRefresher::Start(const std::vector<DeviceKey>& config_keys) {
  if (Status s = SetConfigKeys(config_keys); !s) return s;
  thread_ = std::thread([this] { Poll(); });
  return Status::Ok();
}

Status DeviceKeyRefresher::SetConfigKeys(const std::vector<DeviceKey>& config_keys) {
  std::lock_guard<std::mutex> lock(mu_);
  config_keys_ = config_keys;
  generation_ = -1;
  return Refresh();
}

Status DeviceKeyRefresher::Refresh() {
  // The generation is read before the keys: a change landing in between is seen at the next
  // poll, never missed.
  auto generation = registry_.Generation();
  if (!generation) return generation.error();
  if (*generation == generation_) return Status::Ok();
  auto keys = registry_.Keys(env_.WallNowMs());
  if (!keys) return keys.error();
  std::set<std::string> registered;
  for (const DeviceKey& k : *keys) registered.insert(k.access_key);
  std::vector<DeviceKey> merged = *keys;
  for (const DeviceKey& k : config_keys_) {
    if (registered.count(k.access_key) != 0) {
      log::Warning("[[device]] {}: its access key is also in the registry, which wins", k.device);
      continue;
    }
    merged.push_back(k);
  }
  verifier_.ReplaceKeys(merged);
  if (generation_ >= 0 || merged.size() != last_count_) {
    log::Notice("device keys: {} ({} from the registry, generation {})", merged.size(),
                keys->size(), *generation);
  }
  if (merged.empty()) {
    log::Warning(
        "no device keys: every upload is refused until a device is added (granary-receiver "
        "device add NAME, or a [[device]] entry)");
  }
  generation_ = *generation;
  last_count_ = merged.size();
  return Status::Ok();
}

void DeviceKeyRefresher::Poll() {
  std::unique_lock<std::mutex> lock(mu_);
  std::string last_error;
  while (!cv_.wait_for(lock, poll_, [&] { return stopping_; })) {
    Status s = Refresh();
    // Logged once per distinct failure, not once a second; the old keys stay in force.
    std::string error = s ? "" : s.error().message();
    if (!error.empty() && error != last_error) {
      log::Error("device registry: {} (keeping the previous keys)", error);
    } else if (error.empty() && !last_error.empty()) {
      log::Notice("device registry readable again");
    }
    last_error = error;
  }
}

}  // namespace granary::receiver
