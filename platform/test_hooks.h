// Test hooks for driving the real binaries from integration tests, in an Env of their own
// so the production Env carries none of them. Each hook is an environment variable
// (docs/operations.md lists them):
//   GRANARY_CRASH_POINT=NAME           SIGKILL at the named crash point
//   GRANARY_TEST_CLOCK_OFFSET_MS=N     the wall clock N ms off
//   GRANARY_TEST_CLOCK_UNSYNCED=1      the clock reported unsynchronized
//   GRANARY_TEST_HANG_SCHEDULER=MS     the scheduler hangs MS ms after start
#pragma once

#include "platform/env.h"

namespace granary {

// Env::Default(), wrapped in the hooks when any of the variables is set.
Env& ProcessEnv();

}  // namespace granary
