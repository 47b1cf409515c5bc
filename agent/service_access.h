// Whether the service user can reach what the agent needs: `check-config` run as root reads
// every file, so it can pass while the daemon, running as `granary`, cannot read its
// credentials file and fails after a reload.
#pragma once

#include <string>
#include <vector>

#include "agent/config.h"
#include "platform/result.h"

namespace granary {

// What `user` lacks: one line per file it cannot read or directory it cannot write, each
// naming the path, what is needed and the OS error. Checked in a child process that takes
// the user's uid and groups, so it needs root unless `user` is the caller.
Result<std::vector<std::string>> CheckServiceAccess(const AgentConfig& config,
                                                    const std::string& user);

}  // namespace granary
