// Runs one command to completion with a deadline: no shell, its own process group, stdout
// and stderr captured up to a cap, the whole group SIGKILLed at the deadline or when stdout
// overflows, and the child always reaped before Run returns (no zombies, whatever happens).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "platform/result.h"

namespace granary {

struct ChildOutcome {
  std::string out;      // stdout, at most max_stdout bytes
  std::string err;      // stderr, at most 4 KiB (the rest is read and dropped)
  bool exited = false;  // true: exit_status is valid; false: killed by term_signal
  int exit_status = 0;
  int term_signal = 0;
  bool timed_out = false;        // we killed it at the deadline
  bool stdout_overflow = false;  // we killed it for writing more than max_stdout
};

// `argv[0]` is looked up in PATH when it has no '/'. stdin is /dev/null; signal mask and
// dispositions are reset to defaults in the child (the agent blocks its control signals
// and ignores SIGPIPE). Errors are only for failures to start (no such file, no permission,
// no pipes); what the child did is in the outcome.
Result<ChildOutcome> RunChild(const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout, size_t max_stdout);

}  // namespace granary
