// `granary submit`: one report and its attachments into an outbox (docs/runs.md).
#pragma once

#include <string>
#include <vector>

#include "agent/config.h"

namespace granary {

struct SubmitArgs {
  std::string outbox;  // empty: the only [[outbox]]
  std::string kind;
  std::string uuid;
  std::string report;  // the report file
  std::vector<std::string> attach;
  std::string margin = "16MiB";  // free space left on the outbox's filesystem
};

// Prints the UUID on stdout; returns 0 or the exit code of submit.h (78 for the outbox choice).
int CmdSubmit(const AgentConfig& config, const SubmitArgs& args);

}  // namespace granary
