// `granary run`: the long-running agent. Owns the buffer and the scheduler, takes
// SIGTERM/SIGINT (stop), SIGHUP (reload) and SIGUSR1 (flush) on its main thread, and
// writes status.json.
#pragma once

#include <memory>
#include <string>

#include "agent/config.h"
#include "agent/scheduler.h"
#include "platform/env.h"
#include "storage/buffer.h"

namespace granary {

BufferOptions BufferOptionsFrom(const AgentConfig& config);

// Builds the scheduler with every configured source. Sources were validated at load;
// an error here means the config changed under us.
Result<std::unique_ptr<Scheduler>> BuildScheduler(Env& env, const AgentConfig& config,
                                                  Buffer& buffer);

// Runs until a stop signal. Returns the process exit code.
int RunDaemon(Env& env, AgentConfig config);

}  // namespace granary
