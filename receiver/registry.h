// The device registry: devices, their S3 keys (secrets sealed with a SecretBox) and one-time
// enrollment tokens, in the index's database (SQLite or the PostgreSQL every replica
// shares). The only owner of the registry_* tables.
//
// Every change bumps one generation counter in the same transaction, so a running receiver
// polls a single row to learn that its keys are stale (docs/receiver.md, "Device registry").
//
// Thread-safe: calls are serialised on the registry's own connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "platform/env.h"
#include "platform/result.h"
#include "receiver/config.h"
#include "receiver/secret_box.h"

namespace granary::receiver {

// enabled: its keys work; disabled: they are known but refused (AccessDenied); revoked: its
// keys are deleted (InvalidAccessKeyId), `device add` may issue new ones.
struct RegisteredDevice {
  std::string name, state;
  int64_t created_ms = 0, updated_ms = 0;
  std::vector<std::string> access_keys;  // newest first
  int64_t grace_until_ms = 0;            // an older key works until then (0: none)
};

struct IssuedKey {
  std::string device, access_key, secret_key;
};

class DeviceRegistry {
 public:
  // Opens its own connection to config.index and creates the tables when missing.
  static Result<std::unique_ptr<DeviceRegistry>> Open(Env& env, const ReceiverConfig& config,
                                                      SecretBox box);
  virtual ~DeviceRegistry() = default;

  // A new device (or a revoked one again) with a fresh key.
  virtual Result<IssuedKey> Add(const std::string& name, int64_t now_ms) = 0;
  // A new key; the older ones keep working for `grace`, then stop.
  virtual Result<IssuedKey> Rotate(const std::string& name, std::chrono::milliseconds grace,
                                   int64_t now_ms) = 0;
  virtual Status Revoke(const std::string& name, int64_t now_ms) = 0;
  virtual Status SetEnabled(const std::string& name, bool enabled, int64_t now_ms) = 0;
  virtual Result<std::vector<RegisteredDevice>> List(int64_t now_ms) = 0;

  // A one-time token for `name`, valid for `ttl`; only its SHA-256 is stored.
  virtual Result<std::string> CreateEnrollToken(const std::string& name,
                                                std::chrono::milliseconds ttl, int64_t now_ms) = 0;
  // Spends `token` (once) for the device's newest key. Any failure says only "invalid or
  // expired": the answer must not tell a guesser which tokens exist.
  virtual Result<IssuedKey> Enroll(const std::string& token, int64_t now_ms) = 0;

  // Bumped by every change, by any process.
  virtual Result<int64_t> Generation() = 0;
  // Every usable key, secrets opened: enabled and disabled devices, keys whose grace has
  // not ended (DeviceKey::expires_ms says when it ends).
  virtual Result<std::vector<DeviceKey>> Keys(int64_t now_ms) = 0;
};

}  // namespace granary::receiver
