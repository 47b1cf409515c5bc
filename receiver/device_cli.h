// `granary-receiver device ...`: the operator's side of the device registry.
#pragma once

#include <string>

#include "receiver/config.h"

namespace granary::receiver {

struct DeviceCommand {
  std::string action;  // add, list, rotate, revoke, disable, enable
  std::string name;
  bool enroll = false;  // add: a one-time token instead of the secret
  std::string ttl;      // add --enroll: the token's lifetime ("": registry.enroll_ttl)
  std::string grace;    // rotate: how long the old key keeps working ("": rotate_grace)
};

// Prints what it did; a secret is printed once, by add or rotate, never again. 0 ok, 1
// failed, 2 bad argument.
int RunDeviceCommand(const ReceiverConfig& config, const DeviceCommand& command);

}  // namespace granary::receiver
