// The keys a running receiver accepts: the config's [[device]] entries plus the registry's,
// refreshed while it runs. A change made by `granary-receiver device ...` on any host reaches
// every receiver sharing the database within one poll interval, without a restart.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "platform/env.h"
#include "receiver/config.h"
#include "receiver/registry.h"
#include "receiver/request_auth.h"

namespace granary::receiver {

// The registry's key file, created (and logged) when missing, then the registry.
Result<std::unique_ptr<DeviceRegistry>> OpenRegistry(Env& env, const ReceiverConfig& config);

class DeviceKeyRefresher {
 public:
  DeviceKeyRefresher(Env& env, DeviceRegistry& registry, RequestVerifier& verifier,
                     std::chrono::milliseconds poll);
  ~DeviceKeyRefresher();

  // Loads the keys once (the caller starts serving only after this), then polls on a thread.
  Status Start(const std::vector<DeviceKey>& config_keys);
  // New [[device]] entries (a reloaded config); applied at once.
  Status SetConfigKeys(const std::vector<DeviceKey>& config_keys);

 private:
  // Reads the registry and hands the merged keys to the verifier; logs what changed.
  Status Refresh();
  void Poll();

  Env& env_;
  DeviceRegistry& registry_;
  RequestVerifier& verifier_;
  std::chrono::milliseconds poll_;
  std::mutex mu_;  // guards the members below
  std::vector<DeviceKey> config_keys_;
  int64_t generation_ = -1;
  size_t last_count_ = 0;
  bool stopping_ = false;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace granary::receiver
