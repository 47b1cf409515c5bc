#include "receiver/device_cli.h"

#include <cstdio>

#include "config/units.h"
#include "platform/test_hooks.h"
#include "platform/time.h"
#include "receiver/device_keys.h"

namespace granary::receiver {
namespace {

void PrintKey(const IssuedKey& key) {
  std::printf(
      "access key: %s\nsecret key: %s\n(the secret is shown only now; it is stored encrypted)\n\n"
      "# The agent's credentials file: put it on the device (e.g. /etc/granary/s3.credentials,\n"
      "# mode 0600, owner granary) and name it in [upload] credentials_file.\n"
      "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
      key.access_key.c_str(), key.secret_key.c_str(), key.access_key.c_str(),
      key.secret_key.c_str());
}

// A duration option, or `def`; false (after saying why) when it does not parse.
bool DurationOption(const std::string& text, const char* flag, std::chrono::milliseconds def,
                    std::chrono::milliseconds* out) {
  *out = def;
  if (text.empty()) return true;
  auto d = ParseDuration(text);
  if (!d) {
    std::fprintf(stderr, "%s: %s\n", flag, d.error().message().c_str());
    return false;
  }
  *out = *d;
  return true;
}

int List(DeviceRegistry& registry, int64_t now_ms) {
  auto devices = registry.List(now_ms);
  if (!devices) {
    std::fprintf(stderr, "device list: %s\n", devices.error().message().c_str());
    return 1;
  }
  std::printf("%-24s %-9s %-20s %s\n", "DEVICE", "STATE", "UPDATED", "ACCESS KEYS");
  for (const RegisteredDevice& d : *devices) {
    std::string keys;
    for (const std::string& k : d.access_keys) keys += (keys.empty() ? "" : ", ") + k;
    if (d.access_keys.size() > 1) keys += " (older until " + FormatIso8601(d.grace_until_ms) + ")";
    std::printf("%-24s %-9s %-20s %s\n", d.name.c_str(), d.state.c_str(),
                FormatIso8601(d.updated_ms).c_str(), keys.empty() ? "-" : keys.c_str());
  }
  return 0;
}

}  // namespace

int RunDeviceCommand(const ReceiverConfig& config, const DeviceCommand& command) {
  std::chrono::milliseconds ttl{}, grace{};
  if (!DurationOption(command.ttl, "--ttl", config.registry.enroll_ttl, &ttl) ||
      !DurationOption(command.grace, "--grace", config.registry.rotate_grace, &grace)) {
    return 2;
  }
  Env& env = ProcessEnv();
  auto registry = OpenRegistry(env, config);
  if (!registry) {
    std::fprintf(stderr, "registry: %s\n", registry.error().message().c_str());
    return 1;
  }
  DeviceRegistry& r = **registry;
  int64_t now_ms = env.WallNowMs();
  const std::string& name = command.name;
  const std::string& action = command.action;
  if (action == "list") return List(r, now_ms);
  if (action == "add") {
    auto key = r.Add(name, now_ms);
    if (!key) {
      std::fprintf(stderr, "device add %s: %s\n", name.c_str(), key.error().message().c_str());
      return 1;
    }
    std::printf("device %s added\n", name.c_str());
    if (!command.enroll) {
      PrintKey(*key);
      return 0;
    }
    auto token = r.CreateEnrollToken(name, ttl, now_ms);
    if (!token) {
      std::fprintf(stderr, "device add %s: %s\n", name.c_str(), token.error().message().c_str());
      return 1;
    }
    std::printf(
        "enrollment token: %s\n(valid once, until %s; on the device run:\n"
        "  granary enroll --receiver https://RECEIVER --token %s)\n",
        token->c_str(), FormatIso8601(now_ms + ttl.count()).c_str(), token->c_str());
    return 0;
  }
  if (action == "rotate") {
    auto key = r.Rotate(name, grace, now_ms);
    if (!key) {
      std::fprintf(stderr, "device rotate %s: %s\n", name.c_str(), key.error().message().c_str());
      return 1;
    }
    std::printf("device %s: new key; the older key(s) work until %s\n", name.c_str(),
                FormatIso8601(now_ms + grace.count()).c_str());
    PrintKey(*key);
    return 0;
  }
  Status s =
      action == "revoke" ? r.Revoke(name, now_ms) : r.SetEnabled(name, action == "enable", now_ms);
  if (!s) {
    std::fprintf(stderr, "device %s %s: %s\n", action.c_str(), name.c_str(),
                 s.error().message().c_str());
    return 1;
  }
  std::printf("device %s %s\n", name.c_str(),
              action == "revoke"   ? "revoked"
              : action == "enable" ? "enabled"
                                   : "disabled");
  return 0;
}

}  // namespace granary::receiver
